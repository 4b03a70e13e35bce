"""The forward model, written once: coefficients and a pose to a posed, shaded face.

:func:`evaluate` is the one differentiable seam between a morphable model's parameters and
everything computed from them. It returns a :class:`FaceState` whose quantities (model-space
vertices, camera-space vertices, image points, depth, normals, albedo, shading, colours) are
computed lazily, on first access, so each consumer pays only for what it reads:

- the landmark term reads ``points`` of 68 vertices;
- the photometric term reads ``points``, ``normals`` (from the one-rings of its samples, see
  :class:`VertexSet`), ``albedo`` and ``shading`` of its samples;
- :func:`facefit.render.render_batch` reads everything of a batch of faces;
- the generator and :meth:`facefit.MorphableModel.shape` read ``vertices``.

All of it is array-API code, batched over leading axes of the coefficients and the pose, and
complex-step safe (complex coefficients or pose give complex states).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .backends import (
    array_namespace,
    backend_of,
    batched_matmul,
    matmul_transposed,
    promote,
    real_part,
    to_numpy,
)
from .camera import project, rotate
from .errors import ModelError
from .geometry import cross, rotation_matrix, rotation_matrix_derivatives, vertex_normals
from .lighting import sh_basis

Array = Any

__all__ = ["Coefficients", "FaceState", "Pose", "VertexSet", "basis_product", "evaluate",
           "linear_combination"]


def basis_product(basis: Array, coefficients: Array) -> Array:
    """``sum_k basis[..., k] * coefficients[..., k]`` for one basis and a batch of vectors.

    Parameters
    ----------
    basis : (V, 3, K) array (any leading shape before the last axis).
    coefficients : (K,) or (B, K) array, real or complex (complex step: two real products).

    Returns
    -------
    (V, 3) or (B, V, 3) array. Computed as one 2-D matrix product (BLAS), not a 3-D one.
    """
    xp = array_namespace(basis, coefficients)
    lead = tuple(basis.shape[:-1])
    flat = xp.reshape(basis, (-1, basis.shape[-1]))
    product = matmul_transposed(coefficients, flat)  # (..., prod(lead))
    return xp.reshape(product, (*coefficients.shape[:-1], *lead))


def linear_combination(mean: Array, basis: Array, coefficients: Array) -> Array:
    """``mean + basis @ coefficients`` for a batch of coefficient vectors.

    Parameters
    ----------
    mean : (V, 3) array.
    basis : (V, 3, K) array (already scaled by the std, so coefficients are N(0, 1)).
    coefficients : (..., K) array, real or complex.

    Returns
    -------
    (..., V, 3) array.
    """
    xp = array_namespace(mean, basis, coefficients)
    mean, offsets = promote(mean, basis_product(basis, coefficients), xp=xp)
    return mean + offsets


@dataclass(frozen=True, eq=False)
class Pose:
    """The weak-perspective camera of one face or of a batch of faces.

    Attributes
    ----------
    angles : (..., 3) ``[pitch, yaw, roll]`` in radians.
    scale : (...) pixels per model unit.
    translation : (..., 2) pixels.
    """

    angles: Array
    scale: Array
    translation: Array

    @functools.cached_property
    def rotation(self) -> Array:
        """(..., 3, 3) rotation matrices."""
        return rotation_matrix(self.angles)

    @functools.cached_property
    def d_rotation(self) -> Array:
        """(3, 3, 3) derivatives of an unbatched rotation with respect to the three angles;
        made when a Jacobian first asks (residuals, evaluated more often, never do)."""
        return rotation_matrix_derivatives(self.angles)

    @classmethod
    def of_params(cls, params: Sequence[Any], backend: Any) -> Pose:
        """The batched pose of ``params`` (B :class:`facefit.FaceParams`) on ``backend``."""
        return cls(_stack(params, "rotation", backend), _stack(params, "scale", backend),
                   _stack(params, "translation", backend))


@dataclass(frozen=True, eq=False)
class Coefficients:
    """The model coefficients of one face or a batch, in units of their std.

    Attributes
    ----------
    shape : (..., K_id + K_exp) identity and expression side by side (both move vertices),
        or None where only colour is wanted.
    albedo : (..., K_alb), or None where only geometry is wanted.
    light : (..., 9, 3) SH light per colour channel, or None.
    """

    shape: Array = None
    albedo: Array = None
    light: Array = None

    @classmethod
    def of_params(cls, params: Sequence[Any], model: Any, backend: Any) -> Coefficients:
        """The batched coefficients of ``params`` (B :class:`facefit.FaceParams`, each filled
        in for ``model``: missing coefficients are zeros) on ``backend``."""
        filled = [p.for_model(model) for p in params]
        xp = backend.xp
        shape = xp.concat([_stack(filled, "identity", backend),
                           _stack(filled, "expression", backend)], axis=-1)
        return cls(shape, _stack(filled, "albedo", backend), _stack(filled, "light", backend))


def _stack(params: Sequence[Any], name: str, backend: Any) -> Array:
    return backend.asarray(to_numpy([to_numpy(getattr(p, name)) for p in params]))


@dataclass(frozen=True, eq=False)
class VertexSet:
    """The rows of a model that one evaluation reads: all vertices, or a subset of them.

    A subset is gathered once and kept (by its owner, e.g. a residual term), so repeated
    evaluations multiply only the rows they need. Evaluation computes the shape on the
    vertices read and everything else on the *output* vertices.

    Attributes
    ----------
    mean_shape : (U, 3) mean shape of the vertices read.
    shape_basis : (U, 3, K_id + K_exp) scaled identity and expression bases side by side.
    albedo_mean : (N, 3) albedo mean of the output vertices.
    albedo_basis : (N, 3, K_alb) scaled albedo basis of the output vertices.
    output : (N,) local ids of the output vertices among the U read, or None (all, N = U).
    triangles : (T, 3) triangles in local ids for normals by :func:`vertex_normals` (the
        whole mesh), or None.
    rings : the one-ring topology of the output vertices (see
        :func:`facefit.fit.topology.sample_vertex_set`) for normals of a subset, or None.
    """

    mean_shape: Array
    shape_basis: Array
    albedo_mean: Array
    albedo_basis: Array
    output: Array | None = None
    triangles: Array | None = None
    rings: Any = None

    @classmethod
    def whole(cls, arrays: Any) -> VertexSet:
        """Every vertex of the model whose backend arrays are ``arrays`` (kept with them)."""
        return derived(arrays, "vertex set: whole", lambda: cls(
            arrays.mean_shape, shape_basis(arrays), arrays.albedo_mean, arrays.albedo,
            triangles=arrays.triangles))

    @classmethod
    def gather(cls, arrays: Any, vertex_ids: Array) -> VertexSet:
        """The vertices ``vertex_ids`` (N,) of ``arrays``: no normals (no topology)."""
        xp = array_namespace(vertex_ids)
        return cls(xp.take(arrays.mean_shape, vertex_ids, axis=0),
                   xp.take(shape_basis(arrays), vertex_ids, axis=0),
                   xp.take(arrays.albedo_mean, vertex_ids, axis=0),
                   xp.take(arrays.albedo, vertex_ids, axis=0))


def shape_basis(arrays: Any) -> Array:
    """(V, 3, K_id + K_exp): the identity and expression bases side by side (a model's
    :class:`~facefit.model.ModelArrays` carry it; model-like objects get it built once)."""
    existing = getattr(arrays, "shape_basis", None)
    if existing is not None:
        return existing
    xp = array_namespace(arrays.identity)
    return derived(arrays, "shape basis", lambda: xp.concat(
        [arrays.identity, arrays.expression], axis=2))


def derived(arrays: Any, key: Any, build: Any) -> Any:
    """``arrays.derived(key, build)`` (kept with the model's arrays, see
    :meth:`facefit.model.ModelArrays.derived`), or ``build()`` for model-like objects whose
    arrays have no such cache."""
    keep = getattr(arrays, "derived", None)
    return build() if keep is None else keep(key, build)


class FaceState:
    """A face evaluated at given coefficients and pose; every quantity computed on first use.

    Shapes below are for one face; a batch of B faces (coefficients and pose with a leading
    axis) puts B in front. N is the number of output vertices of the :class:`VertexSet`.
    """

    def __init__(self, vertex_set: VertexSet, coefficients: Coefficients,
                 pose: Pose | None = None):
        self.vertex_set = vertex_set
        self.coefficients = coefficients
        self.pose = pose

    def _need_pose(self) -> Pose:
        if self.pose is None:
            raise ModelError("this FaceState was evaluated without a pose")
        return self.pose

    def _need(self, value: Array | None, what: str) -> Array:
        if value is None:
            raise ModelError(f"this FaceState was evaluated without {what} coefficients")
        return value

    @functools.cached_property
    def read_shape(self) -> Array:
        """(U, 3) model-space shape of every vertex read (outputs and their one-rings)."""
        s = self.vertex_set
        return linear_combination(s.mean_shape, s.shape_basis,
                                  self._need(self.coefficients.shape, "shape"))

    @functools.cached_property
    def vertices(self) -> Array:
        """(N, 3) model-space shape of the output vertices."""
        output = self.vertex_set.output
        if output is None:
            return self.read_shape
        xp = array_namespace(self.read_shape)
        return xp.take(self.read_shape, output, axis=-2)

    @functools.cached_property
    def rotated(self) -> Array:
        """(N, 3) camera-space shape (rotated, before scaling and projection)."""
        return rotate(self.vertices, self._need_pose().rotation)

    @functools.cached_property
    def _projection(self) -> tuple[Array, Array]:
        pose = self._need_pose()
        return project(self.rotated, pose.scale, pose.translation)

    @property
    def points(self) -> Array:
        """(N, 2) image coordinates (x right, y down; pixel centres at integers)."""
        return self._projection[0]

    @property
    def depth(self) -> Array:
        """(N,) depth in pixels, larger nearer the camera."""
        return self._projection[1]

    @functools.cached_property
    def ring_normals(self) -> tuple[Array, Array, Array]:
        """For a subset with one-rings: each output vertex's ring weights ``w_r`` (N, R, 3)
        (``d m = sum_r w_r x d S_r``, see ``SampleRings.ring_edges``), its unnormalised
        model-space normal ``m`` (the area-weighted sum, as
        :func:`facefit.geometry.vertex_normals`) and that normal's length (N,). The
        photometric term's analytic Jacobian reuses them. Complex-step safe.

        ``m`` is a quadratic form of the ring positions, so ``m = 1/2 sum_r w_r x S_r``: one
        (R, R) product per vertex gives both the normal and its derivative's weights.
        """
        rings = self.vertex_set.rings
        if rings is None:
            raise ModelError("this vertex set has no one-ring topology")
        shape = self.read_shape
        xp = array_namespace(shape)
        positions = xp.take(shape, xp.reshape(rings.ring_local, (-1,)), axis=0)
        positions = xp.reshape(positions, (*rings.ring_local.shape, 3))  # (N, R, 3)
        weights = batched_matmul(rings.ring_edges, positions)  # (N, R, 3)
        summed = 0.5 * xp.sum(cross(weights, positions), axis=1)  # (N, 3)
        squared = xp.sum(summed * summed, axis=-1)
        isolated = real_part(squared, xp) == 0
        length = xp.sqrt(xp.where(isolated, xp.ones_like(squared), squared))
        return weights, summed, length

    @functools.cached_property
    def model_normals(self) -> Array:
        """(N, 3) unit model-space normals of a subset with one-rings."""
        _, summed, length = self.ring_normals
        return summed / length[..., None]

    @functools.cached_property
    def normals(self) -> Array:
        """(N, 3) unit camera-space normals."""
        s = self.vertex_set
        if s.rings is not None:
            return rotate(self.model_normals, self._need_pose().rotation)
        if s.triangles is None or s.output is not None:
            raise ModelError("normals need the whole mesh or one-rings of the output vertices")
        return vertex_normals(self.rotated, s.triangles)

    @functools.cached_property
    def sh_basis(self) -> Array:
        """(N, 9) SH basis of the camera-space normals."""
        return sh_basis(self.normals)

    @functools.cached_property
    def light(self) -> Array:
        """(9, 3) SH light, promoted to the normals' dtype."""
        xp = array_namespace(self.sh_basis)
        _, light = promote(self.sh_basis, self._need(self.coefficients.light, "light"), xp=xp)
        return light

    @functools.cached_property
    def shading(self) -> Array:
        """(N, 3) SH shading per colour channel."""
        xp = array_namespace(self.sh_basis)
        basis, light = promote(self.sh_basis, self.light, xp=xp)
        return basis @ light

    @functools.cached_property
    def albedo(self) -> Array:
        """(N, 3) linear (unclipped) albedo of the output vertices."""
        s = self.vertex_set
        return linear_combination(s.albedo_mean, s.albedo_basis,
                                  self._need(self.coefficients.albedo, "albedo"))

    @functools.cached_property
    def colours(self) -> Array:
        """(N, 3) ``albedo * shading`` (unclipped)."""
        return self.albedo * self.shading


