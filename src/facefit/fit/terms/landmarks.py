"""The landmark term: projected landmark vertices against the 68 given points."""

from __future__ import annotations

import math
from typing import Any

from ...backends import Backend, array_namespace, to_numpy
from ...forward import FaceState, VertexSet, derived
from ...render.landmarks import all_candidates, jaw_spacing, landmark_vertices, marching_table
from ..columns import geometric_columns
from ..grouped import GroupedJacobian
from ..parameters import ParameterLayout
from .base import LastEvaluation, box_diagonal, image_plane, shape_at

Array = Any

__all__ = ["LandmarkTerm", "point_jacobian_blocks"]


def point_jacobian_blocks(state: FaceState, vertices: VertexSet, x: Array) -> dict[str, Array]:
    """d(projected point)/d(x) of each vertex of ``state`` by parameter block, unweighted.

    Parameters
    ----------
    state : the model evaluated with a pose at the L vertices of ``vertices``.
    vertices : the :class:`VertexSet` ``state`` was evaluated on.
    x : (n,) the parameter vector (its dtype and device).

    Returns
    -------
    dict of ``shape`` (L, 2, K), ``rotation`` (L, 2, 3), ``scale`` (L, 2, 1) and
    ``translation`` (L, 2, 2), for :func:`.base.assemble_jacobian` (in the order of
    :func:`facefit.fit.columns.geometric_columns`).
    """
    xp = array_namespace(x)
    pose, shape = state.pose, state.vertices  # (L, 3)
    assert pose is not None
    rotated_basis = pose.rotation @ vertices.shape_basis  # (L, 3, K)
    d_shape = pose.scale * image_plane(rotated_basis)  # (L, 2, K)
    turned = [shape @ xp.matrix_transpose(pose.d_rotation[k, ...]) for k in range(3)]
    d_rot = xp.stack([image_plane(t[..., None])[..., 0] for t in turned], axis=-1)  # (L, 2, 3)
    d_scale = image_plane(state.rotated[..., None])  # (L, 2, 1)
    eye = xp.eye(2, dtype=x.dtype, device=x.device)
    d_trans = xp.broadcast_to(eye, (shape.shape[0], 2, 2))
    return {"shape": d_shape, "rotation": pose.scale * d_rot, "scale": d_scale,
            "translation": d_trans}


def _candidate_set(arrays: Any, backend: Backend) -> tuple[VertexSet, Array]:
    """The distinct vertices of the model's jaw candidate lines and their underside
    (:func:`facefit.render.landmarks.all_candidates`), and where each table entry (17 * C, in
    table order; padding: the first) finds its vertex among them. Host precompute: most of
    the table is padding (the ICT lines: 223 vertices in 816 entries, with the underside
    731 in 1836), and only the distinct vertices are projected."""
    from ...model.contours import distinct_candidates

    distinct, where = distinct_candidates(to_numpy(all_candidates(arrays)))
    return VertexSet.gather(arrays, backend.asarray(distinct)), backend.asarray(where)


