"""Face and 68-point landmark detection, so that any photo can be fitted without a landmark file.

>>> import facefit as ff
>>> faces = ff.detect_landmarks("astronaut.png")        # doctest: +SKIP
>>> face = faces[0]  # the largest                      # doctest: +SKIP
>>> [round(v) for v in face.box], round(face.score, 2)  # doctest: +SKIP
([180, 70, 271, 177], 0.93)
>>> face.landmarks.shape                                # doctest: +SKIP
(68, 2)

Detectors (optional extras; ``import facefit`` works without them):

``"mediapipe"`` (default, ``pip install 'facefit[detect]'``)
    MediaPipe Face Landmarker (Apache-2.0), run locally from the model bundle shipped in facefit.
    Its 478 mesh points are mapped to the 68 iBUG points by a fixed table derived in
    ``tools/derive_mediapipe_mapping.py``, but for the jaw: the mesh's jaw vertices slide
    inward across the face as the head turns, so the 17 jaw points are placed on the mesh's
    outline (:attr:`DetectedFace.outline`) by 300-W's convention instead
    (:func:`facefit.detect.jaw.outline_jaw`), and :func:`facefit.fit` fits the model's jaw to
    the outline itself in their place.
``"dlib"`` (``pip install 'facefit[dlib]'``)
    dlib's HOG face detector and 68-point shape predictor. The predictor's weights were trained
    on the iBUG 300-W data set, whose licence excludes commercial use.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DetectionError
from ..polygons import convex_hull
from ._face import DetectedFace
from .jaw import outline_jaw

__all__ = ["DETECTORS", "DetectedFace", "detect_landmarks", "mediapipe_to_ibug"]

#: Names accepted by ``detector=``.
DETECTORS = ("mediapipe", "dlib")

MAPPING_FILE = "mediapipe_ibug68.json"
#: MediaPipe's face-mesh points; the 10 after them are the irises.
MESH_POINTS = 468


@lru_cache(maxsize=1)
def _mapping() -> tuple[Any, Any, Any]:
    table = json.loads((files("facefit") / "data" / MAPPING_FILE).read_text())
    points = table["points"]
    width = max(len(p) for p in points)
    indices = np.zeros((68, width), dtype=np.int64)
    weights = np.zeros((68, width))
    for row, combination in enumerate(points):
        for column, (index, weight) in enumerate(combination):
            indices[row, column], weights[row, column] = index, weight
    weights /= weights.sum(axis=1, keepdims=True)  # the file rounds 1/3 to 0.3333
    return indices, weights, np.asarray(table["fit_weights"], dtype=np.float64)


def mediapipe_to_ibug(dense: Any) -> Any:
    """The 68 iBUG points from MediaPipe's 478 mesh points.

    Each iBUG point is a fixed convex combination of one to three mesh points (the table in
    ``facefit/data/mediapipe_ibug68.json``, derived by ``tools/derive_mediapipe_mapping.py``).

    Parameters
    ----------
    dense : (478, 2) or (478, 3) points; only x and y are used.

    Returns
    -------
    (68, 2) float64 array in the same coordinates.
    """
    points = np.asarray(dense, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] != 478 or points.shape[1] < 2:
        raise DetectionError(f"MediaPipe points must be (478, 2) or (478, 3), got {points.shape}")
    indices, weights, _ = _mapping()
    return np.einsum("lk,lkd->ld", weights, points[indices][..., :2])


def _pixels(image: Any) -> tuple[Any, str]:
    """The photo as (H, W, 3) uint8, what the detectors take, and its name; an 8-bit photo is
    never converted to floats and back (an eighth of the memory)."""
    from ..io.images import read_pixels

    name = str(image) if isinstance(image, (str, Path)) or hasattr(image, "__fspath__") \
        else "image array"
    photo = read_pixels(image)
    if photo.dtype == np.uint8:
        return np.ascontiguousarray(photo), name
    return (np.clip(photo, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), name


def detect_landmarks(image: Any, detector: str = "mediapipe", *, dense: bool = False,
                     min_score: float = 0.0, max_faces: int | None = None
                     ) -> list[DetectedFace]:
    """Find the faces in a photo and their 68 iBUG landmarks.

    Parameters
    ----------
    image : a photo path (EXIF orientation applied) or an (H, W, 3) array (float in [0, 1] or
        uint8).
    detector : ``"mediapipe"`` (default; extra ``facefit[detect]``) or ``"dlib"`` (extra
        ``facefit[dlib]``; non-commercial weights).
    dense : also return the detector's own points in :attr:`DetectedFace.dense`.
    min_score : drop faces whose detector confidence is lower.
    max_faces : keep at most this many (the largest).

    Returns
    -------
    list of :class:`DetectedFace`, largest box first; empty when there is no face.

    Raises
    ------
    DetectionError
        An unknown detector, or one whose extra is not installed (the message says which
        ``pip install`` fixes it).
    ImageError
        An unreadable image.
    """
    if detector not in DETECTORS:
        raise DetectionError(f"unknown detector {detector!r}; valid choices: "
                             f"{', '.join(DETECTORS)}")
    pixels, name = _pixels(image)
    try:
        if detector == "mediapipe":
            faces = _detect_mediapipe(pixels, dense)
        else:
            from ._dlib import detect as dlib_detect

            faces = dlib_detect(pixels, dense)
    except DetectionError as exc:
        raise DetectionError(f"image '{name}': {exc}") from exc.__cause__
    faces = [face for face in faces if face.score >= min_score]
    faces.sort(key=lambda face: -face.size)
    return faces if max_faces is None else faces[:max_faces]


def _detect_mediapipe(pixels: Any, dense: bool) -> list[DetectedFace]:
    from ._mediapipe import detect_dense

    _, _, point_weights = _mapping()
    faces = []
    for raw in detect_dense(pixels):
        landmarks = mediapipe_to_ibug(raw.dense)
        outline = convex_hull(raw.dense[:MESH_POINTS, :2])
        jaw = outline_jaw(landmarks, outline)
        if jaw is not None:  # else (a degenerate mesh) the mapped vertices stay
            landmarks[:17] = jaw
        box = (float(raw.dense[:, 0].min()), float(raw.dense[:, 1].min()),
               float(raw.dense[:, 0].max()), float(raw.dense[:, 1].max()))
        faces.append(DetectedFace(box=box, score=raw.score, landmarks=landmarks,
                                  point_weights=point_weights.copy(), detector="mediapipe",
                                  dense=raw.dense if dense else None, outline=outline))
    return faces
