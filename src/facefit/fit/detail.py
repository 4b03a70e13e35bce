"""Albedo detail: the colour the model's smooth albedo modes cannot show, solved per vertex.

The model's albedo space (for the shipped ICT model, 20 mesh-Laplacian modes per channel) is
smooth: lips, brows, eyelids, wrinkles and freckles are beyond it, and on the shared photos the
best albedo in that space renders no closer than the fit does (``benchmarks/photometric_floor.py``).
After the fit, with its geometry, pose, light and visibility fixed, facefit adds a per-vertex
detail ``d`` to the fitted albedo ``a``, one linear least-squares problem per colour channel:

``sum_v w_v (s_v (a_v + d_v) - I_v)^2 + smoothness * sum_(u,v) edge (d_u - d_v)^2
+ decay * sum_v d_v^2``

with ``s`` the shading, ``I`` the photo at the vertex and ``w`` its visibility (front-facing,
unoccluded, not at a grazing angle, off the mesh boundary; in a robust fit also its outlier
weight). This is the albedo under a Gaussian
prior whose precision is ``decay * I + smoothness * L`` (L the mesh's graph Laplacian): every
Laplacian mode, with a standard deviation falling with its frequency, the limit of "more modes
with a frequency-dependent prior". Where the photo does not see the face the detail continues
its neighbours' smoothly and fades to zero, so hidden parts keep the model's albedo.

The normal equations are sparse and symmetric positive definite; they are solved by conjugate
gradients preconditioned with their diagonal, written against the array API (the Laplacian is
applied as one gather and one scatter-add over the mesh's edges, the three channels at once).
"""

from __future__ import annotations

import math
from typing import Any

from ..backends import array_namespace, scatter_add
from ..forward import derived, evaluate
from ..geometry import boundary_vertices, mesh_edges
from ..render.rasterize import rasterize
from ..render.visibility import facing_weight, visible_vertices
from ..sampling import bilinear_sample
from .robust import robust_weights

Array = Any

__all__ = ["DETAIL_DECAY", "DETAIL_SMOOTHNESS", "albedo_detail", "solve_detail"]

#: Weight of the detail's edge differences, relative to a fully visible vertex at shading 1.
#: A detail of one vertex costs about as much as a colour error spread over its ring: sharp
#: enough for lips and brows at the mesh's resolution, smooth enough to ignore pixel noise.
DETAIL_SMOOTHNESS = 0.05
#: Pull of the detail toward zero: small, so that unseen parts fade out over many rings.
DETAIL_DECAY = 1e-3


def _channel_major(values: Array) -> Array:
    """(V, C) -> the flat (C * V,) vector of its columns one after another."""
    xp = array_namespace(values)
    return xp.reshape(xp.matrix_transpose(values), (-1,))


