"""The contour term: the jaw silhouette against the photo's edges (fit/terms/contour.py)."""

from __future__ import annotations

import numpy as np

import facefit as ff
from facefit.backends import to_numpy
from facefit.fit import FitOptions, FitProblem

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
    # weight each line counts half (the square root of it, in the residual).
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
    np.testing.assert_allclose(to_numpy(half.contour_term.residuals(x)),
                               np.sqrt(0.5) * to_numpy(held.contour_term.residuals(x)))


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
