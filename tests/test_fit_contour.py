"""The contour term: the jaw silhouette against the photo's edges (fit/terms/contour.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import facefit as ff
from facefit.backends import to_numpy
from facefit.fit import FitOptions, FitProblem
from facefit.render import render

from .conftest import assert_close, assert_strategies_agree
from .test_fit_terms import MODEL, _float64, _scene

#: The jaw held out, as the fidelity benchmark's leave-jaw-out fit: the contour stands in.
HELD_OUT = np.r_[np.zeros(17), np.ones(51)]


def _problem(seed: int, **kw):
    params, image, landmarks = _scene(seed)
    return params, FitProblem(image, landmarks, MODEL, contour=True,
                              landmark_weights=HELD_OUT, **kw)


def test_contour_term_jacobian_agrees_with_every_strategy(backend64):
    params, problem = _problem(4)
    term = problem.contour_term
    assert term is not None and problem.terms[2] is term
    rng = np.random.default_rng(7)
    x = backend64.asarray(problem.layout.pack(params) + rng.normal(size=problem.layout.size) * 0.01)
    problem.freeze(x)
    assert term.matched >= 3  # the synthetic face has a clear outline on a dark background
    analytic = assert_strategies_agree(term, x, backend64, "contour")
    assert analytic.shape == (term.row_weight.shape[0], problem.layout.size)
    assert np.abs(analytic).max() > 0


def test_contour_term_float32_matches_float64(backend):
    params, problem = _problem(5)
    x = problem.layout.pack(params)
    problem.freeze(x)
    reference = FitProblem(*_scene(5)[1:], MODEL, contour=True, landmark_weights=HELD_OUT,
                           backend=_float64(backend))
    reference.freeze(x)
    term, ref = problem.contour_term, reference.contour_term
    # The discrete decisions (vertices, kept lines) are the same in either precision.
    np.testing.assert_array_equal(to_numpy(term.vertex_ids), to_numpy(ref.vertex_ids))
    np.testing.assert_array_equal(to_numpy(term.row_weight) > 0, to_numpy(ref.row_weight) > 0)
    expected = to_numpy(ref.jacobian(reference.backend.asarray(x)))
    got = to_numpy(term.jacobian(problem.backend.asarray(x)))
    tol = 1e-9 if backend.dtype_name == "float64" else 2e-3
    np.testing.assert_allclose(got, expected, atol=tol * np.abs(expected).max())


def test_contour_residual_is_the_normal_distance_to_the_edge():
    params, problem = _problem(6)
    x = problem.layout.pack(params)
    problem.freeze(x)
    term = problem.contour_term
    kept = to_numpy(term.row_weight) > 0
    assert kept.any()
    # Moving the face along one kept line's outward normal by 2 px changes that residual by
    # 2 px times its weight: the residual measures the distance along the normal.
    k = int(np.flatnonzero(kept)[0])
    normal = to_numpy(term.normals)[k]
    moved = x.copy()
    moved[problem.layout.translation] += 2.0 * normal
    change = to_numpy(term.residuals(moved))[k] - to_numpy(term.residuals(x))[k]
    np.testing.assert_allclose(change, 2.0 * to_numpy(term.row_weight)[k], rtol=1e-9)


def test_contour_targets_lie_on_the_rendered_outline():
    # At the true parameters the photo is the model's own rendering: the kept edges lie at
    # the rendered jaw outline, within a few pixels of the projected contour vertices.
    params, problem = _problem(8)
    x = problem.layout.pack(params)
    problem.freeze(x)
    term = problem.contour_term
    kept = to_numpy(term.row_weight) > 0
    distance = np.abs(to_numpy(term.residuals(x)))[kept] / to_numpy(term.row_weight)[kept]
    assert kept.sum() >= 3 and np.median(distance) < 2.0, distance


def test_contour_leaves_given_jaw_points_alone():
    # Jaw points given at full weight: the outline has nothing to stand in for. At half
    # weight each line counts half (the square root of it, in the residual). The face's size
    # that normalises the term differs (the held-out jaw's extent is the model's at the
    # starting pose, the half-weighted one's the given points'), so it is divided out.
    params, image, landmarks = _scene(4)
    x = FitProblem(image, landmarks, MODEL).layout.pack(params)
    full = FitProblem(image, landmarks, MODEL, contour=True)
    full.freeze(x)
    assert full.contour_term.matched == 0
    assert not np.any(to_numpy(full.contour_term.jacobian(full.backend.asarray(x))))
    half = FitProblem(image, landmarks, MODEL, contour=True,
                      landmark_weights=np.r_[np.full(17, 0.5), np.ones(51)])
    held = FitProblem(image, landmarks, MODEL, contour=True, landmark_weights=HELD_OUT)
    half.freeze(x)
    held.freeze(x)
    np.testing.assert_allclose(
        to_numpy(half.contour_term.residuals(x)) * half.contour_term.diagonal,
        np.sqrt(0.5) * to_numpy(held.contour_term.residuals(x)) * held.contour_term.diagonal)


def test_contour_is_an_option_of_the_fit():
    _, image, landmarks = _scene(2)
    assert not FitOptions().contour
    plain = ff.fit(image, landmarks, MODEL, rounds=1, max_iterations=3, detail=False,
                   landmark_weights=HELD_OUT)
    assert plain.problem.contour_term is None
    with_contour = ff.fit(image, landmarks, MODEL, rounds=1, max_iterations=3, detail=False,
                          contour=True, landmark_weights=HELD_OUT)
    assert with_contour.problem.contour_term is not None
    assert not np.array_equal(plain.x, with_contour.x)
    # Without a photo there is no contour term, and the schedule naming it still runs.
    landmarks_only = ff.fit(None, landmarks, MODEL, rounds=1, max_iterations=3, contour=True)
    assert landmarks_only.problem.contour_term is None


def test_contour_skin_statistics_come_from_the_cheeks():
    # At the true parameters the photo is the model's own rendering on a dark background: the
    # skin's mean colour is the rendered cheeks' (bright), far from the background's, and the
    # inverse covariance (by the adjugate, no linalg extension) is the covariance's inverse.
    from facefit.fit.terms.base import whole_mesh
    from facefit.fit.terms.contour import _inverse3
    from facefit.render.landmarks import landmark_vertices

    params, problem = _problem(8)
    x = problem.backend.asarray(problem.layout.pack(params))
    term = problem.contour_term
    points = whole_mesh(term.arrays, term.layout, x).points
    marks = landmark_vertices(points, term.arrays.landmark_indices, term.arrays.jaw_candidates)
    projected = to_numpy(points)[to_numpy(marks)]
    mean, inverse = term._skin(problem.backend.asarray(projected[:17]),
                               problem.backend.asarray(projected[30]))
    image = to_numpy(problem.image)
    background = image[0, 0]
    assert np.linalg.norm(to_numpy(mean) - background) > 0.2
    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 3))
    spd = a @ a.T + 0.1 * np.eye(3)
    np.testing.assert_allclose(to_numpy(_inverse3(problem.backend.asarray(spd))),
                               np.linalg.inv(spd), rtol=1e-6, atol=1e-6)
    assert np.all(np.linalg.eigvalsh(to_numpy(inverse)) > 0)


def test_the_3x3_inverse_agrees_with_numpy_on_every_backend(backend):
    """The contour term's skin covariance inverse (by the adjugate, no linalg extension) on
    each backend and dtype, against NumPy's, scale-aware."""
    from facefit.fit.terms.contour import _inverse3

    rng = np.random.default_rng(5)
    for scale in (1e-3, 1.0, 1e2):
        a = rng.normal(size=(3, 3))
        spd = scale * (a @ a.T + 0.1 * np.eye(3))
        got = to_numpy(_inverse3(backend.asarray(spd)))
        want = np.linalg.inv(spd)
        # The adjugate's products cancel: rounding grows with the matrix's condition (< 200).
        assert_close(got, want, dtype=backend.dtype_name, scale=float(np.abs(want).max()),
                     atol_scale=200)


