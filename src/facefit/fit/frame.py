"""The working frame: large photos are fitted on a crop around the face, scaled down.

A fit needs the face at a few hundred pixels: it compares at most 1200 surface samples with
the photo, and its visibility raster and image gradients cost memory in proportion to the
image. So a photo of more than :data:`WORKING_PIXELS` pixels is cropped to the face (the
landmarks' box with a margin for forehead and jaw) and area-averaged so that the face is at
most :data:`WORKING_FACE` pixels across. The fit runs there, and its pose is mapped back to
the photo; memory then stays flat however large the photo is. Smaller photos are fitted as
they are.

Working pixel ``q`` sits at photo pixel ``step * q + offset`` (pixel centres at integers in
both). The camera is weak-perspective, ``p = s * flip_y(R v) + t``, so the same face in the
photo has scale ``step * s`` and translation ``step * t + offset``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ..params import FaceParams

__all__ = ["WORKING_FACE", "WORKING_PIXELS", "ImageFrame", "choose_frame"]

#: Photos with more pixels than this are fitted in a working frame (2048 x 2048).
WORKING_PIXELS = 2048 * 2048
#: In the working frame the face (the larger side of the landmarks' box) is at most this wide.
WORKING_FACE = 512
#: The crop reaches this many face sizes beyond the landmarks' box on each side.
MARGIN = 0.6


@dataclass(frozen=True)
class ImageFrame:
    """A crop of the photo, scaled down: where the fit runs for a large photo.

    Attributes
    ----------
    box : (x0, y0, x1, y1) the crop in the photo, in pixel-edge coordinates (Pillow's).
    size : (H, W) of the working image.
    step : photo pixels per working pixel (>= 1).
    """

    box: tuple[float, float, float, float]
    size: tuple[int, int]
    step: float

    @property
    def offset(self) -> Any:
        """(2,) photo position of working pixel (0, 0)'s centre."""
        return np.array([self.box[0], self.box[1]]) + 0.5 * self.step - 0.5

    def to_photo(self, points: Any) -> Any:
        """(N, 2) working-frame pixel positions to photo positions (NaN stays NaN)."""
        return np.asarray(points, dtype=np.float64) * self.step + self.offset

    def to_working(self, points: Any) -> Any:
        """(N, 2) photo pixel positions to working-frame positions."""
        return (np.asarray(points, dtype=np.float64) - self.offset) / self.step

    def params_to_photo(self, params: FaceParams) -> FaceParams:
        """The same face posed in the photo instead of the working frame."""
        translation = self.to_photo(np.asarray(params.translation)[None])[0]
        return dataclasses.replace(params, scale=float(params.scale) * self.step,
                                   translation=translation)

    def crop(self, pixels: Any) -> Any:
        """The working image: ``pixels`` ((H, W, 3) uint8, or float in [0, 1]) cropped to
        :attr:`box` and area-averaged to :attr:`size`, as (h, w, 3) float64 in [0, 1]."""
        height, width = self.size
        if pixels.dtype == np.uint8:
            scaled = Image.fromarray(np.ascontiguousarray(pixels)).resize(
                (width, height), Image.Resampling.BOX, box=self.box)
            return np.asarray(scaled, dtype=np.float64) / 255.0
        channels = [np.asarray(Image.fromarray(np.ascontiguousarray(
            pixels[..., c], dtype=np.float32), mode="F").resize(
                (width, height), Image.Resampling.BOX, box=self.box), dtype=np.float64)
            for c in range(3)]
        return np.clip(np.stack(channels, axis=2), 0.0, 1.0)


def choose_frame(image_shape: Any, points: Any) -> ImageFrame | None:
    """The working frame for a photo of ``image_shape`` with landmarks ``points`` (0-based,
    NaN for missing), or None when the photo is small enough to be fitted as it is."""
    height, width = int(image_shape[0]), int(image_shape[1])
    if height * width <= WORKING_PIXELS:
        return None
    given = points[~np.isnan(points).any(axis=1)]
    low, high = given.min(axis=0) + 0.5, given.max(axis=0) + 0.5  # pixel-edge coordinates
    face = float(max(high - low))
    step = max(1.0, face / WORKING_FACE)
    x0, y0 = (max(0.0, math.floor(v - MARGIN * face)) for v in low)
    x1 = min(float(width), math.ceil(high[0] + MARGIN * face))
    y1 = min(float(height), math.ceil(high[1] + MARGIN * face))
    # Whole working pixels: shrink the box to a multiple of the step, keeping its corner.
    columns, rows = max(2, int((x1 - x0) / step)), max(2, int((y1 - y0) / step))
    box = (x0, y0, x0 + columns * step, y0 + rows * step)
    return ImageFrame(box=box, size=(rows, columns), step=step)
