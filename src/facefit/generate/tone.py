"""A monochrome photo's colours: the samples of a black-and-white or toned photo stay so.

The pixels of a black-and-white photo, or of one toned sepia or cyan, lie on one curve through
colour space: each brightness has one colour. What a sample draws without the photo's texture
(the fitted albedo on a revealed cheek or under a new chin, the skin on the side of a turned
head) has the model's skin colours, which on such a photo are tinted patches no print of it
could have. :class:`ToneCurve` measures the photo's colour at each brightness from its own
pixels and puts a sample's pixels back on that curve; on a colour photo it does not apply
(:meth:`ToneCurve.of_photo` is None).

Brightness is the mean of the three channels; the curve is the colour over the brightness
(three ratios summing to 3) in :data:`TONE_BINS` bins, interpolated linearly between their
centres. Array-API code: the namespace is the photo's.
"""

from __future__ import annotations

from typing import Any

from ..backends import array_namespace, scatter_add
from .quality import mask_box, paste

Array = Any

__all__ = ["MONOCHROME_SHARE", "MONOCHROME_TOLERANCE", "TONE_BINS", "ToneCurve"]

#: Brightness bins of the curve.
TONE_BINS = 64
#: A photo is monochrome when all but :data:`MONOCHROME_SHARE` of its pixels lie within this of
#: its curve (the largest channel difference, colours in [0, 1]): JPEG's colour noise on a grey
#: photo is a few levels of 255, while a colour photo's skin, lips and clothes lie 0.1 and more
#: off any one curve.
MONOCHROME_TOLERANCE = 6.0 / 255.0
MONOCHROME_SHARE = 0.005
#: The curve is measured on every k-th pixel, at most about this many (a thousand a bin): a 4 MP
#: photo costs a dataset run no more than a small one.
MAX_PIXELS = 1 << 16
#: Pixels' worth of the whole photo's colour in every bin, at the bin's brightness: a bin with
#: few pixels (or none, past the photo's darkest and brightest) leans on the photo's overall
#: tone instead of on one pixel's noise.
PRIOR_PIXELS = 16.0


class ToneCurve:
    """The colour of a monochrome photo at each brightness.

    Parameters
    ----------
    ratios : (TONE_BINS, 3) colour over brightness at the bins' centres.
    """

    def __init__(self, ratios: Array):
        self.ratios = ratios

    @classmethod
    def of_photo(cls, photo: Array) -> ToneCurve | None:
        """The curve of ``photo`` (H, W, 3) in [0, 1]; None when the photo is in colour (more
        than :data:`MONOCHROME_SHARE` of its pixels off the curve by over
        :data:`MONOCHROME_TOLERANCE`)."""
        xp = array_namespace(photo)
        pixels = xp.reshape(photo, (-1, 3))
        pixels = pixels[::max(1, pixels.shape[0] // MAX_PIXELS), ...]
        brightness = xp.mean(pixels, axis=1)
        bins = xp.astype(xp.clip(xp.floor(brightness * TONE_BINS), 0, TONE_BINS - 1), xp.int64)
        sums = scatter_add(bins, xp.concat([pixels, brightness[:, None]], axis=1), TONE_BINS)
        overall = xp.sum(pixels, axis=0) / xp.clip(xp.sum(brightness), 1e-12, None)
        centres = (xp.arange(TONE_BINS, dtype=photo.dtype, device=photo.device) + 0.5) \
            / TONE_BINS
        prior = (PRIOR_PIXELS * centres)[:, None]
        curve = cls((sums[:, :3] + prior * overall) / (sums[:, 3:] + prior))
        off = xp.max(xp.abs(pixels - curve(pixels)), axis=1)
        share_off = xp.mean(xp.astype(off > MONOCHROME_TOLERANCE, photo.dtype))
        return curve if float(share_off) <= MONOCHROME_SHARE else None

    def __call__(self, image: Array) -> Array:
        """``image`` (..., 3) with each pixel moved onto the curve at its own brightness,
        clipped to [0, 1]."""
        xp = array_namespace(image, self.ratios)
        brightness = xp.mean(xp.reshape(image, (-1, 3)), axis=1)
        position = xp.clip(brightness * TONE_BINS - 0.5, 0.0, TONE_BINS - 1.0)
        lower = xp.astype(xp.floor(position), xp.int64)
        upper = xp.clip(lower + 1, 0, TONE_BINS - 1)
        fraction = (position - xp.astype(lower, image.dtype))[:, None]
        ratio = ((1 - fraction) * xp.take(self.ratios, lower, axis=0)
                 + fraction * xp.take(self.ratios, upper, axis=0))
        return xp.reshape(xp.clip(brightness[:, None] * ratio, 0.0, 1.0), image.shape)

    def within(self, image: Array, changed: Array | None, margin: int = 0) -> Array:
        """``image`` (H, W, 3) put on the curve in the box around ``changed`` (H, W) bool, the
        pixels a sample drew, grown by ``margin``; the rest is the photo's own, on the curve
        already. None: all of it."""
        if changed is None:
            return self(image)
        box = mask_box(changed, margin)
        if box is None:
            return image
        top, bottom, left, right = box
        return paste(image, self(image[top:bottom, left:right, ...]), top, left)
