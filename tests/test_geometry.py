"""Rotations, cross products and normals on every backend, against NumPy/SciPy references."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial.transform import Rotation

from facefit.backends import to_numpy
from facefit.geometry import (
    boundary_vertices,
    cross,
    face_normals,
    ring_average,
    rotation_angles,
    rotation_matrix,
    rotation_matrix_derivatives,
    vertex_normals,
    weighted_ring_average,
)

from .conftest import assert_close, floats

angle = floats(-3.0, 3.0)
angles_arrays = hnp.arrays(np.float64, st.integers(1, 4).map(lambda n: (n, 3)), elements=angle)


@given(angles=angles_arrays)
def test_rotation_matrix_matches_scipy_intrinsic_zyx(backend, angles):
    # R = Rz(roll) Ry(yaw) Rx(pitch) is scipy's intrinsic "ZYX" with angles (roll, yaw, pitch).
    expected = Rotation.from_euler("ZYX", angles[:, ::-1]).as_matrix()
    got = rotation_matrix(backend.asarray(angles))
    assert got.shape == (angles.shape[0], 3, 3)
    assert_close(got, expected, dtype=backend.dtype_name)


@given(pitch=angle, yaw=floats(-1.5, 1.5), roll=angle)
def test_rotation_angles_inverts_rotation_matrix(backend, pitch, yaw, roll):
    angles = np.array([pitch, yaw, roll])
    back = to_numpy(rotation_angles(rotation_matrix(backend.asarray(angles))))
    tol = 1e-9 if backend.dtype_name == "float64" else 2e-3
    np.testing.assert_allclose(back, angles, atol=tol)


@given(pitch=angle, roll=angle, sign=st.sampled_from([-1.0, 1.0]))
def test_rotation_angles_at_gimbal_lock_reproduce_the_matrix(backend, pitch, roll, sign):
    matrix = rotation_matrix(backend.asarray([pitch, sign * np.pi / 2, roll]))
    again = rotation_matrix(rotation_angles(matrix))
    tol = 1e-9 if backend.dtype_name == "float64" else 1e-3
    np.testing.assert_allclose(to_numpy(again), to_numpy(matrix), atol=tol)


vectors = hnp.arrays(np.float64, (5, 3), elements=floats(-10, 10))


@given(a=vectors, b=vectors)
def test_cross_matches_numpy(backend, a, b):
    assert_close(cross(backend.asarray(a), backend.asarray(b)), np.cross(a, b),
                 dtype=backend.dtype_name, atol_scale=10.0)


def _reference_vertex_normals(vertices, triangles):
    normals = np.zeros_like(vertices)
    for tri in triangles:
        v0, v1, v2 = vertices[tri]
        n = np.cross(v1 - v0, v2 - v0)
        for k in tri:
            normals[k] += n
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


def _grid_mesh(rng, bumps):
    """A bumpy height field: a real, non-degenerate mesh with shared vertices."""
    n = 5
    xs, ys = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float))
    zs = bumps.reshape(n, n)
    vertices = np.stack([xs.ravel(), ys.ravel(), zs.ravel()], axis=1)
    tris = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, d, e = r * n + c, r * n + c + 1, (r + 1) * n + c, (r + 1) * n + c + 1
            tris += [[a, b, e], [a, e, d]]
    return vertices, np.array(tris)


@given(bumps=hnp.arrays(np.float64, 25, elements=floats(-1, 1)))
def test_vertex_normals_match_loop_reference(backend, bumps):
    vertices, triangles = _grid_mesh(None, bumps)
    expected = _reference_vertex_normals(vertices, triangles)
    got = vertex_normals(backend.asarray(vertices), backend.asarray(triangles))
    assert_close(got, expected, dtype=backend.dtype_name, rtol=1e-9 if
                 backend.dtype_name == "float64" else 1e-4)
    # counter-clockwise triangles seen from +z have normals toward +z
    flat = vertex_normals(backend.asarray(vertices * [1, 1, 0]), backend.asarray(triangles))
    assert np.all(to_numpy(flat)[:, 2] > 0.99)


@given(bumps=hnp.arrays(np.float64, (2, 25), elements=floats(-1, 1)))
def test_vertex_normals_batch_axis(backend, bumps):
    meshes = [_grid_mesh(None, b) for b in bumps]
    triangles = meshes[0][1]
    stacked = np.stack([m[0] for m in meshes])
    got = vertex_normals(backend.asarray(stacked), backend.asarray(triangles))
    assert got.shape == (2, 25, 3)
    for k in range(2):
        assert_close(to_numpy(got)[k], vertex_normals(backend.asarray(stacked[k]),
                     backend.asarray(triangles)), dtype=backend.dtype_name)


def test_isolated_vertex_gets_zero_normal(backend):
    vertices = backend.asarray(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 5, 5.0]]))
    normals = to_numpy(vertex_normals(vertices, backend.asarray(np.array([[0, 1, 2]]))))
    assert np.all(np.isfinite(normals))
    np.testing.assert_array_equal(normals[3], 0.0)
    np.testing.assert_allclose(normals[:3], [[0, 0, 1]] * 3)


@given(bumps=hnp.arrays(np.float64, 25, elements=floats(-1, 1)),
       direction=hnp.arrays(np.float64, (25, 3), elements=floats(-1, 1)))
def test_complex_step_through_vertex_normals_matches_finite_differences(backend64, bumps,
                                                                        direction):
    vertices, triangles = _grid_mesh(None, bumps)
    tri = backend64.asarray(triangles)
    base = backend64.asarray(vertices)
    dirs = backend64.asarray(direction)

    def fun(t):  # normals along a line through the vertex positions
        return backend64.xp.reshape(vertex_normals(base + t[0] * dirs, tri), (-1,))

    jac = to_numpy(backend64.jacobian(fun, backend64.asarray([0.0]), "complex-step"))[:, 0]
    h = 1e-6
    plus = _reference_vertex_normals(vertices + h * direction, triangles).ravel()
    minus = _reference_vertex_normals(vertices - h * direction, triangles).ravel()
    np.testing.assert_allclose(jac, (plus - minus) / (2 * h), atol=1e-6 * max(1, np.abs(jac).max()))


def test_face_normals_are_twice_the_area(backend):
    vertices = backend.asarray(np.array([[0, 0, 0], [2, 0, 0], [0, 3, 0.0]]))
    normals = face_normals(vertices, backend.asarray(np.array([[0, 1, 2]])))
    assert_close(normals, [[0, 0, 6.0]], dtype=backend.dtype_name)


@given(angles=hnp.arrays(np.float64, 3, elements=angle))
def test_rotation_derivatives_match_every_jacobian_strategy(backend64, angles):
    xp = backend64.xp
    x = backend64.asarray(angles)
    expected = to_numpy(rotation_matrix_derivatives(x)).reshape(3, 9).T  # (9, 3)
    for strategy in backend64.jacobian_strategies:
        jac = backend64.jacobian(lambda a: xp.reshape(rotation_matrix(a), (-1,)), x, strategy)
        assert_close(jac, expected, scale=1.0)


def test_rotation_derivatives_in_float32(backend):
    angles = np.array([0.3, -0.7, 1.1])
    h = 1e-6
    fd = np.stack([(Rotation.from_euler("ZYX", (angles + h * e)[::-1]).as_matrix()
                    - Rotation.from_euler("ZYX", (angles - h * e)[::-1]).as_matrix()) / (2 * h)
                   for e in np.eye(3)])
    assert_close(rotation_matrix_derivatives(backend.asarray(angles)), fd,
                 dtype=backend.dtype_name, rtol=1e-5 if backend.dtype_name == "float32" else 1e-8,
                 scale=1.0)


def test_boundary_vertices_of_a_grid_are_its_rim(backend):
    _, triangles = _grid_mesh(None, np.zeros(25))
    rim = to_numpy(boundary_vertices(backend.asarray(triangles), 25)).reshape(5, 5)
    expected = np.ones((5, 5), bool)
    expected[1:-1, 1:-1] = False
    np.testing.assert_array_equal(rim, expected)


def test_ring_average_averages_over_triangle_fans(backend):
    """One round replaces each vertex's value by the mean of its triangles' means (weighted by
    how many triangles it is in); a vertex in no triangle keeps its value; 0 rounds is the
    identity; many rounds converge to one value on a connected mesh."""
    triangles = np.array([[0, 1, 2], [1, 3, 2]])
    values = np.array([[3.0], [0.0], [0.0], [6.0], [9.0]])  # vertex 4 is in no triangle
    xp_values, xp_triangles = backend.asarray(values), backend.asarray(triangles)
    once = to_numpy(ring_average(xp_values, xp_triangles, 1))[:, 0]
    expected = [1.0, (1.0 + 2.0) / 2, (1.0 + 2.0) / 2, 2.0, 9.0]
    assert_close(once, expected, dtype=backend.dtype_name)
    assert_close(ring_average(xp_values, xp_triangles, 0), values, dtype=backend.dtype_name)
    many = to_numpy(ring_average(xp_values, xp_triangles, 200))[:, 0]
    assert np.ptp(many[:4]) < 1e-3 and many[4] == 9.0


def test_weighted_ring_average_spreads_known_values_and_falls_back_elsewhere(backend):
    """Values known at weighted vertices spread to unweighted ones as the ratio of ring
    averages; a vertex no weight reaches (here one in no triangle) takes the fallback; with all
    weights equal it is the plain ring average."""
    triangles = np.array([[0, 1, 2], [1, 3, 2]])
    values = np.array([[2.0, 4.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [5.0, 5.0]])
    weight = np.array([[1.0], [0.0], [0.0], [0.0], [0.0]])
    fallback = np.array([[-1.0, -2.0]])
    xp_triangles = backend.asarray(triangles)
    spread = to_numpy(weighted_ring_average(backend.asarray(values), backend.asarray(weight),
                                            xp_triangles, 2, backend.asarray(fallback)))
    assert_close(spread[:4], np.tile([2.0, 4.0], (4, 1)), dtype=backend.dtype_name)
    assert_close(spread[4], [-1.0, -2.0], dtype=backend.dtype_name)
    ones = backend.asarray(np.ones((5, 1)))
    plain = weighted_ring_average(backend.asarray(values), ones, xp_triangles, 1,
                                  backend.asarray(fallback))
    assert_close(plain, ring_average(backend.asarray(values), xp_triangles, 1),
                 dtype=backend.dtype_name)