# -- a given outline (a detector's face outline) ------------------------------------------

def _outline_of(mask):
    """(P, 2) the convex hull of a mask's pixel centres: an outline around the face."""
    from facefit.polygons import convex_hull

    rows, cols = np.nonzero(mask)
    return convex_hull(np.stack([cols, rows], axis=1).astype(np.float64))


def _outline_problem(seed: int, **kw):
    params, image, landmarks = _scene(seed)
    outline = _outline_of(render(MODEL, params, image.shape[:2]).to_numpy()["mask"])
    return params, outline, FitProblem(image, landmarks, MODEL, contour=outline,
                                       landmark_weights=HELD_OUT, **kw)


def _distance_to_polygon(points, polygon):
    """(N,) host distance of each point to a closed polygon's edges."""
    a, b = polygon, np.roll(polygon, -1, axis=0)
    edge = b - a
    t = np.clip(np.einsum("npk,pk->np", points[:, None, :] - a[None], edge)
                / np.sum(edge * edge, axis=1), 0.0, 1.0)
    nearest = a[None] + t[..., None] * edge[None]
    return np.linalg.norm(points[:, None, :] - nearest, axis=2).min(axis=1)


def test_outline_term_jacobian_agrees_with_every_strategy(backend64):
    params, _, problem = _outline_problem(4)
    term = problem.contour_term
    assert term is not None and term.outline is not None
    rng = np.random.default_rng(9)
    x = backend64.asarray(problem.layout.pack(params) + rng.normal(size=problem.layout.size) * 0.01)
    problem.freeze(x)
    assert term.matched >= 10  # all 17 lines are matched to an outline
    analytic = assert_strategies_agree(term, x, backend64, "contour")
    assert analytic.shape == (17, problem.layout.size) and np.abs(analytic).max() > 0


