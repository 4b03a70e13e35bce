"""The face a 300-W annotator would outline, as a region of any model's mesh.

A 68-point annotation outlines the jaw from ear to ear (points 0..16) and stops at the brows;
a face crop adds the lower forehead. A model's mesh usually reaches further — the ICT narrow
face runs 3 cm above the brows to the hairline, 3 cm under the chin, and back from the jaw
line toward the ears — and whatever of it is rendered and fitted lands on hair, neck and ears
in a photo (issue 18). This module cuts the mesh along that outline, on the surface:

1. the *outline loop*: the jaw landmark vertices 0..16, then up the face's side to a
   vertex above brow point 26, along vertices above the brows from 26 back to 17, and down
   to jaw point 0. Consecutive loop vertices are joined by mesh paths (a greedy walk toward
   the next vertex, breadth-first search where the walk stalls).
2. the *face*: the loop's vertices and every vertex the nose tip reaches without crossing the
   loop. On a disc-like mesh, a closed path of edges separates it (edges meet only at
   vertices), so this is exactly the inside of the outline.
3. the *frontal outline*: in the frontal view, the convex hull of the landmark vertices and
   of the brow points lifted by :data:`FOREHEAD_FRACTION` times the model's eye-nose distance
   — the same rule as the photo's outline in :mod:`facefit.bench.fidelity`. Face vertices
   above the jaw line's ends and outside it (the upper forehead, the temples' bulge) leave the
   face. (The loop runs a little higher, :data:`_LOOP_LIFT`, so that this straight cut, not
   the mesh path's zigzag, is the face's top edge.)

The rest keeps a label by where it lies, for generation, which may still want it:
:data:`FOREHEAD` (above the brows), :data:`UNDER_CHIN` (below the jaw line) or :data:`SIDE`
(behind the jaw line, toward the ears).

Host precompute (NumPy), a few milliseconds for the ICT mesh; kept with the model's arrays by
:func:`face_region`.
"""

from __future__ import annotations

from collections import deque
from itertools import pairwise
from typing import Any

import numpy as np

from ..polygons import convex_hull, inside_hull

__all__ = ["FACE", "FOREHEAD", "FOREHEAD_FRACTION", "REGION_NAMES", "SIDE", "UNDER_CHIN",
           "face_region", "region_labels"]

#: Region labels of :func:`region_labels`.
FACE, FOREHEAD, UNDER_CHIN, SIDE = 0, 1, 2, 3
REGION_NAMES = ("face", "forehead", "under-chin", "side")
#: How far above the brows the face reaches, in eye-nose distances (the eye centres'
#: midpoint to the nose tip, landmark 30). Kept equal to the photo outline's rule
#: (:data:`facefit.bench.fidelity.FOREHEAD_FRACTION`), so the model covers what is measured.
FOREHEAD_FRACTION = 0.5
#: A cut keeping less of the mesh than this, or losing a landmark vertex, is not trusted.
MIN_FACE_SHARE = 0.3
#: The loop's forehead vertices sit this many eye-nose distances above the forehead line.
_LOOP_LIFT = 0.2


def _adjacency(triangles: Any, n_vertices: int) -> tuple[Any, Any]:
    """CSR neighbour lists ``(starts, neighbours)`` of the mesh's edge graph."""
    tris = np.asarray(triangles, dtype=np.int64)
    first = np.concatenate([tris[:, 0], tris[:, 1], tris[:, 2], tris[:, 1], tris[:, 2],
                            tris[:, 0]])
    second = np.concatenate([tris[:, 1], tris[:, 2], tris[:, 0], tris[:, 0], tris[:, 1],
                             tris[:, 2]])
    pairs = np.sort(first * n_vertices + second)  # distinct by a sort (see _sorted_distinct)
    pairs = pairs[np.concatenate([[True], pairs[1:] != pairs[:-1]])]
    source, target = pairs // n_vertices, pairs % n_vertices
    starts = np.searchsorted(source, np.arange(n_vertices + 1))
    return starts, target


