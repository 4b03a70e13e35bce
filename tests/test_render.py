"""``ff.render`` and ``FaceParams``: backends agree, batches agree, landmarks follow the pose."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import facefit as ff
from facefit.backends import to_numpy
from facefit.params import FaceParams
from facefit.render import render, render_batch
from facefit.render.landmarks import IBUG_MIRROR, jaw_spacing, landmark_vertices, space_jaw

from .conftest import assert_close
from .synthetic import make_model

MODEL = make_model(n=21)
SIZE = (96, 112)


def _params(seed, yaw=None):
    rng = np.random.default_rng(seed)
    p = FaceParams.framing(MODEL, SIZE).for_model(MODEL)
    p.identity = rng.normal(size=MODEL.n_identity)
    p.expression = rng.normal(size=MODEL.n_expression)
    p.albedo = rng.normal(size=MODEL.n_albedo)
    p.rotation = rng.uniform(-0.4, 0.4, 3) if yaw is None else np.array([0.0, yaw, 0.0])
    p.light = p.light * 0.7
    p.light[1:] += rng.normal(size=(8, 3)) * 0.05
    return p


@settings(max_examples=8)
@given(seed=st.integers(0, 1000))
def test_backends_agree_with_numpy_float64(backend, seed):
    params = _params(seed)
    with ff.use_backend("numpy", dtype="float64"):
        reference = render(MODEL, params, SIZE).to_numpy()
    got = render(MODEL, params, SIZE).to_numpy()
    same = got["mask"] == reference["mask"]
    assert same.mean() > (0.999 if backend.dtype_name == "float64" else 0.99)
    both = got["mask"] & reference["mask"]
    tol = 1e-10 if backend.dtype_name == "float64" else 1e-4
    assert_close(got["image"][both], reference["image"][both], rtol=tol, scale=1.0)
    depth_scale = float(np.nanmax(np.abs(reference["depth"])))
    assert_close(got["depth"][both], reference["depth"][both], rtol=tol, scale=depth_scale)
    assert_close(got["landmarks"], reference["landmarks"], rtol=tol, scale=float(max(SIZE)))


def test_batch_equals_one_at_a_time(backend):
    params = [_params(1), _params(2), _params(3)]
    batch = render_batch(MODEL, params, SIZE)
    assert batch.image.shape == (3, *SIZE, 3) and batch.mask.shape == (3, *SIZE)
    for k, p in enumerate(params):
        single = render(MODEL, p, SIZE).to_numpy()
        np.testing.assert_array_equal(to_numpy(batch.mask)[k], single["mask"])
        assert_close(to_numpy(batch.image)[k], single["image"], dtype=backend.dtype_name)
        assert_close(to_numpy(batch.landmarks)[k], single["landmarks"], dtype=backend.dtype_name)


def test_outputs_are_consistent(backend):
    out = render(MODEL, _params(4), SIZE).to_numpy()
    assert out["image"].shape == (*SIZE, 3) and out["mask"].dtype == bool
    assert np.all((out["image"] >= 0) & (out["image"] <= 1))
    assert np.all(np.isnan(out["depth"][~out["mask"]]))
    assert np.all(np.isfinite(out["depth"][out["mask"]]))
    assert np.all(out["image"][~out["mask"]] == 0)
    # landmarks are projections of model vertices, inside the face's extent
    pts = out["points"]
    assert np.all(out["landmarks"] >= pts.min(axis=0) - 1e-6)
    assert np.all(out["landmarks"] <= pts.max(axis=0) + 1e-6)


def test_background_is_kept_outside_the_face(backend):
    background = np.random.default_rng(0).random((*SIZE, 3))
    out = render(MODEL, _params(5), SIZE, background=background).to_numpy()
    assert_close(out["image"][~out["mask"]], background[~out["mask"]], dtype=backend.dtype_name)
    grey = render(MODEL, _params(5), SIZE, background=background[..., 0]).to_numpy()
    assert grey["image"].shape == (*SIZE, 3)
    with pytest.raises(ff.FacefitError, match="background"):
        render(MODEL, _params(5), SIZE, background=np.zeros((10, 10, 3)))


def test_yaw_moves_jaw_landmarks_to_the_silhouette(backend64):
    for yaw in (0.0, 0.5, -0.5):
        params = _params(6, yaw=yaw)
        params.scale *= 0.7  # keep the whole face inside the image
        out = render(MODEL, params, SIZE).to_numpy()
        mask = out["mask"]
        # The marched vertices (the landmarks then slide along their polyline: jaw_spacing).
        marched = out["points"][landmark_vertices(out["points"], MODEL.landmark_indices,
                                                  MODEL.jaw_candidates)]
        for k in list(range(0, 6)) + list(range(11, 17)):  # the side lines of the jaw
            x, y = marched[k]
            row = mask[round(float(y))]
            columns = np.flatnonzero(row)
            edge = columns.min() if k < 8 else columns.max()
            assert abs(x - edge) <= 1.5, (yaw, k, x, edge)


def test_marching_from_the_candidates_alone_equals_the_whole_mesh(backend64):
    """The landmark term projects only the jaw candidates' vertices for its marching
    (landmark_vertices(candidates_only=True)): the same vertices as from the whole mesh, for
    single and batched points."""
    from facefit.forward import Coefficients, Pose, evaluate
    from facefit.render.landmarks import landmark_vertices

    arrays = MODEL.arrays(backend64)
    xp = backend64.xp
    lines = arrays.jaw_candidates
    flat = xp.reshape(xp.where(lines >= 0, lines, xp.zeros_like(lines)), (-1,))
    for yaw in (0.0, 0.6, -0.6):
        params = [_params(7, yaw=yaw), _params(8, yaw=-yaw)]
        whole = evaluate(arrays, Coefficients.of_params(params, MODEL, backend64),
                         Pose.of_params(params, backend64)).points  # (2, V, 2)
        expected = to_numpy(landmark_vertices(whole, arrays.landmark_indices, lines))
        picked = xp.take(whole, flat, axis=1)
        got = to_numpy(landmark_vertices(picked, arrays.landmark_indices, lines,
                                         candidates_only=True))
        assert np.array_equal(got, expected)
        single = to_numpy(landmark_vertices(picked[0, ...], arrays.landmark_indices, lines,
                                            candidates_only=True))
        assert np.array_equal(single, expected[0])


def _arc(points):
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_jaw_spacing_spaces_points_evenly_along_their_outline(backend64, seed):
    # 17 points at random places on a U (bunched anywhere), ends and chin at fixed places.
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, np.pi, 17))
    t[0], t[8], t[16] = 0.0, np.pi / 2, np.pi
    jaw = np.stack([-60 * np.cos(t), 80 * np.sin(t) + rng.normal(0, 3, 17)], axis=1)
    weights = to_numpy(jaw_spacing(backend64.asarray(jaw)))
    assert weights.shape == (17, 17)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert ((weights != 0).sum(axis=1) <= 2).all() and (weights >= 0).all()
    spaced = weights @ jaw
    np.testing.assert_allclose(spaced[[0, 8, 16]], jaw[[0, 8, 16]], atol=1e-9)
    # Each output point lies on the input polyline at k/8 of its side's length.
    arc = _arc(jaw)
    for side, (a, b) in enumerate(((0, 8), (8, 16))):
        for j, k in enumerate(range(a, b + 1)):
            place = arc[a] + (arc[b] - arc[a]) * j / 8
            expected = [np.interp(place, arc, jaw[:, 0]), np.interp(place, arc, jaw[:, 1])]
            np.testing.assert_allclose(spaced[k], expected, atol=1e-9, err_msg=f"{side} {k}")
    # A batch gives each face its own weights; evenly spaced points come back unchanged.
    batch = to_numpy(jaw_spacing(backend64.asarray(np.stack([jaw, 2 * jaw[::-1]]))))
    np.testing.assert_allclose(batch[0], weights, atol=1e-12)
    even = np.linspace(0, np.pi, 17)  # equal chords on a circle: nothing to move
    circle = np.stack([-70 * np.cos(even), 70 * np.sin(even)], axis=1)
    again = to_numpy(jaw_spacing(backend64.asarray(circle))) @ circle
    np.testing.assert_allclose(again, circle, atol=1e-9)


def test_jaw_spacing_copes_with_coincident_points_and_complex_steps():
    jaw = np.stack([np.linspace(-1, 1, 17), np.zeros(17)], axis=1)
    jaw[3] = jaw[2]  # a zero-length segment
    weights = jaw_spacing(jaw)
    assert np.isfinite(weights).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    # Complex step: the weights come from the real part; the imaginary part is carried.
    points = np.random.default_rng(0).normal(size=(68, 2)) + 1e-30j * np.ones((68, 2))
    spaced = space_jaw(points, jaw_spacing(points[:17]))
    np.testing.assert_allclose(spaced.real[:17], jaw_spacing(points.real[:17]) @ points.real[:17])
    np.testing.assert_allclose(spaced.imag[:17] / 1e-30, 1.0)  # rows of W sum to 1
    np.testing.assert_array_equal(spaced[17:], points[17:])


@settings(max_examples=20, deadline=None)
@given(angles=st.tuples(*[st.floats(-0.5, 0.5)] * 3))
def test_landmarks_of_a_mirrored_pose_are_the_mirrored_landmarks(backend64, angles):
    """The shipped face's mean shape is left-right symmetric, so in the mirrored pose (yaw and
    roll negated) its 68 landmarks, jaw marching and spacing included, are the pose's own
    landmarks mirrored. A rule that treats the two halves of the jaw differently (the marching's
    side test, the spacing from the chin outward) breaks this by millimetres; what is left is
    ICT's mesh, symmetric to about 5 micrometres at the inner eye corners."""
    from facefit.camera import project, rotate
    from facefit.geometry import rotation_matrix
    from facefit.render.landmarks import landmark_points, marching_table

    mirror = np.asarray(IBUG_MIRROR)
    assert sorted(mirror) == list(range(68)) and np.array_equal(mirror[mirror], np.arange(68))
    arrays = ff.load_model().arrays(backend64)
    pitch, yaw, roll = angles
    seen = []
    for pose in ((pitch, yaw, roll), (pitch, -yaw, -roll)):
        rotation = rotation_matrix(backend64.asarray(np.array(pose)))
        points, _ = project(rotate(arrays.mean_shape, rotation), 1.0,
                            backend64.asarray(np.zeros(2)))
        seen.append(to_numpy(landmark_points(points, arrays.landmark_indices,
                                             marching_table(arrays, rotation))))
    mirrored = seen[1][mirror] * np.array([-1.0, 1.0])
    size = float(np.ptp(seen[0], axis=0).max())  # about 140 mm
    np.testing.assert_allclose(seen[0], mirrored, rtol=0, atol=1e-4 * size)


