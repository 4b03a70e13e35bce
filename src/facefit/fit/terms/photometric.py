"""The photometric term: the model's colour against the photo at each sample vertex."""

from __future__ import annotations

import math
from typing import Any

from ...backends import (
    Backend,
    array_namespace,
    batched_matmul,
    gathered_matmul,
    is_plain_value,
)
from ...forward import FaceState, VertexSet, evaluate
from ...geometry import cross
from ...lighting import SH_CONSTANTS
from ...render.rasterize import rasterize
from ...render.visibility import visible_vertices
from ...sampling import bilinear_sample, gaussian_blur
from ..columns import channel_columns
from ..grouped import GroupedJacobian
from ..parameters import ParameterLayout
from ..topology import kept_rows, sample_subset, sample_vertex_set
from .base import LastEvaluation, image_plane, whole_mesh

Array = Any

__all__ = ["PhotometricTerm", "sh_basis_gradient", "shading_gradient"]


def sh_basis_gradient(normals: Array) -> Array:
    """Derivative of :func:`facefit.lighting.sh_basis` with respect to the normal.

    Parameters
    ----------
    normals : (..., 3) array.

    Returns
    -------
    (..., 9, 3) array ``d basis_k / d n_j``.
    """
    xp = array_namespace(normals)
    x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
    c = SH_CONSTANTS
    zero = xp.zeros_like(x)
    rows = [
        [zero, zero, zero],
        [zero, c[1] + zero, zero],
        [zero, zero, c[2] + zero],
        [c[3] + zero, zero, zero],
        [c[4] * y, c[4] * x, zero],
        [zero, c[5] * z, c[5] * y],
        [zero, zero, 6.0 * c[6] * z],
        [c[7] * z, zero, c[7] * x],
        [2.0 * c[8] * x, -2.0 * c[8] * y, zero],
    ]
    flat = [entry for row in rows for entry in row]
    return xp.reshape(xp.stack(flat, axis=-1), (*normals.shape[:-1], 9, 3))


def shading_gradient(normals: Array, light: Array) -> Array:
    """Derivative of the SH shading ``sh_basis(n) @ light`` with respect to the normal.

    The same as ``light.T @ sh_basis_gradient(normals)``, written out over the gradient's
    non-zero entries (at most four of nine per component): no (N, 9, 3) array and no
    stacked (3, 9) by (9, 3) products.

    Parameters
    ----------
    normals : (N, 3) array.
    light : (9, 3) SH coefficients per colour channel.

    Returns
    -------
    (N, 3 channels, 3) array ``d shading_c / d n_j``.
    """
    xp = array_namespace(normals, light)
    c = SH_CONSTANTS
    x, y, z = normals[:, 0:1], normals[:, 1:2], normals[:, 2:3]  # (N, 1), broadcast on channels
    band = [light[k, :][None, :] for k in range(9)]  # (1, 3) each
    d_x = c[3] * band[3] + (c[4] * y) * band[4] + (c[7] * z) * band[7] \
        + (2.0 * c[8] * x) * band[8]
    d_y = c[1] * band[1] + (c[4] * x) * band[4] + (c[5] * z) * band[5] \
        + (-2.0 * c[8] * y) * band[8]
    d_z = c[2] * band[2] + (c[5] * y) * band[5] + (6.0 * c[6] * z) * band[6] \
        + (c[7] * x) * band[7]
    return xp.stack([d_x, d_y, d_z], axis=-1)


