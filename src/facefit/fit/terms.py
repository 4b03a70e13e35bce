"""Residual terms of the fitting energy, each with an exact analytic Jacobian.

Every term maps the flat parameter vector ``x`` (see :mod:`.parameters`) to a fixed-size residual
vector. Discrete decisions — which vertex each jaw landmark uses, which sample vertices are
visible — are taken by :meth:`update` at a real ``x`` and then frozen, so :meth:`residuals` is
smooth in ``x`` and complex-step safe. :meth:`jacobian` is the analytic chain rule, O(m n):
per sample a 3x3 (or 2x3) derivative times the basis rows of its vertex.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from ..backends import (
    Backend,
    array_namespace,
    gathered_matmul,
    is_plain_value,
    promote,
    real_part,
)
from ..camera import project, rotate
from ..geometry import cross, rotation_matrix, rotation_matrix_derivatives, vertex_normals
from ..lighting import SH_CONSTANTS, sh_basis
from ..model.morphable_model import basis_product
from ..render.landmarks import landmark_vertices
from ..render.rasterize import rasterize
from ..render.visibility import visible_vertices
from ..sampling import bilinear_sample, gaussian_blur
from .parameters import ParameterLayout

Array = Any

__all__ = ["LandmarkTerm", "PhotometricTerm", "PriorTerm", "ResidualTerm", "ring_topology",
           "sh_basis_gradient"]


class ResidualTerm(Protocol):
    """What the solver needs of a term. ``jacobian`` may return None (no analytic form)."""

    name: str

    def update(self, x: Array) -> None: ...

    def residuals(self, x: Array) -> Array: ...

    def jacobian(self, x: Array) -> Array | None: ...


class _Pose:
    """Pose blocks of ``x`` on the backend: rotation, its derivatives, scale, translation."""

    def __init__(self, x: Array, layout: ParameterLayout):
        self.angles = x[layout.rotation]
        self.rotation = rotation_matrix(self.angles)
        self.scale = x[layout.scale]
        self.translation = x[layout.translation]
        self._d_rotation: Array | None = None

    @property
    def d_rotation(self) -> Array:
        """(3, 3, 3) derivatives of the rotation, made when a Jacobian first asks (residuals,
        evaluated more often than Jacobians, never do)."""
        if self._d_rotation is None:
            self._d_rotation = rotation_matrix_derivatives(self.angles)
        return self._d_rotation


def _assemble(layout: ParameterLayout, rows: int, blocks: dict[str, Array], like: Array) -> Array:
    """(rows, n) Jacobian from per-block column groups; absent blocks are zeros."""
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


def _flip_y(v: Array) -> Array:
    """Image-plane part of camera-space vectors (..., 3, ...) on axis -2: [x, -y]."""
    xp = array_namespace(v)
    return xp.stack([v[..., 0, :], -v[..., 1, :]], axis=-2)


class LandmarkTerm:
    """``sqrt(w / L) / d * (project(S[ids]) - l)`` over the L landmarks given (NaN = missing).

    Parameters
    ----------
    arrays : the model's backend arrays (``model.arrays(backend)``).
    shape_basis : (V, 3, K_id + K_exp) identity and expression bases side by side.
    layout : the parameter layout.
    targets : (68, 2) backend array of landmark positions, NaN where missing.
    weight : w_lan.
    point_weights : optional (68,) host relative weight of each point (>= 0); the term is
        normalised by their sum over the given points, so all ones is the plain mean.
    """

    name = "landmarks"

    def __init__(self, arrays: Any, shape_basis: Array, layout: ParameterLayout, targets: Array,
                 weight: float, backend: Backend, point_weights: Any = None):
        xp = backend.xp
        self.arrays, self.shape_basis = arrays, shape_basis
        self.layout, self.backend = layout, backend
        given = ~xp.any(xp.isnan(targets), axis=1) & (arrays.landmark_indices >= 0)
        self.count = int(xp.sum(xp.astype(given, xp.int64)))
        safe = xp.where(given[:, None], targets, xp.zeros_like(targets))
        present = safe[given] if self.count else safe
        extent = xp.max(present, axis=0) - xp.min(present, axis=0)
        self.diagonal = max(float(xp.sqrt(xp.sum(extent * extent))), 1.0)
        relative = xp.astype(given, backend.dtype)
        total = float(self.count)
        if point_weights is not None:
            relative = relative * backend.asarray(point_weights)
            total = float(xp.sum(relative))
        scale = math.sqrt(weight / (total if total > 0 else 1.0)) / self.diagonal
        self.row_weight = xp.sqrt(relative) * scale  # (68,)
        self.targets = safe
        self.vertex_ids = arrays.landmark_indices
        self._gather()

    def _gather(self) -> None:
        xp = self.backend.xp
        ids = xp.where(self.vertex_ids >= 0, self.vertex_ids, xp.zeros_like(self.vertex_ids))
        self.mean = xp.take(self.arrays.mean_shape, ids, axis=0)  # (68, 3)
        self.basis = xp.take(self.shape_basis, ids, axis=0)  # (68, 3, K)

    def update(self, x: Array) -> None:
        """Landmark marching: each jaw landmark takes the silhouette vertex of its line at ``x``."""
        pose = _Pose(x, self.layout)
        shape = self.arrays.mean_shape + basis_product(self.shape_basis, x[self.layout.shape])
        points, _ = project(rotate(shape, pose.rotation), pose.scale, pose.translation)
        self.vertex_ids = landmark_vertices(points, self.arrays.landmark_indices,
                                            self.arrays.jaw_candidates)
        self._gather()

    def _shape(self, x: Array) -> Array:
        return self.mean + basis_product(self.basis, x[self.layout.shape])  # (68, 3)

    def residuals(self, x: Array) -> Array:
        xp = array_namespace(x)
        pose = _Pose(x, self.layout)
        points, _ = project(rotate(self._shape(x), pose.rotation), pose.scale, pose.translation)
        return xp.reshape(self.row_weight[:, None] * (points - self.targets), (-1,))

    def jacobian(self, x: Array) -> Array:
        xp = array_namespace(x)
        pose = _Pose(x, self.layout)
        shape = self._shape(x)  # (L, 3)
        w = self.row_weight[:, None, None]  # (L, 1, 1)
        rotated_basis = pose.rotation @ self.basis  # (L, 3, K)
        d_shape = w * pose.scale * _flip_y(rotated_basis)  # (L, 2, K)
        turned = [shape @ xp.matrix_transpose(pose.d_rotation[k, ...]) for k in range(3)]
        d_rot = xp.stack([_flip_y(t[..., None])[..., 0] for t in turned], axis=-1)  # (L, 2, 3)
        rotated = shape @ xp.matrix_transpose(pose.rotation)
        d_scale = _flip_y(rotated[..., None])  # (L, 2, 1)
        eye = xp.eye(2, dtype=x.dtype, device=x.device)
        d_trans = xp.broadcast_to(eye, (shape.shape[0], 2, 2))
        rows = 2 * shape.shape[0]
        return _assemble(self.layout, rows, {
            "shape": d_shape, "rotation": w * pose.scale * d_rot, "scale": w * d_scale,
            "translation": w * d_trans}, like=x)


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


class PhotometricTerm:
    """``sqrt(w / N_vis) * visible_v * (albedo_v * shading(n_v) - I(p_v))`` per sample vertex.

    The image is sampled bilinearly at each projected sample vertex, so the Jacobian includes
    the image gradient and photometric error moves geometry too. Visibility (in the image,
    front-facing, passing the z-buffer test) is decided by :meth:`update` and then frozen.

    Parameters
    ----------
    arrays : the model's backend arrays.
    shape_basis : (V, 3, K_id + K_exp).
    layout : the parameter layout.
    image : (H, W, 3) backend array in [0, 1].
    samples : (N,) int vertex ids whose colours are compared.
    weight : w_con.
    """

    name = "photometric"

    def __init__(self, arrays: Any, shape_basis: Array, layout: ParameterLayout, image: Array,
                 samples: Array, weight: float, backend: Backend):
        xp = backend.xp
        self.arrays, self.shape_basis = arrays, shape_basis
        self.layout, self.backend = layout, backend
        self.photo, self.samples, self.weight = image, samples, weight
        # Coarse-to-fine (see smooth): the photo the samples are compared with, and the
        # position of its top-left pixel in the photo.
        self.image, self.origin, self.smoothing = image, (0, 0), 0.0
        self.sample_albedo_mean = xp.take(arrays.albedo_mean, samples, axis=0)
        self.sample_albedo_basis = xp.take(arrays.albedo, samples, axis=0)  # (N, 3, K_alb)
        self._build_rings(backend)
        self._last_forward: tuple[Array, dict[str, Array]] | None = None
        self.visible = xp.ones(samples.shape, dtype=backend.dtype, device=samples.device)
        self.row_scale = self.visible * math.sqrt(weight / samples.shape[0])

    def update(self, x: Array) -> None:
        """Re-decide which samples are visible at the real point ``x``."""
        xp = self.backend.xp
        pose = _Pose(x, self.layout)
        shape = self.arrays.mean_shape + basis_product(self.shape_basis, x[self.layout.shape])
        rotated = rotate(shape, pose.rotation)
        points, depth = project(rotated, pose.scale, pose.translation)
        normals = vertex_normals(rotated, self.arrays.triangles)
        height, width = self.photo.shape[0], self.photo.shape[1]
        raster = rasterize(points, depth, self.arrays.triangles, (height, width))
        visible = xp.take(visible_vertices(points, depth, normals, raster), self.samples)
        # The bilinear footprint (2 x 2 pixels) must lie on the face, not across a silhouette.
        covered = xp.reshape(raster.mask(), (-1,))
        sample_points = xp.take(points, self.samples, axis=0)
        left = xp.clip(xp.floor(sample_points[:, 0]), 0, width - 2)
        top = xp.clip(xp.floor(sample_points[:, 1]), 0, height - 2)
        corner = xp.astype(top * width + left, xp.int64)
        for offset in (0, 1, width, width + 1):
            visible = visible & xp.take(covered, corner + offset)
        self.visible = xp.astype(visible, self.backend.dtype)
        count = max(float(xp.sum(self.visible)), 1.0)
        self.row_scale = self.visible * math.sqrt(self.weight / count)

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
            points = self._cached_forward(self.backend.asarray(x))["points"]
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

    def _cached_forward(self, x: Array) -> dict[str, Array]:
        """:meth:`_forward`, reusing the last one for an equal plain (real, derivative-free)
        ``x``: the solver asks for the Jacobian at the point whose residuals it just took."""
        plain = is_plain_value(x)
        last = self._last_forward
        if plain and last is not None and (last[0].shape, last[0].dtype) == (x.shape, x.dtype):
            xp = array_namespace(x)
            if bool(xp.all(last[0] == x)):
                return last[1]
        forward = self._forward(x)
        if plain:
            self._last_forward = (array_namespace(x).asarray(x, copy=True), forward)
        return forward

    def _forward(self, x: Array) -> dict[str, Array]:
        xp = array_namespace(x)
        layout = self.layout
        pose = _Pose(x, layout)
        # Only the samples and their one-rings: (U, 3), U <= V.
        shape = self.ring_mean + basis_product(self.ring_vertex_basis, x[layout.shape])
        corners, summed, length = self._sample_normals(shape)
        sample_normals = summed / length[:, None]  # model space, (N, 3)
        camera_normals = rotate(sample_normals, pose.rotation)
        sample_shape = xp.take(shape, self.local_samples, axis=0)
        points, _ = project(rotate(sample_shape, pose.rotation), pose.scale, pose.translation)
        light = xp.reshape(x[layout.light], (9, 3))
        basis = sh_basis(camera_normals)  # (N, 9)
        basis, light = promote(basis, light, xp=xp)
        shading = basis @ light  # (N, 3)
        albedo = self.sample_albedo_mean + basis_product(self.sample_albedo_basis, x[layout.albedo])
        return {"pose": pose, "sample_shape": sample_shape, "corners": corners,
                "length": length,
                "normals": sample_normals, "camera_normals": camera_normals, "points": points,
                "light": light, "basis": basis, "shading": shading, "albedo": albedo}

    def colours(self, x: Array) -> tuple[Array, Array, Array]:
        """``(model, observed, visible)`` at ``x``: the modelled colour (albedo times shading)
        and the photo's colour at each sample, (N, 3) each, and the (N,) visibility weights."""
        f = self._cached_forward(x)
        return f["albedo"] * f["shading"], self._sample(f["points"]), self.visible

    def residuals(self, x: Array) -> Array:
        xp = array_namespace(x)
        f = self._cached_forward(x)
        observed = self._sample(f["points"])
        return xp.reshape(self.row_scale[:, None] * (f["albedo"] * f["shading"] - observed), (-1,))

    def _build_rings(self, backend: Backend) -> None:
        """Constant topology for the analytic normal derivative, from :func:`ring_topology`,
        built once per model and sample set and kept with the model's arrays."""
        key = ("photometric rings", tuple(int(v) for v in backend.to_numpy(self.samples)))
        rings = derived(self.arrays, key, lambda: ring_topology(
            self.arrays, self.shape_basis, self.samples, backend))
        self.ring_size = rings["ring_size"]
        self.local_samples = rings["local_samples"]
        self.face_corners = rings["face_corners"]
        self.ring_mean = rings["ring_mean"]
        self.ring_vertex_basis = rings["ring_vertex_basis"]
        self.ring_local = rings["ring_local"]
        self.face_valid = rings["face_valid"]
        self.corner_to_ring = rings["corner_to_ring"]

    def _sample_normals(self, shape: Array) -> tuple[Array, Array, Array]:
        """Corners of each sample's incident triangles (N, D, 3, 3), its unnormalised normal
        (the area-weighted sum over them, as :func:`facefit.geometry.vertex_normals`), and
        that normal's length. Complex-step safe."""
        xp = array_namespace(shape)
        flat = xp.reshape(self.face_corners, (-1,))
        corners = xp.reshape(xp.take(shape, flat, axis=0), (*self.face_corners.shape, 3))
        c0, c1, c2 = corners[:, :, 0, :], corners[:, :, 1, :], corners[:, :, 2, :]
        valid = self.face_valid[..., None]  # (N, D, 1)
        summed = xp.sum(cross(c1 - c0, c2 - c0) * valid, axis=1)  # (N, 3)
        squared = xp.sum(summed * summed, axis=-1)
        isolated = real_part(squared, xp) == 0
        length = xp.sqrt(xp.where(isolated, xp.ones_like(squared), squared))
        return corners, summed, length

    def _normal_coefficients(self, corners: Array) -> Array:
        """The skew blocks ``d m / d ring positions`` of each sample, (N, 3, 3R)."""
        xp = array_namespace(corners)
        n_samples = self.face_corners.shape[0]
        valid = self.face_valid[..., None]  # (N, D, 1)
        c0, c1, c2 = corners[:, :, 0, :], corners[:, :, 1, :], corners[:, :, 2, :]
        # w for corner k is S_(k+2) - S_(k+1); stacked as (N, 3D, 3) then summed into ring slots
        w = xp.stack([c2 - c1, c0 - c2, c1 - c0], axis=2) * valid[..., None]  # (N, D, 3, 3)
        w = xp.reshape(w, (n_samples, -1, 3))
        ring_w = self.corner_to_ring @ w  # (N, R, 3)
        wx, wy, wz = ring_w[..., 0], ring_w[..., 1], ring_w[..., 2]
        zero = xp.zeros_like(wx)
        skew = xp.stack([xp.stack([zero, -wz, wy], axis=-1),
                         xp.stack([wz, zero, -wx], axis=-1),
                         xp.stack([-wy, wx, zero], axis=-1)], axis=1)  # (N, 3, R, 3)
        return xp.reshape(skew, (n_samples, 3, 3 * self.ring_size))

    def jacobian(self, x: Array) -> Array:
        xp = array_namespace(x)
        layout = self.layout
        f = self._cached_forward(x)
        pose = f["pose"]  # of this very x (the forward pass is only reused for an equal x)
        rotation, scale = pose.rotation, pose.scale
        n_samples = self.samples.shape[0]
        _, gradient = self._sample(f["points"], gradient=True)  # (N, 3, 2)
        albedo, shading, light = f["albedo"], f["shading"], f["light"]
        # d shading_c / d camera normal: (N, 3 channels, 3)
        d_shading = xp.matrix_transpose(light)[None, ...] @ sh_basis_gradient(f["camera_normals"])
        d_colour_d_normal = albedo[..., None] * d_shading  # (N, 3, 3)

        # Shape coefficients, through the normals (colour) and the projection (image sample):
        # one coefficient block per ring vertex, times the ring's basis rows.
        skew = self._normal_coefficients(f["corners"])
        length = f["length"]
        unit = f["normals"]
        eye3 = xp.eye(3, dtype=x.dtype, device=x.device)
        tangent = (eye3[None, ...] - unit[:, :, None] * unit[:, None, :]) / length[:, None, None]
        colour_rows = d_colour_d_normal @ rotation @ tangent  # (N, 3, 3): d colour / d m
        coefficients = colour_rows @ skew  # (N, 3, 3R)
        projection = scale * _flip_y(rotation[None, :, :])  # (1, 2, 3): d point / d S_v
        own = -(gradient @ projection)  # (N, 3, 3): through the image sample at the vertex
        coefficients = xp.concat([coefficients[:, :, :3] + own, coefficients[:, :, 3:]], axis=2)
        s = self.row_scale[:, None, None]
        # (N, 3, K), row-scaled: the ring's basis rows are gathered from the (U, 3, K) rows
        d_shape = gathered_matmul(s * coefficients, self.ring_local, self.ring_vertex_basis)

        d_albedo = shading[..., None] * self.sample_albedo_basis  # (N, 3, K_alb)
        # Light: d colour_c / d light[k, c'] = albedo_c * basis_k * [c == c'].
        eye = xp.eye(3, dtype=x.dtype, device=x.device)
        d_light = (albedo[:, :, None, None] * f["basis"][:, None, :, None]
                   * eye[None, :, None, :])  # (N, 3, 9, 3)
        d_rot = []
        for k in range(3):
            turned_normal = f["normals"] @ xp.matrix_transpose(pose.d_rotation[k, ...])  # (N, 3)
            turned_point = f["sample_shape"] @ xp.matrix_transpose(pose.d_rotation[k, ...])
            colour = (d_colour_d_normal @ turned_normal[..., None])[..., 0]
            image = (gradient @ (scale * _flip_y(turned_point[..., None])))[..., 0]
            d_rot.append(colour - image)
        rotated = f["sample_shape"] @ xp.matrix_transpose(rotation)
        d_scale = -(gradient @ _flip_y(rotated[..., None]))  # (N, 3, 1)
        d_trans = -gradient  # (N, 3, 2)
        rows = 3 * n_samples
        return _assemble(layout, rows, {
            "shape": d_shape, "albedo": s * d_albedo,
            "light": s * xp.reshape(d_light, (n_samples, 3, 27)),
            "rotation": s * xp.stack(d_rot, axis=-1), "scale": s * d_scale,
            "translation": s * d_trans}, like=x)


