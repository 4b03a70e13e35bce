"""Mesh facts the format readers share."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["facing_front"]


def facing_front(mean: Any, triangles: Any) -> Any:
    """``triangles`` wound counter-clockwise seen from +z: flipped if their summed normal
    points away from the camera (facefit's convention: normals point out of the face)."""
    corners = mean[triangles]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    return triangles if normals[:, 2].sum() >= 0 else triangles[:, ::-1].copy()
