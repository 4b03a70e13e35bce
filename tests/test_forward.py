"""The one forward model (facefit.forward.evaluate) on every backend and dtype: its subsets,
batches and normals agree with the whole-mesh evaluation, and its consumers share it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import facefit as ff
from facefit.backends import to_numpy
from facefit.camera import weak_perspective
from facefit.fit.topology import sample_vertex_set
from facefit.forward import Coefficients, Pose, VertexSet, evaluate
from facefit.geometry import vertex_normals
from facefit.lighting import sh_shading
from facefit.params import FaceParams

from .conftest import assert_close
from .synthetic import make_model

_SYNTHETIC = make_model(n=13)
MODEL = ff.MorphableModel(
    "synthetic", _SYNTHETIC.mean_shape, _SYNTHETIC.identity_basis,
    np.linspace(0.5, 1.5, _SYNTHETIC.n_identity), _SYNTHETIC.expression_basis,
    np.linspace(0.8, 1.2, _SYNTHETIC.n_expression), _SYNTHETIC.albedo_mean,
    _SYNTHETIC.albedo_basis, np.linspace(0.7, 1.1, _SYNTHETIC.n_albedo), _SYNTHETIC.triangles,
    _SYNTHETIC.landmark_indices, _SYNTHETIC.jaw_candidates)


def _face(seed: int) -> FaceParams:
    rng = np.random.default_rng(seed)
    params = FaceParams.framing(MODEL, (64, 64)).for_model(MODEL)
    params.identity = rng.normal(size=MODEL.n_identity)
    params.expression = rng.normal(size=MODEL.n_expression)
    params.albedo = rng.normal(size=MODEL.n_albedo)
    params.rotation = rng.uniform(-0.5, 0.5, 3)
    params.light = params.light + rng.normal(size=(9, 3)) * 0.1
    return params


def _evaluate(backend, params_list):
    return evaluate(MODEL.arrays(backend), Coefficients.of_params(params_list, MODEL, backend),
                    Pose.of_params(params_list, backend))


@settings(max_examples=8)
@given(seed=st.integers(0, 10_000))
def test_whole_face_matches_its_definition(backend, seed):
    """vertices = mean + bases @ coefficients; points by the weak-perspective camera; colours =
    albedo times SH shading of the camera-space normals, all in float64 NumPy for reference."""
    params = _face(seed)
    state = _evaluate(backend, [params])
    mean = MODEL.mean_shape
    shape = (mean + MODEL.identity_basis @ (MODEL.identity_std * params.identity)
             + MODEL.expression_basis @ (MODEL.expression_std * params.expression))
    dtype = backend.dtype_name
    assert_close(to_numpy(state.vertices)[0], shape, dtype=dtype)
    points, depth = weak_perspective(*(np.asarray(v, dtype=np.float64) for v in (
        shape, params.rotation, params.scale, params.translation)))
    assert_close(to_numpy(state.points)[0], points, dtype=dtype, scale=float(np.abs(points).max()))
    assert_close(to_numpy(state.depth)[0], depth, dtype=dtype, scale=float(np.abs(points).max()))
    albedo = MODEL.albedo_mean + MODEL.albedo_basis @ (MODEL.albedo_std * params.albedo)
    normals = vertex_normals(np.asarray(to_numpy(state.rotated)[0], np.float64),
                             MODEL.triangles)
    colours = albedo * sh_shading(normals, params.light)
    assert_close(to_numpy(state.colours)[0], colours, dtype=dtype, rtol=1e-9 if dtype == "float64"
                 else 5e-4, scale=float(np.abs(colours).max()))


def test_a_batch_is_its_faces_stacked(backend):
    faces = [_face(1), _face(2), _face(3)]
    batch = _evaluate(backend, faces)
    for k, params in enumerate(faces):
        single = _evaluate(backend, [params])
        for name in ("vertices", "points", "depth", "normals", "colours"):
            assert_close(to_numpy(getattr(batch, name))[k], to_numpy(getattr(single, name))[0],
                         dtype=backend.dtype_name, err_msg=name)


def test_a_vertex_subset_is_the_whole_face_at_those_vertices(backend):
    params = _face(4)
    arrays = MODEL.arrays(backend)
    coefficients = Coefficients.of_params([params], MODEL, backend)
    single = Coefficients(coefficients.shape[0, ...], coefficients.albedo[0, ...],
                          coefficients.light[0, ...])
    pose = Pose(backend.asarray(params.rotation), backend.asarray(params.scale),
                backend.asarray(params.translation))
    whole = evaluate(arrays, single, pose)
    ids = backend.asarray(np.array([0, 7, 50, 100, MODEL.n_vertices - 1]))
    part = evaluate(arrays, single, pose, ids)
    for name in ("vertices", "points", "depth", "albedo"):
        assert_close(getattr(part, name), to_numpy(getattr(whole, name))[to_numpy(ids)],
                     dtype=backend.dtype_name, err_msg=name)
    # The photometric term's subset: samples and their one-rings, normals from the rings.
    samples = backend.asarray(np.arange(20, MODEL.n_vertices - 20, 7))
    rings = evaluate(sample_vertex_set(arrays, samples, backend), single, pose)
    for name in ("vertices", "points", "normals", "shading", "colours"):
        assert_close(getattr(rings, name), to_numpy(getattr(whole, name))[to_numpy(samples)],
                     dtype=backend.dtype_name, err_msg=name)


def test_complex_step_through_evaluate_gives_the_derivative(backend64):
    """Complex coefficients give complex states whose imaginary part is the derivative."""
    backend = backend64
    params = _face(5)
    arrays = MODEL.arrays(backend)
    coefficients = Coefficients.of_params([params], MODEL, backend)
    pose = Pose.of_params([params], backend)
    h = 1e-20
    direction = np.zeros(MODEL.n_identity + MODEL.n_expression)
    direction[2] = 1.0
    stepped = coefficients.shape + backend.asarray(1j * h * direction)
    state = evaluate(arrays, Coefficients(stepped, coefficients.albedo, coefficients.light),
                     pose)
    derivative = to_numpy(state.colours)[0].imag / h
    eps = 1e-6
    plus = evaluate(arrays, Coefficients(coefficients.shape + backend.asarray(eps * direction),
                                         coefficients.albedo, coefficients.light), pose)
    minus = evaluate(arrays, Coefficients(coefficients.shape - backend.asarray(eps * direction),
                                          coefficients.albedo, coefficients.light), pose)
    central = (to_numpy(plus.colours)[0] - to_numpy(minus.colours)[0]) / (2 * eps)
    assert np.abs(derivative).max() > 0
    assert_close(derivative, central, rtol=1e-6)


def test_only_what_is_read_is_computed(backend):
    """Lazy: a geometry-only state needs no albedo or light; asking for colour then says so."""
    params = _face(6)
    coefficients = Coefficients.of_params([params], MODEL, backend)
    state = evaluate(MODEL, Coefficients(coefficients.shape), Pose.of_params([params], backend),
                     backend=backend)
    assert state.points.shape == (1, MODEL.n_vertices, 2)
    assert "normals" not in vars(state)
    with pytest.raises(ff.ModelError, match="albedo"):
        _ = state.albedo
    model_space = evaluate(MODEL, Coefficients(coefficients.shape), backend=backend)
    assert_close(model_space.vertices, state.vertices, dtype=backend.dtype_name)
    with pytest.raises(ff.ModelError, match="pose"):
        _ = model_space.points


def test_whole_vertex_set_is_built_once_per_model_and_backend(backend):
    arrays = MODEL.arrays(backend)
    assert VertexSet.whole(arrays) is VertexSet.whole(arrays)


def test_shape_and_albedo_of_the_model_come_from_evaluate(backend):
    params = _face(7)
    state = _evaluate(backend, [params])
    assert_close(MODEL.shape(params.identity, params.expression), to_numpy(state.vertices)[0],
                 dtype=backend.dtype_name)
    assert_close(MODEL.albedo_linear(params.albedo), to_numpy(state.albedo)[0],
                 dtype=backend.dtype_name)
    assert_close(ff.render(MODEL, params, (64, 64)).points, to_numpy(state.points)[0],
                 dtype=backend.dtype_name)


def test_the_backend_comes_from_the_inputs(backend):
    """With NumPy active, coefficients of another library are evaluated on that library; host
    values (NumPy, lists) go to the active backend."""
    from facefit.backends import backend_of

    params = _face(8)
    coefficients = Coefficients.of_params([params], MODEL, backend)
    pose = Pose.of_params([params], backend)
    with ff.use_backend("numpy"):
        state = evaluate(MODEL, coefficients, pose)  # no backend= given
        assert backend_of(state.points) == backend
        shape = MODEL.shape(backend.asarray(params.identity), backend.asarray(params.expression))
        assert backend_of(shape).name == backend.name
        assert backend_of(MODEL.shape(list(params.identity))).name == "numpy"
    assert_close(shape, to_numpy(state.vertices)[0], dtype=backend.dtype_name)
