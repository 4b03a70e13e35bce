"""NumPy fast paths for the operations the array API standard lacks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._generic import _fill_value

name = "numpy"


def cholesky_solve(matrix: Any, rhs: Any, xp: Any) -> Any:
    from scipy.linalg import cho_factor, cho_solve

    if matrix.ndim == 2:
        try:
            factor = cho_factor(matrix, lower=True, check_finite=False)
        except ValueError:  # LinAlgError: not positive definite
            return np.full_like(rhs, np.nan)
        return cho_solve(factor, rhs, check_finite=False)
    return np.stack([cholesky_solve(m, b, xp) for m, b in zip(matrix, rhs, strict=True)])


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
