"""``ff.generate``: fit a photo once, then re-render the person with new expressions and poses.

Each sample is photo-realistic where the photo saw the face: a pixel of the new face takes the
photo's colour at the same point of the surface (the fitted pose tells where that point was in
the photo), gently relit from the fitted lighting's shading in the fitted pose to its shading in
the new pose; the eyes, holes in the mesh, are capped and textured the same way
(:mod:`facefit.generate.eyes`). Where the photo did not see the surface (turned away, hidden,
grazing), the mirrored side's skin takes over where it was lit alike, else the fitted albedo
in the photo's local tone, under the photo's shading around it relit as gently as the texture,
blended over a few rings of the mesh so there is no seam. The face is composited over the
photo warped by the whole head (:mod:`facefit.generate.profiling`), so no old face shows and
no holes open, with its outline antialiased; an opened mouth shows the mouth interior
(:mod:`facefit.generate.mouth`). A black-and-white or toned photo's samples are put on its own
colours (:mod:`facefit.generate.tone`).

Labels are exact: the sample's :class:`FaceParams`, its 68 landmarks (jaw by landmark
marching), depth map and face mask all come from the same render of the same geometry (the
model's surface, as :func:`facefit.render` draws it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from ..backends import Backend, array_namespace, get_backend, scatter_add, to_numpy
from ..errors import FacefitError
from ..forward import Coefficients, Pose, evaluate
from ..geometry import boundary_vertices, ring_average, weighted_ring_average
from ..model.regions import FACE, face_region
from ..params import FaceParams
from ..render import pose_faces, rasterize
from ..render.interpolate import interpolate
from ..render.landmarks import landmark_points, marching_table
from ..render.visibility import facing_weight, visible_vertices
from ..sampling import bilinear_sample
from .background import warp_background
from .eyes import EyeCaps
from .head import head_model, head_positions, head_state
from .head_skin import HeadSkin, skin_likeness
from .host import grain, mirror_vertices
from .mouth import MouthInterior
from .occlusion import model_occlusion
from .profiling import HeadWarp
from .quality import feather, soften_outline
from .tone import ToneCurve
from .variations import PoseRanges, draw_expression, draw_rotation, sample_rng

Array = Any

__all__ = ["Sample", "Synthesizer", "generate", "iter_samples"]

#: Relighting of the photo's own texture: an exponent on the ratio of new over fitted shading,
#: and its bounds. The fitted spherical harmonics explain a photo's shading only coarsely;
#: applied in full, their ratio painted bright and dark bands across the face (a white centre
#: and orange sides on a warm-lit photo) that no photo has.
RELIGHT = (0.3, (0.9, 1.1))
#: Half-width of the band along the face's outline blurred like a lens's edge (soften_outline).
SOFTENED_PIXELS = 2
#: How much more face-on a new pose may show a vertex than the photo did (the ratio of the
#: normals' z) before its photo texture gives way to the fallback, and where it is gone.
STRETCH_TEXTURE = (2.0, 4.0)
#: Log-ratio of shadings at which the mirrored side's colour is lent at 1/e weight.
MIRROR_SHADING_SPREAD = 0.15
#: Mesh rings over which the photo's tone is spread to where it did not see the face.
TONE_RINGS = 30
#: Mesh rings from the outline beyond which a fold (facing away from the camera, or within
#: FOLD_MM behind the nearest surface) still takes the photo's colour.
FOLD_RINGS = 12
FOLD_MM = 12.0
#: Mesh rings from the outline over which relighting fades in (at most FOLD_RINGS: both are
#: read from one count).
RELIGHT_RINGS = 8
#: Folds the photo did not see are darkened by their ambient occlusion relative to that of the
#: seen skin their tone comes from (spread over TONE_RINGS): to floor + (1 - floor) x
#: ratio ** power, with OCCLUSION_SHADE = (floor, power).
OCCLUSION_SHADE = (0.3, 1.0)
#: Width of the band inside the face's outline over which the render fades into the warp.
FEATHER_PIXELS = 8
#: The same where the warp holds no face there (a revealed cheek): a narrower band, so the
#: cheek keeps its colour to a soft edge instead of fading into the background over 8 pixels.
OUTLINE_FEATHER_PIXELS = 3


@dataclass
class Sample:
    """One generated training sample (host NumPy arrays).

    Attributes
    ----------
    image : (H, W, 3) float in [0, 1].
    landmarks : (68, 2) iBUG landmarks, 0-based pixels (jaw by landmark marching).
    params : the :class:`FaceParams` that generated it (exact labels).
    depth : (H, W) depth of the face surface in pixels (larger nearer); NaN off the face.
    mask : (H, W) bool, pixels of the rendered face.
    index : the sample's number under its seed.
    seed : the seed of the run.
    """

    image: Any
    landmarks: Any
    params: FaceParams
    depth: Any
    mask: Any
    index: int
    seed: int


def _grey_ratio(new: Array, old: Array) -> Array:
    """(V, 1) grey new over grey old shading (one factor: per-channel ratios of small shadings
    made purple and yellow-green blotches), both kept off zero."""
    xp = array_namespace(new, old)
    return (xp.clip(xp.mean(new, axis=1, keepdims=True), 0.05, None)
            / xp.clip(xp.mean(old, axis=1, keepdims=True), 0.05, None))


def _unstretched(facing: Array, source_facing: Array) -> Array:
    """(V, 1) in [0, 1]: 1 where the new pose shows a vertex's surface at most
    STRETCH_TEXTURE[0] times as face-on as the photo did (``facing`` over ``source_facing``, the
    normals' z), falling to 0 at STRETCH_TEXTURE[1]; 1 where the photo saw the surface from
    behind (``source_facing`` 0: a fold, whose photo colour is that of its rim by design)."""
    xp = array_namespace(facing, source_facing)
    low, high = STRETCH_TEXTURE
    stretch = xp.where(source_facing > 0, facing / xp.clip(source_facing, 1e-3, None),
                       xp.zeros_like(facing))
    return xp.clip((high - stretch) / (high - low), 0.0, 1.0)


def _relight(ratio: Array) -> Array:
    """The share of a shading ``ratio`` that relighting applies: :data:`RELIGHT`'s power, within
    its bounds."""
    xp = array_namespace(ratio)
    strength, (low, high) = RELIGHT
    return xp.clip(ratio ** strength, low, high)


def _within_white(colour: Array) -> Array:
    """(V, 3) non-negative colours scaled down, hue kept, until no channel exceeds 1.

    Clipping each channel at 1 changes the hue of a bright colour: a pale skin tone whose red
    is cut while green and blue are not turns yellow-green, and under a nostril's dim shading
    that showed as green blobs in a face turned up.
    """
    xp = array_namespace(colour)
    colour = xp.clip(colour, 0.0, None)
    return colour / xp.clip(xp.max(colour, axis=1, keepdims=True), 1.0, None)


def _ring_distance(triangles: Array, n_vertices: int, rings: int, dtype: Any,
                   inside: Array | None = None) -> Array:
    """(V,) mesh rings from the outline, divided by ``rings`` and capped at 1; boundary
    vertices marked in ``inside`` (V,) bool (a capped hole's rim) are not on the outline."""
    xp = array_namespace(triangles)
    reached = boundary_vertices(triangles, n_vertices)
    if inside is not None:
        reached = reached & ~inside
    distance = xp.zeros((n_vertices,), dtype=dtype, device=triangles.device)
    corners = xp.reshape(triangles, (-1,))
    for _ in range(rings):
        distance = distance + xp.astype(~reached, dtype)
        touched = xp.astype(xp.take(reached, corners), dtype)
        per_triangle = xp.reshape(touched, (-1, 3))
        any_corner = xp.max(per_triangle, axis=1)
        spread = scatter_add(corners, xp.reshape(xp.stack([any_corner] * 3, axis=1), (-1,)),
                             n_vertices)
        reached = reached | (spread > 0)
    return distance / rings


def _fold_shade(occlusion: Array, seen_occlusion: Array, triangles: Array) -> Array:
    """(V, 1) in [OCCLUSION_SHADE[0], 1]: how much darker than the seen skin it takes its tone
    from each vertex is for its ambient occlusion.

    ``occlusion`` (V, 1) is each vertex's (:func:`facefit.generate.occlusion.model_occlusion`),
    ``seen_occlusion`` (V, 1) that of the skin the photo saw around it (1 where none is in
    reach): that skin's photo colour holds its own occlusion already. Their ratio, to
    OCCLUSION_SHADE[1]'s power above its floor, smoothed over one ring (64 directions leave
    single vertices speckled).
    """
    xp = array_namespace(occlusion, seen_occlusion)
    floor, power = OCCLUSION_SHADE
    ratio = xp.clip(occlusion / xp.clip(seen_occlusion, 1e-3, None), 0.0, 1.0)
    return ring_average(floor + (1 - floor) * ratio ** power, triangles, 1)


class Synthesizer:
    """Re-renders one fitted face; built once per photo, then called per sample.

    Parameters
    ----------
    model : the fitted :class:`facefit.MorphableModel`.
    params : the fitted :class:`FaceParams`.
    photo : (H, W, 3) photo in [0, 1] (host or backend array).
    blend_rings : mesh rings over which photo texture fades into the fitted albedo.
    backend : where to compute (default: the active backend).
    albedo_detail : optional (V, 3) colour added to the model's albedo at ``params.albedo``
        (:attr:`facefit.FitResult.albedo_detail`), shown where the photo did not see the face.
    """

    def __init__(self, model: Any, params: FaceParams, photo: Any, *, blend_rings: int = 3,
                 backend: Backend | None = None, albedo_detail: Any = None):
        self.backend = backend or get_backend()
        xp = self.backend.xp
        self.model = model
        self.params = params.for_model(model)
        self.photo = self.backend.asarray(to_numpy(photo))
        if self.photo.ndim != 3 or self.photo.shape[2] != 3:
            raise FacefitError(f"generate needs an (H, W, 3) photo, got {tuple(self.photo.shape)}")
        self.size = (int(self.photo.shape[0]), int(self.photo.shape[1]))
        arrays = model.arrays(self.backend)
        self.triangles = arrays.triangles
        state = pose_faces(model, [self.params], self.backend)
        points, depth = state.points[0, ...], state.depth[0, ...]
        normals = state.normals[0, ...]
        raster = rasterize(points, depth, self.triangles, self.size)
        # Seen: within 3% of the face's size of the z-buffer. The renderer's default (1%) lost
        # vertices on surfaces sloping away (forehead, cheek sides: the 2x2 footprint's nearest
        # depth is up to 1.4 px x the slope nearer), whose albedo then showed as blotches;
        # real self-occlusions (nose over cheek) are deeper than 3%.
        extent = xp.max(points, axis=0) - xp.min(points, axis=0)
        seen = visible_vertices(points, depth, normals, raster,
                                tolerance=0.03 * float(xp.max(extent)))
        # Texture weight: seen, and not at a grazing angle (foreshortened in the photo);
        # faded over a few rings so the photo and albedo meet without a seam.
        facing = facing_weight(normals)
        weight = xp.where(seen, facing, xp.zeros_like(facing))[:, None]
        # Folds inside the face (the nostrils, the creases at the eyes and lips) face away from
        # the camera or lie just behind their rim, and a new expression can open them: the
        # photo's colour where they project (a dark nostril) is truer than the albedo's (a pink
        # ring). Only a few mm behind what hides them (the cheek behind a turned nose is
        # deeper, and the nose's colour there would be a ghost), and not near the outline, where
        # surface facing away is the silhouette's, mixed with the background.
        upright = xp.concat([normals[:, :2], xp.ones_like(normals[:, 2:])], axis=1)
        in_front = visible_vertices(points, depth, upright, raster,
                                    tolerance=FOLD_MM * float(self.params.scale))
        # Rings from the outline, counted once for the folds (FOLD_RINGS) and the relighting's
        # fade (RELIGHT_RINGS, fewer). The eye holes' rims are not outline: the holes are
        # capped, so the lids' margins are inside the face (counted from the eye holes, the
        # margins took the albedo's skin colour beside caps showing the photo's eye, a
        # stair-stepped seam, and a small face's eyes lost their lash line).
        self.eye_caps = EyeCaps(model, self.triangles, self.backend)
        rings = _ring_distance(self.triangles, points.shape[0], FOLD_RINGS, points.dtype,
                               inside=self.eye_caps.on_rim)
        inner = rings >= 1
        weight = xp.where((in_front & inner)[:, None], xp.ones_like(weight), weight)
        self.photo_weight = ring_average(weight, self.triangles, blend_rings) * weight
        self.mouth_interior = MouthInterior(model, self.params, self.photo, self.backend)
        self.photo_weight = self.mouth_interior.texture_weight(self.photo_weight, points)
        self.source_points = points  # where each vertex lies in the photo
        # How far each vertex faced the camera in the photo (normal's z), to measure how much a
        # new pose stretches what the photo saw of it.
        self.source_facing = xp.clip(normals[:, 2:3], 0.0, None)
        self.shading = state.shading[0, ...]
        # The fitted albedo, gained per channel to the photo's colours where both are known.
        albedo = state.albedo[0, ...]
        # The model's own colour, without the detail (which fits the photo's hair and shadows
        # too): what skin at each vertex should look like.
        skin = xp.clip(albedo, 0.0, 1.0) * self.shading
        if albedo_detail is not None:
            albedo = albedo + self.backend.asarray(albedo_detail)
        albedo = xp.clip(albedo, 0.0, 1.0)
        observed = bilinear_sample(self.photo, points)
        predicted = albedo * self.shading
        w = self.photo_weight
        gain = xp.sum(w * observed, axis=0) / xp.clip(xp.sum(w * predicted, axis=0), 1e-6, None)
        gained = _within_white(albedo * xp.clip(gain, 0.5, 2.0))
        # One gain for the whole face leaves a revealed cheek brighter or darker than the skin
        # beside it (a pale chin on a face lit from the side). The photo's colour over the
        # fitted colour, spread from the seen vertices over the mesh, matches it to its
        # neighbours.
        # The photo's shading is spread the same way (one pass for both): the albedo is drawn
        # under it, relit toward the new pose within the same bounds as the photo's texture.
        # Under the new pose's shading in full, the side turning away fell to 0.67-0.82x of the
        # photo-matched colour (a darker band beside the texture), and a revealed cheek took
        # the fitted light's colour in full (the astronaut's, bluish, went pale).
        # The seen skin's ambient occlusion is spread the same way: the tone a vertex takes
        # from it holds that skin's occlusion already (see _fold_shade).
        tone = xp.clip(observed / xp.clip(gained * self.shading, 0.02, None), 0.5, 2.0)
        occlusion = self.backend.asarray(model_occlusion(model), dtype=tone.dtype)[:, None]
        spread = weighted_ring_average(
            xp.concat([tone, self.shading, occlusion], axis=1), w, self.triangles, TONE_RINGS,
            xp.concat([xp.ones_like(tone), self.shading, xp.ones_like(occlusion)], axis=1))
        self.albedo = _within_white(gained * spread[:, :3])
        self.near_shading = spread[:, 3:6]
        # What the fallback draws. Where the photo saw a vertex (and a new pose would stretch
        # its few pixels: texture_weights), that vertex's own photo colour: drawn from the
        # albedo spread around, a nostril's dark rim turned into a ring of pale specks (its
        # photo colour holds its occlusion already). Where the photo saw nothing, the albedo,
        # darkened in folds by how much less of the sky they see than the seen skin around
        # them: a face tipped back showed its nostrils' insides as pale holes.
        own = _within_white(observed / xp.clip(self.near_shading, 0.05, None))
        self.fold_shade = _fold_shade(occlusion, spread[:, 6:], self.triangles)
        self.fallback_albedo = w * own + (1 - w) * self.albedo * self.fold_shade
        # Relighting fades out toward the outline (0 there, full after RELIGHT_RINGS rings), so
        # the face meets the warped, unrelit photo around it without a change of tone.
        self.interior = xp.clip(xp.round(rings * FOLD_RINGS) / RELIGHT_RINGS, 0.0, 1.0)[:, None]
        # Where the photo did not see the surface, the mirrored vertex (the face is nearly
        # symmetric) lends its photo colour before the albedo does: a revealed cheek gets the
        # other cheek's skin, not flat colour. Only skin is lent: where the photo's colour is far
        # from the fitted face's (hair over a temple, background past the outline), a mirror
        # would paint it on the revealed cheek as a dark crescent.
        mirror = xp.asarray(mirror_vertices(model), device=points.device)
        self.mirror_points = xp.take(points, mirror, axis=0)
        self.mirror_weight = xp.take(self.photo_weight * skin_likeness(observed, skin),
                                     mirror, axis=0)
        self.mirror_shading = xp.take(self.shading, mirror, axis=0)
        self.mirror_facing = xp.take(self.source_facing, mirror, axis=0)
        self.outline = xp.nonzero(boundary_vertices(self.triangles, points.shape[0]))[0]
        # The photo's grain, for what is drawn without the photo's texture (the albedo, the
        # warp's blurred strips): smooth skin beside a grainy photo reads as pasted on.
        low = to_numpy(xp.min(points, axis=0))
        high = to_numpy(xp.max(points, axis=0))
        box = (max(int(low[1]), 0), max(int(high[1]) + 1, 0),
               max(int(low[0]), 0), max(int(high[0]) + 1, 0))
        self.grain = self.backend.asarray(grain(to_numpy(self.photo), box),
                                          dtype=self.photo.dtype)
        # The whole head turns where the model has one (issue 17): the photo is warped by the
        # head's vertices and rings around it (facefit.generate.profiling).
        self.head = head_model(model)
        self.head_warp = None
        if self.head is not None:
            b = self.backend
            head = head_state(self.head, self.params, b)
            in_face = face_region(model, b)["labels"] == FACE
            on_face = b.asarray(in_face, dtype=self.albedo.dtype)
            self.head_warp = HeadWarp(self.photo, head_positions(self.head, self.params, b, head),
                                      self.head.model.arrays(b).triangles,
                                      b.asarray(self.head.follow), b.asarray(self.head.rigid),
                                      b.asarray(self.head.min_facing),
                                      xp.concat([on_face, xp.zeros(
                                          (self.head.model.n_vertices - in_face.shape[0],),
                                          dtype=on_face.dtype, device=on_face.device)]),
                                      grain=self.grain)
            # Where a turn reveals the side of the head, the head is drawn with the face's skin.
            self.head_skin = HeadSkin(self.head.model.arrays(b).triangles, self.albedo,
                                      on_face,
                                      b.asarray(self.head.skin, dtype=self.albedo.dtype),
                                      (bilinear_sample(self.photo, head.points[0, ...]),
                                       head.shading[0, ...]))
        # A black-and-white or toned photo's samples keep its colours: what is drawn from the
        # model's albedo would otherwise be tinted skin on a grey print.
        self.tone_curve = ToneCurve.of_photo(self.photo)
        self._arrays = arrays
        self._anchor_ids = arrays.landmark_indices[arrays.landmark_indices >= 0]
        self._shape = state.coefficients.shape[0, ...]

    def texture_weights(self, normals: Any) -> tuple[Any, Any]:
        """(V, 1) photo and (V, 1) mirror texture weights in a new pose whose camera-space
        normals are ``normals`` (V, 3).

        Surface the photo saw foreshortened and the new pose shows face-on is the photo's few
        pixels stretched: blocks of blurred colour (a frontal photo's cheek side turned to the
        camera). Past :data:`STRETCH_TEXTURE` [0] times the photo's facing, the photo (and the
        mirrored side) give way to the fallback, gone at [1].
        """
        xp = self.backend.xp
        facing = xp.clip(normals[:, 2:3], 0.0, None)
        return (self.photo_weight * _unstretched(facing, self.source_facing),
                self.mirror_weight * _unstretched(facing, self.mirror_facing))

    def fallback(self, shading: Any) -> Any:
        """(V, 3) the colour drawn where neither the photo's texture nor the mirrored side has
        a colour: each vertex's own photo colour where the photo saw it, else the albedo
        (darker in folds), under the photo's shading around each vertex, relit toward
        ``shading`` (V, 3) (the new pose's) within the bounds of the photo texture's
        relighting."""
        return self.fallback_albedo * self.near_shading * _relight(_grey_ratio(
            shading, self.near_shading))

    def pose(self, expression: Any, rotation: Any) -> FaceParams:
        """The fitted face with a new expression and rotation, translated so that the centre
        of its landmark vertices (with the fitted expression) stays where it was in the photo."""
        backend, xp, old = self.backend, self.backend.xp, self.params

        def centre(angles: Any) -> Any:
            pose = Pose(backend.asarray(angles), backend.asarray(old.scale),
                        backend.asarray(old.translation))
            state = evaluate(self._arrays, Coefficients(self._shape), pose, self._anchor_ids)
            return xp.mean(state.points, axis=0)

        shift = to_numpy(centre(old.rotation) - centre(rotation))
        return replace(old, expression=to_numpy(expression).astype("float64"),
                       rotation=to_numpy(rotation).astype("float64"),
                       translation=old.translation + shift)

    def __call__(self, params: FaceParams, *, index: int = 0, seed: int = 0) -> Sample:
        """Render the sample of ``params`` (the fitted identity, albedo and light assumed).

        On one host BLAS thread, as :func:`facefit.fit` runs: a sample's products are too small
        to gain from more (with two, a sample took as long and half again the CPU time), and a
        dataset run spreads its samples over processes.
        """
        with self.backend.blas_threads(1):
            return self._render(params, index, seed)

    def _render(self, params: FaceParams, index: int, seed: int) -> Sample:
        xp = self.backend.xp
        state = pose_faces(self.model, [params], self.backend)
        points, depth = state.points[0, ...], state.depth[0, ...]
        new_shading = state.shading[0, ...]
        if self.head_warp is not None and self.head is not None:
            head = head_state(self.head, params, self.backend)
            skin = self.head_skin(head.points[0, ...], head.depth[0, ...], head.shading[0, ...],
                                  self.size)
            warped = self.head_warp.warp(head_positions(self.head, params, self.backend, head),
                                         stand_in=skin)
            background, warped_face, drawn = warped.image, warped.face, warped.moved
        else:
            background = warp_background(self.photo, xp.take(self.source_points, self.outline,
                                                             axis=0),
                                         xp.take(points, self.outline, axis=0))
            warped_face = drawn = None  # the background's warp may move any pixel
        # The eye holes are closed by caps textured like the lids around them (generate.eyes).
        caps = self.eye_caps
        raster = rasterize(caps.extend(points), caps.extend(depth[:, None])[:, 0],
                           caps.triangles, self.size)
        assert state.pose is not None
        landmarks = landmark_points(points, self._arrays.landmark_indices,
                                    marching_table(self._arrays, state.pose.rotation[0, ...]))
        mask = raster.mask()
        opening = self.mouth_interior.opening(mask, points, depth)
        # The labels are the model's surface (as ff.render draws it): the caps are not in them.
        on_model = raster.triangle_image() < self.triangles.shape[0]
        face_mask = mask & on_model
        face_depth = xp.where(on_model, raster.depth_image(), xp.nan)
        # Per vertex: where it was in the photo, its texture weight, the relighting ratio, and
        # the albedo fallback; interpolated per pixel, then the photo is sampled at full res.
        # The ratio is one grey factor, bounded: per-channel ratios of small shadings made
        # purple and yellow-green blotches.
        ratio = 1 + self.interior * (_relight(_grey_ratio(new_shading, self.shading)) - 1)
        mirror_shading_ratio = _grey_ratio(new_shading, self.mirror_shading)
        mirror_ratio = 1 + self.interior * (_relight(mirror_shading_ratio) - 1)
        # The other side lends its colour only where it was lit about as this side is now: a
        # face lit from one side has a dark side whose skin, brightened, turns orange.
        lit_alike = xp.exp(-(xp.log(mirror_shading_ratio) / MIRROR_SHADING_SPREAD) ** 2)
        photo_weight, mirror_weight = self.texture_weights(state.normals[0, ...])
        attributes = xp.concat([self.source_points, photo_weight, ratio,
                                self.mirror_points, mirror_weight * lit_alike, mirror_ratio,
                                self.fallback(new_shading)], axis=1)
        attributes = caps.extend(attributes)
        # The eyes' caps show the photo only.
        attributes = xp.concat([attributes[:, 0:2],
                                xp.where(caps.is_cap > 0, 1.0, attributes[:, 2:3]),
                                attributes[:, 3:]], axis=1)
        per_pixel = interpolate(attributes, caps.triangles, raster)  # (P, 11)
        texture = bilinear_sample(self.photo, per_pixel[:, 0:2])
        mirrored = bilinear_sample(self.photo, per_pixel[:, 4:6])
        w, mirror_w = per_pixel[:, 2:3], per_pixel[:, 6:7]
        fallback = (mirror_w * mirrored * per_pixel[:, 7:8]
                    + (1 - mirror_w) * per_pixel[:, 8:11])
        colour = w * texture * per_pixel[:, 3:4] + (1 - w) * fallback
        # The albedo has no grain: give it the photo's.
        plain = raster.to_image((1 - w) * (1 - mirror_w), 0.0)
        image = raster.to_image(colour, background)
        image = xp.clip(image + plain * self.grain, 0.0, 1.0)
        if self.head_warp is not None:
            # The warped photo already holds the face where the photo saw it, so the rendered
            # face fades into it over a band inside its outline: no seam (the mask stays the
            # rendered face). Only where the warp drew the face: where a turn reveals a cheek,
            # the warp there holds what lay beside the face in the photo (background, the side
            # of the head), and fading into it washed the revealed cheek out.
            alpha = xp.astype(feather(mask | opening.mask, FEATHER_PIXELS),
                              image.dtype)[..., None]
            if warped_face is not None:
                narrow = xp.astype(feather(mask | opening.mask, OUTLINE_FEATHER_PIXELS),
                                   image.dtype)[..., None]
                alpha = warped_face * alpha + (1 - warped_face) * narrow
            image = alpha * image + (1 - alpha) * background
        image = self.mouth_interior(image, raster, points, depth, params, opening)
        # The outer outline, and the lips' opening by a pixel: softened as widely there, a
        # smile's teeth (a few pixels tall) were blurred into the lips, a grey band; not at all,
        # the opening's rim is a dark line around the teeth.
        image = soften_outline(image, mask | opening.mask, width=SOFTENED_PIXELS)
        image = soften_outline(image, opening.mask, sigma=1.0, width=1)
        if self.tone_curve is not None:
            # What the sample drew: the warp, the face and its mouth, and the ring around them
            # that soften_outline blurred.
            image = self.tone_curve.within(
                image, None if drawn is None else drawn | mask | opening.mask,
                margin=SOFTENED_PIXELS + 1)
        return Sample(image=to_numpy(image), landmarks=to_numpy(landmarks), params=params,
                      depth=to_numpy(face_depth), mask=to_numpy(face_mask),
                      index=index, seed=seed)


def iter_samples(image: Any, landmarks: Any, n: int = 30, model: Any = None, seed: int = 0, *,
                 poses: PoseRanges | None = None, expressions: Any = None,
                 indices: Iterable[int] | None = None, fit_result: Any = None,
                 **fit_options: Any) -> Iterator[Sample]:
    """Like :func:`generate`, one sample at a time (memory stays flat over long runs).

    ``indices`` picks which samples to make instead of ``range(n)``: each sample's draws depend
    only on (seed, index), so sample k is the same whether or not the others are made (this is
    how a resumed run redoes exactly what is missing). ``fit_result`` reuses a fit of the photo.
    """
    from ..fit import fit
    from ..io import read_image
    from ..model import load_model

    if n < 0:
        raise FacefitError(f"generate: n must be >= 0, got {n}")
    chosen = list(range(n) if indices is None else indices)
    if any(int(k) < 0 for k in chosen):
        raise FacefitError(f"generate: sample indices must be >= 0, got {chosen}")
    model = model if model is not None else load_model()
    photo = read_image(image) if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__") \
        else image
    if fit_result is None:
        fit_result = fit(photo, landmarks, model, **fit_options)
    synthesizer = Synthesizer(model, fit_result.params, photo,
                              albedo_detail=fit_result.albedo_detail)
    ranges = poses or PoseRanges()
    photo_yaw = math.degrees(float(fit_result.params.rotation[1]))
    for index in chosen:
        rng = sample_rng(seed, index)
        expression = draw_expression(model, rng, expressions)
        rotation = draw_rotation(ranges, rng, photo_yaw)
        yield synthesizer(synthesizer.pose(expression, rotation), index=index, seed=seed)


def generate(image: Any, landmarks: Any, n: int = 30, model: Any = None, seed: int = 0, *,
             poses: PoseRanges | None = None, expressions: Any = None,
             **fit_options: Any) -> list[Sample]:
    """Fit ``image`` once and re-render the person ``n`` times with new expressions and poses.

    Parameters
    ----------
    image : (H, W, 3) photo in [0, 1], or an image path.
    landmarks : (68, 2) landmarks (NaN = missing) or a landmark file path.
    n : number of samples.
    model : a :class:`facefit.MorphableModel`; None loads the embedded default.
    seed : samples are a pure function of (photo, seed, index): same seed, same bytes.
    poses : ranges of the new head poses (:class:`PoseRanges`, degrees, absolute).
    expressions : optional (M, K) bank of expressions (std units) to draw from instead of the
        model's prior, e.g. expressions fitted on real faces.
    **fit_options : passed to :func:`facefit.fit` (``jacobian``, ``max_iterations``, ...).

    Returns
    -------
    list of :class:`Sample` with ``.image``, ``.landmarks``, ``.params``, ``.depth``, ``.mask``.
    """
    return list(iter_samples(image, landmarks, n, model, seed, poses=poses,
                             expressions=expressions, **fit_options))

