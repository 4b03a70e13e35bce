"""Reading, writing and checking 2D landmarks: iBUG ``.pts``, menpo ``.ljson``, dlib ``.xml``.

All functions use 0-based (x, y) pixel coordinates, with the centre of the top-left pixel at
(0, 0); NaN marks a missing point.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backends import to_numpy
from ..errors import LandmarkError
from ._dlib_xml import parse_dlib_xml
from ._files import PathLike, atomic_write_bytes, checked_suffix, display_name, read_file_bytes
from ._ljson import format_ljson, parse_ljson
from ._malformed import Malformed
from ._pts import format_pts, parse_pts

__all__ = ["read_landmarks", "validate_landmarks", "write_landmarks"]

READ_SUFFIXES = (".pts", ".ljson", ".xml")
WRITE_SUFFIXES = (".pts", ".ljson")
MIN_VALID_POINTS = 3


def read_landmarks(
    path: PathLike, n_points: int | None = 68, *, image: str | None = None
) -> np.ndarray:
    """Read 2D landmarks from a file, by its suffix.

    Parameters
    ----------
    path : an iBUG/300-W ``.pts`` file (1-based on disk), a menpo ``.ljson`` file ((y, x)
        order, 0-based) or a dlib imglab ``.xml`` file (0-based).
    n_points : the number of points the file must hold; None accepts any number.
    image : dlib ``.xml`` only: the ``file`` attribute (or base name) of the image whose first
        box to read; None reads the first image.

    Returns
    -------
    (n, 2) float64 NumPy array of 0-based (x, y) pixel coordinates, NaN for missing points.

    Raises
    ------
    LandmarkError
        Missing file, unknown suffix, malformed contents, the wrong number of points, or no
        valid point; the message names the file.
    """
    name = display_name(path)
    suffix = checked_suffix(path, READ_SUFFIXES, "landmarks", LandmarkError)
    if n_points is not None and (not isinstance(n_points, int) or n_points < 1):
        raise LandmarkError(f"landmarks '{name}': n_points must be a positive integer or None")
    data = read_file_bytes(path, "landmarks", LandmarkError)
    try:
        points, declared = _parse(suffix, data, n_points, image)
    except Malformed as exc:
        raise LandmarkError(f"landmarks '{name}': {exc}") from None
    if n_points is not None and len(points) != n_points:
        note = "" if declared in (None, len(points)) else f" (its header says {declared})"
        raise LandmarkError(
            f"landmarks '{name}': expected {n_points} points, found {len(points)}{note}"
        )
    if declared is not None and declared != len(points):
        raise LandmarkError(
            f"landmarks '{name}': n_points header says {declared} but the file lists "
            f"{len(points)} points"
        )
    if len(points) == 0:
        raise LandmarkError(f"landmarks '{name}': contains no points")
    if np.isinf(points).any():
        raise LandmarkError(f"landmarks '{name}': contains infinite coordinates")
    if np.isnan(points).all():
        raise LandmarkError(f"landmarks '{name}': has no valid point (all are NaN)")
    return points


def write_landmarks(path: PathLike, points: Any) -> None:
    """Write 2D landmarks as ``.pts`` or ``.ljson`` (by the suffix of ``path``), atomically.

    Parameters
    ----------
    path : destination ending in ``.pts`` (written 1-based, version 1 header, 6 decimals,
        ``nan nan`` for missing points) or ``.ljson`` (menpo version 2, (y, x), 0-based,
        null for missing points).
    points : (n, 2) array of any backend, 0-based (x, y) pixel coordinates, NaN for missing.

    Raises
    ------
    LandmarkError
        Unknown suffix, wrong shape, infinite values, or a file that cannot be written.
    """
    name = display_name(path)
    suffix = checked_suffix(path, WRITE_SUFFIXES, "landmarks", LandmarkError)
    array = _as_points(points, name)
    text = format_pts(array) if suffix == ".pts" else format_ljson(array)
    atomic_write_bytes(path, text.encode("utf-8"), "landmarks", LandmarkError)


def validate_landmarks(
    points: Any, image_shape: Sequence[int], name: str = "array", *, from_file: bool = False
) -> np.ndarray:
    """Check that landmarks are usable for a fit on an image of ``image_shape``.

    Parameters
    ----------
    points : (n, 2) array of any backend, 0-based (x, y) pixel coordinates, NaN for missing.
    image_shape : (H, W) or (H, W, C) of the image the points belong to.
    name : what the points came from (a file name), used in messages.
    from_file : the points were read from a landmark file, which the readers already turned
        0-based: the message then does not ask whether they are 0-based.

    Returns
    -------
    (n, 2) float64 NumPy copy of ``points``.

    Raises
    ------
    LandmarkError
        Wrong shape, infinite values, fewer than 3 valid points, or points that lie mostly
        outside the image: some point further outside than half the image's size, or fewer
        than half of the valid points inside it ("... outside the image").
    """
    array = _as_points(points, name)
    valid = array[~np.isnan(array).any(axis=1)]
    if len(valid) < MIN_VALID_POINTS:
        raise LandmarkError(
            f"landmarks '{name}': only {len(valid)} valid points, need at least "
            f"{MIN_VALID_POINTS}"
        )
    if len(image_shape) < 2 or image_shape[0] < 1 or image_shape[1] < 1:
        raise LandmarkError(f"landmarks '{name}': image shape {tuple(image_shape)} is empty")
    height, width = int(image_shape[0]), int(image_shape[1])
    size = np.array([width, height], dtype=np.float64)
    low, high = -0.5, size - 0.5
    beyond = np.maximum(low - valid, valid - high)
    inside = np.all(beyond <= 0.0, axis=1)
    far = np.any(beyond > 0.5 * size, axis=1)
    if far.any() or inside.sum() * 2 < len(valid):
        raise LandmarkError(
            f"landmarks '{name}': {len(valid) - int(inside.sum())} of {len(valid)} points lie "
            f"outside the image ({width}x{height})"
            + (" and some far outside it" if far.any() else "")
            + ("; are they for this image?" if from_file
               else "; are they for this image, in pixels, 0-based?")
        )
    return array


def _parse(
    suffix: str, data: bytes, n_points: int | None, image: str | None
) -> tuple[np.ndarray, int | None]:
    """(points, the count a header declares or None) from the parser for ``suffix``.

    Raises :class:`Malformed`.
    """
    if suffix == ".xml":
        return parse_dlib_xml(data, n_points, image), None
    if not data.strip():
        raise Malformed("is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Malformed("is not UTF-8 text") from None
    if suffix == ".pts":
        return parse_pts(text)
    return parse_ljson(text, n_points), None


def _as_points(points: Any, name: str) -> np.ndarray:
    """``points`` as an (n, 2) float64 NumPy copy with finite or NaN values."""
    try:
        array = np.array(to_numpy(points), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise LandmarkError(f"landmarks '{name}': not a numeric array ({exc})") from None
    if array.ndim != 2 or array.shape[1] != 2:
        raise LandmarkError(f"landmarks '{name}': expected shape (n, 2), got {array.shape}")
    if np.isinf(array).any():
        raise LandmarkError(f"landmarks '{name}': contains infinite coordinates")
    return array


