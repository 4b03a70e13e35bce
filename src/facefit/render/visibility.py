"""Which vertices the camera sees: front-facing and not behind other parts of the face."""

from __future__ import annotations

from typing import Any

from ..backends import array_namespace, real_part
from .rasterize import Rasterization

Array = Any

__all__ = ["visible_vertices"]


def visible_vertices(
    points: Array,
    depth: Array,
    normals: Array,
    raster: Rasterization,
    *,
    tolerance: float | None = None,
) -> Array:
    """Boolean visibility of each vertex (a discrete decision; real parts are used).

    A vertex is visible when its camera-space normal points toward the camera (``n_z > 0``), it
    projects inside the image, and its depth is within ``tolerance`` of the z-buffer at its
    nearest pixel.

    Parameters
    ----------
    points : (V, 2) projected vertices.
    depth : (V,) vertex depth (larger nearer).
    normals : (V, 3) unit vertex normals in camera space.
    raster : rasterization of the same geometry (unbatched).
    tolerance : allowed depth gap; default 2% of the vertices' depth range.

    Returns
    -------
    (V,) bool array.
    """
    xp = array_namespace(points, depth, normals)
    pts, z = real_part(points, xp), real_part(depth, xp)
    height, width = raster.size
    if tolerance is None:
        tolerance = 0.02 * float(xp.max(z) - xp.min(z))
    col = xp.round(pts[:, 0])
    row = xp.round(pts[:, 1])
    inside = (col >= 0) & (col <= width - 1) & (row >= 0) & (row <= height - 1)
    pixel = xp.astype(xp.clip(row, 0, height - 1) * width + xp.clip(col, 0, width - 1), xp.int64)
    zbuffer = xp.reshape(raster.depth_image(-float("inf")), (-1,))
    nearest = xp.take(zbuffer, pixel)
    facing = real_part(normals, xp)[:, 2] > 0
    return inside & facing & (z >= nearest - tolerance)
