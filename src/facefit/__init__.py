"""facefit: fit a 3D morphable face model to a photo by inverse rendering, and generate data.

>>> import facefit as ff
>>> ff.get_backend().name in ("numpy", "torch", "cupy", "array-api-strict")
True
"""

from __future__ import annotations

from .backends import (
    Backend,
    BackendSpec,
    available_backends,
    backend_of,
    get_backend,
    set_backend,
    use_backend,
)
from .detect import DetectedFace, detect_landmarks
from .errors import (
    BackendError,
    DetectionError,
    FacefitError,
    FitError,
    ImageError,
    LandmarkError,
    MeshError,
    ModelError,
)
from .fit import FitOptions, FitProblem, FitResult, FitWeights, Stage, fit
from .forward import Coefficients, FaceState, Pose, evaluate
from .generate import PoseRanges, Sample, generate
from .io import load_mesh, read_image, read_landmarks, save_mesh, write_image, write_landmarks
from .model import MorphableModel, load_model
from .params import FaceParams
from .render import RenderResult, render, render_batch

__all__ = [
    "Backend",
    "BackendError",
    "BackendSpec",
    "Coefficients",
    "DetectedFace",
    "DetectionError",
    "FaceParams",
    "FaceState",
    "FacefitError",
    "FitError",
    "FitOptions",
    "FitProblem",
    "FitResult",
    "FitWeights",
    "ImageError",
    "LandmarkError",
    "MeshError",
    "ModelError",
    "MorphableModel",
    "Pose",
    "PoseRanges",
    "RenderResult",
    "Sample",
    "Stage",
    "__version__",
    "available_backends",
    "backend_of",
    "detect_landmarks",
    "evaluate",
    "fit",
    "generate",
    "get_backend",
    "load_mesh",
    "load_model",
    "read_image",
    "read_landmarks",
    "render",
    "render_batch",
    "save_mesh",
    "set_backend",
    "use_backend",
    "write_image",
    "write_landmarks",
]


def __getattr__(name: str) -> str:
    # The version comes from the installed distribution's metadata, and importlib.metadata
    # costs a cold command 50 ms: read only when asked for.
    if name == "__version__":
        from ._version import __version__

        return __version__
    raise AttributeError(f"module 'facefit' has no attribute {name!r}")
