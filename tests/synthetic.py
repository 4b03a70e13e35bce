"""A small synthetic morphable model for fast, model-independent tests.

A dome-shaped grid (facing +z, y up, millimetres) with smooth random identity, expression and
albedo bases, 68 landmark vertices (jaw on the lower rim) and horizontal jaw candidate lines.
It is duck-typed like :class:`facefit.MorphableModel` as far as the renderer and fitter need.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

import facefit as ff


def _smooth_fields(rng, xy, count, amplitude):
    """(V, 3, count) smooth displacement fields: random low-order polynomials of (x, y)."""
    x, y = xy[:, 0] / 50, xy[:, 1] / 50
    terms = np.stack([np.ones_like(x), x, y, x * y, x * x, y * y, x * x * y, x * y * y], axis=1)
    coeffs = rng.normal(size=(terms.shape[1], 3, count)) * amplitude / 3
    return np.einsum("vt,tck->vck", terms, coeffs)


@dataclass
class SyntheticModel:
    name: str
    mean_shape: np.ndarray
    identity_basis: np.ndarray
    expression_basis: np.ndarray
    albedo_mean: np.ndarray
    albedo_basis: np.ndarray
    triangles: np.ndarray
    landmark_indices: np.ndarray
    jaw_candidates: np.ndarray

    @property
    def n_vertices(self):
        return self.mean_shape.shape[0]

    @property
    def n_identity(self):
        return self.identity_basis.shape[2]

    @property
    def n_expression(self):
        return self.expression_basis.shape[2]

    @property
    def n_albedo(self):
        return self.albedo_basis.shape[2]

    def arrays(self, backend=None):
        backend = backend or ff.get_backend()
        return SimpleNamespace(**{
            name: backend.asarray(getattr(self, source)) for name, source in [
                ("mean_shape", "mean_shape"), ("identity", "identity_basis"),
                ("expression", "expression_basis"), ("albedo_mean", "albedo_mean"),
                ("albedo", "albedo_basis"), ("triangles", "triangles"),
                ("landmark_indices", "landmark_indices"), ("jaw_candidates", "jaw_candidates")]})


def make_model(n: int = 21, n_identity: int = 6, n_expression: int = 4, n_albedo: int = 5,
               seed: int = 0) -> SyntheticModel:
    rng = np.random.default_rng(seed)
    ticks = np.linspace(-50, 50, n)
    xs, ys = np.meshgrid(ticks, ticks[::-1])  # row 0 at the top (largest y)
    r2 = (xs ** 2 + ys ** 2) / 80 ** 2
    zs = 60 * np.sqrt(np.clip(1 - r2, 0.05, None)) + 8 * np.exp(-(xs ** 2 + (ys + 5) ** 2) / 200)
    vertices = np.stack([xs.ravel(), ys.ravel(), zs.ravel()], axis=1)
    index = np.arange(n * n).reshape(n, n)
    tris = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, d, e = index[r, c], index[r, c + 1], index[r + 1, c], index[r + 1, c + 1]
            tris += [[a, d, e], [a, e, b]]  # counter-clockwise seen from +z (y up)
    triangles = np.array(tris, dtype=np.int64)
    xy = vertices[:, :2]
    identity = _smooth_fields(rng, xy, n_identity, 4.0)
    expression = _smooth_fields(rng, xy, n_expression, 2.0)
    albedo_mean = np.clip(np.array([0.75, 0.55, 0.45]) + 0.1 * np.sin(xy[:, :1] / 15)
                          * np.array([1, 0.8, 0.6]), 0, 1)
    albedo_basis = _smooth_fields(rng, xy, n_albedo, 0.05)
    # Landmarks: jaw on the lower rim rows, the rest on an inner grid.
    jaw_rows = np.round(np.linspace(n // 3, n - 1, 9)).astype(int)
    jaw = []
    for k in range(17):
        side = -1 if k < 8 else (1 if k > 8 else 0)
        row = jaw_rows[k if k <= 8 else 16 - k]
        col = {-1: 1, 0: n // 2, 1: n - 2}[side]
        jaw.append(index[min(row, n - 2) if side else n - 2, col])
    inner_rows = np.linspace(3, n - 5, 6).astype(int)
    inner_cols = np.linspace(4, n - 5, 9).astype(int)
    inner = [index[r, c] for r in inner_rows for c in inner_cols][:51]
    landmarks = np.array(jaw + inner, dtype=np.int64)
    assert landmarks.shape == (68,)
    width = n // 2
    candidates = np.full((17, width), -1, dtype=np.int64)
    for k in range(17):
        row = np.argwhere(index == landmarks[k])[0][0]
        if k < 8:
            line = index[row, : n // 2][::-1]
        elif k > 8:
            line = index[row, n // 2 + 1:]
        else:
            line = index[row - 2: row + 1, n // 2]
        candidates[k, : len(line)] = line[:width]
    return SyntheticModel("synthetic", vertices, identity, expression, albedo_mean, albedo_basis,
                          triangles, landmarks, candidates)
