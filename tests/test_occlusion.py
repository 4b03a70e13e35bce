"""Ambient occlusion of a mesh (generate/occlusion.py): folds see less sky than open skin."""

from __future__ import annotations

import numpy as np
import pytest

import facefit as ff
from facefit.generate.occlusion import ambient_occlusion, model_occlusion, sphere_directions


def _grid(n: int = 21, depth=None):
    """A square (n x n vertices, side 2) in the x-y plane facing +z, each vertex lowered by
    ``depth(x, y)``; (V, 3) vertices and (T, 3) triangles wound toward +z."""
    x, y = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n))
    z = np.zeros_like(x) if depth is None else -depth(x, y)
    vertices = np.stack([x, y, z], axis=-1).reshape(-1, 3)
    index = np.arange(n * n).reshape(n, n)
    a, b, c, d = index[:-1, :-1], index[:-1, 1:], index[1:, :-1], index[1:, 1:]
    triangles = np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3),
                                np.stack([a, d, c], -1).reshape(-1, 3)])
    return vertices, triangles


def test_directions_cover_the_sphere_evenly():
    directions = sphere_directions(64)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0)
    np.testing.assert_allclose(directions.mean(axis=0), 0.0, atol=0.02)
    assert (directions[:, 2] > 0).sum() == 32


def test_an_open_plane_sees_the_whole_sky():
    occlusion = ambient_occlusion(*_grid())
    assert occlusion.min() > 0.95, occlusion.min()


def test_the_bottom_of_a_pit_sees_less_sky_the_deeper_it_is():
    def pit(depth):
        return lambda x, y: depth * np.clip(1 - (x * x + y * y) / 0.16, 0, None)

    bottoms = []
    for depth in (0.2, 0.6, 1.5):
        vertices, triangles = _grid(31, pit(depth))
        occlusion = ambient_occlusion(vertices, triangles)
        bottoms.append(occlusion[np.argmin(vertices[:, 2])])
        rim = np.hypot(vertices[:, 0], vertices[:, 1]) > 0.8
        assert occlusion[rim].min() > 0.9  # the plane around the pit stays open
    assert bottoms[0] > bottoms[1] > bottoms[2] and bottoms[2] < 0.5, bottoms


def test_the_shipped_face_nostrils_are_folds_and_its_lips_are_open():
    model = ff.load_model()
    occlusion = model_occlusion(model)
    assert occlusion.shape == (model.n_vertices,) and np.isfinite(occlusion).all()
    assert model_occlusion(model) is occlusion  # made once per model
    marks = np.asarray(model.landmark_indices)
    mean = np.asarray(model.mean_shape)
    nostrils = np.linalg.norm(mean - mean[marks[31:36]].mean(axis=0), axis=1) < 10.0
    assert np.percentile(occlusion[nostrils], 10) < 0.2
    # The closed lips' inner surfaces count as open (a sample that opens the mouth shows them).
    assert occlusion[marks[60:68]].min() == pytest.approx(1.0)
    assert np.median(occlusion[marks[17:27]]) > 0.8  # the brows are open skin
