"""The weak-perspective camera of Guo et al.: scale, rotation, 2D translation.

``p = s * P @ R @ v + t`` with ``P`` keeping x and flipping y (model space is y up, images are
y down). Depth is ``s * (R @ v)_z``: larger is nearer the camera. Array-API code, complex-safe.
"""

from __future__ import annotations

from typing import Any

from .backends import array_namespace, promote
from .geometry import rotation_matrix

Array = Any

__all__ = ["project", "rotate", "weak_perspective"]


def rotate(vertices: Array, rotation: Array) -> Array:
    """Apply rotation matrices to points.

    Parameters
    ----------
    vertices : (..., V, 3) array.
    rotation : (..., 3, 3) array, broadcast against the batch axes of ``vertices``.

    Returns
    -------
    (..., V, 3) array ``vertices @ rotation.T``.
    """
    xp = array_namespace(vertices, rotation)
    vertices, rotation = promote(vertices, rotation, xp=xp)
    return vertices @ xp.matrix_transpose(rotation)


def project(rotated: Array, scale: Array, translation: Array) -> tuple[Array, Array]:
    """Scale, flip y and translate already-rotated points into the image.

    Parameters
    ----------
    rotated : (..., V, 3) array of rotated model points.
    scale : (...) array or scalar, pixels per model unit.
    translation : (..., 2) array, pixels.

    Returns
    -------
    points : (..., V, 2) image coordinates (x right, y down; pixel centres at integers).
    depth : (..., V) array, larger nearer the camera.
    """
    xp = array_namespace(rotated, scale, translation)
    if not hasattr(scale, "shape"):
        scale = xp.asarray(scale, dtype=rotated.dtype, device=rotated.device)
    s = scale[..., None]
    x = s * rotated[..., 0] + translation[..., 0:1]
    y = translation[..., 1:2] - s * rotated[..., 1]
    return xp.stack([x, y], axis=-1), s * rotated[..., 2]


def weak_perspective(
    vertices: Array, angles: Array, scale: Array, translation: Array
) -> tuple[Array, Array]:
    """Project model points with the weak-perspective camera.

    Parameters
    ----------
    vertices : (..., V, 3) array in model space.
    angles : (..., 3) array ``[pitch, yaw, roll]`` in radians.
    scale : (...) array, pixels per model unit.
    translation : (..., 2) array, pixels.

    Returns
    -------
    points : (..., V, 2) image coordinates.
    depth : (..., V) array, larger nearer the camera.
    """
    return project(rotate(vertices, rotation_matrix(angles)), scale, translation)
