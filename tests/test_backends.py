"""Backend selection, conversions, scatter operations and automatic Jacobians."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import facefit as ff
from facefit.backends import (
    available_backends,
    batched_matmul,
    cholesky_solve,
    convolve_axis,
    gathered_matmul,
    gram,
    is_plain_value,
    matmul_transposed,
    scatter_add,
    scatter_min,
    to_numpy,
)

from .conftest import assert_close, floats


def test_default_backend_is_numpy_float64(monkeypatch):
    for var in ("FACEFIT_BACKEND", "FACEFIT_DEVICE", "FACEFIT_DTYPE"):
        monkeypatch.delenv(var, raising=False)
    code = "import facefit as ff; b = ff.get_backend(); print(b.name, b.dtype_name, b.device)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if not k.startswith("FACEFIT")})
    assert out.stdout.split() == ["numpy", "float64", "cpu"]


@pytest.mark.skipif("torch" not in available_backends(), reason="torch not installed")
def test_environment_selects_torch_arrays():
    code = ("import facefit as ff\n"
            "from facefit.geometry import rotation_matrix\n"
            "b = ff.get_backend()\n"
            "r = rotation_matrix(b.asarray([0.1, 0.2, 0.3]))\n"
            "print(type(r).__module__, r.dtype)")
    env = {**os.environ, "FACEFIT_BACKEND": "torch", "FACEFIT_DTYPE": "float32"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    assert out.stdout.split() == ["torch", "torch.float32"]


def test_use_backend_is_a_context_manager_and_set_backend_a_setter():
    before = ff.get_backend()
    with ff.use_backend("numpy", dtype="float32") as inner:
        assert ff.get_backend() is inner
        assert inner.dtype_name == "float32"
        with ff.use_backend("array-api-strict"):
            assert ff.get_backend().name == "array-api-strict"
        assert ff.get_backend() is inner
    assert ff.get_backend() is before
    manager = ff.use_backend("numpy", dtype="float32")  # not entered: nothing changes
    assert ff.get_backend() is before
    with manager as entered:
        assert ff.get_backend() is entered
    assert ff.get_backend() is before
    with ff.use_backend(before):  # set_backend inside a block ends with the block
        chosen = ff.set_backend("numpy", dtype="float32")
        assert ff.get_backend() is chosen and chosen.dtype_name == "float32"
    assert ff.get_backend() is before


def test_a_plain_use_backend_call_warns_that_it_changed_nothing():
    """The API's old setter form, ``ff.use_backend("numpy")`` on its own, no longer sets the
    backend; dropped without a ``with`` it says so and names set_backend."""
    before = ff.get_backend()
    with pytest.warns(RuntimeWarning, match=r"set_backend\('array-api-strict'\)"):
        ff.use_backend("array-api-strict")
        gc.collect()  # (CPython drops it at once; other interpreters at a collection)
    assert ff.get_backend() is before
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ff.use_backend("array-api-strict"):
            pass
        gc.collect()


def test_use_backend_restores_the_previous_one_when_the_block_raises():
    before = ff.get_backend()
    with pytest.raises(ZeroDivisionError), ff.use_backend("array-api-strict"):
        _ = 1 / 0
    assert ff.get_backend() is before


def test_use_backend_accepts_a_backend_or_a_spec_and_overrides_its_dtype(backend):
    with ff.use_backend(backend) as same:
        assert same is backend
    with ff.use_backend(backend.spec, dtype="float32") as other:
        assert (other.name, other.device, other.dtype_name) == (
            backend.name, backend.device, "float32")


def test_backend_spec_pickles_and_resolves_to_the_same_backend(backend):
    import pickle

    spec = backend.spec
    assert isinstance(spec, ff.BackendSpec)
    assert (spec.name, spec.dtype) == (backend.name, backend.dtype_name)
    again = pickle.loads(pickle.dumps(spec))
    assert again == spec and hash(again) == hash(spec)
    assert again.resolve() is backend
    assert ff.BackendSpec(backend.name, dtype=backend.dtype_name).resolve() is backend


def test_backend_spec_with_a_bad_field_raises_backend_error_on_resolve():
    spec = ff.BackendSpec("numpy", dtype="float16")  # made anywhere, checked where used
    with pytest.raises(ff.BackendError, match="float16"):
        spec.resolve()
    with pytest.raises(ff.BackendError, match="unknown backend 'bogus'"):
        ff.BackendSpec("bogus").resolve()


def test_backend_of_gives_library_device_and_dtype_of_the_arrays(backend):
    values = backend.asarray([1.0, 2.0])
    index = backend.asarray([0, 1])
    found = ff.backend_of(values, index, None, 2.0)
    assert found is backend
    assert ff.backend_of(values + 1j * values) is backend  # complex: the matching real dtype
    with ff.use_backend("numpy"):  # the active backend does not decide
        assert ff.backend_of(values) is backend


def test_backend_of_mixed_precisions_is_the_wider_one(backend):
    narrow = backend.asarray([1.0], dtype=backend.xp.float32)
    wide = backend.asarray([1.0], dtype=backend.xp.float64)
    assert ff.backend_of(narrow).dtype_name == "float32"
    assert ff.backend_of(narrow, wide).dtype_name == "float64"


def test_backend_of_integers_alone_takes_the_active_dtype(backend):
    assert ff.backend_of(backend.asarray([1, 2])) is backend


@pytest.mark.parametrize(("arrays", "match"), [
    ((), "no arrays"),
    ((None, 3.0), "no arrays"),
    (([1.0, 2.0],), "backend_of"),
])
def test_backend_of_refuses_what_is_not_one_backends_arrays(arrays, match):
    with pytest.raises(ff.BackendError, match=match):
        ff.backend_of(*arrays)


def test_backend_of_refuses_arrays_of_two_libraries():
    with ff.use_backend("array-api-strict") as strict:
        mixed = (np.zeros(2), strict.asarray([1.0]))
    with pytest.raises(ff.BackendError, match="backend_of"):
        ff.backend_of(*mixed)


def test_backend_of_refuses_arrays_on_two_devices():
    import array_api_strict as strict

    one = strict.asarray([1.0])
    other = strict.asarray([1.0], device=strict.Device("device1"))
    with pytest.raises(ff.BackendError, match="several devices"):
        ff.backend_of(one, other)
    assert ff.backend_of(other).device == strict.Device("device1")
    assert ff.backend_of(other).spec.device == "device1"


def test_every_library_in_the_table_is_recognised_by_its_arrays_and_namespace(backend):
    from facefit.backends import LIBRARIES, array_library, fast_paths

    entry = backend.library
    assert entry in LIBRARIES and array_library(entry.name) is entry
    for alias in entry.aliases:
        assert array_library(alias.upper()) is entry
    array = backend.asarray([1.0])
    assert [e.name for e in LIBRARIES if e.owns_array(array)] == [entry.name]
    assert [e.name for e in LIBRARIES if e.owns_namespace(backend.xp)] == [entry.name]
    assert entry.is_available() and backend.name in ff.available_backends()
    assert entry.devices()[0] in ("cpu", "cuda:0") or entry.devices()[0].startswith("cuda")
    assert fast_paths(backend.xp) is entry.fast_paths
    assert backend.dtype_name in entry.dtypes
    assert entry.device(entry.device_key(backend.device)) == backend.device


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"name": "bogus"}, "unknown backend 'bogus'; valid choices: numpy, torch, cupy"),
    ({"name": "numpy", "dtype": "float16"}, "unknown dtype 'float16'; valid choices"),
    ({"name": "numpy", "device": "cuda:0"}, "device 'cuda:0' is not available on the numpy"),
])
def test_bad_selection_raises_backend_error(kwargs, match):
    with pytest.raises(ff.BackendError, match=match):
        ff.use_backend(**kwargs)


def test_cupy_without_gpu_is_a_clear_error():
    if "cupy" in available_backends():
        pytest.skip("a GPU is present")
    with pytest.raises(ff.BackendError, match="cupy"):
        ff.use_backend("cupy")


def test_bad_environment_is_reported_at_first_use():
    env = {**os.environ, "FACEFIT_BACKEND": "bogus"}
    code = "import facefit as ff\ntry:\n ff.get_backend()\nexcept ff.BackendError as e: print(e)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    assert "FACEFIT_BACKEND='bogus'" in out.stdout and "valid choices" in out.stdout


def test_asarray_round_trip_keeps_kinds(backend):
    floats = backend.asarray(np.array([[0.1, 0.2]], dtype=np.float64))
    assert floats.dtype == backend.dtype
    assert floats.device == backend.device
    assert backend.asarray([1, 2]).dtype == backend.xp.int64
    assert backend.asarray([True]).dtype == backend.xp.bool
    assert backend.asarray([0.5 + 1j]).dtype == backend.complex_dtype
    assert_close(to_numpy(floats), [[0.1, 0.2]], dtype=backend.dtype_name)
    assert isinstance(backend.to_numpy(floats), np.ndarray)
    # an array of another backend converts too
    with ff.use_backend("numpy") as other:
        foreign = other.asarray([3.0])
    assert_close(backend.asarray(foreign), [3.0], dtype=backend.dtype_name)


index_and_values = st.integers(0, 40).flatmap(lambda n: st.tuples(
    hnp.arrays(np.int64, n, elements=st.integers(0, 6)),
    hnp.arrays(np.float64, (n, 2), elements=floats(-1e3, 1e3)),
))


@given(data=index_and_values)
def test_scatter_ops_match_numpy_reference(backend, data):
    index, values = data
    size = 7
    expected_add = np.zeros((size, 2))
    np.add.at(expected_add, index, values)
    expected_min = np.full(size, np.inf)
    np.minimum.at(expected_min, index, values[:, 0])
    idx = backend.asarray(index)
    val = backend.asarray(values)
    total = to_numpy(scatter_add(idx, val, size))
    assert total.shape == (size, 2)
    assert_close(total, expected_add, dtype=backend.dtype_name, rtol=1e-12 if
                 backend.dtype_name == "float64" else 1e-5)
    smallest = to_numpy(scatter_min(idx, val[:, 0], size))
    finite = np.isfinite(expected_min)
    assert np.array_equal(np.isfinite(smallest), finite)
    assert_close(smallest[finite], expected_min[finite].astype(backend.dtype_name),
                 dtype=backend.dtype_name)


@given(data=index_and_values)
def test_scatter_min_on_integers_and_scatter_add_on_complex(backend, data):
    index, values = data
    size = 7
    ints = np.round(values[:, 0]).astype(np.int64)
    expected = np.full(size, np.iinfo(np.int64).max)
    np.minimum.at(expected, index, ints)
    got = to_numpy(scatter_min(backend.asarray(index), backend.asarray(ints), size))
    assert np.array_equal(got, expected)
    cplx = values[:, 0] + 1j * values[:, 1]
    expected_c = np.zeros(size, dtype=complex)
    np.add.at(expected_c, index, cplx)
    got_c = to_numpy(scatter_add(backend.asarray(index), backend.asarray(cplx), size))
    assert_close(got_c.real, expected_c.real, dtype=backend.dtype_name)
    assert_close(got_c.imag, expected_c.imag, dtype=backend.dtype_name)


def _test_function(xp):
    def fun(x):
        return xp.stack([xp.sin(x[0]) * x[1], x[0] ** 2 + xp.exp(x[2]), x[1] * x[2] / (1.0 + x[0])])
    return fun


def _expected_jacobian(x):
    return np.array([
        [np.cos(x[0]) * x[1], np.sin(x[0]), 0.0],
        [2 * x[0], 0.0, np.exp(x[2])],
        [-x[1] * x[2] / (1 + x[0]) ** 2, x[2] / (1 + x[0]), x[1] / (1 + x[0])],
    ])


@given(x=hnp.arrays(np.float64, 3, elements=st.floats(0.0, 2.0)))
def test_automatic_jacobians_are_exact(backend, x):
    expected = _expected_jacobian(x)
    point = backend.asarray(x)
    for strategy in backend.jacobian_strategies:
        jac = backend.jacobian(_test_function(backend.xp), point, strategy)
        assert jac.shape == (3, 3)
        assert_close(jac, expected, dtype=backend.dtype_name,
                     err_msg=f"{backend.name} {strategy}")


def test_batched_complex_step_matches_column_loop(backend64):
    xp = backend64.xp

    def fun(x):  # works on (n,) and on (b, n)
        return xp.stack([xp.sin(x[..., 0]) * x[..., 1], x[..., 1] * x[..., 2]], axis=-1)

    point = backend64.asarray([0.3, -1.2, 2.0])
    looped = backend64.jacobian(fun, point, "complex-step")
    batched = backend64.jacobian(fun, point, "complex-step", batched=True)
    assert_close(batched, looped)


def test_a_strategy_the_backend_lacks_is_a_backend_error(backend64):
    """Users' choices are checked (with the valid ones listed) by fit.inputs.check_jacobian;
    the backend itself only refuses what it cannot do."""
    with pytest.raises(ff.BackendError, match="no Jacobian strategy 'finite-difference'"):
        backend64.jacobian(lambda x: x, backend64.asarray([1.0]), "finite-difference")
    if backend64.name != "torch":
        with pytest.raises(ff.BackendError, match="no Jacobian strategy 'autograd'"):
            backend64.jacobian(lambda x: x, backend64.asarray([1.0]), "autograd")


@given(matrix=hnp.arrays(np.float64, (4, 4), elements=floats(-2, 2)),
       rhs=hnp.arrays(np.float64, 4, elements=floats(-2, 2)))
def test_cholesky_solve_matches_numpy(backend, matrix, rhs):
    spd = matrix @ matrix.T + 4 * np.eye(4)
    got = cholesky_solve(backend.asarray(spd), backend.asarray(rhs))
    assert_close(got, np.linalg.solve(spd, rhs), dtype=backend.dtype_name, scale=float(
        np.abs(np.linalg.solve(spd, rhs)).max() + np.abs(rhs).max()), atol_scale=10)


def test_cholesky_solve_flags_indefinite_matrices_with_nan(backend):
    got = to_numpy(cholesky_solve(backend.asarray(-np.eye(3)), backend.asarray([1.0, 2, 3])))
    assert np.all(np.isnan(got))


@given(matrix=hnp.arrays(np.float64, (7, 5), elements=floats(-2, 2)),
       weights=hnp.arrays(np.float64, (3, 5), elements=floats(-2, 2)),
       batched=st.booleans())
def test_matmul_transposed_matches_numpy(backend, matrix, weights, batched):
    weights = weights if batched else weights[0]
    got = matmul_transposed(backend.asarray(weights), backend.asarray(matrix))
    expected = weights @ matrix.T
    assert tuple(got.shape) == expected.shape
    assert_close(got, expected, dtype=backend.dtype_name,
                 scale=float(np.abs(weights).max() * np.abs(matrix).max() * 5 + 1e-30))


@pytest.mark.parametrize("batched", [False, True])
def test_matmul_transposed_carries_a_complex_step(backend64, batched):
    """Complex weights on a real matrix (the complex-step path) give both parts exactly."""
    rng = np.random.default_rng(3)
    matrix, real, imag = rng.normal(size=(40, 6)), rng.normal(size=(2, 6)), rng.normal(size=(2, 6))
    if not batched:
        real, imag = real[0], imag[0]
    weights = backend64.asarray(real) + 1e-20j * backend64.asarray(imag)
    got = matmul_transposed(weights, backend64.asarray(matrix))
    assert backend64.xp.isdtype(got.dtype, "complex floating")
    got = to_numpy(got)
    assert_close(got.real, real @ matrix.T)
    assert_close(got.imag / 1e-20, imag @ matrix.T)


@given(shape=st.tuples(st.integers(0, 6), st.integers(1, 4), st.integers(0, 7),
                      st.integers(1, 9)),
       seed=st.integers(0, 2**16))
def test_batched_matmul_matches_numpy(backend, shape, seed):
    count, rows, inner, columns = shape
    rng = np.random.default_rng(seed)
    a = rng.uniform(-2, 2, size=(count, rows, inner))
    b = rng.uniform(-2, 2, size=(count, inner, columns))
    got = batched_matmul(backend.asarray(a), backend.asarray(b))
    assert tuple(got.shape) == (count, rows, columns)
    assert_close(got, a @ b, dtype=backend.dtype_name, scale=4.0 * max(inner, 1))


@given(shape=st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(0, 3)),
       radius=st.integers(0, 5), axis=st.integers(0, 1), seed=st.integers(0, 2**16))
def test_convolve_axis_replicates_the_edges(backend, shape, radius, axis, seed):
    """A 1-D convolution along axis 0 or 1 of an (H, W) or (H, W, C) image, against explicit
    sums over an edge-padded copy; kernels longer than the image read its edge pixel again."""
    rows, columns, channels = shape
    rng = np.random.default_rng(seed)
    image = rng.uniform(0, 1, size=(rows, columns, channels) if channels else (rows, columns))
    weights = list(rng.uniform(0.1, 1.0, size=2 * radius + 1))
    got = convolve_axis(backend.asarray(image), weights, axis)
    pad = [(0, 0)] * image.ndim
    pad[axis] = (radius, radius)
    padded = np.pad(image, pad, mode="edge")
    size = image.shape[axis]
    expected = sum(w * np.take(padded, np.arange(k, k + size), axis=axis)
                   for k, w in enumerate(weights))
    assert tuple(got.shape) == image.shape
    assert_close(got, expected, dtype=backend.dtype_name, scale=float(sum(weights)))


def test_convolve_axis_native_loop_is_bit_identical():
    """NumPy's native loop (_native/batched.c) makes the standard loop's every product and sum
    in the same order: the photometric term's blurred photo is the same bits either way."""
    from facefit.backends import _generic

    rng = np.random.default_rng(5)
    for dtype in (np.float64, np.float32):
        for shape in ((61, 47, 3), (12, 30), (9, 8, 2, 2)):
            image = rng.uniform(0, 1, size=shape).astype(dtype)
            weights = list(rng.uniform(0.01, 0.3, size=13))
            for axis in (0, 1):
                got = convolve_axis(image, weights, axis)
                expected = _generic.convolve_axis(image, weights, axis, np)
                assert got.dtype == expected.dtype == dtype
                assert got.tobytes() == expected.tobytes()


