"""Rotations and surface normals, in array-API code (complex-step safe on the smooth path).

Conventions (DESIGN.md): angles are radians ``[pitch, yaw, roll]``; pitch turns about x, yaw about
y, roll about z, and ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``. Model space is y up, +z toward the
camera.
"""

from __future__ import annotations

from typing import Any

from .backends import array_namespace, real_part, scatter_add

Array = Any

__all__ = [
    "boundary_vertices",
    "cross",
    "face_normals",
    "mesh_edges",
    "ring_average",
    "rotation_angles",
    "rotation_matrix",
    "rotation_matrix_derivatives",
    "vertex_normals",
]


def rotation_matrix(angles: Array) -> Array:
    """Rotation matrices from Euler angles.

    Parameters
    ----------
    angles : (..., 3) array of ``[pitch, yaw, roll]`` in radians (real or complex).

    Returns
    -------
    (..., 3, 3) array ``Rz(roll) @ Ry(yaw) @ Rx(pitch)``.
    """
    xp = array_namespace(angles)
    cp, cy, cr = (xp.cos(angles[..., k]) for k in range(3))
    sp, sy, sr = (xp.sin(angles[..., k]) for k in range(3))
    entries = [
        cr * cy, cr * sy * sp - sr * cp, cr * sy * cp + sr * sp,
        sr * cy, sr * sy * sp + cr * cp, sr * sy * cp - cr * sp,
        -sy, cy * sp, cy * cp,
    ]
    return xp.reshape(xp.stack(entries, axis=-1), (*angles.shape[:-1], 3, 3))


def rotation_matrix_derivatives(angles: Array) -> Array:
    """Derivatives of :func:`rotation_matrix` with respect to pitch, yaw and roll.

    Parameters
    ----------
    angles : (3,) array ``[pitch, yaw, roll]`` in radians.

    Returns
    -------
    (3, 3, 3) array; entry ``[k]`` is ``dR / d angles[k]``.
    """
    xp = array_namespace(angles)
    cp, cy, cr = (xp.cos(angles[k]) for k in range(3))
    sp, sy, sr = (xp.sin(angles[k]) for k in range(3))
    zero = xp.zeros_like(cp)
    d_pitch = [
        zero, cr * sy * cp + sr * sp, -cr * sy * sp + sr * cp,
        zero, sr * sy * cp - cr * sp, -sr * sy * sp - cr * cp,
        zero, cy * cp, -cy * sp,
    ]
    d_yaw = [
        -cr * sy, cr * cy * sp, cr * cy * cp,
        -sr * sy, sr * cy * sp, sr * cy * cp,
        -cy, -sy * sp, -sy * cp,
    ]
    d_roll = [
        -sr * cy, -sr * sy * sp - cr * cp, -sr * sy * cp + cr * sp,
        cr * cy, cr * sy * sp - sr * cp, cr * sy * cp + sr * sp,
        zero, zero, zero,
    ]
    return xp.reshape(xp.stack(d_pitch + d_yaw + d_roll), (3, 3, 3))


def rotation_angles(rotation: Array) -> Array:
    """Euler angles ``[pitch, yaw, roll]`` of rotation matrices; inverse of :func:`rotation_matrix`.

    Yaw is returned in ``[-pi/2, pi/2]``, pitch and roll in ``(-pi, pi]``. At gimbal lock
    (``|yaw| = pi/2``) roll is set to 0 and pitch carries the remaining turn. Not differentiable:
    real input only.

    Parameters
    ----------
    rotation : (..., 3, 3) real array of rotation matrices.

    Returns
    -------
    (..., 3) array.
    """
    xp = array_namespace(rotation)
    r = rotation
    cos_yaw = xp.sqrt(r[..., 0, 0] ** 2 + r[..., 1, 0] ** 2)
    yaw = xp.atan2(-r[..., 2, 0], cos_yaw)
    locked = cos_yaw < 1e3 * xp.finfo(r.dtype).eps
    pitch = xp.where(locked, xp.atan2(-r[..., 1, 2], r[..., 1, 1]),
                     xp.atan2(r[..., 2, 1], r[..., 2, 2]))
    roll = xp.where(locked, xp.zeros_like(yaw), xp.atan2(r[..., 1, 0], r[..., 0, 0]))
    return xp.stack([pitch, yaw, roll], axis=-1)


def cross(a: Array, b: Array) -> Array:
    """Cross product over the last axis, written out (complex-safe, works on every namespace).

    Parameters
    ----------
    a, b : (..., 3) arrays.

    Returns
    -------
    (..., 3) array.
    """
    xp = array_namespace(a, b)
    return xp.stack([
        a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
        a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
        a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0],
    ], axis=-1)


def face_normals(vertices: Array, triangles: Array) -> Array:
    """Unnormalised triangle normals (length = twice the area), counter-clockwise = outward.

    Parameters
    ----------
    vertices : (..., V, 3) array.
    triangles : (T, 3) integer array of vertex indices.

    Returns
    -------
    (..., T, 3) array.
    """
    xp = array_namespace(vertices, triangles)
    corners = [xp.take(vertices, triangles[:, k], axis=-2) for k in range(3)]
    return cross(corners[1] - corners[0], corners[2] - corners[0])


def _edge_keys(triangles: Array, n_vertices: int) -> Array:
    """(3T,) int64 key ``low * V + high`` of each triangle side: equal for the two triangles
    that share an edge."""
    xp = array_namespace(triangles)
    first = xp.concat([triangles[:, 0], triangles[:, 1], triangles[:, 2]])
    second = xp.concat([triangles[:, 1], triangles[:, 2], triangles[:, 0]])
    low, high = xp.minimum(first, second), xp.maximum(first, second)
    return xp.astype(low, xp.int64) * n_vertices + high


