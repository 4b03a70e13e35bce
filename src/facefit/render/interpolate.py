"""Interpolation of per-vertex attributes at rasterized pixels (smooth, differentiable)."""

from __future__ import annotations

from typing import Any

from ..backends import array_namespace, promote
from .rasterize import Rasterization

Array = Any

__all__ = ["interpolate"]


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
