"""The morphable model: the embedded default, shape/albedo on every backend, the .npz format."""

from __future__ import annotations

import dataclasses
import os
import time
import zipfile
from importlib.resources import files

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra import numpy as hnp

import facefit as ff
from facefit.backends import to_numpy
from facefit.model import MorphableModel, jaw_candidates, jaw_underside, respace_jaw
from facefit.model.contours import JAW_END_DROP

from .conftest import assert_close, floats


@pytest.fixture(scope="module")
def model():
    return ff.load_model()


def test_default_model_loads_with_no_arguments_and_is_small(model):
    assert model is ff.load_model()  # loaded once per process
    assert (model.n_identity, model.n_expression) == (100, 53)
    assert model.n_albedo == 80 and model.units == "mm"
    assert model.landmark_indices.shape == (68,) and (model.landmark_indices >= 0).all()
    assert model.triangles.min() >= 0 and model.triangles.max() < model.n_vertices
    path = files("facefit") / "data" / "ict_face_model.npz"
    assert os.path.getsize(str(path)) < 10e6
    with zipfile.ZipFile(str(path)) as archive:  # stored: a cold start does not inflate it
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}
    assert (files("facefit") / "data" / "ICT_FACE_MODEL_LICENSE.txt").is_file()
    start = time.perf_counter()
    from facefit.model.formats import load_npz

    load_npz(str(path))
    print(f"default model load: {time.perf_counter() - start:.3f} s")  # recorded, not asserted
    assert len(model.metadata["expression_names"]) == 53


def test_default_model_orientation(model):
    v, lm = model.mean_shape, model.landmark_indices
    assert v[lm[30], 2] > v[lm[[36, 45, 48, 54, 8]], 2].max()  # the nose tip is nearest
    assert v[lm[36], 1] > v[lm[48], 1] > v[lm[8], 1]  # eyes above mouth above chin (y up)
    assert v[lm[36], 0] < v[lm[45], 0]  # subject's right eye corner at smaller x
    # outward normals: the summed face normal points at the camera
    c = v[model.triangles]
    assert np.cross(c[:, 1] - c[:, 0], c[:, 2] - c[:, 0])[:, 2].sum() > 0
    eye_distance = np.linalg.norm(v[lm[36]] - v[lm[45]])
    assert 70 < eye_distance < 120  # millimetres


def test_frontal_render_orientation(model):
    size = (256, 256)
    out = ff.render(model, ff.FaceParams.framing(model, size), size).to_numpy()
    lm = out["landmarks"]
    assert lm[8, 1] > lm[30, 1] > lm[27, 1]  # chin below nose below the nose bridge (image y)
    assert lm[36, 0] < lm[45, 0]  # the subject's right eye is on the image's left
    assert out["mask"][int(lm[30, 1]), int(lm[30, 0])]


@settings(max_examples=10)
@given(identity=hnp.arrays(np.float64, 100, elements=floats(-3, 3)),
       expression=hnp.arrays(np.float64, 53, elements=floats(-2, 2)),
       albedo=hnp.arrays(np.float64, 80, elements=floats(-3, 3)))
def test_shape_and_albedo_on_every_backend(model, backend, identity, expression, albedo):
    shape = model.shape(backend.asarray(identity), backend.asarray(expression))
    assert shape.shape == (model.n_vertices, 3) and shape.dtype == backend.dtype
    expected = (model.mean_shape + model.identity_basis @ (identity * model.identity_std)
                + model.expression_basis @ (expression * model.expression_std))
    assert_close(shape, expected, dtype=backend.dtype_name, scale=float(np.abs(expected).max()))
    colours = to_numpy(model.albedo(albedo))
    linear = model.albedo_mean + model.albedo_basis @ (albedo * model.albedo_std)
    assert_close(colours, np.clip(linear, 0, 1), dtype=backend.dtype_name, scale=1.0)
    assert colours.min() >= 0 and colours.max() <= 1
    assert_close(model.shape(), model.mean_shape, dtype=backend.dtype_name,
                 scale=float(np.abs(model.mean_shape).max()))


