"""Convert the ICT model's head and neck (MIT) into facefit's embedded head extension.

Usage: ``python tools/convert_ict_head.py [SOURCE] [OUTPUT]`` with SOURCE the folder of the
ICT-FaceKit files (default ``../shared/data/ict-face-model``) and OUTPUT the file (default
``src/facefit/data/ict_head.npz``).

Generation turns the whole head of a fitted photo (issue 17), so it needs the head around the
narrow face that the default model covers. ``head_shapes.npz`` holds the ICT model's identity
and expression shapes for the whole head; its first 6706 vertices are the default model's
vertices (same order, same shapes), so only the rest is stored here and appended to the face
model's own arrays when loaded (:func:`facefit.generate.head.head_model`):

- Region: the face region beyond the narrow face (vertices 6706..9408: forehead to hairline,
  ears, sides, under the chin) and the head and neck (9409..11247), 4542 vertices; the polygons
  of the OBJ whose corners all lie in vertices 0..11247, split into triangles the same way as
  the face model's, wound outward.
- Units and origin as the face model: millimetres, minus the face model's
  ``origin_mm_in_source``.
- Bases: the 100 identity and 53 expression offsets ``shape[k] - neutral`` of those vertices,
  float16 millimetres (error below 0.03 mm; the offsets stay under 60 mm); the stds are the face
  model's (1 and 0.5), so the same coefficients drive both.
- ``region``: 0 for the face region, 1 for head and neck, per stored vertex.
- Not stored: the mouth socket, eye sockets, gums, tongue and teeth (9435 more vertices).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))

from convert_ict import read_polygons, triangulate  # noqa: E402
from facefit.model import load_model  # noqa: E402
from facefit.model.formats._mesh import facing_front  # noqa: E402

NARROW_VERTICES = 6706
FACE_REGION_VERTICES = 9409
HEAD_VERTICES = 11248
ALL_POLYGONS = 10**9  # read them all


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else ROOT.parent / "shared" / "data" / \
        "ict-face-model"
    output = Path(argv[2]) if len(argv) > 2 else ROOT / "src" / "facefit" / "data" / \
        "ict_head.npz"
    shapes = np.load(source / "head_shapes.npz")
    face = load_model()
    origin = np.asarray(face.metadata["origin_mm_in_source"], dtype=np.float64)
    neutral = shapes["neutral"][:HEAD_VERTICES].astype(np.float64) * 10.0 - origin
    # The stored face model must be the head's first vertices (quantised, so to 0.01 mm).
    assert np.abs(neutral[:NARROW_VERTICES] - face.mean_shape).max() < 0.01
    extra = slice(NARROW_VERTICES, HEAD_VERTICES)
    identity = (shapes["identity"][:, extra] - shapes["neutral"][extra]) * 10.0
    expression = (shapes["expression"][:, extra] - shapes["neutral"][extra]) * 10.0
    polygons = read_polygons(source / "generic_neutral_mesh.obj", ALL_POLYGONS)
    triangles = triangulate(polygons, HEAD_VERTICES)
    # A whole head's normals sum to about nothing, so the winding is decided on the face, as the
    # face model's was (the OBJ winds all its polygons alike).
    narrow = triangulate(polygons, NARROW_VERTICES)
    if facing_front(neutral, narrow) is not narrow:
        triangles = triangles[:, ::-1].copy()
    face_rows = np.flatnonzero(triangles.max(axis=1) < NARROW_VERTICES)
    assert np.array_equal(np.sort(triangles[face_rows], axis=0).shape, face.triangles.shape)
    region = (np.arange(NARROW_VERTICES, HEAD_VERTICES) >= FACE_REGION_VERTICES).astype(np.int8)
    np.savez_compressed(
        output, mean=neutral[extra].astype(np.float32),
        identity=np.transpose(identity, (1, 2, 0)).astype(np.float16),
        expression=np.transpose(expression, (1, 2, 0)).astype(np.float16),
        triangles=triangles.astype(np.int32), region=region,
        first_vertex=np.int64(NARROW_VERTICES))
    print(f"wrote {output} ({output.stat().st_size / 1e6:.2f} MB): {HEAD_VERTICES} vertices "
          f"({HEAD_VERTICES - NARROW_VERTICES} stored), {triangles.shape[0]} triangles")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
