"""Head-region profiling: warp a photo so the whole head turns, not just the face (issue 17).

3DDFA's face profiling (Zhu et al., CVPR 2016, the method behind 300W-LP) treats the image
around the face as a 3-D mesh: anchors on and around the head get a depth, rotate with the
face, and the photo is warped by the triangulated anchors; far background stays fixed. Here
the anchors on the head are real geometry, the vertices of a whole-head model driven by the
fitted coefficients (:mod:`facefit.generate.head`), and the rest are built from its silhouette:

- **head anchors**: the head vertices the photo sees (front-facing, not hidden in the
  z-buffer), at their image position and depth in the photo; they move to where the same
  vertices project in the new pose (the neck's base blended back toward the body by
  ``follow``);
- **hair rings**: rings outside the head's silhouette (hair, ears' surroundings) at the depth of
  the silhouette they extend, which turn rigidly with the head (the rigid map from the head
  vertices' old to new positions) and fade to standing still over the outer rings;
- **fixed ring**: the outermost ring does not move; outside it the photo is untouched.

The anchors are triangulated once per photo (Delaunay, in the photo), and per sample the moved
mesh is rasterized with a z-buffer: where the turned head overlaps itself (the far cheek behind
the nose, a side of the head turning away) the nearest surface wins, and triangles that flip
(a surface seen from behind) are culled. A mesh whose boundary is fixed covers every pixel
with at least one unflipped triangle, so culling opens no holes.

Where the turn stretches a triangle (the side of a head seen edge-on in the photo, turned into
view), its texture is blurred, given the head's relief (its folds' shading) and the photo's grain;
a caller can pass a stand-in drawn there instead (the synthesiser passes the head model's own
surface in the face's skin, :mod:`facefit.generate.head_skin`). How much a pixel counts as
stretched varies smoothly over the mesh, so neighbouring triangles stretched by different
amounts do not show as blocks.

Inputs are plain arrays (positions and depths in image space), so this does not depend on how
the head is posed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from ..backends import array_namespace, scatter_add, to_numpy
from ..errors import FacefitError
from ..geometry import vertex_normals
from ..render.interpolate import interpolate
from ..render.rasterize import rasterize
from ..render.visibility import visible_vertices
from ..sampling import bilinear_sample, gaussian_blur
from .host import warp_mesh

Array = Any

__all__ = ["RINGS", "HeadWarp", "StandIn", "Warped", "rigid_map"]

#: Rings around the head's silhouette: (radius as a multiple of the silhouette's distance from
#: the head's centre, how much the ring follows the head). The last ring stands still.
RINGS = ((1.12, 1.0), (1.35, 1.0), (1.65, 0.85), (2.1, 0.0))

#: Skull vertices whose normal's component toward the camera is below this (in the photo) are
#: not anchors of the warp.
MIN_FACING = 0.5

#: Angular bins of the silhouette (rings have one anchor per bin).
BINS = 72

#: Area stretch of a warp triangle (new over photo) at which its texture starts to be blurred,
#: and at which it is blurred in full by STRETCH_BLUR pixels (of the photo).
STRETCH: tuple[float, float] = (2.0, 5.0)
STRETCH_BLUR = 3.0


def _areas(points: Array, triangles: Array) -> Array:
    """(T,) unsigned areas of ``triangles`` over 2-D ``points`` (N, 2)."""
    xp = array_namespace(points, triangles)
    a, b, c = (xp.take(points, triangles[:, k], axis=0) for k in range(3))
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    return xp.abs(cross) / 2


def rigid_map(source: Array, target: Array, weights: Array) -> Array:
    """(4, 3) affine map taking ``source`` (N, 3) to ``target`` (N, 3) in least squares.

    ``[x, y, depth, 1] @ map`` approximates the target; ``weights`` (N,) weight the rows (the
    vertices that turn rigidly with the head).
    """
    xp = array_namespace(source, target, weights)
    ones = xp.ones((source.shape[0], 1), dtype=source.dtype, device=source.device)
    design = xp.concat([source, ones], axis=1)
    weighted = design * weights[:, None]
    normal = xp.matmul(xp.matrix_transpose(weighted), design)
    normal = normal + 1e-9 * xp.eye(4, dtype=source.dtype, device=source.device)
    return xp.linalg.solve(normal, xp.matmul(xp.matrix_transpose(weighted), target))


class StandIn(NamedTuple):
    """What the warp draws where it is stretched, instead of the blurred photo.

    Attributes
    ----------
    image : (H, W, 3) colours.
    weight : (H, W, 1) how much of ``image`` to draw, in [0, 1].
    relief : (H, W, 1) shading of the surface relative to its surroundings (1 where flat, below
        1 in folds), applied to the blurred photo where it is stretched; or None.
    """

    image: Array
    weight: Array
    relief: Array | None = None


class Warped(NamedTuple):
    """What :meth:`HeadWarp.warp` drew.

    Attributes
    ----------
    image : (H, W, 3) warped photo (untouched outside the fixed ring).
    moved : (H, W) bool, pixels the warp drew (inside the fixed ring).
    face : (H, W, 1) 1 where the pixel was drawn from a triangle of the face's vertices (the
        photo inside the face), 0 elsewhere, or None.
    """

    image: Array
    moved: Array
    face: Array | None


@dataclass
class HeadWarp:
    """The image mesh of one photo's head, built once; called with the head's new positions.

    Parameters
    ----------
    photo : (H, W, 3) photo in [0, 1] on the active backend.
    source : (N, 3) head vertices in the photo: image x, y (pixels) and depth (larger nearer).
    triangles : (T, 3) the head mesh's triangles (counter-clockwise seen from the camera in
        model space, as facefit's models).
    follow : (N,) how much each vertex moves with the head in [0, 1] (1 on the head, falling to
        0 at the base of the neck, which stays with the body).
    min_facing : (N,) per vertex, the least normal component toward the camera (in the photo)
        for the vertex to anchor the warp; default MIN_FACING on the ``rigid`` vertices, 0 on
        the rest.
    rigid : (N,) weights of the vertices that turn rigidly with the skull (not moved by
        expressions), which define the hair rings' motion; default ``follow == 1``.
    face : (N,) 1 on the vertices of the face that is rendered over the warp, 0 elsewhere;
        :meth:`warp` then says which pixels the warp drew from the face; default none.
    grain : optional (H, W, 1) grain added where the warp is stretched (the synthesiser passes
        the photo's own, :func:`facefit.generate.host.grain`), so the blurred strip is not
        smoother than the photo around it.
    """

    photo: Array
    source: Array
    triangles: Array
    follow: Array
    rigid: Array | None = None
    min_facing: Array | None = None
    face: Array | None = None
    grain: Array | None = None

    def __post_init__(self) -> None:
        xp = array_namespace(self.photo, self.source, self.triangles)
        if self.photo.ndim != 3 or self.photo.shape[2] != 3:
            raise FacefitError(f"head profiling: photo must be (H, W, 3), got "
                               f"{tuple(self.photo.shape)}")
        if self.source.ndim != 2 or self.source.shape[1] != 3:
            raise FacefitError(f"head profiling: source must be (N, 3), got "
                               f"{tuple(self.source.shape)}")
        self.size = (int(self.photo.shape[0]), int(self.photo.shape[1]))
        # Which head vertices the photo sees: front-facing and first in the z-buffer. Normals of
        # the image-space mesh with y flipped up, so the model's winding holds.
        points, depth = self.source[:, 0:2], self.source[:, 2]
        upright = xp.stack([self.source[:, 0], -self.source[:, 1], self.source[:, 2]], axis=1)
        normals = vertex_normals(upright, self.triangles)
        raster = rasterize(points, depth, self.triangles, self.size)
        seen = to_numpy(visible_vertices(points, depth, normals, raster))
        # Surface seen edge-on is a thin band of the photo; carried on its vertices it is
        # stretched into streaks when a turn shows it (the top of a frontal head's skull, in
        # mid-hair, became a hard-edged flap). Without them the triangulation spans a wider part
        # of the photo (the hair rings carry that hair instead).
        if self.min_facing is not None:
            seen &= to_numpy(normals[:, 2]) >= to_numpy(self.min_facing)
        elif self.rigid is not None:
            skull = to_numpy(self.rigid) > 0
            seen &= ~skull | (to_numpy(normals[:, 2]) >= MIN_FACING)
        follow = to_numpy(self.follow)
        self.seen, self.anchors, self.ring_follow, planar, self.mesh = warp_mesh(
            to_numpy(self.source), seen, follow, self.size, RINGS, BINS)
        self._dtype = self.photo.dtype
        # The photo and its blur side by side: one bilinear lookup reads both.
        self._with_blur = xp.concat([self.photo, gaussian_blur(self.photo, STRETCH_BLUR)],
                                    axis=2)
        self._device = self.photo.device
        self._xp = xp
        self._mesh = xp.asarray(self.mesh, device=self._device)
        self._seen = xp.asarray(self.seen, device=self._device)
        self._source_2d = xp.asarray(planar, dtype=self._dtype, device=self._device)
        self._source_areas = xp.clip(_areas(self._source_2d, self._mesh), 1e-6, None)
        self._anchors = xp.asarray(self.anchors, dtype=self._dtype, device=self._device)
        self._ring_follow = xp.asarray(self.ring_follow, dtype=self._dtype, device=self._device)
        rigid = self.follow >= 1.0 if self.rigid is None else self.rigid
        self._rigid_weight = xp.astype(xp.asarray(rigid, device=self._device), self._dtype)
        self._follow = xp.asarray(follow, dtype=self._dtype, device=self._device)
        corners = xp.reshape(self._mesh, (-1,))
        self._corners = corners
        self._corner_count = scatter_add(corners, xp.ones(corners.shape, dtype=self._dtype,
                                                          device=self._device),
                                         int(planar.shape[0]))
        self._face: Array | None = None
        if self.face is not None:
            # Per warp triangle: 1 when all its corners are face vertices (a triangle from the
            # face's edge to a ring holds what lay beside the face in the photo).
            per_vertex = xp.concat([
                xp.astype(xp.take(self.face, self._seen, axis=0), self._dtype),
                xp.zeros((self._anchors.shape[0],), dtype=self._dtype, device=self._device)])
            corners = [xp.take(per_vertex, self._mesh[:, k], axis=0) for k in range(3)]
            self._face = corners[0] * corners[1] * corners[2]

    def __call__(self, target: Array,
                 stand_in: tuple[Array, ...] | None = None) -> tuple[Array, Array]:
        """The photo warped so the head's vertices move to ``target`` (N, 3).

        ``stand_in`` is an optional :class:`StandIn` (or (image (H, W, 3), weight (H, W, 1))
        pair) drawn where the warp is stretched, in proportion to its weight, instead of the
        blurred photo (the head's own rendered skin,
        :class:`facefit.generate.head_skin.HeadSkin`).

        Returns
        -------
        image : (H, W, 3) warped photo (untouched outside the fixed ring).
        moved : (H, W) bool, pixels the warp drew (inside the fixed ring).
        """
        warped = self.warp(target, stand_in)
        return warped.image, warped.moved

    def warp(self, target: Array, stand_in: tuple[Array, ...] | None = None) -> Warped:
        """Like calling the warp, with :attr:`Warped.face`: where the warp drew from triangles
        of the ``face`` vertices (None without ``face``)."""
        xp = self._xp
        if tuple(target.shape) != tuple(self.source.shape):
            raise FacefitError(f"head profiling: target must be {tuple(self.source.shape)}, got "
                               f"{tuple(target.shape)}")
        target = xp.astype(target, self._dtype)
        source = xp.astype(self.source, self._dtype)
        moved = source + self._follow[:, None] * (target - source)
        affine = rigid_map(source, target, self._rigid_weight)
        ones = xp.ones((self._anchors.shape[0], 1), dtype=self._dtype, device=self._device)
        turned = xp.matmul(xp.concat([self._anchors, ones], axis=1), affine)
        rings = self._anchors + self._ring_follow[:, None] * (turned - self._anchors)
        vertices = xp.concat([xp.take(moved, self._seen, axis=0), rings], axis=0)
        raster = rasterize(vertices[:, 0:2], vertices[:, 2], self._mesh, self.size)
        origin = interpolate(self._source_2d, self._mesh, raster)
        # Where the turn shows surface the photo saw edge-on (the side of a head turned away
        # from a frontal photo), a thin strip of the photo is stretched over it, and its
        # texture becomes streaks radiating from the face. Blurring by the stretch keeps the
        # strip's colours and drops the streaks. The stretch is averaged onto the mesh's
        # vertices and interpolated: per triangle, neighbours stretched 2x and 4x were blocks
        # of different sharpness.
        per_triangle = _areas(vertices[:, 0:2], self._mesh) / self._source_areas
        per_vertex = scatter_add(self._corners, xp.reshape(
            xp.stack([per_triangle] * 3, axis=1), (-1,)), vertices.shape[0])
        per_vertex = per_vertex / xp.clip(self._corner_count, 1.0, None)
        ramp = xp.clip((per_vertex - STRETCH[0]) / (STRETCH[1] - STRETCH[0]), 0.0, 1.0)
        smooth = interpolate(ramp[:, None], self._mesh, raster)
        stretched = bool(xp.any(smooth > 0))
        colour: Array
        if stretched:
            both: Array = bilinear_sample(self._with_blur, origin)
            colour = both[:, 0:3] + smooth * (both[:, 3:6] - both[:, 0:3])
        else:
            colour = bilinear_sample(self.photo, origin)
        image = raster.to_image(colour, self.photo)
        if stretched:
            amount = raster.to_image(smooth, 0.0)
            if stand_in is not None:
                # The strip the photo saw edge-on holds a few pixels of cheek, hair or shadow;
                # stretched over a revealed ear, it is a flat slab: the head's relief shades it
                # a little, and where the stand-in is skin, the head's own surface, lit, stands
                # in for it.
                drawn, weight, relief = StandIn(*stand_in)
                if relief is not None:
                    image = image * (1 + amount * (relief - 1))
                mix = amount * weight
                image = image + mix * (drawn - image)
            if self.grain is not None:
                image = xp.clip(image + amount * self.grain, 0.0, 1.0)
        face = None
        if self._face is not None:
            face = raster.to_image(xp.take(self._face, raster.triangles)[:, None], 0.0)
        return Warped(image, raster.mask(), face)