def test_complex_step_through_shape_gives_the_basis_column(model, backend64):
    for k in (0, 57):
        z = np.zeros(100, dtype=complex)
        z[k] = 1e-30j
        shape = to_numpy(model.shape(backend64.asarray(z)))
        assert_close(shape.imag / 1e-30, model.identity_basis[..., k] * model.identity_std[k])


def test_wrong_coefficient_count_is_a_model_error(model):
    with pytest.raises(ff.ModelError, match="identity needs 100 coefficients"):
        model.shape(np.zeros(99))


def test_npz_stored_uncompressed_reads_the_same_arrays(tmp_path):
    from facefit.model.formats.npz import save_npz

    small = _small_model()
    for compress in (True, False):
        save_npz(small, tmp_path / f"{compress}.npz", quantise=True, compress=compress)
    with zipfile.ZipFile(tmp_path / "False.npz") as archive:
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}
    packed, stored = (ff.load_model(tmp_path / f"{c}.npz") for c in (True, False))
    for name in ("mean_shape", "identity_basis", "expression_basis", "albedo_basis",
                 "triangles", "landmark_indices"):
        np.testing.assert_array_equal(getattr(stored, name), getattr(packed, name))


def test_npz_round_trip(model, tmp_path):
    small = _small_model()
    small.save(tmp_path / "small.npz")
    again = ff.load_model(tmp_path / "small.npz")
    for name in ("mean_shape", "identity_basis", "identity_std", "expression_basis",
                 "albedo_basis", "triangles", "landmark_indices", "jaw_candidates"):
        np.testing.assert_array_equal(getattr(again, name), getattr(small, name))
    assert again.metadata == small.metadata and again.name == small.name
    assert again.outline_indices is None  # optional: a model without one keeps none
    outlined = dataclasses.replace(small, outline_indices=np.arange(17) + 5)
    outlined.save(tmp_path / "outlined.npz")
    np.testing.assert_array_equal(ff.load_model(tmp_path / "outlined.npz").outline_indices,
                                  np.arange(17) + 5)


def _small_model():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(30, 3))
    return MorphableModel(
        name="small", mean_shape=mean, identity_basis=rng.normal(size=(30, 3, 4)),
        identity_std=np.arange(1, 5.0), expression_basis=rng.normal(size=(30, 3, 2)),
        expression_std=np.ones(2), albedo_mean=np.full((30, 3), 0.5),
        albedo_basis=rng.normal(size=(30, 3, 3)), albedo_std=np.ones(3),
        triangles=rng.integers(0, 30, (20, 3)), landmark_indices=np.r_[np.arange(30),
                                                                        -np.ones(38)],
        jaw_candidates=np.full((17, 2), -1), metadata={"note": "test"})


@pytest.mark.parametrize(("change", "match"), [
    ({"mean_shape": np.zeros((30, 2))}, "mean shape must be"),
    ({"identity_std": np.ones(3)}, "identity_std has 3 entries"),
    ({"triangles": np.full((2, 3), 99)}, "triangle indices"),
    ({"landmark_indices": np.zeros(67)}, "expected 68 landmark indices"),
    ({"albedo_basis": np.full((30, 3, 3), np.nan)}, "non-finite"),
    ({"outline_indices": np.arange(16)}, "expected 17 outline indices"),
    ({"outline_indices": np.full(17, 30)}, "outline indices must lie"),
])
def test_inconsistent_arrays_raise_model_error(change, match):
    fields = {k: getattr(_small_model(), k) for k in (
        "name", "mean_shape", "identity_basis", "identity_std", "expression_basis",
        "expression_std", "albedo_mean", "albedo_basis", "albedo_std", "triangles",
        "landmark_indices", "jaw_candidates")}
    fields.update(change)
    with pytest.raises(ff.ModelError, match=match):
        MorphableModel(**fields)


