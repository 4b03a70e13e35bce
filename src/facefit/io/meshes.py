"""Saving and loading triangle meshes with optional per-vertex colours: ``.obj`` and ``.ply``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backends import to_numpy
from ..errors import MeshError
from ._files import PathLike, atomic_write_bytes, checked_suffix, display_name, read_file_bytes
from ._malformed import Malformed
from ._obj import format_obj, parse_obj
from ._ply import format_ply, parse_ply

__all__ = ["load_mesh", "save_mesh"]

SUFFIXES = (".obj", ".ply")


def save_mesh(path: PathLike, vertices: Any, triangles: Any, colors: Any = None) -> None:
    """Write a triangle mesh as ``.obj`` or binary little-endian ``.ply`` (by suffix), atomically.

    Parameters
    ----------
    path : destination ending in ``.obj`` (``v x y z [r g b]`` lines, colours as floats in
        [0, 1]; 1-based ``f a b c`` lines) or ``.ply`` (float32 x, y, z; uchar red, green,
        blue; ``list uchar int vertex_indices``).
    vertices : (V, 3) float array of any backend, finite.
    triangles : (T, 3) integer array of any backend, 0-based indices into ``vertices``.
    colors : (V, 3) array of any backend, float in [0, 1] (clipped) or uint8; or None.

    Raises
    ------
    MeshError
        Unknown suffix, wrong shapes or dtypes, non-finite values, indices out of range, or a
        file that cannot be written; the message names the path.
    """
    name = display_name(path)
    suffix = _suffix(path)
    verts, tris, cols = _checked(name, vertices, triangles, colors)
    data = format_obj(verts, tris, cols) if suffix == ".obj" else format_ply(verts, tris, cols)
    atomic_write_bytes(path, data, "mesh", MeshError)


def load_mesh(path: PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Read a triangle mesh from ``.obj`` or ``.ply`` (binary or ASCII).

    OBJ faces may use ``v/vt/vn`` forms and negative indices; polygons (in either format) are
    triangulated as fans.

    Returns
    -------
    vertices : (V, 3) float64 NumPy array.
    triangles : (T, 3) int64 NumPy array, 0-based.
    colors : (V, 3) float64 in [0, 1] when the file has per-vertex colours, else None.

    Raises
    ------
    MeshError
        Missing file, unknown suffix or malformed contents; the message names the path.
    """
    name = display_name(path)
    suffix = _suffix(path)
    data = read_file_bytes(path, "mesh", MeshError)
    try:
        if suffix == ".ply":
            return parse_ply(data)
        return parse_obj(data.decode("utf-8", errors="replace"))
    except Malformed as exc:
        raise MeshError(f"mesh '{name}': {exc}") from None


def _suffix(path: PathLike) -> str:
    """The lower-case suffix of ``path``, which must be one of :data:`SUFFIXES`."""
    return checked_suffix(path, SUFFIXES, "mesh", MeshError)


def _checked(
    name: str, vertices: Any, triangles: Any, colors: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validated NumPy copies: (V, 3) float64, (T, 3) int64, (V, 3) float64 in [0, 1] or None."""
    label = f"mesh '{name}'"
    verts = np.asarray(to_numpy(vertices))
    if verts.ndim != 2 or verts.shape[1] != 3 or not _is_real(verts):
        raise MeshError(f"{label}: vertices must be a real (V, 3) array, got "
                        f"{verts.shape} {verts.dtype}")
    verts = verts.astype(np.float64)
    if not np.all(np.isfinite(verts)):
        raise MeshError(f"{label}: vertices contain NaN or infinite values")
    tris = np.asarray(to_numpy(triangles))
    if tris.ndim != 2 or tris.shape[1] != 3:
        raise MeshError(f"{label}: triangles must be a (T, 3) array, got {tris.shape}")
    if tris.size and (tris.dtype == np.bool_ or not np.issubdtype(tris.dtype, np.integer)):
        raise MeshError(f"{label}: triangles must be integers, got {tris.dtype}")
    tris = tris.astype(np.int64)
    if tris.size and (tris.min() < 0 or tris.max() >= len(verts)):
        raise MeshError(f"{label}: triangle indices must lie in [0, {len(verts) - 1}], found "
                        f"[{tris.min()}, {tris.max()}]")
    return verts, tris, _checked_colours(label, colors, len(verts))


def _checked_colours(label: str, colors: Any, n_vertices: int) -> np.ndarray | None:
    """Colours as (V, 3) float64 in [0, 1] (uint8 scaled by 1/255, floats clipped), or None."""
    if colors is None:
        return None
    cols = np.asarray(to_numpy(colors))
    if cols.shape != (n_vertices, 3) or not _is_real(cols):
        raise MeshError(f"{label}: colors must be a real ({n_vertices}, 3) array, got "
                        f"{cols.shape} {cols.dtype}")
    if cols.dtype == np.uint8:
        return cols.astype(np.float64) / 255.0
    cols = cols.astype(np.float64)
    if not np.all(np.isfinite(cols)):
        raise MeshError(f"{label}: colors contain NaN or infinite values")
    return np.clip(cols, 0.0, 1.0)


def _is_real(array: np.ndarray) -> bool:
    """Whether ``array`` holds real numbers (integers or floats, not bool or complex)."""
    return array.dtype != np.bool_ and (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    )
