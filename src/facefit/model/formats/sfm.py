"""The Surrey Face Model in eos' cereal binary format (``sfm_shape_3448.bin`` and companions).

Layout (cereal ``BinaryOutputArchive``, little-endian; verified against the real files, whose
bytes these rules consume exactly): a uint32 class version, then the shape ``PcaModel`` (mean,
orthonormal basis, eigenvalues as Eigen matrices: int32 rows, int32 cols, column-major float32
data; then the triangle list: uint64 count and int32 triples), the colour ``PcaModel`` (empty in
the public model) and the texture coordinates (uint64 count, pairs of float64). Eigenvalues are
variances: std = sqrt. Coordinates are millimetres. Blendshapes (``blendshapes=``): uint64
count, then per blendshape a string (uint64 length, bytes) and an Eigen vector (the deformation).
Landmarks (``landmarks=``, ``ibug_to_sfm.txt``): TOML ``[landmark_mappings]`` from 1-based iBUG
numbers to 0-based vertex indices; the jaw contour points are not in it (they are found by
contour search in eos) and stay -1 here, so only the chin of the jaw is fitted. SFM has no colour
model: an albedo is built (:func:`facefit.model.build_albedo`).
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelError
from ..albedo import build_albedo
from ..contours import jaw_candidates
from ..morphable_model import MorphableModel
from ._mesh import facing_front

__all__ = ["load_sfm", "read_blendshapes", "read_ibug_mapping"]


class _Reader:
    """Sequential little-endian reads with errors that name the file."""

    def __init__(self, path: Any, what: str):
        self.label, self.what = str(path), what
        try:
            self.data = Path(path).read_bytes()
        except OSError as exc:
            raise ModelError(f"{what} {self.label!r}: cannot be read ({exc.strerror})") from None
        self.offset = 0

    def fail(self, problem: str) -> ModelError:
        return ModelError(f"{self.what} {self.label!r}: {problem} (at byte {self.offset} of "
                          f"{len(self.data)})")

    def take(self, count: int) -> bytes:
        if count < 0 or self.offset + count > len(self.data):
            raise self.fail("truncated or not an eos cereal file")
        chunk = self.data[self.offset:self.offset + count]
        self.offset += count
        return chunk

    def scalar(self, fmt: str) -> int:
        return int(struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))[0])

    def matrix(self) -> Any:
        rows, cols = self.scalar("i"), self.scalar("i")
        if rows < 0 or cols < 0:
            raise self.fail(f"negative matrix size {rows} x {cols}")
        values = np.frombuffer(self.take(4 * rows * cols), dtype="<f4")
        return values.reshape(cols, rows).T.astype(np.float64)  # column-major on disk

    def finish(self) -> None:
        if self.offset != len(self.data):
            raise self.fail(f"{len(self.data) - self.offset} unexpected trailing bytes")


def _pca(reader: _Reader) -> tuple[Any, Any, Any, Any]:
    mean, basis, eigenvalues = reader.matrix(), reader.matrix(), reader.matrix()
    count = reader.scalar("Q")
    if count > len(reader.data):
        raise reader.fail("implausible triangle count")
    triangles = np.frombuffer(reader.take(12 * count), dtype="<i4").reshape(count, 3)
    return mean.reshape(-1), basis, eigenvalues.reshape(-1), triangles.astype(np.int64)


def read_blendshapes(path: Any, n_vertices: int) -> tuple[Any, list[str]]:
    """Blendshape deformations as a (N, 3, K) basis, and their names."""
    reader = _Reader(path, "blendshapes file")
    count = reader.scalar("Q")
    if count > 10_000:
        raise reader.fail("implausible blendshape count")
    names, shapes = [], []
    for _ in range(count):
        length = reader.scalar("Q")
        names.append(reader.take(length).decode("utf-8", "replace"))
        deformation = reader.matrix().reshape(-1)
        if deformation.size != 3 * n_vertices:
            raise reader.fail(f"blendshape {names[-1]!r} has {deformation.size} values, the "
                              f"model needs {3 * n_vertices}")
        shapes.append(deformation.reshape(n_vertices, 3))
    reader.finish()
    return np.stack(shapes, axis=2) if shapes else np.zeros((n_vertices, 3, 0)), names


def read_ibug_mapping(path: Any, n_vertices: int) -> Any:
    """(68,) vertex indices from eos' iBUG mapping TOML; -1 where a point is not mapped."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"landmark mapping {str(path)!r}: cannot be read ({exc})") from None
    marks = np.full(68, -1, dtype=np.int64)
    found = False
    table = ""
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("[") and "=" not in line:
            table = line
            found = found or table == "[landmark_mappings]"
            continue
        if not line or table != "[landmark_mappings]":
            continue
        match = re.fullmatch(r'"?(\d+)"?\s*=\s*"?(\d+)"?', line)
        if not match:
            raise ModelError(f"landmark mapping {str(path)!r}: cannot parse line {line!r}")
        ibug, vertex = int(match.group(1)), int(match.group(2))
        if not 1 <= ibug <= 68 or vertex >= n_vertices:
            raise ModelError(f"landmark mapping {str(path)!r}: {ibug} = {vertex} is out of range")
        marks[ibug - 1] = vertex
    if not found:
        raise ModelError(f"landmark mapping {str(path)!r}: no [landmark_mappings] table")
    return marks


