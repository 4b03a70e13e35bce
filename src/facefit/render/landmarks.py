"""Where the 68 iBUG landmarks fall for a given pose, with landmark marching on the jaw.

A 2D annotator marks the jaw on the visible outline of the face, which moves over the 3D surface
as the head turns. Each jaw landmark therefore owns a candidate line of vertices (a horizontal
slice of the face side, see :mod:`facefit.model.contours`), and in each pose takes the
silhouette vertex of its line: the one furthest left in the image for landmarks 0..7 (the
subject's right side), furthest right for 9..16, and lowest in the image for the chin, 8.

300-W annotators then space the 17 points evenly along the outline *as the photo shows it*:
:func:`jaw_spacing` slides each jaw landmark along the polyline of the 17 marched points so
that they are evenly spaced in the image from each end to the chin (0, 8 and 16 stay). On a
frontal face this changes little (the model's jaw vertices are spaced evenly,
:func:`facefit.model.respace_jaw`); on a turned face it spreads the points over the visible
outline the way an annotator does, whichever parts of the jaw face the camera.

A face seen from below (chin up) and turned shows the underside of its jaw on the near side,
and the annotator's jaw line runs along its lower edge, toward the neck, below the model's jaw
line (issue 18: 10-20 mm on the held-out photos turned 28 and 43 degrees). Where the model
has them (:func:`facefit.model.jaw_underside`), each side line gains its underside vertices in
the poses that turn them toward the camera (:func:`marching_table`); the same rule then picks
the outermost.
"""

from __future__ import annotations

import math
from typing import Any

from ..backends import array_namespace, real_part

Array = Any

__all__ = ["IBUG_MIRROR", "JAW", "all_candidates", "jaw_spacing", "landmark_points",
           "landmark_vertices", "marching_table", "space_jaw"]

#: iBUG indices of the jaw contour.
JAW = range(17)

#: The 68-point layout's left-right mirror: point k of a face seen in a mirror is point
#: ``IBUG_MIRROR[k]`` of the face itself (jaw 0 <-> 16, outer eye corners 36 <-> 45, ...).
IBUG_MIRROR = (*range(16, -1, -1), *range(26, 16, -1), 27, 28, 29, 30, 35, 34, 33, 32, 31,
               45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
               54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65)


def all_candidates(arrays: Any) -> Array:
    """(17, C + E) every vertex the marching may pick: the jaw lines, then their underside
    (``arrays.jaw_underside``, where the arrays have one), padded with -1."""
    xp = array_namespace(arrays.jaw_candidates)
    underside = getattr(arrays, "jaw_underside", None)
    if underside is None:
        return arrays.jaw_candidates
    return xp.concat([arrays.jaw_candidates, underside], axis=1)


def marching_table(arrays: Any, rotation: Array) -> Array:
    """The candidate lines to march over in a pose: :func:`all_candidates` with the
    underside vertices that do not face the camera masked out (-1).

    An underside vertex stays where its mean-shape normal, rotated, points toward the camera
    by more than :data:`facefit.model.contours.UNDERSIDE_FACING` (the camera looks along -z:
    depth grows toward it). A discrete choice on the real part, held per round like the
    marching itself.

    Parameters
    ----------
    arrays : the model's backend arrays (``jaw_candidates``; optionally ``jaw_underside``
        (17, E) and ``underside_normals`` (17, E, 3)).
    rotation : (3, 3) or (B, 3, 3) the pose's rotation.

    Returns
    -------
    (17, C + E) or (B, 17, C + E) int64 table, as :func:`landmark_vertices` takes it.
    """
    from ..model.contours import UNDERSIDE_FACING

    underside = getattr(arrays, "jaw_underside", None)
    if underside is None:
        return arrays.jaw_candidates
    xp = array_namespace(arrays.jaw_candidates)
    turn = real_part(rotation, xp)
    # (R n)_z for every underside normal: the rotation's last row dotted with n.
    row = turn[..., 2, :]  # (..., 3)
    toward = xp.sum(arrays.underside_normals * row[..., None, None, :], axis=-1)
    shown = xp.where(toward > UNDERSIDE_FACING, underside, xp.full_like(underside, -1))
    lines = xp.broadcast_to(arrays.jaw_candidates, (*shown.shape[:-1],
                                                    arrays.jaw_candidates.shape[-1]))
    return xp.concat([lines, shown], axis=-1)


