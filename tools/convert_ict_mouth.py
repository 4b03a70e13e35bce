"""Convert the ICT model's mouth interior (MIT) into facefit's embedded mouth: ``ict_mouth.npz``.

Usage: ``python tools/convert_ict_mouth.py [SOURCE] [OUTPUT]`` with SOURCE the folder of the
ICT-FaceKit files (default ``../shared/data/ict-face-model``) and OUTPUT the file (default
``src/facefit/data/ict_mouth.npz``; the MIT notice ``ICT_FACE_MODEL_LICENSE.txt`` is already
shipped beside it).

Generated samples that open the mouth draw what is behind the lips (issue 17):
:mod:`facefit.generate.mouth` poses this geometry with the face's own coefficients and pose.
How it was made:

- Region: the mouth socket (``head_shapes.npz`` vertices 11248..13293), gums and tongue
  (14062..17038) and teeth (17039..21450), plus the face vertices on the lips' inner rim that
  the OBJ's polygons join to the socket (so the socket meets the lips without a gap). Polygons of
  the OBJ whose corners all lie in those vertices, split into triangles as the face model's.
- Decimation (the full set is 9 435 vertices, 18 500 triangles, 5.9 MB as float16): vertex
  clustering per part on a grid (2.5 mm cells for teeth, 5 mm for the socket, 6 mm for gums
  and tongue) in the neutral shape *and* in the neutral plus ``jawOpen`` and plus
  ``mouthClose`` (``KEY_SHAPES``; vertices merge only when they share a cell in all three, so
  the lips' upper and lower linings, which touch at rest, never merge). 5 022 vertices and
  10 264 triangles remain (1.4 MB). Each cluster keeps one of its own vertices (the one nearest the
  cluster's centroid), unchanged: ``source_vertex`` says which, so every stored vertex and mode
  is exactly a vertex of ``head_shapes.npz`` (to float16). Triangles are remapped; degenerate
  and repeated ones are dropped.
- Units and origin as the face model: millimetres, minus its ``origin_mm_in_source``.
- Bases: the 100 identity and 53 expression offsets ``shape[k] - neutral`` of the kept
  vertices, rounded to 0.01 mm (so they compress) and stored as float16 millimetres (error
  below 0.03 mm; offsets stay under 45 mm); the stds are
  the face model's (1 and 0.5), so the same coefficients drive face and mouth.
- ``part`` per vertex: 0 socket (the cheeks' and lips' inner lining, and the rim), 1 gums and
  palate, 2 tongue (the part of the gums-and-tongue mesh that ``jawOpen`` moves, farther than
  4 mm from any tooth), 3 upper teeth, 4 lower teeth (teeth that ``jawOpen`` moves).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))

from convert_ict import read_polygons  # noqa: E402

SOCKET = (11248, 13294)
GUMS_TONGUE = (14062, 17039)
TEETH = (17039, 21451)
NARROW_VERTICES = 6706
ALL_POLYGONS = 10**9
#: Blendshapes whose posed vertices must also fall in one cell for vertices to merge.
KEY_SHAPES = ("jawOpen", "mouthClose")
CELL_MM = {0: 5.0, 1: 6.0, 2: 6.0, 3: 2.5, 4: 2.5}
TONGUE_CLEARANCE_MM = 4.0
STEP_MM = 0.01
PART_NAMES = ("socket", "gums", "tongue", "upper teeth", "lower teeth")


def label_parts(neutral: np.ndarray, jaw: np.ndarray) -> np.ndarray:
    """(21451,) part of each head vertex (-1 outside the mouth); ``jaw`` is jawOpen's offset."""
    from scipy.spatial import cKDTree

    part = np.full(neutral.shape[0], -1, np.int64)
    part[SOCKET[0]:SOCKET[1]] = 0
    moves = np.linalg.norm(jaw, axis=1) > 1.0  # mm at weight 1
    teeth = np.arange(*TEETH)
    part[teeth] = np.where(moves[teeth], 4, 3)
    soft = np.arange(*GUMS_TONGUE)
    clearance = cKDTree(neutral[teeth]).query(neutral[soft])[0]
    part[soft] = np.where(moves[soft] & (clearance > TONGUE_CLEARANCE_MM), 2, 1)
    return part


