"""Convert the ICT Face Model Light (MIT) into facefit's embedded default model.

Usage: ``python tools/convert_ict.py [SOURCE] [OUTPUT]`` with SOURCE the folder of the
ICT-FaceKit files (default ``../shared/data/ict-face-model``) and OUTPUT the model file
(default ``src/facefit/data/ict_face_model.npz``; the MIT notice is written beside it).

Choices, and why:
- Region: the *narrow face area* (vertices 0..6705, polygons 0..6559). Photos show the face,
  not the ears, neck or back of the head (3DDFA trims the Basel model the same way); all 68
  landmark vertices lie inside it (the largest index is 6470).
- Quads are split along the diagonal from their first corner; winding is checked so that
  normals point outward (+z at the nose tip).
- Units: centimetres become millimetres; the origin moves to the centroid of the mean shape.
- Identity: the 100 modes ``identity[k] - neutral`` are already scaled so that their
  coefficients are N(0, 1): std 1.
- Expression: the 53 ARKit-style blendshapes ``expression[k] - neutral`` (weights in [0, 1]
  when animated) become the expression basis, names kept, with a prior std of 0.5 per shape:
  a Gaussian centred on the neutral face under which weight 1 is two standard deviations. The
  solver does not enforce the [0, 1] bounds; the prior keeps weights small, and negative
  weights, which the fitter may use, remain plausible small deformations.
- Albedo: the model has none; facefit builds one (:func:`facefit.model.build_albedo`): a
  mean skin colour plus 20 mesh-Laplacian modes per channel, then 20 finer modes that change
  brightness only (all channels in proportion to the mean colour), stds falling with
  frequency. The luminance modes lower the least-squares albedo floor inside the annotated
  face outline from 0.073 / 0.085 / 0.120 to 0.064 / 0.075 / 0.120 (astronaut, 300-W
  image_0010, Grace Hopper; benchmarks/fidelity.py, issue 18) for 20 more coefficients;
  20 more modes per channel (60 more) reach 0.064 / 0.074 / 0.120.
- Jaw landmarks: ICT's 17 jaw vertices bunch toward the chin (points 5-7 and 9-11 sit 5-8 mm
  further down the jaw line than 300-W's evenly spaced points) and start above the outer eye
  corners, where 300-W's points 0 and 16 sit below them; fits to them bent the jaw.
  :func:`facefit.model.respace_jaw` moves them along ICT's own jaw line to even spacing, with
  the ends 0.05 eye-corner distances below the eye corners (issue 18, benchmarks/README.md).
  ICT's own jaw vertices stay as the model's ``outline_indices``: the face region is cut
  along them, as it was built and measured.
- Storage: bases as int16 with a per-component scale (error < 0.5 micrometre for identity).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from facefit.model import (  # noqa: E402
    MorphableModel,
    build_albedo,
    jaw_candidates,
    respace_jaw,
)
from facefit.model.formats._mesh import facing_front  # noqa: E402
from facefit.model.formats.npz import save_npz  # noqa: E402

NARROW_VERTICES = 6706
NARROW_POLYGONS = 6560
EXPRESSION_STD = 0.5
LUMINANCE_MODES = 20


def read_polygons(obj_path: Path, count: int) -> list[list[int]]:
    """The first ``count`` polygons of an OBJ file, as 0-based vertex indices."""
    polygons = []
    with obj_path.open() as stream:
        for line in stream:
            if line.startswith("f "):
                polygons.append([int(token.split("/")[0]) - 1 for token in line.split()[1:]])
                if len(polygons) == count:
                    break
    return polygons


def triangulate(polygons: list[list[int]], n_vertices: int) -> np.ndarray:
    triangles = []
    for polygon in polygons:
        if max(polygon) >= n_vertices:
            continue
        for k in range(1, len(polygon) - 1):
            triangles.append([polygon[0], polygon[k], polygon[k + 1]])
    return np.asarray(triangles, dtype=np.int64)


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else ROOT.parent / "shared" / "data" / \
        "ict-face-model"
    output = Path(argv[2]) if len(argv) > 2 else ROOT / "src" / "facefit" / "data" / \
        "ict_face_model.npz"
    shapes = np.load(source / "face_region_shapes.npz")
    neutral = shapes["neutral"][:NARROW_VERTICES].astype(np.float64) * 10.0
    identity = (shapes["identity"][:, :NARROW_VERTICES] - shapes["neutral"][:NARROW_VERTICES])
    expression = (shapes["expression"][:, :NARROW_VERTICES]
                  - shapes["neutral"][:NARROW_VERTICES])
    identity = np.transpose(identity.astype(np.float64) * 10.0, (1, 2, 0))  # (V, 3, 100)
    expression = np.transpose(expression.astype(np.float64) * 10.0, (1, 2, 0))  # (V, 3, 53)
    centre = neutral.mean(axis=0)
    mean = neutral - centre
    triangles = triangulate(read_polygons(source / "generic_neutral_mesh.obj", NARROW_POLYGONS),
                            NARROW_VERTICES)
    indices = json.loads((source / "vertex_indices.json").read_text())
    landmarks = np.asarray(indices["idx_to_landmark_verts"], dtype=np.int64)
    assert landmarks.shape == (68,) and landmarks.max() < NARROW_VERTICES
    outline = landmarks[:17].copy()  # ICT's jaw line: the face region is cut along it
    landmarks = respace_jaw(mean, landmarks)  # ICT's jaw vertices to the 300-W spacing
    triangles = facing_front(mean, triangles)  # normals out of the face, toward the camera
    albedo_mean, albedo_basis, albedo_std = build_albedo(triangles, NARROW_VERTICES,
                                                         luminance_modes=LUMINANCE_MODES)
    model = MorphableModel(
        name="ICT Face Model Light (narrow face)",
        mean_shape=mean, identity_basis=identity, identity_std=np.ones(identity.shape[2]),
        expression_basis=expression,
        expression_std=np.full(expression.shape[2], EXPRESSION_STD),
        albedo_mean=albedo_mean, albedo_basis=albedo_basis, albedo_std=albedo_std,
        triangles=triangles, landmark_indices=landmarks,
        jaw_candidates=jaw_candidates(mean, landmarks), outline_indices=outline,
        metadata={
            "source": "ICT-FaceKit FaceXModel (commit da5f95a6), narrow face area",
            "licence": "MIT (see ICT_FACE_MODEL_LICENSE.txt)",
            "converted_by": "tools/convert_ict.py",
            "expression_names": [str(n) for n in shapes["expression_names"]],
            "expression_prior": f"blendshape weights, std {EXPRESSION_STD}, unbounded",
            "albedo": "built: mean skin colour + 20 graph-Laplacian modes per channel + "
                      f"{LUMINANCE_MODES} finer brightness-only modes",
            "origin_mm_in_source": (centre).tolist(),
            "jaw_landmarks": "ICT's jaw vertices respaced to 300-W (facefit.model.respace_jaw)",
        })
    # Stored uncompressed: a cold `facefit fit` spent 40-90 ms inflating it (the wheel's zip
    # compresses it anyway).
    save_npz(model, output, quantise=True, mean_dtype="float32", compress=False)
    notice = (source / "LICENSE").read_text()
    (output.parent / "ICT_FACE_MODEL_LICENSE.txt").write_text(
        notice.rstrip() + "\n\nConverted to ict_face_model.npz (narrow face area, millimetres, "
        "built albedo) by facefit's tools/convert_ict.py.\n")
    print(f"wrote {output} ({output.stat().st_size / 1e6:.2f} MB): {model}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
