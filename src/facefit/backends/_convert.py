"""Conversions between backends and NumPy, and dispatch to each library's fast paths."""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

from . import _generic

Array = Any

__all__ = [
    "array_namespace",
    "cholesky_solve",
    "interpolate_into",
    "native_ops",
    "scatter_add",
    "scatter_min",
    "to_numpy",
    "zbuffer",
]


def array_namespace(*arrays: Any) -> Any:
    """The array-API namespace of ``arrays`` (array-api-compat's wrapper for numpy/torch/cupy).

    Python scalars and None are ignored, as in :func:`array_api_compat.array_namespace`.
    """
    return array_api_compat.array_namespace(*arrays)


def to_numpy(x: Any) -> np.ndarray:
    """``x`` (an array of any backend, or a nested sequence) as a NumPy array on the host."""
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if hasattr(x, "__array_namespace__") and not hasattr(x, "__array__"):
        return np.from_dlpack(x)  # array-api-strict >= 2.2 hides __array__
    if type(x).__module__.startswith("array_api_strict"):
        return np.asarray(x._array)
    return np.asarray(x)


def native_ops(xp: Any) -> ModuleType | None:
    """The module with native fast paths for namespace ``xp``, or None (standard-only fallback)."""
    if array_api_compat.is_numpy_namespace(xp):
        from . import _numpy

        return _numpy
    if array_api_compat.is_torch_namespace(xp):
        from . import _torch

        return _torch
    if array_api_compat.is_cupy_namespace(xp):
        from . import _cupy

        return _cupy
    return None


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
    ops = native_ops(xp)
    return (ops or _generic).cholesky_solve(matrix, rhs, xp)


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
    ops = native_ops(xp)
    return (ops or _generic).scatter_min(index, values, size, xp)


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
    ops = native_ops(xp)
    return (ops or _generic).scatter_add(index, values, size, xp)


def zbuffer(coefficients: Array, corner_depth: Array, boxes: Array, n_triangles: int,
            batch: int, size: tuple[int, int]) -> tuple[Array, ...] | None:
    """The nearest fragment of each pixel, by a native kernel where the backend has one.

    The inner loop of :func:`facefit.render.rasterize`, which falls back to its array-API
    candidate expansion when this returns None (array-api-strict, CuPy, a build without the C
    extension, or ``FACEFIT_NATIVE_RASTER=0``). Both give bit-identical results.

    Parameters
    ----------
    coefficients : (N, 9) float ``a0 a1 a2 b0 b1 b2 c0 c1 c2`` of the edge functions
        ``E_k(x, y) = a_k x + b_k y + c_k``, signed so that inside means all ``E_k >= 0``.
    corner_depth : (N, 3) depth of each triangle's corners.
    boxes : (N, 4) int64 ``xmin, ymin, width, height`` of each candidate box (width 0: skip).
    n_triangles : triangles per image; triangle ``i`` draws into image ``i // n_triangles``.
    batch : number of images B.
    size : (H, W).

    Returns
    -------
    (pixels, triangles, barycentrics, depth, rows) : for the P covered pixels in ascending
        order, (P,) int64 flat pixel index ``b * H * W + y * W + x``, (P,) int64 triangle of
        the nearest fragment (``i % n_triangles``), (P, 3) its barycentric weights and (P,) its
        depth; and (B*H*W,) int64 each pixel's row in those arrays (-1 where uncovered). Or
        None.
    """
    if os.environ.get("FACEFIT_NATIVE_RASTER", "1") == "0":
        return None
    xp = array_namespace(coefficients, corner_depth, boxes)
    kernel = getattr(native_ops(xp), "zbuffer", None)
    if kernel is None:
        return None
    height, width = size
    return kernel(coefficients, corner_depth, boxes, n_triangles, batch, height, width, xp)


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
    if os.environ.get("FACEFIT_NATIVE_RASTER", "1") == "0":
        return None
    xp = array_namespace(attributes, triangles, image)
    kernel = getattr(native_ops(xp), "interpolate_into", None)
    if kernel is None:
        return None
    return kernel(attributes, triangles, pixels, pixel_triangles, barycentrics, plane, image, xp)