def derived(arrays: Any, key: Any, build: Any) -> Any:
    """``arrays.derived(key, build)`` (kept with the model's arrays, see
    :meth:`facefit.model.ModelArrays.derived`), or ``build()`` for model-like objects whose
    arrays have no such cache."""
    keep = getattr(arrays, "derived", None)
    return build() if keep is None else keep(key, build)


def ring_topology(arrays: Any, shape_basis: Array, samples: Array,
                  backend: Backend) -> dict[str, Any]:
    """Constant topology for the photometric term's analytic normal derivative (host work).

    A sample's unnormalised normal ``m_v = sum_f (S_f1 - S_f0) x (S_f2 - S_f0)`` over its
    incident triangles is linear in the positions of its 1-ring, with coefficient
    ``d m_f / d S_ck = [S_c(k+2) - S_c(k+1)]_x`` (a skew matrix) for corner ``k``. Per sample
    this records its incident triangles (padded to ``D``), its ring vertices (itself first,
    then in order of first appearance among the triangles' corners, padded to ``R``) and which
    ring slot each triangle corner is. The forward pass evaluates the shape only on the U
    vertices the term reads (samples and rings; about 3/4 of the ICT mesh, an eighth of a
    BFM-size one), from the mean and basis rows gathered here.

    Returns
    -------
    dict with ``ring_size`` (R), ``local_samples`` (N,), ``face_corners`` (N, D, 3) and
    ``ring_local`` (N, R) ids into the U vertices in use, ``ring_mean`` (U, 3),
    ``ring_vertex_basis`` (U, 3, K), ``face_valid`` (N, D) and ``corner_to_ring``
    (N, R, 3D), the one-hot map from (incident triangle, corner) to ring slot.
    """
    triangles = backend.to_numpy(arrays.triangles)
    samples = backend.to_numpy(samples)
    count = samples.size
    order = np.argsort(triangles.reshape(-1), kind="stable")
    corner_vertex = triangles.reshape(-1)[order]
    starts: Any = np.searchsorted(corner_vertex, samples, side="left")
    incident: Any = np.searchsorted(corner_vertex, samples, side="right") - starts
    degree = int(max(1, incident.max()))
    offsets = np.arange(degree)
    face_valid = offsets[None, :] < incident[:, None]  # (N, D)
    positions = np.minimum(starts[:, None] + offsets[None, :], order.size - 1)
    faces = np.where(face_valid, order[positions] // 3, 0)  # incident triangles, ascending
    corner_ids = triangles[faces]  # (N, D, 3)
    # Ring slots, vectorised: the sample itself, then each new corner in (triangle, corner)
    # order. A stable sort of each row groups equal vertices with their first occurrence first.
    sentinel = triangles.max() + 1
    sequence = np.concatenate([samples[:, None], np.where(
        np.repeat(face_valid, 3, axis=1), corner_ids.reshape(count, -1), sentinel)], axis=1)
    rows = np.arange(count)[:, None]
    by_value = np.argsort(sequence, axis=1, kind="stable")
    sorted_values = sequence[rows, by_value]
    head = np.ones(sorted_values.shape, dtype=bool)
    head[:, 1:] = sorted_values[:, 1:] != sorted_values[:, :-1]
    first = np.zeros(sequence.shape, dtype=bool)
    first[rows, by_value] = head & (sorted_values != sentinel)
    first_slot = np.cumsum(first, axis=1) - 1  # slot of each first occurrence
    head_position = np.maximum.accumulate(
        np.where(head, np.arange(sequence.shape[1])[None, :], 0), axis=1)
    slot = np.zeros(sequence.shape, dtype=np.int64)
    slot[rows, by_value] = first_slot[rows, by_value[rows, head_position]]
    sizes = first.sum(axis=1)
    ring_size = int(max(1, sizes.max()))
    rings = np.zeros((count, ring_size), dtype=np.int64)
    hit_rows, hit_columns = np.nonzero(first)
    rings[hit_rows, first_slot[hit_rows, hit_columns]] = sequence[hit_rows, hit_columns]
    slots = slot[:, 1:].reshape(count, degree, 3)
    mapping = np.zeros((count, ring_size, 3 * degree))
    i_idx, d_idx = np.nonzero(face_valid)
    for k in range(3):
        mapping[i_idx, slots[i_idx, d_idx, k], d_idx * 3 + k] = 1.0
    # The vertices the term reads (samples and their one-rings), and local ids into them.
    used, local = np.unique(np.concatenate([samples, corner_ids.reshape(-1)]),
                            return_inverse=True)
    in_ring = np.arange(ring_size)[None, :] < sizes[:, None]
    ring_local = np.where(in_ring, np.searchsorted(used, rings), 0)  # padding: zero weights
    used_ids = backend.asarray(used)
    xp = backend.xp
    return {
        "ring_size": ring_size,
        "local_samples": backend.asarray(local[:count]),
        "face_corners": backend.asarray(local[count:].reshape(corner_ids.shape)),
        "ring_local": backend.asarray(ring_local),
        "ring_mean": xp.take(arrays.mean_shape, used_ids, axis=0),  # (U, 3)
        "ring_vertex_basis": xp.take(shape_basis, used_ids, axis=0),  # (U, 3, K)
        "face_valid": backend.asarray(face_valid.astype(np.float64)),
        "corner_to_ring": backend.asarray(mapping),
    }


class PriorTerm:
    """``sqrt(w_block) * z`` for the identity, expression and albedo coefficients."""

    name = "prior"

    def __init__(self, layout: ParameterLayout, identity: float, expression: float,
                 albedo: float, backend: Backend):
        xp = backend.xp
        self.layout = layout
        self.scale = xp.concat([
            xp.full((layout.n_identity,), math.sqrt(identity), dtype=backend.dtype,
                    device=backend.device),
            xp.full((layout.n_expression,), math.sqrt(expression), dtype=backend.dtype,
                    device=backend.device),
            xp.full((layout.n_albedo,), math.sqrt(albedo), dtype=backend.dtype,
                    device=backend.device)])

    def update(self, x: Array) -> None:
        return None

    def residuals(self, x: Array) -> Array:
        return self.scale * x[self.layout.coefficients]

    def jacobian(self, x: Array) -> Array:
        xp = array_namespace(x)
        k = self.layout.coefficients.stop
        diagonal = xp.eye(k, dtype=x.dtype, device=x.device) * self.scale[None, :]
        rest = xp.zeros((k, self.layout.size - k), dtype=x.dtype, device=x.device)
        return xp.concat([diagonal, rest], axis=1)