def test_gathered_matmul_equals_batched_matmul_on_the_gathered_stack(backend):
    """The native loop reads the gathered rows in place, in the same order of sums: the same
    bits as the batched product of the copy; complex input (a complex step) takes the copy."""
    rng = np.random.default_rng(7)
    for rows in (2, 4):  # the native loop's general path (three rows: below)
        a, b = rng.normal(size=(40, rows, 5 * 3)), rng.normal(size=(25, 3, 17))
        a[:20, :, 9:] = -0.0
        index = rng.integers(0, 25, size=(40, 5))
        got = to_numpy(gathered_matmul(backend.asarray(a), backend.asarray(index),
                                       backend.asarray(b)))
        expected = to_numpy(batched_matmul(backend.asarray(a),
                                           backend.asarray(b[index].reshape(40, 15, 17))))
        assert got.tobytes() == expected.tobytes()
    a, b = rng.normal(size=(40, 3, 5 * 3)), rng.normal(size=(25, 3, 17))
    # Padding slots (zero weights, as the photometric rings have; +0 and -0) are skipped by
    # the native loop: still the same bits.
    a[:20, :, 9:] = 0.0
    a[20:30, :, 12:] = -0.0
    a[30:, 1, 3:6] = 0.0
    index = rng.integers(0, 25, size=(40, 5))
    stack = b[index].reshape(40, 15, 17)
    got = to_numpy(gathered_matmul(backend.asarray(a), backend.asarray(index), backend.asarray(b)))
    expected = to_numpy(batched_matmul(backend.asarray(a), backend.asarray(stack)))
    assert got.tobytes() == expected.tobytes()
    xa = backend.asarray(a)
    step = gathered_matmul(xa + 1e-20j * xa, backend.asarray(index), backend.asarray(b))
    assert_close(to_numpy(step).imag / 1e-20, a @ stack, dtype=backend.dtype_name, scale=15.0)