class PhotometricTerm:
    """``sqrt(w / N_vis) * visible_v * (albedo_v * shading(n_v) - I(p_v))`` per sample vertex
    (with ``robust``, ``sqrt(w * r_v / sum r) * visible_v * (...)`` for held IRLS weights r).

    The image is sampled bilinearly at each projected sample vertex, so the Jacobian includes
    the image gradient and photometric error moves geometry too. Visibility (in the image,
    front-facing, passing the z-buffer test over its whole bilinear footprint) is decided by
    :meth:`update` and then frozen. The model is evaluated on the samples and their one-rings
    only (:func:`facefit.fit.topology.sample_vertex_set`).

    The rows of samples the photo does not see are zero while the state is frozen;
    :meth:`reduced_residuals` and :meth:`reduced_jacobian` leave them out (``fit``'s solver
    works on those: on the shared photos a third of the samples are unseen, and the Jacobian,
    ``J^T J`` and the trial evaluations shrink with them), and :meth:`residuals` and
    :meth:`jacobian` put them back as zeros.

    Parameters
    ----------
    arrays : the model's backend arrays.
    layout : the parameter layout.
    image : (H, W, 3) backend array in [0, 1].
    samples : (N,) int vertex ids whose colours are compared.
    weight : w_con.
    backend : the backend computed on.
    robust : None (least squares) or :class:`~facefit.fit.robust.RobustOptions`: each
        sample's row is then scaled by the square root of its IRLS weight, set by
        :meth:`reweight` and held until the next call (see :mod:`facefit.fit.robust`).
    """

    name = "photometric"

    def __init__(self, arrays: Any, layout: ParameterLayout, image: Array, samples: Array,
                 weight: float, backend: Backend, robust: Any = None):
        xp = backend.xp
        self.arrays, self.layout, self.backend = arrays, layout, backend
        self.photo, self.samples, self.weight = image, samples, weight
        # Coarse-to-fine (see smooth): the photo the samples are compared with, and the
        # position of its top-left pixel in the photo.
        self.image, self.origin, self.smoothing = image, (0, 0), 0.0
        self.vertices = sample_vertex_set(arrays, samples, backend)
        self.channel_columns, self._shared_albedo, self._own_albedo = channel_columns(
            layout, backend.to_numpy(self.vertices.albedo_basis), backend)
        self._last = LastEvaluation()
        self._seen_last = LastEvaluation()
        self._kept: Any = None  # (N,) host bool: the samples of seen_vertices
        self._subset: tuple[VertexSet, Array] | None = None
        self._sampled: tuple[FaceState, Array, tuple[Array, Array | None]] | None = None
        self._visibility = LastEvaluation()
        self.visible = xp.ones(samples.shape, dtype=backend.dtype, device=samples.device)
        self.robust = robust
        self.robust_weights = xp.ones(samples.shape, dtype=backend.dtype, device=samples.device)
        self.robust_sigma2 = math.inf
        self._scale_rows()

    def _scale_rows(self) -> None:
        """Row scale ``sqrt(w_con * w_i / sum_visible w_i)``: visibility times the held IRLS
        weights (all ones without ``robust``), normalised so that the term weighs w_con
        however many samples are visible or down-weighted."""
        xp = self.backend.xp
        weights = self.visible * self.robust_weights
        total = max(float(xp.sum(weights)), 1e-12)
        self.row_scale = xp.sqrt(weights * (self.weight / total))
        self._select_rows()

    def _select_rows(self) -> None:
        """The samples whose rows can be non-zero (row scale > 0; host work once per freeze):
        ``seen`` (N',) their indices, ``seen_vertices`` their vertex set, ``seen_scale`` their
        row scales, and where each of the 3N residuals sits among the 3N' reduced ones (the
        zero row 3N' past their end for an unseen sample)."""
        b, xp = self.backend, self.backend.xp
        kept = b.to_numpy(self.row_scale) > 0
        if self._kept is None or (kept != self._kept).any():
            # The same samples as before (IRLS weights, the last freeze of a fit) keep their
            # vertex subset, whose copy of the rings' basis rows is the costly part; a new
            # one is made on first use (not for the all-visible start a freeze replaces).
            self._kept = kept
            seen, rows = kept_rows(kept, 3)
            self.seen = b.asarray(seen)
            self._full_rows = b.asarray(rows)
            self._subset = None
            self._seen_last.clear()
        self.seen_scale = xp.take(self.row_scale, self.seen)

    @property
    def seen_vertices(self) -> VertexSet:
        """The :class:`~facefit.forward.VertexSet` of the seen samples (``seen``): they and
        the vertices of their one-rings (:func:`facefit.fit.topology.sample_subset`)."""
        return self._seen_subset()[0]

    def _seen_subset(self) -> tuple[VertexSet, Array]:
        """``seen_vertices``, and the seen samples' albedo basis at each channel's albedo
        columns (:attr:`channel_columns`: the shared components, then the channel's own),
        (N', 3, A); made once per set of seen samples."""
        if self._subset is None:
            xp = self.backend.xp
            vertices = sample_subset(self.vertices, self.seen, self.backend)
            basis = vertices.albedo_basis
            own = [xp.take(basis[:, c, :], self._own_albedo[c, :], axis=1) for c in range(3)]
            albedo = xp.concat([xp.take(basis, self._shared_albedo, axis=2),
                                xp.stack(own, axis=1)], axis=2)
            self._subset = (vertices, albedo)
        return self._subset

    def reweight(self, x: Array) -> None:
        """IRLS: set each sample's weight ``rho'(s)`` from its squared colour residual ``s``
        at the real point ``x`` (against the photo as now compared, see :meth:`smooth`), with
        the scale from their median over the visible samples; the weights are held until the
        next call, so the term stays smooth in ``x`` and its Jacobian exact. Nothing to do
        without ``robust``."""
        if self.robust is None:
            return
        from ..robust import robust_scale, robust_weights

        xp = self.backend.xp
        model, observed, visible = self.colours(x)
        squared = xp.sum((model - observed) ** 2, axis=1)
        self.robust_sigma2 = robust_scale(squared, visible, self.robust.factor,
                                          self.robust.floor)
        self.robust_weights = robust_weights(squared, self.robust_sigma2, self.robust.loss)
        self._scale_rows()

    def mesh_visibility(self, x: Array) -> tuple[FaceState, Array]:
        """The whole mesh at the real point ``x`` (:func:`.base.whole_mesh`) and which of its
        vertices the photo sees there, (V,) bool (in the image, front-facing, unoccluded over
        the whole bilinear footprint). Kept for the last ``x``: the albedo detail after the fit
        asks at the point of the final freeze, and reuses its rasterisation."""
        return self._visibility.get(x, self._decide_visibility)

    def _decide_visibility(self, x: Array) -> tuple[FaceState, Array]:
        whole = whole_mesh(self.arrays, self.layout, x)
        points, depth = whole.points, whole.depth
        xp = array_namespace(points)
        # The test reads the z-buffer at each vertex's 2 x 2 footprint only: rasterize the
        # window of the photo around the projected mesh, not the whole photo (on a 1280 x 1024
        # photo the full-size buffers cost 35 ms a freeze). Shifting by whole pixels is exact,
        # and the window keeps every footprint, the image bounds and the depth tolerance.
        height, width = self.photo.shape[0], self.photo.shape[1]
        low = [float(v) for v in xp.min(points, axis=0)]
        high = [float(v) for v in xp.max(points, axis=0)]
        left = min(max(math.floor(low[0]), 0), max(width - 2, 0))
        top = min(max(math.floor(low[1]), 0), max(height - 2, 0))
        right = min(max(math.floor(high[0]) + 2, left + 2), width)
        bottom = min(max(math.floor(high[1]) + 2, top + 2), height)
        shift = xp.asarray([float(left), float(top)], dtype=points.dtype, device=points.device)
        local = points - shift
        raster = rasterize(local, depth, self.arrays.triangles, (bottom - top, right - left))
        tolerance = 0.01 * max(high[0] - low[0], high[1] - low[1])
        return whole, visible_vertices(local, depth, whole.normals, raster, footprint="all",
                                       tolerance=tolerance)

    def update(self, x: Array) -> None:
        """Re-decide which samples are visible at the real point ``x``."""
        xp = self.backend.xp
        visible = self.mesh_visibility(x)[1]
        self.visible = xp.astype(xp.take(visible, self.samples), self.backend.dtype)
        self._scale_rows()

    def smooth(self, sigma: float, x: Array | None = None) -> None:
        """Compare with the photo blurred by a Gaussian of ``sigma`` pixels (0: the photo).

        Bilinear sampling gives the energy shallow ripples at the pixel scale, and LM steps
        from a rough start stop in them; the blurred photo's energy has its ripples smoothed
        away, so a first round on it gets near a deeper minimum of the photo's own energy
        (see ``fit``'s schedule). Only a box around the samples as projected at ``x`` (the
        whole photo without ``x``) is blurred, with a margin of a quarter of the box and the
        blur's reach: beyond it the blurred crop's edge is replicated, which keeps the
        residuals continuous. The Jacobian stays exact for the photo compared with.
        """
        if sigma <= 0:
            self.image, self.origin, self.smoothing = self.photo, (0, 0), 0.0
            return
        height, width = self.photo.shape[0], self.photo.shape[1]
        top, left, bottom, right = 0, 0, height, width
        if x is not None:
            xp = self.backend.xp
            x = self.backend.asarray(x)
            # The freeze just before a round rasterized the whole mesh at this x: its points
            # at the samples are the samples' own (the same bits), without evaluating them.
            kept = self._visibility.cached(x)
            points = self.state(x).points if kept is None else xp.take(
                kept[0].points, self.samples, axis=0)
            low = [float(v) for v in xp.min(points, axis=0)]
            high = [float(v) for v in xp.max(points, axis=0)]
            margin = [0.25 * (high[k] - low[k]) + 3 * sigma + 2 for k in range(2)]
            left = min(max(int(low[0] - margin[0]), 0), width - 2)
            top = min(max(int(low[1] - margin[1]), 0), height - 2)
            right = max(min(int(high[0] + margin[0]) + 2, width), left + 2)
            bottom = max(min(int(high[1] + margin[1]) + 2, height), top + 2)
        crop = self.photo[top:bottom, left:right, ...]
        self.image, self.origin, self.smoothing = gaussian_blur(crop, sigma), (left, top), sigma

    def _sample(self, points: Array, gradient: bool = False) -> Any:
        """The compared photo (see :meth:`smooth`) at ``points``, in the photo's pixels, and
        optionally its derivative with respect to ``points``."""
        if self.origin != (0, 0):
            xp = array_namespace(points)
            shift = xp.asarray([float(self.origin[0]), float(self.origin[1])],
                               dtype=self.photo.dtype, device=self.photo.device)
            points = points - shift
        return bilinear_sample(self.image, points, return_gradient=gradient)

    def state(self, x: Array) -> FaceState:
        """The samples evaluated at ``x``, shared by the residuals and Jacobian at one point."""
        return self._last.get(x, lambda v: evaluate(
            self.vertices, self.layout.coefficients_of(v), self.layout.pose_of(v)))

    def colours(self, x: Array) -> tuple[Array, Array, Array]:
        """``(model, observed, visible)`` at ``x``: the modelled colour (albedo times shading)
        and the photo's colour at each sample, (N, 3) each, and the (N,) visibility weights."""
        state = self.state(x)
        return state.colours, self._sample(state.points), self.visible

    def seen_state(self, x: Array) -> FaceState:
        """The seen samples (see :meth:`reduced_residuals`) evaluated at ``x``, shared by the
        reduced residuals and Jacobian at one point."""
        return self._seen_last.get(x, lambda v: evaluate(
            self.seen_vertices, self.layout.coefficients_of(v), self.layout.pose_of(v)))

    def reduced_residuals(self, x: Array) -> Array:
        """(3N',) the residuals of the N' samples the frozen state sees (``seen``), the rows
        of :meth:`residuals` that are not zero by the frozen visibility, in their order."""
        xp = array_namespace(x)
        state = self.seen_state(x)
        observed = self._seen_sample(state)[0]
        return xp.reshape(self.seen_scale[:, None] * (state.colours - observed), (-1,))

    def _seen_sample(self, state: FaceState) -> tuple[Array, Array | None]:
        """The compared photo and its gradient at the seen samples' points of ``state``,
        ``(N', 3)`` and ``(N', 3, 2)``: the reduced residuals take the first, the Jacobian at
        the same point (the solver's next step after an accepted trial) the second, from
        one sampling. Kept for the last state and photo (held here, so neither is
        another's once freed); for complex-step or autograd points, the values alone."""
        kept = self._sampled
        if kept is not None and kept[0] is state and kept[1] is self.image:
            return kept[2]
        if not is_plain_value(state.points):  # complex step, autograd: the values alone
            return self._sample(state.points), None
        sampled = self._sample(state.points, gradient=True)
        self._sampled = (state, self.image, sampled)
        return sampled

    def _with_unseen(self, reduced: Array) -> Array:
        """3N rows from the 3N' reduced ones: the unseen samples' rows are zeros."""
        xp = array_namespace(reduced)
        zero = xp.zeros((1, *reduced.shape[1:]), dtype=reduced.dtype, device=reduced.device)
        return xp.take(xp.concat([reduced, zero], axis=0), self._full_rows, axis=0)

    def seen_colours(self, x: Array) -> tuple[Array, Array, Array]:
        """:meth:`colours` of the seen samples alone (``seen``; the others have weight 0):
        ``(model, observed, row weight)``, (N', 3), (N', 3) and (N',), from the state the
        reduced residuals share."""
        xp = array_namespace(x)
        state = self.seen_state(x)
        return (state.colours, self._sample(state.points),
                xp.take(self.visible * self.robust_weights, self.seen))

    def residuals(self, x: Array) -> Array:
        return self._with_unseen(self.reduced_residuals(x))

    def jacobian(self, x: Array) -> Array:
        return self._with_unseen(self.reduced_jacobian(x))

    def reduced_jacobian(self, x: Array) -> Array:
        """(3N', n) the Jacobian of :meth:`reduced_residuals`: the rows of :meth:`jacobian`
        that are not zero by the frozen visibility."""
        return self.grouped_jacobian(x).dense()

    def grouped_jacobian(self, x: Array) -> GroupedJacobian:
        """:meth:`reduced_jacobian` (the reduced rows) by colour channel
        (:mod:`facefit.fit.grouped`): each channel's rows over the parameters they can depend
        on (:attr:`channel_columns`), for the normal equations without the other channels'
        light and albedo columns, which are zero in its rows."""
        xp = array_namespace(x)
        layout = self.layout
        state = self.seen_state(x)
        pose = state.pose  # of this very x (the state is only reused for an equal x)
        assert pose is not None
        rotation, scale = pose.rotation, pose.scale
        vertices = self.seen_vertices
        n_samples = vertices.albedo_mean.shape[0]
        gradient = self._seen_sample(state)[1]  # (N, 3, 2)
        assert gradient is not None  # the state of a plain x
        albedo, shading, light = state.albedo, state.shading, state.light
        # d shading_c / d camera normal: (N, 3 channels, 3)
        d_colour_d_normal = albedo[..., None] * shading_gradient(state.normals, light)

        # Shape coefficients, through the normals (colour) and the projection (image sample):
        # one coefficient block per ring vertex, times the ring's basis rows.
        ring_weights, _, length = state.ring_normals  # (N, R, 3), (N, 3), (N,)
        unit = state.model_normals
        eye3 = xp.eye(3, dtype=x.dtype, device=x.device)
        tangent = (eye3[None, ...] - unit[:, :, None] * unit[:, None, :]) / length[:, None, None]
        # (N, 3, 3): d colour / d m. Stacks of 3 x 3 products by the batched kernel (NumPy's
        # stacked matmul costs about a microsecond per matrix), the shared rotation as one
        # 2-D product.
        colour_rows = batched_matmul(
            xp.reshape(xp.reshape(d_colour_d_normal, (-1, 3)) @ rotation, (-1, 3, 3)), tangent)
        # d colour_i / d S_r = c_i^T [w_r]_x = (c_i x w_r)^T for each colour row c_i
        coefficients = xp.reshape(cross(colour_rows[:, :, None, :], ring_weights[:, None, :, :]),
                                  (n_samples, 3, 3 * vertices.rings.ring_size))  # (N, 3, 3R)
        projection = scale * image_plane(rotation[None, :, :])  # (1, 2, 3): d point / d S_v
        own = -(gradient @ projection)  # (N, 3, 3): through the image sample at the vertex
        coefficients = xp.concat([coefficients[:, :, :3] + own, coefficients[:, :, 3:]], axis=2)
        s = self.seen_scale[:, None, None]
        # Each channel's rows are written into one (N, 3, W) buffer over its own columns
        # (channel_columns: shape, pose, albedo, light), block by block, and the shape block
        # by the gathered product itself. Every column is written below: no need to clear it.
        # Column offsets in channel_columns' order: shape, rotation (3 angles), scale,
        # translation, then albedo and light.
        pose_start = layout.shape.stop - layout.shape.start
        scale_column = pose_start + (layout.rotation.stop - layout.rotation.start)
        albedo_start = scale_column + 1 + (layout.translation.stop - layout.translation.start)
        width = self.channel_columns.width
        out = xp.empty((n_samples, 3, width), dtype=x.dtype, device=x.device)
        # (N, 3, K), row-scaled: the ring's basis rows are gathered from the (U, 3, K) rows
        gathered_matmul(s * coefficients, vertices.rings.ring_local, vertices.shape_basis,
                        out=out, column=0)
        # The three angles at once: d R / d angle_k applied to the model-space normal and
        # point, (N, 3 components, 3 angles), through the shading and the image sample.
        turned = xp.matrix_transpose(pose.d_rotation)  # (3 angles, 3, 3)
        turned_normal = xp.permute_dims(unit[None, ...] @ turned, (1, 2, 0))
        turned_point = xp.permute_dims(state.vertices[None, ...] @ turned, (1, 2, 0))
        d_rot = batched_matmul(d_colour_d_normal, turned_normal) \
            - batched_matmul(gradient, scale * image_plane(turned_point))
        out[:, :, pose_start:scale_column] = s * d_rot
        out[:, :, scale_column] = (s * -(gradient @ image_plane(state.rotated[..., None])))[
            ..., 0]  # (N, 3)
        out[:, :, scale_column + 1:albedo_start] = s * -gradient  # (N, 3, 2)
        # The channel's albedo components (shared, then its own): d colour_c / d a_k =
        # shading_c * basis_ck.
        seen_albedo = self._seen_subset()[1]
        albedo_width = seen_albedo.shape[2]
        out[:, :, albedo_start:albedo_start + albedo_width] = s * (
            shading[..., None] * seen_albedo)
        # Its light: d colour_c / d light[k, c] = albedo_c * basis_k.
        out[:, :, albedo_start + albedo_width:] = s * (
            albedo[..., None] * state.sh_basis[:, None, :])
        return GroupedJacobian(out, self.channel_columns)
