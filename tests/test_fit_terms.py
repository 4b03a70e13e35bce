"""The analytic Jacobian of every term agrees with complex step and autograd, on every backend."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import facefit as ff
from facefit.backends import to_numpy
from facefit.fit import FitProblem
from facefit.params import FaceParams
from facefit.render import render

from .conftest import assert_close, assert_strategies_agree
from .synthetic import make_model

MODEL = make_model(n=15)
SIZE = (72, 72)


def _scene(seed: int):
    rng = np.random.default_rng(seed)
    params = FaceParams.framing(MODEL, SIZE).for_model(MODEL)
    params.identity = rng.normal(size=MODEL.n_identity)
    params.expression = rng.normal(size=MODEL.n_expression) * 0.5
    params.albedo = rng.normal(size=MODEL.n_albedo)
    params.rotation = rng.uniform(-0.3, 0.3, 3)
    params.light = params.light * 0.8
    params.light[1:4] += rng.normal(size=(3, 3)) * 0.1
    rendered = render(MODEL, params, SIZE).to_numpy()
    # Texture the photo so that the image gradient is not zero inside the face.
    ys, xs = np.mgrid[: SIZE[0], : SIZE[1]]
    texture = 0.05 * np.sin(xs / 2.5)[..., None] * np.cos(ys / 3.5)[..., None]
    return params, rendered["image"] + texture, rendered["landmarks"] + rng.normal(size=(68, 2))


@settings(max_examples=6)
@given(seed=st.integers(0, 10_000))
def test_every_strategy_agrees_on_every_term(backend64, seed):
    params, image, landmarks = _scene(seed)
    problem = FitProblem(image, landmarks, MODEL)
    rng = np.random.default_rng(seed + 1)
    x = backend64.asarray(problem.layout.pack(params) + rng.normal(size=problem.layout.size) * 0.01)
    problem.freeze(x)
    assert float(problem.backend.xp.sum(problem.photometric_term.visible)) > 20
    for term in problem.terms:
        analytic = assert_strategies_agree(term, x, backend64, term.name)
        assert np.abs(analytic).max() > 0


def test_every_strategy_agrees_on_the_smoothed_photo(backend64):
    """Coarse-to-fine rounds compare with a blurred crop of the photo (PhotometricTerm.smooth):
    the analytic Jacobian must stay exact there, and smoothing 0 must restore the photo's
    residuals exactly."""
    params, image, landmarks = _scene(3)
    # In a larger photo, so that only a crop around the face is blurred.
    problem = FitProblem(np.pad(image, ((30, 30), (40, 40), (0, 0)), mode="reflect"),
                         landmarks + np.array([40.0, 30.0]), MODEL)
    params.translation = params.translation + np.array([40.0, 30.0])
    x = backend64.asarray(problem.layout.pack(params))
    problem.freeze(x)
    term = problem.photometric_term
    plain = to_numpy(term.residuals(x))
    term.smooth(2.0, x)
    assert term.origin != (0, 0) and not np.array_equal(to_numpy(term.residuals(x)), plain)
    assert_strategies_agree(term, x, backend64, "smoothed photometric")
    term.smooth(0.0)
    assert to_numpy(term.residuals(x)).tobytes() == plain.tobytes()


def test_reused_forward_pass_never_serves_a_different_point(backend64):
    """The photometric term reuses the forward pass of its last residuals for the Jacobian at
    the same point; any other point (or one changed in place, or a derivative-carrying one
    seen first) must give exactly what a fresh term gives."""
    params, image, landmarks = _scene(5)
    x_np = FitProblem(image, landmarks, MODEL).layout.pack(params)
    reference = FitProblem(image, landmarks, MODEL)
    reference.freeze(x_np)
    term_ref = reference.photometric_term

    def fresh(x):
        return to_numpy(term_ref.jacobian(backend64.asarray(to_numpy(x))))

    problem = FitProblem(image, landmarks, MODEL)
    problem.freeze(x_np)
    term = problem.photometric_term
    x = backend64.asarray(x_np)
    term.residuals(x)
    assert_close(to_numpy(term.jacobian(x)), fresh(x))  # the reused pass is the right one
    other = backend64.asarray(x_np + 0.01)
    assert_close(to_numpy(term.jacobian(other)), fresh(other))
    if backend64.name == "numpy":  # in-place change of the very same array
        mutable = np.array(x_np)
        term.residuals(mutable)
        mutable[3] += 0.05
        assert_close(to_numpy(term.jacobian(mutable)), fresh(mutable))
    for strategy in backend64.jacobian_strategies:  # complex / dual inputs are never kept
        backend64.jacobian(term.residuals, other, strategy)
        assert_close(to_numpy(term.jacobian(other)), fresh(other), err_msg=strategy)


def test_reduced_rows_leave_out_exactly_the_unseen_samples(backend64):
    """fit's solver works on the reduced rows (PhotometricTerm.reduced_residuals/jacobian):
    they must be the photometric rows the frozen visibility does not zero, the left-out rows
    must be zero, the energy and normal equations must not change, and every Jacobian
    strategy must agree on them."""
    params, image, landmarks = _scene(11)
    problem = FitProblem(image, landmarks, MODEL)
    x = backend64.asarray(problem.layout.pack(params))
    problem.freeze(x)
    term = problem.photometric_term
    seen = to_numpy(term.row_scale) > 0
    assert 20 < seen.sum() < seen.size  # some samples unseen: rows really are left out
    assert np.array_equal(to_numpy(term.seen), np.flatnonzero(seen))
    # The full residuals, independently of the reduced path: scale * (model - photo).
    model, observed, _ = term.colours(x)
    expected = to_numpy(term.row_scale)[:, None] * to_numpy(model - observed)
    full = to_numpy(term.residuals(x)).reshape(-1, 3)
    assert_close(full, expected, rtol=1e-14, scale=float(np.abs(expected).max()))
    assert not full[~seen].any()
    assert np.array_equal(to_numpy(term.reduced_residuals(x)).reshape(-1, 3), full[seen])
    jacobian = to_numpy(term.jacobian(x)).reshape(seen.size, 3, -1)
    assert not jacobian[~seen].any()
    reduced = to_numpy(problem.jacobian_matrix(x, reduced=True))
    whole = to_numpy(problem.jacobian_matrix(x))
    r_reduced = to_numpy(problem.residual_vector(x, reduced=True))
    r_whole = to_numpy(problem.residual_vector(x))
    assert reduced.shape == (r_reduced.shape[0], problem.layout.size)
    assert r_reduced.shape[0] == r_whole.shape[0] - 3 * int((~seen).sum())
    assert_close(r_reduced @ r_reduced, r_whole @ r_whole, rtol=1e-13)
    assert_close(reduced.T @ reduced, whole.T @ whole, rtol=1e-12,
                 scale=float(np.abs(whole.T @ whole).max()))
    assert_close(reduced.T @ r_reduced, whole.T @ r_whole, rtol=1e-12,
                 scale=float(np.abs(whole.T @ r_whole).max()))
    for strategy in backend64.jacobian_strategies:
        automatic = to_numpy(problem.jacobian_matrix(x, strategy, reduced=True))
        assert_close(automatic, reduced, rtol=1e-8, scale=float(np.abs(reduced).max()),
                     err_msg=f"reduced rows vs {strategy}")


def test_normal_equations_sum_the_terms(backend64):
    """fit's solver takes J^T J and J^T r term by term (FitProblem.normal_equations), the
    prior's rows straight onto the diagonal: the same as from the stacked Jacobian, for
    every strategy and with or without the unseen photometric rows."""
    params, image, landmarks = _scene(12)
    problem = FitProblem(image, landmarks, MODEL)
    x = backend64.asarray(problem.layout.pack(params))
    problem.freeze(x)
    for reduced in (False, True):
        r = problem.residual_vector(x, reduced=reduced)
        for strategy in ("analytic", *backend64.jacobian_strategies):
            jac = to_numpy(problem.jacobian_matrix(x, strategy, reduced=reduced))
            normal, gradient = problem.normal_equations(x, r, strategy, reduced=reduced)
            expected = jac.T @ jac
            assert_close(normal, expected, rtol=1e-8 if strategy != "analytic" else 1e-12,
                         scale=float(np.abs(expected).max()), err_msg=strategy)
            assert_close(gradient, jac.T @ to_numpy(r), rtol=1e-8,
                         scale=float(np.abs(jac.T @ to_numpy(r)).max()), err_msg=strategy)
    r = problem.residual_vector(x, reduced=True)
    jac = to_numpy(problem.jacobian_matrix(x, reduced=True))
    columns = np.array([0, 3, 5, problem.layout.size - 4, problem.layout.size - 1])
    normal, gradient = problem.normal_equations(x, r, reduced=True,
                                                columns=backend64.asarray(columns))
    sub = jac[:, columns]
    assert_close(normal, sub.T @ sub, rtol=1e-12, scale=float(np.abs(sub.T @ sub).max()))
    assert_close(gradient, sub.T @ to_numpy(r), rtol=1e-12,
                 scale=float(np.abs(sub.T @ to_numpy(r)).max()))
    with pytest.raises(ff.FitError, match="residuals"):
        problem.normal_equations(x, problem.residual_vector(x)[:-1])


def _per_channel_albedo_model():
    """MODEL with an albedo whose components each change one channel (two per channel) or
    all three (one), as facefit's albedo for shape-only models does."""
    basis = np.zeros((MODEL.n_vertices, 3, 7))
    for c in range(3):
        basis[:, c, 2 * c:2 * c + 2] = MODEL.albedo_basis[:, c, :2]
    basis[:, :, 6] = MODEL.albedo_basis[:, :, 2]
    return dataclasses.replace(MODEL, albedo_basis=basis)


