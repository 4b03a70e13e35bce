"""A mouth interior for generated samples: teeth, gums, tongue and a dark cavity (issue 17).

The face mesh has a hole between the lips. Behind it a sample used to show the warped photo,
whose closed lips or teeth were stretched into pillars when the new expression opened the
mouth wider. Here the opening is found by capping it with a fan of triangles from the inner lip
rim to a point set back into the head (:func:`draw_cavity`, which paints it as a shaded cavity:
dark at the back, a little lighter near the lips, in the photo's lip colour darkened). For the
default ICT model, :class:`MouthInterior` then draws the real mouth interior seen through the
opening (:mod:`facefit.generate.mouth_model`: socket, gums, tongue, teeth, posed by
:func:`facefit.forward.evaluate` with the sample's own coefficients and pose), z-buffered
against the face: off-white teeth, gums and tongue in the photo's lip colour, a dark socket,
all under the fitted SH light and darkened with depth behind the lips. Where the photo itself
showed the interior (a smile's teeth), those interior vertices carry the photo's colours, as the
face's vertices carry its skin, and move with the jaw; nothing else of the photo is sampled
inside the opening, so no photo pixels are ever stretched across it; and nothing is drawn when
the opening is not seen (a closed mouth), so no teeth show on closed lips.

Where the photo's mouth is open and the sample closes it, the photo's teeth must not come back
on the lips: vertices whose photo position lies on or next to the photo's opening take no
photo texture (:meth:`MouthInterior.texture_weight`; their photo pixels are part teeth), and the
face's compositing counts the sample's opening as face (:meth:`MouthInterior.opening`), so the
lips never fade into the warped photo's mouth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..backends import Backend, array_namespace, to_numpy
from ..errors import FacefitError
from ..lighting import sh_basis
from ..params import FaceParams
from ..render import pose_faces
from ..render.interpolate import interpolate
from ..render.rasterize import Rasterization, rasterize
from ..sampling import bilinear_sample
from .head import head_params
from .host import hole_loop
from .mouth_model import PARTS, mouth_model
from .quality import _dilate

Array = Any

__all__ = ["CAST", "MOUTH_DEPTH", "TOOTH_COLOUR", "MouthInterior", "MouthOpening", "draw_cavity",
           "inner_lip_loop"]

#: Teeth: off-white, a little yellow (linear [0, 1] RGB, before light and depth darkening).
TOOTH_COLOUR = (0.95, 0.92, 0.84)
#: Bounds of the light's colour cast that the teeth take, per channel (see ``cast``).
CAST = (0.75, 1.25)
#: Each part's colour as a multiple of the photo's lip colour (teeth: of TOOTH_COLOUR times
#: the teeth's brightness): the socket is the cheeks' inner lining seen in shadow, the gums and
#: tongue are the lips' tissue, the tongue a little lighter and pinker.
PART_TINT = {"socket": (0.45, 0.4, 0.4), "gums": (1.0, 0.85, 0.85), "tongue": (1.1, 0.9, 0.9),
             "upper teeth": (1.0, 1.0, 1.0), "lower teeth": (0.92, 0.92, 0.92)}
#: Light falls off behind the lips as exp(-depth / falloff), falloff = FALLOFF_MM x
#: min(1, gap / GAP_MM) + FALLOFF_OPENING x gap, with gap the mean opening between the lips (mm),
#: and all of it is dimmed to SLIT_LIGHT where the gap closes (rising linearly to 1 at GAP_MM):
#: a wide-open mouth lets the light in deeper (ambient occlusion, roughly), and lips nearly
#: closed let almost none in (teeth seen through a slit are a dark line, not a white one).
FALLOFF_MM = 12.0
FALLOFF_OPENING = 0.6
GAP_MM = 6.0
SLIT_LIGHT = 0.35
#: The colour of a closed mouth's slit, as a multiple of the lips' colour (fading out as the
#: gap opens to GAP_MM).
SLIT_SHADE = 0.6
#: The least light anywhere inside an open mouth, as a fraction of the light at its front.
DEEP_LIGHT = 0.12
#: Channel spread (max - min) of the photo's lip colour from which the interior keeps its full
#: colour; below it the interior's colours fade to grey with the photo's (a black-and-white
#: photo's lips have none, and pink gums and yellowish teeth in it are a painted-on mouth).
LIP_CHROMA = 0.08
#: Per channel (R, G, B) multiple of the depth falloff.
REDDEN = (0.7, 1.0, 1.2)
#: Pixels within this many of the photo's own mouth opening give the face no texture.
PHOTO_OPENING_MARGIN = 2
#: A mouth pixel shows over a face pixel only when nearer by this much (mm): the lips' linings
#: and the teeth nearly touch, and a blendshape's teeth a hair through the lip must not show.
OCCLUSION_MM = 1.5

#: An interior vertex counts as seen by the photo when within this depth (mm) of the nearest
#: interior surface at its pixel.
SEEN_MM = 1.0

#: How far the cavity's centre sits behind the lip rim, as a fraction of the rim's width.
MOUTH_DEPTH = 0.6

#: iBUG inner-lip landmarks (0-based), used to pick the mouth's hole among the mesh's holes.
INNER_LIP = tuple(range(60, 68))


@lru_cache(maxsize=8)
def inner_lip_loop(model: Any) -> Any:
    """(L,) host indices of the vertices on the rim of the mouth's hole, in order; None when the
    model's mesh has no hole between the lips (a closed mouth, as the Basel model's).

    The hole is the boundary loop whose centre is nearest the inner-lip landmark vertices',
    accepted when that centre lies within a quarter of the mouth's width of theirs and the loop
    is at most twice as wide as the mouth (the face's outer outline is not a mouth).
    """
    indices = model.landmark_indices
    lips = [int(indices[k]) for k in INNER_LIP]
    corners = [int(indices[48]), int(indices[54])]
    if min(lips + corners) < 0:
        return None
    return hole_loop(model.mean_shape, model.triangles, lips, corners)

def _fan(points: Array, depth: Array, loop: Array, size: tuple[int, int]
         ) -> tuple[Rasterization, Array]:
    """The fan capping the lips' rim (to a point set back into the head), rasterized; and its
    (L, 3) triangles (vertex L is the centre)."""
    xp = array_namespace(points, depth, loop)
    rim = xp.take(points, loop, axis=0)
    rim_depth = xp.take(depth, loop)
    width = xp.max(rim[:, 0]) - xp.min(rim[:, 0])
    centre = xp.mean(rim, axis=0)[None, :]
    centre_depth = xp.mean(rim_depth)[None] - MOUTH_DEPTH * width
    count = loop.shape[0]
    ids = xp.arange(count, dtype=xp.int64, device=points.device)
    fan = xp.stack([ids, (ids + 1) % count, xp.full_like(ids, count)], axis=1)
    raster = rasterize(xp.concat([rim, centre], axis=0), xp.concat([rim_depth, centre_depth],
                                                                   axis=0),
                       fan, size, cull_back=False)
    return raster, fan


def _cavity(image: Array, open_here: Array, raster: Rasterization, fan: Array,
            lip_colour: Array) -> Array:
    """``image`` with the fan's pixels ``open_here`` painted as a cavity: the lips' colour
    darkened, most at the back."""
    xp = array_namespace(image, fan)
    count = fan.shape[0]
    # Per fan vertex: 1 on the rim, 0 at the back; the cavity darkens toward the back.
    rim_weight = xp.concat([xp.ones((count, 1), dtype=image.dtype, device=image.device),
                            xp.zeros((1, 1), dtype=image.dtype, device=image.device)], axis=0)
    near_rim = interpolate(rim_weight, fan, raster)  # (P, 1)
    colour = lip_colour[None, :] * (0.2 + 0.3 * near_rim * near_rim)
    return xp.where(open_here[..., None], raster.to_image(colour, image), image)


def draw_cavity(image: Array, face_mask: Array, points: Array, depth: Array, loop: Array,
                lip_colour: Array) -> Array:
    """``image`` with the mouth's opening drawn as a cavity where the face does not cover it.

    Parameters
    ----------
    image : (H, W, 3) sample so far.
    face_mask : (H, W) bool, pixels of the rendered face (the lips and cheeks in front).
    points : (V, 2) projected face vertices; depth : (V,) their depth (larger nearer).
    loop : (L,) the inner lip rim's vertex indices (:func:`inner_lip_loop`).
    lip_colour : (3,) the photo's colour of the lips.

    Returns
    -------
    (H, W, 3) image.
    """
    raster, fan = _fan(points, depth, loop, (image.shape[0], image.shape[1]))
    return _cavity(image, raster.mask() & ~face_mask, raster, fan, lip_colour)


@dataclass(frozen=True)
class MouthOpening:
    """Where a sample's mouth is open: ``mask`` (H, W) bool, the pixels seen through the lips'
    opening; ``raster`` and ``fan``, the fan over the rim (None without a rim)."""

    mask: Array
    raster: Rasterization | None = None
    fan: Array = None


def _luminance(colour: Array) -> Array:
    return 0.299 * colour[..., 0] + 0.587 * colour[..., 1] + 0.114 * colour[..., 2]


class MouthInterior:
    """Draws the opening between the lips of a fitted face's samples.

    Built once per photo; called per sample with the sample's face render.

    Parameters
    ----------
    model : the fitted :class:`facefit.MorphableModel`.
    params : the fitted :class:`FaceParams` (its light lights the interior).
    photo : (H, W, 3) photo in [0, 1] on ``backend``.
    backend : where to compute.
    """

    def __init__(self, model: Any, params: FaceParams, photo: Array, backend: Backend):
        self.backend = backend
        self.model_name = str(model.name)
        xp = backend.xp
        loop = inner_lip_loop(model)
        self.loop = None if loop is None else backend.asarray(loop)
        fitted = pose_faces(model, [params], backend)
        points = fitted.points[0, ...]
        size = (int(photo.shape[0]), int(photo.shape[1]))
        #: (H, W, 1) 1 on and next to the photo's own mouth opening, else 0.
        self.photo_opening = xp.zeros((*size, 1), dtype=photo.dtype, device=photo.device)
        face_opening = None
        if self.loop is not None:
            face = rasterize(points, fitted.depth[0, ...], model.arrays(backend).triangles, size)
            face_opening = _opening(face.mask(), points, fitted.depth[0, ...], self.loop)
            near = _dilate(face_opening, PHOTO_OPENING_MARGIN, xp)
            self.photo_opening = xp.astype(near, photo.dtype)[..., None]
        lips = to_numpy(model.landmark_indices)[48:60]
        lips = backend.asarray(lips[lips >= 0])
        #: (3,) the photo's lip colour, and the fitted shading there: the tissue's colour is
        #: the photo's lips relit by the interior's own shading over theirs.
        self.lip_colour = xp.mean(bilinear_sample(photo, xp.take(points, lips, axis=0)), axis=0)
        lip_light = xp.mean(xp.take(fitted.shading[0, ...], lips, axis=0), axis=0)  # (3,)
        self.lip_shading = xp.clip(xp.mean(lip_light), 0.2, None)
        #: How much of its own colour the interior keeps (0 in a greyscale photo).
        self.saturation = min(1.0, float(xp.max(self.lip_colour) - xp.min(self.lip_colour))
                              / LIP_CHROMA)
        #: (3,) the fitted light's colour at the lips over its grey, square-rooted: the photo's
        #: colour cast, which the teeth take (neutral teeth in a warm photo read as blue-grey).
        #: Half of it: the light's colour is fitted jointly with the albedo's and overstates
        #: the cast (in full, image_0010's teeth turned olive). None in a greyscale photo, whose
        #: fitted light is coloured only to undo the albedo's colour (it darkened takeo's teeth).
        self.cast = xp.clip((lip_light / self.lip_shading) ** (0.5 * self.saturation),
                            CAST[0], CAST[1])
        self.geometry = mouth_model(model)
        if self.geometry is None:
            return
        self.triangles = self.geometry.model.arrays(backend).triangles
        self.rim = backend.asarray(self.geometry.rim_ids)
        # Teeth are brighter than lips: 1.8 times the lips' luminance, kept to a plausible
        # range (never paper-white: teeth are translucent and wet, seen in the lips' shade).
        teeth_level = xp.clip(1.8 * _luminance(self.lip_colour), 0.4, 0.78)
        tooth = backend.asarray(TOOTH_COLOUR) * teeth_level * self.cast
        base = []
        for name in PARTS:
            tint = backend.asarray(PART_TINT[name])
            base.append(tint * (tooth if "teeth" in name else self.lip_colour))
        table = xp.stack(base, axis=0)  # (parts, 3)
        self.redden = backend.asarray(REDDEN)[None, :]
        #: (V, 3) colour of each mouth vertex before light and depth.
        self.base = xp.take(table, backend.asarray(self.geometry.part), axis=0)
        self.photo = photo
        self._seen_in_photo(params, face_opening, size)

    def _seen_in_photo(self, params: FaceParams, face_opening: Array | None,
                       size: tuple[int, int]) -> None:
        """What the photo shows of the interior, for :meth:`photo_share`: where each interior
        vertex lies in the photo and at what depth (``source_points`` (V, 2),
        ``source_depth`` (V, 1)), and per photo pixel whether it lies well inside the photo's
        own opening (``photo_inside`` (H, W, 1), 0 or 1) and the interior's nearest depth
        there (``photo_front`` (H, W, 1)). The photo's teeth and tongue are then carried with
        the jaw, as the face carries the skin."""
        xp = self.backend.xp
        assert self.geometry is not None
        state = pose_faces(self.geometry.model, [head_params(params)], self.backend)
        points, depth = state.points[0, ...], state.depth[0, ...]
        self.source_points, self.source_depth = points, depth[:, None]
        self.seen_tolerance = SEEN_MM * float(params.scale)
        self.photo_inside = xp.zeros((*size, 1), dtype=points.dtype, device=points.device)
        self.photo_front = xp.zeros((*size, 1), dtype=points.dtype, device=points.device)
        if face_opening is None or not bool(xp.any(face_opening)):
            return
        # A pixel away from the lips: the rim's pixels mix lip and teeth.
        inside = ~_dilate(~face_opening, 1, xp)
        raster = rasterize(points, depth, self.triangles, size, cull_back=False)
        nearest = raster.depth_image(-math.inf)
        nearest = xp.where(xp.isfinite(nearest), nearest, xp.min(depth))
        self.photo_inside = xp.astype(inside, points.dtype)[..., None]
        self.photo_front = nearest[..., None]

    def photo_share(self, source_points: Array, source_depth: Array) -> Array:
        """(P, 1) in [0, 1]: how far the photo shows the interior's surface points that lie at
        (P, 2) ``source_points`` and (P, 1) ``source_depth`` in the photo's pose: inside its
        opening and front-most there.

        Decided per pixel of a sample, not per vertex: the interior's mesh is coarse, and its
        triangles across the edge of what the photo showed mixed the photo's teeth with the
        rule's colours into a grey band (a smile re-drawn at the photo's own pose differed
        from the photo by 0.12 on average inside the opening).
        """
        xp = self.backend.xp
        shown: Array = bilinear_sample(self.photo_inside, source_points)
        front: Array = bilinear_sample(self.photo_front, source_points)
        return shown * xp.astype(source_depth >= front - self.seen_tolerance, shown.dtype)

    def colours(self, params: FaceParams, gap: float) -> tuple[Array, Array, Array]:
        """The posed interior of ``params``: (V, 2) image points, (V,) depth and (V, 3) colours;
        ``gap`` is the mean opening between the lips in mm.

        Colour = base colour x (SH shading over the lips' fitted shading, the normals turned
        toward the camera: the linings are seen from inside) x exp(-depth behind the front of
        the lips' rim / falloff), in model space (mm), so it does not change with the head's pose.
        """
        xp = self.backend.xp
        if self.geometry is None:
            raise FacefitError(f"model {self.model_name!r} has no mouth interior")
        state = pose_faces(self.geometry.model, [head_params(params)], self.backend)
        points, depth = state.points[0, ...], state.depth[0, ...]
        normals = state.normals[0, ...]
        normals = xp.where(normals[:, 2:3] < 0, -normals, normals)
        shading = sh_basis(normals) @ state.light[0, ...]
        relit = xp.clip(xp.mean(shading, axis=1, keepdims=True) / self.lip_shading, 0.35, 1.15)
        vertices = state.vertices[0, ...]
        rim = xp.take(vertices, self.rim, axis=0)  # the lips' inner rim
        behind = xp.clip(xp.max(rim[:, 2]) - vertices[:, 2], 0.0, None)  # behind the lips' middle
        openness = min(1.0, gap / GAP_MM)
        falloff = FALLOFF_MM * max(openness, 0.05) + FALLOFF_OPENING * gap
        # Per channel, blue falls off fastest: light deep in a mouth has bounced off red
        # tissue (a grey darkening of off-white teeth reads as green next to pink gums).
        deep = xp.exp(-behind[:, None] / falloff * self.redden)
        # A little light reaches the back (bounced off the tongue and cheeks): dark red there,
        # not a black hole.
        light = (DEEP_LIGHT + (1 - DEEP_LIGHT) * deep) * (SLIT_LIGHT + (1 - SLIT_LIGHT) * openness)
        colour = xp.clip(self.base * relit * light, 0.0, 1.0)
        grey = _luminance(colour)[:, None]
        return points, depth, grey + self.saturation * (colour - grey)

    def texture_weight(self, weight: Array, source_points: Array) -> Array:
        """(V, 1) photo-texture weights ``weight`` set to 0 on vertices whose photo position
        (``source_points``, (V, 2)) lies on or next to the photo's own mouth opening.

        In a photo with an open mouth the lips' edge pixels there are part teeth; a sample that
        closes the mouth brings those vertices together into the line between the lips, which
        would then show the photo's teeth. They take the fitted albedo instead.
        """
        xp = self.backend.xp
        near = bilinear_sample(self.photo_opening, source_points)  # (V, 1)
        return weight * (1 - xp.clip(near, 0.0, 1.0))

    def opening(self, face_mask: Array, points: Array, depth: Array) -> MouthOpening:
        """The pixels seen through the lips' opening (none without a rim), for
        :meth:`__call__`.

        The face's compositing should count them as face: fading the lips into the warped
        photo there would blend in the photo's own mouth (its teeth, on a mouth the sample
        closes).
        """
        if self.loop is None:
            return MouthOpening(self.backend.xp.zeros_like(face_mask))
        raster, fan = _fan(points, depth, self.loop, (face_mask.shape[0], face_mask.shape[1]))
        return MouthOpening(raster.mask() & ~face_mask, raster, fan)

    def __call__(self, image: Array, face: Rasterization, points: Array, depth: Array,
                 params: FaceParams, opening: MouthOpening | None = None) -> Array:
        """``image`` with the mouth's opening drawn, where it is seen.

        Parameters
        ----------
        image : (H, W, 3) sample so far (the face composited).
        face : the sample's face :class:`Rasterization`.
        points : (V, 2) the sample's projected face vertices; depth : (V,) their depth.
        params : the sample's :class:`FaceParams`.
        opening : :meth:`opening` of the sample, when already made.

        Returns
        -------
        (H, W, 3) image.
        """
        xp = self.backend.xp
        face_mask = face.mask()
        if opening is None:
            opening = self.opening(face_mask, points, depth)
        if opening.raster is None:
            return image
        area = float(xp.sum(xp.astype(opening.mask, xp.float64)))
        if area == 0:  # a closed mouth: nothing of the interior shows
            return image
        image = _cavity(image, opening.mask, opening.raster, opening.fan, self.lip_colour)
        if self.geometry is None:
            return image
        rim_x = xp.take(points, self.loop, axis=0)[:, 0]
        width = float(xp.max(rim_x) - xp.min(rim_x))
        gap = area / max(width, 1.0) / float(params.scale)
        mouth_points, mouth_depth, colours = self.colours(params, gap)
        raster = rasterize(mouth_points, mouth_depth, self.triangles, face.size,
                           cull_back=False)
        # Where the photo showed the interior (its own teeth), its colours; elsewhere the
        # interior's shaded ones.
        per_pixel = interpolate(xp.concat([self.source_points, self.source_depth, colours],
                                          axis=1), self.triangles, raster)
        weight = self.photo_share(per_pixel[:, 0:2], per_pixel[:, 2:3])
        photo_colour = bilinear_sample(self.photo, per_pixel[:, 0:2])
        drawn = raster.to_image(weight * photo_colour + (1 - weight) * per_pixel[:, 3:6],
                                image)
        # z-buffered with the face: through the opening, or over a face pixel that lies
        # behind it (the far lip's lining seen past the teeth) by more than OCCLUSION_MM.
        scale = xp.asarray(float(params.scale), dtype=mouth_depth.dtype, device=image.device)
        inner = raster.depth_image(-math.inf)
        behind = face_mask & (inner > xp.where(face_mask, face.depth_image(0.0), inner)
                              + OCCLUSION_MM * scale)
        show = raster.mask() & (opening.mask | behind)
        image = xp.where(show[..., None], drawn, image)
        # A slit between lips nearly closed is the lips' shaded line, not black dots.
        floor = self.lip_colour * (SLIT_SHADE * (1 - min(1.0, gap / GAP_MM)))
        return xp.where(opening.mask[..., None], xp.maximum(image, floor), image)


def _opening(face_mask: Array, points: Array, depth: Array, loop: Array) -> Array:
    """(H, W) bool: pixels of the fan over the lips' rim that the face does not cover."""
    raster, _ = _fan(points, depth, loop, (face_mask.shape[0], face_mask.shape[1]))
    return raster.mask() & ~face_mask
