"""Which vertices the camera sees: front-facing and not behind other parts of the face."""

from __future__ import annotations

from typing import Any

from ..backends import array_namespace, real_part
from ..errors import FacefitError
from .rasterize import Rasterization

Array = Any

__all__ = ["facing_weight", "footprint_depths", "visible_vertices"]


def visible_vertices(
    points: Array,
    depth: Array,
    normals: Array,
    raster: Rasterization,
    *,
    tolerance: float | None = None,
    footprint: str = "any",
) -> Array:
    """Boolean visibility of each vertex (a discrete decision; real parts are used).

    A vertex is visible when its camera-space normal points toward the camera (``n_z > 0``), it
    projects inside the image, and its depth is within ``tolerance`` of the nearest surface in
    the z-buffer over the 2 x 2 pixels around it (its bilinear footprint), at least one of which
    the face covers (``footprint="any"``) or all of which it covers (``"all"``: a colour sampled
    there is the face's alone, not mixed with what lies beyond a silhouette).

    Parameters
    ----------
    points : (V, 2) projected vertices.
    depth : (V,) vertex depth (larger nearer).
    normals : (V, 3) unit vertex normals in camera space.
    raster : rasterization of the same geometry (unbatched).
    tolerance : allowed depth gap, in depth units (pixels under the weak-perspective camera);
        default 1% of the larger side of the points' bounding box in the image.
    footprint : ``"any"`` or ``"all"`` of the footprint's pixels must be covered by the face.

    Returns
    -------
    (V,) bool array.
    """
    xp = array_namespace(points, depth, normals)
    pts, z = real_part(points, xp), real_part(depth, xp)
    height, width = raster.size
    if tolerance is None:
        extent = xp.max(pts, axis=0) - xp.min(pts, axis=0)
        tolerance = 0.01 * float(xp.max(extent))
    inside = (pts[:, 0] >= 0) & (pts[:, 0] <= width - 1) & (pts[:, 1] >= 0) & (
        pts[:, 1] <= height - 1)
    around = footprint_depths(pts, raster)
    nearest = xp.max(around, axis=0)
    facing = real_part(normals, xp)[:, 2] > 0
    if footprint == "all":
        covered = xp.all(around > -float("inf"), axis=0)
    elif footprint == "any":
        covered = nearest > -float("inf")
    else:
        raise FacefitError(f"visible_vertices: footprint must be 'any' or 'all', got {footprint!r}")
    return inside & facing & covered & (z >= nearest - tolerance)


def footprint_depths(points: Array, raster: Rasterization) -> Array:
    """(4, V) the depth of the surface over the 2 x 2 pixels around each of (V, 2) ``points``
    (their bilinear footprint; -inf where the raster covers none; (1, V) on a one-pixel-wide
    image). Real parts are used."""
    xp = array_namespace(points)
    pts = real_part(points, xp)
    height, width = raster.size
    left = xp.clip(xp.floor(pts[:, 0]), 0, max(width - 2, 0))
    top = xp.clip(xp.floor(pts[:, 1]), 0, max(height - 2, 0))
    corner = xp.astype(top * width + left, xp.int64)
    offsets = (0, 1, width, width + 1) if width > 1 and height > 1 else (0,)
    return raster.depth_at(xp.stack([corner + o for o in offsets]), -float("inf"))


def facing_weight(normals: Array) -> Array:
    """How far the photo can be trusted at each vertex by its angle to the camera: 1 where the
    camera-space normal's z is at least 1/3, falling to 0 edge-on. Grazing surface is seen
    foreshortened, and its colours mix with whatever lies beyond the outline.

    Parameters
    ----------
    normals : (V, 3) unit camera-space normals (real).

    Returns
    -------
    (V,) array in [0, 1].
    """
    xp = array_namespace(normals)
    return xp.clip(normals[:, 2] * 3.0, 0.0, 1.0)
