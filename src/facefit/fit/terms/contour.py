"""The contour term: the model's jaw silhouette against the face's outline in the photo.

Landmarks say where the inner face is; the jaw line they leave to the identity prior, which
(fitted from the 51 inner points) put the chin too high and the cheeks too wide on every photo
of the fidelity benchmark. The photo itself shows the outline: skin against neck shadow, hair,
collar or background. Like eos' contour fitting (ICP), each round (``update``) takes the
model's occluding jaw contour — the silhouette vertex of each of the 17 jaw-landmark candidate
lines, as landmark marching picks it — projects it, and searches along its 2D outward normal for
the strongest edge leaving skin colour; those targets are then held fixed for the round. The
residual is the normal-direction distance of each projected contour vertex to its target, so
the contour may slide along the outline; matches with a weak edge are dropped.
"""

from __future__ import annotations

import math
from typing import Any, cast

from ...backends import Backend, array_namespace, real_part
from ...forward import FaceState, VertexSet
from ...render.landmarks import landmark_vertices
from ...sampling import bilinear_sample, gaussian_blur
from ..parameters import ParameterLayout
from .base import assemble_jacobian, shape_at, whole_mesh
from .landmarks import point_jacobian_blocks

Array = Any

__all__ = ["CONTOUR_LINES", "CONTOUR_REACH", "ContourTerm"]

#: How far the edge search reaches either side of the projected contour, in outer-eye-corner
#: distances. Wider (0.3) reached the ears' and collars' edges more often than the jaw's on the
#: fidelity benchmark's photos (benchmarks/README.md).
CONTOUR_REACH = 0.15

#: Jaw lines searched (iBUG jaw points): the cheeks below the ears. At ear height (0..2,
#: 14..16) the strongest edge was the ear's or the hair's, and round the chin (7..9) the neck
#: is skin too: the collar's edge below it is stronger than the chin's faint shadow.
CONTOUR_LINES = (3, 4, 5, 6, 10, 11, 12, 13)