def test_outline_targets_are_its_crossings_along_each_normal(backend):
    # Each kept target lies on the outline, on the line through its contour vertex along
    # that vertex's normal; an outline beyond the reach of every normal keeps no line.
    from facefit.fit.terms.base import shape_at

    params, outline, problem = _outline_problem(6, backend=backend)
    x = problem.backend.asarray(problem.layout.pack(params))
    problem.freeze(x)
    term = problem.contour_term
    kept = to_numpy(term.row_weight) > 0
    assert kept.sum() >= 10
    targets = to_numpy(term.targets)[kept].astype(np.float64)
    scale = float(np.abs(outline).max())
    tol = 1e-9 if backend.dtype_name == "float64" else 1e-4
    assert _distance_to_polygon(targets, outline).max() < tol * scale
    start = to_numpy(shape_at(term.vertices, term.layout, x).points)[kept].astype(np.float64)
    normal = to_numpy(term.normals)[kept].astype(np.float64)
    offset = targets - start
    cross = offset[:, 0] * normal[:, 1] - offset[:, 1] * normal[:, 0]
    assert np.abs(cross).max() < tol * scale
    from facefit.fit.terms.contour import OUTLINE_REACH
    assert np.abs(np.sum(offset * normal, axis=1)).max() <= OUTLINE_REACH * term.eye_distance
    far = FitProblem(to_numpy(problem.image), to_numpy(problem.targets), MODEL,
                     contour=outline + 1000.0, landmark_weights=HELD_OUT, backend=backend)
    far.freeze(x)
    assert far.contour_term.matched == 0


