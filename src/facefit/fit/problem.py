"""``FitProblem``: the energy of one photo, as residuals and Jacobians of a flat vector.

The residual vector stacks the terms (landmarks, photometric, prior) with fixed sizes. Discrete
state — jaw landmark vertices and sample visibility — is decided at ``x0`` on construction and
again by :meth:`FitProblem.freeze`; between those calls the residuals are smooth in ``x``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from ..backends import Backend, get_backend, gram, scatter_add, to_numpy
from ..camera import weak_perspective
from ..errors import FitError
from ..forward import derived
from ..geometry import boundary_vertices
from ..lighting import AMBIENT
from .initialize import affine_pose
from .inputs import (
    JACOBIAN_STRATEGIES,
    as_image,
    as_landmarks,
    as_model,
    as_point_weights,
    check_fittable_landmarks,
    check_jacobian,
    contour_outline,
    weighted_points,
)
from .parameters import ParameterLayout
from .robust import as_robust
from .terms import ContourTerm, LandmarkTerm, PhotometricTerm, PriorTerm, ResidualTerm
from .weights import FitWeights

Array = Any

__all__ = ["JACOBIAN_STRATEGIES", "FitProblem", "TermSource"]

#: A residual term, or a function that makes one for a problem (it gets the
#: :class:`FitProblem`, with ``model``, ``arrays``, ``layout``, ``image``, ``targets`` and
#: ``backend`` set, before its terms are frozen at ``x0``).
TermSource = ResidualTerm | Callable[["FitProblem"], ResidualTerm]


def _photometric_samples(arrays: Any, max_samples: int, backend: Backend,
                         triangles: Array | None = None) -> Array:
    """At most ``max_samples`` vertices of ``triangles`` (default: the whole mesh), evenly
    strided, off their boundary: boundary vertices sit on the rendered silhouette or on the
    face region's edge (the jaw line, the forehead cut), where the photo shows face and
    background, neck or hair side by side, so they are never compared."""
    xp = backend.xp
    n_vertices = arrays.mean_shape.shape[0]
    triangles = arrays.triangles if triangles is None else triangles
    corners = xp.reshape(triangles, (-1,))
    used = scatter_add(corners, xp.ones(corners.shape, dtype=xp.int64, device=corners.device),
                       n_vertices) > 0
    inner = xp.arange(n_vertices, device=backend.device)[
        used & ~boundary_vertices(triangles, n_vertices)]
    stride = max(1, math.ceil(inner.shape[0] / max_samples))
    return inner[::stride]


def _face_triangles(model: Any, backend: Backend) -> Array | None:
    """The model's face-region triangles (:func:`facefit.model.regions.face_region`; the
    whole mesh for a mesh the region cannot be cut from), or None for model-like objects
    without the host arrays it is cut from (they are compared whole)."""
    if not all(hasattr(model, name) for name in ("mean_shape", "triangles",
                                                  "landmark_indices")):
        return None
    from ..model.regions import face_region

    return face_region(model, backend)["triangles"]


def _residual_function(term: ResidualTerm, reduced: bool) -> Callable[[Array], Array]:
    """``term.residuals``, or with ``reduced`` its ``reduced_residuals`` where it has them."""
    return getattr(term, "reduced_residuals", term.residuals) if reduced else term.residuals


def _jacobian_function(term: ResidualTerm, reduced: bool) -> Callable[[Array], Array | None]:
    """``term.jacobian``, or with ``reduced`` its ``reduced_jacobian`` where it has one."""
    return getattr(term, "reduced_jacobian", term.jacobian) if reduced else term.jacobian


def _residual_part(r: Array, offset: int, count: int) -> Array:
    """``r[offset:offset + count]``, a term's residuals in the stacked vector ``r``."""
    if offset + count > r.shape[0]:
        raise FitError(f"normal_equations: r has {r.shape[0]} residuals, the terms at least "
                       f"{offset + count}")
    return r[offset:offset + count]


