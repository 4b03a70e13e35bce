"""Conversions between backends and NumPy, and dispatch to each library's fast paths."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

from . import _generic

Array = Any

__all__ = [
    "array_namespace",
    "cholesky_solve",
    "native_ops",
    "scatter_add",
    "scatter_min",
    "to_numpy",
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
