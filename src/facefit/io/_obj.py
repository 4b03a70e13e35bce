"""Wavefront ``.obj`` meshes: ``v x y z [r g b]`` and 1-based ``f`` lines."""

from __future__ import annotations

import numpy as np

from ._malformed import Malformed

__all__ = ["format_obj", "parse_obj"]


def format_obj(vertices: np.ndarray, triangles: np.ndarray, colors: np.ndarray | None) -> bytes:
    """The ``.obj`` text of a triangle mesh.

    Parameters
    ----------
    vertices : (V, 3) float64.
    triangles : (T, 3) int, 0-based (written 1-based).
    colors : (V, 3) float in [0, 1] appended to each ``v`` line, or None.

    Returns
    -------
    UTF-8 bytes; coordinates in the shortest form that reads back exactly, colours with 6
    significant digits.
    """
    header = f"# facefit mesh: {len(vertices)} vertices, {len(triangles)} triangles\n"
    if colors is None:
        vertex_text = _rows("v %r %r %r\n", vertices)
    else:
        vertex_text = _rows("v %r %r %r %.6g %.6g %.6g\n", np.hstack([vertices, colors]))
    face_text = _rows("f %d %d %d\n", triangles.astype(np.int64) + 1)
    return (header + vertex_text + face_text).encode("utf-8")


def _rows(line_format: str, table: np.ndarray) -> str:
    """``line_format`` applied to every row of ``table``, in one formatting call (fast)."""
    return (line_format * len(table)) % tuple(table.ravel().tolist())


def parse_obj(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Parse ``.obj`` text into vertices, triangles and optional per-vertex colours.

    ``f`` entries may be ``v``, ``v/vt``, ``v//vn`` or ``v/vt/vn``, with negative (relative)
    indices; polygons are triangulated as fans. Other statements are ignored.

    Returns
    -------
    vertices : (V, 3) float64.
    triangles : (T, 3) int64, 0-based.
    colors : (V, 3) float64 when every ``v`` line has ``x y z r g b``, else None.

    Raises
    ------
    Malformed
        A malformed number, a face with fewer than 3 corners, or an index out of range.
    """
    vertex_rows: list[list[str]] = []
    vertex_lines: list[int] = []
    face_rows: list[list[str]] = []
    face_lines: list[int] = []
    face_bases: list[int] = []
    slashes = False
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "v":
            vertex_rows.append(fields[1:])
            vertex_lines.append(number)
        elif fields[0] == "f":
            face_rows.append(fields[1:])
            slashes = slashes or "/" in line
            face_lines.append(number)
            face_bases.append(len(vertex_rows))
    vertices, colors = _vertices(vertex_rows, vertex_lines)
    if slashes:
        face_rows = [[token.split("/", 1)[0] for token in row] for row in face_rows]
    triangles = _faces(face_rows, face_lines, face_bases)
    if triangles.size and (triangles.min() < 0 or triangles.max() >= len(vertices)):
        raise Malformed(f"has a face index out of range for {len(vertices)} vertices")
    return vertices, triangles, colors


def _vertices(rows: list[list[str]], lines: list[int]) -> tuple[np.ndarray, np.ndarray | None]:
    """(V, 3) positions and (V, 3) colours or None from the fields of ``v`` lines.

    A line holds x y z, x y z w (w dropped) or x y z r g b.
    """
    positions = np.zeros((len(rows), 3))
    colours = np.full((len(rows), 3), np.nan)
    lengths = np.array([len(row) for row in rows], dtype=np.int64)
    for length in np.unique(lengths).tolist():
        if length not in (3, 4, 6):
            line = lines[int(np.argmax(lengths == length))]
            raise Malformed(f"has a 'v' line with {length} numbers on line {line}")
        where = np.flatnonzero(lengths == length)
        values = _numbers([rows[i] for i in where], [lines[i] for i in where], float)
        positions[where] = values[:, :3]
        if length == 6:
            colours[where] = values[:, 3:]
    with_colour = len(rows) > 0 and bool(np.all(lengths == 6))
    return positions, (colours if with_colour else None)


def _faces(rows: list[list[str]], lines: list[int], bases: list[int]) -> np.ndarray:
    """(T, 3) 0-based triangles (fans) from the vertex numbers of ``f`` lines.

    ``bases[i]`` is the number of vertices defined before face ``i`` (for negative indices).
    """
    lengths = np.array([len(row) for row in rows], dtype=np.int64)
    if np.any(lengths < 3):
        line = lines[int(np.argmax(lengths < 3))]
        raise Malformed(f"has a face with fewer than 3 corners on line {line}")
    order: list[np.ndarray] = []
    pieces: list[np.ndarray] = []
    for length in np.unique(lengths).tolist():
        where = np.flatnonzero(lengths == length)
        index = _numbers([rows[i] for i in where], [lines[i] for i in where], int)
        if np.any(index == 0):
            line = lines[where[int(np.argmax(np.any(index == 0, axis=1)))]]
            raise Malformed(f"has face index 0 on line {line} (OBJ indices start at 1)")
        base = np.asarray(bases, dtype=np.int64)[where][:, None]
        index = np.where(index > 0, index - 1, base + index)
        corner = np.arange(1, length - 1)
        fans = np.stack([np.broadcast_to(index[:, :1], (len(index), len(corner))),
                         index[:, corner], index[:, corner + 1]], axis=2)
        pieces.append(fans.reshape(-1, 3))
        order.append(np.repeat(where, len(corner)))
    if not pieces:
        return np.zeros((0, 3), dtype=np.int64)
    keys = np.concatenate(order)
    return np.concatenate(pieces)[np.argsort(keys, kind="stable")]


def _numbers(rows: list[list[str]], lines: list[int], kind: type) -> np.ndarray:
    """Rows of number strings as a 2D float64 (``kind=float``) or int64 (``kind=int``) array."""
    dtype = np.float64 if kind is float else np.int64
    try:
        return np.array(rows, dtype=np.str_).astype(dtype).reshape(len(rows), -1)
    except ValueError:
        pass
    for row, line in zip(rows, lines, strict=True):
        for token in row:
            try:
                kind(token)
            except ValueError:
                raise Malformed(f"has a malformed number {token[:20]!r} on line {line}") from None
    raise Malformed("has a malformed number")  # pragma: no cover - numpy and Python disagree
