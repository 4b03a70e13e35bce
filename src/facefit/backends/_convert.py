"""Conversions between backends and NumPy, and dispatch to each library's fast paths."""

from __future__ import annotations

import os
from typing import Any

import array_api_compat
import numpy as np

from . import _generic
from ._library import FastPaths
from ._table import library_of_array, library_of_namespace

Array = Any

__all__ = [
    "array_namespace",
    "batched_matmul",
    "cholesky_solve",
    "convolve_axis",
    "fast_paths",
    "gathered_matmul",
    "gram",
    "interpolate_into",
    "is_plain_value",
    "matmul_transposed",
    "scatter_add",
    "scatter_min",
    "to_numpy",
    "zbuffer",
]


def array_namespace(*arrays: Any) -> Any:
    """The array-API namespace of ``arrays`` (array-api-compat's wrapper for numpy/torch/cupy).

    Python scalars and None are ignored, as in :func:`array_api_compat.array_namespace`.
    Plain NumPy arrays take a shortcut to the namespace array-api-compat gave for them before
    (its checks cost a few microseconds, and a fit asks thousands of times).
    """
    global _numpy_namespace
    if _numpy_namespace is not None and all(type(a) is np.ndarray for a in arrays) and arrays:
        return _numpy_namespace
    namespace = array_api_compat.array_namespace(*arrays)
    if _numpy_namespace is None and arrays and all(type(a) is np.ndarray for a in arrays):
        _numpy_namespace = namespace
    return namespace


_numpy_namespace: Any = None  # array-api-compat's namespace for NumPy arrays, once seen


def to_numpy(x: Any) -> np.ndarray:
    """``x`` (an array of any backend, or a nested sequence) as a NumPy array on the host."""
    if isinstance(x, np.ndarray):
        return x
    owner = library_of_array(x)
    if owner is not None:
        return np.asarray(owner.to_numpy(x))
    if hasattr(x, "__array_namespace__") and not hasattr(x, "__array__"):
        return np.from_dlpack(x)  # an array library facefit has no module for
    return np.asarray(x)


_NONE = FastPaths()


def fast_paths(xp: Any) -> FastPaths:
    """The native fast paths of namespace ``xp``'s library (all None for a library that has
    none, or a namespace of no library facefit knows: the standard-only code runs)."""
    owner = library_of_namespace(xp)
    return _NONE if owner is None else owner.fast_paths


def is_plain_value(x: Array) -> bool:
    """Whether ``x`` is a real array that carries no derivative (no complex step, autograd
    graph, forward-mode tangent or functorch wrapper), so values computed from it may be
    cached and reused for any later real input equal to it."""
    xp = array_namespace(x)
    if _generic.is_complex(x, xp):
        return False
    check = fast_paths(xp).carries_derivatives
    return check is None or not check(x)


def cholesky_solve(matrix: Array, rhs: Array) -> Array:
    """Solve ``matrix @ x = rhs`` for symmetric positive-definite ``matrix`` (Cholesky).

    Parameters
    ----------
    matrix : (..., n, n) array.
    rhs : (..., n) array.

    Returns
    -------
    (..., n) array; NaN where ``matrix`` is not positive definite.
    """
    xp = array_namespace(matrix, rhs)
    solve = fast_paths(xp).cholesky_solve or _generic.cholesky_solve
    return solve(matrix, rhs, xp)


def convolve_axis(image: Array, weights: list[float], axis: int) -> Array:
    """``image`` (H, W, ...) convolved along ``axis`` (0 or 1) with the odd-length ``weights``
    (host floats), the edges replicated: ``out[i] = sum_k weights[k] * image[clamp(i + k -
    len(weights) // 2)]``, the terms added in the order of ``k``. The array-API loop makes two
    full-size temporaries per weight; NumPy's native loop (``_native/batched.c``) reads each
    line once, bit for bit the same.
    """
    xp = array_namespace(image)
    out = _native_product(xp, "convolve_axis", image, weights, axis)
    return out if out is not None else _generic.convolve_axis(image, weights, axis, xp)


def _native_product(xp: Any, name: str, *operands: Array) -> Array | None:
    """The backend's native fast path ``name`` applied to ``operands``; None where the backend
    has none, or where it declines these operands (dtype, device, derivatives attached)."""
    fast = getattr(fast_paths(xp), name)
    return None if fast is None else fast(*operands)


