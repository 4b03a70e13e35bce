"""What a detector finds: :class:`DetectedFace` (its own module, so that the detectors'
modules and the package that picks among them do not import each other)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DetectedFace"]


@dataclass
class DetectedFace:
    """One detected face.

    Attributes
    ----------
    box : (x0, y0, x1, y1) 0-based pixel bounds of the face.
    score : the face detector's confidence in [0, 1].
    landmarks : (68, 2) float64 iBUG points, 0-based pixel coordinates.
    point_weights : (68,) relative weight of each point when fitting: 1 for points the detector
        places like a human annotator, less for points it places differently (MediaPipe's jaw).
        :func:`facefit.fit` uses them when given a :class:`DetectedFace`.
    detector : the detector's name.
    dense : the detector's own points when asked for (MediaPipe: (478, 3), x and y in 0-based
        pixels and relative depth in the same scale), else None.
    outline : (P, 2) the face's outline as the detector sees it, or None: for MediaPipe the
        convex hull of its 468 face-mesh points (0-based pixels). The mesh's jaw vertices
        slide inward along the face as the head turns, while its outline stays on the face's
        edge: MediaPipe's 17 jaw points are placed on the outline
        (:func:`facefit.detect.jaw.outline_jaw`), and :func:`facefit.fit` fits the model's
        jaw silhouette to the outline itself (the contour term) in their place. dlib's jaw
        points are annotator-style: None.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: Any
    point_weights: Any = field(repr=False)
    detector: str = "mediapipe"
    dense: Any = field(default=None, repr=False)
    outline: Any = field(default=None, repr=False)

    @property
    def size(self) -> float:
        """The box's area in square pixels (faces are sorted by it, largest first)."""
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])
