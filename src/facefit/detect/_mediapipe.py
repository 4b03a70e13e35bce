"""MediaPipe back end: BlazeFace boxes over an image pyramid, then the 478-point face mesh.

Both networks come from the ``face_landmarker.task`` bundle shipped in ``facefit/data`` and run
locally from its bytes: nothing is downloaded. BlazeFace (short range) sees a 128x128 input and
finds faces whose box is at least about 15% of that input, so on the whole image it misses
faces under about a fifth of the image. Windows of 128 pixels cut from downscaled copies of the
image (a pyramid) find faces down to about 3% of the longer side. Each box is then confirmed by
the Face Landmarker run on a square crop around it (the landmarker's own detector must find the
face again), which keeps stray boxes on textures out.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from io import BytesIO
from typing import Any

import numpy as np

from ..errors import DetectionError

__all__ = ["MODEL_FILE", "RawFace", "detect_dense", "model_bytes"]

#: The bundle inside ``facefit/data`` (Apache-2.0, see MEDIAPIPE_FACE_LANDMARKER_LICENSE.txt).
MODEL_FILE = "face_landmarker.task"

_WINDOW = 128  # BlazeFace short-range input size
_STRIDE = 80  # windows overlap by 48 px, so a face box up to ~0.37 of a window lies whole in one
# Pyramid levels: the longer side scaled to 128 * k. Level k finds boxes of 0.15/k .. 0.37/k of
# the longer side, so consecutive levels overlap (0.15/2.2 < 0.37/5, 0.15 < 0.37/2.2).
_LEVELS = (1.0, 2.2, 5.0)
_MIN_BOX = 32.0  # pixels: levels that could only add smaller faces are skipped (too small to fit)
_DETECTABLE = 0.15  # BlazeFace's smallest box, as a fraction of its input side
_CANDIDATE_SCORE = 0.4  # low on purpose: every box must be confirmed by the landmarker
_CROP = 2.6  # crop side around a box, in box sizes: the whole head plus margin
_MAX_CANDIDATES = 12


@dataclass
class RawFace:
    """One face as MediaPipe sees it: detector box and score, dense points in pixels.

    Attributes
    ----------
    score : BlazeFace confidence in [0, 1].
    dense : (478, 3) float64: x, y in 0-based pixels of the input image, z in the same pixel
        scale (MediaPipe's relative depth, smaller is nearer the camera).
    """

    score: float
    dense: Any


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence file descriptor 2 while MediaPipe's C++ core runs: it logs model loading and
    delegate chatter there (INFO/W0000 lines) that no setting turns off, and a command line's
    stderr is for facefit's one-line errors. Python exceptions are unaffected."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (e.g. an embedding host): nothing to do
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _import_tasks() -> tuple[Any, Any, Any]:
    try:
        import mediapipe
        from mediapipe.tasks.python import BaseOptions, vision
    except ImportError as exc:
        raise DetectionError(
            "the mediapipe detector is not installed (pip install 'facefit[detect]'); "
            "or give a landmark file") from exc
    return mediapipe, BaseOptions, vision


@lru_cache(maxsize=1)
def model_bytes() -> bytes:
    """The shipped ``face_landmarker.task`` bundle."""
    return (files("facefit") / "data" / MODEL_FILE).read_bytes()


class _Runner:
    """The two MediaPipe tasks, made once per process; MediaPipe tasks are not re-entrant."""

    def __init__(self) -> None:
        mediapipe, base_options, vision = _import_tasks()
        bundle = model_bytes()
        with zipfile.ZipFile(BytesIO(bundle)) as archive:
            detector_model = archive.read("face_detector.tflite")
        self.mp = mediapipe
        self.detector = vision.FaceDetector.create_from_options(vision.FaceDetectorOptions(
            base_options=base_options(model_asset_buffer=detector_model),
            running_mode=vision.RunningMode.IMAGE,
            min_detection_confidence=_CANDIDATE_SCORE))
        self.landmarker = vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
            base_options=base_options(model_asset_buffer=bundle),
            running_mode=vision.RunningMode.IMAGE, num_faces=2,
            min_face_detection_confidence=0.5, min_face_presence_confidence=0.5))
        self.lock = threading.Lock()

    def close(self) -> None:
        with _quiet_native_stderr():
            self.detector.close()
            self.landmarker.close()

    def _image(self, pixels: Any) -> Any:
        return self.mp.Image(image_format=self.mp.ImageFormat.SRGB,
                             data=np.ascontiguousarray(pixels))

    def boxes(self, pixels: Any) -> list[tuple[float, float, float, float, float]]:
        """(x0, y0, x1, y1, score) of BlazeFace on ``pixels`` (uint8 (h, w, 3))."""
        found = []
        for detection in self.detector.detect(self._image(pixels)).detections:
            box = detection.bounding_box
            found.append((float(box.origin_x), float(box.origin_y),
                          float(box.origin_x + box.width), float(box.origin_y + box.height),
                          float(detection.categories[0].score)))
        return found

    def meshes(self, pixels: Any) -> list[Any]:
        """(478, 3) arrays of the landmarker on ``pixels``, in that crop's 0-based pixels."""
        h, w = pixels.shape[:2]
        result = self.landmarker.detect(self._image(pixels))
        out = []
        for face in result.face_landmarks:
            # MediaPipe normalises by the image edges; facefit's pixel centres are 0-based.
            out.append(np.array([[p.x * w - 0.5, p.y * h - 0.5, p.z * w] for p in face]))
        return out


_runner: _Runner | None = None
_runner_lock = threading.Lock()


def _get_runner() -> _Runner:
    global _runner
    with _runner_lock:
        if _runner is None:
            with _quiet_native_stderr():
                _runner = _Runner()
            # MediaPipe's tasks call into C through a thread pool that Python stops before
            # ordinary atexit hooks run; closing them after that, or leaving them to __del__
            # at teardown, prints "Exception ignored" tracebacks. Close before the pool stops.
            register = getattr(threading, "_register_atexit", atexit.register)
            register(_runner.close)
        return _runner


def _resized(pixels: Any, size: tuple[int, int]) -> Any:
    from PIL import Image

    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR))