def evaluate(model: Any, coefficients: Coefficients, pose: Pose | None = None,
             vertex_ids: Array | None = None, *, backend: Any = None) -> FaceState:
    """Evaluate a morphable model: the single forward pass of facefit.

    Parameters
    ----------
    model : a :class:`facefit.MorphableModel`, its backend arrays
        (:class:`facefit.model.ModelArrays`) or a prepared :class:`VertexSet`.
    coefficients : the face's :class:`Coefficients` (arrays of the backend computed on).
    pose : its :class:`Pose`; None gives a state with model-space quantities only.
    vertex_ids : (N,) vertex ids to evaluate (no normals for them), or None for all.
    backend : the :class:`facefit.backends.Backend` whose arrays of ``model`` to use when
        ``model`` is a :class:`facefit.MorphableModel` (default: the backend of the
        coefficients and pose, :func:`facefit.backends.backend_of`).

    Returns
    -------
    FaceState
        Lazily evaluated: read ``points``, ``normals``, ``colours``, ... as needed.
    """
    if isinstance(model, VertexSet):
        vertex_set = model
    else:
        if hasattr(model, "arrays") and callable(model.arrays):
            if backend is None:
                backend = backend_of(coefficients.shape, coefficients.albedo,
                                     coefficients.light,
                                     *(() if pose is None else (pose.angles, pose.translation)))
            model = model.arrays(backend)
        vertex_set = VertexSet.whole(model) if vertex_ids is None \
            else VertexSet.gather(model, vertex_ids)
    return FaceState(vertex_set, coefficients, pose)
