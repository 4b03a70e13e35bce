"""Host-side precompute of the generator (NumPy/SciPy), made once per photo or per model.

- :func:`delaunay`: the head warp's triangulation of its anchors in the photo
  (:mod:`facefit.generate.profiling`);
- :func:`mirror_vertices`: each vertex's mirror image across the model's symmetry plane
  (:mod:`facefit.generate.synthesis`, for skin the photo did not see);
- :func:`fill_holes`: a mask with its holes filled (:mod:`facefit.generate.quality`, measuring
  the outer outline only);
- :func:`warp_mesh`: the head warp's anchors (seen head vertices and hair rings around the
  head's silhouette) and their triangulation (:mod:`facefit.generate.profiling`);
- :func:`boundary_loops`, :func:`hole_loop`: a mesh's holes, the rim of the one between the
  lips (:mod:`facefit.generate.mouth`) or in an eye (:mod:`facefit.generate.eyes`);
- :func:`eye_caps`: the fans that close the eye holes;
- :func:`grain`: the photo's grain, to put back where the head warp blurs a stretched strip
  (:mod:`facefit.generate.profiling`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import FacefitError

__all__ = ["boundary_loops", "delaunay", "eye_caps", "fill_holes", "grain", "hole_loop",
           "mirror_vertices", "warp_mesh"]

#: The grain's spread as a fraction of the photo's finest detail's (see :func:`grain`).
GRAIN = 0.5


def delaunay(points: Any) -> Any:
    """Delaunay triangles of (M, 2) host points, wound as the rasterizer's front faces (clockwise
    in the y-down image), degenerate ones dropped; (T, 3) int64."""
    from scipy.spatial import Delaunay

    triangles = Delaunay(points).simplices.astype(np.int64)
    corners = points[triangles]
    area = ((corners[:, 1, 0] - corners[:, 0, 0]) * (corners[:, 2, 1] - corners[:, 0, 1])
            - (corners[:, 2, 0] - corners[:, 0, 0]) * (corners[:, 1, 1] - corners[:, 0, 1]))
    triangles = np.where((area > 0)[:, None], triangles[:, ::-1], triangles)
    return triangles[area != 0]


@lru_cache(maxsize=8)
def _mirror_for(model: Any) -> Any:
    from scipy.spatial import cKDTree

    mean = np.asarray(model.mean_shape, dtype=np.float64)
    centre = mean[:, 0].mean()
    mirrored = mean * np.asarray([-1.0, 1.0, 1.0]) + np.asarray([2 * centre, 0.0, 0.0])
    return cKDTree(mean).query(mirrored)[1].astype(np.int64)


def mirror_vertices(model: Any) -> Any:
    """(V,) host index of each vertex's mirror image across the model's x = centre plane (the
    nearest vertex to the mirrored position; models are built left-right symmetric)."""
    return _mirror_for(model)


def fill_holes(mask: Any) -> Any:
    """(H, W) host bool ``mask`` with its holes (regions not connected to the border) filled."""
    from scipy.ndimage import binary_fill_holes

    return binary_fill_holes(np.asarray(mask, dtype=bool))


def grain(photo: Any, box: tuple[int, int, int, int], seed: int = 0) -> Any:
    """(H, W, 1) grey noise like the photo's grain, from its finest detail inside ``box``.

    ``box`` = (top, bottom, left, right), the face. The photo's finest detail is its grey minus
    its 1-pixel blur; its robust spread (1.4826 x the median absolute deviation) holds the
    face's own texture (pores, freckles, edges) as well as grain, so the noise gets half of it
    (at the full spread, a pale revealed cheek looked dusty). The noise is white noise blurred
    by 0.6 pixels (a camera's grain spans about a pixel). Fixed by ``seed``: the same photo
    gets the same grain.
    """
    from scipy.ndimage import gaussian_filter

    grey = np.asarray(photo, dtype=np.float64).mean(axis=2)
    top, bottom, left, right = box
    fine = (grey - gaussian_filter(grey, 1.0, mode="nearest"))[top:bottom, left:right]
    level = 1.4826 * float(np.median(np.abs(fine - np.median(fine)))) if fine.size else 0.0
    noise = gaussian_filter(np.random.default_rng(seed).standard_normal(grey.shape), 0.6)
    return (noise * (GRAIN * level / max(float(noise.std()), 1e-12)))[..., None]


def _silhouette(points: Any, depth: Any, follow: Any, centre: Any, bins: int
                ) -> tuple[Any, Any, Any]:
    """Per angular bin around ``centre``: distance of the farthest point, its depth and follow
    weight (empty bins take their nearest neighbours')."""
    offset = points - centre
    angle = np.arctan2(offset[:, 1], offset[:, 0])
    radius = np.hypot(offset[:, 0], offset[:, 1])
    which = ((angle + math.pi) / (2 * math.pi) * bins).astype(np.int64) % bins
    far = np.full(bins, -1.0)
    far_depth = np.zeros(bins)
    far_follow = np.zeros(bins)
    order = np.argsort(radius)  # the last write per bin is the farthest point
    far[which[order]] = radius[order]
    far_depth[which[order]] = depth[order]
    far_follow[which[order]] = follow[order]
    filled = np.flatnonzero(far >= 0)
    if filled.size == 0:
        raise FacefitError("head profiling: no head vertex is visible in the photo")
    for k in np.flatnonzero(far < 0):  # circular nearest filled bin
        gap = np.abs((filled - k + bins // 2) % bins - bins // 2)
        nearest = filled[np.argmin(gap)]
        far[k], far_depth[k], far_follow[k] = far[nearest], far_depth[nearest], far_follow[nearest]
    return far, far_depth, far_follow


def warp_mesh(source: Any, seen: Any, follow: Any, size: tuple[int, int],
              rings: Sequence[tuple[float, float]], bins: int
              ) -> tuple[Any, Any, Any, Any, Any]:
    """The head warp's image mesh in the photo (:class:`facefit.generate.profiling.HeadWarp`).

    Parameters
    ----------
    source : (N, 3) head vertices in the photo (x, y, depth); seen : (N,) bool, the anchors
        among them; follow : (N,) how much each follows the head.
    size : (H, W) of the photo.
    rings : (radius factor, follow) of each hair ring; bins : anchors per ring.

    Returns
    -------
    seen_ids : (S,) ids of the seen vertices.
    anchors : (R * bins, 3) ring anchors (x, y, depth) in the photo.
    ring_follow : (R * bins,) how much each ring anchor follows the head.
    planar : (S + R * bins, 2) every anchor's photo position (seen vertices first).
    mesh : (T, 3) Delaunay triangles over ``planar``.
    """
    host = np.asarray(source, dtype=np.float64)
    follow = np.asarray(follow, dtype=np.float64)
    seen_ids = np.flatnonzero(np.asarray(seen, dtype=bool))
    centre = host[seen_ids, 0:2].mean(axis=0)
    far, far_depth, far_follow = _silhouette(host[seen_ids, 0:2], host[seen_ids, 2],
                                             follow[seen_ids], centre, bins)
    angles = (np.arange(bins) + 0.5) / bins * 2 * math.pi - math.pi
    direction = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    placed, moves = [], []
    # Ring anchors sit a little behind the silhouette they extend, so the head wins the
    # z-buffer where they meet.
    behind = 0.1 * float(np.median(far))
    for factor, follows in rings:
        position = centre + direction * (far * factor)[:, None]
        placed.append(np.concatenate([position, (far_depth - behind * factor)[:, None]], axis=1))
        moves.append(follows * far_follow)
    # Rings are clipped to the image: the photo has nothing to carry beyond its border
    # (sampling there would smear the edge pixels inward). Anchors clipped onto the same point
    # are duplicates, which the triangulation leaves unused. Clipped anchors stand still: they
    # are on the mesh's outer boundary, which must stay put for the culled warp to cover every
    # pixel inside it.
    anchors = np.concatenate(placed)
    height, width = size
    clipped = ((anchors[:, 0] < 0) | (anchors[:, 0] > width - 1)
               | (anchors[:, 1] < 0) | (anchors[:, 1] > height - 1))
    anchors[:, 0] = np.clip(anchors[:, 0], 0.0, width - 1.0)
    anchors[:, 1] = np.clip(anchors[:, 1], 0.0, height - 1.0)
    # Rings reaching below the jaw (shoulders, collar) stay with the body: along the head's down
    # axis (from the head's centre toward the neck), a ring's follow fades to 0 over 30% of the
    # head's radius above the lowest vertex that turns fully (the jaw).
    turning = follow[seen_ids] >= 1.0
    neck = host[seen_ids[~turning], 0:2]
    head = host[seen_ids[turning], 0:2]
    if neck.shape[0] and head.shape[0]:
        down = neck.mean(axis=0) - head.mean(axis=0)
        down /= max(float(np.hypot(*down)), 1e-9)
        level = float((head @ down).max())
        below = (anchors[:, 0:2] @ down - level) / (0.3 * float(np.median(far)))
        fade = np.clip(-below, 0.0, 1.0)
    else:
        fade = np.ones(anchors.shape[0])
    ring_follow = np.where(clipped, 0.0, np.concatenate(moves) * fade)
    planar = np.concatenate([host[seen_ids, 0:2], anchors[:, 0:2]])
    return seen_ids, anchors, ring_follow, planar, delaunay(planar)


def boundary_loops(triangles: Any) -> list[list[int]]:
    """The boundary loops of a triangle mesh, each as an ordered vertex list."""
    triangles = np.asarray(triangles)
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    key = np.sort(edges, axis=1)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    boundary = edges[counts[inverse.reshape(-1)] == 1]
    following = {int(a): int(b) for a, b in boundary}
    loops, done = [], set()
    for start in following:
        if start in done:
            continue
        loop, vertex = [], start
        while vertex not in done and vertex in following:
            done.add(vertex)
            loop.append(vertex)
            vertex = following[vertex]
        loops.append(loop)
    return loops


def hole_loop(mean: Any, triangles: Any, rim_points: Any, corners: Any) -> Any:
    """(L,) indices of the rim of the mesh's hole around some landmark vertices, in order (the
    direction of the triangles' own edges); None when there is none.

    The hole is the boundary loop whose centre (seen from the front) is nearest the
    ``rim_points`` vertices' (the inner lip's landmarks for the mouth, an eye's for an eye),
    accepted when within a quarter of the feature's width (between the ``corners`` vertices)
    and at most twice as wide as the feature (the face's outer outline is not a mouth).
    """
    inner_lip = rim_points
    mean = np.asarray(mean)
    loops = boundary_loops(triangles)
    if not loops:
        return None
    target = mean[np.asarray(inner_lip), :2].mean(axis=0)
    width = float(np.linalg.norm(mean[corners[0], :2] - mean[corners[1], :2]))
    best = min(loops, key=lambda loop: float(np.linalg.norm(mean[loop, :2].mean(axis=0)
                                                            - target)))
    span = float(np.ptp(mean[best, 0]))
    if (np.linalg.norm(mean[best, :2].mean(axis=0) - target) > 0.25 * width
            or span > 2 * width):
        return None
    return np.asarray(best, dtype=np.int64)


#: iBUG landmarks of each eye (0-based): the subject's right eye, then the left.
EYES = (tuple(range(36, 42)), tuple(range(42, 48)))


@lru_cache(maxsize=8)
def eye_caps(model: Any) -> tuple[list[Any], Any]:
    """Fans closing the mesh's eye holes (:mod:`facefit.generate.eyes`), host arrays.

    Returns
    -------
    rims : per eye hole, (L,) indices of its rim, in the triangles' edge direction (empty
        when the mesh is closed over the eyes, as the Basel model's).
    fans : (C, 3) triangles over the V model vertices, then per eye its rim's L copies and its
        centre; wound as the model's; None without holes.
    """
    indices = np.asarray(model.landmark_indices)
    rims, fans, first = [], [], int(model.n_vertices)
    for eye in EYES:
        points = [int(indices[k]) for k in eye]
        if min(points) < 0:
            continue
        loop = hole_loop(model.mean_shape, model.triangles, points, [points[0], points[3]])
        if loop is None:
            continue
        copies = np.arange(first, first + loop.shape[0])
        centre = first + loop.shape[0]
        # The rim edge a -> b belongs to a face triangle, so the cap takes it as b -> a.
        fans.append(np.stack([np.roll(copies, -1), copies, np.full_like(copies, centre)],
                             axis=1))
        rims.append(loop)
        first = centre + 1
    return rims, (np.concatenate(fans) if fans else None)
