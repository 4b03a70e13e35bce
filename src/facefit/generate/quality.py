"""How visible a composited face's outline is: the outline edge ratio (issue 17).

A face pasted onto a photo shows a hard edge all round it. The outline edge ratio measures that
edge: the mean image-gradient magnitude on a 2-pixel ring along the face mask's boundary (one
pixel inside, one outside), divided by the mean gradient magnitude in the bands 2-6 pixels
inside and outside it. On a real photo with the fitted face's mask the ratio is a little above 1
(a real face has a silhouette and shadows at its edge); a pasted mask adds a seam and pushes the
ratio up. Compare a sample's ratio with the real photo's own, not with 1.

The gradient is central differences of the mean of the three channels (edge pixels repeated), so
colour seams count as well as brightness seams. Distances are 8-neighbour (chessboard) steps of
erosion and dilation of the mask.
"""

from __future__ import annotations

import math
from typing import Any

from ..backends import array_namespace
from ..errors import FacefitError
from ..sampling import gaussian_blur

Array = Any

__all__ = ["feather", "fill_holes", "gradient_magnitude", "mask_box", "outline_bands",
           "outline_edge_ratio", "paste", "soften_outline"]

#: Bands of the ratio: the ring is distance 1 either side of the boundary; the comparison bands
#: are distances 2..6 inside and outside (in pixels).
RING = 1
BAND = (2, 6)


def _shift_max(mask: Array, xp: Any) -> Array:
    """One 8-neighbour dilation of an (H, W) bool image (the border is not extended)."""
    height, width = mask.shape
    row = xp.zeros((1, width), dtype=xp.bool, device=mask.device)
    grown = mask | xp.concat([mask[1:, :], row], axis=0) | xp.concat([row, mask[:-1, :]], axis=0)
    col = xp.zeros((height, 1), dtype=xp.bool, device=mask.device)
    return grown | xp.concat([grown[:, 1:], col], axis=1) | xp.concat([col, grown[:, :-1]], axis=1)


def _dilate(mask: Array, steps: int, xp: Any) -> Array:
    for _ in range(steps):
        mask = _shift_max(mask, xp)
    return mask


def _erode(mask: Array, steps: int, xp: Any) -> Array:
    return ~_dilate(~mask, steps, xp)


def gradient_magnitude(image: Array) -> Array:
    """(H, W) gradient magnitude of the channel mean of an (H, W, 3) or (H, W) image.

    Central differences (half the difference of the two neighbours), one-sided at the border.
    """
    xp = array_namespace(image)
    grey = xp.mean(image, axis=2) if image.ndim == 3 else image
    if grey.ndim != 2 or grey.shape[0] < 2 or grey.shape[1] < 2:
        raise FacefitError(f"outline edge ratio: image must be (H, W, 3) or (H, W) with H, W >= 2,"
                           f" got {tuple(image.shape)}")
    up = xp.concat([grey[:1, :], grey[:-1, :]], axis=0)
    down = xp.concat([grey[1:, :], grey[-1:, :]], axis=0)
    left = xp.concat([grey[:, :1], grey[:, :-1]], axis=1)
    right = xp.concat([grey[:, 1:], grey[:, -1:]], axis=1)
    gy, gx = (down - up) / 2, (right - left) / 2
    return xp.sqrt(gx * gx + gy * gy)


def outline_bands(mask: Array) -> tuple[Array, Array]:
    """The ring along ``mask``'s boundary and the comparison bands, both (H, W) bool.

    Parameters
    ----------
    mask : (H, W) bool face mask.

    Returns
    -------
    ring : pixels at distance 1 from the boundary on either side (2 pixels wide).
    bands : pixels at distance 2..6 inside or outside.
    """
    xp = array_namespace(mask)
    mask = xp.astype(mask, xp.bool)
    inner_ring = mask & ~_erode(mask, RING, xp)
    outer_ring = ~mask & _dilate(mask, RING, xp)
    inner_band = _erode(mask, BAND[0] - 1, xp) & ~_erode(mask, BAND[1], xp)
    outer_band = _dilate(mask, BAND[1], xp) & ~_dilate(mask, BAND[0] - 1, xp)
    return inner_ring | outer_ring, inner_band | outer_band


