"""Background for a re-posed face: warp the photo so its surroundings follow the face.

When the head turns, the new face no longer covers the old one. Pasting it over the photo
would leave the old face showing beside it. As in 3DDFA's face profiling ("image meshing"),
the photo is treated as a 2-D mesh instead: anchors on the face's outline (the model mesh's
boundary vertices, projected in the fitted pose) plus fixed anchors, on a box around the face
(half its size again on each side) and on the image border, are triangulated once (Delaunay);
the outline anchors then move to where the same vertices project in the new pose, the fixed
ones stay put, and every pixel takes the colour of the point it came from (piecewise-affine,
bilinear). Outside the box the photo is untouched. Hair, ears and neck stretch with the face;
what lay inside the old outline lands inside the new one, under the new face.

The warp reuses the renderer: the moved mesh is rasterized (flat, both windings), the source
positions are interpolated at each pixel, and the photo is sampled there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backends import array_namespace
from ..render import interpolate, rasterize
from ..sampling import bilinear_sample

Array = Any

__all__ = ["border_anchors", "fixed_anchors", "warp_background"]


def border_anchors(size: tuple[int, int], spacing: int = 32) -> Any:
    """(A, 2) host array of fixed anchors along the image border, corners included."""
    height, width = size
    xs = np.unique(np.concatenate([np.arange(0, width - 1, spacing), [width - 1]]))
    ys = np.unique(np.concatenate([np.arange(0, height - 1, spacing), [height - 1]]))
    top = np.stack([xs, np.zeros_like(xs)], axis=1)
    bottom = np.stack([xs, np.full_like(xs, height - 1)], axis=1)
    left = np.stack([np.zeros_like(ys), ys], axis=1)
    right = np.stack([np.full_like(ys, width - 1), ys], axis=1)
    return np.unique(np.concatenate([top, bottom, left, right]).astype(np.float64), axis=0)


def fixed_anchors(before: Any, after: Any, size: tuple[int, int], per_side: int = 8) -> Any:
    """(A, 2) host array of anchors that do not move: a box around both outlines, grown by half
    its size on each side and clipped to the image, plus the image border."""
    height, width = size
    both = np.concatenate([before, after])
    low, high = both.min(axis=0), both.max(axis=0)
    grow = 0.5 * (high - low)
    low = np.clip(low - grow, 0, [width - 1, height - 1])
    high = np.clip(high + grow, 0, [width - 1, height - 1])
    t = np.linspace(0.0, 1.0, per_side + 1)[:-1]
    box = np.concatenate([
        np.stack([low[0] + t * (high[0] - low[0]), np.full_like(t, low[1])], axis=1),
        np.stack([np.full_like(t, high[0]), low[1] + t * (high[1] - low[1])], axis=1),
        np.stack([high[0] - t * (high[0] - low[0]), np.full_like(t, high[1])], axis=1),
        np.stack([np.full_like(t, low[0]), high[1] - t * (high[1] - low[1])], axis=1)])
    return np.unique(np.round(np.concatenate([box, border_anchors(size)]), 6), axis=0)


def _mesh(outline: Any, fixed: Any, size: tuple[int, int]) -> Any:
    """Delaunay triangles over the anchors (outline first, then fixed), on the host. Outline
    anchors outside the fixed box or the image, or on top of a fixed anchor, are left out."""
    from scipy.spatial import Delaunay

    height, width = size
    margin = 0.5
    inside = ((outline[:, 0] > margin) & (outline[:, 0] < width - 1 - margin)
              & (outline[:, 1] > margin) & (outline[:, 1] < height - 1 - margin))
    anchors = np.concatenate([outline, fixed])
    keep = np.concatenate([inside, np.ones(fixed.shape[0], bool)])
    _, first = np.unique(np.round(anchors, 6), axis=0, return_index=True)
    unique = np.zeros(anchors.shape[0], bool)
    unique[first] = True
    keep &= unique
    triangles = Delaunay(anchors[keep]).simplices
    return np.flatnonzero(keep)[triangles].astype(np.int64)


def warp_background(photo: Array, outline_before: Array, outline_after: Array) -> Array:
    """The photo warped so the face outline moves from ``outline_before`` to ``outline_after``.

    Parameters
    ----------
    photo : (H, W, 3) image on the active backend.
    outline_before : (A, 2) image positions of the outline anchors in the fitted pose.
    outline_after : (A, 2) positions of the same anchors in the new pose.

    Returns
    -------
    (H, W, 3) warped image (pixels the moved mesh does not reach, if any, keep the photo).
    """
    xp = array_namespace(photo, outline_before, outline_after)
    height, width = photo.shape[0], photo.shape[1]
    before = np.asarray(_host(outline_before), dtype=np.float64)
    after = np.asarray(_host(outline_after), dtype=np.float64)
    fixed = fixed_anchors(before, after, (height, width))
    triangles = _mesh(before, fixed, (height, width))
    source = np.concatenate([before, fixed])
    target = np.concatenate([after, fixed])
    device = photo.device
    raster = rasterize(xp.asarray(target, dtype=photo.dtype, device=device),
                       xp.zeros((target.shape[0],), dtype=photo.dtype, device=device),
                       xp.asarray(triangles, device=device), (height, width), cull_back=False)
    origin = interpolate(xp.asarray(source, dtype=photo.dtype, device=device),
                         xp.asarray(triangles, device=device), raster)  # (P, 2)
    return raster.to_image(bilinear_sample(photo, origin), photo)


def _host(array: Array) -> Any:
    from ..backends import to_numpy

    return to_numpy(array)
