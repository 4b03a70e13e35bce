"""A synthetic model of the Basel Face Model's size, for scaling benchmarks.

The BFM 2009 itself cannot ship (its licence forbids redistribution), so ``facefit bench`` times
a model of the same size built from the default one: each ICT triangle is split at its centroid
into three, twice (6706 -> 59186 vertices, 13120 -> 118080 triangles; BFM 2009 has 53490 and
106466), and the bases are extended to BFM's component counts (199 identity, Guo's 79
expression, 199 albedo) with smooth random fields. Means and bases at a new vertex are the
averages of its triangle's corners, so the refined surface is the ICT face; landmark vertices
and jaw candidate lines keep their ids (the original vertices come first).
"""

from __future__ import annotations

import numpy as np

from ..model import MorphableModel

__all__ = ["bfm_size_model", "refine"]


def _split_at_centroids(triangles: np.ndarray, n_vertices: int) -> np.ndarray:
    """Triangles (T, 3) -> the (3T, 3) triangles of their centroid splits.

    The centroid of triangle ``t`` becomes vertex ``n_vertices + t``; each new triangle keeps
    the counter-clockwise order of its parent.
    """
    centre = n_vertices + np.arange(triangles.shape[0], dtype=np.int64)
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    split = np.stack([np.stack([a, b, centre], axis=1), np.stack([b, c, centre], axis=1),
                      np.stack([c, a, centre], axis=1)], axis=1)  # (T, 3 new, 3 corners)
    return split.reshape(-1, 3)


def _extend(basis: np.ndarray, std: np.ndarray, components: int, positions: np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pad a (V, 3, K) basis to ``components`` columns with smooth random vector fields.

    Each new column is ``cos(p . w + phase) * direction`` over the vertex positions ``p`` (mm),
    with a wavelength of 40-150 mm, scaled to the norm of the last existing column times a
    slow decay, with the last existing standard deviation.
    """
    extra = components - basis.shape[2]
    if extra <= 0:
        return basis[:, :, :components], std[:components]
    frequencies = rng.normal(size=(3, extra))
    frequencies *= (2 * np.pi / rng.uniform(40.0, 150.0, size=extra)) / np.linalg.norm(
        frequencies, axis=0)
    waves = np.cos(positions @ frequencies + rng.uniform(0, 2 * np.pi, size=extra))  # (V, extra)
    directions = rng.normal(size=(3, extra))
    directions /= np.linalg.norm(directions, axis=0)
    fields = waves[:, None, :] * directions[None, :, :]  # (V, 3, extra)
    last_norm = float(np.linalg.norm(basis[:, :, -1]))
    decay = 0.98 ** np.arange(1, extra + 1)
    fields *= last_norm * decay / np.linalg.norm(fields.reshape(-1, extra), axis=0)
    return (np.concatenate([basis, fields], axis=2),
            np.concatenate([std, np.full(extra, std[-1])]))


def refine(model: MorphableModel, times: int = 1) -> MorphableModel:
    """``model`` with every triangle split at its centroid ``times`` times (same surface).

    Parameters
    ----------
    model : the model to refine.
    times : number of centroid splits; each adds T vertices and triples T.

    Returns
    -------
    A MorphableModel with V + T (+ 3T ...) vertices; the first V are the original ones.
    """
    vertex_arrays = {"mean_shape": model.mean_shape, "identity_basis": model.identity_basis,
                     "expression_basis": model.expression_basis,
                     "albedo_mean": model.albedo_mean, "albedo_basis": model.albedo_basis}
    triangles = model.triangles
    for _ in range(times):
        n_vertices = vertex_arrays["mean_shape"].shape[0]
        for name, values in vertex_arrays.items():
            vertex_arrays[name] = np.concatenate([values, values[triangles].mean(axis=1)])
        triangles = _split_at_centroids(triangles, n_vertices)
    return MorphableModel(
        name=f"{model.name}, refined x{times}", identity_std=model.identity_std,
        expression_std=model.expression_std, albedo_std=model.albedo_std, triangles=triangles,
        landmark_indices=model.landmark_indices, jaw_candidates=model.jaw_candidates,
        units=model.units, metadata={"source": f"centroid refinement of {model.name}"},
        **vertex_arrays)


def bfm_size_model(base: MorphableModel | None = None, *, times: int = 2,
                   components: tuple[int, int, int] = (199, 79, 199),
                   seed: int = 0) -> MorphableModel:
    """A model of BFM 2009's size: ``base`` (default: the shipped ICT model) refined ``times``
    times, with (identity, expression, albedo) bases padded to ``components`` columns.
    """
    from ..model import load_model

    refined = refine(base if base is not None else load_model(), times)
    rng = np.random.default_rng(seed)
    positions = refined.mean_shape
    identity, identity_std = _extend(refined.identity_basis, refined.identity_std,
                                     components[0], positions, rng)
    expression, expression_std = _extend(refined.expression_basis, refined.expression_std,
                                         components[1], positions, rng)
    albedo, albedo_std = _extend(refined.albedo_basis, refined.albedo_std, components[2],
                                 positions, rng)
    return MorphableModel(
        name=f"BFM-size synthetic ({refined.n_vertices} vertices)",
        mean_shape=refined.mean_shape, identity_basis=identity, identity_std=identity_std,
        expression_basis=expression, expression_std=expression_std,
        albedo_mean=refined.albedo_mean, albedo_basis=albedo, albedo_std=albedo_std,
        triangles=refined.triangles, landmark_indices=refined.landmark_indices,
        jaw_candidates=refined.jaw_candidates, units=refined.units,
        metadata={"source": "facefit.bench.bfm_size.bfm_size_model: the ICT model refined, with "
                            "smooth random components up to BFM 2009's counts"})
