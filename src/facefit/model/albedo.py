"""An albedo model for shape-only models: mean skin tone plus smooth per-vertex variation.

The basis is the lowest-frequency eigenvectors of the mesh's graph Laplacian (the constant vector
first), one set per colour channel, each normalised to unit RMS over the vertices; standard
deviations fall with frequency. The photometric term then has the same linear form as with the
Basel model's PCA albedo.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["DEFAULT_SKIN", "build_albedo", "laplacian_modes"]

#: Mean skin reflectance (linear RGB in [0, 1]), close to the Basel Face Model's mean texture.
DEFAULT_SKIN = (0.70, 0.52, 0.44)


def laplacian_modes(triangles: Any, n_vertices: int, count: int) -> Any:
    """The ``count`` lowest-frequency eigenvectors of the mesh's graph Laplacian, (V, count).

    Each column has unit RMS over the vertices; the first is constant.
    """
    from scipy import sparse
    from scipy.sparse.linalg import eigsh

    tris = np.asarray(triangles, dtype=np.int64)
    rows = np.concatenate([tris[:, 0], tris[:, 1], tris[:, 2], tris[:, 1], tris[:, 2], tris[:, 0]])
    cols = np.concatenate([tris[:, 1], tris[:, 2], tris[:, 0], tris[:, 0], tris[:, 1], tris[:, 2]])
    adjacency = sparse.coo_matrix((np.ones(rows.size), (rows, cols)),
                                  shape=(n_vertices, n_vertices)).tocsr()
    adjacency.data[:] = 1.0
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    laplacian = sparse.diags(degree) - adjacency
    count = min(count, n_vertices - 1)
    start = np.ones(n_vertices) / np.sqrt(n_vertices)
    values, vectors = eigsh(laplacian.tocsc(), k=count, sigma=-1e-3, which="LM", v0=start)
    order = np.argsort(values)
    vectors = vectors[:, order]
    vectors /= np.sqrt(np.mean(vectors**2, axis=0, keepdims=True))
    vectors *= np.sign(vectors[0:1, :] + 1e-300)  # a deterministic sign
    return vectors


def build_albedo(triangles: Any, n_vertices: int, *, modes_per_channel: int = 20,
                 mean_colour: tuple[float, float, float] = DEFAULT_SKIN,
                 base_std: float = 0.08, luminance_modes: int = 0
                 ) -> tuple[Any, Any, Any]:
    """Mean albedo (V, 3), basis (V, 3, 3 * modes + luminance) and stds.

    Component ``c * modes + k`` changes channel ``c`` by Laplacian mode ``k``, with std
    ``base_std / sqrt(1 + k)``: broad colour changes are likely, fine ones less so. The
    ``luminance_modes`` components after them take the next Laplacian modes
    (``k = modes .. modes + luminance - 1``), each changing all three channels in proportion to
    ``mean_colour`` (brightness, not hue), with the same falling std: the finer detail of a face
    (brows, lips, eyelids, creases) is mostly darker or lighter skin, so one component per
    mode buys most of what three would (on the shared photos, 20 luminance modes lower the
    least-squares albedo floor about as much as 20 more modes per channel).
    """
    modes = laplacian_modes(triangles, n_vertices, modes_per_channel + luminance_modes)
    count = min(modes_per_channel, modes.shape[1])
    extra = modes.shape[1] - count
    basis = np.zeros((n_vertices, 3, 3 * count + extra))
    for channel in range(3):
        basis[:, channel, channel * count:(channel + 1) * count] = modes[:, :count]
    colour = np.asarray(mean_colour, dtype=np.float64)
    basis[:, :, 3 * count:] = modes[:, None, count:] * (colour / colour.max())[None, :, None]
    falloff = base_std / np.sqrt(1.0 + np.arange(count + extra))
    std = np.concatenate([np.tile(falloff[:count], 3), falloff[count:]])
    mean = np.tile(colour, (n_vertices, 1))
    return mean, basis, std
