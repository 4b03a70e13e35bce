"""The native (C) rasterizer against the array-API one it replaces: bit-identical results.

The numpy and torch CPU backends rasterize with ``backends/_native/raster.c`` when it is built;
``FACEFIT_NATIVE_RASTER=0`` forces the array-API path, which stays the oracle (and is what
array-api-strict and CuPy run). Other backends have no kernel, so these tests skip there.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from facefit.backends import to_numpy
from facefit.render import interpolate, rasterize
from facefit.render.interpolate import interpolate_image

from .conftest import floats


def _numpy_kernel_built() -> bool:
    from facefit.backends import _numpy

    return _numpy._raster is not None


@pytest.fixture
def native_backend(backend):
    if backend.name not in ("numpy", "torch") or str(backend.device) != "cpu":
        pytest.skip(f"no native rasterizer for {backend.name} on {backend.device}")
    if not _numpy_kernel_built():
        pytest.skip("the C extension was not built (no compiler at install time)")
    return backend


def test_the_extension_is_built_where_ci_requires_it():
    """CI sets FACEFIT_REQUIRE_NATIVE=1: a silently failed optional build must not pass."""
    if os.environ.get("FACEFIT_REQUIRE_NATIVE") != "1":
        pytest.skip("FACEFIT_REQUIRE_NATIVE is not set")
    assert _numpy_kernel_built()
    from facefit.backends import _numpy

    assert _numpy._batched is not None


def _both_paths(monkeypatch, fn):
    native = fn()
    monkeypatch.setenv("FACEFIT_NATIVE_RASTER", "0")
    fallback = fn()
    monkeypatch.delenv("FACEFIT_NATIVE_RASTER")
    return native, fallback


def _mesh(rng, n_points, n_tri, spread):
    points = rng.uniform(-3, spread, size=(n_points, 2))
    depth = rng.normal(size=n_points)
    triangles = np.array([rng.choice(n_points, 3, replace=False) for _ in range(n_tri)])
    return points, depth, triangles


@settings(max_examples=25)
@given(seed=st.integers(0, 2**31 - 1), batch=st.sampled_from([0, 1, 3]),
       quantized=st.booleans())
def test_native_rasterizer_is_bit_identical_to_the_array_api_one(native_backend, monkeypatch,
                                                                 seed, batch, quantized):
    rng = np.random.default_rng(seed)
    points, depth, triangles = _mesh(rng, 12, 20, 30)
    if quantized:  # corners on the half-pixel lattice: many centres exactly on shared edges
        points = np.round(points * 2) / 2
        depth = np.round(depth)
    if batch:
        points = np.stack([points + rng.normal(size=2) for _ in range(batch)])
        depth = np.stack([depth] * batch)
    be = native_backend
    args = (be.asarray(points), be.asarray(depth), be.asarray(triangles), (24, 28))
    for cull in (True, False):
        native, fallback = _both_paths(monkeypatch, lambda c=cull: rasterize(*args, cull_back=c))
        for name in ("pixels", "triangles", "barycentrics", "depth"):
            np.testing.assert_array_equal(to_numpy(getattr(native, name)),
                                          to_numpy(getattr(fallback, name)), err_msg=name)
        assert native.pixel_rows is not None and fallback.pixel_rows is None
        np.testing.assert_array_equal(to_numpy(native.mask()), to_numpy(fallback.mask()))
        np.testing.assert_array_equal(to_numpy(native.triangle_image()),
                                      to_numpy(fallback.triangle_image()))
        np.testing.assert_array_equal(to_numpy(native.depth_image()),
                                      to_numpy(fallback.depth_image()))


@settings(max_examples=25)
@given(seed=st.integers(0, 2**31 - 1), batched=st.booleans(),
       colours=hnp.arrays(np.float64, (12, 3), elements=floats(0, 1)))
def test_fused_interpolation_is_bit_identical(native_backend, monkeypatch, seed, batched,
                                              colours):
    rng = np.random.default_rng(seed)
    points, depth, triangles = _mesh(rng, 12, 20, 30)
    be = native_backend
    if batched:
        points, depth = np.stack([points, points[::-1]]), np.stack([depth, depth])
        colours = np.stack([colours, 1 - colours])
    raster = rasterize(be.asarray(points), be.asarray(depth), be.asarray(triangles), (24, 28))
    background = be.asarray(rng.uniform(size=(24, 28, 3)))
    tris = be.asarray(triangles)
    fused = interpolate_image(be.asarray(colours), tris, raster, background)
    reference = raster.to_image(interpolate(be.asarray(colours), tris, raster), background)
    np.testing.assert_array_equal(to_numpy(fused), to_numpy(reference))
    monkeypatch.setenv("FACEFIT_NATIVE_RASTER", "0")
    np.testing.assert_array_equal(
        to_numpy(interpolate_image(be.asarray(colours), tris, raster, background)),
        to_numpy(reference))


def test_ict_face_render_is_identical_on_both_paths(native_backend, monkeypatch):
    from facefit.model import load_model
    from facefit.params import FaceParams
    from facefit.render import render

    model = load_model()
    params = FaceParams.framing(model, (96, 80))
    params.rotation = [0.1, 0.4, 0.05]
    native, fallback = _both_paths(monkeypatch, lambda: render(model, params, (96, 80)))
    for name in ("image", "mask", "depth", "landmarks"):
        np.testing.assert_array_equal(to_numpy(getattr(native, name)),
                                      to_numpy(getattr(fallback, name)), err_msg=name)
    assert to_numpy(native.mask).sum() > 1000


def test_kernels_reject_inconsistent_buffers():
    if not _numpy_kernel_built():
        pytest.skip("the C extension was not built")
    from facefit.backends import _raster  # type: ignore[attr-defined]

    coefficients = np.zeros((2, 9))
    with pytest.raises(ValueError, match="size"):  # corner depths for 1 triangle, not 2
        _raster.zbuffer(coefficients, np.zeros((1, 3)), np.zeros((2, 4), np.int64), 2, 4, 4,
                        np.full(16, -1, np.int64), np.zeros(16))
    with pytest.raises(ValueError, match="float64 or float32"):
        _raster.zbuffer(np.zeros((2, 9), np.int16), np.zeros((2, 3), np.int16),
                        np.zeros((2, 4), np.int64), 2, 4, 4, np.full(16, -1, np.int64),
                        np.zeros(16, np.int16))
    with pytest.raises(ValueError, match="inconsistent"):  # 2 images of triangles, 1 image
        _raster.zbuffer(coefficients, np.zeros((2, 3)), np.zeros((2, 4), np.int64), 1, 4, 4,
                        np.full(16, -1, np.int64), np.zeros(16))
    with pytest.raises(TypeError):  # read-only output
        owner = np.full(16, -1, np.int64)
        owner.flags.writeable = False
        _raster.zbuffer(coefficients, np.zeros((2, 3)), np.zeros((2, 4), np.int64), 2, 4, 4,
                        owner, np.zeros(16))