class ContourTerm:
    """``sqrt(w / J) / d * n_j . (project(S[v_j]) - t_j)`` over the J jaw lines searched.

    ``v_j`` is the silhouette vertex of jaw line ``j``, ``n_j`` its outward 2D normal and
    ``t_j`` the edge found along it, all decided by :meth:`update` and frozen; a line with no
    clear edge has weight 0, and so has a line whose jaw landmark is given at full weight (see
    ``point_weights``). J is ``len(CONTOUR_LINES)``.

    Parameters
    ----------
    arrays : the model's backend arrays (``model.arrays(backend)``), with ``landmark_indices``
        and ``jaw_candidates``.
    layout : the parameter layout.
    image : (H, W, 3) backend array in [0, 1], the photo the problem is posed on.
    targets : (68, 2) backend array of the given landmarks, NaN where missing: their box
        diagonal normalises the term like the landmark term, and their eye corners set the
        search's reach. The jaw targets are not used.
    weight : w_contour.
    backend : the backend computed on.
    reach : the search's reach either side, in outer-eye-corner distances.
    point_weights : optional (68,) host relative weight of each landmark, as the landmark
        term's. A jaw line counts ``1 - w`` of its jaw point's weight ``w`` (clipped to
        [0, 1]; a missing point counts as 0): the outline stands in for jaw points that are
        missing or little trusted, and leaves the annotated ones alone (fitting both pulled
        the full fits' landmark error up on all six benchmark photos: an edge and an
        annotator's point on the same outline differ by a few pixels).
    """

    name = "contour"

    def __init__(self, arrays: Any, layout: ParameterLayout, image: Array, targets: Array,
                 weight: float, backend: Backend, reach: float = CONTOUR_REACH,
                 point_weights: Any = None):
        xp = backend.xp
        self.arrays, self.layout, self.backend = arrays, layout, backend
        given = ~xp.any(xp.isnan(targets), axis=1)
        safe = xp.where(given[:, None], targets, xp.zeros_like(targets))
        present = safe[given]
        extent = xp.max(present, axis=0) - xp.min(present, axis=0)
        self.diagonal = max(float(xp.sqrt(xp.sum(extent * extent))), 1.0)
        corners = safe[36, :] - safe[45, :]
        eyes = float(xp.sqrt(xp.sum(corners * corners))) if bool(given[36] & given[45]) \
            else self.diagonal / 3
        self.eye_distance = max(eyes, 1.0)
        self.reach = reach * self.eye_distance
        self.lines = xp.asarray(list(CONTOUR_LINES), device=backend.device)
        self.scale = math.sqrt(weight / len(CONTOUR_LINES)) / self.diagonal
        jaw_given = xp.astype(xp.take(given, self.lines), backend.dtype)
        relative = jaw_given if point_weights is None else jaw_given * xp.take(
            backend.asarray(point_weights), self.lines)
        self.line_scale = self.scale * xp.sqrt(xp.clip(1.0 - relative, 0.0, 1.0))  # (J,)
        count = len(CONTOUR_LINES)
        self.row_weight = xp.zeros((count,), dtype=backend.dtype, device=backend.device)
        self.normals = xp.zeros((count, 2), dtype=backend.dtype, device=backend.device)
        self.targets = xp.zeros((count, 2), dtype=backend.dtype, device=backend.device)
        self.matched = 0
        # No line to stand in for (every jaw point given at full weight): nothing to search.
        self.active = bool(xp.any(self.line_scale > 0))
        self.photo, self.origin = image, (0.0, 0.0)
        if self.active:
            self._smooth(image, safe[given])
        jaw = xp.take(arrays.landmark_indices, self.lines)
        self.vertex_ids = xp.where(jaw >= 0, jaw, xp.zeros_like(jaw))
        self.vertices = VertexSet.gather(arrays, self.vertex_ids)

    def _smooth(self, image: Array, points: Array) -> None:
        """Blur the photo around the face (the given ``points`` (P, 2)) so that pores,
        stubble and JPEG blocks make no edges, in step with the face's size (1.5 px for a
        face of 75 px between the eyes). Only a box around the points is blurred, with half
        the box, the search's reach and the blur's as margin: the whole photo took 45-80 ms."""
        xp = self.backend.xp
        sigma = max(1.0, 0.02 * self.eye_distance)
        height, width = image.shape[0], image.shape[1]
        low = [float(v) for v in xp.min(points, axis=0)]
        high = [float(v) for v in xp.max(points, axis=0)]
        margin = [0.5 * (high[k] - low[k]) + self.reach + 3 * sigma + 2 for k in range(2)]
        left = min(max(int(low[0] - margin[0]), 0), width - 2)
        top = min(max(int(low[1] - margin[1]), 0), height - 2)
        right = max(min(int(high[0] + margin[0]) + 2, width), left + 2)
        bottom = max(min(int(high[1] + margin[1]) + 2, height), top + 2)
        self.photo = gaussian_blur(image[top:bottom, left:right, ...], sigma)
        self.origin = (float(left), float(top))

    def _sample(self, points: Array) -> Array:
        """The smoothed photo at image points (..., 2)."""
        xp = self.backend.xp
        origin = xp.asarray(self.origin, dtype=points.dtype, device=points.device)
        return cast(Array, bilinear_sample(self.photo, points - origin))

    # -- the discrete state: contour vertices, their normals and edge targets ----------------
    def update(self, x: Array) -> None:
        """Re-pick the silhouette vertices at ``x`` and search the photo for their edges."""
        xp = self.backend.xp
        if not self.active:
            return
        x = real_part(x, xp)
        points = whole_mesh(self.arrays, self.layout, x).points
        marks = landmark_vertices(points, self.arrays.landmark_indices,
                                  self.arrays.jaw_candidates)
        safe_marks = xp.where(marks >= 0, marks, xp.zeros_like(marks))
        projected = xp.take(points, safe_marks, axis=0)  # (68, 2)
        jaw = projected[:17, ...]
        self.vertex_ids = xp.take(safe_marks, self.lines)
        self.vertices = VertexSet.gather(self.arrays, self.vertex_ids)
        # The outline's normal from its neighbours along the jaw, turned away from the nose.
        before = xp.concat([jaw[:1, ...], jaw[:-1, ...]], axis=0)
        after = xp.concat([jaw[1:, ...], jaw[-1:, ...]], axis=0)
        tangent = xp.take(after - before, self.lines, axis=0)
        normal = xp.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
        normal = normal / xp.sqrt(xp.clip(xp.sum(normal * normal, axis=1, keepdims=True),
                                          1e-12, None))
        nose = projected[30, :]
        start = xp.take(jaw, self.lines, axis=0)  # (J, 2)
        outward = xp.sum(normal * (start - nose), axis=1, keepdims=True) >= 0
        normal = xp.where(outward, normal, -normal)
        # Skin: the photo halfway between the nose tip and the jaw, median over the lines.
        halfway = self._sample(0.5 * (start + nose))  # (J, 3)
        skin = xp.sort(halfway, axis=0)[halfway.shape[0] // 2, :]
        offsets, score = self._profile(start, normal, skin)
        # The strongest rise, not the first: inside the face, lips, folds and wrinkles rise
        # too (taking the first clear edge outward pulled the jaw inside the face).
        best = xp.argmax(score, axis=1)  # (J,)
        strength = xp.max(score, axis=1)
        shift = xp.take(offsets, best)
        # Keep a line whose edge is not weak next to the typical line's (a third of it, and
        # a rise of 0.01 per pixel) and not at the search's end (the edge may lie beyond).
        typical = xp.sort(strength)[strength.shape[0] // 2]
        inside = (best > 0) & (best < offsets.shape[0] - 1)
        keep = inside & (strength >= 0.35 * typical) & (strength > 0.01) & (self.line_scale > 0)
        self.matched = int(xp.sum(xp.astype(keep, xp.int64)))
        self.normals = normal
        self.targets = start + shift[:, None] * normal
        self.row_weight = xp.where(keep, self.line_scale, xp.zeros_like(strength))

    def _profile(self, start: Array, normal: Array, skin: Array) -> tuple[Array, Array]:
        """Offsets (S,) along each normal and each line's edge score there (J, S): how fast
        the smoothed photo's colour distance from ``skin`` grows outward, per pixel, times a
        broad preference for edges near the current contour."""
        xp = array_namespace(start)
        steps = max(8, math.ceil(self.reach))
        offsets = xp.linspace(-self.reach, self.reach, 2 * steps + 1, dtype=start.dtype,
                              device=start.device)
        spacing = 2 * self.reach / (2 * steps)
        where = start[:, None, :] + offsets[None, :, None] * normal[:, None, :]  # (J, S, 2)
        colour = self._sample(where)  # (J, S, 3)
        difference = colour - skin
        distance = xp.sqrt(xp.sum(difference * difference, axis=-1))  # (J, S)
        rise = (distance[:, 2:] - distance[:, :-2]) / (2 * spacing)
        edge = xp.concat([xp.zeros_like(rise[:, :1]), rise, xp.zeros_like(rise[:, :1])], axis=1)
        prior = xp.exp(-0.5 * (offsets / self.reach) ** 2)
        return offsets, edge * prior[None, :]

    # -- the smooth part --------------------------------------------------------------------
    def state(self, x: Array) -> FaceState:
        """The model evaluated at the contour vertices, at ``x``."""
        return shape_at(self.vertices, self.layout, x)

    def residuals(self, x: Array) -> Array:
        xp = array_namespace(x)
        points = self.state(x).points
        return self.row_weight * xp.sum(self.normals * (points - self.targets), axis=1)

    def jacobian(self, x: Array) -> Array:
        xp = array_namespace(x)
        state = self.state(x)
        blocks = point_jacobian_blocks(state, self.vertices, x)
        w = (self.row_weight[:, None] * self.normals)[:, :, None]  # (J, 2, 1)
        rows = state.vertices.shape[0]
        return assemble_jacobian(self.layout, rows, {
            k: xp.sum(w * v, axis=1) for k, v in blocks.items()}, like=x)

    def matched_points(self) -> tuple[Array, Array]:
        """(J, 2) edge targets of the last :meth:`update` and (J,) whether each was kept."""
        return self.targets, self.row_weight > 0
