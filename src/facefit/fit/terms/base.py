"""What every residual term shares: the protocol the solver uses, and Jacobian assembly."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ...backends import array_namespace, is_plain_value
from ...forward import Coefficients, FaceState, derived, evaluate
from ..parameters import ParameterLayout

Array = Any

__all__ = ["LastEvaluation", "ResidualTerm", "assemble_jacobian", "box_diagonal", "image_plane",
           "shape_at", "whole_mesh"]


@runtime_checkable
class ResidualTerm(Protocol):
    """A block of residuals of the flat parameter vector ``x`` (see :mod:`..parameters`).

    ``update`` takes the term's discrete decisions (which vertices, which samples) at a real
    ``x`` and freezes them, so that ``residuals`` is smooth in ``x`` and complex-step safe.
    ``jacobian`` returns the exact (m, n) Jacobian, or None when the term has no analytic
    form: the solver then uses the backend's automatic strategy (complex step, autograd).

    Optional, for speed (:class:`facefit.fit.FitProblem` uses them where a term has them):
    ``reduced_residuals(x)`` / ``reduced_jacobian(x)``, the rows that the frozen state does
    not make zero (the photometric term's seen samples), and ``jacobian_columns(x) -> (ids,
    values)`` for a Jacobian with one entry per row, ``values[i]`` at column ``ids[i]`` (the
    prior), which the normal equations take straight onto their diagonal, and
    ``grouped_jacobian(x)``, the analytic Jacobian of the reduced rows (the rows where the
    term has no reduced ones) as a :class:`facefit.fit.grouped.GroupedJacobian`, whose normal
    equations skip its structural zeros (the photometric colour channels, the landmarks).
    """

    name: str

    def update(self, x: Array) -> None: ...

    def residuals(self, x: Array) -> Array: ...

    def jacobian(self, x: Array) -> Array | None: ...


def assemble_jacobian(layout: ParameterLayout, rows: int, blocks: dict[str, Array],
                      like: Array) -> Array:
    """(rows, n) Jacobian from per-block column groups; absent blocks are zeros.

    Parameters
    ----------
    layout : the parameter layout.
    rows : the number of residuals.
    blocks : by block name (``shape``, ``albedo``, ``light``, ``rotation``, ``scale``,
        ``translation``), arrays reshapeable to (rows, block width).
    like : an array of the dtype and device to make zero blocks with.
    """
    xp = array_namespace(like)
    order = [("shape", layout.shape), ("albedo", layout.albedo), ("light", layout.light),
             ("rotation", layout.rotation), ("scale", slice(layout.scale, layout.scale + 1)),
             ("translation", layout.translation)]
    columns = []
    for name, span in order:
        width = span.stop - span.start
        if width == 0:
            continue
        block = blocks.get(name)
        if block is None:
            block = xp.zeros((rows, width), dtype=like.dtype, device=like.device)
        columns.append(xp.reshape(block, (rows, width)))
    return xp.concat(columns, axis=1)


def box_diagonal(points: Array) -> float:
    """Length of the diagonal of the box around ``points`` ((N, 2), rows with a NaN
    skipped): the face's size that the geometric terms are normalised by, at least 1."""
    xp = array_namespace(points)
    known = points[~xp.any(xp.isnan(points), axis=1)]
    if known.shape[0] == 0:
        return 1.0
    extent = xp.max(known, axis=0) - xp.min(known, axis=0)
    return max(float(xp.sqrt(xp.sum(extent * extent))), 1.0)


def image_plane(v: Array) -> Array:
    """The image-plane part of camera-space vectors (..., 3, ...) on axis -2: ``[x, -y]``
    (the camera flips y; see :func:`facefit.camera.project`)."""
    xp = array_namespace(v)
    return xp.stack([v[..., 0, :], -v[..., 1, :]], axis=-2)


class LastEvaluation:
    """Keeps the last value computed from a plain (real, derivative-free) ``x``.

    The solver asks for the Jacobian at the very point whose residuals it just took: both
    can share one forward pass. Complex-step and autograd inputs are never served from it.
    """

    def __init__(self) -> None:
        self._last: tuple[Array, Any] | None = None

    def get(self, x: Array, compute: Any) -> Any:
        """``compute(x)``, or the kept value when ``x`` equals the last plain ``x``."""
        plain = is_plain_value(x)
        last = self._last
        if plain and last is not None and (last[0].shape, last[0].dtype) == (x.shape, x.dtype):
            xp = array_namespace(x)
            if bool(xp.all(last[0] == x)):
                return last[1]
        value = compute(x)
        if plain:
            self._last = (array_namespace(x).asarray(x, copy=True), value)
        return value

    def cached(self, x: Array) -> Any:
        """The kept value when ``x`` equals the last plain ``x``, else None (nothing computed)."""
        last = self._last
        if last is None or not is_plain_value(x) or (last[0].shape, last[0].dtype) != (
                x.shape, x.dtype):
            return None
        return last[1] if bool(array_namespace(x).all(last[0] == x)) else None

    def clear(self) -> None:
        self._last = None


def shape_at(vertices: Any, layout: ParameterLayout, x: Array) -> FaceState:
    """The shape and pose of ``x`` evaluated at a :class:`facefit.forward.VertexSet`
    ``vertices`` (the landmark or contour vertices of a geometric term: no colour blocks)."""
    return evaluate(vertices, Coefficients(x[layout.shape]), layout.pose_of(x))


def whole_mesh(arrays: Any, layout: ParameterLayout, x: Array) -> FaceState:
    """The whole mesh evaluated at ``x`` (every coefficient block and the pose), shared.

    Freezing a problem's discrete state asks each term to decide at the same ``x`` (jaw
    landmark marching, sample visibility, a contour's silhouette), and each needs the whole
    mesh posed there; they share this one lazy :class:`FaceState` (one per model arrays, kept
    for the last plain ``x`` only, see :class:`LastEvaluation`), so the shape is evaluated once
    per freeze instead of once per term.
    """
    last = derived(arrays, ("whole-mesh evaluation", layout), LastEvaluation)
    return last.get(x, lambda v: evaluate(arrays, layout.coefficients_of(v), layout.pose_of(v)))