def test_face_params_defaults_dict_round_trip_and_validation():
    p = FaceParams()
    assert p.identity is None and p.scale == 1.0
    np.testing.assert_allclose(p.light[0], 1 / 0.886226925452758)
    filled = p.for_model(MODEL)
    assert filled.identity.shape == (MODEL.n_identity,)
    text = json.dumps(_params(7).to_dict())
    again = FaceParams.from_dict(json.loads(text))
    assert again == _params(7)
    with pytest.raises(ff.FitError, match="light"):
        FaceParams(light=np.zeros((3, 3)))
    with pytest.raises(ff.FitError, match="unknown keys"):
        FaceParams.from_dict({"yaw": 1.0})
    with pytest.raises(ff.FitError, match="coefficients"):
        FaceParams(identity=np.zeros(3)).for_model(MODEL)
    with pytest.raises(ff.FitError, match="finite"):
        FaceParams(rotation=[0, np.nan, 0])


def test_framing_centres_the_face_at_seventy_percent_width():
    out = render(MODEL, FaceParams.framing(MODEL, SIZE), SIZE).to_numpy()
    columns = np.flatnonzero(out["mask"].any(axis=0))
    rows = np.flatnonzero(out["mask"].any(axis=1))
    width = columns.max() - columns.min() + 1
    assert abs(width / SIZE[1] - 0.7) < 0.03
    assert abs((columns.min() + columns.max()) / 2 - (SIZE[1] - 1) / 2) < 1.5
    assert abs((rows.min() + rows.max()) / 2 - (SIZE[0] - 1) / 2) < 1.5