def gram(matrix: Array, threads: int | None = None) -> Array:
    """The normal matrix ``matrix.T @ matrix``, optionally on its own number of BLAS threads.

    The Gauss-Newton normal matrix is the one product in a fit large enough for BLAS threads to
    pay on an idle machine (3556 x 246 for the sample photo: 6.2 ms on one thread, 4.0 ms on
    two, on 2 AMD EPYC cores), while the many small products around it are faster on one
    thread. On a machine whose cores are busy with other work it is the other way round, by
    far: OpenBLAS splits the product evenly over its threads and waits for the slowest, which
    shares its core with the other work (9x slower on two threads with two other processes on
    2 cores), so ``fit`` asks for one thread unless told otherwise. ``threads`` caps the host
    BLAS pool for this product alone (NumPy backend; a no-op elsewhere). The result is the
    same bits for any ``threads`` (each entry is one dot product in a fixed order; tested).

    Parameters
    ----------
    matrix : (m, n) array.
    threads : BLAS threads for this product; None leaves the pool as it is.

    Returns
    -------
    (n, n) array.
    """
    xp = array_namespace(matrix)
    fast = fast_paths(xp).gram
    if fast is not None and threads is not None:
        return fast(matrix, threads)
    return xp.matrix_transpose(matrix) @ matrix


def matmul_transposed(coefficients: Array, matrix: Array) -> Array:
    """``coefficients @ matrix.T``: N weighted sums of K columns, for a batch of weights.

    The model's linear bases are (N, K) matrices evaluated at one or a few coefficient vectors
    (a matrix-vector product that is memory-bound). Backends whose BLAS does this badly get a
    native fast path: PyTorch's MKL ``dgemv`` on CPU streams the matrix at a third of OpenBLAS'
    speed, so one weight vector on a CPU tensor is a multiply-and-sum there (autograd-safe); on
    NumPy, complex coefficients with a real matrix (complex step) are split into two real
    products instead of promoting the whole matrix to complex. Results equal ``promote`` + ``@``
    up to rounding.

    Parameters
    ----------
    coefficients : (..., K) array, real or complex.
    matrix : (N, K) array.

    Returns
    -------
    (..., N) array of the two operands' result dtype.
    """
    xp = array_namespace(coefficients, matrix)
    product = _native_product(xp, "matmul_transposed", coefficients, matrix)
    if product is not None:
        return product
    coefficients, matrix = _generic.promote(coefficients, matrix, xp=xp)
    return coefficients @ xp.matrix_transpose(matrix)


def batched_matmul(a: Array, b: Array) -> Array:
    """``a @ b`` for a stack of small matrices: (S, R, J) @ (S, J, K) -> (S, R, K).

    NumPy's matmul makes one BLAS call per matrix, whose overhead dominates for the photometric
    Jacobian's ~1000 products of 3x30 by 30x153; a native loop (``_native/batched.c``) that
    streams ``b`` once takes half the time there. Backends and inputs without a fast path
    (complex step, autograd, other devices, no compiled kernel) use ``@``. Results equal
    ``a @ b`` up to rounding.

    Parameters
    ----------
    a : (S, R, J) array.
    b : (S, J, K) array.

    Returns
    -------
    (S, R, K) array.
    """
    xp = array_namespace(a, b)
    product = _native_product(xp, "batched_matmul", a, b)
    if product is not None:
        return product
    a, b = _generic.promote(a, b, xp=xp)
    return a @ b


def gathered_matmul(a: Array, index: Array, b: Array, out: Array | None = None,
                    column: int = 0) -> Array:
    """:func:`batched_matmul` with the right-hand stack gathered from ``b`` by ``index``.

    ``out[s] = a[s] @ concat_r(b[index[s, r]])``: the photometric Jacobian multiplies each
    sample's chain-rule coefficients by the shape basis rows of its one-ring. The native
    kernel reads those rows where they are instead of a per-sample copy of them (39 MB for
    the default model, built and first touched for every fit); elsewhere the copy is made with
    ``take`` and multiplied with ``@``. Results equal :func:`batched_matmul` on the gathered
    stack, bit for bit on the native path.

    Parameters
    ----------
    a : (S, R, J * W) array.
    index : (S, J) integer array into the first axis of ``b``.
    b : (n, W, K) array.
    out : optional (S, R, M) array: the product is written into its columns ``column`` to
        ``column + K - 1`` (in place by the native kernel, else by assignment) and ``out`` is
        returned; the photometric Jacobian's shape block goes straight into the Jacobian.
    column : the first column of ``out`` written.

    Returns
    -------
    (S, R, K) array, or ``out``.
    """
    xp = array_namespace(a, b)
    if out is not None:
        if _native_product(xp, "gathered_matmul_into", a, index, b, out, column) is not None:
            return out
        product = gathered_matmul(a, index, b)
        out[:, :, column:column + product.shape[2]] = product
        return out
    product = _native_product(xp, "gathered_matmul", a, index, b)
    if product is not None:
        return product
    count, slots = index.shape
    stack = xp.take(b, xp.reshape(index, (-1,)), axis=0)
    return batched_matmul(a, xp.reshape(stack, (count, slots * b.shape[1], b.shape[2])))


