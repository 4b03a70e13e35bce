"""``MorphableModel``: a linear 3D face model (shape, expression, albedo) and its arrays.

Geometry is stored in millimetres, model space y up and +z toward the camera. Bases are stored
unscaled with their standard deviations beside them; coefficients everywhere in facefit are in
units of their std (N(0, 1) under the prior), so ``shape = mean + sum_k basis_k * std_k * z_k``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backends import Backend, array_namespace, backend_of, get_backend, promote
from ..errors import ModelError
from ..forward import Coefficients, basis_product, evaluate

Array = Any

__all__ = ["ModelArrays", "MorphableModel", "basis_product"]


@dataclass(frozen=True)
class ModelArrays:
    """A model's arrays on one backend (bases already multiplied by their stds).

    Attributes
    ----------
    mean_shape : (V, 3).
    shape_basis : (V, 3, K_id + K_exp) the scaled identity and expression bases side by side
        (what the forward model multiplies, once per evaluation).
    identity, expression : (V, 3, K) scaled bases: views into ``shape_basis``.
    albedo_mean : (V, 3).
    albedo : (V, 3, K_alb) scaled basis.
    triangles : (T, 3) int64.
    landmark_indices : (68,) int64, -1 where missing.
    jaw_candidates : (17, C) int64 padded with -1.
    jaw_underside : (17, E) int64 the jaw lines' underside vertices, padded with -1
        (:func:`facefit.model.jaw_underside`), or None.
    underside_normals : (17, E, 3) their mean-shape normals, or None.
    """

    mean_shape: Array
    shape_basis: Array
    identity: Array
    expression: Array
    albedo_mean: Array
    albedo: Array
    triangles: Array
    landmark_indices: Array
    jaw_candidates: Array
    jaw_underside: Array | None = None
    underside_normals: Array | None = None
    _derived: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    _derived_lock: Any = field(default_factory=threading.Lock, repr=False, compare=False)

    def derived(self, key: Any, build: Callable[[], Any]) -> Any:
        """``build()``, computed once per ``key`` and kept with these arrays.

        For what fits derive from the model alone (the identity and expression bases side by
        side, the photometric samples' one-ring topology): rebuilt for every photo, they were
        a quarter of a fit's time in a fresh process.
        """
        with self._derived_lock:
            if key in self._derived:
                return self._derived[key]
        value = build()  # outside the lock: a build may itself ask for derived values
        with self._derived_lock:
            return self._derived.setdefault(key, value)


def _backend_for(*values: Any) -> Backend:
    """Where to evaluate coefficients ``values``: the backend of arrays of an array library
    (torch, CuPy, array-api-strict); the active backend for host values (NumPy arrays, lists,
    None), which, like :class:`facefit.FaceParams`, do not choose one."""
    arrays = [v for v in values if v is not None and not isinstance(v, list | tuple)]
    if arrays:
        found = backend_of(*arrays)
        if found.name != "numpy":
            return found
    return get_backend()


def _require(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise ModelError(f"model {name!r}: {message}")


@dataclass(eq=False)
class MorphableModel:
    """A 3D morphable face model.

    Attributes
    ----------
    name : a label (file name or model name).
    mean_shape : (V, 3) float64, millimetres.
    identity_basis, expression_basis : (V, 3, K) float64 unscaled bases.
    identity_std, expression_std : (K,) standard deviations of each component.
    albedo_mean : (V, 3) in [0, 1].
    albedo_basis : (V, 3, K_alb); albedo_std : (K_alb,).
    triangles : (T, 3) int64, 0-based, counter-clockwise seen from the front (+z).
    landmark_indices : (68,) int64 iBUG order, -1 where the model has no vertex.
    jaw_candidates : (17, C) int64 candidate lines for landmark marching, -1 padded.
    outline_indices : optional (17,) int64 vertices of the jaw line that the face region
        (:mod:`facefit.model.regions`) is cut along; None: the jaw landmark vertices. The
        shipped ICT model keeps ICT's own jaw vertices here, the line its region was built
        and measured on, while its jaw landmarks are respaced to 300-W's convention
        (:func:`facefit.model.respace_jaw`).
    units : "mm".
    metadata : free-form facts (source, licence, component names, prior notes).
    """

    name: str
    mean_shape: Any
    identity_basis: Any
    identity_std: Any
    expression_basis: Any
    expression_std: Any
    albedo_mean: Any
    albedo_basis: Any
    albedo_std: Any
    triangles: Any
    landmark_indices: Any
    jaw_candidates: Any
    units: str = "mm"
    metadata: dict[str, Any] = field(default_factory=dict)
    outline_indices: Any = None

    def __post_init__(self) -> None:
        name = self.name
        self.mean_shape = np.asarray(self.mean_shape, dtype=np.float64)
        _require(self.mean_shape.ndim == 2 and self.mean_shape.shape[1] == 3, name,
                 f"mean shape must be (V, 3), got {self.mean_shape.shape}")
        n = self.mean_shape.shape[0]
        for basis_name, std_name in (("identity_basis", "identity_std"),
                                     ("expression_basis", "expression_std"),
                                     ("albedo_basis", "albedo_std")):
            basis = np.asarray(getattr(self, basis_name), dtype=np.float64)
            std = np.asarray(getattr(self, std_name), dtype=np.float64).reshape(-1)
            _require(basis.ndim == 3 and basis.shape[:2] == (n, 3), name,
                     f"{basis_name} must be (V, 3, K) with V = {n}, got {basis.shape}")
            _require(std.shape == (basis.shape[2],), name,
                     f"{std_name} has {std.shape[0]} entries for {basis.shape[2]} components")
            _require(bool(np.all(np.isfinite(basis))) and bool(np.all(np.isfinite(std))), name,
                     f"{basis_name} or {std_name} has non-finite values")
            setattr(self, basis_name, basis)
            setattr(self, std_name, std)
        self.albedo_mean = np.asarray(self.albedo_mean, dtype=np.float64)
        _require(self.albedo_mean.shape == (n, 3), name,
                 f"albedo mean must be (V, 3) = ({n}, 3), got {self.albedo_mean.shape}")
        _require(bool(np.all(np.isfinite(self.mean_shape))), name, "mean shape is not finite")
        self.triangles = np.asarray(self.triangles)
        _require(self.triangles.ndim == 2 and self.triangles.shape[1] == 3, name,
                 f"triangles must be (T, 3), got {self.triangles.shape}")
        _require(np.issubdtype(self.triangles.dtype, np.integer), name,
                 "triangles must be integers")
        self.triangles = self.triangles.astype(np.int64)
        _require(self.triangles.size > 0 and self.triangles.min() >= 0
                 and self.triangles.max() < n, name,
                 f"triangle indices must lie in [0, {n})")
        self.landmark_indices = np.asarray(self.landmark_indices).astype(np.int64).reshape(-1)
        _require(self.landmark_indices.shape == (68,), name,
                 f"expected 68 landmark indices, got {self.landmark_indices.shape[0]}")
        _require(bool(np.all((self.landmark_indices >= -1) & (self.landmark_indices < n))),
                 name, f"landmark indices must lie in [-1, {n})")
        self.jaw_candidates = np.asarray(self.jaw_candidates).astype(np.int64)
        _require(self.jaw_candidates.ndim == 2 and self.jaw_candidates.shape[0] == 17, name,
                 f"jaw candidates must be (17, C), got {self.jaw_candidates.shape}")
        _require(bool(np.all((self.jaw_candidates >= -1) & (self.jaw_candidates < n))), name,
                 f"jaw candidate indices must lie in [-1, {n})")
        if self.outline_indices is not None:
            self.outline_indices = np.asarray(self.outline_indices).astype(np.int64).reshape(-1)
            _require(self.outline_indices.shape == (17,), name,
                     f"expected 17 outline indices, got {self.outline_indices.shape[0]}")
            _require(bool(np.all((self.outline_indices >= 0) & (self.outline_indices < n))),
                     name, f"outline indices must lie in [0, {n})")
        self._cache: dict[tuple[str, str, str], ModelArrays] = {}
        self._lock = threading.Lock()
        self._underside_lines: tuple[Any, Any] | None = None

    # -- sizes -----------------------------------------------------------------------------
    @property
    def n_vertices(self) -> int:
        return int(self.mean_shape.shape[0])

    @property
    def n_identity(self) -> int:
        return int(self.identity_basis.shape[2])

    @property
    def n_expression(self) -> int:
        return int(self.expression_basis.shape[2])

    @property
    def n_albedo(self) -> int:
        return int(self.albedo_basis.shape[2])

    def __repr__(self) -> str:
        return (f"MorphableModel({self.name!r}, {self.n_vertices} vertices, "
                f"{self.triangles.shape[0]} triangles, {self.n_identity} identity, "
                f"{self.n_expression} expression, {self.n_albedo} albedo)")

    # -- backend arrays ----------------------------------------------------------------------
    def arrays(self, backend: Backend | None = None) -> ModelArrays:
        """The model's arrays on ``backend`` (default: the active one), uploaded once."""
        backend = backend or get_backend()
        key = (backend.name, str(backend.device), backend.dtype_name)
        with self._lock:
            cached = self._cache.get(key)
            if cached is None:
                b = backend
                # One upload of both shape bases side by side, scaled on the host into one
                # buffer: the forward model multiplies them together, and a separate
                # concatenation on the backend was a tenth of a second of a cold fit.
                k = self.n_identity
                host = np.empty((self.n_vertices, 3, k + self.n_expression))
                np.multiply(self.identity_basis, self.identity_std, out=host[:, :, :k])
                np.multiply(self.expression_basis, self.expression_std, out=host[:, :, k:])
                shape_basis = b.asarray(host)
                underside, normals = self._underside()
                cached = ModelArrays(
                    mean_shape=b.asarray(self.mean_shape),
                    shape_basis=shape_basis,
                    identity=shape_basis[:, :, :k], expression=shape_basis[:, :, k:],
                    albedo_mean=b.asarray(self.albedo_mean),
                    albedo=b.asarray(self.albedo_basis * self.albedo_std),
                    triangles=b.asarray(self.triangles),
                    landmark_indices=b.asarray(self.landmark_indices),
                    jaw_candidates=b.asarray(self.jaw_candidates),
                    jaw_underside=b.asarray(underside), underside_normals=b.asarray(normals))
                self._cache[key] = cached
        return cached

    def _underside(self) -> tuple[Any, Any]:
        """Host (17, E) underside vertices of the jaw lines and their normals, computed once
        (:func:`facefit.model.jaw_underside`; 25 ms for the ICT mesh)."""
        if self._underside_lines is None:
            from .contours import jaw_underside

            self._underside_lines = jaw_underside(self.mean_shape, self.triangles,
                                                  self.landmark_indices)
        return self._underside_lines

    def _coefficients(self, values: Any, size: int, what: str, backend: Backend) -> Array:
        if values is None:
            return backend.xp.zeros((size,), dtype=backend.dtype, device=backend.device)
        array = values if backend.owns(values) else backend.asarray(values)
        if array.shape != (size,):
            raise ModelError(f"model {self.name!r}: {what} needs {size} coefficients, "
                             f"got shape {tuple(array.shape)}")
        return array

    def shape(self, identity: Any = None, expression: Any = None) -> Array:
        """Vertex positions (V, 3) in millimetres, on the backend of the coefficients (host
        values, NumPy or lists, go to the active backend).

        Parameters
        ----------
        identity : (K_id,) coefficients in units of std, or None (zeros).
        expression : (K_exp,) coefficients in units of std, or None (zeros).
        """
        backend = _backend_for(identity, expression)
        z_id = self._coefficients(identity, self.n_identity, "identity", backend)
        z_exp = self._coefficients(expression, self.n_expression, "expression", backend)
        z_id, z_exp = promote(z_id, z_exp, xp=backend.xp)
        shape = backend.xp.concat([z_id, z_exp])
        return evaluate(self.arrays(backend), Coefficients(shape=shape)).vertices

    def albedo_linear(self, coeffs: Any = None) -> Array:
        """Per-vertex albedo (V, 3) without clipping (linear, complex-safe; for the fitter), on
        the backend of ``coeffs`` as for :meth:`shape`."""
        backend = _backend_for(coeffs)
        z = self._coefficients(coeffs, self.n_albedo, "albedo", backend)
        return evaluate(self.arrays(backend), Coefficients(albedo=z)).albedo

    def albedo(self, coeffs: Any = None) -> Array:
        """Per-vertex albedo (V, 3) clipped to [0, 1], on the backend of ``coeffs`` as for
        :meth:`shape`."""
        linear = self.albedo_linear(coeffs)
        return array_namespace(linear).clip(linear, 0.0, 1.0)

    def save(self, path: Any) -> None:
        """Write the model in facefit's own ``.npz`` format."""
        from .formats.npz import save_npz

        save_npz(self, path)
