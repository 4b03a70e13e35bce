"""Interpolation of per-vertex attributes at rasterized pixels (smooth, differentiable)."""

from __future__ import annotations

from typing import Any

from ..backends import array_namespace, interpolate_into, promote
from .rasterize import Rasterization

Array = Any

__all__ = ["interpolate", "interpolate_image"]


def interpolate(attributes: Array, triangles: Array, raster: Rasterization) -> Array:
    """Barycentric interpolation of vertex attributes at the covered pixels.

    Parameters
    ----------
    attributes : (V, C) array, or (B, V, C) for a batched rasterization.
    triangles : (T, 3) int array, the one that was rasterized.
    raster : the :class:`Rasterization`.

    Returns
    -------
    (P, C) array, one row per covered pixel (``raster.pixels`` order); place it in an image
    with :meth:`Rasterization.to_image`.
    """
    xp = array_namespace(attributes, triangles)
    n_vertices, channels = attributes.shape[-2], attributes.shape[-1]
    flat = xp.reshape(attributes, (-1, channels))
    vertex_ids = xp.take(triangles, raster.triangles, axis=0)  # (P, 3)
    if attributes.ndim == 3:
        image = raster.pixels // (raster.size[0] * raster.size[1])
        vertex_ids = vertex_ids + image[:, None] * n_vertices
    weights = raster.barycentrics
    total = None
    for k in range(3):  # three explicit terms: a sum over an axis of length 3 is slow
        values = xp.take(flat, vertex_ids[:, k], axis=0)
        w, values = promote(weights[:, k:k + 1], values, xp=xp)
        total = w * values if total is None else total + w * values
    return total


def interpolate_image(attributes: Array, triangles: Array, raster: Rasterization,
                      background: Array | float = 0.0) -> Array:
    """Interpolated vertex attributes composited over ``background`` as full images.

    ``raster.to_image(interpolate(attributes, triangles, raster), background)``, done in one
    pass by a native kernel where the backend has one (real values, no autograd), with the
    same result to the bit.

    Parameters
    ----------
    attributes : (V, C) array, or (B, V, C) for a batched rasterization.
    triangles : (T, 3) int array, the one that was rasterized.
    raster : the :class:`Rasterization`.
    background : a scalar, or an array broadcastable to (H, W, C) / (B, H, W, C).

    Returns
    -------
    (H, W, C) or (B, H, W, C) array.
    """
    xp = array_namespace(attributes, triangles)
    height, width = raster.size
    channels = attributes.shape[-1]
    dtype = attributes.dtype
    if raster.barycentrics.dtype == dtype and raster.pixels.shape[0] > 0:
        if hasattr(background, "shape"):
            back = xp.broadcast_to(xp.astype(background, dtype),
                                   (raster.batch, height, width, channels))
        else:
            back = xp.full((raster.batch, height, width, channels), background, dtype=dtype,
                           device=attributes.device)
        image = xp.reshape(xp.asarray(back, copy=True), (-1, channels))
        done = interpolate_into(xp.reshape(attributes, (-1, channels)), triangles, raster.pixels,
                                raster.triangles, raster.barycentrics, height * width, image)
        if done is not None:
            return xp.reshape(done, raster._image_shape((channels,)))
    return raster.to_image(interpolate(attributes, triangles, raster), background)
