"""Host-side plane polygons (polygons.py): the convex hull and the inside test."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from facefit.polygons import convex_hull, inside_hull

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
