"""Reading and writing photos as float (H, W, 3) arrays in [0, 1], through Pillow."""

from __future__ import annotations

import io
import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..backends import to_numpy
from ..errors import ImageError
from ._files import PathLike, atomic_write_bytes, display_name, readable_file

__all__ = ["as_float", "read_image", "read_pixels", "write_image"]

_WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def read_image(source: PathLike | Any) -> np.ndarray:
    """Read a photo as a float64 RGB array in [0, 1].

    Parameters
    ----------
    source : path of an image file in any format Pillow reads, or an already-loaded array
        (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4) of any backend: uint8 (scaled by
        1/255), uint16 (scaled by 1/65535), bool, or float with finite values in [0, 1].

    Returns
    -------
    (H, W, 3) float64 NumPy array in [0, 1], a new array. Grey images are repeated to three
    channels, alpha is dropped, 16-bit images are scaled by 1/65535, and a file's EXIF
    orientation is applied.

    Raises
    ------
    ImageError
        A missing, unreadable, truncated or empty file, or an array of the wrong shape, dtype
        or range; the message names the input.
    """
    return as_float(read_pixels(source))


def as_float(pixels: np.ndarray) -> np.ndarray:
    """:func:`read_pixels`' result as float64 in [0, 1]: uint8 scaled by 1/255, floats as
    they are."""
    return pixels.astype(np.float64) / 255.0 if pixels.dtype == np.uint8 else pixels


def read_pixels(source: PathLike | Any, *, float_range: tuple[float, float] = (0.0, 1.0)
                ) -> np.ndarray:
    """Like :func:`read_image`, but 8-bit photos stay uint8 (H, W, 3): an eighth of the memory.

    For very large photos, which facefit crops and scales to a working resolution before it
    computes anything (:mod:`facefit.fit.frame`). Other depths come back as :func:`read_image`
    gives them: float64. ``float_range`` is the range float arrays must lie in: the fitter
    accepts synthetic renders that over- and undershoot [0, 1] a little, never a 0..255 photo.
    """
    if isinstance(source, (str, Path)) or hasattr(source, "__fspath__"):
        label = f"image '{display_name(source)}'"
        array = _decode_file(source, label)
    else:
        label = "image array"
        try:
            array = np.asarray(to_numpy(source))
        except Exception as exc:
            raise ImageError(f"{label}: cannot be converted to an array ({exc})") from exc
    return _array_to_rgb(array, label, float_range)


def write_image(path: PathLike, image: Any, *, compress_level: int | None = None,
                run_length: bool = False) -> None:
    """Write an image as PNG or JPEG (by the suffix of ``path``), atomically.

    Parameters
    ----------
    path : destination ending in .png, .jpg or .jpeg.
    image : (H, W, 3) or (H, W) array of any backend: float in [0, 1] (clipped, then rounded to
        8 bits) or uint8.
    compress_level : PNG zlib level, 0-9 (None: Pillow's default, 6). Level 1 writes a 512x512
        render in about a third of the time, for files about 10% larger.
    run_length : PNG: zlib's run-length strategy (``Z_RLE``) instead of its default. On the
        fit's 512x512 render and overlay at level 1 it wrote them in 26-27 ms instead of 33 ms,
        and the files were 10% smaller.

    Raises
    ------
    ImageError
        Unknown suffix, wrong shape or dtype, NaN values, or a file that cannot be written.
    """
    name = display_name(path)
    fmt = _WRITE_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ImageError(
            f"image '{name}': unknown suffix {Path(path).suffix!r}; use .png, .jpg or .jpeg"
        )
    pixels = _to_uint8(np.asarray(to_numpy(image)), f"image '{name}'")
    buffer = io.BytesIO()
    options: dict[str, Any] = {"quality": 95} if fmt == "JPEG" else {}
    if fmt == "PNG" and compress_level is not None:
        options["compress_level"] = compress_level
    if fmt == "PNG" and run_length:
        options["compress_type"] = zlib.Z_RLE
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    atomic_write_bytes(path, buffer.getvalue(), "image", ImageError)