def test_visible_vertices_front_facing_and_unoccluded(backend):
    from facefit.render import pose_faces, rasterize, visible_vertices

    params = _params(8, yaw=0.6)
    state = pose_faces(MODEL, [params], backend)
    triangles = MODEL.arrays(backend).triangles
    raster = rasterize(state.points[0, ...], state.depth[0, ...], triangles, SIZE)
    visible = to_numpy(visible_vertices(state.points[0, ...], state.depth[0, ...],
                                        state.normals[0, ...], raster))
    normals = to_numpy(state.normals)[0]
    assert visible.dtype == bool and visible.shape == (MODEL.n_vertices,)
    assert not visible[normals[:, 2] <= 0].any()  # back-facing never counts as visible
    assert visible.mean() > 0.5
    # a second copy of the face pushed far behind the first is hidden by it
    hidden = state.depth[0, ...] - 1000.0
    both_points = backend.xp.concat([state.points[0, ...], state.points[0, ...]])
    both_depth = backend.xp.concat([state.depth[0, ...], hidden])
    both_normals = backend.xp.concat([state.normals[0, ...], state.normals[0, ...]])
    both_tris = backend.xp.concat([triangles, triangles + MODEL.n_vertices])
    raster2 = rasterize(both_points, both_depth, both_tris, SIZE)
    seen = to_numpy(visible_vertices(both_points, both_depth, both_normals, raster2))
    assert not seen[MODEL.n_vertices:].any()
    np.testing.assert_array_equal(seen[: MODEL.n_vertices], visible)


