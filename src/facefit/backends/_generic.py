"""Standard-only implementations of what the array API standard lacks.

These run on any namespace that follows the standard (array-api-strict in the tests) using only
stable sorts, ``searchsorted`` and fixed-count loops: no Python loop depends on the data's values.
The per-library modules (``_numpy``, ``_torch``, ``_cupy``) replace them with native fast paths.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Array = Any

__all__ = [
    "cholesky_solve",
    "complex_step_jacobian",
    "complex_step_size",
    "convolve_axis",
    "is_complex",
    "promote",
    "real_part",
    "scatter_add",
    "scatter_min",
]


def is_complex(x: Array, xp: Any) -> bool:
    """Whether ``x`` has a complex floating dtype."""
    return bool(xp.isdtype(x.dtype, "complex floating"))


def real_part(x: Array, xp: Any) -> Array:
    """The real part of ``x``, or ``x`` itself when it is real.

    Discrete decisions on the differentiable path (pixel index, visibility, clamping) are taken on
    the real part, which keeps the code complex-step safe.
    """
    return xp.real(x) if is_complex(x, xp) else x


def promote(*arrays: Array, xp: Any) -> list[Array]:
    """``arrays`` cast to their common result dtype.

    Needed before ``@`` where one operand may be complex (complex step) and the other real:
    the standard promotes, but PyTorch's matmul refuses mixed dtypes.
    """
    common = xp.result_type(*arrays)
    return [a if a.dtype == common else xp.astype(a, common) for a in arrays]


def _fill_value(dtype: Any, xp: Any) -> float | int:
    if xp.isdtype(dtype, "integral"):
        return int(xp.iinfo(dtype).max)
    return math.inf


def _sorted_segments(index: Array, size: int, xp: Any) -> tuple[Array, Array, Array]:
    """Bounds ``[first, last)`` of each slot in ``sorted_index`` (index sorted ascending)."""
    slots = xp.arange(size, dtype=index.dtype, device=index.device)
    first = xp.searchsorted(index, slots, side="left")
    last = xp.searchsorted(index, slots, side="right")
    return slots, first, last


def scatter_min(index: Array, values: Array, size: int, xp: Any) -> Array:
    """Per-slot minimum: ``out[k] = min(values[index == k])``; empty slots get +inf (or int max).

    Parameters
    ----------
    index : (N,) integer array with values in ``[0, size)``.
    values : (N,) real array.
    size : number of output slots.

    Returns
    -------
    (size,) array of ``values.dtype``.
    """
    n = values.shape[0]
    fill = _fill_value(values.dtype, xp)
    if n == 0:
        return xp.full((size,), fill, dtype=values.dtype, device=values.device)
    # Sort by (index, value): a stable sort by value, then a stable sort by index.
    by_value = xp.argsort(values, stable=True)
    by_index = xp.argsort(xp.take(index, by_value), stable=True)
    order = xp.take(by_value, by_index)
    sorted_index = xp.take(index, order)
    sorted_values = xp.take(values, order)
    _, first, last = _sorted_segments(sorted_index, size, xp)
    safe_first = xp.where(first < n, first, xp.zeros_like(first))
    return xp.where(
        last > first,
        xp.take(sorted_values, safe_first),
        xp.full((size,), fill, dtype=values.dtype, device=values.device),
    )


def scatter_add(index: Array, values: Array, size: int, xp: Any) -> Array:
    """Per-slot sum: ``out[k] = sum(values[index == k], axis=0)``; empty slots get 0.

    A stable sort groups equal indices, a segmented Hillis-Steele scan (``ceil(log2 N)`` steps of
    whole-array arithmetic) sums each group with ``O(log N)`` rounding growth, and the last element
    of each group is gathered. Works on complex values (complex-step safe).

    Parameters
    ----------
    index : (N,) integer array with values in ``[0, size)``.
    values : (N, ...) array.
    size : number of output slots.

    Returns
    -------
    (size, ...) array of ``values.dtype``.
    """
    n = values.shape[0]
    out_shape = (size, *values.shape[1:])
    zeros = xp.zeros(out_shape, dtype=values.dtype, device=values.device)
    if n == 0:
        return zeros
    order = xp.argsort(index, stable=True)
    keys = xp.take(index, order)
    acc = xp.take(values, order, axis=0)
    trailing = (1,) * (values.ndim - 1)
    step = 1
    while step < n:
        same = xp.reshape(keys[step:] == keys[:-step], (n - step, *trailing))
        shifted = xp.where(same, acc[:-step, ...], xp.zeros_like(acc[:-step, ...]))
        acc = xp.concat([acc[:step, ...], acc[step:, ...] + shifted], axis=0)
        step *= 2
    _, first, last = _sorted_segments(keys, size, xp)
    safe_last = xp.where(last > 0, last - 1, xp.zeros_like(last))
    has = xp.reshape(last > first, (size, *trailing))
    return xp.where(has, xp.take(acc, safe_last, axis=0), zeros)


def convolve_axis(image: Array, weights: list[float], axis: int, xp: Any) -> Array:
    """``image`` convolved along ``axis`` (0 or 1) with the odd-length ``weights``, the edges
    replicated: ``out[i] = sum_k weights[k] * image[clamp(i + k - len(weights) // 2)]``,
    the terms added in the order of ``k``."""
    radius = len(weights) // 2
    size = image.shape[axis]
    index = xp.clip(xp.arange(-radius, size + radius, device=image.device), 0, size - 1)
    padded = xp.take(image, index, axis=axis)
    out = None
    for k, weight in enumerate(weights):
        window = padded[k:k + size, ...] if axis == 0 else padded[:, k:k + size, ...]
        term = float(weight) * window  # a Python float: the image's dtype, not float64
        out = term if out is None else out + term
    return out


def cholesky_solve(matrix: Array, rhs: Array, xp: Any) -> Array:
    """Solve ``matrix @ x = rhs`` for a symmetric positive-definite ``matrix`` via Cholesky.

    Parameters
    ----------
    matrix : (..., n, n) symmetric positive-definite array.
    rhs : (..., n) array.

    Returns
    -------
    (..., n) array; all NaN when ``matrix`` is not positive definite (callers check finiteness).
    """
    try:
        lower = xp.linalg.cholesky(matrix)
    except ValueError:  # numpy's LinAlgError and its kin derive from ValueError
        return xp.full_like(rhs, math.nan)
    inner = xp.linalg.solve(lower, rhs[..., None])
    return xp.linalg.solve(xp.matrix_transpose(lower), inner)[..., 0]


def complex_step_size(complex_dtype: Any, xp: Any) -> float:
    """Step ``h`` for the complex-step derivative: tiny, yet far from underflow for the dtype."""
    return 1e-30 if complex_dtype == xp.complex128 else 1e-15


def complex_step_jacobian(
    fun: Callable[[Array], Array],
    x: Array,
    xp: Any,
    *,
    batched: bool = False,
) -> Array:
    """Jacobian of ``fun`` at ``x`` by the complex-step method, exact to rounding.

    ``J[:, j] = Im(fun(x + i h e_j)) / h``. ``fun`` must be complex-safe (no abs, sign, max, min,
    comparisons or conj on values that carry the perturbation).

    Parameters
    ----------
    fun : maps an (n,) array to an (m,) array; with ``batched=True`` it maps (b, n) to (b, m) and
        is called once with all n perturbed copies of ``x``.
    x : (n,) real floating array.

    Returns
    -------
    (m, n) array of ``x.dtype``.
    """
    complex_dtype = xp.complex128 if x.dtype == xp.float64 else xp.complex64
    h = complex_step_size(complex_dtype, xp)
    n = x.shape[0]
    xc = xp.astype(x, complex_dtype)
    steps = xp.eye(n, dtype=complex_dtype, device=x.device) * (1j * h)
    if batched:
        values = fun(xc[None, :] + steps)  # (n, m)
        return xp.astype(xp.permute_dims(xp.imag(values), (1, 0)) / h, x.dtype)
    columns = [xp.imag(fun(xc + steps[j, :])) / h for j in range(n)]
    return xp.astype(xp.stack(columns, axis=1), x.dtype)
