"""Closed-form starting pose from landmarks: an affine camera fitted by least squares.

``[u, v] = [X, 1] @ A`` for the model's mean landmark vertices ``X`` and the given 2D points;
the affine rows are ``s * R[0]`` and ``-s * R[1]`` of the weak-perspective camera, so the scale
is their mean length and the rotation is the nearest one (SVD) to the orthonormalised rows.
"""

from __future__ import annotations

from typing import Any

from ..backends import array_namespace, cholesky_solve
from ..errors import LandmarkError
from ..geometry import cross, rotation_angles

Array = Any

__all__ = ["affine_pose"]


def affine_pose(model_points: Array, image_points: Array) -> tuple[Array, Array, Array]:
    """Weak-perspective pose that best maps 3D model points onto 2D image points.

    Parameters
    ----------
    model_points : (L, 3) real array (model space, y up), L >= 4, not all coplanar.
    image_points : (L, 2) real array (pixels, y down).

    Returns
    -------
    angles : (3,) ``[pitch, yaw, roll]``.
    scale : () array.
    translation : (2,) array.
    """
    xp = array_namespace(model_points, image_points)
    count = model_points.shape[0]
    if count < 4:
        raise LandmarkError(f"need at least 4 landmarks to estimate a pose, got {count}")
    ones = xp.ones((count, 1), dtype=model_points.dtype, device=model_points.device)
    design = xp.concat([model_points, ones], axis=1)  # (L, 4)
    normal = xp.matrix_transpose(design) @ design
    # a tiny ridge keeps the solve defined for (near-)planar point sets
    normal = normal + 1e-9 * xp.linalg.trace(normal) * xp.eye(4, dtype=normal.dtype,
                                                                 device=normal.device)
    columns = [cholesky_solve(normal, xp.matrix_transpose(design) @ image_points[:, k])
               for k in range(2)]
    affine = xp.stack(columns, axis=1)  # (4, 2)
    row_x, row_y = affine[:3, 0], -affine[:3, 1]
    length_x = xp.sqrt(xp.sum(row_x * row_x))
    length_y = xp.sqrt(xp.sum(row_y * row_y))
    scale = (length_x + length_y) / 2
    first, second = row_x / length_x, row_y / length_y
    stacked = xp.stack([first, second, cross(first, second)], axis=0)
    u, _, vt = xp.linalg.svd(stacked)
    rotation = u @ vt
    if float(xp.linalg.det(rotation)) < 0:  # a reflection: flip the weakest direction
        flip = xp.asarray([1.0, 1.0, -1.0], dtype=u.dtype, device=u.device)
        rotation = (u * flip[None, :]) @ vt
    return rotation_angles(rotation), scale, affine[3, :]
