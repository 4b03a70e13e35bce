"""The 17 jaw points a 300-W annotator marks, read off a detected face's outline.

MediaPipe's jaw points are mesh vertices mapped by a fixed table: as the head turns they slide
inward across the face, while 300-W's annotators follow the face's visible edge. The mesh's
outline (its convex hull, :attr:`facefit.detect.DetectedFace.outline`) does stay on the edge,
so the jaw is placed on it the way 300-W places it (as :func:`facefit.model.respace_jaw` does
on the model's own jaw line):

- the chin (point 8) halfway along the outline between where the face's midline, from the nose
  bridge (27) through the centre of the lower lip (57), leaves it and its lowest point (down
  being perpendicular to the eye line; :data:`CHIN_SHARE`);
- the ends (0 and 16) where lines from the outer eye corners (36, 45), lowered by
  :data:`facefit.model.contours.JAW_END_DROP` eye-corner distances, leave the outline
  outward along the eye line;
- points 1-7 and 9-15 evenly spaced along the outline between each end and the chin.

Host-side NumPy, like the detectors: it runs once per detected face.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..model.contours import JAW_END_DROP
from ..polygons import line_crossings

__all__ = ["CHIN_SHARE", "outline_jaw"]

#: Where the chin lies between the midline's exit from the outline (0) and the outline's
#: lowest point (1). The two coincide on a frontal face; on a turned one the
#: first falls short of the chin's tip and the second past it: against the exact chins of
#: generated samples turned 32-45 degrees, 0.10-0.16 and 0.12-0.20 eye distances across the
#: face, and 0.00-0.04 halfway between.
CHIN_SHARE = 0.5


def _exit_position(origin: Any, direction: Any, corners: Any, cumulative: Any) -> float | None:
    """Arc-length position on the closed polygon ``corners`` where the ray ``origin +
    t * direction`` (t > 0) leaves it: its farthest crossing (from inside a convex polygon the
    only one). None when the ray misses the polygon."""
    t, u, crossing = line_crossings(origin[None, :], direction[None, :], corners)
    t, u = t[0], u[0]
    hit = crossing[0] & (t > 0)
    if not hit.any():
        return None
    k = int(np.flatnonzero(hit)[np.argmax(t[hit])])
    return float(cumulative[k] + u[k] * (cumulative[k + 1] - cumulative[k]))


def _points_at(corners: Any, cumulative: Any, positions: Any) -> Any:
    """(N, 2) points of the closed polygon at arc-length ``positions`` (any real values,
    taken modulo the perimeter)."""
    closed = np.concatenate([corners, corners[:1]])
    s = np.mod(positions, cumulative[-1])
    return np.stack([np.interp(s, cumulative, closed[:, 0]),
                     np.interp(s, cumulative, closed[:, 1])], axis=-1)


def outline_jaw(landmarks: Any, outline: Any, end_drop: float = JAW_END_DROP) -> Any:
    """The 17 jaw points on a face's ``outline``, placed by 300-W's convention (see the module
    docstring) from the face's inner points.

    Parameters
    ----------
    landmarks : (68, 2) iBUG points in pixels; points 27, 36, 45 and 57 are used.
    outline : (P, 2) a closed convex polygon around the face (either winding), P >= 3.
    end_drop : how far below the outer eye corners the ends lie, in eye-corner distances.

    Returns
    -------
    (17, 2) float64 jaw points, 0 to 16; None when the points or the outline cannot place
    them (a needed point missing, the eye corners coinciding, a degenerate outline, or a line
    that does not leave it).
    """
    points = np.asarray(landmarks, dtype=np.float64)
    corners = np.asarray(outline, dtype=np.float64)
    needed = points[[27, 36, 45, 57]]
    if corners.ndim != 2 or corners.shape[0] < 3 or not np.isfinite(corners).all() \
            or not np.isfinite(needed).all():
        return None
    across = points[45] - points[36]
    eyes = float(np.hypot(*across))
    midline = points[57] - points[27]
    length = float(np.hypot(*midline))
    if eyes == 0.0 or length == 0.0:
        return None
    across, midline = across / eyes, midline / length
    down = np.array([-across[1], across[0]])  # image y grows downward: this points chin-ward
    steps = np.hypot(*(np.roll(corners, -1, axis=0) - corners).T)
    cumulative = np.concatenate([[0.0], np.cumsum(steps)])
    perimeter = float(cumulative[-1])
    if perimeter == 0.0:
        return None
    chin = _exit_position(points[57], midline, corners, cumulative)
    first_end = _exit_position(points[36] + end_drop * eyes * down, -across, corners,
                               cumulative)
    last_end = _exit_position(points[45] + end_drop * eyes * down, across, corners, cumulative)
    if chin is None or first_end is None or last_end is None:
        return None
    ends = (first_end, last_end)
    # On a turned face the midline leaves the outline short of the chin's tip and the
    # outline's lowest point lies past it: the chin is taken halfway between, along the
    # outline (the shorter way round).
    lowest = float(cumulative[int(np.argmax(corners @ down))])
    chin = (chin + CHIN_SHARE * ((lowest - chin + perimeter / 2) % perimeter - perimeter / 2)) \
        % perimeter
    # Each half runs from the chin the way that meets its own end before the other one.
    ahead = [np.mod(end - chin, perimeter) for end in ends]
    toward_first = 1.0 if ahead[0] < ahead[1] else -1.0
    spans = [ahead[0] if toward_first > 0 else perimeter - ahead[0],
             perimeter - ahead[1] if toward_first > 0 else ahead[1]]
    share = np.linspace(0.0, 1.0, 9)
    first = chin + toward_first * spans[0] * share[::-1]  # point 0 (an end) ... point 8
    second = chin - toward_first * spans[1] * share[1:]  # points 9 ... 16
    return _points_at(corners, cumulative, np.concatenate([first, second]))