def load_sfm(path: Any, *, blendshapes: Any = None, landmarks: Any = None,
             **unknown: Any) -> MorphableModel:
    """Load a Surrey Face Model ``.bin`` (eos cereal), with optional blendshapes and mapping."""
    label = str(path)
    if unknown:
        raise ModelError(f"model file {label!r}: unknown companion file(s) "
                         f"{', '.join(sorted(unknown))}; expected blendshapes, landmarks")
    reader = _Reader(path, "model file")
    version = reader.scalar("I")
    if version > 10:
        raise reader.fail(f"unexpected class version {version}")
    mean, basis, eigenvalues, triangles = _pca(reader)
    _pca(reader)  # the colour model: empty in the public Surrey model, unused
    count = reader.scalar("Q")
    reader.take(16 * count)  # texture coordinates (pairs of float64)
    reader.finish()
    if mean.size % 3 or basis.shape[0] != mean.size or eigenvalues.size != basis.shape[1]:
        raise ModelError(f"model file {label!r}: inconsistent shape model sizes (mean "
                         f"{mean.size}, basis {basis.shape}, eigenvalues {eigenvalues.size})")
    if (eigenvalues < 0).any():
        raise ModelError(f"model file {label!r}: negative eigenvalues")
    n = mean.size // 3
    if triangles.size and (triangles.min() < 0 or triangles.max() >= n):
        raise ModelError(f"model file {label!r}: triangle indices outside 0..{n - 1}")
    mean3 = mean.reshape(n, 3)
    triangles = facing_front(mean3, triangles)
    if blendshapes is not None:
        expression, names = read_blendshapes(blendshapes, n)
    else:
        expression, names = np.zeros((n, 3, 0)), []
    marks = read_ibug_mapping(landmarks, n) if landmarks is not None else np.full(68, -1)
    albedo_mean, albedo, albedo_std = build_albedo(triangles, n)
    return MorphableModel(
        name=Path(label).name, mean_shape=mean3, identity_basis=basis.reshape(n, 3, -1),
        identity_std=np.sqrt(eigenvalues), expression_basis=expression,
        expression_std=np.full(expression.shape[2], 0.5), albedo_mean=albedo_mean,
        albedo_basis=albedo, albedo_std=albedo_std, triangles=triangles,
        landmark_indices=marks, jaw_candidates=jaw_candidates(mean3, marks),
        metadata={"source": "Surrey Face Model (eos cereal)", "file": label,
                  "expression_names": names, "cereal_version": version,
                  "albedo": "built: mean skin colour + graph-Laplacian modes"})