def mesh_edges(triangles: Array, n_vertices: int) -> Array:
    """The mesh's undirected edges, each once, (E, 2) int64 (lower id first).

    Parameters
    ----------
    triangles : (T, 3) int array.
    n_vertices : V.
    """
    xp = array_namespace(triangles)
    keys = _sorted_distinct(_edge_keys(triangles, n_vertices))
    return xp.stack([keys // n_vertices, keys % n_vertices], axis=1)


def _sorted_distinct(values: Array) -> Array:
    """``unique_values`` of a 1-D int array, by a sort: NumPy's ``unique`` executes the whole
    of numpy.ma (about 30 ms of a cold fit) to ask whether its input is masked."""
    xp = array_namespace(values)
    ordered = xp.sort(values)
    if ordered.shape[0] < 2:
        return ordered
    first = xp.ones((1,), dtype=xp.bool, device=ordered.device)
    return ordered[xp.concat([first, ordered[1:] != ordered[:-1]])]


def boundary_vertices(triangles: Array, n_vertices: int) -> Array:
    """Vertices on the mesh boundary (on an edge used by exactly one triangle).

    Parameters
    ----------
    triangles : (T, 3) int array.
    n_vertices : V.

    Returns
    -------
    (V,) bool array.
    """
    xp = array_namespace(triangles)
    keys, counts = xp.unique_counts(_edge_keys(triangles, n_vertices))
    lonely = keys[counts == 1]
    ends = xp.concat([lonely // n_vertices, lonely % n_vertices])
    hits = scatter_add(ends, xp.ones(ends.shape, dtype=xp.int64, device=ends.device), n_vertices)
    return hits > 0


def vertex_normals(vertices: Array, triangles: Array) -> Array:
    """Unit vertex normals: the area-weighted sum of the adjacent triangles' normals.

    Complex-step safe: normalised with ``sqrt(sum(n * n))`` (no ``abs``, no ``conj``). A vertex
    in no triangle gets a zero normal.

    Parameters
    ----------
    vertices : (..., V, 3) array (any leading batch axes).
    triangles : (T, 3) integer array of vertex indices.

    Returns
    -------
    (..., V, 3) array.
    """
    xp = array_namespace(vertices, triangles)
    batch_shape = vertices.shape[:-2]
    n_vertices = vertices.shape[-2]
    normals = face_normals(vertices, triangles)  # (..., T, 3)
    # Scatter over the vertex axis: move it first, flatten any batch axes behind it.
    per_triangle = xp.reshape(normals, (-1, normals.shape[-2], 3))  # (B, T, 3)
    per_triangle = xp.permute_dims(per_triangle, (1, 0, 2))  # (T, B, 3)
    values = xp.concat([per_triangle] * 3, axis=0)  # (3T, B, 3)
    index = xp.concat([triangles[:, 0], triangles[:, 1], triangles[:, 2]], axis=0)
    summed = scatter_add(index, values, n_vertices)  # (V, B, 3)
    summed = xp.reshape(xp.permute_dims(summed, (1, 0, 2)), (*batch_shape, n_vertices, 3))
    squared = xp.sum(summed * summed, axis=-1, keepdims=True)
    # Unit normals; isolated vertices (squared length exactly 0) keep a zero normal.
    empty = real_part(squared, xp) == 0
    length = xp.sqrt(xp.where(empty, xp.ones_like(squared), squared))
    return summed / length


def ring_average(values: Array, triangles: Array, rounds: int) -> Array:
    """``rounds`` passes of averaging (V, C) ``values`` over each vertex's triangle fan (a vertex
    in no triangle keeps its value); ``rounds`` = 0 returns ``values``."""
    xp = array_namespace(values, triangles)
    n_vertices = values.shape[0]
    corners = xp.reshape(triangles, (-1,))
    ones = xp.ones((corners.shape[0],), dtype=values.dtype, device=values.device)
    count = scatter_add(corners, ones, n_vertices)[:, None]
    for _ in range(rounds):
        per_triangle = (xp.take(values, triangles[:, 0], axis=0)
                        + xp.take(values, triangles[:, 1], axis=0)
                        + xp.take(values, triangles[:, 2], axis=0)) / 3
        per_corner = xp.reshape(xp.stack([per_triangle] * 3, axis=1), (-1, values.shape[1]))
        fan = scatter_add(corners, per_corner, n_vertices)
        values = xp.where(count > 0, fan / xp.where(count > 0, count, xp.ones_like(count)),
                          values)
    return values


def weighted_ring_average(values: Array, weight: Array, triangles: Array, rounds: int,
                          fallback: Array, floor: float = 1e-3) -> Array:
    """(V, C) ``values`` (V, C) averaged over ``rounds`` rings in proportion to ``weight``
    (V, 1): the :func:`ring_average` of ``weight * values`` over that of ``weight``, so known
    values spread to where they are not known; ``fallback`` (broadcast to (V, C)) where the
    spread weight is at most ``floor`` (no weighted vertex within reach)."""
    xp = array_namespace(values, weight, triangles)
    spread = ring_average(xp.concat([weight * values, weight], axis=1), triangles, rounds)
    total = spread[:, -1:]
    reached = total > floor
    averaged = spread[:, :-1] / xp.where(reached, total, xp.ones_like(total))
    return xp.where(reached, averaged, fallback)

