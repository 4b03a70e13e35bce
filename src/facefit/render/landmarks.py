"""Where the 68 iBUG landmarks fall for a given pose, with landmark marching on the jaw.

A 2D annotator marks the jaw on the visible outline of the face, which moves over the 3D surface
as the head turns. Each jaw landmark therefore owns a candidate line of vertices (a horizontal
slice of the face side, see :mod:`facefit.model.contours`), and in each pose takes the
silhouette vertex of its line: the one furthest left in the image for landmarks 0..7 (the
subject's right side), furthest right for 9..16, and lowest in the image for the chin, 8.
"""

from __future__ import annotations

import math
from typing import Any

from ..backends import array_namespace, real_part

Array = Any

__all__ = ["JAW", "landmark_points", "landmark_vertices"]

#: iBUG indices of the jaw contour.
JAW = range(17)


def landmark_vertices(points: Array, landmark_indices: Array, jaw_candidates: Array, *,
                      candidates_only: bool = False) -> Array:
    """Vertex index of each of the 68 landmarks in the current pose.

    Parameters
    ----------
    points : (V, 2) or (B, V, 2) projected vertices (real part is used: a discrete choice).
    landmark_indices : (68,) int, -1 where the model has no vertex for a landmark.
    jaw_candidates : (17, C) int candidate lines, padded with -1; a line of only -1 keeps the
        fixed landmark vertex.
    candidates_only : ``points`` are the candidates' alone, (17 * C, 2) or (B, 17 * C, 2) in
        the order of ``jaw_candidates`` (padding included, any value there): the marching
        reads nothing else, so a caller need not project the whole mesh.

    Returns
    -------
    (68,) or (B, 68) int64 vertex indices (-1 where the model has none).
    """
    xp = array_namespace(points, landmark_indices, jaw_candidates)
    pts = real_part(points, xp)
    batched = pts.ndim == 3
    if not batched:
        pts = pts[None, ...]
    valid = jaw_candidates >= 0  # (17, C)
    safe = xp.where(valid, jaw_candidates, xp.zeros_like(jaw_candidates))
    if candidates_only:
        cand_x = xp.reshape(pts[..., 0], (pts.shape[0], *safe.shape))
        cand_y = xp.reshape(pts[..., 1], (pts.shape[0], *safe.shape))
    else:
        flat = xp.reshape(safe, (-1,))
        cand_x = xp.reshape(xp.take(pts[..., 0], flat, axis=1), (pts.shape[0], *safe.shape))
        cand_y = xp.reshape(xp.take(pts[..., 1], flat, axis=1), (pts.shape[0], *safe.shape))
    line = xp.arange(17, device=pts.device)[:, None]
    # Score to minimise: x on the right side of the subject, -x on the left, -y at the chin.
    score = xp.where(line < 8, cand_x, xp.where(line > 8, -cand_x, -cand_y))
    score = xp.where(valid, score, xp.full_like(score, float("inf")))
    best = xp.argmin(score, axis=-1)  # (B, 17)
    lines = xp.broadcast_to(safe, score.shape)
    chosen = xp.take_along_axis(lines, best[..., None], axis=-1)[..., 0]
    has_line = xp.any(valid, axis=-1)  # (17,)
    fixed_jaw = landmark_indices[:17]
    jaw = xp.where(has_line, chosen, xp.broadcast_to(fixed_jaw, chosen.shape))
    rest = xp.broadcast_to(landmark_indices[17:], (pts.shape[0], landmark_indices.shape[0] - 17))
    result = xp.concat([xp.astype(jaw, xp.int64), xp.astype(rest, xp.int64)], axis=-1)
    return result if batched else result[0, ...]


def landmark_points(points: Array, landmark_indices: Array, jaw_candidates: Array) -> Array:
    """Image positions of the 68 landmarks in the current pose (jaw by landmark marching).

    Parameters
    ----------
    points : (V, 2) or (B, V, 2) projected vertices.
    landmark_indices, jaw_candidates : as for :func:`landmark_vertices`.

    Returns
    -------
    (68, 2) or (B, 68, 2) array, NaN where the model has no vertex for a landmark.
    """
    xp = array_namespace(points)
    vertex_ids = landmark_vertices(points, landmark_indices, jaw_candidates)
    safe = xp.where(vertex_ids >= 0, vertex_ids, xp.zeros_like(vertex_ids))
    picked = xp.take_along_axis(points, xp.stack([safe, safe], axis=-1), axis=-2)
    missing = (vertex_ids < 0)[..., None]
    return xp.where(missing, xp.full_like(picked, math.nan), picked)
