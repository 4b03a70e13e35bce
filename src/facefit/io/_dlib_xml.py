"""dlib imglab ``.xml`` landmark files: ``<part name='00' x='..' y='..'/>`` in image boxes."""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET

import numpy as np

from ._malformed import Malformed, is_number

__all__ = ["parse_dlib_xml"]

_MAX_PARTS = 100_000


def parse_dlib_xml(
    data: bytes, n_points: int | None = None, image: str | None = None
) -> np.ndarray:
    """Parse the parts of one box of a dlib imglab dataset file.

    Parameters
    ----------
    data : the file's bytes.
    n_points : the number of points to return; parts are placed by their integer name.
        None: the largest part index plus one.
    image : the ``file`` attribute (or its base name) of the image to use; None: the first.

    Returns
    -------
    (n, 2) float64 array of 0-based (x, y) pixel coordinates (dlib's convention), NaN for
    parts that are absent. The first box of the chosen image is used.

    Raises
    ------
    Malformed
        Invalid XML, no images, no such image, no box, or malformed or duplicate parts.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise Malformed(f"is not valid XML ({exc})") from None
    chosen = _choose_image(root, image)
    box = chosen.find("box")
    if box is None:
        raise Malformed(f"image {chosen.get('file', '')!r} has no <box>")
    parts = box.findall("part")
    if not parts:
        raise Malformed(f"the first box of image {chosen.get('file', '')!r} has no <part>s")
    indexed = [_parse_part(part) for part in parts]
    largest = max(index for index, _, _ in indexed)
    if n_points is None and largest >= _MAX_PARTS:
        raise Malformed(f"has a part index {largest}, more than {_MAX_PARTS - 1}")
    count = largest + 1 if n_points is None else n_points
    if largest >= count:
        raise Malformed(f"expected {count} points, found part {largest}")
    points = np.full((count, 2), np.nan)
    seen: set[int] = set()
    for index, x, y in indexed:
        if index in seen:
            raise Malformed(f"has part {index} twice")
        seen.add(index)
        points[index] = (x, y)
    return points


def _choose_image(root: ET.Element, name: str | None) -> ET.Element:
    """The first ``<image>`` element, or the one whose file (or base name) is ``name``."""
    images = root.findall("./images/image") or root.findall(".//image")
    if not images:
        raise Malformed("contains no <image> elements")
    if name is None:
        return images[0]
    for element in images:
        file = element.get("file", "")
        if name in (file, posixpath.basename(file.replace("\\", "/"))):
            return element
    raise Malformed(f"has no image named {name!r}")


def _parse_part(part: ET.Element) -> tuple[int, float, float]:
    """(index, x, y) of one ``<part>``."""
    name, x, y = part.get("name"), part.get("x"), part.get("y")
    if name is None or x is None or y is None:
        raise Malformed("has a <part> without name, x or y")
    try:
        index = int(name)
    except ValueError:
        raise Malformed(f"has a part named {name[:20]!r}, not a point index") from None
    if index < 0:
        raise Malformed(f"has a negative part index {index}")
    try:
        return index, float(x), float(y)
    except ValueError:
        bad = x if not is_number(x) else y
        raise Malformed(f"part {index} has a malformed number {bad[:20]!r}") from None
