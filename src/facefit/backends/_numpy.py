"""NumPy: the default backend, and its fast paths (C kernels, BLAS thread control)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import sys
from typing import Any, ClassVar

import numpy as np

from ..errors import BackendError
from ._generic import _fill_value
from ._library import ArrayLibrary, CompatLibrary, FastPaths

try:  # the optional C extensions built by setup.py
    from . import _raster  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - no compiler at install time
    _raster = None
try:
    from . import _batched  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - no compiler at install time
    _batched = None

_blas_pools: Any = None  # threadpoolctl controller, created on first use (it scans the libraries)


def blas_pools() -> Any:
    """A cached :class:`threadpoolctl.ThreadpoolController` (switching limits costs ~10 us)."""
    global _blas_pools
    if _blas_pools is None:
        from threadpoolctl import ThreadpoolController

        _blas_pools = ThreadpoolController()
    return _blas_pools


_lapack_pools: Any = None  # the same for SciPy's LAPACK (see cholesky_solve)


def lapack_pools() -> Any:
    """A cached :class:`threadpoolctl.ThreadpoolController` made after SciPy's LAPACK loaded.

    SciPy's LAPACK is its own OpenBLAS, loaded when ``scipy.linalg`` is first imported; a
    controller (or a ``threadpool_limits`` context) made before that never sees it.
    """
    global _lapack_pools
    if _lapack_pools is None:
        import scipy.linalg  # noqa: F401  (loads SciPy's OpenBLAS before the scan)
        from threadpoolctl import ThreadpoolController

        _lapack_pools = ThreadpoolController()
    return _lapack_pools


_blas_controllers: list[Any] | None = None  # blas_pools()' BLAS libraries, listed once


def _blas_runs(threads: int) -> bool:
    """Whether every BLAS pool runs ``threads`` threads already (a fit sets one for its whole
    run). Asking each library costs about a microsecond; a ``limit`` context 20-40 us (it
    lists every pool's state and sets it back), which a fit paid 150-250 times. The list is
    made once: a BLAS loaded later (torch's) is not NumPy's, which these products run on and
    which is loaded with NumPy itself."""
    global _blas_controllers
    if _blas_controllers is None:
        _blas_controllers = [c for c in blas_pools().lib_controllers if c.user_api == "blas"]
    return bool(_blas_controllers) and all(c.num_threads == threads for c in _blas_controllers)


def _blas_limit(threads: int) -> contextlib.AbstractContextManager[Any]:
    """The BLAS pools capped at ``threads`` for a block (nothing to do where they are)."""
    if _blas_runs(threads):
        return contextlib.nullcontext()
    return blas_pools().limit(limits=threads, user_api="blas")


def gram(matrix: Any, threads: int) -> Any:
    """``matrix.T @ matrix`` with the BLAS pool capped at ``threads`` for this product."""
    with _blas_limit(threads):
        return matrix.T @ matrix


def cholesky_solve(matrix: Any, rhs: Any, xp: Any) -> Any:
    """Cholesky solve on one BLAS thread, whatever the pools' setting.

    OpenBLAS' threaded ``dpotrf`` sums in another order than its one-thread path (the factors
    differ in the last bits). Left to the pool's setting, the thread count depended on what ran
    before, and "same inputs, same bytes" failed; one thread is also the faster for the fit's
    few-hundred-column systems. The factor is NumPy's (its OpenBLAS, capped here) and the two
    triangular solves are the C loops of ``_native/batched.c``: SciPy's ``cho_solve`` cost a
    fresh process 0.2 s to import ``scipy.linalg``, a fifth of a cold fit. Without the C
    extension SciPy's solve is used, its pools capped likewise.
    """
    if matrix.ndim != 2:
        return np.stack([cholesky_solve(m, b, xp) for m, b in zip(matrix, rhs, strict=True)])
    if _batched is None or matrix.dtype != np.float64 or rhs.dtype != np.float64:
        return _scipy_cholesky_solve(matrix, rhs)
    with _blas_limit(1):
        try:
            lower = np.linalg.cholesky(matrix)
        except np.linalg.LinAlgError:  # not positive definite
            return np.full_like(rhs, np.nan)
    solution = np.array(rhs, dtype=np.float64, copy=True, order="C")
    _batched.cholesky_solve(np.ascontiguousarray(lower), solution, matrix.shape[0])
    return solution


def _scipy_cholesky_solve(matrix: Any, rhs: Any) -> Any:
    """SciPy's ``cho_factor``/``cho_solve`` on one thread of SciPy's own OpenBLAS."""
    from scipy.linalg import cho_factor, cho_solve

    with lapack_pools().limit(limits=1, user_api="blas"):
        try:
            factor = cho_factor(matrix, lower=True, check_finite=False)
        except ValueError:  # LinAlgError: not positive definite
            return np.full_like(rhs, np.nan)
        return cho_solve(factor, rhs, check_finite=False)


def matmul_transposed(coefficients: Any, matrix: Any) -> Any:
    """``coefficients @ matrix.T``; complex weights on a real matrix as two real products."""
    if np.iscomplexobj(coefficients) and not np.iscomplexobj(matrix):
        dtype = np.result_type(coefficients, matrix)
        product = np.empty((*coefficients.shape[:-1], matrix.shape[0]), dtype)
        product.real = coefficients.real @ matrix.T
        product.imag = coefficients.imag @ matrix.T
        return product
    return coefficients @ matrix.T


def batched_matmul(a: Any, b: Any) -> Any | None:
    """``a @ b`` for (S, R, J) and (S, J, K) stacks by the C loop in ``_native/batched.c``;
    None without it or for other dtypes and ranks."""
    if (_batched is None or a.ndim != 3 or b.ndim != 3 or a.dtype != b.dtype
            or a.dtype not in (np.float64, np.float32)
            or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]):
        return None
    count, rows, inner = a.shape
    out = np.empty((count, rows, b.shape[2]), a.dtype)
    _batched.matmul(np.ascontiguousarray(a), np.ascontiguousarray(b), out, count, rows, inner,
                    b.shape[2])
    return out


def gathered_matmul(a: Any, index: Any, b: Any) -> Any | None:
    """``a @ concat_r(b[index[:, r]])`` for (S, R, J*W), (S, J) and (n, W, K) arrays by the C
    loop in ``_native/batched.c``; None without it or for other dtypes and ranks."""
    if (_batched is None or a.ndim != 3 or b.ndim != 3 or index.ndim != 2
            or a.dtype != b.dtype or a.dtype not in (np.float64, np.float32)
            or a.shape[0] != index.shape[0] or a.shape[2] != index.shape[1] * b.shape[1]):
        return None
    count, rows, _ = a.shape
    slots, (n, width, columns) = index.shape[1], b.shape
    out = np.empty((count, rows, columns), a.dtype)
    _batched.gathered(np.ascontiguousarray(a), np.ascontiguousarray(index, np.int64),
                      np.ascontiguousarray(b), out, count, rows, slots, width, columns, n,
                      columns, 0)
    return out


def gathered_matmul_into(a: Any, index: Any, b: Any, out: Any, column: int) -> Any | None:
    """:func:`gathered_matmul` written into columns ``column ..`` of the C-contiguous NumPy
    array ``out`` (S, R, M) in place; None (``out`` untouched) where the loop does not apply."""
    if (not isinstance(out, np.ndarray) or out.ndim != 3 or not out.flags.c_contiguous
            or out.dtype != a.dtype or out.shape[:2] != a.shape[:2] or b.ndim != 3
            or column < 0 or column + b.shape[2] > out.shape[2]):
        return None
    if (_batched is None or a.ndim != 3 or index.ndim != 2
            or a.dtype != b.dtype or a.dtype not in (np.float64, np.float32)
            or a.shape[0] != index.shape[0] or a.shape[2] != index.shape[1] * b.shape[1]):
        return None
    count, rows, _ = a.shape
    slots, (n, width, columns) = index.shape[1], b.shape
    _batched.gathered(np.ascontiguousarray(a), np.ascontiguousarray(index, np.int64),
                      np.ascontiguousarray(b), out, count, rows, slots, width, columns, n,
                      out.shape[2], column)
    return out


def convolve_axis(image: Any, weights: Any, axis: int) -> Any | None:
    """:func:`facefit.backends.convolve_axis` by the C loop in ``_native/batched.c`` for a
    real float64 or float32 NumPy image (H, W, ...); None without it or for other inputs."""
    if (getattr(_batched, "convolve", None) is None  # none, or a build older than the loop
            or not isinstance(image, np.ndarray) or image.ndim < 2
            or image.dtype not in (np.float64, np.float32) or axis not in (0, 1)
            or image.size == 0 or len(weights) % 2 == 0):
        return None
    image = np.ascontiguousarray(image)
    out = np.empty_like(image)
    rows, columns = image.shape[:2]
    _batched.convolve(image, out, np.asarray(weights, dtype=np.float64), rows, columns,
                      image.size // (rows * columns), len(weights), axis)
    return out


def scatter_min(index: Any, values: Any, size: int, xp: Any) -> Any:
    out = np.full((size,), _fill_value(values.dtype, xp), dtype=values.dtype)
    np.minimum.at(out, index, values)
    return out


def _bincount(index: Any, weights: Any, size: int) -> Any:
    if np.iscomplexobj(weights):
        return _bincount(index, weights.real, size) + 1j * _bincount(index, weights.imag, size)
    return np.bincount(index, weights=weights, minlength=size)[:size]


def scatter_add(index: Any, values: Any, size: int, xp: Any) -> Any:
    if values.ndim == 1:
        return _bincount(index, values, size).astype(values.dtype, copy=False)
    flat = values.reshape(values.shape[0], math.prod(values.shape[1:]))
    columns = [_bincount(index, flat[:, k], size) for k in range(flat.shape[1])]
    stacked = np.stack(columns, axis=1) if columns else np.zeros((size, 0), values.dtype)
    return stacked.reshape((size, *values.shape[1:])).astype(values.dtype, copy=False)


def zbuffer(points: Any, depth: Any, triangles: Any, batch: int, cull_back: bool, height: int,
            width: int, xp: Any) -> tuple[Any, ...] | None:
    """Covered pixels of a mesh by the C kernels in ``_native/raster.c``; None without them."""
    if _raster is None:
        return None
    points = np.ascontiguousarray(points)
    dtype = points.dtype
    if dtype not in (np.float64, np.float32):
        return None
    triangles = np.ascontiguousarray(triangles, np.int64)
    n = batch * triangles.shape[0]
    coefficients, corner_depth = np.empty((n, 9), dtype), np.empty((n, 3), dtype)
    boxes = np.empty((n, 4), np.int64)
    _raster.setup(points, np.ascontiguousarray(depth, dtype), triangles, batch, cull_back,
                  height, width, coefficients, corner_depth, boxes)
    pixels = batch * height * width
    rows = np.full((pixels,), -1, dtype=np.int64)  # winning triangle, then the pixel's row
    fragment_depth = np.empty((pixels,), dtype=dtype)
    count = _raster.zbuffer(coefficients, corner_depth, boxes, triangles.shape[0], height, width,
                            rows, fragment_depth)
    out = (np.empty((count,), np.int64), np.empty((count,), np.int64),
           np.empty((count, 3), dtype), np.empty((count,), dtype))
    _raster.compact(coefficients, rows, fragment_depth, triangles.shape[0], height, width, *out)
    return (*out, rows)


def interpolate_into(attributes: Any, triangles: Any, pixels: Any, pixel_triangles: Any,
                     barycentrics: Any, plane: int, image: Any, xp: Any) -> Any | None:
    """Interpolate (B*V, C) ``attributes`` into the (B*H*W, C) ``image`` in place, by the C
    kernel; None (image untouched) without it or for dtypes it does not cover."""
    dtype = attributes.dtype
    if (_raster is None or dtype not in (np.float64, np.float32)
            or barycentrics.dtype != dtype or image.dtype != dtype
            or not image.flags.c_contiguous or image.ndim != 2):
        return None
    vertices = np.ascontiguousarray(triangles, np.int64)
    _raster.interpolate_into(np.ascontiguousarray(attributes), attributes.shape[-1],
                             attributes.shape[0] // max(1, image.shape[0] // plane), vertices,
                             np.ascontiguousarray(pixels, np.int64),
                             np.ascontiguousarray(pixel_triangles, np.int64),
                             np.ascontiguousarray(barycentrics), plane, image)
    return image


#: NumPy submodules that NumPy itself loads only on first use, and facefit's fit never uses
#: (numpy.random serves tests and generation, which load it on first use as before).
_UNUSED_NUMPY_SUBMODULES = ("numpy.f2py", "numpy.testing", "numpy.ma", "numpy.random",
                            "numpy.polynomial", "numpy.char", "numpy.typing",
                            "numpy.ctypeslib")


def _defer_unused_numpy_submodules() -> None:
    """Make NumPy's unused lazily loaded submodules load on first attribute access instead.

    array-api-compat's NumPy namespace copies NumPy's namespace with ``hasattr(numpy, name)``
    for every name in ``dir(numpy)``, which imports every submodule NumPy loads lazily:
    numpy.f2py (hundreds of regular expressions), numpy.testing (unittest) and numpy.ma took
    0.3 s of a cold ``facefit fit``; numpy.random, numpy.polynomial, numpy.char, numpy.typing
    and numpy.ctypeslib another 40-50 ms of its first fit. Registered as
    :class:`importlib.util.LazyLoader` modules (and as NumPy's attributes, as an import
    would), they are the same modules to anyone who uses them, executed at first use.
    """
    for full in _UNUSED_NUMPY_SUBMODULES:
        short = full.rsplit(".", 1)[1]
        if full in sys.modules or short in vars(np):
            continue
        spec = importlib.util.find_spec(full)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            continue
        spec.loader = importlib.util.LazyLoader(spec.loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
        setattr(np, short, module)


class NumPyLibrary(CompatLibrary):
    """NumPy on the host CPU, through array-api-compat's wrapper."""

    name: ClassVar[str] = "numpy"
    aliases: ClassVar[tuple[str, ...]] = ("np",)
    module: ClassVar[str] = "numpy"
    compat: ClassVar[str] = "numpy"
    install_hint: ClassVar[str] = "pip install numpy"
    fast_paths: ClassVar[FastPaths] = FastPaths(
        cholesky_solve=cholesky_solve, scatter_min=scatter_min, scatter_add=scatter_add,
        gram=gram, matmul_transposed=matmul_transposed, batched_matmul=batched_matmul,
        gathered_matmul=gathered_matmul, gathered_matmul_into=gathered_matmul_into,
        zbuffer=zbuffer, interpolate_into=interpolate_into, convolve_axis=convolve_axis)

    def load(self) -> Any:
        _defer_unused_numpy_submodules()
        return super().load()

    def to_numpy(self, x: Any) -> Any:
        return np.asarray(x)

    def device(self, key: str | None) -> Any:
        if key not in (None, "cpu"):
            raise BackendError(f"device {key!r} is not available on the numpy backend; use 'cpu'")
        return "cpu"

    def device_key(self, device: Any) -> str:
        return "cpu"

    def thread_limit(self, count: int | None) -> contextlib.AbstractContextManager[Any]:
        """Fitting multiplies matrices of a few hundred columns; on small machines the BLAS
        threads' wake-ups cost more than they save (measured on 2 cores: 2.4 s with two
        threads, 1.2 s with one)."""
        if count is None:
            return contextlib.nullcontext()
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=count, user_api="blas")

    def thread_count(self) -> int | None:
        counts = [pool["num_threads"] for pool in blas_pools().info()
                  if pool["user_api"] == "blas"]
        return max(counts) if counts else None


LIBRARY: ArrayLibrary = NumPyLibrary()