def _path(start: int, goal: int, vertices: Any, graph: tuple[Any, Any]) -> list[int]:
    """Vertices from ``start`` to ``goal`` along edges: greedy toward the goal, else BFS."""
    starts, neighbours = graph
    path = [start]
    current = start
    seen = {start}
    while current != goal:
        around = neighbours[starts[current]:starts[current + 1]]
        distance = ((vertices[around] - vertices[goal]) ** 2).sum(axis=1)
        best = int(around[int(np.argmin(distance))])
        here = float(((vertices[current] - vertices[goal]) ** 2).sum())
        if best in seen or float(distance.min()) >= here:
            return _breadth_first(start, goal, graph)
        path.append(best)
        seen.add(best)
        current = best
    return path


def _breadth_first(start: int, goal: int, graph: tuple[Any, Any]) -> list[int]:
    starts, neighbours = graph
    parent = {start: start}
    queue = deque([start])
    while queue:
        vertex = queue.popleft()
        if vertex == goal:
            break
        for other in neighbours[starts[vertex]:starts[vertex + 1]]:
            other = int(other)
            if other not in parent:
                parent[other] = vertex
                queue.append(other)
    if goal not in parent:
        raise ValueError(f"mesh vertices {start} and {goal} are not connected")
    path = [goal]
    while path[-1] != start:
        path.append(parent[path[-1]])
    return path[::-1]


def _flood(seed: int, blocked: Any, graph: tuple[Any, Any]) -> Any:
    """(V,) bool: the vertices ``seed`` reaches along edges without entering ``blocked``."""
    starts, neighbours = graph
    reached = np.zeros(blocked.shape[0], dtype=bool)
    reached[seed] = True
    frontier = np.array([seed])
    counts = np.diff(starts)
    # Each layer's neighbours are marked in a (V,) mask, not deduplicated with np.unique:
    # a sort per layer made this flood most of the face region's first-fit cost.
    marked = np.zeros(blocked.shape[0], dtype=bool)
    while frontier.size:
        spans = np.repeat(starts[frontier], counts[frontier]) + (
            np.arange(int(counts[frontier].sum()))
            - np.repeat(np.cumsum(counts[frontier]) - counts[frontier], counts[frontier]))
        marked[:] = False
        marked[neighbours[spans]] = True
        marked &= ~reached
        marked &= ~blocked
        frontier = np.flatnonzero(marked)
        reached[frontier] = True
    return reached


def _forehead_points(vertices: Any, marks: Any, fraction: float) -> Any:
    """(10, 2) frontal-view points: brow points 17..26 lifted ``fraction`` eye-nose
    distances toward the eyes' midpoint from the nose tip (as the photo's outline)."""
    eyes = 0.5 * (vertices[marks[36:42]].mean(axis=0) + vertices[marks[42:48]].mean(axis=0))
    up = (eyes - vertices[marks[30]])[:2]
    return vertices[marks[17:27], :2] + fraction * up


def _forehead_vertices(vertices: Any, triangles: Any, targets: Any) -> Any:
    """(10,) front-facing vertices nearest (frontal view) to the (10, 2) ``targets``."""
    from ..geometry import vertex_normals

    normals = vertex_normals(vertices, np.asarray(triangles, dtype=np.int64))
    front = np.flatnonzero(normals[:, 2] > 0.5)
    chosen = []
    for target in targets:
        distance = ((vertices[front, :2] - target) ** 2).sum(axis=1)
        chosen.append(int(front[int(np.argmin(distance))]))
    return np.asarray(chosen, dtype=np.int64)


