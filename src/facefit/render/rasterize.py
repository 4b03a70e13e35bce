"""Rasterization: which triangle covers each pixel, where in it, and how deep.

Discrete work with no gradients, as in nvdiffrast: the smooth arithmetic (interpolation, shading)
comes after, on the fragments this returns. Where the backend has a native kernel
(:func:`facefit.backends.zbuffer`: C on numpy and torch CPU) it does all of the work; otherwise
it is array-API code here, vectorized over triangles: the per-triangle setup (edge functions,
bounding boxes, culling), then each triangle's bounding box is expanded into candidate pixels,
the pixel centres are tested with the edge functions, and a z-buffer (the backend's scatter-min)
keeps the nearest fragment per pixel. Both routes evaluate the same expressions in the same
order and give bit-identical results (tests/test_native_raster.py).

Conventions: pixel ``(x, y)`` has its centre at integer coordinates; depth grows toward the
camera. Ties are deterministic: a pixel centre exactly on a shared edge belongs to both triangles'
fragments, and the z-buffer then prefers the larger depth and, at equal depth, the smaller
triangle index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..backends import array_namespace, real_part, scatter_add, scatter_min, zbuffer
from ..errors import FacefitError

Array = Any

__all__ = ["Rasterization", "rasterize"]


@dataclass(frozen=True)
class Rasterization:
    """The covered pixels of B images of one size, one entry per covered pixel.

    Attributes
    ----------
    size : (H, W).
    batch : number of images B (1 for unbatched input).
    pixels : (P,) int64 flat pixel index ``b * H * W + y * W + x``, ascending.
    triangles : (P,) int64 index of the covering triangle (into the input ``triangles``).
    barycentrics : (P, 3) weights of the triangle's three vertices at the pixel centre.
    depth : (P,) interpolated depth.
    pixel_rows : (B*H*W,) int64 row of each pixel in the arrays above, -1 where uncovered; the
        native kernel provides it, otherwise it is derived on first use.
    """

    size: tuple[int, int]
    batch: int
    pixels: Array
    triangles: Array
    barycentrics: Array
    depth: Array

    batched_input: bool = False
    #: (B*H*W,) int64 row of each pixel in ``pixels`` (-1 where uncovered), when known.
    pixel_rows: Array | None = field(default=None, repr=False, compare=False)

    @property
    def xp(self) -> Any:
        return array_namespace(self.pixels)

    def _image_shape(self, tail: tuple[int, ...]) -> tuple[int, ...]:
        height, width = self.size
        if self.batched_input:
            return (self.batch, height, width, *tail)
        return (height, width, *tail)

    @cached_property
    def _slots(self) -> tuple[Array, Array]:
        """(B*H*W,) bool coverage and (B*H*W,) int64 row of each pixel in ``pixels`` (0 where
        uncovered): pixels are unique and ascending, so a pixel's row is its rank."""
        xp = self.xp
        if self.pixel_rows is not None:
            covered = self.pixel_rows >= 0
            return covered, xp.where(covered, self.pixel_rows, xp.zeros_like(self.pixel_rows))
        count = self.batch * self.size[0] * self.size[1]
        ones = xp.ones((self.pixels.shape[0],), dtype=xp.int64, device=self.pixels.device)
        covered = scatter_add(self.pixels, ones, count) > 0
        rows = xp.cumulative_sum(xp.astype(covered, xp.int64)) - 1
        return covered, xp.where(covered, rows, xp.zeros_like(rows))

    def _place(self, values: Array, background: Array | float) -> Array:
        """(B*H*W, ...) ``values`` (P, ...) at the covered pixels, ``background`` elsewhere."""
        xp = self.xp
        covered, rows = self._slots
        if values.shape[0] == 0:  # nothing covered: take() cannot gather from an empty array
            values = xp.zeros((1, *values.shape[1:]), dtype=values.dtype, device=values.device)
        placed = xp.take(values, rows, axis=0)
        covered = xp.reshape(covered, (covered.shape[0],) + (1,) * (values.ndim - 1))
        if not hasattr(background, "shape"):
            background = xp.asarray(background, dtype=values.dtype, device=values.device)
        return xp.where(covered, placed, background)

    def _dense(self, values: Array, fill: float | int) -> Array:
        """Per-pixel ``values`` (P, ...) placed in full images; ``fill`` elsewhere."""
        shape = self._image_shape(tuple(values.shape[1:]))
        return self.xp.reshape(self._place(values, fill), shape)

    def mask(self) -> Array:
        """(H, W) or (B, H, W) bool: covered pixels."""
        return self.xp.reshape(self._slots[0], self._image_shape(()))

    def triangle_image(self) -> Array:
        """(H, W) or (B, H, W) int64: covering triangle, -1 on the background."""
        return self._dense(self.triangles, -1)

    def depth_image(self, background: float = math.nan) -> Array:
        """(H, W) or (B, H, W) depth; ``background`` (NaN by default) where uncovered."""
        return self._dense(self.depth, background)

    def depth_at(self, pixels: Array, background: float = math.nan) -> Array:
        """The depth at flat pixel indices ``pixels`` (any shape, ``y * W + x`` in image 0, or
        ``b * H * W + y * W + x``); ``background`` where uncovered. The same values as
        :meth:`depth_image` there, without building the image: a visibility test reads a few
        pixels per vertex, and a full-size image of a large photo cost it most of its time.
        """
        xp = self.xp
        flat = xp.reshape(pixels, (-1,))
        if self.pixel_rows is None:
            image = xp.reshape(self.depth_image(background), (-1,))
            return xp.reshape(xp.take(image, flat), pixels.shape)
        rows = xp.take(self.pixel_rows, flat)
        covered = rows >= 0
        if self.depth.shape[0] == 0:
            values = xp.full(rows.shape, background, dtype=self.depth.dtype,
                             device=self.depth.device)
        else:
            picked = xp.take(self.depth, xp.where(covered, rows, xp.zeros_like(rows)))
            values = xp.where(covered, picked, xp.full_like(picked, background))
        return xp.reshape(values, pixels.shape)

    def barycentric_image(self) -> Array:
        """(H, W, 3) or (B, H, W, 3) barycentric weights; 0 where uncovered."""
        return self._dense(self.barycentrics, 0.0)

    def to_image(self, values: Array, background: Array | float = 0.0) -> Array:
        """Per-pixel ``values`` (P, C) composited over ``background`` into full images.

        Parameters
        ----------
        values : (P, C) colours (or any attribute) of the covered pixels.
        background : a scalar, or an array broadcastable to (H, W, C) / (B, H, W, C).

        Returns
        -------
        (H, W, C) or (B, H, W, C) array; covered pixels hold ``values``, the rest ``background``.
        """
        xp = self.xp
        height, width = self.size
        channels = values.shape[-1]
        count = self.batch * height * width
        if hasattr(background, "shape"):
            back = xp.broadcast_to(xp.astype(background, values.dtype),
                                   (self.batch, height, width, channels))
            background = xp.reshape(back, (count, channels))
        return xp.reshape(self._place(values, background), self._image_shape((channels,)))