def test_gathered_matmul_into_a_column_block(backend):
    """With ``out``, the product lands in its columns ``column ..`` (in place on the native
    path, by assignment elsewhere) with the same bits, and nothing else of ``out`` changes."""
    rng = np.random.default_rng(8)
    for rows in (3, 2):
        a, b = rng.normal(size=(40, rows, 5 * 3)), rng.normal(size=(25, 3, 17))
        a[:10, :, 6:] = 0.0
        index = rng.integers(0, 25, size=(40, 5))
        plain = to_numpy(gathered_matmul(backend.asarray(a), backend.asarray(index),
                                         backend.asarray(b)))
        out = backend.asarray(rng.normal(size=(40, rows, 30)))
        fill = to_numpy(out).copy()
        got = gathered_matmul(backend.asarray(a), backend.asarray(index), backend.asarray(b),
                              out=out, column=6)
        host = to_numpy(got)
        assert host[:, :, 6:23].tobytes() == plain.tobytes()
        assert np.array_equal(host[:, :, :6], fill[:, :, :6])
        assert np.array_equal(host[:, :, 23:], fill[:, :, 23:])


def test_batched_matmul_uses_the_native_loop_where_built(backend):
    """numpy and plain torch CPU tensors run the C loop (when built); it must agree with ``@``
    on non-contiguous input too, and complex input (a complex step) takes ``@``."""
    from facefit.backends import _numpy

    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(50, 3, 30)), rng.normal(size=(50, 153, 30))
    xa, xb = backend.asarray(a), backend.xp.matrix_transpose(backend.asarray(b))
    expected = a @ np.swapaxes(b, 1, 2)
    assert_close(batched_matmul(xa, xb), expected, dtype=backend.dtype_name, scale=30.0)
    step = batched_matmul(xa + 1e-20j * xa, xb)
    assert backend.xp.isdtype(step.dtype, "complex floating")
    assert_close(to_numpy(step).imag / 1e-20, expected, dtype=backend.dtype_name, scale=30.0)
    if (backend.name in ("numpy", "torch") and str(backend.device) == "cpu"
            and _numpy._batched is not None):
        calls = []
        original = _numpy._batched.matmul

        class Spy:
            def matmul(self, *args):
                calls.append(args[3:])
                return original(*args)

        _numpy._batched, kept = Spy(), _numpy._batched
        try:
            batched_matmul(xa, xb)
        finally:
            _numpy._batched = kept
        assert calls == [(50, 3, 30, 153)]