def _candidates(runner: _Runner, pixels: Any) -> list[tuple[float, ...]]:
    """BlazeFace boxes over the pyramid, in the image's pixels, most confident first."""
    h, w = pixels.shape[:2]
    longer = max(h, w)
    found: list[tuple[float, ...]] = list(runner.boxes(pixels))
    for level in _LEVELS[1:]:
        factor = min(_WINDOW * level / longer, 1.0)
        if factor * longer <= _WINDOW * 1.2 or _DETECTABLE * _WINDOW / factor < _MIN_BOX:
            continue
        sh, sw = max(round(h * factor), 1), max(round(w * factor), 1)
        scaled = pixels if factor == 1.0 else _resized(pixels, (sw, sh))
        for top in _starts(sh):
            for left in _starts(sw):
                window = scaled[top:top + _WINDOW, left:left + _WINDOW]
                if float(window.std()) < 2.0:
                    continue  # flat background: nothing to find, and BlazeFace costs ~2 ms
                for x0, y0, x1, y1, score in runner.boxes(window):
                    found.append(((x0 + left) / factor, (y0 + top) / factor,
                                  (x1 + left) / factor, (y1 + top) / factor, score))
        if factor == 1.0:
            break
    found.sort(key=lambda b: -b[4])
    return found


def _starts(length: int) -> list[int]:
    if length <= _WINDOW:
        return [0]
    starts = list(range(0, length - _WINDOW, _STRIDE))
    return [*starts, length - _WINDOW]


def _inside(x: float, y: float, box: tuple[float, float, float, float]) -> bool:
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def _confirm(runner: _Runner, pixels: Any, box: tuple[float, ...]) -> Any:
    """Dense points of the face in ``box``, from the landmarker on a square crop; None if the
    landmarker finds no face there."""
    h, w = pixels.shape[:2]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = max(box[2] - box[0], box[3] - box[1]) * _CROP
    if side >= 0.8 * max(h, w):
        x0 = y0 = 0
        crop = pixels
    else:
        x0, y0 = round(cx - side / 2), round(cy - side / 2)
        n = round(side)
        # Grey outside the photo: replicated edges could look like more face.
        crop = np.full((n, n, 3), 127, dtype=np.uint8)
        sx0, sy0 = max(x0, 0), max(y0, 0)
        sx1, sy1 = min(x0 + n, w), min(y0 + n, h)
        crop[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = pixels[sy0:sy1, sx0:sx1]
    best, best_distance = None, float("inf")
    for dense in runner.meshes(crop):
        dense = dense + np.array([x0, y0, 0.0])
        mx, my = dense[:, 0].mean(), dense[:, 1].mean()
        if not _inside(mx, my, (box[0] - side / 4, box[1] - side / 4,
                                box[2] + side / 4, box[3] + side / 4)):
            continue
        distance = (mx - cx) ** 2 + (my - cy) ** 2
        if distance < best_distance:
            best, best_distance = dense, distance
    return best


def detect_dense(pixels: Any) -> list[RawFace]:
    """Every face MediaPipe confirms in ``pixels``.

    Parameters
    ----------
    pixels : (H, W, 3) uint8 RGB.

    Returns
    -------
    list of :class:`RawFace`, in no particular order.
    """
    runner = _get_runner()
    with runner.lock, _quiet_native_stderr():
        candidates = _candidates(runner, pixels)
        faces: list[RawFace] = []
        boxes: list[tuple[float, float, float, float]] = []
        examined: list[tuple[float, ...]] = []
        for candidate in candidates:
            cx, cy = (candidate[0] + candidate[2]) / 2, (candidate[1] + candidate[3]) / 2
            if any(_inside(cx, cy, box) for box in boxes):
                continue  # the same face again, from another window or level
            if any(_inside(cx, cy, (other[0], other[1], other[2], other[3]))
                   and _similar_size(candidate, other) for other in examined):
                continue  # the landmarker already looked at (nearly) this crop
            if len(examined) == _MAX_CANDIDATES:
                break
            examined.append(candidate)
            dense = _confirm(runner, pixels, candidate)
            if dense is None:
                continue
            box = (float(dense[:, 0].min()), float(dense[:, 1].min()),
                   float(dense[:, 0].max()), float(dense[:, 1].max()))
            mx, my = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            if any(_inside(mx, my, other) for other in boxes):
                continue
            boxes.append(box)
            faces.append(RawFace(score=candidate[4], dense=dense))
        return faces


def _similar_size(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    ratio = (a[2] - a[0]) / max(b[2] - b[0], 1e-9)
    return 0.5 <= ratio <= 2.0