#: Triangles whose bounding box fits in one of these sizes (pixels a side) use a fixed stencil of
#: candidates of that size (broadcasting, no per-candidate gathers); larger ones expand their
#: boxes with ``repeat``.
_STENCILS = (2, 4, 6, 8, 12, 16)


def _stencil_candidates(tris: Array, xmin: Array, ymin: Array, box_w: Array, box_h: Array,
                        edge_a: list[Array], edge_b: list[Array], edge_c: list[Array],
                        xp: Any, stencil_w: int, stencil_h: int) -> tuple[Array, ...]:
    """Candidates of small triangles: a fixed ``stencil_w`` x ``stencil_h`` block at each box."""
    device = tris.device
    offsets = xp.arange(stencil_w * stencil_h, dtype=xp.int64, device=device)
    dx, dy = offsets % stencil_w, offsets // stencil_w
    left = xp.astype(xp.take(xmin, tris), xp.int64)[:, None]
    top = xp.astype(xp.take(ymin, tris), xp.int64)[:, None]
    valid = (dx[None, :] < xp.take(box_w, tris)[:, None]) & (
        dy[None, :] < xp.take(box_h, tris)[:, None])
    owner = tris[:, None]
    coefficients = [[xp.take(e[k], tris)[:, None] for k in range(3)] for e in (edge_a, edge_b,
                                                                               edge_c)]
    return _inside_broadcast(owner, left + dx[None, :], top + dy[None, :], coefficients, valid, xp)


def _size_class(size: Array, xp: Any) -> Array:
    """The smallest stencil size holding ``size`` pixels (0 when none does)."""
    classes = xp.zeros_like(size)
    for stencil in reversed(_STENCILS):
        classes = xp.where(size <= stencil, xp.full_like(size, stencil), classes)
    return classes


def _inside_broadcast(owner: Array, px: Array, py: Array, coefficients: list[list[Array]],
                      valid: Array, xp: Any) -> tuple[Array, ...]:
    fx, fy = xp.astype(px, coefficients[0][0].dtype), xp.astype(py, coefficients[0][0].dtype)
    edges = [coefficients[0][k] * fx + coefficients[1][k] * fy + coefficients[2][k]
             for k in range(3)]
    inside = valid & (edges[0] >= 0) & (edges[1] >= 0) & (edges[2] >= 0)
    inside = inside & (edges[0] + edges[1] + edges[2] > 0)
    owner = xp.broadcast_to(owner, px.shape)
    return tuple(v[inside] for v in (owner, px, py, *edges))