def test_grouped_normal_equations_skip_only_structural_zeros(backend64):
    """The normal equations by row group (facefit.fit.grouped: the photometric term's colour
    channels, each over its own albedo components and light; the landmarks over shape and
    pose) equal the dense Jacobian's, on a model with per-channel albedo components, and the
    dense Jacobian from the groups still agrees with every automatic strategy."""
    model = _per_channel_albedo_model()
    params = FaceParams.framing(model, SIZE).for_model(model)
    params.albedo = np.random.default_rng(4).normal(size=7)
    params.rotation = np.array([0.1, -0.2, 0.05])
    rendered = render(model, params, SIZE).to_numpy()
    ys, xs = np.mgrid[: SIZE[0], : SIZE[1]]
    image = rendered["image"] + 0.05 * (np.sin(xs / 2.5) * np.cos(ys / 3.5))[..., None]
    problem = FitProblem(image, rendered["landmarks"] + 0.5, model)
    x = backend64.asarray(problem.layout.pack(params) + 0.01)
    problem.freeze(x)
    term = problem.photometric_term
    layout = problem.layout
    own = term.channel_columns.own  # each channel: its 2 albedo components, then its 9 lights
    assert own.shape == (3, 11)
    for c in range(3):
        assert list(own[c, :2]) == [layout.albedo.start + 2 * c, layout.albedo.start + 2 * c + 1]
        assert list(own[c, 2:]) == [layout.light.start + 3 * k + c for k in range(9)]
    for t in (term, problem.landmark_term):
        assert_strategies_agree(t, x, backend64, t.name)
    r = problem.residual_vector(x, reduced=True)
    jac = to_numpy(problem.jacobian_matrix(x, reduced=True))
    normal, gradient = problem.normal_equations(x, r, reduced=True)
    expected = jac.T @ jac
    assert_close(normal, expected, rtol=1e-12, scale=float(np.abs(expected).max()))
    assert_close(gradient, jac.T @ to_numpy(r), rtol=1e-12,
                 scale=float(np.abs(jac.T @ to_numpy(r)).max()))
    # The zeros skipped are zeros: other channels' albedo and light, the landmarks' colour.
    rows = jac[:136]  # the landmark rows come first
    assert not rows[:, layout.albedo.start:layout.light.stop].any()
    colour = to_numpy(term.reduced_jacobian(x)).reshape(-1, 3, layout.size)
    for c in range(3):
        others = np.setdiff1d(np.concatenate([own[d] for d in range(3)]), own[c])
        assert not colour[:, c, others].any() and np.abs(colour[:, c, own[c]]).max() > 0


