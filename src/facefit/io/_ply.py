"""Stanford ``.ply`` meshes: binary little-endian output; binary or ASCII input."""

from __future__ import annotations

import numpy as np

from ._malformed import Malformed

__all__ = ["format_ply", "parse_ply"]

_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_FACE_LISTS = ("vertex_indices", "vertex_index")
_COLOUR_NAMES = (("red", "green", "blue"), ("diffuse_red", "diffuse_green", "diffuse_blue"))


def format_ply(vertices: np.ndarray, triangles: np.ndarray, colors: np.ndarray | None) -> bytes:
    """The binary little-endian ``.ply`` bytes of a triangle mesh.

    Parameters
    ----------
    vertices : (V, 3), written as float32 x, y, z.
    triangles : (T, 3) int, 0-based, written as ``list uchar int vertex_indices``.
    colors : (V, 3) float in [0, 1], written as uchar red, green, blue; or None.
    """
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    vertex_rows = np.empty(len(vertices), dtype=fields)
    for axis, key in enumerate("xyz"):
        vertex_rows[key] = vertices[:, axis]
    if colors is not None:
        bytes_rgb = np.rint(np.clip(colors, 0.0, 1.0) * 255.0).astype(np.uint8)
        for channel, key in enumerate(("red", "green", "blue")):
            vertex_rows[key] = bytes_rgb[:, channel]
    face_rows = np.empty(len(triangles), dtype=[("n", "u1"), ("i", "<i4", (3,))])
    face_rows["n"] = 3
    face_rows["i"] = triangles
    header = ["ply", "format binary_little_endian 1.0", "comment written by facefit",
              f"element vertex {len(vertices)}"]
    header += [f"property {'float' if f[1] == '<f4' else 'uchar'} {f[0]}" for f in fields]
    header += [f"element face {len(triangles)}", "property list uchar int vertex_indices",
               "end_header"]
    return ("\n".join(header) + "\n").encode("ascii") + vertex_rows.tobytes() + face_rows.tobytes()


