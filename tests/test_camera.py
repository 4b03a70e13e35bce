"""The weak-perspective camera on every backend."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis.extra import numpy as hnp
from scipy.spatial.transform import Rotation

from facefit.backends import to_numpy
from facefit.camera import project, rotate, weak_perspective
from facefit.geometry import rotation_matrix as _rotation

from .conftest import assert_close, floats

points = hnp.arrays(np.float64, (6, 3), elements=floats(-100, 100))
angles = hnp.arrays(np.float64, 3, elements=floats(-3, 3))


@given(vertices=points, rot=angles, scale=floats(0.01, 10),
       tx=floats(-500, 500), ty=floats(-500, 500))
def test_weak_perspective_matches_reference(backend, vertices, rot, scale, tx, ty):
    rotated = vertices @ Rotation.from_euler("ZYX", rot[::-1]).as_matrix().T
    expected_points = np.stack([scale * rotated[:, 0] + tx, ty - scale * rotated[:, 1]], axis=1)
    expected_depth = scale * rotated[:, 2]
    got_points, got_depth = weak_perspective(
        backend.asarray(vertices), backend.asarray(rot), backend.asarray(scale),
        backend.asarray([tx, ty]))
    assert got_points.shape == (6, 2) and got_depth.shape == (6,)
    assert_close(got_points, expected_points, dtype=backend.dtype_name)
    assert_close(got_depth, expected_depth, dtype=backend.dtype_name, atol_scale=10.0)


def test_projection_flips_y_and_depth_grows_toward_camera(backend):
    vertices = backend.asarray(np.array([[0, 1.0, 0], [1.0, 0, 0], [0, 0, 1.0]]))
    pts, depth = weak_perspective(vertices, backend.asarray([0.0, 0, 0]), 2.0,
                                  backend.asarray([10.0, 20.0]))
    assert_close(pts, [[10, 18], [12, 20], [10, 20]], dtype=backend.dtype_name)
    assert_close(depth, [0, 0, 2.0], dtype=backend.dtype_name)


@given(vertices=hnp.arrays(np.float64, (2, 4, 3), elements=floats(-5, 5)),
       rot=hnp.arrays(np.float64, (2, 3), elements=floats(-3, 3)),
       scale=hnp.arrays(np.float64, 2, elements=floats(0.1, 5)),
       shift=hnp.arrays(np.float64, (2, 2), elements=floats(-50, 50)))
def test_batch_axis_equals_one_at_a_time(backend, vertices, rot, scale, shift):
    batch = weak_perspective(*(backend.asarray(a) for a in (vertices, rot, scale, shift)))
    for k in range(2):
        single = weak_perspective(*(backend.asarray(a[k]) for a in (vertices, rot, scale, shift)))
        assert_close(to_numpy(batch[0])[k], single[0], dtype=backend.dtype_name)
        assert_close(to_numpy(batch[1])[k], single[1], dtype=backend.dtype_name, atol_scale=10)


@given(vertices=points, rot=angles)
def test_projection_jacobian_strategies_agree(backend64, vertices, rot):
    xp = backend64.xp
    base = backend64.asarray(vertices)

    def fun(x):
        pts, depth = project(rotate(base, _rotation(x[:3])), x[3], x[4:6])
        return xp.concat([xp.reshape(pts, (-1,)), depth])

    x = backend64.asarray(np.concatenate([rot, [1.5, 3.0, -2.0]]))
    reference = backend64.jacobian(fun, x, "complex-step")
    h = 1e-6
    fd = np.stack([(to_numpy(fun(x + backend64.asarray(h * e))) -
                    to_numpy(fun(x - backend64.asarray(h * e)))) / (2 * h)
                   for e in np.eye(6)], axis=1)
    np.testing.assert_allclose(to_numpy(reference), fd, atol=1e-5 * max(1.0, np.abs(fd).max()))
    for strategy in backend64.jacobian_strategies:
        assert_close(backend64.jacobian(fun, x, strategy), reference)
