"""Spherical-harmonics lighting of a Lambertian surface (Ramamoorthi and Hanrahan 2001).

Shading at a unit normal ``n`` is ``basis(n) @ gamma`` with 9 real SH basis functions, each
already multiplied by its Lambertian convolution constant (pi, 2 pi / 3, pi / 4 for bands 0, 1,
2), and ``gamma`` a (9, 3) array of RGB coefficients. Colour is ``albedo * shading``.
Ambient white light of shading 1 is ``gamma[0] = 1 / (pi * Y00)``; see :func:`ambient_light`.
"""

from __future__ import annotations

import math
from typing import Any

from .backends import array_namespace, promote

Array = Any

__all__ = ["AMBIENT", "SH_CONSTANTS", "ambient_light", "sh_basis", "sh_shading", "shade"]

_Y00 = 0.5 / math.sqrt(math.pi)
_Y1 = math.sqrt(3.0 / (4.0 * math.pi))
_Y2_PRODUCTS = math.sqrt(15.0 / (4.0 * math.pi))
_Y2_ZONAL = math.sqrt(5.0 / (16.0 * math.pi))
_Y2_DIFFERENCE = math.sqrt(15.0 / (16.0 * math.pi))
_A0, _A1, _A2 = math.pi, 2.0 * math.pi / 3.0, math.pi / 4.0

#: The 9 constants (SH normalisation x Lambertian band constant) in basis order.
SH_CONSTANTS = (
    _A0 * _Y00,
    _A1 * _Y1, _A1 * _Y1, _A1 * _Y1,
    _A2 * _Y2_PRODUCTS, _A2 * _Y2_PRODUCTS, _A2 * _Y2_ZONAL, _A2 * _Y2_PRODUCTS,
    _A2 * _Y2_DIFFERENCE,
)
#: ``gamma[0]`` of ambient light with shading exactly 1.
AMBIENT = 1.0 / SH_CONSTANTS[0]


def sh_basis(normals: Array) -> Array:
    """The 9 Lambertian-convolved SH basis functions at unit normals.

    Order: ``1, y, z, x, xy, yz, 3z^2 - 1, xz, x^2 - y^2`` (each times its constant).

    Parameters
    ----------
    normals : (..., 3) array of unit normals.

    Returns
    -------
    (..., 9) array.
    """
    xp = array_namespace(normals)
    x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
    c = SH_CONSTANTS
    terms = [
        c[0] * xp.ones_like(x),
        c[1] * y, c[2] * z, c[3] * x,
        c[4] * x * y, c[5] * y * z, c[6] * (3.0 * z * z - 1.0), c[7] * x * z,
        c[8] * (x * x - y * y),
    ]
    return xp.stack(terms, axis=-1)


def sh_shading(normals: Array, light: Array) -> Array:
    """Per-point RGB shading.

    Parameters
    ----------
    normals : (..., N, 3) array of unit normals.
    light : (..., 9, 3) array of SH coefficients per colour channel.

    Returns
    -------
    (..., N, 3) array.
    """
    xp = array_namespace(normals, light)
    basis, light = promote(sh_basis(normals), light, xp=xp)
    return basis @ light


def shade(albedo: Array, normals: Array, light: Array) -> Array:
    """Lambertian colour ``albedo * shading``.

    Parameters
    ----------
    albedo : (..., N, 3) array in [0, 1].
    normals : (..., N, 3) array of unit normals.
    light : (..., 9, 3) array.

    Returns
    -------
    (..., N, 3) array.
    """
    return albedo * sh_shading(normals, light)


def ambient_light(intensity: float = 1.0, *, like: Array) -> Array:
    """(9, 3) SH coefficients of uniform white light of the given shading, on ``like``'s backend.

    Parameters
    ----------
    intensity : shading value everywhere.
    like : any array; the result has its namespace, device and (real) floating dtype.
    """
    xp = array_namespace(like)
    dtype = like.dtype if xp.isdtype(like.dtype, "real floating") else xp.float64
    first = xp.full((1, 3), intensity * AMBIENT, dtype=dtype, device=like.device)
    return xp.concat([first, xp.zeros((8, 3), dtype=dtype, device=like.device)], axis=0)