def _box_candidates(tris: Array, xmin: Array, ymin: Array, box_w: Array, box_h: Array,
                    edge_a: list[Array], edge_b: list[Array], edge_c: list[Array],
                    xp: Any) -> tuple[Array, ...]:
    """Candidates of large triangles: every pixel of each bounding box, expanded by ``repeat``."""
    device = tris.device
    width = xp.take(box_w, tris)
    counts = width * xp.take(box_h, tris)
    owner = xp.repeat(tris, counts)
    starts = xp.cumulative_sum(counts, include_initial=True)[:-1]
    slot = xp.repeat(xp.arange(tris.shape[0], dtype=xp.int64, device=device), counts)
    local = xp.arange(owner.shape[0], dtype=xp.int64, device=device) - xp.take(starts, slot)
    owner_w = xp.take(width, slot)
    px = xp.take(xp.astype(xmin, xp.int64), owner) + local % owner_w
    py = xp.take(xp.astype(ymin, xp.int64), owner) + local // owner_w
    coefficients = [[xp.take(e[k], owner) for k in range(3)] for e in (edge_a, edge_b, edge_c)]
    valid = xp.ones(px.shape, dtype=xp.bool, device=device)
    return _inside_broadcast(owner, px, py, coefficients, valid, xp)


def _check(points: Array, depth: Array, triangles: Array, size: tuple[int, int]) -> None:
    if len(size) != 2 or size[0] <= 0 or size[1] <= 0:
        raise FacefitError(f"render size must be (height, width) with positive entries, got {size}")
    if points.shape[-1] != 2 or depth.shape != points.shape[:-1]:
        raise FacefitError(f"rasterize needs points (..., V, 2) and depth (..., V); got "
                           f"{tuple(points.shape)} and {tuple(depth.shape)}")
    if triangles.ndim != 2 or triangles.shape[1] != 3:
        raise FacefitError(f"triangles must be (T, 3), got {tuple(triangles.shape)}")


