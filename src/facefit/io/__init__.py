"""File input and output: photos, 2D landmarks and triangle meshes.

Every reader and writer raises a :class:`facefit.FacefitError` subclass naming the file
(:class:`~facefit.ImageError`, :class:`~facefit.LandmarkError`, :class:`~facefit.MeshError`);
every writer replaces its file atomically.
"""

from __future__ import annotations

from .images import read_image, write_image
from .landmarks import read_landmarks, validate_landmarks, write_landmarks
from .meshes import load_mesh, save_mesh

__all__ = [
    "load_mesh",
    "read_image",
    "read_landmarks",
    "save_mesh",
    "validate_landmarks",
    "write_image",
    "write_landmarks",
]
