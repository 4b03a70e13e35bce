"""Bilinear sampling on every backend, against scipy.ndimage and complex step."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

from facefit.backends import to_numpy
from facefit.sampling import bilinear_sample

from .conftest import assert_close, floats

images = st.tuples(st.integers(2, 7), st.integers(2, 7)).flatmap(
    lambda hw: hnp.arrays(np.float64, (*hw, 3), elements=floats(0, 1)))
coords = hnp.arrays(np.float64, (12, 2), elements=floats(-3, 10))


def _reference(image, points):
    """scipy's order-1 spline with edge replication: an independent bilinear sampler."""
    rows = np.clip(points[:, 1], 0, image.shape[0] - 1)
    cols = np.clip(points[:, 0], 0, image.shape[1] - 1)
    return np.stack([ndimage.map_coordinates(image[..., c], [rows, cols], order=1, mode="nearest")
                     for c in range(image.shape[2])], axis=-1)


@given(image=images, points=coords)
def test_matches_scipy_map_coordinates(backend, image, points):
    got = bilinear_sample(backend.asarray(image), backend.asarray(points))
    assert got.shape == (12, 3)
    assert_close(got, _reference(image, points), dtype=backend.dtype_name, atol_scale=2.0,
                 scale=float(np.abs(image).max()))


def test_integer_points_hit_pixel_centres(backend):
    image = np.arange(2 * 3 * 3, dtype=float).reshape(2, 3, 3) / 20
    pts = np.array([[0, 0], [2, 1], [1, 0]], dtype=float)  # (x, y)
    got = bilinear_sample(backend.asarray(image), backend.asarray(pts))
    assert_close(got, image[[0, 1, 0], [0, 2, 1]], dtype=backend.dtype_name)


@given(image=images, points=coords)
def test_batch_shape_is_kept(backend, image, points):
    got = bilinear_sample(backend.asarray(image), backend.asarray(points.reshape(3, 4, 2)))
    assert got.shape == (3, 4, 3)
    assert_close(to_numpy(got).reshape(12, 3), _reference(image, points),
                 dtype=backend.dtype_name, atol_scale=2.0,
                 scale=float(np.abs(image).max()))


@given(image=images, points=coords)
def test_gradient_equals_complex_step(backend64, image, points):
    xp = backend64.xp
    img = backend64.asarray(image)
    _, gradient = bilinear_sample(img, backend64.asarray(points), return_gradient=True)
    assert gradient.shape == (12, 3, 2)
    for axis in range(2):
        def fun(t, axis=axis):
            shift = xp.stack([t[0] * (1 - axis), t[0] * axis])
            return xp.reshape(bilinear_sample(img, backend64.asarray(points) + shift), (-1,))

        column = backend64.jacobian(fun, backend64.asarray([0.0]), "complex-step")[:, 0]
        assert_close(column, xp.reshape(gradient[..., axis], (-1,)))


def test_gradient_is_zero_outside_and_matches_finite_differences_inside(backend64):
    rng = np.random.default_rng(1)
    image = rng.random((6, 8, 3))
    img = backend64.asarray(image)
    inside = np.array([[2.3, 3.6], [0.2, 4.9], [6.5, 0.5]])
    _, grad = bilinear_sample(img, backend64.asarray(inside), return_gradient=True)
    h = 1e-6
    for axis in range(2):
        step = np.zeros(2)
        step[axis] = h
        plus = to_numpy(bilinear_sample(img, backend64.asarray(inside + step)))
        minus = to_numpy(bilinear_sample(img, backend64.asarray(inside - step)))
        np.testing.assert_allclose(to_numpy(grad)[..., axis], (plus - minus) / (2 * h), atol=1e-7)
    _, outside = bilinear_sample(img, backend64.asarray([[-2.0, 3.0], [3.0, 9.5]]),
                                 return_gradient=True)
    assert np.all(to_numpy(outside)[0, :, 0] == 0) and np.all(to_numpy(outside)[1, :, 1] == 0)
