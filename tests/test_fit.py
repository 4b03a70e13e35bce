"""The solver and the stage schedule: monotone energy, recovery of known parameters."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import facefit as ff
from facefit.backends import to_numpy
from facefit.fit import SolverOptions, fit, levenberg_marquardt
from facefit.params import FaceParams
from facefit.render import render

from .synthetic import make_model

MODEL = make_model(n=21)
SIZE = (128, 128)


def _truth(seed=3):
    rng = np.random.default_rng(seed)
    params = FaceParams.framing(MODEL, SIZE).for_model(MODEL)
    params.identity = rng.normal(size=MODEL.n_identity)
    params.expression = rng.normal(size=MODEL.n_expression) * 0.5
    params.albedo = rng.normal(size=MODEL.n_albedo)
    params.rotation = np.array([0.1, 0.25, -0.05])
    params.light = params.light * 0.8
    params.light[1:4] += np.array([[0.1] * 3, [0.15] * 3, [-0.05] * 3])
    return params, render(MODEL, params, SIZE).to_numpy()


def test_levenberg_marquardt_solves_linear_least_squares(backend64):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 5)), rng.normal(size=30)
    xa, xb = backend64.asarray(a), backend64.asarray(b)
    report = levenberg_marquardt(lambda x: xa @ x - xb, lambda x: xa,
                                 backend64.asarray(np.zeros(5)), backend64.asarray(np.arange(5)),
                                 SolverOptions(max_iterations=50, relative_decrease=1e-15))
    expected = np.linalg.lstsq(a, b, rcond=None)[0]
    np.testing.assert_allclose(to_numpy(report.x), expected, atol=1e-7)


def test_inactive_parameters_stay_fixed(backend64):
    xa = backend64.asarray(np.eye(3))
    target = backend64.asarray([1.0, 2.0, 3.0])
    report = levenberg_marquardt(lambda x: xa @ x - target, lambda x: xa,
                                 backend64.asarray(np.zeros(3)), backend64.asarray([0, 2]),
                                 SolverOptions(max_iterations=50, relative_decrease=1e-15))
    x = to_numpy(report.x)
    assert x[1] == 0.0 and abs(x[0] - 1) < 1e-6 and abs(x[2] - 3) < 1e-6


def _normal(a, r, columns):
    from facefit.backends import array_namespace

    sub = a if columns is None else array_namespace(a).take(a, columns, axis=1)
    return sub.T @ sub, sub.T @ r


def test_normal_equations_replace_the_jacobian(backend64):
    """Given (J^T J, J^T r) directly, LM takes the same steps: the same solution, and the
    inactive parameters stay fixed."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(30, 5)), rng.normal(size=30)
    xa, xb = backend64.asarray(a), backend64.asarray(b)

    def unused(x):
        raise AssertionError("the Jacobian is not asked for")

    for active in ([0, 1, 2, 3, 4], [0, 2, 3]):
        options = SolverOptions(max_iterations=50, relative_decrease=1e-15)
        start = backend64.asarray(np.full(5, 0.5))
        given = levenberg_marquardt(lambda x: xa @ x - xb, unused, start,
                                    backend64.asarray(active), options,
                                    normal_equations=lambda x, r, columns: _normal(xa, r,
                                                                                   columns))
        plain = levenberg_marquardt(lambda x: xa @ x - xb, lambda x: xa, start,
                                    backend64.asarray(active), options)
        np.testing.assert_allclose(to_numpy(given.x), to_numpy(plain.x), atol=1e-12)
        assert given.iterations == plain.iterations
        fixed = [k for k in range(5) if k not in active]
        assert np.all(to_numpy(given.x)[fixed] == 0.5)


def test_fit_recovers_a_synthetic_face_on_every_backend(backend):
    params, truth = _truth()
    result = fit(truth["image"], truth["landmarks"], MODEL)
    out = result.render().to_numpy()
    mask = truth["mask"] & out["mask"]
    rmse = float(np.sqrt(np.mean((out["image"][mask] - truth["image"][mask]) ** 2)))
    error = np.linalg.norm(result.landmarks - truth["landmarks"], axis=1)
    diagonal = np.linalg.norm(np.ptp(truth["landmarks"], axis=0))
    limit = 0.03 if backend.dtype_name == "float64" else 0.05
    assert rmse < limit, rmse
    assert np.nanmean(error) / diagonal < 0.02
    # the fitted energy is no worse than the energy of the true parameters
    problem = result.problem
    truth_x = problem.layout.pack(params)
    problem.freeze(truth_x)
    assert result.energy <= problem.energy(truth_x) * 1.05


def test_energy_never_increases_across_accepted_steps(backend64):
    _, truth = _truth(5)
    result = fit(truth["image"], truth["landmarks"] + 0.5, MODEL)
    for stage in {h["stage"] for h in result.history}:
        energies = [h["energy"] for h in result.history if h["stage"] == stage]
        assert all(b <= a for a, b in itertools.pairwise(energies)), stage
    assert all(set(h) >= {"energy", "step", "lambda", "seconds"} for h in result.history)


def test_landmark_only_fit(backend64):
    _, truth = _truth(7)
    for result in (fit(truth["image"], truth["landmarks"], MODEL, photometric=False),
                   fit(None, truth["landmarks"], MODEL)):
        assert result.problem.photometric_term is None
        error = np.linalg.norm(result.landmarks - truth["landmarks"], axis=1)
        assert np.nanmean(error) < 1.0
        assert {h["stage"].split("/")[0] for h in result.history} == {"pose", "shape"}


def test_missing_landmarks_are_ignored():
    _, truth = _truth(9)
    landmarks = truth["landmarks"].copy()
    landmarks[[3, 30, 50]] = np.nan
    result = fit(None, landmarks, MODEL)
    error = np.linalg.norm(result.landmarks - truth["landmarks"], axis=1)
    assert np.nanmean(error) < 1.5


def test_result_round_trips_x_and_params():
    _, truth = _truth(4)
    result = fit(truth["image"], truth["landmarks"], MODEL, max_iterations=3)
    np.testing.assert_array_equal(result.problem.layout.pack(result.params), result.x)
    assert result.energy == pytest.approx(result.problem.energy(result.x))
    vertices, triangles, colours = result.mesh()
    assert vertices.shape == (MODEL.n_vertices, 3) and colours.shape == (MODEL.n_vertices, 3)
    assert triangles.shape == MODEL.triangles.shape
    assert np.all((colours >= 0) & (colours <= 1))


@pytest.mark.parametrize("bad", [np.zeros((67, 2)), np.full((68, 2), np.nan)])
def test_bad_landmarks_raise(bad):
    _, truth = _truth()
    with pytest.raises(ff.LandmarkError):
        fit(truth["image"], bad, MODEL)


def test_landmarks_outside_the_image_raise():
    _, truth = _truth()
    with pytest.raises(ff.LandmarkError, match="outside"):
        fit(truth["image"], truth["landmarks"] + 1000, MODEL)


def test_unknown_jacobian_raises_before_any_work():
    _, truth = _truth()
    with pytest.raises(ff.FitError, match="valid choices"):
        fit(truth["image"], truth["landmarks"], MODEL, jacobian="secant")