def parse_ply(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Parse a ``.ply`` file (binary little/big-endian or ASCII) into a triangle mesh.

    Returns
    -------
    vertices : (V, 3) float64 from the vertex element's x, y, z.
    triangles : (T, 3) int64, 0-based; polygons are triangulated as fans.
    colors : (V, 3) float64 in [0, 1] from red/green/blue (integers scaled by their maximum),
        or None.

    Raises
    ------
    Malformed
        A bad header, an unsupported format, truncated data or out-of-range indices.
    """
    encoding, elements, body = _header(data)
    tables = _read_elements(encoding, elements, body)
    if "vertex" not in tables:
        raise Malformed("has no vertex element")
    vertex = tables["vertex"]
    names = vertex.dtype.names or ()
    if not all(axis in names for axis in "xyz"):
        raise Malformed("has no x, y, z vertex properties")
    vertices = np.stack([vertex[axis].astype(np.float64) for axis in "xyz"], axis=1)
    colors = _colours(vertex)
    triangles = _triangulate(tables.get("face"))
    if triangles.size and (triangles.min() < 0 or triangles.max() >= len(vertices)):
        raise Malformed(f"has a face index out of range for {len(vertices)} vertices")
    return vertices, triangles, colors


_Property = tuple[str, str, str | None]  # (name, value dtype, list count dtype or None)


def _header(data: bytes) -> tuple[str, list[tuple[str, int, list[_Property]]], bytes]:
    """(format, [(element, count, properties)], bytes after the header)."""
    if not data.startswith(b"ply"):
        raise Malformed("is not a PLY file (no 'ply' magic)")
    end = data.find(b"end_header")
    if end < 0:
        raise Malformed("has no end_header line")
    newline = data.find(b"\n", end)
    if newline < 0:
        raise Malformed("has no data after end_header")
    lines = data[:end].decode("ascii", errors="replace").splitlines()[1:]
    encoding = ""
    elements: list[tuple[str, int, list[_Property]]] = []
    for line in lines:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        try:
            if words[0] == "format":
                encoding = words[1]
            elif words[0] == "element":
                elements.append((words[1], int(words[2]), []))
                if elements[-1][1] < 0:
                    raise ValueError(line)
            elif words[0] == "property" and words[1] == "list":
                elements[-1][2].append((words[4], _TYPES[words[3]], _TYPES[words[2]]))
            elif words[0] == "property":
                elements[-1][2].append((words[2], _TYPES[words[1]], None))
            else:
                raise Malformed(f"has an unknown header line {line[:40]!r}")
        except (IndexError, KeyError, ValueError):
            raise Malformed(f"has a malformed header line {line[:40]!r}") from None
    if encoding not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise Malformed(f"has an unsupported format {encoding!r}")
    return encoding, elements, data[newline + 1 :]


def _read_elements(
    encoding: str, elements: list[tuple[str, int, list[_Property]]], body: bytes
) -> dict[str, np.ndarray]:
    """Each element's rows as a structured array; list properties become (count, k) fields."""
    if encoding == "ascii":
        return _read_ascii(elements, body)
    order = "<" if encoding == "binary_little_endian" else ">"
    tables: dict[str, np.ndarray] = {}
    offset = 0
    for name, count, properties in elements:
        table, offset = _read_binary(body, offset, count, properties, order)
        tables.setdefault(name, table)
    return tables


def _read_binary(
    body: bytes, offset: int, count: int, properties: list[_Property], order: str
) -> tuple[np.ndarray, int]:
    """One binary element, assuming every list has the length of the first row's lists."""
    lengths: list[int] = []
    probe = offset
    for _, kind, count_kind in properties:
        if count_kind is None:
            probe += np.dtype(kind).itemsize
            continue
        size = np.dtype(count_kind).itemsize
        if count == 0:
            lengths.append(0)
            continue
        if probe + size > len(body):
            raise Malformed("is truncated")
        length = int(np.frombuffer(body, order + count_kind, 1, probe)[0])
        lengths.append(length)
        probe += size + length * np.dtype(kind).itemsize
    fields: list[tuple[str, str] | tuple[str, str, tuple[int]]] = []
    lists = iter(lengths)
    for prop, kind, count_kind in properties:
        if count_kind is None:
            fields.append((prop, order + kind))
        else:
            fields.append((f"{prop}#count", order + count_kind))
            fields.append((prop, order + kind, (next(lists),)))
    dtype = np.dtype(fields)
    if offset + count * dtype.itemsize > len(body):
        raise Malformed("is truncated")
    table = np.frombuffer(body, dtype, count, offset)
    for prop, _, count_kind in properties:
        if count_kind is not None and np.any(table[f"{prop}#count"] != table[prop].shape[1]):
            return _read_binary_rows(body, offset, count, properties, order)
    return table, offset + count * dtype.itemsize


def _read_binary_rows(
    body: bytes, offset: int, count: int, properties: list[_Property], order: str
) -> tuple[np.ndarray, int]:
    """One binary element row by row (lists of different lengths, e.g. mixed polygons)."""
    rows: list[list[float | list[float]]] = []
    for _ in range(count):
        values: list[float | list[float]] = []
        for _, kind, count_kind in properties:
            if count_kind is None:
                values.append(float(_take(body, offset, order + kind, 1)[0]))
                offset += np.dtype(kind).itemsize
            else:
                length = int(_take(body, offset, order + count_kind, 1)[0])
                offset += np.dtype(count_kind).itemsize
                values.append(_take(body, offset, order + kind, length).tolist())
                offset += length * np.dtype(kind).itemsize
        rows.append(values)
    return _table_from_rows(rows, properties), offset


def _take(body: bytes, offset: int, kind: str, n: int) -> np.ndarray:
    """``n`` values of dtype ``kind`` at ``offset``; raises :class:`Malformed` past the end."""
    if offset + n * np.dtype(kind).itemsize > len(body):
        raise Malformed("is truncated")
    return np.frombuffer(body, kind, n, offset)


def _read_ascii(
    elements: list[tuple[str, int, list[_Property]]], body: bytes
) -> dict[str, np.ndarray]:
    """ASCII elements, one row per line; list rows may differ in length."""
    lines = iter(body.decode("ascii", errors="replace").splitlines())
    tables: dict[str, np.ndarray] = {}
    for name, count, properties in elements:
        rows = []
        for _ in range(count):
            line = next(lines, None)
            if line is None:
                raise Malformed("is truncated")
            rows.append(line.split())
        tables.setdefault(name, _ascii_table(rows, properties))
    return tables


def _ascii_table(rows: list[list[str]], properties: list[_Property]) -> np.ndarray:
    """Structured array from the words of ASCII rows."""
    parsed: list[list[float | list[float]]] = []
    try:
        for words in rows:
            values: list[float | list[float]] = []
            position = 0
            for _, _, count_kind in properties:
                if count_kind is None:
                    values.append(float(words[position]))
                    position += 1
                else:
                    length = int(words[position])
                    values.append([float(w) for w in words[position + 1 : position + 1 + length]])
                    position += 1 + length
            parsed.append(values)
    except (IndexError, ValueError):
        raise Malformed("has a malformed ASCII data row") from None
    return _table_from_rows(parsed, properties)


def _table_from_rows(
    parsed: list[list[float | list[float]]], properties: list[_Property]
) -> np.ndarray:
    """Structured array from parsed rows; lists are padded to the longest with zeros."""
    width = [max((len(v) for row in parsed if isinstance(v := row[i], list)), default=0)
             for i in range(len(properties))]
    fields: list[tuple[str, str] | tuple[str, str, tuple[int]]] = []
    for (prop, kind, count_kind), w in zip(properties, width, strict=True):
        if count_kind is None:
            fields.append((prop, kind))
        else:
            fields.append((f"{prop}#count", "i8"))
            fields.append((prop, "f8", (w,)))
    table = np.zeros(len(parsed), dtype=fields)
    for r, values in enumerate(parsed):
        for (prop, _, _), value in zip(properties, values, strict=True):
            if isinstance(value, list):
                table[f"{prop}#count"][r] = len(value)
                table[prop][r, : len(value)] = value
            else:
                table[prop][r] = value
    return table


def _colours(vertex: np.ndarray) -> np.ndarray | None:
    """(V, 3) colours in [0, 1] from a vertex table, or None."""
    names = vertex.dtype.names or ()
    for keys in _COLOUR_NAMES:
        if all(key in names for key in keys):
            kind = vertex.dtype[keys[0]]
            scale = float(np.iinfo(kind).max) if np.issubdtype(kind, np.integer) else 1.0
            return np.stack([vertex[key].astype(np.float64) / scale for key in keys], axis=1)
    return None


def _triangulate(polygons: np.ndarray | None) -> np.ndarray:
    """(T, 3) int64 triangles from a face table (fans for polygons)."""
    if polygons is None or len(polygons) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    names = polygons.dtype.names or ()
    key = next((k for k in _FACE_LISTS if k in names), None)
    if key is None:
        raise Malformed("has a face element without vertex_indices")
    indices = polygons[key].astype(np.int64)
    counts = polygons[f"{key}#count"].astype(np.int64)
    if np.any(counts < 3):
        raise Malformed("has a face with fewer than 3 corners")
    corner = np.arange(1, indices.shape[1] - 1)
    fans = np.stack(
        [np.broadcast_to(indices[:, :1], (len(indices), len(corner))),
         indices[:, corner], indices[:, corner + 1]], axis=2,
    )  # (F, k - 2, 3)
    return fans[counts[:, None] > corner[None, :] + 1].reshape(-1, 3)
