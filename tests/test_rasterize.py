"""Rasterization, interpolation and compositing on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis.extra import numpy as hnp

from facefit.backends import to_numpy
from facefit.errors import FacefitError
from facefit.render import interpolate, rasterize

from .conftest import assert_close, floats


def _reference_triangle(corners, z, size):
    """Per-pixel loop: barycentrics by solving a 2x2 system at every pixel centre."""
    height, width = size
    mask = np.zeros(size, bool)
    bary = np.zeros((*size, 3))
    depth = np.full(size, np.nan)
    edge_margin = np.zeros(size)
    m = np.array([[corners[1, 0] - corners[0, 0], corners[2, 0] - corners[0, 0]],
                  [corners[1, 1] - corners[0, 1], corners[2, 1] - corners[0, 1]]])
    for y in range(height):
        for x in range(width):
            w12 = np.linalg.solve(m, np.array([x, y]) - corners[0])
            w = np.array([1 - w12.sum(), *w12])
            edge_margin[y, x] = w.min()
            if w.min() >= 0:
                mask[y, x] = True
                bary[y, x] = w
                depth[y, x] = w @ z
    return mask, bary, depth, edge_margin


triangle_corners = hnp.arrays(np.float64, (3, 2), elements=floats(-4, 20))


@given(corners=triangle_corners, z=hnp.arrays(np.float64, 3, elements=floats(-5, 5)))
def test_single_triangle_matches_per_pixel_reference(backend, corners, z):
    (ax, ay), (bx, by) = corners[1] - corners[0], corners[2] - corners[0]
    area = ax * by - ay * bx  # twice the signed area
    assume(abs(area) > 1.0)
    if area > 0:  # make it front-facing (clockwise in the y-down image)
        corners = corners[[0, 2, 1]]
        z = z[[0, 2, 1]]
    size = (16, 18)
    mask, bary, depth, margin = _reference_triangle(corners, z, size)
    raster = rasterize(backend.asarray(corners), backend.asarray(z),
                       backend.asarray(np.array([[0, 1, 2]])), size)
    got_mask = to_numpy(raster.mask())
    clear = np.abs(margin) > 1e-4  # pixel centres not on an edge
    np.testing.assert_array_equal(got_mask[clear], mask[clear])
    both = got_mask & mask
    assert_close(to_numpy(raster.barycentric_image())[both], bary[both], dtype=backend.dtype_name,
                 scale=1.0, atol_scale=100)
    assert_close(to_numpy(raster.depth_image())[both], depth[both], dtype=backend.dtype_name,
                 scale=5.0, atol_scale=100)
    assert np.all(np.isnan(to_numpy(raster.depth_image())[~got_mask]))
    assert np.all(to_numpy(raster.triangle_image())[~got_mask] == -1)


def _square(z_first=0.0, z_second=0.0):
    points = np.array([[1.0, 1], [1, 9], [9, 9], [9, 1]])
    triangles = np.array([[0, 1, 2], [0, 2, 3]])  # clockwise in the image: front-facing
    depth = np.array([z_first, z_first, z_second, z_second])
    return points, depth, triangles


def test_shared_edge_is_watertight_and_deterministic(backend):
    points, depth, triangles = _square()
    raster = rasterize(*(backend.asarray(a) for a in (points, depth, triangles)), (11, 11))
    ids = to_numpy(raster.triangle_image())
    assert to_numpy(raster.mask()).sum() == 81  # 9 x 9 pixel centres in [1, 9]^2, each once
    diagonal = [ids[k, k] for k in range(1, 10)]
    assert diagonal == [0] * 9  # centres on the shared diagonal go to the smaller triangle id
    assert len(np.unique(to_numpy(raster.pixels))) == to_numpy(raster.pixels).shape[0]


def test_z_buffer_keeps_the_nearest_surface(backend):
    square = np.array([[0.0, 0], [0, 10], [10, 10], [10, 0]])
    points = np.concatenate([square, square])
    triangles = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    for near_first in (True, False):
        depth = np.array([5.0] * 4 + [1.0] * 4) if near_first else np.array([1.0] * 4 + [5.0] * 4)
        raster = rasterize(*(backend.asarray(a) for a in (points, depth, triangles)), (12, 12))
        ids = to_numpy(raster.triangle_image())[to_numpy(raster.mask())]
        assert set(ids.tolist()) == ({0, 1} if near_first else {2, 3})
        assert np.allclose(to_numpy(raster.depth)[:], 5.0)


def test_depth_at_reads_the_depth_image(backend):
    """Rasterization.depth_at (the visibility test's read of a few pixels) gives the values
    of depth_image at those pixels, the background where uncovered, batched or not, and with
    nothing covered."""
    from facefit.render.rasterize import Rasterization

    rng = np.random.default_rng(3)
    points = rng.uniform(-3, 15, size=(2, 9, 2))
    depth = rng.uniform(-2, 2, size=(2, 9))
    triangles = backend.asarray(rng.integers(0, 9, size=(12, 3)))
    for pts, z in ((points[0], depth[0]), (points, depth), (points[0] - 100, depth[0])):
        raster = rasterize(backend.asarray(pts), backend.asarray(z), triangles, (12, 13),
                           cull_back=False)
        image = to_numpy(raster.depth_image(-np.inf)).reshape(-1)
        ids = rng.integers(0, image.size, size=(4, 30))
        got = to_numpy(raster.depth_at(backend.asarray(ids), -np.inf))
        assert got.shape == ids.shape and got.tobytes() == image[ids].tobytes()
        derived = Rasterization(raster.size, raster.batch, raster.pixels, raster.triangles,
                                raster.barycentrics, raster.depth, raster.batched_input)
        assert to_numpy(derived.depth_at(backend.asarray(ids), -np.inf)).tobytes() == \
            image[ids].tobytes()


def test_back_faces_are_culled_unless_asked(backend):
    points, depth, triangles = _square()
    reversed_tris = backend.asarray(triangles[:, ::-1].copy())
    pts, z = backend.asarray(points), backend.asarray(depth)
    assert to_numpy(rasterize(pts, z, reversed_tris, (11, 11)).mask()).sum() == 0
    assert to_numpy(rasterize(pts, z, reversed_tris, (11, 11), cull_back=False).mask()).sum() == 81


def test_off_screen_and_degenerate_triangles_give_no_pixels(backend):
    points = np.array([[-50.0, -50], [-50, -40], [-40, -40], [3, 3], [4, 4], [5, 5]])
    raster = rasterize(backend.asarray(points), backend.asarray(np.zeros(6)),
                       backend.asarray(np.array([[0, 1, 2], [3, 4, 5]])), (8, 8))
    assert raster.pixels.shape == (0,)
    assert not to_numpy(raster.mask()).any()


@given(points=hnp.arrays(np.float64, (2, 4, 2), elements=floats(-2, 14)),
       depth=hnp.arrays(np.float64, (2, 4), elements=floats(-3, 3)))
def test_batch_equals_one_at_a_time(backend, points, depth):
    triangles = backend.asarray(np.array([[0, 1, 2], [0, 2, 3], [1, 3, 2]]))
    batch = rasterize(backend.asarray(points), backend.asarray(depth), triangles, (12, 12),
                      cull_back=False)
    assert to_numpy(batch.mask()).shape == (2, 12, 12)
    for k in range(2):
        single = rasterize(backend.asarray(points[k]), backend.asarray(depth[k]), triangles,
                           (12, 12), cull_back=False)
        np.testing.assert_array_equal(to_numpy(batch.mask())[k], to_numpy(single.mask()))
        np.testing.assert_array_equal(to_numpy(batch.triangle_image())[k],
                                      to_numpy(single.triangle_image()))


@given(points=hnp.arrays(np.float64, (6, 2), elements=floats(-2, 20)),
       coeffs=hnp.arrays(np.float64, (3, 2), elements=floats(-2, 2)))
def test_interpolation_reproduces_linear_functions(backend, points, coeffs):
    # A per-vertex attribute that is affine in image position interpolates to the same affine
    # function of the pixel centre: barycentric interpolation is exact for it.
    triangles = np.array([[0, 1, 2], [3, 4, 5], [0, 4, 2]])
    attr = points @ coeffs[:2] + coeffs[2]  # (6, 2)
    raster = rasterize(backend.asarray(points), backend.asarray(np.zeros(6)),
                       backend.asarray(triangles), (22, 22), cull_back=False)
    values = interpolate(backend.asarray(attr), backend.asarray(triangles), raster)
    pixels = to_numpy(raster.pixels)
    centres = np.stack([pixels % 22, pixels // 22], axis=1).astype(float)
    assert_close(values, centres @ coeffs[:2] + coeffs[2], dtype=backend.dtype_name, scale=60.0,
                 atol_scale=1e3)


def test_to_image_composites_over_a_background(backend):
    points, depth, triangles = _square()
    raster = rasterize(*(backend.asarray(a) for a in (points, depth, triangles)), (11, 11))
    colours = interpolate(backend.asarray(np.full((4, 3), 0.25)), backend.asarray(triangles),
                          raster)
    background = np.random.default_rng(0).random((11, 11, 3))
    image = to_numpy(raster.to_image(colours, backend.asarray(background)))
    mask = to_numpy(raster.mask())
    assert_close(image[mask], np.full((81, 3), 0.25), dtype=backend.dtype_name)
    assert_close(image[~mask], background[~mask], dtype=backend.dtype_name)
    black = to_numpy(raster.to_image(colours))
    assert np.all(black[~mask] == 0)


def test_bad_arguments_raise_facefit_error(backend):
    points, depth, triangles = _square()
    with pytest.raises(FacefitError, match="size"):
        rasterize(backend.asarray(points), backend.asarray(depth), backend.asarray(triangles),
                  (0, 5))
    with pytest.raises(FacefitError, match="triangles"):
        rasterize(backend.asarray(points), backend.asarray(depth),
                  backend.asarray(np.zeros((2, 4), dtype=np.int64)), (5, 5))


def test_backends_agree_on_a_random_mesh(backend):
    rng = np.random.default_rng(7)
    points = rng.uniform(0, 40, (60, 2))
    depth = rng.uniform(-10, 10, 60)
    triangles = rng.integers(0, 60, (80, 3))
    reference = rasterize(points, depth, triangles, (40, 40), cull_back=False)  # numpy float64
    got = rasterize(backend.asarray(points), backend.asarray(depth), backend.asarray(triangles),
                    (40, 40), cull_back=False)
    ref_ids, got_ids = to_numpy(reference.triangle_image()), to_numpy(got.triangle_image())
    agree = ref_ids == got_ids
    # all but edge/depth-tie pixels agree; float32 moves a few more edge pixels
    assert agree.mean() > (0.999 if backend.dtype_name == "float64" else 0.98)
    same = agree & (ref_ids >= 0)
    assert_close(to_numpy(got.depth_image())[same], to_numpy(reference.depth_image())[same],
                 dtype=backend.dtype_name, scale=10.0, atol_scale=1e3)