def test_a_detected_outline_stands_in_for_the_detectors_jaw_points():
    from facefit.detect import DetectedFace

    params, image, landmarks = _scene(3)
    outline = _outline_of(render(MODEL, params, image.shape[:2]).to_numpy()["mask"])
    face = DetectedFace(box=(0.0, 0.0, 72.0, 72.0), score=0.9, landmarks=landmarks,
                        point_weights=np.full(68, 0.8), outline=outline)
    quick = {"rounds": 1, "max_iterations": 2, "detail": False}
    fitted = ff.fit(image, face, MODEL, **quick)
    term = fitted.problem.contour_term
    assert term is not None
    np.testing.assert_allclose(to_numpy(term.outline)[:-1], outline)
    jaw_rows = to_numpy(fitted.problem.landmark_term.row_weight)[:17]
    assert not jaw_rows.any()  # the outline replaces the detector's jaw points
    # Weights the caller gives are kept: each line then counts 1 - w of its jaw point (over
    # the face's size, which the detector's jaw points set only when they are weighted).
    weighted = ff.fit(image, face, MODEL, landmark_weights=np.full(68, 0.75), **quick)
    assert to_numpy(weighted.problem.landmark_term.row_weight)[:17].all()
    np.testing.assert_allclose(
        to_numpy(weighted.problem.contour_term.line_scale)
        * weighted.problem.contour_term.diagonal,
        0.5 * to_numpy(term.line_scale) * term.diagonal)
    assert ff.fit(image, face, MODEL, contour=False, **quick).problem.contour_term is None
    # Without the photo there is no contour term: the detector's jaw points keep their weight.
    landmarks_only = ff.fit(image, face, MODEL, photometric=False, **quick)
    assert landmarks_only.problem.contour_term is None
    assert to_numpy(landmarks_only.problem.landmark_term.row_weight)[:17].all()
    no_outline = DetectedFace(box=face.box, score=0.9, landmarks=landmarks,
                              point_weights=np.ones(68), detector="dlib")
    assert ff.fit(image, no_outline, MODEL, **quick).problem.contour_term is None
    # Annotated points: no contour term unless asked for.
    assert ff.fit(image, landmarks, MODEL, **quick).problem.contour_term is None


def test_an_outline_saved_beside_a_landmark_file_stands_in_like_a_detected_one(tmp_path):
    # `facefit detect` writes NAME.pts and NAME.outline.pts; fitting the file must fit what
    # fitting the detected face does, not the detector's sliding jaw points.
    from facefit.detect import DetectedFace

    params, image, landmarks = _scene(3)
    outline = _outline_of(render(MODEL, params, image.shape[:2]).to_numpy()["mask"])
    ff.write_landmarks(tmp_path / "face.pts", landmarks)
    quick = {"rounds": 1, "max_iterations": 2, "detail": False}
    plain = ff.fit(image, tmp_path / "face.pts", MODEL, **quick)
    assert plain.problem.contour_term is None  # no outline file: annotated points
    ff.write_landmarks(tmp_path / "face.outline.pts", outline)
    from_files = ff.fit(image, str(tmp_path / "face.pts"), MODEL, **quick)
    term = from_files.problem.contour_term
    assert term is not None
    np.testing.assert_allclose(to_numpy(term.outline)[:-1], outline, atol=1e-5)
    assert not to_numpy(from_files.problem.landmark_term.row_weight)[:17].any()
    face = DetectedFace(box=(0.0, 0.0, 72.0, 72.0), score=0.9, landmarks=landmarks,
                        point_weights=np.ones(68), outline=outline)
    detected = ff.fit(image, face, MODEL, **quick)
    assert_close(from_files.params.identity, detected.params.identity, rtol=1e-3)
    # contour=False fits the file's own jaw points (corrected by hand, say).
    own = ff.fit(image, tmp_path / "face.pts", MODEL, contour=False, **quick)
    assert own.problem.contour_term is None
    assert to_numpy(own.problem.landmark_term.row_weight)[:17].all()


