"""``facefit detect``: each photo's faces as ``.pts`` files (points and outline) and overlays."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import FacefitError
from . import DetectedFace

__all__ = ["detect_images", "write_detection"]


def write_detection(out_dir: Path, stem: str, photo: np.ndarray, face: DetectedFace
                    ) -> dict[str, Path]:
    """Write ``STEM.pts`` (1-based, 300-W layout), ``STEM.outline.pts`` (the face's outline,
    where the detector gives one) and ``STEM.overlay.png``.

    A fit of ``STEM.pts`` reads the outline beside it
    (:func:`facefit.detect.source.read_outline`) and fits the jaw to it in place of the
    detector's jaw points, as a fit of the detected face itself does.

    The overlay is the fit overlay's drawing (:func:`facefit.outputs.draw_overlay`): the 68
    points in cyan and, in yellow, the face's outline that a fit matches the jaw to
    (:attr:`DetectedFace.outline`), or the face box where the detector gives none.

    Parameters
    ----------
    out_dir : folder (created if missing).
    stem : file stem.
    photo : (H, W, 3) uint8, or float in [0, 1].
    face : the detected face.

    Returns
    -------
    The written paths by kind (``"pts"``, ``"outline.pts"`` where written, ``"overlay.png"``).
    """
    from ..io import write_image, write_landmarks
    from ..io._files import writable_folder
    from ..outputs import draw_overlay
    from .source import outline_file

    writable_folder(out_dir)
    nothing = np.full((68, 2), np.nan)
    paths = {"pts": out_dir / f"{stem}.pts"}
    write_landmarks(paths["pts"], face.landmarks)
    outline = outline_file(paths["pts"])
    if face.outline is not None:
        paths["outline.pts"] = outline
        write_landmarks(outline, face.outline)
    elif outline.is_file():  # an earlier detector's: it would stand in for these jaw points
        outline.unlink()
    paths["overlay.png"] = out_dir / f"{stem}.overlay.png"
    region = _face_region(face, photo.shape[:2])
    write_image(paths["overlay.png"], draw_overlay(photo, face.landmarks, nothing, region))
    return paths


def _face_region(face: DetectedFace, size: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: inside the face's outline, or its box without one."""
    from PIL import Image, ImageDraw

    height, width = size
    if face.outline is None:
        x0, y0, x1, y1 = face.box
        rows, cols = np.mgrid[:height, :width]
        return (cols >= x0) & (cols <= x1) & (rows >= y0) & (rows <= y1)
    canvas = Image.new("1", (width, height))
    ImageDraw.Draw(canvas).polygon([(float(x), float(y)) for x, y in face.outline], fill=1)
    return np.asarray(canvas, dtype=bool)


def detect_images(images: Sequence[str], out_dir: Path, detector: str = "mediapipe",
                  all_faces: bool = False, *, quiet: bool = False, verbose: bool = False) -> int:
    """Detect faces in each photo and write their landmarks; returns the exit status.

    A photo that cannot be read or has no face is one ``facefit: error:`` line and the others
    go on: 0 when every photo worked, 2 when none did, else 1.
    """
    from ..io._files import writable_folder
    from ..io.images import read_pixels
    from .source import detect_all

    writable_folder(out_dir)  # once, before any photo: an unusable --out is bad input for all
    failures = 0
    for image_path in images:
        try:
            photo = read_pixels(image_path)
            faces = detect_all(photo, detector, image_path)
            chosen = faces if all_faces else faces[:1]
            for k, face in enumerate(chosen, start=1):
                stem = f"{Path(image_path).stem}.face{k}" if all_faces else Path(image_path).stem
                paths = write_detection(out_dir, stem, photo, face)
                if verbose:
                    box = ", ".join(f"{v:.0f}" for v in face.box)
                    print(f"{image_path}: face {k} of {len(faces)}, box ({box}), score "
                          f"{face.score:.2f}, {detector}", file=sys.stderr)
                if not quiet:
                    print(f"{image_path} -> {paths['pts'].parent}/{stem}.{{{','.join(paths)}}}")
        except FacefitError as exc:
            failures += 1
            print(f"facefit: error: {exc}", file=sys.stderr)
    if failures == 0:
        return 0
    return 2 if failures == len(images) else 1
