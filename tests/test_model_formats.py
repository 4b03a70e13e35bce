"""Model loaders, each fed a small file written in the exact format (and broken variants)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import savemat

import facefit as ff

N_FULL, N_TRIM, K_ID, K_TEX, K_EXP = 12, 9, 5, 4, 3


def _grid(n_side=4, scale=1e4):
    """A small bumpy sheet facing +z, vertex-interleaved; clockwise triangles (to be fixed)."""
    xs, ys = np.meshgrid(np.arange(n_side), np.arange(3))
    vertices = np.stack([xs.ravel(), ys.ravel(), 0.1 * xs.ravel() * ys.ravel()], 1) * scale
    tris = []
    for r in range(2):
        for c in range(n_side - 1):
            a, b, d, e = r * n_side + c, r * n_side + c + 1, (r + 1) * n_side + c, (
                r + 1) * n_side + c + 1
            tris += [[a, e, b], [a, d, e]]  # clockwise seen from +z: the loader must flip them
    return vertices, np.array(tris)


@pytest.fixture
def bfm2009(tmp_path):
    rng = np.random.default_rng(0)
    vertices, tris = _grid()
    shape_pc = rng.normal(size=(3 * N_FULL, 7)) * 100  # 7 PCs: the loader keeps K_ID of them
    tex_pc = rng.normal(size=(3 * N_FULL, 6))
    data = {"shapeMU": vertices.reshape(-1, 1), "shapePC": shape_pc,
            "shapeEV": np.arange(1.0, 8.0).reshape(-1, 1), "texMU": np.full((3 * N_FULL, 1), 128.0),
            "texPC": tex_pc, "texEV": np.arange(1.0, 7.0).reshape(-1, 1),
            "tl": tris + 1}
    savemat(tmp_path / "01_MorphableModel.mat", data)
    keep = np.array([0, 1, 2, 4, 5, 6, 8, 9, 10])  # 9 of the 12 vertices (0-based)
    trim_tris = np.array([[0, 4, 1], [0, 3, 4], [1, 5, 2], [1, 4, 5], [3, 7, 4], [3, 6, 7],
                          [4, 8, 5], [4, 7, 8]])
    keypoints = (np.arange(68) % N_TRIM) + 1
    savemat(tmp_path / "model_info.mat", {"trimIndex": (keep + 1).reshape(-1, 1),
                                          "tri": (trim_tris + 1).T, "keypoints": keypoints})
    exp_basis = rng.normal(size=(K_EXP, 3 * N_TRIM)).astype(np.float32)  # PC-major
    with open(tmp_path / "Exp_Pca.bin", "wb") as stream:
        np.array([K_EXP], dtype=np.int32).tofile(stream)
        np.zeros(3 * N_TRIM, dtype=np.float32).tofile(stream)
        exp_basis.tofile(stream)
    np.savetxt(tmp_path / "std_exp.txt", [2.0, 3.0, 4.0])
    return {"dir": tmp_path, "vertices": vertices, "shape_pc": shape_pc, "tex_pc": tex_pc,
            "keep": keep, "exp_basis": exp_basis, "trim_tris": trim_tris}


def _load(files, **overrides):
    d = files["dir"]
    kwargs = {"trim": d / "model_info.mat", "expression": d / "Exp_Pca.bin",
              "expression_std": d / "std_exp.txt", "n_identity": K_ID, "n_albedo": K_TEX}
    kwargs.update(overrides)
    return ff.load_model(d / "01_MorphableModel.mat", **kwargs)


def test_bfm2009_with_trim_and_expression(bfm2009):
    model = _load(bfm2009)
    keep = bfm2009["keep"]
    assert model.n_vertices == N_TRIM
    assert (model.n_identity, model.n_expression, model.n_albedo) == (K_ID, K_EXP, K_TEX)
    np.testing.assert_allclose(model.mean_shape, bfm2009["vertices"][keep] / 1000)  # um -> mm
    # identity PC j of vertex v is shapePC[3v:3v+3, j] (vertex-interleaved rows), in mm
    pc = bfm2009["shape_pc"].reshape(N_FULL, 3, 7)[keep][:, :, :K_ID] / 1000
    np.testing.assert_allclose(model.identity_basis, pc)
    np.testing.assert_allclose(model.identity_std, np.arange(1.0, K_ID + 1))
    # expression: PC-major K x 3N in the trimmed mesh
    exp = bfm2009["exp_basis"].astype(np.float64).reshape(K_EXP, N_TRIM, 3).transpose(1, 2, 0)
    np.testing.assert_allclose(model.expression_basis, exp / 1000, rtol=1e-6)
    np.testing.assert_allclose(model.expression_std, [2.0, 3.0, 4.0])
    np.testing.assert_allclose(model.albedo_mean, 128 / 255)
    np.testing.assert_array_equal(model.landmark_indices, np.arange(68) % N_TRIM)  # 1- to 0-based
    # triangles from the trim (1-based, stored 3 x T), wound to face +z
    assert sorted(map(sorted, model.triangles.tolist())) == sorted(
        map(sorted, bfm2009["trim_tris"].tolist()))
    c = model.mean_shape[model.triangles]
    assert np.cross(c[:, 1] - c[:, 0], c[:, 2] - c[:, 0])[:, 2].sum() > 0
    # the model works end to end
    shape = ff.backends.to_numpy(model.shape(np.ones(K_ID), np.ones(K_EXP)))
    expected = model.mean_shape + pc @ np.arange(1.0, K_ID + 1) + exp / 1000 @ [2.0, 3.0, 4.0]
    np.testing.assert_allclose(shape, expected, rtol=1e-6)


def test_bfm2009_untrimmed_keeps_every_vertex(bfm2009):
    model = ff.load_model(bfm2009["dir"] / "01_MorphableModel.mat", n_identity=None)
    assert model.n_vertices == N_FULL and model.n_identity == 7 and model.n_expression == 0
    assert (model.landmark_indices == -1).all()


@pytest.mark.parametrize(("change", "match"), [
    ({"expression_std": None}, "needs expression_std"),
    ({"n_identity": 7, "trim": None}, "vertices need"),  # expression lives in the trimmed mesh
])
def test_bfm2009_companion_mistakes(bfm2009, change, match):
    with pytest.raises(ff.ModelError, match=match):
        _load(bfm2009, **change)


def test_bfm2009_broken_files_name_the_file(bfm2009):
    d = bfm2009["dir"]
    (d / "Exp_Pca.bin").write_bytes((d / "Exp_Pca.bin").read_bytes()[:-8])
    with pytest.raises(ff.ModelError, match=r"Exp_Pca\.bin.*bytes"):
        _load(bfm2009)
    (d / "std_exp.txt").write_text("1 2\n")
    with pytest.raises(ff.ModelError, match=r"Exp_Pca\.bin|std_exp\.txt"):
        _load(bfm2009)
    truncated = d / "01_MorphableModel.mat"
    truncated.write_bytes(truncated.read_bytes()[:300])
    with pytest.raises(ff.ModelError, match=r"01_MorphableModel\.mat"):
        _load(bfm2009)


def test_bfm2009_wrong_shapes_and_landmarks(tmp_path):
    vertices, tris = _grid()
    savemat(tmp_path / "bad.mat", {"shapeMU": vertices.reshape(-1, 1),
                                   "shapePC": np.zeros((10, 2)), "shapeEV": np.ones(2),
                                   "texMU": np.zeros(36), "texPC": np.zeros((36, 2)),
                                   "texEV": np.ones(2), "tl": tris + 1})
    with pytest.raises(ff.ModelError, match=r"bad\.mat.*shapePC must be \(3N, K\)"):
        ff.load_model(tmp_path / "bad.mat")
    savemat(tmp_path / "info.mat", {"trimIndex": np.arange(1, 13), "tri": (tris + 1).T,
                                    "keypoints": np.arange(1, 60)})
    savemat(tmp_path / "ok.mat", {"shapeMU": vertices.reshape(-1, 1),
                                  "shapePC": np.zeros((36, 2)), "shapeEV": np.ones(2),
                                  "texMU": np.zeros(36), "texPC": np.zeros((36, 2)),
                                  "texEV": np.ones(2), "tl": tris + 1})
    with pytest.raises(ff.ModelError, match="expected 68 landmark vertex indices, found 59"):
        ff.load_model(tmp_path / "ok.mat", trim=tmp_path / "info.mat")
    with pytest.raises(ff.ModelError, match="unknown companion"):
        ff.load_model(tmp_path / "ok.mat", texture=tmp_path / "info.mat")
    (tmp_path / "garbage.mat").write_bytes(b"this is not a MATLAB file")
    with pytest.raises(ff.ModelError, match=r"garbage\.mat.*cannot be read as a MATLAB file"):
        ff.load_model(tmp_path / "garbage.mat")
    savemat(tmp_path / "other.mat", {"something": np.zeros(3)})
    with pytest.raises(ff.ModelError, match="neither a Basel Face Model 2009"):
        ff.load_model(tmp_path / "other.mat")


def test_face3d_bfm_mat(tmp_path):
    rng = np.random.default_rng(1)
    vertices, tris = _grid()
    exp_mu = rng.normal(size=(3 * N_FULL, 1))
    model = {"shapeMU": vertices.reshape(-1, 1), "expMU": exp_mu,
             "shapePC": rng.normal(size=(3 * N_FULL, 4)), "shapeEV": np.ones((4, 1)),
             "expPC": rng.normal(size=(3 * N_FULL, 2)), "expEV": np.full((2, 1), 2.0),
             "texMU": np.full((3 * N_FULL, 1), 255.0), "texPC": rng.normal(size=(3 * N_FULL, 3)),
             "texEV": np.ones((3, 1)), "tri": (tris + 1).T, "kpt_ind": np.arange(68) % N_FULL + 1}
    savemat(tmp_path / "BFM.mat", {"model": model})
    loaded = ff.load_model(tmp_path / "BFM.mat")
    np.testing.assert_allclose(loaded.mean_shape, (vertices + exp_mu.reshape(-1, 3)) / 1000)
    assert (loaded.n_identity, loaded.n_expression, loaded.n_albedo) == (4, 2, 3)
    np.testing.assert_allclose(loaded.expression_basis,
                               model["expPC"].reshape(N_FULL, 3, 2) / 1000)
    np.testing.assert_array_equal(loaded.landmark_indices, np.arange(68) % N_FULL)
    np.testing.assert_allclose(loaded.albedo_mean, 1.0)
    with pytest.raises(ff.ModelError, match="takes no trim"):
        ff.load_model(tmp_path / "BFM.mat", trim=tmp_path / "BFM.mat")


def test_bfm2017_h5(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(2)
    vertices, tris = _grid(scale=10.0)  # millimetres already
    basis = np.linalg.qr(rng.normal(size=(3 * N_FULL, 3)))[0]  # orthonormal columns
    exp_basis = np.linalg.qr(rng.normal(size=(3 * N_FULL, 2)))[0]
    with h5py.File(tmp_path / "model2017.h5", "w") as f:
        f["shape/model/mean"] = vertices.reshape(-1)
        f["shape/model/pcaBasis"] = basis
        f["shape/model/pcaVariance"] = [4.0, 9.0, 16.0]
        f["shape/representer/cells"] = tris.T  # (3, T), 0-based
        f["expression/model/mean"] = np.full(3 * N_FULL, 0.5)
        f["expression/model/pcaBasis"] = exp_basis
        f["expression/model/pcaVariance"] = [1.0, 0.25]
        f["color/model/mean"] = np.full(3 * N_FULL, 0.6)
        f["color/model/pcaBasis"] = np.eye(3 * N_FULL)[:, :2]
        f["color/model/pcaVariance"] = [0.01, 0.04]
    np.savetxt(tmp_path / "landmarks.txt", np.arange(68) % N_FULL, fmt="%d")
    model = ff.load_model(tmp_path / "model2017.h5", landmarks=tmp_path / "landmarks.txt")
    np.testing.assert_allclose(model.mean_shape, vertices + 0.5)
    np.testing.assert_allclose(model.identity_basis, basis.reshape(N_FULL, 3, 3))
    np.testing.assert_allclose(model.identity_std, [2.0, 3.0, 4.0])
    np.testing.assert_allclose(model.expression_std, [1.0, 0.5])
    np.testing.assert_allclose(model.albedo_std, [0.1, 0.2])
    np.testing.assert_array_equal(model.landmark_indices, np.arange(68) % N_FULL)
    c = model.mean_shape[model.triangles]
    assert np.cross(c[:, 1] - c[:, 0], c[:, 2] - c[:, 0])[:, 2].sum() > 0
    without = ff.load_model(tmp_path / "model2017.h5")
    assert (without.landmark_indices == -1).all()
    with h5py.File(tmp_path / "broken.h5", "w") as f:
        f["shape/model/mean"] = vertices.reshape(-1)
    with pytest.raises(ff.ModelError, match=r"broken\.h5.*missing dataset 'shape/model/pcaBasis'"):
        ff.load_model(tmp_path / "broken.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(ff.ModelError, match=r"junk\.h5.*cannot be read as HDF5"):
        ff.load_model(tmp_path / "junk.h5")


def _cereal_model(path, mean, basis, eigenvalues, triangles, texcoords=0, trailing=b""):
    """A Surrey-style model in eos' cereal binary layout (what the loader parses)."""
    import struct

    def matrix(values):
        values = np.asarray(values, dtype=np.float32)
        values = values.reshape(values.shape[0], -1)
        return struct.pack("<ii", *values.shape) + values.T.astype("<f4").tobytes()  # col-major

    body = struct.pack("<I", 1) + matrix(mean.reshape(-1, 1)) + matrix(basis) + matrix(
        eigenvalues.reshape(-1, 1)) + struct.pack("<Q", len(triangles)) + np.asarray(
        triangles, dtype="<i4").tobytes()
    body += struct.pack("<ii", 0, 1) + struct.pack("<ii", 0, 0) + struct.pack("<ii", 0, 1)
    body += struct.pack("<Q", 0) + struct.pack("<Q", texcoords) + bytes(16 * texcoords)
    path.write_bytes(body + trailing)


