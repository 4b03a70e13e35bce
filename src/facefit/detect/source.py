"""Where a photo's 68 landmarks come from: a given file or array, the ``.pts`` beside the photo,
or the face detector; and the face outline a detector saved beside its ``.pts``.

Used by :func:`facefit.fit` (``landmarks=None`` detects), by ``facefit fit`` and by
``facefit generate``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import DetectionError, LandmarkError
from . import DETECTORS, DetectedFace, detect_landmarks

__all__ = ["OUTLINE_SUFFIX", "detect_largest", "outline_file", "photo_landmarks",
           "read_outline", "resolve_landmarks"]

#: ``--detector none``: never detect, a landmark file is required.
NO_DETECTOR = "none"
#: ``facefit detect`` writes a face's outline (:attr:`DetectedFace.outline`) as
#: ``NAME.outline.pts`` beside ``NAME.pts``.
OUTLINE_SUFFIX = ".outline.pts"
#: Of the 51 inner landmarks (brows, eyes, nose, mouth), at least this share must lie inside
#: an outline read beside them: less, and the outline belongs to another face or photo.
OUTLINE_INNER_SHARE = 0.5


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


def outline_file(landmark_file: str | Path) -> Path:
    """Where ``facefit detect`` puts the outline of the face in ``landmark_file``:
    ``NAME.outline.pts`` beside ``NAME.pts`` (or beside ``NAME.ljson``, ``NAME.xml``)."""
    path = Path(landmark_file)
    return path.with_name(path.stem + OUTLINE_SUFFIX)


def read_outline(landmark_file: str | Path, points: Any = None) -> Any:
    """The face outline a detector saved beside ``landmark_file`` (:func:`outline_file`), or
    None where there is none.

    Parameters
    ----------
    landmark_file : the 68 points' file.
    points : (68, 2) those points (default: read from ``landmark_file``), to check that the
        outline is this face's.

    Returns
    -------
    (P, 2) host float64 outline in 0-based pixels, or None.

    Raises
    ------
    LandmarkError
        The outline file is unreadable, holds fewer than 3 points or missing ones, or does not
        surround the face's inner points (:data:`OUTLINE_INNER_SHARE`); the message names it.
    """
    import numpy as np

    from ..io import read_landmarks
    from ..polygons import convex_hull, inside_hull

    path = outline_file(landmark_file)
    if not path.is_file():
        return None
    outline = read_landmarks(path, n_points=None)
    if len(outline) < 3 or bool(np.isnan(outline).any()):
        raise LandmarkError(f"outline '{path}': needs 3 or more points, none missing; found "
                            f"{int((~np.isnan(outline).any(axis=1)).sum())} of {len(outline)}")
    face = read_landmarks(landmark_file) if points is None else np.asarray(points, float)
    inner = face[17:][~np.isnan(face[17:]).any(axis=1)]
    if inner.size and inside_hull(inner, convex_hull(outline)).mean() < OUTLINE_INNER_SHARE:
        raise LandmarkError(f"outline '{path}': does not surround the face in '{landmark_file}'"
                            "; is it for this photo? (delete it to fit the file's own jaw "
                            "points)")
    return outline


def resolve_landmarks(image: Any, landmarks: Any, landmark_weights: Any = None,
                      detector: str = "mediapipe") -> tuple[Any, Any, Any, Any]:
    """``(image, landmarks, landmark_weights, outline)`` ready for :class:`facefit.FitProblem`.

    ``landmarks=None`` detects the largest face in ``image`` (which is read here when it is a
    path, so it is read once); a :class:`DetectedFace` gives its points, its
    :attr:`~DetectedFace.outline` and, unless ``landmark_weights`` is given, its
    :attr:`~DetectedFace.point_weights`. A landmark file passes through with the outline that
    ``facefit detect`` saved beside it (:func:`read_outline`), or None; an array passes
    through with no outline.
    """
    if isinstance(landmarks, DetectedFace):
        weights = landmarks.point_weights if landmark_weights is None else landmark_weights
        return image, landmarks.landmarks, weights, landmarks.outline
    if isinstance(landmarks, (str, Path)) or hasattr(landmarks, "__fspath__"):
        return image, landmarks, landmark_weights, read_outline(landmarks)
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
            outline = outline_file(source)
            log(f"{image_path}: landmarks from {source}"
                + (f", the jaw fitted to the outline in {outline}" if outline.is_file() else ""))
        return [(path.stem, source)]
    faces = detect_all(str(image_path), detector, str(image_path))
    if log is not None:
        log(f"{image_path}: no landmark file; {detector} detected {len(faces)} "
            f"face{'s' if len(faces) != 1 else ''}, fitting "
            f"{'all' if all_faces else 'the largest'}")
    if not all_faces:
        return [(path.stem, faces[0])]
    return [(f"{path.stem}.face{k}", face) for k, face in enumerate(faces, start=1)]
