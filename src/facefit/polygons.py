"""Plane polygons: the convex hull of a point set, which points lie inside one, and where
lines cross one.

The hull and the inside test are host-side: an outline is made once from a few hundred
points, the photo's annotated face outline (:mod:`facefit.bench.fidelity`), the model's
frontal outline (:mod:`facefit.model.regions`) and a detector's face outline
(:attr:`facefit.detect.DetectedFace.outline`). :func:`line_crossings` is array-API code: the
contour term calls it on its backend every round, the detector's jaw placement on the host.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backends import array_namespace

__all__ = ["convex_hull", "inside_hull", "line_crossings"]


def convex_hull(points: Any) -> Any:
    """(P, 2) host float64 vertices of the convex hull of (N, 2) points, counter-clockwise in
    a y-up frame (clockwise on an image's y-down pixels), collinear points dropped (Andrew's
    monotone chain); NaN points are ignored."""
    pts = np.asarray(points, dtype=np.float64)
    pts = pts[~np.isnan(pts).any(axis=1)]
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]

    def half(sequence: Any) -> list[Any]:
        chain: list[Any] = []
        for p in sequence:
            while len(chain) >= 2:
                a, b = chain[-2], chain[-1]
                if (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) > 0:
                    break
                chain.pop()
            chain.append(p)
        return chain

    return np.asarray(half(pts)[:-1] + half(pts[::-1])[:-1])


def inside_hull(points: Any, hull: Any, tolerance: float = 1e-9) -> Any:
    """(N,) bool: which of (N, 2) ``points`` lie inside or on a convex polygon ``hull`` (P, 2),
    its corners in order (either winding; :func:`convex_hull` gives them); False for NaN
    points. A point within ``tolerance`` (in units of the edges' cross products) of an edge's
    line counts as on it."""
    pts = np.asarray(points, dtype=np.float64)
    corners = np.asarray(hull, dtype=np.float64)
    edges = np.roll(corners, -1, axis=0) - corners  # (P, 2)
    rel = pts[:, None, :] - corners[None, :, :]  # (N, P, 2)
    cross = edges[None, :, 0] * rel[..., 1] - edges[None, :, 1] * rel[..., 0]  # (N, P)
    with np.errstate(invalid="ignore"):
        inside = (cross >= -tolerance).all(axis=1) | (cross <= tolerance).all(axis=1)
    return inside & ~np.isnan(pts).any(axis=1)


def line_crossings(origins: Any, directions: Any, corners: Any) -> tuple[Any, Any, Any]:
    """Where the lines ``origins + t * directions`` ((J, 2) each) cross the edges of a closed
    polygon: ``corners`` (P, 2) in order, edge k running from corner k to corner k + 1 and the
    last back to the first.

    Returns
    -------
    t : (J, P) each line's parameter where it meets each edge's line.
    u : (J, P) where that is along the edge: 0 at its first corner, 1 at its second.
    crossing : (J, P) bool: the line crosses the edge itself (not parallel, 0 <= u <= 1).
        Where a line is parallel to an edge, ``t`` and ``u`` are finite and meaningless.
    """
    xp = array_namespace(origins, directions, corners)
    edge = (xp.roll(corners, -1, axis=0) - corners)[None, ...]  # (1, P, 2)
    d = directions[:, None, :]  # (J, 1, 2)
    r = corners[None, ...] - origins[:, None, :]  # (J, P, 2)
    # origins + t d = corner + u edge: Cramer's rule on [d, -edge] [t, u]^T = r.
    det = edge[..., 0] * d[..., 1] - edge[..., 1] * d[..., 0]  # (J, P)
    parallel = xp.abs(det) < 1e-12
    det = xp.where(parallel, xp.ones_like(det), det)
    t = (edge[..., 0] * r[..., 1] - edge[..., 1] * r[..., 0]) / det
    u = (d[..., 0] * r[..., 1] - d[..., 1] * r[..., 0]) / det
    return t, u, ~parallel & (u >= 0) & (u <= 1)
