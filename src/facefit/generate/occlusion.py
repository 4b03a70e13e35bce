"""Ambient occlusion of a model's mean face: how much of the sky each vertex sees.

The generator draws surface the photo did not see from the fitted albedo. Deep folds the
photo never shows (the inside of the nostrils, which a face tipped back reveals) are then
lit like open skin: pale holes where a photo shows dark ones. Their darkness is geometry,
not colour: little light reaches into a fold. :func:`ambient_occlusion` measures it once per
model from its mean shape, by rendering the mesh from many directions and counting, for each
vertex, the directions of its upper hemisphere from which it is seen (cosine-weighted).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from ..geometry import vertex_normals
from ..polygons import convex_hull, inside_hull
from ..render.rasterize import rasterize
from ..render.visibility import footprint_depths

__all__ = ["OCCLUSION_DIRECTIONS", "ambient_occlusion", "model_occlusion", "sphere_directions"]

#: Directions the mesh is rendered from (evenly spread over the sphere).
OCCLUSION_DIRECTIONS = 64
#: Size of the square views, in pixels; a vertex counts as seen within
#: :data:`SEEN_PIXELS` (times 1 + its depth slope) of the nearest surface there.
VIEW_PIXELS = 256
SEEN_PIXELS = 1.5


def sphere_directions(count: int) -> Any:
    """(count, 3) unit vectors spread evenly over the sphere (a Fibonacci lattice)."""
    index = np.arange(count) + 0.5
    z = 1.0 - 2.0 * index / count
    radius = np.sqrt(1.0 - z * z)
    turn = math.pi * (1.0 + math.sqrt(5.0)) * index
    return np.stack([radius * np.cos(turn), radius * np.sin(turn), z], axis=1)


def ambient_occlusion(vertices: Any, triangles: Any, directions: int = OCCLUSION_DIRECTIONS
                      ) -> Any:
    """(V,) host float64 in [0, 1]: the cosine-weighted share of each vertex's hemisphere
    (around its normal) from which the mesh does not hide it; 1 on open, convex surface.

    Parameters
    ----------
    vertices : (V, 3) host mesh vertices.
    triangles : (T, 3) host triangles.
    directions : how many directions to look from (:func:`sphere_directions`).
    """
    points3 = np.asarray(vertices, dtype=np.float64)
    tris = np.asarray(triangles, dtype=np.int64)
    normals = vertex_normals(points3, tris)
    centre = (points3.max(axis=0) + points3.min(axis=0)) / 2
    radius = float(np.linalg.norm(points3 - centre, axis=1).max())
    scale = (VIEW_PIXELS / 2 - 2) / max(radius, 1e-12)  # every view holds the whole mesh
    seen = np.zeros(len(points3))
    total = np.zeros(len(points3))
    for view in sphere_directions(directions):
        # A camera looking along -view: view is the new +z (toward the camera).
        helper = np.array([1.0, 0.0, 0.0]) if abs(view[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        right = np.cross(helper, view)
        right /= np.linalg.norm(right)
        up = np.cross(view, right)
        turn = np.stack([right, up, view])
        posed = (points3 - centre) @ turn.T * scale
        image = np.stack([posed[:, 0] + VIEW_PIXELS / 2, VIEW_PIXELS / 2 - posed[:, 1]], axis=1)
        raster = rasterize(image, posed[:, 2], tris, (VIEW_PIXELS, VIEW_PIXELS), cull_back=False)
        nearest = np.max(np.asarray(footprint_depths(image, raster)), axis=0)
        # The 2 x 2 pixels around a vertex hold surface up to 1.5 px x its depth slope nearer
        # than the vertex itself: sloping surface would count as hidden behind itself. Pixels
        # the mesh does not cover hide nothing (a vertex on the mesh's edge is seen).
        turned = normals @ turn.T
        slope = np.linalg.norm(turned[:, :2], axis=1) / np.maximum(turned[:, 2], 0.05)
        visible = posed[:, 2] >= nearest - SEEN_PIXELS * (1 + slope)
        facing = np.clip(normals @ view, 0.0, None)
        seen += visible * facing
        total += facing
    return seen / np.maximum(total, 1e-12)


@lru_cache(maxsize=8)
def model_occlusion(model: Any) -> Any:
    """(V,) host float64: :func:`ambient_occlusion` of ``model``'s mean shape, made once per
    model, with the lips open to the sky.

    The mean shape's lips are closed, so their inner surfaces, rolled into the mouth, see
    almost none of it; a sample that opens the mouth shows them in the lips' colour, and
    :mod:`facefit.generate.mouth` draws the dark behind them. Vertices inside the outer lip
    landmarks (48-59) in the frontal view count as unoccluded.
    """
    occlusion = ambient_occlusion(model.mean_shape, model.triangles)
    marks = np.asarray(model.landmark_indices, dtype=np.int64)
    lips = marks[48:60][marks[48:60] >= 0]
    if lips.size >= 3:
        frontal = np.asarray(model.mean_shape, dtype=np.float64)[:, :2]
        occlusion[inside_hull(frontal, convex_hull(frontal[lips]))] = 1.0
    return occlusion