def region_labels(mean_shape: Any, triangles: Any, landmark_indices: Any, *,
                  forehead: float = FOREHEAD_FRACTION) -> Any:
    """(V,) int8 region of each vertex: :data:`FACE`, :data:`FOREHEAD`, :data:`UNDER_CHIN`
    or :data:`SIDE`; all :data:`FACE` when the model lacks a jaw, brow, eye or nose-tip
    landmark vertex (the outline cannot be drawn), or when the cut would lose a landmark
    vertex or keep less than :data:`MIN_FACE_SHARE` of the mesh (not a face-like mesh): the
    whole mesh stays the face.

    Parameters
    ----------
    mean_shape : (V, 3) model-space vertices (y up, +z toward the camera).
    triangles : (T, 3) int.
    landmark_indices : (68,) iBUG landmark vertices, -1 where missing.
    forehead : reach above the brows, in eye-nose distances.
    """
    vertices = np.asarray(mean_shape, dtype=np.float64)
    marks = np.asarray(landmark_indices, dtype=np.int64)
    n_vertices = vertices.shape[0]
    labels = np.zeros(n_vertices, dtype=np.int8)
    needed = np.r_[0:27, 30, 36:48]
    if (marks[needed] < 0).any():
        return labels
    graph = _adjacency(triangles, n_vertices)
    brows = _forehead_vertices(vertices, triangles,
                               _forehead_points(vertices, marks, forehead + _LOOP_LIFT))
    corners = [*marks[:17].tolist(), *brows[::-1].tolist(), int(marks[0])]
    loop: list[int] = []
    for start, goal in pairwise(corners):
        loop.extend(_path(int(start), int(goal), vertices, graph)[:-1])
    blocked = np.zeros(n_vertices, dtype=bool)
    blocked[loop] = True
    inside = _flood(int(marks[30]), blocked, graph) | blocked
    # Above the jaw line's ends, the frontal view's outline is the photo's: the convex hull of
    # the landmarks and the forehead points (straight across the forehead and the temples).
    hull = convex_hull(np.concatenate([vertices[marks, :2],
                                       _forehead_points(vertices, marks, forehead)]))
    upper = vertices[:, 1] > min(vertices[marks[0], 1], vertices[marks[16], 1])
    inside &= ~upper | inside_hull(vertices[:, :2], hull)
    if not inside[marks].all() or inside.sum() < MIN_FACE_SHARE * n_vertices:
        return labels  # not a face-like mesh (a test dome, a partial scan): keep it whole
    # Outside: above the brows' lowest forehead point is forehead; below the jaw line (the
    # line through the jaw points, by x) under the chin; the rest lies behind the jaw line.
    jaw = vertices[marks[:17]]
    order = np.argsort(jaw[:, 0])
    jaw_height = np.interp(vertices[:, 0], jaw[order, 0], jaw[order, 1])
    brow_height = vertices[marks[17:27], 1].min()
    outside = ~inside
    labels[outside] = SIDE
    labels[outside & (vertices[:, 1] > brow_height)] = FOREHEAD
    labels[outside & (vertices[:, 1] < jaw_height) & (vertices[:, 1] < vertices[marks[0], 1])
           & (vertices[:, 1] < vertices[marks[16], 1])] = UNDER_CHIN
    return labels


def face_region(model: Any, backend: Any = None) -> dict[str, Any]:
    """The face region of ``model``, kept with its arrays on ``backend`` (default: active).

    Cut along ``model.outline_indices`` where the model has them, else along its jaw
    landmark vertices.

    Returns
    -------
    dict with ``labels`` (V,) int8 host region labels (see :func:`region_labels`),
    ``vertices`` (V,) bool backend array (in the face), ``triangles`` (T_face, 3) backend
    int64 triangles with every corner in the face, and ``rest`` (T - T_face, 3) the others.
    """
    from ..backends import get_backend

    backend = backend or get_backend()
    arrays = model.arrays(backend)

    def build() -> dict[str, Any]:
        marks = np.asarray(model.landmark_indices).copy()
        outline = getattr(model, "outline_indices", None)
        if outline is not None:  # the jaw line the region is cut along, if the model says
            marks[:17] = outline
        labels = region_labels(model.mean_shape, model.triangles, marks)
        face = labels == FACE
        tris = np.asarray(model.triangles, dtype=np.int64)
        keep = face[tris].all(axis=1)
        return {"labels": labels, "vertices": backend.asarray(face),
                "triangles": backend.asarray(tris[keep]), "rest": backend.asarray(tris[~keep])}

    keep = getattr(arrays, "derived", None)
    return build() if keep is None else keep("face region", build)
