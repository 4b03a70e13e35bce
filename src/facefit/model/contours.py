"""Jaw-contour candidate lines for landmark marching, computed from any model's mesh.

A 2D annotator puts the 17 jaw landmarks on the visible outline of the face. When the head
turns, that outline slides over the 3D surface, so each jaw landmark gets a *candidate line*:
the vertices of a thin horizontal slice (model space, y up) through its landmark vertex, on the
same side of the face, from part-way toward the centre out to the landmark vertex itself — never
beyond it, so that in a frontal pose the outermost candidate is the annotated vertex. The chin
(landmark 8) gets the vertices of a small vertical band around its vertex.

The rule that picks from a line in a pose lives in :func:`facefit.render.landmark_vertices`:
furthest left in the image for landmarks 0..7 (subject's right side), furthest right for 9..16,
lowest in the image for 8.

:func:`jaw_underside` adds to each side line the vertices just under and behind its landmark
vertex, on the jaw's underside: they join the line only in a pose that shows them to the
camera (their normal facing it by more than :data:`UNDERSIDE_FACING`), where a face seen from
below shows its jaw's lower edge, toward the neck, below the model's jaw line
(:func:`facefit.render.marching_table`).

:func:`respace_jaw` moves a model's jaw landmark vertices along its own jaw line to the 300-W
convention (evenly spaced from the ends to the chin, the ends a little below the eye corners).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..geometry import vertex_normals

__all__ = ["JAW_END_DROP", "UNDERSIDE_BACK", "UNDERSIDE_DROP", "UNDERSIDE_FACING",
           "UNDERSIDE_LINES", "distinct_candidates", "jaw_candidates", "jaw_underside",
           "respace_jaw"]

#: Height of jaw points 0 and 16 below the line of the outer eye corners, in outer-eye-corner
#: distances, where 300-W-style annotators put them on frontal faces: the mean over the three
#: shared annotated photos (astronaut, 300-W image_0010, Grace Hopper) is 0.05 (0.045-0.055
#: leaving any one out). See :func:`respace_jaw`.
JAW_END_DROP = 0.05

#: Jaw lines with an underside (:func:`jaw_underside`): all but the ends and the chin, whose
#: line is already a vertical band.
UNDERSIDE_LINES = (1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15)
#: How far the underside reaches below a jaw landmark vertex (model y), and at most how far
#: behind it (model z), in outer-eye-corner distances of the model (0.11: 10 mm on ICT).
#: Unbounded behind, the lines under the jaw's angle reached back along the neck and the
#: full fits' jaw on a face turned 43 degrees overshot (benchmarks/README.md, issue 18).
UNDERSIDE_DROP = 0.11
UNDERSIDE_BACK = 0.11
#: An underside vertex joins its line in a pose where its mean-shape normal, rotated,
#: faces the camera by more than this (the normal's component toward the camera). At 0.3
#: the near-frontal Grace Hopper photo (pitch -3 degrees) took it and her held-out jaw
#: dropped below the annotation; at 0.5 only the faces seen from below and turned do.
UNDERSIDE_FACING = 0.5


def jaw_candidates(mean_shape: Any, landmark_indices: Any, *, max_length: int = 48,
                   inner_fraction: float = 0.35) -> Any:
    """Candidate lines (17, C) of vertex indices, padded with -1.

    Parameters
    ----------
    mean_shape : (V, 3) model-space vertices (y up).
    landmark_indices : (68,) landmark vertices (iBUG order), -1 where missing.
    max_length : at most this many vertices per line (evenly thinned if more).
    inner_fraction : a side line starts at this fraction of the landmark's distance from the
        face's vertical centre line.

    Returns
    -------
    (17, C) int64; a line of only -1 (missing landmark) keeps the fixed landmark vertex.
    """
    vertices = np.asarray(mean_shape, dtype=np.float64)
    marks = np.asarray(landmark_indices, dtype=np.int64)
    centre_x = _centre_x(vertices, marks)
    jaw = marks[:17]
    known = jaw[jaw >= 0]
    if known.size >= 2:
        heights = np.sort(vertices[known, 1])
        spacing = float(np.median(np.diff(heights))) if heights.size > 2 else float(np.ptp(heights))
    else:
        spacing = float(np.ptp(vertices[:, 1])) / 20
    half = max(spacing / 2, 1e-3 * float(np.ptp(vertices[:, 1])))
    lines: list[np.ndarray] = []
    for k in range(17):
        vertex = int(jaw[k])
        if vertex < 0:
            lines.append(np.zeros(0, dtype=np.int64))
            continue
        x, y = vertices[vertex, 0] - centre_x, vertices[vertex, 1]
        rel_x = vertices[:, 0] - centre_x
        band = np.abs(vertices[:, 1] - y) <= half
        if k == 8 or abs(x) < half:  # the chin: a vertical band around the vertex
            chosen = np.flatnonzero((np.abs(rel_x - x) <= half) & (np.abs(vertices[:, 1] - y)
                                                                  <= 2 * half))
            chosen = chosen[np.argsort(vertices[chosen, 1])]
        else:
            side = np.sign(x)
            reach = side * rel_x
            chosen = np.flatnonzero(band & (reach >= inner_fraction * abs(x))
                                    & (reach <= abs(x) + 1e-9))
            chosen = chosen[np.argsort(-side * rel_x[chosen])]  # outermost first
        if vertex not in chosen:
            chosen = np.concatenate([[vertex], chosen])
        if chosen.size > max_length:
            keep = np.unique(np.round(np.linspace(0, chosen.size - 1, max_length)).astype(int))
            chosen = chosen[keep]
            if vertex not in chosen:
                chosen[0] = vertex
        lines.append(chosen.astype(np.int64))
    return _padded(lines)


def _centre_x(vertices: Any, marks: Any) -> float:
    """Model x of the face's vertical centre line: the median of the nose and mid-lip
    landmark vertices, else the inner landmarks' mean, else the mesh's."""
    centre = marks[[27, 28, 29, 30, 33, 51, 57, 62, 66]]
    if (centre >= 0).all():
        return float(np.median(vertices[centre, 0]))
    inner = marks[17:][marks[17:] >= 0]
    return float(vertices[inner, 0].mean()) if inner.size else float(vertices[:, 0].mean())


def _padded(lines: list[Any]) -> Any:
    """(17, E) int64 table of the vertex lists ``lines``, padded with -1 (E >= 1)."""
    width = max(1, max(line.size for line in lines))
    table = np.full((len(lines), width), -1, dtype=np.int64)
    for k, line in enumerate(lines):
        table[k, : line.size] = line
    return table


def jaw_underside(mean_shape: Any, triangles: Any, landmark_indices: Any, *,
                  drop: float = UNDERSIDE_DROP, back: float = UNDERSIDE_BACK,
                  inner_fraction: float = 0.35, max_length: int = 64) -> tuple[Any, Any]:
    """Underside vertices of the jaw lines (17, E), padded with -1, and their normals.

    For each side line in :data:`UNDERSIDE_LINES`, the vertices on the landmark's side,
    between ``inner_fraction`` of its distance from the face's centre line and the landmark
    vertex itself (model x, as :func:`jaw_candidates`), below it by up to ``drop`` and
    behind it by at most ``back`` (model y, z; in outer-eye-corner distances), not already on
    its line. Seen from the front they lie behind the jaw line and never win the marching;
    :func:`facefit.render.marching_table` lets them compete where they face the camera.

    Parameters
    ----------
    mean_shape : (V, 3) model-space vertices (y up, z toward the face's front).
    triangles : (T, 3) mesh triangles (for the normals).
    landmark_indices : (68,) landmark vertices (iBUG order), -1 where missing.
    drop, back : reach below and behind the landmark vertex, in outer-eye-corner distances.
    inner_fraction : as :func:`jaw_candidates`.
    max_length : at most this many vertices per line (evenly thinned if more).

    Returns
    -------
    table : (17, E) int64 vertex indices padded with -1 (E >= 1; a line of only -1 has none).
    normals : (17, E, 3) float64 unit mean-shape vertex normals, outward (the nose tip's
        points along +z); zero on padding.
    """
    vertices = np.asarray(mean_shape, dtype=np.float64)
    tris = np.asarray(triangles, dtype=np.int64)
    marks = np.asarray(landmark_indices, dtype=np.int64).reshape(-1)
    lines: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * 17
    if marks.shape == (68,) and marks[36] >= 0 and marks[45] >= 0:
        unit = float(np.linalg.norm(vertices[marks[36]] - vertices[marks[45]]))
        own = jaw_candidates(vertices, marks)
        rel_x = vertices[:, 0] - _centre_x(vertices, marks)
        for k in UNDERSIDE_LINES:
            vertex = int(marks[k])
            if vertex < 0:
                continue
            x = float(rel_x[vertex])
            reach = np.sign(x) * rel_x
            below = vertices[vertex, 1] - vertices[:, 1]
            behind = vertices[vertex, 2] - vertices[:, 2]
            chosen = np.flatnonzero((reach >= inner_fraction * abs(x)) & (reach <= abs(x))
                                    & (below > 0) & (below <= drop * unit)
                                    & (behind <= back * unit))
            chosen = np.setdiff1d(chosen, own[k])
            if chosen.size > max_length:
                chosen = chosen[np.round(np.linspace(0, chosen.size - 1, max_length)).astype(int)]
            lines[k] = chosen.astype(np.int64)
    table = _padded(lines)
    normals = vertex_normals(vertices, tris)
    front = int(marks[30]) if marks.shape == (68,) else -1
    if front >= 0 and normals[front, 2] < 0:  # outward: the nose tip's normal along +z
        normals = -normals
    picked = normals[np.where(table >= 0, table, 0)] * (table >= 0)[..., None]
    return table, picked


def distinct_candidates(table: Any) -> tuple[Any, Any]:
    """The distinct vertices (U,) of a candidate table (17, C) padded with -1, and for each
    entry (17 * C, in table order) its place among them (padding: any).

    Most of a table is padding (the ICT lines: 223 vertices in 816 entries; with their
    underside, :func:`jaw_underside`, 731 in 1836): the marching projects only these.
    """
    flat = np.asarray(table, dtype=np.int64).reshape(-1)
    filled = np.where(flat >= 0, flat, max(int(flat.max(initial=0)), 0))
    distinct, where = np.unique(filled, return_inverse=True)
    return distinct.astype(np.int64), where.reshape(-1).astype(np.int64)


def respace_jaw(mean_shape: Any, landmark_indices: Any, *,
                end_drop: float = JAW_END_DROP) -> Any:
    """Landmark vertices (68,) with the jaw (0..16) moved along the model's own jaw line to
    the 300-W convention; the other 51 are returned unchanged.

    300-W annotators space the 17 jaw points evenly along the face outline, from the ends by
    the ears to the chin. A model's jaw vertices need not follow that: ICT's bunch toward the
    chin and start above the eye corners, so a fit to annotated points bends the jaw. Here the
    jaw line is the polyline through the model's jaw vertices, measured in the frontal view
    (x, y). Point 8 (the chin) stays; points 0 and 16 move to where the line's first and last
    segments reach the height ``end_drop`` outer-eye-corner distances below the outer eye
    corners (36, 45), clamped to those segments; points 1..7 and 9..15 are spaced evenly
    along the line between the end and the chin, each side on its own. Each new point takes
    the mesh vertex nearest (3D) to its place on the line.

    Parameters
    ----------
    mean_shape : (V, 3) model-space vertices (y up).
    landmark_indices : (68,) landmark vertices (iBUG order), -1 where missing.
    end_drop : height of the ends below the outer eye corners, in eye-corner distances.

    Returns
    -------
    (68,) int64 vertex indices; the input unchanged where a jaw or outer-eye-corner vertex is
    missing or two consecutive jaw vertices coincide in the frontal view.
    """
    vertices = np.asarray(mean_shape, dtype=np.float64)
    marks = np.asarray(landmark_indices, dtype=np.int64).reshape(-1).copy()
    if marks.shape != (68,) or (marks[:17] < 0).any() or marks[36] < 0 or marks[45] < 0:
        return marks
    line = vertices[marks[:17]]  # (17, 3)
    step = np.linalg.norm(np.diff(line[:, :2], axis=0), axis=1)  # (16,) frontal lengths
    if (step <= 0).any():
        return marks
    arc = np.concatenate([[0.0], np.cumsum(step)])  # (17,) frontal arc length at each point
    corners = vertices[marks[[36, 45]]]
    end_y = float(corners[:, 1].mean()) - end_drop * float(np.linalg.norm(corners[0] - corners[1]))

    def end_place(end: int, inner: int) -> float:
        # Arc length where the end segment end-inner reaches the height end_y.
        rise = line[end, 1] - line[inner, 1]
        share = float(np.clip((line[end, 1] - end_y) / rise, 0.0, 1.0)) if rise != 0 else 0.0
        return float(arc[end] + (1 if inner > end else -1) * share * step[min(end, inner)])

    places = np.concatenate([np.linspace(end_place(0, 1), arc[8], 9),
                             np.linspace(arc[8], end_place(16, 15), 9)[1:]])  # (17,)
    for k, place in enumerate(places):
        if k == 8:
            continue
        segment = int(np.clip(np.searchsorted(arc, place, side="right") - 1, 0, 15))
        share = (place - arc[segment]) / step[segment]
        point = (1 - share) * line[segment] + share * line[segment + 1]
        marks[k] = int(np.argmin(np.sum((vertices - point) ** 2, axis=1)))
    return marks
