"""Skin for the side of the head that a turn reveals and the photo saw edge-on (issue 17).

A frontal photo sees the ears and the sides of the head as a strip a few pixels wide between
the cheek and the hair. Turned toward the camera, the head warp (:mod:`.profiling`) stretches
that strip over the whole revealed side: blurred, it was a smooth pink bulge the shape of the
model's ear, with blocky dark patches where the strip held shadow or hair.

This renders the head model itself there instead: the skin colour of the fitted face, spread
from the face's outline over the head's mesh, times the fitted light's shading of the head's
surface in the new pose. An ear then has its folds, lit as the face is. Only skin is painted
this way: the skull (under hair) keeps the warp's hair rings, and the head warp uses this only
where its triangles are stretched. Where the photo shows no skin there, the warp keeps the
photo's stretched colours, with the head's relief: its shading over the mean shading of the
surface around it (the fitted light is smooth, so this darkens an ear's concha by a few
percent, no more).
"""

from __future__ import annotations

from typing import Any

from ..backends import array_namespace
from ..geometry import ring_average, weighted_ring_average
from ..render.interpolate import interpolate
from ..render.rasterize import rasterize
from .profiling import StandIn

Array = Any

__all__ = ["RELIEF", "RELIEF_RINGS", "SKIN_DISTANCE", "SPREAD_RINGS", "HeadSkin",
           "skin_likeness"]

#: Colour distance (RMS over channels) from the fitted face's colour at which the photo's colour
#: at a vertex counts half as skin: hair, brows, shadows and background past it are not skin.
SKIN_DISTANCE = 0.08

#: Mesh rings over which the face's skin colour is spread onto the rest of the head (enough to
#: reach the ears and the neck from the face's outline).
SPREAD_RINGS = 40

#: Mesh rings of the surroundings that the relief compares a vertex's shading with (about
#: 1.5 cm on the ear, whose edges are about 3.5 mm: its folds, not the head's overall light),
#: and the relief's bounds.
RELIEF_RINGS = 4
RELIEF = (0.6, 1.5)


def skin_likeness(observed: Array, predicted: Array) -> Array:
    """(V, 1) in (0, 1]: how well the photo's colours ``observed`` (V, 3) agree with the fitted
    face's ``predicted`` (V, 3), 1 when equal, 1/2 at :data:`SKIN_DISTANCE`."""
    xp = array_namespace(observed, predicted)
    distance = xp.mean((observed - predicted) ** 2, axis=1, keepdims=True) / SKIN_DISTANCE ** 2
    return 1 / (1 + distance)


class HeadSkin:
    """The head's skin in a new pose, coloured like the fitted face; built once per photo.

    Parameters
    ----------
    triangles : (T, 3) the head mesh's triangles (face vertices first).
    face_albedo : (F, 3) albedo of the face model's vertices (the head's first F vertices).
    face_weight : (F,) how much each face vertex's albedo is trusted as skin (1 inside the
        face's outline, 0 on forehead to hairline, under the chin and toward the ears).
    skin : (V,) 1 where the head's surface is skin (ears, sides, neck), 0 where it is under
        hair (the skull); the rendered colour is used in proportion.
    seen : optional (V, 3) photo colours at the head's vertices and (V, 3) their shading in the
        photo's fit. Where the photo shows something other than this skin there (the model's
        ear lies over hair or background when the real head is narrower or the ear is
        covered), the surface is not skin either: the warp's hair or background stays.
    """

    def __init__(self, triangles: Array, face_albedo: Array, face_weight: Array, skin: Array,
                 seen: tuple[Array, Array] | None = None):
        xp = array_namespace(triangles, face_albedo, face_weight, skin)
        n_face, n_head = face_albedo.shape[0], skin.shape[0]
        weight = xp.concat([face_weight,
                            xp.zeros((n_head - n_face,), dtype=face_albedo.dtype,
                                     device=face_albedo.device)])[:, None]
        albedo = xp.concat([face_albedo,
                            xp.zeros((n_head - n_face, 3), dtype=face_albedo.dtype,
                                     device=face_albedo.device)])
        # Past the rings the spread reaches (the back of the head), the face's mean skin.
        mean = xp.sum(weight * albedo, axis=0) / xp.clip(xp.sum(weight), 1e-9, None)
        self.albedo = weighted_ring_average(albedo, weight, triangles, SPREAD_RINGS,
                                            mean[None, :], floor=1e-6)
        self.skin = xp.astype(skin, face_albedo.dtype)[:, None]
        if seen is not None:
            colour, shading = seen
            # Squared: hair beside skin is still a fifth alike; it must not be half skin.
            likeness = skin_likeness(colour, xp.clip(self.albedo * shading, 0.0, 1.0)) ** 2
            self.skin = self.skin * ring_average(likeness, triangles, 2)
        self.triangles = triangles

    def __call__(self, points: Array, depth: Array, shading: Array,
                 size: tuple[int, int]) -> StandIn:
        """The head drawn at ``points`` (V, 2) with ``depth`` (V,) (larger nearer) under
        ``shading`` (V, 3), on an image of ``size`` (H, W).

        Returns
        -------
        A :class:`~facefit.generate.profiling.StandIn`: ``image`` (H, W, 3) skin colour times
        shading (0 off the head); ``weight`` (H, W, 1) how much of each pixel is skin (0 off the
        head and on the skull); ``relief`` (H, W, 1) the grey shading over its mean over
        :data:`RELIEF_RINGS` rings, within :data:`RELIEF` (1 off the head).
        """
        xp = array_namespace(points, depth, shading)
        raster = rasterize(points, depth, self.triangles, size)
        grey = xp.mean(shading, axis=1, keepdims=True)
        around = ring_average(grey, self.triangles, RELIEF_RINGS)
        relief = xp.clip(grey / xp.clip(around, 1e-3, None), RELIEF[0], RELIEF[1])
        values = xp.concat([xp.clip(self.albedo * shading, 0.0, 1.0), self.skin, relief - 1],
                           axis=1)
        per_pixel = interpolate(values, self.triangles, raster)
        drawn = raster.to_image(per_pixel, 0.0)
        return StandIn(drawn[..., 0:3], drawn[..., 3:4], 1 + drawn[..., 4:5])