def landmark_vertices(points: Array, landmark_indices: Array, jaw_candidates: Array, *,
                      candidates_only: bool = False) -> Array:
    """Vertex index of each of the 68 landmarks in the current pose.

    Parameters
    ----------
    points : (V, 2) or (B, V, 2) projected vertices (real part is used: a discrete choice).
    landmark_indices : (68,) int, -1 where the model has no vertex for a landmark.
    jaw_candidates : (17, C) int candidate lines, padded with -1, or (B, 17, C) one table per
        face (:func:`marching_table`); a line of only -1 keeps the fixed landmark vertex.
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
    elif safe.ndim == 2:
        flat = xp.reshape(safe, (-1,))
        cand_x = xp.reshape(xp.take(pts[..., 0], flat, axis=1), (pts.shape[0], *safe.shape))
        cand_y = xp.reshape(xp.take(pts[..., 1], flat, axis=1), (pts.shape[0], *safe.shape))
    else:  # one table per face
        flat = xp.reshape(safe, (safe.shape[0], -1))
        cand_x = xp.reshape(xp.take_along_axis(pts[..., 0], flat, axis=1), safe.shape)
        cand_y = xp.reshape(xp.take_along_axis(pts[..., 1], flat, axis=1), safe.shape)
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


def jaw_spacing(jaw: Array) -> Array:
    """Weights that space 17 jaw points evenly along their own polyline, in the image.

    Output point k lies on the polyline through the input points at arc length ``k / 8`` of
    the way from point 0 to point 8 (k <= 8), or from point 8 to point 16 (k >= 8): a
    combination of the two input points of its segment. A discrete choice made on the real
    part, like landmark marching: the weights are then held while the points move.

    Parameters
    ----------
    jaw : (..., 17, 2) image points (real part used).

    Returns
    -------
    (..., 17, 17) real weights W (rows sum to 1, at most two non-zeros per row; rows 0, 8
    and 16 pick their own point), so that ``W @ jaw`` is the spaced jaw.
    """
    xp = array_namespace(jaw)
    pts = real_part(jaw, xp)
    step = pts[..., 1:, :] - pts[..., :-1, :]
    length = xp.sqrt(xp.sum(step * step, axis=-1))  # (..., 16)
    index = xp.arange(17, device=pts.device)
    # Cumulative arc length s_0..s_16 as a product with a triangular matrix (portable).
    upper = xp.astype(index[1:, None] <= index[None, 1:], pts.dtype)  # (16, 16): j <= k
    arc = xp.concat([xp.zeros_like(length[..., :1]), length @ upper], axis=-1)  # (..., 17)
    middle, total = arc[..., 8:9], arc[..., 16:17]
    share = xp.astype(index, pts.dtype) / 8.0
    target = xp.where(index <= 8, middle * share, middle + (total - middle) * (share - 1.0))
    # Segment of each target: how many of s_1..s_15 it has reached (segment 0..15).
    reached = arc[..., None, 1:16] <= target[..., :, None]  # (..., 17, 15)
    segment = xp.sum(xp.astype(reached, xp.int64), axis=-1)  # (..., 17)
    start = xp.take_along_axis(arc, segment, axis=-1)
    span = xp.take_along_axis(length, segment, axis=-1)
    safe = xp.where(span > 0, span, xp.ones_like(span))
    t = xp.where(span > 0, xp.clip((target - start) / safe, 0.0, 1.0), xp.zeros_like(span))
    here = xp.astype(index == segment[..., None], pts.dtype)  # (..., 17, 17)
    after = xp.astype(index == segment[..., None] + 1, pts.dtype)
    return (1.0 - t)[..., None] * here + t[..., None] * after


def space_jaw(points: Array, weights: Array) -> Array:
    """``points`` (..., 68, 2) with the jaw rows replaced by ``weights @ points[..., :17, :]``
    (complex-step safe: a broadcast product and a sum, real weights)."""
    xp = array_namespace(points)
    jaw = xp.sum(weights[..., :, :, None] * points[..., None, :17, :], axis=-2)
    return xp.concat([jaw, points[..., 17:, :]], axis=-2)


def landmark_points(points: Array, landmark_indices: Array, jaw_candidates: Array) -> Array:
    """Image positions of the 68 landmarks in the current pose (jaw by landmark marching).

    Parameters
    ----------
    points : (V, 2) or (B, V, 2) projected vertices.
    landmark_indices, jaw_candidates : as for :func:`landmark_vertices` (the pose's
        :func:`marching_table`, or a model's plain lines).

    Returns
    -------
    (68, 2) or (B, 68, 2) array, NaN where the model has no vertex for a landmark. The jaw
    is spaced evenly along the marched outline (:func:`jaw_spacing`) when all 17 jaw
    vertices exist.
    """
    xp = array_namespace(points)
    vertex_ids = landmark_vertices(points, landmark_indices, jaw_candidates)
    safe = xp.where(vertex_ids >= 0, vertex_ids, xp.zeros_like(vertex_ids))
    picked = xp.take_along_axis(points, xp.stack([safe, safe], axis=-1), axis=-2)
    if bool(xp.all(landmark_indices[:17] >= 0)):
        picked = space_jaw(picked, jaw_spacing(picked[..., :17, :]))
    missing = (vertex_ids < 0)[..., None]
    return xp.where(missing, xp.full_like(picked, math.nan), picked)