@pytest.mark.skipif("torch" not in available_backends(), reason="torch not installed")
def test_batched_matmul_keeps_torch_derivatives():
    import torch

    a = torch.randn(4, 3, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(batched_matmul, (a, b))
    jac = torch.func.jacfwd(lambda v: batched_matmul(v, b.detach()))(a.detach())
    assert torch.allclose(jac, torch.func.jacfwd(lambda v: v @ b.detach())(a.detach()))


@given(matrix=hnp.arrays(np.float64, (9, 4), elements=floats(-2, 2)),
       threads=st.sampled_from([None, 1, 2]))
def test_gram_matches_numpy_and_restores_the_blas_pool(backend, matrix, threads):
    from threadpoolctl import threadpool_info

    before = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    got = gram(backend.asarray(matrix), threads)
    after = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert after == before
    assert_close(got, matrix.T @ matrix, dtype=backend.dtype_name, scale=4.0 * 9)


def test_gram_gives_the_same_bits_on_any_number_of_threads():
    """fit(blas_threads=N) promises the same result for any N: the normal matrix of a fit's
    size (where OpenBLAS does split the work) must not depend on the thread count."""
    matrix = np.random.default_rng(1).normal(size=(3556, 246))
    products = [gram(matrix, threads).tobytes() for threads in (1, 2, 4)]
    assert products[0] == products[1] == products[2]


def test_is_plain_value_tells_real_values_from_derivative_carriers(backend):
    x = backend.asarray([0.5, -1.0])
    assert is_plain_value(x)
    assert not is_plain_value(x + 1e-20j * x)  # a complex step
    if backend.name == "torch":
        import torch

        assert not is_plain_value(torch.ones(2, requires_grad=True))
        seen = []
        torch.func.jacfwd(lambda v: seen.append(is_plain_value(v)) or v)(x)
        assert seen == [False]
        with torch.autograd.forward_ad.dual_level():
            assert not is_plain_value(torch.autograd.forward_ad.make_dual(x, x))


@pytest.mark.skipif("torch" not in available_backends(), reason="torch not installed")
@pytest.mark.parametrize("chunk", [8, 2**19])
def test_matmul_transposed_keeps_torch_derivatives(monkeypatch, chunk):
    """Torch's fast path sums blocks of rows (small blocks here: 15 of them) under autograd."""
    import torch

    from facefit.backends import _torch

    monkeypatch.setattr(_torch, "_CHUNK_ELEMENTS", chunk)
    matrix = torch.randn(30, 4, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert torch.allclose(matmul_transposed(weights, matrix), weights @ matrix.T)
    assert torch.autograd.gradcheck(matmul_transposed, (weights, matrix))
    jac = torch.func.jacfwd(lambda w: matmul_transposed(w, matrix.detach()))(weights.detach())
    assert torch.allclose(jac, matrix.detach())


def test_blas_threads_caps_numpy_blas_and_torch_threads(backend64):
    from threadpoolctl import threadpool_info

    before = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    with backend64.blas_threads(1):
        inside = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    after = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert after == before
    if backend64.name == "numpy":
        assert inside and all(n == 1 for n in inside)
    else:
        assert inside == before
    with backend64.blas_threads(None):
        pass
    count = backend64.blas_thread_count()
    if backend64.name == "numpy":
        assert count == max(before)
        with backend64.blas_threads(1):
            assert backend64.blas_thread_count() == 1
    elif backend64.name == "torch":
        # torch's own CPU threads (OpenMP workers that spin like OpenBLAS'): capped inside.
        import torch

        assert count == torch.get_num_threads()
        with backend64.blas_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == count
    else:
        assert count is None


def test_numpy_cholesky_solve_does_not_depend_on_the_blas_thread_setting():
    """OpenBLAS' threaded dpotrf rounds differently from its one-thread path; the solve must
    give the same bytes whatever limit the caller (or an earlier fit) left on the pools."""
    import scipy.linalg  # noqa: F401  (loaded first, so that the limits below reach it)
    from threadpoolctl import threadpool_limits

    from facefit.backends import cholesky_solve

    rng = np.random.default_rng(0)
    jac = rng.normal(size=(3000, 240))
    matrix, rhs = jac.T @ jac, rng.normal(size=240)
    solutions = []
    for threads in (1, 2, None):
        with threadpool_limits(limits=threads, user_api="blas"):
            solutions.append(cholesky_solve(matrix, rhs))
    assert all(s.tobytes() == solutions[0].tobytes() for s in solutions)
