"""The mouth interior behind the default model's lips, driven by the face's coefficients (issue 17).

``data/ict_mouth.npz`` (made by ``tools/convert_ict_mouth.py`` from the ICT model's
``head_shapes.npz``) stores the ICT model's mouth socket, gums, tongue and teeth, decimated,
with their 100 identity and 53 expression offsets in the face model's units and origin. As a
:class:`MorphableModel` of its own (same coefficient layout and stds as the face model) it is
posed by :func:`facefit.forward.evaluate` with a fitted face's :class:`FaceParams`: ``jawOpen``
moves the lower teeth, gums and tongue exactly as it moves the chin.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Any

import numpy as np

from ..model import MorphableModel

__all__ = ["MOUTH_FILE", "PARTS", "MouthGeometry", "mouth_model"]

MOUTH_FILE = "ict_mouth.npz"
#: Part labels of the stored vertices, in the order of their values.
PARTS = ("socket", "gums", "tongue", "upper teeth", "lower teeth")
#: Vertices of the ICT face model's narrow face, which the default model is.
_FACE_VERTICES = 6706


class MouthGeometry:
    """The mouth interior's model and per-vertex labels (host arrays).

    Attributes
    ----------
    model : the mouth :class:`MorphableModel` (its own vertices only).
    part : (V,) int, index into :data:`PARTS` of each vertex.
    rim_ids : (R,) int, the face's inner-lip-rim vertices (copied into the mouth, where the
        socket joins the lips).
    source_vertex : (V,) int, each vertex's index in ``head_shapes.npz``.
    """

    def __init__(self, model: MorphableModel, part: Any, source_vertex: Any):
        self.model = model
        self.part = np.asarray(part, dtype=np.int64)
        self.source_vertex = np.asarray(source_vertex, dtype=np.int64)
        self.rim_ids = np.flatnonzero(self.source_vertex < _FACE_VERTICES)


@lru_cache(maxsize=4)
def _mouth_for(face_id: int, face: MorphableModel) -> MouthGeometry:
    del face_id
    data = np.load(str(files("facefit") / "data" / MOUTH_FILE))
    count = int(data["mean"].shape[0])
    model = MorphableModel(
        name=f"{face.name} mouth interior",
        mean_shape=data["mean"].astype(np.float64),
        identity_basis=data["identity"].astype(np.float64),
        identity_std=face.identity_std,
        expression_basis=data["expression"].astype(np.float64),
        expression_std=face.expression_std,
        albedo_mean=np.full((count, 3), 0.5),
        # One zero albedo mode: the interior's colours are set by the drawing, not an albedo
        # model (the posing code needs a basis to multiply).
        albedo_basis=np.zeros((count, 3, 1)), albedo_std=np.ones(1),
        triangles=data["triangles"].astype(np.int64),
        landmark_indices=np.full(68, -1), jaw_candidates=np.full((17, 1), -1),
        metadata={"source": "ICT-FaceKit head_shapes.npz via tools/convert_ict_mouth.py"})
    return MouthGeometry(model, data["part"], data["source_vertex"])


def mouth_model(face: MorphableModel) -> MouthGeometry | None:
    """The mouth interior behind ``face``'s lips, or None when ``face`` is not the embedded ICT
    face model (whose coefficients the stored mouth follows)."""
    if face.n_vertices != _FACE_VERTICES or "ICT" not in face.name \
            or face.n_identity != 100 or face.n_expression != 53:
        return None
    return _mouth_for(id(face), face)
