"""A mouth interior for generated samples: a dark cavity in the lips' opening (issue 17).

The face mesh has a hole between the lips. Behind it a sample used to show the warped photo,
whose closed lips or teeth were stretched into pillars when the new expression opened the
mouth wider. Here the opening is capped by a fan of triangles from the inner lip rim to a point
set back into the head, and drawn as a shaded cavity: dark at the back, a little lighter near
the lips, in the photo's own lip colour darkened (a throat lit from the front). It is drawn
wherever the opening is seen, so no photo pixels are ever stretched across it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ..backends import array_namespace
from ..render.interpolate import interpolate
from ..render.rasterize import rasterize
from .host import hole_loop

Array = Any

__all__ = ["MOUTH_DEPTH", "draw_cavity", "inner_lip_loop"]

#: How far the cavity's centre sits behind the lip rim, as a fraction of the rim's width.
MOUTH_DEPTH = 0.6

#: iBUG inner-lip landmarks (0-based), used to pick the mouth's hole among the mesh's holes.
INNER_LIP = tuple(range(60, 68))


@lru_cache(maxsize=8)
def inner_lip_loop(model: Any) -> Any:
    """(L,) host indices of the vertices on the rim of the mouth's hole, in order; None when the
    model's mesh has no hole between the lips (a closed mouth, as the Basel model's).

    The hole is the boundary loop whose centre is nearest the inner-lip landmark vertices',
    accepted when that centre lies within a quarter of the mouth's width of theirs and the loop
    is at most twice as wide as the mouth (the face's outer outline is not a mouth).
    """
    indices = model.landmark_indices
    lips = [int(indices[k]) for k in INNER_LIP]
    corners = [int(indices[48]), int(indices[54])]
    if min(lips + corners) < 0:
        return None
    return hole_loop(model.mean_shape, model.triangles, lips, corners)

def draw_cavity(image: Array, face_mask: Array, points: Array, depth: Array, loop: Array,
                lip_colour: Array) -> Array:
    """``image`` with the mouth's opening drawn as a cavity where the face does not cover it.

    Parameters
    ----------
    image : (H, W, 3) sample so far.
    face_mask : (H, W) bool, pixels of the rendered face (the lips and cheeks in front).
    points : (V, 2) projected face vertices; depth : (V,) their depth (larger nearer).
    loop : (L,) the inner lip rim's vertex indices (:func:`inner_lip_loop`).
    lip_colour : (3,) the photo's colour of the lips.

    Returns
    -------
    (H, W, 3) image.
    """
    xp = array_namespace(image, points, depth, loop)
    rim = xp.take(points, loop, axis=0)
    rim_depth = xp.take(depth, loop)
    width = xp.max(rim[:, 0]) - xp.min(rim[:, 0])
    centre = xp.mean(rim, axis=0)[None, :]
    centre_depth = xp.mean(rim_depth)[None] - MOUTH_DEPTH * width
    fan_points = xp.concat([rim, centre], axis=0)
    fan_depth = xp.concat([rim_depth, centre_depth], axis=0)
    count = loop.shape[0]
    ids = xp.arange(count, dtype=xp.int64, device=points.device)
    fan = xp.stack([ids, (ids + 1) % count, xp.full_like(ids, count)], axis=1)
    raster = rasterize(fan_points, fan_depth, fan, (image.shape[0], image.shape[1]),
                       cull_back=False)
    # Per fan vertex: 1 on the rim, 0 at the back; the cavity darkens toward the back.
    rim_weight = xp.concat([xp.ones((count, 1), dtype=image.dtype, device=image.device),
                            xp.zeros((1, 1), dtype=image.dtype, device=image.device)], axis=0)
    near_rim = interpolate(rim_weight, fan, raster)  # (P, 1)
    colour = lip_colour[None, :] * (0.2 + 0.3 * near_rim * near_rim)
    cavity = raster.to_image(colour, image)
    open_here = raster.mask() & ~face_mask
    return xp.where(open_here[..., None], cavity, image)
