"""Spherical-harmonics shading on every backend."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis.extra import numpy as hnp

from facefit.backends import to_numpy
from facefit.lighting import SH_CONSTANTS, ambient_light, sh_basis, sh_shading, shade

from .conftest import assert_close, floats

raw_normals = hnp.arrays(np.float64, (16, 3), elements=floats(-1, 1)).filter(
    lambda v: bool(np.all(np.linalg.norm(v, axis=1) > 0.1)))


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _raw_sh(n):
    """Unnormalised-by-Lambert real SH, written independently from the textbook table."""
    x, y, z = n[..., 0], n[..., 1], n[..., 2]
    return np.stack([
        0.282095 * np.ones_like(x), 0.488603 * y, 0.488603 * z, 0.488603 * x,
        1.092548 * x * y, 1.092548 * y * z, 0.315392 * (3 * z * z - 1), 1.092548 * x * z,
        0.546274 * (x * x - y * y)], axis=-1)


@given(normals=raw_normals)
def test_basis_matches_textbook_table(backend, normals):
    n = _unit(normals)
    bands = np.array([math.pi] + [2 * math.pi / 3] * 3 + [math.pi / 4] * 5)
    assert_close(sh_basis(backend.asarray(n)), _raw_sh(n) * bands, rtol=2e-6)


@given(normals=raw_normals, direction=hnp.arrays(np.float64, 3, elements=floats(-1, 1)).filter(
    lambda v: bool(np.linalg.norm(v) > 0.1)))
def test_directional_light_approximates_clamped_cosine(backend, normals, direction):
    # A unit delta light from d has SH coefficients Y(d); its 9-term irradiance approximates
    # max(n . d, 0) to within about 0.1 everywhere (Ramamoorthi & Hanrahan's bound).
    n, d = _unit(normals), _unit(direction)
    light = np.repeat(_raw_sh(d)[:, None], 3, axis=1)  # (9, 3), same for R, G, B
    got = to_numpy(sh_shading(backend.asarray(n), backend.asarray(light)))
    expected = np.maximum(n @ d, 0.0)
    assert np.all(np.abs(got - expected[:, None]) < 0.105)


@given(normals=raw_normals, intensity=floats(0.1, 3))
def test_ambient_light_gives_constant_shading(backend, normals, intensity):
    n = backend.asarray(_unit(normals))
    light = ambient_light(intensity, like=n)
    assert light.shape == (9, 3) and light.dtype == backend.dtype
    assert_close(sh_shading(n, light), np.full((16, 3), intensity), dtype=backend.dtype_name)
    albedo = np.linspace(0, 1, 48).reshape(16, 3)
    assert_close(shade(backend.asarray(albedo), n, light), albedo * intensity,
                 dtype=backend.dtype_name)
    assert math.isclose(SH_CONSTANTS[0], math.pi * 0.5 / math.sqrt(math.pi))


@given(normals=raw_normals, light=hnp.arrays(np.float64, (9, 3), elements=floats(-1, 1)))
def test_shading_jacobian_strategies_agree(backend64, normals, light):
    xp = backend64.xp
    n = backend64.asarray(_unit(normals))

    def fun(x):
        return xp.reshape(sh_shading(n, xp.reshape(x, (9, 3))), (-1,))

    x = backend64.asarray(light.ravel())
    reference = to_numpy(sh_basis(n))
    expected = np.zeros((48, 27))
    for c in range(3):  # d shading[v, c] / d light[k, c] = basis[v, k]
        expected[c::3, c::3] = reference
    for strategy in backend64.jacobian_strategies:
        assert_close(backend64.jacobian(fun, x, strategy), expected)
