"""The whole head around the default model's face, driven by the same coefficients (issue 17).

The embedded ICT face model covers the narrow face. ``data/ict_head.npz`` (made by
``tools/convert_ict_head.py`` from the ICT model's ``head_shapes.npz``) stores the rest of the
ICT head (forehead to hairline, ears, sides, head and neck, 4542 vertices) with its 100 identity
and 53 expression offsets. Appended to the face model's own arrays it gives a
:class:`MorphableModel` of the head whose first vertices *are* the face model's vertices, so a
fitted :class:`FaceParams` poses the head exactly as it poses the face.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from importlib.resources import files
from typing import Any

import numpy as np

from ..model import MorphableModel
from ..params import FaceParams

__all__ = ["HEAD_FILE", "HeadGeometry", "head_model", "head_params", "head_positions",
           "head_state"]

HEAD_FILE = "ict_head.npz"

#: Height (from the neck's base, as a fraction of the base-to-chin height) below which the neck
#: stays with the body; above it the neck turns more and more with the head.
NECK_STILL = 0.55

#: Height above the brows (mm) over which the head's surface goes from skin to hair.
SKIN_FADE = 20.0


class HeadGeometry:
    """A head model and, per vertex, how it moves with the head (host arrays).

    Attributes
    ----------
    model : the head :class:`MorphableModel` (face vertices first).
    n_face : number of face vertices at its start (the face model's).
    follow : (V,) 1 on the head, falling to 0 down the neck (the body does not turn).
    rigid : (V,) 1 on the skull above the chin outside the face (expressions barely move it).
    min_facing : (V,) least normal component toward the camera, in the photo, for a vertex to
        anchor the warp (0 on the face, 0.35 on ears and sides, 0.5 on the skull).
    skin : (V,) 1 where the surface is skin (face, ears, sides, neck), 0 under hair (the skull,
        and anything more than :data:`SKIN_FADE` mm above the brows).
    """

    def __init__(self, model: MorphableModel, n_face: int, region: Any):
        self.model = model
        self.n_face = n_face
        height = model.mean_shape[:, 1]
        chin = float(height[model.landmark_indices[8]])
        bottom = float(height.min())
        # The neck twists: its top turns with the head, less and less down to 45% of the way
        # to its base, below which it stays with the body. A steeper twist (to 15% of the way
        # down) cut a turned neck off the collar along a straight line, with a slab of
        # stretched skin above it; over this height a collar turns a little with the neck.
        follow = np.clip(((height - bottom) / (chin - bottom) - NECK_STILL) / (1 - NECK_STILL),
                         0.0, 1.0)
        follow[:n_face] = 1.0
        self.follow = follow
        skull = np.zeros(height.shape[0], bool)
        skull[n_face:] = region == 1
        self.rigid = (skull & (height > chin)).astype(np.float64)
        # Warp anchors need the photo to have seen the surface well: past the face, a vertex
        # seen edge-on carries a strip a few pixels wide that a turn would stretch into
        # streaks (the ears and sides of a frontal head, the top of the skull in mid-hair).
        self.min_facing = np.zeros(height.shape[0])
        self.min_facing[n_face:] = 0.35
        self.min_facing[self.rigid > 0] = 0.5
        # Skin: the ears, the sides of the head below them and the neck. The skull is under
        # hair, and so is the model's forehead-to-hairline band above the brows (its hairline
        # is nobody's in particular): no skin there, fading in over SKIN_FADE mm above the
        # brows.
        brows = float(height[model.landmark_indices[17:27]].max())
        self.skin = (1.0 - self.rigid) * np.clip(1.0 - (height - brows) / SKIN_FADE, 0.0, 1.0)


@lru_cache(maxsize=4)
def _head_for(face_id: int, face: MorphableModel) -> HeadGeometry | None:
    del face_id
    data = np.load(str(files("facefit") / "data" / HEAD_FILE))
    first = int(data["first_vertex"])
    if face.n_vertices != first or "ICT" not in face.name:
        return None
    origin = face.mean_shape
    model = MorphableModel(
        name=f"{face.name} + ICT head and neck",
        mean_shape=np.concatenate([origin, data["mean"].astype(np.float64)]),
        identity_basis=np.concatenate([face.identity_basis,
                                       data["identity"].astype(np.float64)]),
        identity_std=face.identity_std,
        expression_basis=np.concatenate([face.expression_basis,
                                         data["expression"].astype(np.float64)]),
        expression_std=face.expression_std,
        albedo_mean=np.full((first + data["mean"].shape[0], 3), 0.5),
        # One zero albedo mode: the head is never shaded by its own albedo (the posing code
        # needs a basis to multiply).
        albedo_basis=np.zeros((first + data["mean"].shape[0], 3, 1)),
        albedo_std=np.ones(1),
        triangles=data["triangles"].astype(np.int64),
        landmark_indices=face.landmark_indices, jaw_candidates=face.jaw_candidates,
        outline_indices=face.outline_indices,
        metadata={"source": "ICT-FaceKit head_shapes.npz via tools/convert_ict_head.py"})
    return HeadGeometry(model, first, data["region"])


def head_model(face: MorphableModel) -> HeadGeometry | None:
    """The head around ``face``, or None when ``face`` is not the embedded ICT face model (whose
    vertices the stored head extends)."""
    if face.n_vertices != 6706:
        return None
    return _head_for(id(face), face)


def head_params(params: FaceParams) -> FaceParams:
    """``params`` for the head model (its one albedo mode is zero)."""
    return replace(params, albedo=np.zeros(1))


def head_state(head: HeadGeometry, params: FaceParams, backend: Any) -> Any:
    """The head posed by ``params`` on ``backend``: a batch-of-one
    :class:`facefit.forward.FaceState` (points, depth, shading of every head vertex)."""
    from ..render import pose_faces

    return pose_faces(head.model, [head_params(params)], backend)


def head_positions(head: HeadGeometry, params: FaceParams, backend: Any,
                   state: Any = None) -> Any:
    """(V, 3) image x, y and depth of every head vertex posed by ``params`` (on ``backend``);
    ``state`` reuses a :func:`head_state` of the same ``params``."""
    state = head_state(head, params, backend) if state is None else state
    return backend.xp.concat([state.points[0, ...], state.depth[0, ...][:, None]], axis=1)