def scatter_min(index: Array, values: Array, size: int) -> Array:
    """Per-slot minimum of ``values`` grouped by ``index``; empty slots get +inf (int max).

    Parameters
    ----------
    index : (N,) integer array in ``[0, size)``.
    values : (N,) real array (float or integer).
    size : number of slots.

    Returns
    -------
    (size,) array of ``values.dtype``, on the same backend and device.
    """
    xp = array_namespace(index, values)
    return (fast_paths(xp).scatter_min or _generic.scatter_min)(index, values, size, xp)


def scatter_add(index: Array, values: Array, size: int) -> Array:
    """Per-slot sum of ``values`` grouped by ``index``; empty slots get 0. Complex-safe.

    Parameters
    ----------
    index : (N,) integer array in ``[0, size)``.
    values : (N, ...) array.
    size : number of slots.

    Returns
    -------
    (size, ...) array of ``values.dtype``, on the same backend and device.
    """
    xp = array_namespace(index, values)
    return (fast_paths(xp).scatter_add or _generic.scatter_add)(index, values, size, xp)


def _raster_kernel(name: str, *arrays: Array) -> tuple[Any, Any]:
    """The namespace of ``arrays`` and its library's native raster kernel ``name`` (None
    without one, or with ``FACEFIT_NATIVE_RASTER=0``)."""
    xp = array_namespace(*arrays)
    if os.environ.get("FACEFIT_NATIVE_RASTER", "1") == "0":
        return xp, None
    return xp, getattr(fast_paths(xp), name)


def zbuffer(points: Array, depth: Array, triangles: Array, batch: int, size: tuple[int, int],
            *, cull_back: bool = True) -> tuple[Array, ...] | None:
    """The nearest fragment of each pixel of a triangle mesh, by a native kernel where the
    backend has one.

    :func:`facefit.render.rasterize` by C (triangle setup, z-buffer, compaction); the caller
    falls back to its array-API code when this returns None (array-api-strict, CuPy, a build
    without the C extension, or ``FACEFIT_NATIVE_RASTER=0``). Both give bit-identical results.

    Parameters
    ----------
    points : (B*V, 2) real image coordinates of the vertices of B meshes, image by image.
    depth : (B*V,) real vertex depth, larger nearer the camera.
    triangles : (T, 3) int vertex ids within one mesh.
    batch : number of images B.
    size : (H, W).
    cull_back : drop back-facing and degenerate triangles.

    Returns
    -------
    (pixels, triangles, barycentrics, depth, rows) : for the P covered pixels in ascending
        order, (P,) int64 flat pixel index ``b * H * W + y * W + x``, (P,) int64 triangle of
        the nearest fragment, (P, 3) its barycentric weights and (P,) its depth; and (B*H*W,)
        int64 each pixel's row in those arrays (-1 where uncovered). Or None.
    """
    xp, kernel = _raster_kernel("zbuffer", points, depth, triangles)
    if kernel is None:
        return None
    height, width = size
    return kernel(points, depth, triangles, batch, cull_back, height, width, xp)


def interpolate_into(attributes: Array, triangles: Array, pixels: Array, pixel_triangles: Array,
                     barycentrics: Array, plane: int, image: Array) -> Array | None:
    """Barycentric interpolation written straight into an image, by a native kernel.

    :func:`facefit.render.interpolate` followed by :meth:`Rasterization.to_image` in one pass,
    with the same order of operations (bit-identical); None where no kernel serves these
    arrays (then ``image`` is untouched and the caller takes the array-API route).

    Parameters
    ----------
    attributes : (B*V, C) real vertex attributes.
    triangles : (T, 3) int vertex indices.
    pixels, pixel_triangles, barycentrics : (P,), (P,) and (P, 3) of a rasterization.
    plane : H * W.
    image : (B*H*W, C) contiguous array of ``attributes.dtype`` holding the background;
        overwritten at ``pixels``.
    """
    xp, kernel = _raster_kernel("interpolate_into", attributes, triangles, image)
    if kernel is None:
        return None
    return kernel(attributes, triangles, pixels, pixel_triangles, barycentrics, plane, image, xp)