def test_underside_joins_the_marching_where_it_faces_the_camera(backend64):
    """marching_table: the jaw lines plus the underside vertices whose rotated normal faces
    the camera by more than UNDERSIDE_FACING. Seen from the front the marching picks what the
    plain lines pick; seen from below and turned, some near-side lines pick an underside
    vertex, always a shown one and the outermost of its line; one table per face in a batch
    marches like each face alone."""
    from facefit.camera import project, rotate
    from facefit.geometry import rotation_matrix
    from facefit.model.contours import UNDERSIDE_FACING
    from facefit.render.landmarks import marching_table

    ict = ff.load_model()
    arrays = ict.arrays(backend64)
    xp = backend64.xp
    plain = to_numpy(arrays.jaw_candidates)
    width = plain.shape[1]
    underside = to_numpy(arrays.jaw_underside)
    normals = to_numpy(arrays.underside_normals)
    rotations = []
    for angles, near in (((0.0, 0.0, 0.0), None), ((-0.3, 0.5, 0.0), range(1, 8)),
                         ((-0.3, -0.5, 0.0), range(9, 16))):
        rotation = rotation_matrix(backend64.asarray(np.array(angles)))
        rotations.append(rotation)
        table = to_numpy(marching_table(arrays, rotation))
        facing = normals @ to_numpy(rotation)[2]
        np.testing.assert_array_equal(table[:, :width], plain)
        np.testing.assert_array_equal(table[:, width:] >= 0,
                                      (underside >= 0) & (facing > UNDERSIDE_FACING))
        points, _ = project(rotate(arrays.mean_shape, rotation), 1.0,
                            backend64.asarray(np.zeros(2)))
        marched = to_numpy(landmark_vertices(points, arrays.landmark_indices,
                                             xp.asarray(table)))
        before = to_numpy(landmark_vertices(points, arrays.landmark_indices,
                                            arrays.jaw_candidates))
        if near is None:
            np.testing.assert_array_equal(marched, before)
            continue
        host = to_numpy(points)
        took = [k for k in near if marched[k] in table[k, width:]]
        assert len(took) >= 2, (angles, took)
        for k in range(17):
            line = table[k][table[k] >= 0]
            if line.size:
                score = host[line, 0] if k < 8 else -host[line, 0] if k > 8 else -host[line, 1]
                assert score[list(line).index(marched[k])] == score.min()
    # Batched: (2, 3, 3) rotations give one table per face, marched like each face alone.
    both = xp.stack(rotations[1:], axis=0)
    tables = marching_table(arrays, both)
    assert tables.shape[0] == 2
    points = xp.stack([project(rotate(arrays.mean_shape, r), 1.0,
                               backend64.asarray(np.zeros(2)))[0] for r in rotations[1:]], axis=0)
    together = to_numpy(landmark_vertices(points, arrays.landmark_indices, tables))
    for face in range(2):
        alone = to_numpy(landmark_vertices(points[face, ...], arrays.landmark_indices,
                                           tables[face, ...]))
        np.testing.assert_array_equal(together[face], alone)