class LandmarkTerm:
    """``sqrt(w / L) / d * (project(S[ids]) - l)`` over the L landmarks given (NaN = missing).

    Parameters
    ----------
    arrays : the model's backend arrays (``model.arrays(backend)``).
    layout : the parameter layout.
    targets : (68, 2) backend array of landmark positions, NaN where missing.
    weight : w_lan.
    backend : the backend computed on.
    point_weights : optional (68,) host relative weight of each point (>= 0); the term is
        normalised by their sum over the given points, so all ones is the plain mean.
    extent : optional (68, 2) backend array of points (NaN = unknown) whose box diagonal is
        the face's size ``d``; default ``targets``. :class:`facefit.FitProblem` passes the
        weighted targets completed by the model at the starting pose, so that ``d`` does not
        shrink with the points left out.
    """

    name = "landmarks"

    def __init__(self, arrays: Any, layout: ParameterLayout, targets: Array, weight: float,
                 backend: Backend, point_weights: Any = None, extent: Array | None = None):
        xp = backend.xp
        self.arrays, self.layout, self.backend = arrays, layout, backend
        given = ~xp.any(xp.isnan(targets), axis=1) & (arrays.landmark_indices >= 0)
        self.count = int(xp.sum(xp.astype(given, xp.int64)))
        safe = xp.where(given[:, None], targets, xp.zeros_like(targets))
        self.diagonal = box_diagonal(
            (safe[given] if self.count else safe) if extent is None else extent)
        relative = xp.astype(given, backend.dtype)
        total = float(self.count)
        if point_weights is not None:
            relative = relative * backend.asarray(point_weights)
            total = float(xp.sum(relative))
        scale = math.sqrt(weight / (total if total > 0 else 1.0)) / self.diagonal
        self.row_weight = xp.sqrt(relative) * scale  # (68,)
        self.targets = safe
        # The jaw's spacing along the outline (render.landmarks.jaw_spacing), held per round
        # like the marched vertices; None (no jaw vertices, or before the first round) uses
        # the vertices' own points.
        self.spaced = bool(xp.all(arrays.landmark_indices[:17] >= 0))
        self.jaw_weights: Array | None = None
        self.columns = geometric_columns(layout, backend)
        self._use(arrays.landmark_indices)

    def _use(self, vertex_ids: Array) -> None:
        """Evaluate the model at ``vertex_ids`` (68,) from now on (-1: no vertex, weight 0)."""
        xp = self.backend.xp
        self.vertex_ids = vertex_ids
        safe = xp.where(vertex_ids >= 0, vertex_ids, xp.zeros_like(vertex_ids))
        self.vertices = VertexSet.gather(self.arrays, safe)
        self._last = LastEvaluation()  # the state of these vertices at the last real x

    def update(self, x: Array) -> None:
        """Landmark marching: each jaw landmark takes the silhouette vertex of its line at
        ``x`` (with the underside the pose shows, :func:`marching_table`); then the jaw's
        spacing along that outline at ``x`` is held for the round.

        Only the candidate lines' vertices are projected for the marching (a few hundred of
        the mesh's thousands): in the landmark stages nothing else needs the whole mesh."""
        arrays, xp = self.arrays, self.backend.xp
        candidates, where = derived(arrays, "jaw candidate vertices",
                                    lambda: _candidate_set(arrays, self.backend))
        state = shape_at(candidates, self.layout, x)
        assert state.pose is not None
        table = marching_table(arrays, state.pose.rotation)
        points = xp.take(state.points, where, axis=0)  # (17 * C, 2), in table order
        self._use(landmark_vertices(points, arrays.landmark_indices, table,
                                    candidates_only=True))
        if self.spaced:
            self.jaw_weights = jaw_spacing(self.state(x).points[:17, ...])

    def _spaced(self, rows: Array) -> Array:
        """(68, ...) per-landmark rows (points or Jacobian blocks) with the jaw's spacing."""
        if self.jaw_weights is None:
            return rows
        xp = array_namespace(rows)
        if xp.isdtype(rows.dtype, "complex floating"):  # complex step: no real @ complex
            tail = (1,) * (rows.ndim - 1)
            weights = xp.reshape(self.jaw_weights, (17, 17, *tail))
            jaw = xp.sum(weights * rows[None, :17, ...], axis=1)
        else:  # one (17, 17) @ (17, everything else) product
            flat = xp.reshape(rows[:17, ...], (17, -1))
            jaw = xp.reshape(self.jaw_weights @ flat, rows[:17, ...].shape)
        return xp.concat([jaw, rows[17:, ...]], axis=0)

    def state(self, x: Array) -> FaceState:
        """The model evaluated at the landmark vertices, at ``x``: shared by the residuals
        and the Jacobian at one point (the solver asks for both)."""
        return self._last.get(x, lambda v: shape_at(self.vertices, self.layout, v))

    def residuals(self, x: Array) -> Array:
        xp = array_namespace(x)
        points = self._spaced(self.state(x).points)
        return xp.reshape(self.row_weight[:, None] * (points - self.targets), (-1,))

    def jacobian(self, x: Array) -> Array:
        return self.grouped_jacobian(x).dense()

    def grouped_jacobian(self, x: Array) -> GroupedJacobian:
        """:meth:`jacobian` over the parameters the points depend on (shape and pose, not
        albedo or light: 107 of the default model's 266 columns are zero), for the normal
        equations (:mod:`facefit.fit.grouped`)."""
        xp = array_namespace(x)
        state = self.state(x)
        blocks = point_jacobian_blocks(state, self.vertices, x)
        count = state.vertices.shape[0]
        rows = xp.concat([blocks["shape"], blocks["rotation"], blocks["scale"],
                          xp.broadcast_to(blocks["translation"], (count, 2, 2))], axis=2)
        rows = self.row_weight[:, None, None] * self._spaced(rows)  # (L, 2, K + 6)
        return GroupedJacobian(xp.reshape(rows, (2 * count, 1, rows.shape[2])), self.columns)

    def fitted_points(self, x: Array) -> Array:
        """(68, 2) the landmarks the model places at ``x`` (NaN where it has no vertex)."""
        xp = array_namespace(x)
        points = self._spaced(self.state(x).points)
        missing = (self.vertex_ids < 0)[:, None]
        return xp.where(missing, xp.full_like(points, math.nan), points)
