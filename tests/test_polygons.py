"""Plane polygons (polygons.py): the convex hull, the inside test, and lines crossing one."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from facefit.backends import to_numpy
from facefit.polygons import convex_hull, inside_hull, line_crossings

from .conftest import assert_close

coordinates = st.floats(-100.0, 100.0, allow_nan=False, width=64)


def _area(polygon):
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, (12, 2), elements=coordinates),
       arrays(np.float64, (20, 2), elements=coordinates))
def test_inside_hull_is_where_the_point_adds_no_area(corners, points):
    hull = convex_hull(corners)
    if len(hull) < 3 or _area(hull) < 1.0:
        return
    inside = inside_hull(points, hull)  # a point on an edge, to rounding, counts as inside
    assert (inside_hull(points, hull[::-1]) == inside).all()  # either winding
    for point, verdict in zip(points, inside, strict=True):
        # The fan of triangles from the point to the edges covers exactly the hull's area when
        # the point is inside it, more when outside.
        fan = sum(_area(np.array([point, a, b]))
                  for a, b in zip(hull, np.roll(hull, -1, axis=0), strict=True))
        grown = fan - _area(hull)
        if abs(grown) > 1e-6 * (1.0 + _area(hull)):
            assert not verdict
        elif grown < 1e-9:
            assert verdict


def test_inside_hull_of_a_square():
    square = convex_hull(np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0], [1.0, 1.0]]))
    points = np.array([[1.0, 1.0], [0.0, 1.0], [2.0, 2.0], [2.1, 1.0], [-1e-12, 1.0],
                       [np.nan, 1.0]])
    np.testing.assert_array_equal(inside_hull(points, square),
                                  [True, True, True, False, True, False])
    assert not inside_hull(points[3:5], square, tolerance=0.0).any()


@settings(max_examples=20, deadline=None)
@given(arrays(np.float64, (10, 2), elements=coordinates), st.floats(0.0, 2 * np.pi))
def test_a_line_through_a_convex_polygon_leaves_it_once_either_way(backend, corners, angle):
    # From a point inside, a line meets a convex polygon's outline once ahead (t > 0) and once
    # behind; each crossing is where both the line and the edge say it is.
    hull = convex_hull(corners)
    if len(hull) < 3 or _area(hull) < 1.0:
        return
    origin = hull.mean(axis=0)[None, :]
    direction = np.array([[np.cos(angle), np.sin(angle)]])
    t, u, crossing = (to_numpy(a) for a in line_crossings(
        backend.asarray(origin), backend.asarray(direction), backend.asarray(hull)))
    assert t.shape == u.shape == crossing.shape == (1, len(hull))
    t, u, hits = t[0].astype(np.float64), u[0].astype(np.float64), crossing[0]
    edge = np.roll(hull, -1, axis=0) - hull
    assert_close((origin + t[:, None] * direction)[hits], (hull + u[:, None] * edge)[hits],
                 dtype=backend.dtype_name, rtol=1e-9 if backend.dtype_name == "float64"
                 else 1e-4, scale=100.0)
    if backend.dtype_name == "float64":  # float32 may miss a corner between its two edges
        for side in (t > 0, t < 0):
            found = np.sort(np.abs(t[hits & side]))
            # one point: through a corner, both edges that meet there cross at the same t
            assert len(found) >= 1 and found[-1] - found[0] <= 1e-9 * (1 + found[-1])