def cluster(vertices: np.ndarray, neutral: np.ndarray, offsets: list[np.ndarray],
            cell: float) -> np.ndarray:
    """(N,) representative (one of ``vertices``) of each vertex's cluster: the same grid cell
    of ``cell`` mm in the neutral shape and in the neutral shape plus each of ``offsets``."""
    keys = np.concatenate([np.floor(neutral[vertices] / cell)]
                          + [np.floor((neutral + o)[vertices] / cell) for o in offsets], axis=1)
    _, group = np.unique(keys.astype(np.int64), axis=0, return_inverse=True)
    group = group.reshape(-1)
    neutral = neutral[vertices]
    count = np.bincount(group)
    centroid = np.stack([np.bincount(group, neutral[:, k]) for k in range(3)], axis=1) / \
        count[:, None]
    distance = np.linalg.norm(neutral - centroid[group], axis=1)
    order = np.lexsort((distance, group))  # per group, nearest first
    first = order[np.r_[True, group[order][1:] != group[order][:-1]]]
    representative = np.empty(len(count), np.int64)
    representative[group[first]] = vertices[first]
    return representative[group]


def main(argv: list[str]) -> int:
    from facefit.model import load_model

    source = Path(argv[1]) if len(argv) > 1 else ROOT.parent / "shared" / "data" / \
        "ict-face-model"
    output = Path(argv[2]) if len(argv) > 2 else ROOT / "src" / "facefit" / "data" / \
        "ict_mouth.npz"
    shapes = np.load(source / "head_shapes.npz")
    names = [str(n) for n in shapes["expression_names"]]
    face = load_model()
    origin = np.asarray(face.metadata["origin_mm_in_source"], dtype=np.float64)
    neutral = shapes["neutral"].astype(np.float64) * 10.0
    offsets = {name: (shapes["expression"][names.index(name)] - shapes["neutral"]) * 10.0
               for name in KEY_SHAPES}
    part = label_parts(neutral, offsets["jawOpen"])
    polygons = [p for p in read_polygons(source / "generic_neutral_mesh.obj", ALL_POLYGONS)
                if max(p) < neutral.shape[0]]  # the eyeballs and the rest are not in the shapes
    inside = part >= 0
    # The lips' inner rim: face vertices that share a polygon with the socket.
    rim = sorted({v for p in polygons if any(inside[v] for v in p)
                  for v in p if v < NARROW_VERTICES})
    part[rim] = 0
    keep = np.arange(neutral.shape[0])  # each vertex's representative
    for label, cell in CELL_MM.items():
        members = np.flatnonzero(part == label)
        members = members[members >= NARROW_VERTICES]  # the rim is kept as it is
        keep[members] = cluster(members, neutral, list(offsets.values()), cell)
    triangles = []
    for polygon in polygons:
        if not all(part[v] >= 0 for v in polygon):
            continue
        for k in range(1, len(polygon) - 1):
            triangles.append([polygon[0], polygon[k], polygon[k + 1]])
    tri = keep[np.asarray(triangles, dtype=np.int64)]
    tri = tri[(tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 0] != tri[:, 2])]
    _, unique_rows = np.unique(np.sort(tri, axis=1), axis=0, return_index=True)
    tri = tri[np.sort(unique_rows)]
    source_vertex = np.unique(tri)
    local = np.full(neutral.shape[0], -1, np.int64)
    local[source_vertex] = np.arange(source_vertex.size)
    base = shapes["neutral"][source_vertex]
    # Offsets rounded to STEP_MM before float16: the small ones (most of them) then take few
    # distinct values and compress well, for an error of at most STEP_MM / 2.
    identity = np.round((shapes["identity"][:, source_vertex] - base) * 10.0 / STEP_MM) * STEP_MM
    expression = np.round((shapes["expression"][:, source_vertex] - base) * 10.0 / STEP_MM) * \
        STEP_MM
    np.savez_compressed(
        output, mean=(neutral[source_vertex] - origin).astype(np.float32),
        identity=np.transpose(identity, (1, 2, 0)).astype(np.float16),
        expression=np.transpose(expression, (1, 2, 0)).astype(np.float16),
        triangles=local[tri].astype(np.int32), part=part[source_vertex].astype(np.int8),
        part_names=np.asarray(PART_NAMES), source_vertex=source_vertex.astype(np.int32))
    counts = np.bincount(part[source_vertex], minlength=len(PART_NAMES))
    print(f"wrote {output} ({output.stat().st_size / 1e6:.2f} MB): {source_vertex.size} vertices "
          f"({', '.join(f'{n} {c}' for n, c in zip(PART_NAMES, counts, strict=True))}), "
          f"{tri.shape[0]} triangles")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
