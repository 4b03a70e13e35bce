"""Errors a user can cause, each naming the input and what is wrong with it.

Every error raised on purpose by facefit derives from :class:`FacefitError`, so a caller can
catch one type; the command line turns any of them into exit status 2 and a single line.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "DetectionError",
    "FacefitError",
    "FitError",
    "FitWarning",
    "ImageError",
    "LandmarkError",
    "MeshError",
    "ModelError",
    "OutputError",
]


class FacefitError(Exception):
    """Base class of every error facefit raises on purpose."""


class BackendError(FacefitError, ValueError):
    """An unknown, uninstalled or unusable array backend, device or dtype."""


class ImageError(FacefitError, ValueError):
    """A missing, unreadable or malformed image file or array."""


class LandmarkError(FacefitError, ValueError):
    """A missing or malformed landmark file, a wrong number of points, or unusable points."""


class ModelError(FacefitError, ValueError):
    """A missing, malformed or unsupported morphable-model file, or inconsistent model arrays."""


class MeshError(FacefitError, ValueError):
    """A mesh that cannot be written: unknown suffix, wrong array shapes."""


class FitError(FacefitError, ValueError):
    """Bad arguments to the fitter: unknown Jacobian strategy, inconsistent parameter vector."""


class DetectionError(FacefitError, ValueError):
    """No face found in a photo, or the face detector asked for is not installed."""


class OutputError(FacefitError, OSError):
    """An output folder or file that cannot be created or written."""


class FitWarning(UserWarning):
    """A fit that ran but whose result is doubtful, e.g. landmarks that do not seem to belong to
    the photo (the photo does not look like a face where they are)."""