def test_sfm_cereal_layout(tmp_path):
    import struct

    rng = np.random.default_rng(3)
    vertices, tris = _grid(scale=10.0)
    basis = rng.normal(size=(3 * N_FULL, 2))  # asymmetric: a transposition would fail
    _cereal_model(tmp_path / "m.bin", vertices, basis, np.array([4.0, 9.0]), tris, texcoords=3)
    blend = struct.pack("<Q", 1) + struct.pack("<Q", 5) + b"smile" + struct.pack(
        "<ii", 3 * N_FULL, 1) + np.arange(3 * N_FULL, dtype="<f4").tobytes()
    (tmp_path / "b.bin").write_bytes(blend)
    (tmp_path / "map.txt").write_text("[landmark_mappings]\n9 = 4  # chin\n31 = 5\n"
                                      "[contour_landmarks]\nright = [ 1,\n 2 ]\n")
    model = ff.load_model(tmp_path / "m.bin", blendshapes=tmp_path / "b.bin",
                          landmarks=tmp_path / "map.txt")
    np.testing.assert_allclose(model.mean_shape, vertices, rtol=1e-6)
    np.testing.assert_allclose(model.identity_basis,
                               basis.astype(np.float32).reshape(N_FULL, 3, 2), rtol=1e-6)
    np.testing.assert_allclose(model.identity_std, [2.0, 3.0])
    np.testing.assert_allclose(model.expression_basis[..., 0],
                               np.arange(3 * N_FULL).reshape(N_FULL, 3))
    assert model.metadata["expression_names"] == ["smile"]
    assert model.landmark_indices[8] == 4 and model.landmark_indices[30] == 5
    assert (np.delete(model.landmark_indices, [8, 30]) == -1).all()
    _cereal_model(tmp_path / "extra.bin", vertices, basis, np.array([4.0, 9.0]), tris,
                  trailing=b"\x00" * 5)
    with pytest.raises(ff.ModelError, match=r"extra\.bin.*5 unexpected trailing bytes"):
        ff.load_model(tmp_path / "extra.bin")
    (tmp_path / "cut.bin").write_bytes((tmp_path / "m.bin").read_bytes()[:100])
    with pytest.raises(ff.ModelError, match=r"cut\.bin.*truncated"):
        ff.load_model(tmp_path / "cut.bin")
    (tmp_path / "b.bin").write_bytes(blend[:-4])
    with pytest.raises(ff.ModelError, match=r"b\.bin.*truncated"):
        ff.load_model(tmp_path / "m.bin", blendshapes=tmp_path / "b.bin")
    (tmp_path / "map.txt").write_text("[landmark_mappings]\n99 = 1\n")
    with pytest.raises(ff.ModelError, match=r"map\.txt.*out of range"):
        ff.load_model(tmp_path / "m.bin", landmarks=tmp_path / "map.txt")