def _decode_file(path: PathLike, label: str) -> np.ndarray:
    """Decode the file at ``path`` into its stored pixel values (see :func:`_pil_to_array`)."""
    file = readable_file(path, "image", ImageError)
    try:
        with Image.open(file) as opened:
            oriented = ImageOps.exif_transpose(opened)
            oriented.load()
            array = _pil_to_array(oriented)
    except UnidentifiedImageError as exc:
        raise ImageError(f"{label}: cannot be read (not a recognised image format)") from exc
    except ImageError:
        raise
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, struct.error...
        raise ImageError(f"{label}: cannot be read ({exc})") from exc
    return array


def _pil_to_array(image: Image.Image) -> np.ndarray:
    """Pixel values of a decoded Pillow image: uint8, uint16 or float arrays (H, W[, C])."""
    if image.mode in _SIXTEEN_BIT_MODES:
        raw = np.asarray(image).astype(np.float64)
        return np.clip(raw / 65535.0, 0.0, 1.0)
    if image.mode == "F":
        return np.asarray(image, dtype=np.float64)
    if image.mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(image)
    if image.mode == "PA" or "A" in image.getbands():
        image = image.convert("RGBA")
    return np.asarray(image.convert("RGB"))


def _array_to_rgb(array: np.ndarray, label: str,
                  float_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Validate an image array and return it as (H, W, 3): uint8 as it is, else float64 in
    [0, 1]."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ImageError(
            f"{label}: expected shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"{label}: is empty ({array.shape[1]}x{array.shape[0]} pixels)")
    colour = array[:, :, :3] if array.shape[2] >= 3 else array[:, :, :1]
    values = _scale(colour, label, float_range)
    if values.shape[2] == 1:
        values = np.repeat(values, 3, axis=2)
    return np.ascontiguousarray(values)


def _scale(array: np.ndarray, label: str, float_range: tuple[float, float]) -> np.ndarray:
    """Pixel values by dtype: uint8 kept, uint16 / 65535, floats checked to lie in
    ``float_range`` ([0, 1] but for the fitter's tolerance of synthetic renders)."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return array.astype(np.float64) / 65535.0
    if array.dtype == np.bool_:
        return array.astype(np.float64)
    if np.issubdtype(array.dtype, np.floating):
        values = array.astype(np.float64)
        # min and max propagate NaN and show infinities: two passes check everything (a
        # separate isfinite pass cost a fit of a 1280 x 1024 photo about 10 ms, twice).
        smallest, largest = float(values.min()), float(values.max())
        if not (math.isfinite(smallest) and math.isfinite(largest)):
            raise ImageError(f"{label}: contains NaN or infinite values")
        low, high = float_range
        if smallest < low or largest > high:
            hint = "; divide a 0..255 photo by 255 or pass it as uint8" \
                if largest > 2.0 else ""
            raise ImageError(
                f"{label}: float values must lie in [0, 1], found "
                f"[{smallest:.6g}, {largest:.6g}]{hint}"
            )
        return values
    raise ImageError(f"{label}: unsupported dtype {array.dtype}; use uint8, uint16 or float")


def _to_uint8(array: np.ndarray, label: str) -> np.ndarray:
    """An image to write as uint8 (H, W) or (H, W, 3): floats clipped to [0, 1] and rounded."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ImageError(f"{label}: expected shape (H, W, 3) or (H, W), got {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"{label}: is empty ({array.shape[1]}x{array.shape[0]} pixels)")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(array.dtype, np.floating):
        if np.isnan(array).any():
            raise ImageError(f"{label}: contains NaN values")
        scaled = np.rint(np.clip(array.astype(np.float64), 0.0, 1.0) * 255.0)
        return scaled.astype(np.uint8)
    raise ImageError(f"{label}: unsupported dtype {array.dtype}; use float in [0, 1] or uint8")