def test_bad_model_files_name_the_file(tmp_path):
    with pytest.raises(ff.ModelError, match=r"missing\.npz.*not found"):
        ff.load_model(tmp_path / "missing.npz")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ff.ModelError, match=r"broken\.npz"):
        ff.load_model(broken)
    other = tmp_path / "other.npz"
    np.savez(other, something=np.zeros(3))
    with pytest.raises(ff.ModelError, match="not a facefit model"):
        ff.load_model(other)
    unknown = tmp_path / "model.xyz"
    unknown.write_text("?")
    with pytest.raises(ff.ModelError, match="unknown format"):
        ff.load_model(unknown)
    truncated = tmp_path / "cut.npz"
    _small_model().save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(ff.ModelError, match=r"cut\.npz"):
        ff.load_model(truncated)


def _frontal_arc(points):
    """Cumulative frontal (x, y) length along a polyline of (N, 3) points."""
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points[:, :2], axis=0),
                                                           axis=1))])


def test_respace_jaw_spaces_a_dense_jaw_evenly_below_the_eyes():
    # A U-shaped jaw of 2001 vertices (a half ellipse, ends at y = 0) and two eye corners at
    # y = 5, 100 apart; the given jaw vertices are bunched toward the chin on purpose.
    t = np.linspace(-np.pi / 2, np.pi / 2, 2001)
    curve = np.stack([60 * np.sin(t), -80 * np.cos(t), 0 * t], axis=1)
    vertices = np.concatenate([curve, [[-50.0, 5.0, 0.0], [50.0, 5.0, 0.0]]])
    bunched = np.round(1000 + 1000 * np.sign(np.linspace(-1, 1, 17))
                       * np.abs(np.linspace(-1, 1, 17)) ** 0.6).astype(int)
    marks = np.full(68, -1)
    marks[:17], marks[36], marks[45] = bunched, 2001, 2002
    marks[17:36] = np.arange(19)  # the other points: any vertices, left as they are
    out = respace_jaw(vertices, marks, end_drop=0.1)
    np.testing.assert_array_equal(out[17:], marks[17:])
    assert out[8] == marks[8] == 1000
    jaw = vertices[out[:17]]
    np.testing.assert_allclose(jaw[[0, 16], 1], 5 - 0.1 * 100, atol=0.5)  # ends 10 below
    # Even along the (old) polyline: on this dense curve, even along the curve itself.
    gaps = np.diff(_frontal_arc(jaw))
    np.testing.assert_allclose(gaps, gaps.mean(), rtol=0.06)
    assert not np.allclose(np.diff(_frontal_arc(vertices[bunched])), gaps.mean(), rtol=0.06)
    # Missing jaw or eye-corner vertices: nothing to measure, the input comes back.
    for missing in (3, 36):
        holed = marks.copy()
        holed[missing] = -1
        np.testing.assert_array_equal(respace_jaw(vertices, holed), holed)


def test_default_model_jaw_is_respaced(model, shared_data):
    # The shipped jaw vertices are ICT's respaced (tools/convert_ict.py); the rest are ICT's.
    import json

    ict = np.asarray(json.loads((shared_data / "ict-face-model" / "vertex_indices.json")
                                .read_text())["idx_to_landmark_verts"])
    lm = model.landmark_indices
    np.testing.assert_array_equal(lm[17:], ict[17:])
    np.testing.assert_array_equal(lm, respace_jaw(model.mean_shape, ict))
    np.testing.assert_array_equal(lm, respace_jaw(model.mean_shape, lm))  # a fixed point
    v = model.mean_shape
    eye_y, eye_distance = v[lm[[36, 45]], 1].mean(), np.linalg.norm(v[lm[36]] - v[lm[45]])
    assert abs(v[lm[0], 1] - (eye_y - JAW_END_DROP * eye_distance)) < 2.0  # mm: mesh spacing
    gaps = np.diff(_frontal_arc(v[lm[:17]]))
    old_gaps = np.diff(_frontal_arc(v[ict[:17]]))
    assert gaps.std() / gaps.mean() < 0.5 * old_gaps.std() / old_gaps.mean()
    # The face region is still cut along ICT's own jaw line (model.outline_indices).
    from facefit.model.regions import face_region, region_labels

    np.testing.assert_array_equal(model.outline_indices, ict[:17])
    np.testing.assert_array_equal(face_region(model)["labels"],
                                  region_labels(v, model.triangles, ict))
    assert not np.array_equal(region_labels(v, model.triangles, lm), face_region(model)["labels"])