def test_shading_gradient_is_the_light_times_the_basis_gradient(backend):
    from facefit.fit.terms.photometric import sh_basis_gradient, shading_gradient

    rng = np.random.default_rng(8)
    normals = rng.normal(size=(50, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    light = rng.normal(size=(9, 3))
    n, lt = backend.asarray(normals), backend.asarray(light)
    expected = light.T[None, ...] @ to_numpy(sh_basis_gradient(n))
    assert_close(shading_gradient(n, lt), expected, dtype=backend.dtype_name,
                 scale=float(np.abs(expected).max()), atol_scale=10)


def test_column_groups_name_each_parameter_at_most_once(backend64):
    from facefit.fit.columns import ColumnGroups

    with pytest.raises(ff.FitError, match="at most once"):
        ColumnGroups.of([0, 1, 2], [[3, 1]], 5, backend64)
    with pytest.raises(ff.FitError, match="at most once"):
        ColumnGroups.of([0, 1, 7], [[3]], 5, backend64)
    groups = ColumnGroups.of([4, 0], [[2], [1]], 5, backend64)  # parameter 3: no row uses it
    assert (groups.groups, groups.width) == (2, 3)
    assert list(to_numpy(groups.expand)[1]) == [1, 2, 3, 3, 0]


@given(groups=st.integers(1, 3), shared=st.integers(0, 4), own=st.integers(0, 3),
       rows=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_grouped_normal_equations_equal_the_dense_products(backend, groups, shared, own, rows,
                                                            seed):
    """GroupedJacobian.normal_equations (group by group, zero blocks between different groups'
    own columns) against J^T J and J^T r of its dense Jacobian, on every backend and dtype,
    with parameters in a shuffled order and some that no row depends on."""
    from facefit.fit.columns import ColumnGroups
    from facefit.fit.grouped import GroupedJacobian

    rng = np.random.default_rng(seed)
    size = shared + groups * own + 2
    ids = rng.permutation(size)
    columns = ColumnGroups.of(ids[:shared], ids[shared:shared + groups * own].reshape(groups, own),
                              size, backend)
    blocks = rng.uniform(-1, 1, size=(rows, groups, shared + own))
    r = rng.uniform(-1, 1, size=rows * groups)
    jacobian = GroupedJacobian(backend.asarray(blocks), columns)
    normal, gradient = jacobian.normal_equations(backend.asarray(r), threads=1)
    dense = to_numpy(jacobian.dense()).astype(np.float64)
    assert dense.shape == (rows * groups, size)
    scale = float(rows * groups)
    assert_close(normal, dense.T @ dense, dtype=backend.dtype_name, scale=scale)
    assert_close(gradient, dense.T @ r, dtype=backend.dtype_name, scale=scale)


def test_whole_problem_jacobian_by_name(backend64):
    params, image, landmarks = _scene(3)
    problem = FitProblem(image, landmarks, MODEL)
    x = problem.layout.pack(params)
    problem.freeze(x)
    analytic = to_numpy(problem.jacobian(x, "analytic"))
    assert analytic.shape == (to_numpy(problem.residuals(x)).shape[0], problem.layout.size)
    for strategy in backend64.jacobian_strategies:
        assert_close(problem.jacobian(x, strategy), analytic, rtol=1e-8,
                     scale=float(np.abs(analytic).max()))
    if "autograd" not in backend64.jacobian_strategies:
        with pytest.raises(Exception, match="autograd"):
            problem.jacobian(x, "autograd")


def test_float32_analytic_matches_float64(backend):
    params, image, landmarks = _scene(5)
    problem = FitProblem(image, landmarks, MODEL)
    x = problem.layout.pack(params)
    problem.freeze(x)
    reference = FitProblem(image, landmarks, MODEL, backend=_float64(backend))
    reference.freeze(x)
    expected = to_numpy(reference.jacobian_matrix(reference.backend.asarray(x)))
    got = to_numpy(problem.jacobian_matrix(problem.backend.asarray(x)))
    tol = 1e-9 if backend.dtype_name == "float64" else 2e-3
    np.testing.assert_allclose(got, expected, atol=tol * np.abs(expected).max())


def _float64(backend):
    import facefit as ff

    return ff.BackendSpec(backend.name, dtype="float64").resolve()


def test_unknown_strategy_names_the_valid_ones(backend64):
    _, image, landmarks = _scene(1)
    problem = FitProblem(image, landmarks, MODEL)
    valid = ", ".join(["analytic", *backend64.jacobian_strategies])
    with pytest.raises(ff.FitError, match=f"unknown; valid choices here: {valid}$"):
        problem.jacobian(problem.x0, "finite-difference")


class _UserTerm:
    """A term with no analytic Jacobian: the backend's automatic strategy must step in."""

    name = "user"

    def update(self, x):
        return None

    def residuals(self, x):
        return x[-3:] ** 2

    def jacobian(self, x):
        return None


def test_user_term_without_analytic_jacobian_falls_back(backend64):
    params, image, landmarks = _scene(2)
    problem = FitProblem(image, landmarks, MODEL)
    problem.terms.append(_UserTerm())
    x = backend64.asarray(problem.layout.pack(params))
    jac = to_numpy(problem.jacobian_matrix(x))
    expected = np.zeros((3, problem.layout.size))
    host = to_numpy(x)
    expected[np.arange(3), np.arange(problem.layout.size - 3, problem.layout.size)] = 2 * host[-3:]
    assert_close(jac[-3:], expected)


@settings(max_examples=5)
@given(seed=st.integers(0, 10_000))
def test_albedo_detail_solves_its_normal_equations(backend, seed):
    """Conjugate gradients reach the dense solution of the detail's normal equations."""
    from facefit.fit.detail import solve_detail
    from facefit.geometry import mesh_edges

    rng = np.random.default_rng(seed)
    n = MODEL.n_vertices
    weight = rng.uniform(0, 1, n) * (rng.uniform(size=n) > 0.2)
    shading = rng.uniform(0.3, 1.2, (n, 3))
    albedo = rng.uniform(0.2, 0.8, (n, 3))
    observed = rng.uniform(0, 1, (n, 3))
    edges = to_numpy(mesh_edges(backend.asarray(MODEL.triangles), n))
    assert len({tuple(e) for e in edges}) == len(edges) and (edges[:, 0] < edges[:, 1]).all()
    detail = solve_detail(*(backend.asarray(a) for a in (weight, shading, albedo, observed)),
                          backend.asarray(edges), smoothness=0.05, decay=1e-3,
                          iterations=500, tolerance=1e-12)
    laplacian = np.zeros((n, n))
    for a, b in edges:
        laplacian[a, a] += 1
        laplacian[b, b] += 1
        laplacian[a, b] -= 1
        laplacian[b, a] -= 1
    for c in range(3):
        matrix = np.diag(weight * shading[:, c] ** 2) + 0.05 * laplacian + 1e-3 * np.eye(n)
        rhs = weight * shading[:, c] * (observed[:, c] - shading[:, c] * albedo[:, c])
        expected = np.linalg.solve(matrix, rhs)
        tolerance = 1e-8 if backend.dtype_name == "float64" else 2e-3
        assert_close(to_numpy(detail)[:, c], expected, rtol=tolerance,
                     scale=float(np.abs(expected).max()))


def test_albedo_detail_recovers_colour_beyond_the_model(backend64):
    """A photo rendered with the model's albedo plus a bump of extra colour: at the true
    parameters the detail finds the bump where the photo sees the face."""
    from facefit.fit.detail import albedo_detail

    params, _, landmarks = _scene(4)
    problem = FitProblem(np.zeros((*SIZE, 3)), landmarks, MODEL)
    x = backend64.asarray(problem.layout.pack(params))
    xy = MODEL.mean_shape[:, :2]
    bump = 0.15 * np.exp(-np.sum((xy - xy.mean(axis=0)) ** 2, axis=1) / (2 * 25.0 ** 2))
    truth = np.stack([bump, -0.5 * bump, 0.2 * bump], axis=1)
    image = render(MODEL, params, SIZE, albedo_detail=truth).to_numpy()["image"]
    problem = FitProblem(image, landmarks, MODEL)
    detail = to_numpy(albedo_detail(problem, x, smoothness=1e-3, tolerance=1e-10,
                                     iterations=1000))
    state = render(MODEL, params, SIZE)
    points = to_numpy(state.points)
    inside = (points[:, 0] > 8) & (points[:, 0] < SIZE[1] - 8) & (points[:, 1] > 8) & (
        points[:, 1] < SIZE[0] - 8)
    centre = inside & (bump > 0.08)
    assert centre.sum() > 20
    assert_close(detail[centre], truth[centre], rtol=0.15, scale=0.15)