def test_an_outline_file_that_is_not_this_faces_is_a_landmark_error(tmp_path):
    from facefit.detect.source import read_outline
    from facefit.errors import LandmarkError

    _, _, landmarks = _scene(3)
    ff.write_landmarks(tmp_path / "face.pts", landmarks)
    assert read_outline(tmp_path / "face.pts") is None
    elsewhere = np.array([[0.0, 0.0], [5.0, 0.0], [5.0, 5.0], [0.0, 5.0]])  # a corner
    ff.write_landmarks(tmp_path / "face.outline.pts", elsewhere)
    with pytest.raises(LandmarkError, match=r"face\.outline\.pts.*does not surround"):
        read_outline(tmp_path / "face.pts")
    ff.write_landmarks(tmp_path / "face.outline.pts", elsewhere[:2])
    with pytest.raises(LandmarkError, match=r"face\.outline\.pts.*3 or more points"):
        ff.fit(np.zeros((72, 72, 3)), tmp_path / "face.pts", MODEL, detail=False)


def test_the_contour_setting_is_checked():
    from facefit.errors import FitError

    for bad in ("yes", np.zeros((2, 2)), np.zeros((5, 3)), np.full((4, 2), np.nan),
                np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])):
        with pytest.raises(FitError, match="contour"):
            FitOptions(contour=bad)
    assert FitOptions(contour=[[0, 0], [10, 0], [0, 10]]).contour.shape == (3, 2)


def test_a_true_outline_brings_the_held_out_jaw_closer():
    # The shipped model's face rendered at 20-30 degrees of yaw, its jaw held out: with the
    # face region's outline the fitted jaw lies nearer the rendered one than without.
    from facefit.params import FaceParams

    model = ff.load_model()
    size = (256, 256)
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        params = FaceParams.framing(model, size).for_model(model)
        params.identity = rng.normal(size=model.n_identity)
        params.albedo = rng.normal(size=model.n_albedo) * 0.5
        params.rotation = np.array([rng.uniform(-0.15, 0.15), rng.uniform(-0.5, 0.5),
                                    rng.uniform(-0.1, 0.1)])
        face = render(model, params, size, region="face").to_numpy()
        truth = face["landmarks"]
        eyes = np.linalg.norm(truth[36] - truth[45])
        errors = []
        for contour in (False, _outline_of(face["mask"])):
            fitted = ff.fit(face["image"], truth, model, landmark_weights=HELD_OUT,
                            detail=False, contour=contour)
            errors.append(np.linalg.norm(fitted.landmarks[:17] - truth[:17], axis=1).mean()
                          / eyes)
        assert errors[1] < 0.8 * errors[0], errors


@settings(max_examples=4)
@given(seed=st.integers(0, 10_000))
def test_a_point_weighted_zero_is_a_missing_point(backend, seed):
    # The leave-jaw-out fit weights the jaw 0: where those points lie must not reach the fit
    # through the face's size (the terms' normaliser, the contour's reach), the starting
    # pose or the starting light. The face's size then comes from the model's jaw at the
    # starting pose, as when the jaw is not given at all.
    params, image, landmarks = _scene(seed)
    rng = np.random.default_rng(seed)
    elsewhere = landmarks.copy()
    elsewhere[:17] = rng.uniform(4.0, 68.0, size=(17, 2))
    missing = landmarks.copy()
    missing[:17] = np.nan
    reference = FitProblem(image, missing, MODEL, contour=True)
    x = reference.backend.asarray(reference.layout.pack(params))
    reference.freeze(x)
    dtype = backend.dtype_name
    for points in (landmarks, elsewhere):
        problem = FitProblem(image, points, MODEL, contour=True, landmark_weights=HELD_OUT)
        assert_close(problem.x0, reference.x0, dtype=dtype)
        np.testing.assert_allclose(problem.face_points, reference.face_points)
        assert problem.landmark_term.diagonal == reference.landmark_term.diagonal
        assert problem.contour_term.diagonal == reference.contour_term.diagonal
        problem.freeze(x)
        for term, expected in zip(problem.terms, reference.terms, strict=True):
            assert_close(term.residuals(x), expected.residuals(x), dtype=dtype,
                         err_msg=term.name)
    # The completed face is the size of the given one, not of its inner points alone.
    given = FitProblem(image, landmarks, MODEL)
    assert 0.8 < reference.landmark_term.diagonal / given.landmark_term.diagonal < 1.25