def test_jaw_candidates_end_at_their_landmark(model):
    lines = model.jaw_candidates
    lm, v = model.landmark_indices, model.mean_shape
    for k in range(17):
        line = lines[k][lines[k] >= 0]
        assert lm[k] in line
        if k < 8:  # nothing on the line lies further out than the landmark
            assert v[line, 0].min() >= v[lm[k], 0] - 1e-9
        elif k > 8:
            assert v[line, 0].max() <= v[lm[k], 0] + 1e-9
    recomputed = jaw_candidates(model.mean_shape, model.landmark_indices)
    np.testing.assert_array_equal(recomputed, lines)


def test_jaw_underside_lies_under_and_just_behind_its_line(model):
    # Each side line's underside: below its landmark vertex by at most UNDERSIDE_DROP, at most
    # UNDERSIDE_BACK behind it, never further out than it (as the line itself), not on the
    # line; the ends and the chin have none. Normals are unit, outward: under the jaw they
    # point down.
    from facefit.model.contours import UNDERSIDE_BACK, UNDERSIDE_DROP, UNDERSIDE_LINES

    table, normals = jaw_underside(model.mean_shape, model.triangles, model.landmark_indices)
    lm, v = model.landmark_indices, model.mean_shape
    unit = np.linalg.norm(v[lm[36]] - v[lm[45]])
    assert table.shape[0] == 17 and normals.shape == (*table.shape, 3)
    for k in range(17):
        line = table[k][table[k] >= 0]
        if k not in UNDERSIDE_LINES:
            assert line.size == 0
            continue
        assert line.size > 0
        assert not np.isin(line, model.jaw_candidates[k]).any()
        below = v[lm[k], 1] - v[line, 1]
        assert (below > 0).all() and (below <= UNDERSIDE_DROP * unit + 1e-9).all()
        assert (v[lm[k], 2] - v[line, 2] <= UNDERSIDE_BACK * unit + 1e-9).all()
        if k < 8:
            assert v[line, 0].min() >= v[lm[k], 0] - 1e-9
        else:
            assert v[line, 0].max() <= v[lm[k], 0] + 1e-9
    used = table >= 0
    np.testing.assert_allclose(np.linalg.norm(normals[used], axis=1), 1.0)
    assert (normals[~used] == 0).all()
    assert normals[used][:, 1].mean() < -0.2
    # Without the eye corners there is no scale to reach by: no underside.
    marks = model.landmark_indices.copy()
    marks[36] = -1
    assert (jaw_underside(model.mean_shape, model.triangles, marks)[0] < 0).all()
    # The model's arrays carry it.
    arrays = model.arrays()
    np.testing.assert_array_equal(to_numpy(arrays.jaw_underside), table)


def test_distinct_candidates_rebuild_the_table(model):
    # The landmark term projects each distinct candidate once and reads the table through
    # ``where``: every real entry finds its own vertex; padding may read any.
    from facefit.model.contours import distinct_candidates

    table = np.concatenate([model.jaw_candidates, jaw_underside(
        model.mean_shape, model.triangles, model.landmark_indices)[0]], axis=1)
    distinct, where = distinct_candidates(table)
    flat = table.reshape(-1)
    real = flat >= 0
    np.testing.assert_array_equal(distinct[where][real], flat[real])
    assert distinct.size == np.unique(flat[real]).size < flat.size / 2
    assert distinct_candidates(np.full((17, 3), -1))[1].shape == (51,)