def solve_detail(weight: Array, shading: Array, albedo: Array, observed: Array, edges: Array,
                 *, smoothness: float = DETAIL_SMOOTHNESS, decay: float = DETAIL_DECAY,
                 iterations: int = 300, tolerance: float = 1e-4) -> Array:
    """The per-vertex albedo detail minimising the energy of the module docstring.

    Parameters
    ----------
    weight : (V,) visibility weight of each vertex in [0, 1].
    shading : (V, 3) shading per channel.
    albedo : (V, 3) the fitted albedo.
    observed : (V, 3) the photo's colour at each vertex.
    edges : (E, 2) the mesh's edges (:func:`facefit.geometry.mesh_edges`).
    smoothness, decay : the prior's weights (see the module docstring).
    iterations : at most this many conjugate-gradient steps.
    tolerance : stop when the residual norm falls below this fraction of the right side's
        (1e-4: the detail is then within about 1e-4 of the exact solution, far below 1/255).

    Returns
    -------
    (V, 3) detail to add to ``albedo``.
    """
    xp = array_namespace(weight, shading, albedo, observed)
    n = weight.shape[0]
    channels = shading.shape[1]
    # The three channels' systems side by side in one flat vector, channel-major: the
    # Laplacian is one gather and one scatter-add over all of them, and each channel's sums
    # run over contiguous memory (the (V, 3) layout took 2.5x as long per step).
    offsets = xp.reshape(xp.arange(channels, dtype=edges.dtype, device=edges.device) * n,
                         (channels, 1))
    source = xp.reshape(xp.concat([edges[:, 1], edges[:, 0]])[None, :] + offsets, (-1,))
    target = xp.reshape(xp.concat([edges[:, 0], edges[:, 1]])[None, :] + offsets, (-1,))
    ones = xp.ones((edges.shape[0],), dtype=weight.dtype, device=weight.device)
    degree = scatter_add(edges[:, 0], ones, n) + scatter_add(edges[:, 1], ones, n)
    data = _channel_major(weight[:, None] * shading * shading)  # (3V,)
    diagonal = data + smoothness * xp.concat([degree] * channels) + decay

    def apply(d: Array) -> Array:
        neighbours = scatter_add(target, xp.take(d, source), n * channels)
        return diagonal * d - smoothness * neighbours

    def per_channel(v: Array) -> Array:  # (3V,) -> (3,) sums over each channel
        return xp.sum(xp.reshape(v, (channels, n)), axis=1)

    def spread(c: Array) -> Array:  # (3,) -> (3V,)
        return xp.reshape(xp.broadcast_to(c[:, None], (channels, n)), (-1,))

    rhs = _channel_major(weight[:, None] * shading * (observed - shading * albedo))
    inverse_diagonal = 1.0 / diagonal
    detail = xp.zeros_like(rhs)
    residual = rhs
    z = inverse_diagonal * residual
    direction = z
    rz = per_channel(residual * z)  # per channel: three independent systems
    target_norm = tolerance * float(xp.sqrt(xp.sum(rhs * rhs))) + 1e-300
    for _ in range(iterations):
        product = apply(direction)
        curvature = per_channel(direction * product)
        step = spread(rz / xp.where(curvature > 0, curvature, xp.ones_like(curvature)))
        detail = detail + step * direction
        residual = residual - step * product
        if float(xp.sqrt(xp.sum(residual * residual))) <= target_norm:
            break
        z = inverse_diagonal * residual
        rz_next = per_channel(residual * z)
        direction = z + spread(rz_next / xp.where(rz > 0, rz, xp.ones_like(rz))) * direction
        rz = rz_next
    return xp.matrix_transpose(xp.reshape(detail, (channels, n)))


def albedo_detail(problem: Any, x: Array, **options: Any) -> Array:
    """The albedo detail (V, 3) of a fitted :class:`facefit.fit.FitProblem` at ``x``.

    ``options`` are passed to :func:`solve_detail`. Needs the problem's photo.
    """
    arrays, layout, backend = problem.arrays, problem.layout, problem.backend
    xp = backend.xp
    photo = backend.asarray(problem.image)
    n_vertices = arrays.mean_shape.shape[0]
    term = problem.photometric_term
    if term is not None:
        # The fit's last freeze decided visibility at this very x: reuse its rasterisation.
        state, seen = term.mesh_visibility(x)
    else:
        state = evaluate(arrays, layout.coefficients_of(x), layout.pose_of(x))
        raster = rasterize(state.points, state.depth, arrays.triangles,
                           (photo.shape[0], photo.shape[1]))
        seen = visible_vertices(state.points, state.depth, state.normals, raster,
                                footprint="all")
    inner = ~derived(arrays, "boundary vertices",
                     lambda: boundary_vertices(arrays.triangles, n_vertices))
    facing = facing_weight(state.normals)
    weight = xp.where(seen & inner, facing, xp.zeros_like(facing))
    edges = derived(arrays, "mesh edges", lambda: mesh_edges(arrays.triangles, n_vertices))
    observed = bilinear_sample(photo, state.points)
    if term is not None and term.robust is not None and math.isfinite(term.robust_sigma2):
        # A robust fit's outliers (glasses, hands, hair) are not skin: the detail gives them
        # the fit's IRLS weight at every vertex (same loss and scale), so it fills them in
        # from their neighbours instead of painting the occluder into the albedo.
        squared = xp.sum((state.colours - observed) ** 2, axis=1)
        weight = weight * robust_weights(squared, term.robust_sigma2, term.robust.loss)
    return solve_detail(weight, state.shading, state.albedo, observed, edges, **options)
