"""facefit: fit a 3D morphable face model to a photo by inverse rendering, and generate data.

>>> import facefit as ff
>>> ff.get_backend().name in ("numpy", "torch", "cupy", "array-api-strict")
True
"""

from __future__ import annotations

from ._version import __version__
from .backends import Backend, available_backends, get_backend, use_backend
from .errors import (
    BackendError,
    FacefitError,
    FitError,
    ImageError,
    LandmarkError,
    MeshError,
    ModelError,
)

__all__ = [
    "Backend",
    "BackendError",
    "FacefitError",
    "FitError",
    "ImageError",
    "LandmarkError",
    "MeshError",
    "ModelError",
    "__version__",
    "available_backends",
    "get_backend",
    "use_backend",
]