def _as_term(source: Any, problem: FitProblem) -> ResidualTerm:
    is_term = isinstance(source, ResidualTerm) and not isinstance(source, type)
    term = source if is_term else source(problem)
    if not isinstance(term, ResidualTerm):
        raise FitError(f"terms: {source!r} is not a residual term (name, update, residuals, "
                       "jacobian) nor a function of the problem that returns one")
    if problem.term(term.name) is not None:
        raise FitError(f"terms: the problem already has a term named {term.name!r}")
    return term


class FitProblem:
    """The fitting energy of one photo and its landmarks.

    Parameters
    ----------
    image : (H, W, 3) array in [0, 1] (uint8 is scaled by 1/255) or a path; None fits the
        landmarks alone.
    landmarks : (68, 2) 0-based pixel positions (NaN = missing) or a landmark file path.
    model : a :class:`facefit.MorphableModel` or a model file path; None loads the embedded
        default.
    weights : :class:`FitWeights`; None uses the defaults.
    max_samples : at most this many vertices are compared with the photo (evenly strided).
    landmark_weights : optional (68,) relative weight of each landmark (>= 0), e.g.
        :attr:`facefit.detect.DetectedFace.point_weights`; None weighs all points alike. A
        point weighted 0 is a missing one: the face's size, starting pose and starting light
        come from :attr:`face_points`.
    terms : extra residual terms (see :mod:`facefit.fit.terms`), each a term or a function
        ``problem -> term``; they follow the built-in ones in the residual vector, and
        :func:`facefit.fit` includes them in its last (photometric) stage.
    robust : None (least squares), a loss name (``"geman-mcclure"``, ``"cauchy"``) or
        :class:`~facefit.fit.robust.RobustOptions`: IRLS weights for the photometric samples,
        set by ``photometric_term.reweight`` (:func:`facefit.fit` does so before each
        photometric round).
    contour : with a photo, add the contour term (:mod:`facefit.fit.terms.contour`): the
        model's jaw silhouette against the photo's skin edges (True) or against a given
        outline around the face ((P, 2) pixels of ``image``, such as
        :attr:`facefit.detect.DetectedFace.outline`); False or None: no contour term.

    The photometric samples lie in the model's face region (:mod:`facefit.model.regions`:
    what a 300-W annotator outlines), not on the forehead up to the hairline, the sides toward
    the ears or under the chin, which photos show covered by hair or in shadow.

    Attributes
    ----------
    x0 : (n,) host float64 starting point: closed-form pose, zero coefficients, ambient light
        matched to the photo's brightness.
    face_points : (68, 2) host float64: the landmarks given and weighted, the others (missing
        or weighted 0) the model's mean landmarks at the starting pose. The face's size that
        normalises the landmark and contour terms is their box's diagonal.
    layout : the :class:`ParameterLayout` of ``x``.
    terms : the residual terms, in residual order: ``landmarks``, ``photometric`` and
        ``contour`` (with a photo), ``prior``, then the extra ones.
    """

    def __init__(self, image: Any, landmarks: Any, model: Any = None, *,
                 weights: FitWeights | None = None, max_samples: int = 1200,
                 backend: Backend | None = None, landmark_weights: Any = None,
                 terms: Sequence[TermSource] = (), robust: Any = None,
                 contour: Any = False):
        self.backend = backend or get_backend()
        self.model = as_model(model)
        self.weights = weights or FitWeights()
        self.image = as_image(image)
        self.targets, name = as_landmarks(landmarks)
        check_fittable_landmarks(self.targets, None if self.image is None else self.image.shape,
                                 name)
        self.layout = ParameterLayout.for_model(self.model)
        b = self.backend
        self.arrays = self.model.arrays(b)
        arrays = self.arrays
        w = self.weights
        point_weights = as_point_weights(landmark_weights)
        kept = weighted_points(self.targets, point_weights)
        weighted = ~(kept != kept).any(axis=1)  # (68,) host: given and not weighted 0
        ids = to_numpy(arrays.landmark_indices)  # (68,) host, -1 without a vertex
        pose = self._starting_pose(weighted, ids)
        self.face_points = self._face_points(weighted, ids, pose)
        extent = b.asarray(self.face_points)
        built: list[ResidualTerm] = [LandmarkTerm(
            arrays, self.layout, b.asarray(self.targets), w.landmarks, b, point_weights,
            extent=extent)]
        if self.image is not None:
            region = _face_triangles(self.model, b)
            samples = derived(arrays, ("photometric samples", max_samples),
                              lambda: _photometric_samples(arrays, max_samples, b, region))
            built.append(PhotometricTerm(arrays, self.layout, b.asarray(self.image), samples,
                                         w.photometric, b, as_robust(robust)))
            outline = contour_outline(contour)
            if (outline is not None or contour is True) and w.contour > 0 \
                    and hasattr(arrays, "jaw_candidates"):
                built.append(ContourTerm(
                    arrays, self.layout, b.asarray(self.image), b.asarray(self.targets),
                    w.contour, b, point_weights=point_weights,
                    outline=None if outline is None else b.asarray(outline), extent=extent))
        built.append(PriorTerm(self.layout, w.identity, w.expression, w.albedo, b))
        self.terms: list[ResidualTerm] = built
        for source in terms:
            self.terms.append(_as_term(source, self))
        self.x0 = self._initial_point(pose)
        self.freeze(self.x0)

    def term(self, name: str) -> Any:
        """The term called ``name``, or None when the problem has none."""
        return next((t for t in self.terms if t.name == name), None)

    @property
    def landmark_term(self) -> LandmarkTerm:
        """The built-in landmark term."""
        return self.term("landmarks")

    @property
    def photometric_term(self) -> PhotometricTerm | None:
        """The built-in photometric term (None without a photo)."""
        return self.term("photometric")

    @property
    def contour_term(self) -> ContourTerm | None:
        """The built-in contour term (None without a photo or with ``contour=False``)."""
        return self.term("contour")

    @property
    def prior_term(self) -> PriorTerm:
        """The built-in prior term."""
        return self.term("prior")

    # -- starting point -------------------------------------------------------------------
    def _starting_pose(self, weighted: Any, ids: Any) -> tuple[Any, Any, Any]:
        """Closed-form ``(angles, scale, translation)`` from the ``weighted`` ((68,) host bool)
        points' model vertices ``ids`` (:func:`affine_pose`), the rigid inner ones where at
        least 6 are weighted."""
        xp, b = self.backend.xp, self.backend
        given = weighted & (ids >= 0)
        given[:17] = False  # the jaw slides over the surface: use the rigid inner points
        if given.sum() < 6:
            given = weighted & (ids >= 0)
        if given.sum() < 4:  # too few weighted for a pose: the unweighted ones place the face
            given = ~(self.targets != self.targets).any(axis=1) & (ids >= 0)
        model_points = xp.take(self.arrays.mean_shape, b.asarray(ids[given]), axis=0)
        return affine_pose(model_points, b.asarray(self.targets[given]))

    def _face_points(self, weighted: Any, ids: Any, pose: tuple[Any, Any, Any]) -> Any:
        """(68, 2) host float64: the ``weighted`` ((68,) host bool) points, and where a point
        is missing or weighted 0 the model's mean landmark at the starting ``pose``; NaN where
        the model has no vertex for the point (the fit does not use it).

        The face's size (the terms' normalising diagonal, the box of the starting light) is
        measured on these, so a point weighted 0 counts as missing, as a user means it, and a
        face given without its jaw is still measured with one: the box of its inner points
        alone is a smaller face, which would weigh the landmarks up against the other terms.
        """
        points = self.targets.copy()
        fill = ~weighted & (ids >= 0)
        if fill.any():
            mean = self.backend.xp.take(self.arrays.mean_shape, self.backend.asarray(ids[fill]),
                                        axis=0)
            points[fill] = to_numpy(weak_perspective(mean, *pose)[0])
        points[ids < 0] = float("nan")
        return points

    def _initial_point(self, pose: tuple[Any, Any, Any]) -> Any:
        layout = self.layout
        angles, scale, translation = pose
        x = to_numpy([0.0] * layout.size).astype("float64")
        brightness = self._brightness()
        for c in range(3):
            x[layout.light.start + c] = AMBIENT * brightness[c]
        x[layout.rotation] = to_numpy(angles)
        x[layout.scale] = float(scale)
        x[layout.translation] = to_numpy(translation)
        return x

    def _brightness(self) -> list[float]:
        """Ambient light level per channel: photo colour in the face points' box / mean
        albedo."""
        if self.image is None:
            return [1.0, 1.0, 1.0]
        pts = self.face_points[~(self.face_points != self.face_points).any(axis=1)]
        low, high = pts.min(axis=0).astype(int), pts.max(axis=0).astype(int)
        height, width = self.image.shape[:2]
        x0, x1 = max(low[0], 0), min(high[0] + 1, width)
        y0, y1 = max(low[1], 0), min(high[1] + 1, height)
        patch = self.image[y0:y1, x0:x1].reshape(-1, 3)
        albedo = to_numpy(self.arrays.albedo_mean).mean(axis=0)
        mean = patch.mean(axis=0) if patch.size else [0.5, 0.5, 0.5]
        return [float(mean[c] / max(albedo[c], 1e-3)) for c in range(3)]

    # -- evaluation -----------------------------------------------------------------------
    def _backend_x(self, x: Any) -> Any:
        x_b = self.backend.asarray(x)
        if x_b.shape != (self.layout.size,):
            raise FitError(f"x must have shape ({self.layout.size},), got {tuple(x_b.shape)}")
        return x_b

    def _like_input(self, value: Any, x: Any) -> Any:
        """Back to NumPy when the caller passed a NumPy (or list) vector."""
        return value if self.backend.owns(x) else to_numpy(value)

    def freeze(self, x: Any, terms: Sequence[ResidualTerm] | None = None) -> None:
        """Re-decide the discrete state (jaw vertices, visibility) at ``x`` and keep it.

        ``terms`` limits this to those terms (default all): a landmark stage need not
        rasterize the mesh for the photometric samples' visibility.
        """
        x_b = self._backend_x(x)
        for term in terms or self.terms:
            term.update(x_b)

    def residual_vector(self, x: Any, terms: Sequence[ResidualTerm] | None = None, *,
                        reduced: bool = False) -> Any:
        """Stacked residuals of ``terms`` (all by default) as a backend array.

        ``reduced`` leaves out the rows that the terms' frozen state makes zero (a term's
        ``reduced_residuals``, where it has one: the photometric samples the photo does not
        see): the same energy and normal equations from fewer rows, which is what ``fit``'s
        solver works on.
        """
        xp = self.backend.xp
        return xp.concat([_residual_function(t, reduced)(x) for t in (terms or self.terms)])

    def jacobian_matrix(self, x: Any, strategy: str = "analytic",
                        terms: Sequence[ResidualTerm] | None = None, *,
                        reduced: bool = False) -> Any:
        """Stacked Jacobian of ``terms`` as a backend array (see :meth:`jacobian`); with
        ``reduced``, of :meth:`residual_vector`'s reduced rows."""
        xp = self.backend.xp
        check_jacobian(strategy, self.backend)
        blocks = []
        for term in terms or self.terms:
            block = None
            if strategy == "analytic":
                block = _jacobian_function(term, reduced)(x)
            if block is None:  # no analytic form (or not asked for): the backend's automatic one
                automatic = self.backend.automatic_jacobian if strategy == "analytic" else strategy
                block = self.backend.jacobian(_residual_function(term, reduced), x, automatic)
            blocks.append(block)
        return xp.concat(blocks, axis=0)

    def normal_equations(self, x: Any, r: Any, strategy: str = "analytic",
                         terms: Sequence[ResidualTerm] | None = None, *, reduced: bool = False,
                         threads: int | None = None, columns: Any = None) -> tuple[Any, Any]:
        """``(J^T J, J^T r)``, (k, k) and (k,), of :meth:`jacobian_matrix` at ``x`` with the
        residuals ``r`` there (:meth:`residual_vector` with the same ``terms`` and
        ``reduced``), summed term by term instead of from the stacked Jacobian, over the
        parameters ``columns`` (a (k,) index array; None: all n).

        A term whose Jacobian has one entry per row (``jacobian_columns``, the prior: a
        scaled identity on the coefficients) adds to the diagonal and the gradient directly;
        as dense rows it was a tenth of the normal matrix's work. A term with a
        ``grouped_jacobian`` (:mod:`facefit.fit.grouped`: rows in groups, each over the
        parameters it can depend on) adds its normal equations group by group: the
        photometric term's colour channels (its reduced rows, so with ``reduced`` only)
        take 39% less work than its dense ``J^T J``, the landmarks skip albedo and light.
        ``threads``: host BLAS threads for the products (:func:`facefit.backends.gram`).
        """
        xp = self.backend.xp
        check_jacobian(strategy, self.backend)
        n = self.layout.size
        k = n if columns is None else columns.shape[0]
        normal: Any = None
        gradient: Any = None
        sparse: Any = None  # the one-entry-per-row terms' J^T r, over all n
        diagonal = xp.zeros((n,), dtype=r.dtype, device=r.device)
        offset = 0
        for term in terms or self.terms:
            one_per_row = getattr(term, "jacobian_columns", None) if strategy == "analytic" \
                else None
            if one_per_row is not None:
                ids, values = one_per_row(x)
                part = _residual_part(r, offset, ids.shape[0])
                diagonal = diagonal + scatter_add(ids, values * values, n)
                step = scatter_add(ids, values * part, n)
                sparse = step if sparse is None else sparse + step
                offset += ids.shape[0]
                continue
            # A term's grouped Jacobian has the rows of its reduced residuals (where it has
            # them: only with ``reduced``, else the rows differ).
            grouped = getattr(term, "grouped_jacobian", None) if strategy == "analytic" and (
                reduced or not hasattr(term, "reduced_residuals")) else None
            if grouped is not None:  # rows by group, each over its own columns
                jacobian = grouped(x)
                part = _residual_part(r, offset, jacobian.rows)
                offset += jacobian.rows
                product, step = jacobian.normal_equations(part, threads)
                if columns is not None:
                    product = xp.take(xp.take(product, columns, axis=0), columns, axis=1)
                    step = xp.take(step, columns)
                normal = product if normal is None else normal + product
                gradient = step if gradient is None else gradient + step
                continue
            block = self.jacobian_matrix(x, strategy, [term], reduced=reduced)
            part = _residual_part(r, offset, block.shape[0])
            offset += block.shape[0]
            if columns is not None:  # the solver's active parameters only
                block = xp.take(block, columns, axis=1)
            product = gram(block, threads)
            normal = product if normal is None else normal + product
            step = xp.matrix_transpose(block) @ part
            gradient = step if gradient is None else gradient + step
        if offset != r.shape[0]:
            raise FitError(f"normal_equations: r has {r.shape[0]} residuals, the terms {offset}")
        if columns is not None:
            diagonal = xp.take(diagonal, columns)
            sparse = xp.take(sparse, columns) if sparse is not None else None
        eye = xp.eye(k, dtype=r.dtype, device=r.device)
        normal = eye * diagonal[None, :] if normal is None else normal + eye * diagonal[None, :]
        if sparse is not None:
            gradient = sparse if gradient is None else gradient + sparse
        if gradient is None:
            gradient = xp.zeros((k,), dtype=r.dtype, device=r.device)
        return normal, gradient

    def residuals(self, x: Any) -> Any:
        """Residual vector at ``x`` (frozen discrete state); NumPy in, NumPy out."""
        return self._like_input(self.residual_vector(self._backend_x(x)), x)

    def jacobian(self, x: Any, strategy: str = "analytic") -> Any:
        """(m, n) Jacobian at ``x``: ``"analytic"``, ``"complex-step"`` or ``"autograd"``."""
        return self._like_input(self.jacobian_matrix(self._backend_x(x), strategy), x)

    def energy(self, x: Any) -> float:
        """Sum of squared residuals at ``x``."""
        r = self.residual_vector(self._backend_x(x))
        return float(self.backend.xp.sum(r * r))
