"""CuPy fast paths (``cupyx`` scatter kernels)."""

from __future__ import annotations

from typing import Any

import cupy
import cupyx

from ._generic import _fill_value

name = "cupy"


def cholesky_solve(matrix: Any, rhs: Any, xp: Any) -> Any:
    lower = cupy.linalg.cholesky(matrix)
    inner = cupy.linalg.solve(lower, rhs[..., None])
    return cupy.linalg.solve(cupy.swapaxes(lower, -1, -2), inner)[..., 0]


def scatter_min(index: Any, values: Any, size: int, xp: Any) -> Any:
    out = cupy.full((size,), _fill_value(values.dtype, xp), dtype=values.dtype)
    cupyx.scatter_min(out, index, values)
    return out


def scatter_add(index: Any, values: Any, size: int, xp: Any) -> Any:
    out = cupy.zeros((size, *values.shape[1:]), dtype=values.dtype)
    if values.dtype.kind == "c":  # cupyx.scatter_add has no complex kernel: split the parts
        real = cupy.zeros(out.shape, dtype=values.real.dtype)
        imag = cupy.zeros(out.shape, dtype=values.real.dtype)
        cupyx.scatter_add(real, index, values.real)
        cupyx.scatter_add(imag, index, values.imag)
        return real + 1j * imag
    cupyx.scatter_add(out, index, values)
    return out
