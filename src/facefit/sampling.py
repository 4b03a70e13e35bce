"""Bilinear image sampling at sub-pixel points, with its exact gradient.

Pixel ``(0, 0)`` is the centre of the top-left pixel; x runs right, y down (DESIGN.md). Points
outside the image take the value of the nearest border pixel (edge replication; the gradient
there is zero). The cell choice comes from the real part of the coordinates and the weights are
smooth arithmetic, so the complex-step derivative equals :func:`bilinear_sample`'s gradient.
"""

from __future__ import annotations

import math
from typing import Any

from .backends import array_namespace, convolve_axis, real_part

Array = Any

__all__ = ["bilinear_sample", "gaussian_blur"]


def _clamp(coordinate: Array, limit: int, xp: Any) -> Array:
    """``coordinate`` clamped to ``[0, limit]``, deciding on the real part only."""
    real = real_part(coordinate, xp)
    zero = xp.zeros_like(coordinate)
    upper = xp.full_like(coordinate, float(limit))
    return xp.where(real < 0, zero, xp.where(real > limit, upper, coordinate))


def _cell(coordinate: Array, size: int, xp: Any) -> tuple[Array, Array]:
    """Integer left/top neighbour (so that neighbour + 1 is inside) and the fractional weight."""
    clamped = _clamp(coordinate, size - 1, xp)
    low = xp.floor(real_part(clamped, xp))
    # minimum/maximum rather than clip: the same values, without array-api-compat's checks
    # of clip's bounds (a tenth of a millisecond per call, four calls per sampling).
    low = xp.minimum(xp.maximum(low, xp.zeros_like(low)),
                     xp.full_like(low, float(max(size - 2, 0))))
    frac = clamped - xp.astype(low, clamped.dtype)
    return xp.astype(low, xp.int64), frac


def bilinear_sample(
    image: Array, points: Array, *, return_gradient: bool = False
) -> Array | tuple[Array, Array]:
    """Sample ``image`` bilinearly at ``points``.

    Parameters
    ----------
    image : (H, W, C) real array.
    points : (..., 2) array of ``[x, y]`` pixel coordinates (real, or complex for complex step).
    return_gradient : also return d(value)/d(point).

    Returns
    -------
    values : (..., C) array.
    gradient : (..., C, 2) array ``[d/dx, d/dy]``, only with ``return_gradient``; zero where a
        coordinate was clamped at the border.
    """
    xp = array_namespace(image, points)
    height, width, channels = image.shape
    batch_shape = points.shape[:-1]
    flat_points = xp.reshape(points, (-1, 2))
    x0, fx = _cell(flat_points[:, 0], width, xp)
    y0, fy = _cell(flat_points[:, 1], height, xp)
    x1 = xp.minimum(x0 + 1, xp.full_like(x0, width - 1))  # x0 >= 0 already
    y1 = xp.minimum(y0 + 1, xp.full_like(y0, height - 1))
    pixels = xp.reshape(image, (height * width, channels))

    def at(row: Array, col: Array) -> Array:
        return xp.take(pixels, row * width + col, axis=0)

    i00, i01, i10, i11 = at(y0, x0), at(y0, x1), at(y1, x0), at(y1, x1)
    wx, wy = fx[:, None], fy[:, None]
    # Weighted (not lerp) form: exact at pixel centres, where one weight is exactly 1.
    top = (1.0 - wx) * i00 + wx * i01
    bottom = (1.0 - wx) * i10 + wx * i11
    values = xp.reshape((1.0 - wy) * top + wy * bottom, (*batch_shape, channels))
    if not return_gradient:
        return values
    real_x = real_part(flat_points[:, 0], xp)[:, None]
    real_y = real_part(flat_points[:, 1], xp)[:, None]
    inside_x = xp.astype((real_x >= 0) & (real_x <= width - 1), top.dtype)
    inside_y = xp.astype((real_y >= 0) & (real_y <= height - 1), top.dtype)
    d_dx = inside_x * ((i01 - i00) + wy * ((i11 - i10) - (i01 - i00)))
    d_dy = inside_y * (bottom - top)
    gradient = xp.stack([d_dx, d_dy], axis=-1)
    return values, xp.reshape(gradient, (*batch_shape, channels, 2))




def gaussian_blur(image: Array, sigma: float) -> Array:
    """``image`` convolved with a Gaussian of ``sigma`` pixels over its first two axes.

    Separable, truncated at 3 sigma, with edge replication (as :func:`bilinear_sample` treats
    points outside the image). ``sigma <= 0`` returns ``image`` itself.

    Parameters
    ----------
    image : (H, W, ...) real array.
    sigma : standard deviation in pixels.

    Returns
    -------
    Array of ``image``'s shape and dtype.
    """
    if sigma <= 0:
        return image
    radius = max(1, math.ceil(3 * sigma))
    taps = [math.exp(-0.5 * (k / sigma) ** 2) for k in range(-radius, radius + 1)]
    total = math.fsum(taps)
    weights = [tap / total for tap in taps]
    for axis in (0, 1):
        image = convolve_axis(image, weights, axis)
    return image
