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
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["jaw_candidates"]


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
    inner = marks[17:][marks[17:] >= 0]
    centre_x = float(np.median(vertices[marks[[27, 28, 29, 30, 33, 51, 57, 62, 66]], 0])) if (
        marks[[27, 28, 29, 30, 33, 51, 57, 62, 66]] >= 0).all() else float(
        vertices[inner, 0].mean()) if inner.size else float(vertices[:, 0].mean())
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
    width = max(1, max(line.size for line in lines))
    table = np.full((17, width), -1, dtype=np.int64)
    for k, line in enumerate(lines):
        table[k, : line.size] = line
    return table