def outline_edge_ratio(image: Array, mask: Array, *, holes: bool = True) -> float:
    """Mean gradient magnitude on the mask's 2-pixel boundary ring over that in the 2-6 px bands.

    Parameters
    ----------
    image : (H, W, 3) image in [0, 1].
    mask : (H, W) bool face mask (a sample's, or the fitted face's on the real photo).
    holes : count the rims of the mask's holes (eyes, mouth) as outline too (the literal
        definition); False fills the holes first, measuring the face's outer outline only.

    Returns
    -------
    float, NaN when the mask has no boundary ring or no bands inside the image.
    """
    xp = array_namespace(image, mask)
    if tuple(mask.shape) != tuple(image.shape[:2]):
        raise FacefitError(f"outline edge ratio: mask {tuple(mask.shape)} does not match image "
                           f"{tuple(image.shape)}")
    if not holes:
        mask = fill_holes(mask)
    magnitude = gradient_magnitude(xp.astype(image, xp.float64))
    ring, bands = outline_bands(mask)
    n_ring = float(xp.sum(xp.astype(ring, xp.float64)))
    n_band = float(xp.sum(xp.astype(bands, xp.float64)))
    if n_ring == 0 or n_band == 0:
        return math.nan
    zero = xp.zeros_like(magnitude)
    on_ring = float(xp.sum(xp.where(ring, magnitude, zero))) / n_ring
    on_band = float(xp.sum(xp.where(bands, magnitude, zero))) / n_band
    return on_ring / on_band if on_band > 0 else math.inf


def feather(mask: Array, pixels: int) -> Array:
    """(H, W) weights rising from 1/(pixels+1) on ``mask``'s edge to 1 at ``pixels`` steps
    inside (0 outside): for fading a composited region into what lies under it."""
    xp = array_namespace(mask)
    inside = xp.astype(mask, xp.bool)
    total = xp.astype(inside, xp.float64)
    for _ in range(pixels):
        inside = _erode(inside, 1, xp)
        total = total + xp.astype(inside, xp.float64)
    return total / (pixels + 1)


def soften_outline(image: Array, mask: Array, sigma: float = 1.0, width: int = 2) -> Array:
    """``image`` with the pixels within ``width`` steps of ``mask``'s boundary (either side)
    replaced by the image blurred by ``sigma`` pixels.

    A rasterized silhouette, and the fold of a warped mesh along it, step from one surface to
    the other within a pixel; a camera's lens and demosaicing spread a real silhouette over one
    or two. Without this the new outline of a turned face is the sharpest edge in the sample.

    Parameters
    ----------
    image : (H, W, 3) composited sample.
    mask : (H, W) bool face mask.
    sigma : blur in pixels; width : half-width of the softened band in pixels.

    Returns
    -------
    (H, W, 3) array like ``image``.
    """
    xp = array_namespace(image, mask)
    inside = xp.astype(mask, xp.bool)
    near = _dilate(inside, width, xp) & ~_erode(inside, width, xp)
    # Blur only the box around the band (the face is a small part of a large photo), with a
    # margin of the blur's reach so the box's edges do not change what is inside the band.
    box = mask_box(near, max(1, math.ceil(3 * sigma)))
    if box is None:
        return image
    top, bottom, left, right = box
    part = image[top:bottom, left:right, ...]
    return paste(image, xp.where(near[top:bottom, left:right, None],
                                 gaussian_blur(part, sigma), part), top, left)


def mask_box(mask: Array, margin: int = 0) -> tuple[int, int, int, int] | None:
    """``(top, bottom, left, right)`` of the box around an (H, W) bool ``mask``'s pixels,
    grown by ``margin`` and cut to the image (bottom and right exclusive); None when the mask
    is empty."""
    xp = array_namespace(mask)
    rows = xp.nonzero(xp.any(mask, axis=1))[0]
    cols = xp.nonzero(xp.any(mask, axis=0))[0]
    if rows.shape[0] == 0:
        return None
    height, width = int(mask.shape[0]), int(mask.shape[1])
    return (max(int(rows[0]) - margin, 0), min(int(rows[-1]) + margin + 1, height),
            max(int(cols[0]) - margin, 0), min(int(cols[-1]) + margin + 1, width))


def paste(image: Array, box: Array, top: int, left: int) -> Array:
    """``image`` (H, W, ...) with ``box`` written at (``top``, ``left``) (a new array: no
    in-place writes, which not every array library allows)."""
    xp = array_namespace(image, box)
    bottom, right = top + int(box.shape[0]), left + int(box.shape[1])
    if (top, left, bottom, right) == (0, 0, int(image.shape[0]), int(image.shape[1])):
        return box
    middle = xp.concat([image[top:bottom, :left, ...], box, image[top:bottom, right:, ...]],
                       axis=1)
    return xp.concat([image[:top, ...], middle, image[bottom:, ...]], axis=0)


def fill_holes(mask: Array) -> Array:
    """``mask`` with its holes (regions not connected to the image border) filled.

    A measurement helper: connected components are found on the host
    (:func:`facefit.generate.host.fill_holes`), the result is returned on ``mask``'s backend.
    """
    from ..backends import to_numpy
    from .host import fill_holes as host_fill_holes

    xp = array_namespace(mask)
    return xp.asarray(host_fill_holes(to_numpy(mask)), device=mask.device)
