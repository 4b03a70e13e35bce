"""The contour term: the model's jaw silhouette against the face's outline in the photo.

Landmarks say where the inner face is; the jaw line they leave to the identity prior. The photo
itself shows the outline: skin against neck shadow, hair, collar or background. Like eos'
contour fitting (ICP), each round (``update``) takes the model's occluding jaw contour — the
silhouette vertex of each of the jaw-landmark candidate lines searched, as landmark marching
picks it — projects it, and searches along its 2D outward normal for where the photo stops
looking like this face's skin: the skin's colour statistics (mean and covariance) come from the
cheeks between the nose tip and the jaw, each pixel of the search gets a skin likeness from its
Mahalanobis distance to them, and the target is the offset with the most skin just inside and
the least just outside. An edge inside the face (a fold, the lips, a shadow boundary on the
cheek) has skin on both sides, and one outside (a collar, hair against background) has skin
on neither, so neither wins (the previous score, the steepest rise of colour distance from
skin, took them; benchmarks/README.md compares both). Those targets are then held fixed for
the round. The residual is the normal-direction distance of each projected contour vertex to
its target, so the contour may slide along the outline; lines without a clear step are dropped.

Given an *outline* instead — a polygon around the face from a detector, such as
:attr:`facefit.detect.DetectedFace.outline` (the hull of MediaPipe's face mesh) — the targets
are where each line's normal crosses it, the nearest crossing within :data:`OUTLINE_REACH`;
all 17 lines are matched (a detector's outline runs up the face's sides to the temples, past
the ears' and hair's edges the photo's skin search stops at), and a line whose normal does
not cross it within reach is dropped.
"""

from __future__ import annotations

import math
from typing import Any, cast

from ...backends import Backend, array_namespace, real_part
from ...forward import FaceState, VertexSet
from ...polygons import line_crossings
from ...render.landmarks import landmark_vertices
from ...sampling import bilinear_sample, gaussian_blur
from ..parameters import ParameterLayout
from .base import assemble_jacobian, box_diagonal, shape_at, whole_mesh
from .landmarks import point_jacobian_blocks

Array = Any

__all__ = ["CONTOUR_LINES", "CONTOUR_REACH", "OUTLINE_LINES", "OUTLINE_REACH", "SKIN_STEP",
           "ContourTerm"]

#: How far the edge search reaches either side of the projected contour, in outer-eye-corner
#: distances. Wider (0.3) reached the ears' and collars' edges more often than the jaw's on the
#: fidelity benchmark's photos (benchmarks/README.md).
CONTOUR_REACH = 0.15

#: Jaw lines searched (iBUG jaw points): the cheeks below the ears and the chin. At ear height
#: (0..2, 14..16) the outline runs into the ear and the hair. With the steepest-rise score the
#: chin (7..9) went to the collar's edge below it (the neck is skin too); with the skin step
#: its targets lie on the chin's lower edge on the shared photos (a collar has no skin on
#: either side), and lines 3..13 gave the lowest leave-jaw-out jaw NME on the three shared
#: photos of the variants tried (benchmarks/README.md).
CONTOUR_LINES = (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)

#: Jaw lines matched to a given outline: all of them.
OUTLINE_LINES = tuple(range(17))
#: How far from the projected contour a given outline's crossing may lie, either side, in
#: outer-eye-corner distances.
OUTLINE_REACH = 0.3

#: Where the skin's colour is measured: fractions of the way from the nose tip to jaw points
#: 2-5 and 11-14 (the cheeks, clear of the nostrils, lips and the jaw's own edge).
_CHEEK_LINES = (2, 3, 4, 5, 11, 12, 13, 14)
_CHEEK_FRACTIONS = (0.4, 0.55, 0.7)
#: Colour noise floor (per channel, photo units) added to the skin covariance: a grey photo's
#: covariance is flat across the grey axis.
_COLOUR_FLOOR = 0.03
#: Skin likeness ``exp(-m^2 / (2 s^2))`` of a pixel at Mahalanobis distance m, s = this.
_SKIN_SIGMAS = 2.5
#: Width of the windows just inside and just outside a candidate offset, in outer-eye-corner
#: distances.
_SKIN_WINDOW = 0.04
#: A line keeps its match when the skin likeness falls by at least this much across it
#: (likeness in [0, 1]; after the preference for edges near the current contour).
SKIN_STEP = 0.2


