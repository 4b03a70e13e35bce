"""Where a photo's 68 landmarks come from: a given file or array, the ``.pts`` beside the photo,
or the face detector.

Used by :func:`facefit.fit` (``landmarks=None`` detects), by ``facefit fit`` and by
``facefit generate``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import DetectionError, LandmarkError
from . import DETECTORS, DetectedFace, detect_landmarks

__all__ = ["detect_largest", "photo_landmarks", "resolve_landmarks"]

#: ``--detector none``: never detect, a landmark file is required.
NO_DETECTOR = "none"


def _name(image: Any) -> str:
    return str(image) if isinstance(image, (str, Path)) or hasattr(image, "__fspath__") \
        else "image array"


def detect_largest(image: Any, detector: str = "mediapipe", name: str | None = None
                   ) -> DetectedFace:
    """The largest face in ``image`` (a path or an (H, W, 3) array).

    Raises
    ------
    DetectionError
        No face found, or the detector not installed; the message names the image and the fix.
    """
    faces = detect_all(image, detector, name)
    return faces[0]


def detect_all(image: Any, detector: str = "mediapipe", name: str | None = None
               ) -> list[DetectedFace]:
    """Every face in ``image``, largest first; at least one (else :class:`DetectionError`)."""
    label = name or _name(image)
    try:
        faces = detect_landmarks(image, detector)
    except DetectionError as exc:
        if name is None:
            raise
        # detect_landmarks names arrays "image array"; say which photo the array came from.
        raise DetectionError(str(exc).replace("'image array'", f"'{label}'")) from exc.__cause__
    if not faces:
        raise DetectionError(f"image '{label}': no face found by the {detector} detector; "
                             "give its 68 landmarks in a .pts file (--landmarks FILE)")
    return faces


def resolve_landmarks(image: Any, landmarks: Any, landmark_weights: Any = None,
                      detector: str = "mediapipe") -> tuple[Any, Any, Any, Any]:
    """``(image, landmarks, landmark_weights, outline)`` ready for :class:`facefit.FitProblem`.

    ``landmarks=None`` detects the largest face in ``image`` (which is read here when it is a
    path, so it is read once); a :class:`DetectedFace` gives its points, its
    :attr:`~DetectedFace.outline` and, unless ``landmark_weights`` is given, its
    :attr:`~DetectedFace.point_weights`. Anything else passes through unchanged, with no
    outline (None).
    """
    if isinstance(landmarks, DetectedFace):
        weights = landmarks.point_weights if landmark_weights is None else landmark_weights
        return image, landmarks.landmarks, weights, landmarks.outline
    if landmarks is not None:
        return image, landmarks, landmark_weights, None
    if image is None:
        raise LandmarkError("fit: no landmarks and no image to detect them in; give landmarks "
                            "(a (68, 2) array or a .pts file) or an image")
    name = _name(image)
    if detector == NO_DETECTOR:
        raise LandmarkError(f"image '{name}': no landmarks given and detector 'none'; give a "
                            "landmark file or choose a detector")
    if name != "image array":
        from ..io.images import read_pixels

        image = read_pixels(image)  # read once, for the detector and the fit; 8-bit stays uint8
    face = detect_largest(image, detector, name)
    weights = face.point_weights if landmark_weights is None else landmark_weights
    return image, face.landmarks, weights, face.outline


def photo_landmarks(image_path: str | Path, landmark_file: str | None = None,
                    detector: str = "mediapipe", all_faces: bool = False,
                    log: Callable[[str], None] | None = None) -> list[tuple[str, Any]]:
    """The landmark sets to fit in one photo, each with the stem its outputs are named by.

    Parameters
    ----------
    image_path : the photo's path (names the outputs and the messages; read only to detect).
    landmark_file : an explicit landmark file; None uses ``IMAGE.pts`` when it exists and
        otherwise detects.
    detector : ``"mediapipe"``, ``"dlib"`` or ``"none"`` (a landmark file is then required).
    all_faces : every detected face (stems ``NAME.face1``, ``NAME.face2``, ... largest first)
        instead of the largest (stem ``NAME``).
    log : receives one line saying where the landmarks came from (``-v``).

    Returns
    -------
    list of ``(stem, landmarks)``: landmarks are a landmark file's path (so that the fit reads
    it and names it in its messages) or a :class:`DetectedFace`.
    """
    path = Path(image_path)
    if detector not in (*DETECTORS, NO_DETECTOR):
        raise DetectionError(f"unknown detector {detector!r}; valid choices: "
                             f"{', '.join((*DETECTORS, NO_DETECTOR))}")
    beside = path.with_suffix(".pts")
    if landmark_file is not None or beside.is_file() or detector == NO_DETECTOR:
        source = landmark_file or str(beside)
        if landmark_file is None and not beside.is_file():
            raise LandmarkError(f"image '{image_path}': no landmark file '{beside}' and "
                                "--detector none; give --landmarks FILE or choose a detector")
        if log is not None:
            log(f"{image_path}: landmarks from {source}")
        return [(path.stem, source)]
    faces = detect_all(str(image_path), detector, str(image_path))
    if log is not None:
        log(f"{image_path}: no landmark file; {detector} detected {len(faces)} "
            f"face{'s' if len(faces) != 1 else ''}, fitting "
            f"{'all' if all_faces else 'the largest'}")
    if not all_faces:
        return [(path.stem, faces[0])]
    return [(f"{path.stem}.face{k}", face) for k, face in enumerate(faces, start=1)]