def test_real_surrey_face_model(surrey_model):
    model = surrey_model
    assert (model.n_vertices, model.triangles.shape[0]) == (3448, 6736)
    assert (model.n_identity, model.n_expression) == (63, 6)
    assert model.metadata["expression_names"] == ["anger", "disgust", "fear", "happiness",
                                                  "sadness", "surprise"]
    lm, v = model.landmark_indices, model.mean_shape
    assert (lm >= 0).sum() == 50 and lm[8] == 33  # the chin; contour points are not mapped
    assert v[lm[30], 2] > v[lm[36], 2] and v[lm[36], 0] < 0 < v[lm[45], 0]
    assert v[lm[36], 1] > v[lm[48], 1] > v[lm[8], 1]
    assert 70 < np.linalg.norm(v[lm[36]] - v[lm[45]]) < 120  # millimetres


def test_landmark_only_fit_of_the_surrey_model_on_300w(shared_data, surrey_model):
    model = surrey_model
    points = ff.read_landmarks(shared_data / "300w" / "image_0010.pts")
    result = ff.fit(None, points, model)
    mapped = model.landmark_indices >= 0
    error = np.linalg.norm(result.landmarks[mapped] - points[mapped], axis=1).mean()
    assert error / np.linalg.norm(points[36] - points[45]) < 0.06