class ContourTerm:
    """``sqrt(w / J) / d * n_j . (project(S[v_j]) - t_j)`` over the J jaw lines searched.

    ``v_j`` is the silhouette vertex of jaw line ``j``, ``n_j`` its outward 2D normal and
    ``t_j`` the edge found along it (or the outline's crossing), all decided by :meth:`update`
    and frozen; a line with no clear edge has weight 0, and so has a line whose jaw landmark is
    given at full weight (see ``point_weights``). J is ``len(CONTOUR_LINES)``, or
    ``len(OUTLINE_LINES)`` with an outline.

    Parameters
    ----------
    arrays : the model's backend arrays (``model.arrays(backend)``), with ``landmark_indices``
        and ``jaw_candidates``.
    layout : the parameter layout.
    image : (H, W, 3) backend array in [0, 1], the photo the problem is posed on.
    targets : (68, 2) backend array of the given landmarks, NaN where missing: which jaw
        points are given (see ``point_weights``); their positions are not used.
    weight : w_contour.
    backend : the backend computed on.
    reach : the search's reach either side, in outer-eye-corner distances.
    point_weights : optional (68,) host relative weight of each landmark, as the landmark
        term's. A jaw line counts ``1 - w`` of its jaw point's weight ``w`` (clipped to
        [0, 1]; a missing point counts as 0): the outline stands in for jaw points that are
        missing or little trusted, and leaves the annotated ones alone (fitting both pulled
        the full fits' landmark error up on all six benchmark photos: an edge and an
        annotator's point on the same outline differ by a few pixels).
    outline : optional (P, 2) backend array, a polygon around the face in the image's pixels
        (either orientation, not closed): the targets are its crossings instead of the photo's
        skin edges (see the module docstring).
    extent : optional (68, 2) backend array of points (NaN = unknown), default ``targets``:
        their box diagonal normalises the term like the landmark term's ``extent``, and their
        outer eye corners set the search's reach.
    """

    name = "contour"

    def __init__(self, arrays: Any, layout: ParameterLayout, image: Array, targets: Array,
                 weight: float, backend: Backend, reach: float = CONTOUR_REACH,
                 point_weights: Any = None, outline: Array | None = None,
                 extent: Array | None = None):
        xp = backend.xp
        self.arrays, self.layout, self.backend = arrays, layout, backend
        given = ~xp.any(xp.isnan(targets), axis=1)
        sized = targets if extent is None else extent
        self.diagonal = box_diagonal(sized)
        corners = sized[36, :] - sized[45, :]
        eyes = float(xp.sqrt(xp.sum(corners * corners))) \
            if not bool(xp.any(xp.isnan(corners))) else self.diagonal / 3
        self.eye_distance = max(eyes, 1.0)
        self.reach = reach * self.eye_distance
        self.outline: Array | None = None if outline is None else xp.concat(
            [outline, outline[:1, ...]])
        lines = CONTOUR_LINES if outline is None else OUTLINE_LINES
        self.lines = xp.asarray(list(lines), device=backend.device)
        self.scale = math.sqrt(weight / len(lines)) / self.diagonal
        jaw_given = xp.astype(xp.take(given, self.lines), backend.dtype)
        relative = jaw_given if point_weights is None else jaw_given * xp.take(
            backend.asarray(point_weights), self.lines)
        self.line_scale = self.scale * xp.sqrt(xp.clip(1.0 - relative, 0.0, 1.0))  # (J,)
        count = len(lines)
        self.row_weight = xp.zeros((count,), dtype=backend.dtype, device=backend.device)
        self.normals = xp.zeros((count, 2), dtype=backend.dtype, device=backend.device)
        self.targets = xp.zeros((count, 2), dtype=backend.dtype, device=backend.device)
        self.matched = 0
        # No line to stand in for (every jaw point given at full weight): nothing to search.
        self.active = bool(xp.any(self.line_scale > 0))
        self.photo, self.origin = image, (0.0, 0.0)
        if self.active and self.outline is None:
            self._smooth(image, sized[~xp.any(xp.isnan(sized), axis=1)])
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
        # The plain lines, not their underside (render.landmarks.marching_table): an
        # underside vertex faces the camera, it is no occluding contour, and searched for
        # the skin's edge it followed einstein's jaw down onto the collar (held-out jaw NME
        # 0.112 -> 0.148 with --contour, benchmarks/README.md).
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
        if self.outline is not None:
            shift, found = self._crossings(start, normal)
            keep = found & (self.line_scale > 0)
        else:
            offsets, score = self._profile(start, normal, jaw, nose)
            # The strongest step from skin to not skin, not the first: inside the face, lips,
            # folds and wrinkles change colour too.
            best = xp.argmax(score, axis=1)  # (J,)
            strength = xp.max(score, axis=1)
            shift = xp.take(offsets, best)
            # Keep a line whose step is clear and not at the search's end (the edge may lie
            # beyond).
            inside = (best > 0) & (best < offsets.shape[0] - 1)
            keep = inside & (strength > SKIN_STEP) & (self.line_scale > 0)
        self.matched = int(xp.sum(xp.astype(keep, xp.int64)))
        self.normals = normal
        self.targets = start + shift[:, None] * normal
        self.row_weight = xp.where(keep, self.line_scale, xp.zeros_like(shift))

    def _crossings(self, start: Array, normal: Array) -> tuple[Array, Array]:
        """Signed offsets (J,) along each line's normal from ``start`` (J, 2) to the nearest
        crossing of the outline within :data:`OUTLINE_REACH`, and (J,) whether there is one."""
        xp = array_namespace(start)
        t, _, crossing = line_crossings(start, normal, cast(Array, self.outline)[:-1, :])
        limit = OUTLINE_REACH * self.eye_distance
        crossing = crossing & (xp.abs(t) <= limit)
        distance = xp.where(crossing, xp.abs(t), xp.full_like(t, 2 * limit + 1))
        nearest = xp.argmin(distance, axis=1)  # (J,)
        columns = t.shape[1]
        flat = xp.arange(t.shape[0], device=t.device) * columns + nearest
        shift = xp.take(xp.reshape(t, (-1,)), flat)
        found = xp.take(xp.reshape(crossing, (-1,)), flat)
        return xp.where(found, shift, xp.zeros_like(shift)), found

    def _skin(self, jaw: Array, nose: Array) -> tuple[Array, Array]:
        """The skin's mean colour (3,) and inverse colour covariance (3, 3), from the smoothed
        photo on the cheeks of the projected jaw ``jaw`` (17, 2) and nose tip ``nose`` (2,)."""
        xp = array_namespace(jaw)
        lines = xp.asarray(list(_CHEEK_LINES), device=jaw.device)
        ends = xp.take(jaw, lines, axis=0)  # (L, 2)
        fractions = xp.asarray(list(_CHEEK_FRACTIONS), dtype=jaw.dtype, device=jaw.device)
        cheek = nose + fractions[None, :, None] * (ends - nose)[:, None, :]  # (L, F, 2)
        colours = xp.reshape(self._sample(cheek), (-1, 3))
        mean = xp.mean(colours, axis=0)
        centred = colours - mean
        covariance = (xp.matrix_transpose(centred) @ centred / colours.shape[0]
                      + _COLOUR_FLOOR ** 2 * xp.eye(3, dtype=jaw.dtype, device=jaw.device))
        return mean, _inverse3(covariance)

    def _profile(self, start: Array, normal: Array, jaw: Array,
                 nose: Array) -> tuple[Array, Array]:
        """Offsets (S,) along each normal and each line's score there (J, S): the mean skin
        likeness over a window just inside the offset less that just outside, times a broad
        preference for edges near the current contour."""
        xp = array_namespace(start)
        mean, inverse = self._skin(jaw, nose)
        steps = max(8, math.ceil(self.reach))
        spacing = self.reach / steps
        window = max(1, round(_SKIN_WINDOW * self.eye_distance / spacing))
        count = 2 * (steps + window) + 1
        offsets = (xp.arange(count, dtype=start.dtype, device=start.device)
                   - (steps + window)) * spacing
        where = start[:, None, :] + offsets[None, :, None] * normal[:, None, :]  # (J, S', 2)
        difference = self._sample(where) - mean  # (J, S', 3)
        mahalanobis = xp.sum((difference @ inverse) * difference, axis=-1)
        skin = xp.exp(-0.5 * mahalanobis / _SKIN_SIGMAS ** 2)  # (J, S')
        # Candidate k (offset index window + k) has skin[k .. k + window - 1] just inside
        # and skin[k + window + 1 .. k + 2 window] just outside.
        candidates = 2 * steps + 1
        inside = skin[:, 0:candidates]
        outside = skin[:, window + 1:window + 1 + candidates]
        for k in range(1, window):
            inside = inside + skin[:, k:k + candidates]
            outside = outside + skin[:, window + 1 + k:window + 1 + k + candidates]
        searched = offsets[window:window + candidates]
        prior = xp.exp(-0.5 * (searched / self.reach) ** 2)
        return searched, (inside - outside) / window * prior[None, :]

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


def _inverse3(matrix: Array) -> Array:
    """The inverse of a (3, 3) matrix by its adjugate (no linalg extension needed)."""
    xp = array_namespace(matrix)
    a = matrix
    cofactor = [[a[(i + 1) % 3, (j + 1) % 3] * a[(i + 2) % 3, (j + 2) % 3]
                 - a[(i + 1) % 3, (j + 2) % 3] * a[(i + 2) % 3, (j + 1) % 3]
                 for j in range(3)] for i in range(3)]
    adjugate = xp.stack([xp.stack([cofactor[j][i] for j in range(3)]) for i in range(3)])
    determinant = a[0, 0] * cofactor[0][0] + a[0, 1] * cofactor[0][1] + a[0, 2] * cofactor[0][2]
    return adjugate / determinant