def rasterize(
    points: Array,
    depth: Array,
    triangles: Array,
    size: tuple[int, int],
    *,
    cull_back: bool = True,
) -> Rasterization:
    """Rasterize triangles into (H, W) images with a z-buffer.

    Parameters
    ----------
    points : (V, 2) or (B, V, 2) image coordinates of the vertices (real part is used).
    depth : (V,) or (B, V) vertex depth, larger nearer the camera.
    triangles : (T, 3) int vertex indices, counter-clockwise when seen from the camera in model
        space (y up), i.e. clockwise in the y-down image.
    size : (H, W).
    cull_back : drop triangles facing away from the camera (and degenerate ones).

    Returns
    -------
    Rasterization
    """
    xp = array_namespace(points, depth, triangles)
    _check(points, depth, triangles, size)
    height, width = int(size[0]), int(size[1])
    batched = points.ndim == 3
    pts = real_part(points, xp)
    z = real_part(depth, xp)
    if not batched:
        pts, z = pts[None, ...], z[None, ...]
    batch, n_vertices = pts.shape[0], pts.shape[1]
    n_tri = triangles.shape[0]
    dtype = pts.dtype
    device = pts.device

    flat_pts = xp.reshape(pts, (batch * n_vertices, 2))
    flat_z = xp.reshape(z, (batch * n_vertices,))
    native = zbuffer(flat_pts, flat_z, triangles, batch, (height, width), cull_back=cull_back)
    if native is not None:  # everything below, by a native kernel
        pixels, covering, barycentrics, fragment_depth, rows = native
        return Rasterization((height, width), batch, pixels, covering, barycentrics,
                             fragment_depth, batched, rows)

    # Corners of every (image, triangle): (B*T, 3, 2) and (B*T, 3).
    offsets = xp.arange(batch, dtype=triangles.dtype, device=device)[:, None, None] * n_vertices
    corner_ids = xp.reshape(triangles[None, ...] + offsets, (-1,))
    corners = xp.reshape(xp.take(flat_pts, corner_ids, axis=0), (batch * n_tri, 3, 2))
    corner_z = xp.reshape(xp.take(flat_z, corner_ids), (batch * n_tri, 3))
    x0, y0 = corners[:, 0, 0], corners[:, 0, 1]
    x1, y1 = corners[:, 1, 0], corners[:, 1, 1]
    x2, y2 = corners[:, 2, 0], corners[:, 2, 1]
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)  # < 0: front-facing in a y-down image
    keep = area < 0 if cull_back else area != 0

    # Edge functions E_k(p) = A_k x + B_k y + C_k of the edge opposite corner k, one set per
    # triangle. Each edge is set up in a canonical direction (lower vertex id first) and its sign
    # flipped exactly, so two triangles sharing an edge get bit-identical opposite values there:
    # no pixel centre falls through a shared edge. Multiplying by the sign of the area (exact)
    # makes "inside" mean all three E_k >= 0; barycentric weight k is E_k / sum(E).
    tri_corners = xp.reshape(corner_ids, (batch * n_tri, 3))
    orientation = xp.where(area < 0, -xp.ones_like(area), xp.ones_like(area))
    edge_a, edge_b, edge_c = [], [], []
    for k in range(3):
        u, v = tri_corners[:, (k + 1) % 3], tri_corners[:, (k + 2) % 3]
        forward = u < v
        low = xp.take(flat_pts, xp.where(forward, u, v), axis=0)
        high = xp.take(flat_pts, xp.where(forward, v, u), axis=0)
        a = low[:, 1] - high[:, 1]
        b = high[:, 0] - low[:, 0]
        c = -(a * low[:, 0] + b * low[:, 1])
        sign = xp.where(forward, orientation, -orientation)
        edge_a.append(a * sign)
        edge_b.append(b * sign)
        edge_c.append(c * sign)

    # Candidate pixels: the integer lattice inside each triangle's bounding box, clipped.
    # (Elementwise minimum/maximum of the three corners: a reduction over a strided axis of
    # length 3 is several times slower.)
    xmin = xp.clip(xp.ceil(xp.minimum(xp.minimum(x0, x1), x2)), 0, width)
    xmax = xp.clip(xp.floor(xp.maximum(xp.maximum(x0, x1), x2)), -1, width - 1)
    ymin = xp.clip(xp.ceil(xp.minimum(xp.minimum(y0, y1), y2)), 0, height)
    ymax = xp.clip(xp.floor(xp.maximum(xp.maximum(y0, y1), y2)), -1, height - 1)
    box_w = xp.astype(xp.clip(xmax - xmin + 1, 0, None), xp.int64)
    box_h = xp.astype(xp.clip(ymax - ymin + 1, 0, None), xp.int64)
    keep = keep & (box_w > 0) & (box_h > 0)
    tri_ids = xp.arange(batch * n_tri, dtype=xp.int64, device=device)
    parts = []
    biggest = _STENCILS[-1]
    width_class = _size_class(box_w, xp)
    height_class = _size_class(box_h, xp)
    for stencil_w in _STENCILS:  # each (width, height) class broadcasts over a block that fits
        for stencil_h in _STENCILS:
            chosen = keep & (width_class == stencil_w) & (height_class == stencil_h)
            if bool(xp.any(chosen)):
                parts.append(_stencil_candidates(tri_ids[chosen], xmin, ymin, box_w, box_h,
                                                 edge_a, edge_b, edge_c, xp, stencil_w, stencil_h))
    large = keep & ((box_w > biggest) | (box_h > biggest))
    if bool(xp.any(large)) or not parts:
        parts.append(_box_candidates(tri_ids[large], xmin, ymin, box_w, box_h, edge_a, edge_b,
                                     edge_c, xp))
    owner, px, py, e0, e1, e2 = (xp.concat([part[k] for part in parts]) for k in range(6))
    total = owner.shape[0]
    if total == 0:
        empty_i = xp.zeros((0,), dtype=xp.int64, device=device)
        return Rasterization((height, width), batch, empty_i, empty_i,
                             xp.zeros((0, 3), dtype=dtype, device=device),
                             xp.zeros((0,), dtype=dtype, device=device), batched)
    edge_sum = e0 + e1 + e2
    w0, w1, w2 = e0 / edge_sum, e1 / edge_sum, e2 / edge_sum
    owner_z = xp.take(corner_z, owner, axis=0)
    frag_z = w0 * owner_z[:, 0] + w1 * owner_z[:, 1] + w2 * owner_z[:, 2]
    bary = xp.stack([w0, w1, w2], axis=1)

    # Z-buffer: nearest depth per pixel, then among fragments at that depth the one of the
    # smallest triangle (a triangle has one fragment per pixel, so owner * N + id is unique).
    image_of = owner // n_tri
    pixel = image_of * (height * width) + py * width + px
    n_pixels = batch * height * width
    nearest = scatter_min(pixel, -frag_z, n_pixels)
    fragment_ids = xp.arange(total, dtype=xp.int64, device=device)
    wins = -frag_z == xp.take(nearest, pixel)
    sentinel = xp.iinfo(xp.int64).max
    key = xp.where(wins, owner * total + fragment_ids, xp.full_like(fragment_ids, sentinel))
    first = scatter_min(pixel, key, n_pixels)
    covered = first != sentinel
    covered_pixels = xp.arange(n_pixels, dtype=xp.int64, device=device)[covered]
    winners = first[covered] % total
    return Rasterization(
        (height, width), batch, covered_pixels, xp.take(owner, winners) % n_tri,
        xp.take(bary, winners, axis=0), xp.take(frag_z, winners), batched)
