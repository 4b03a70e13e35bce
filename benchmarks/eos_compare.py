"""Benchmark: landmark-only fit of the Surrey Face Model, facefit against eos' C++ fitter.

Run: ``pip install eos-py`` then ``python benchmarks/eos_compare.py [--json FILE]``.

Both fit the real Surrey model (``../shared/data/sfm``: shape, 6 expression blendshapes, iBUG
mapping) to the 68 hand-made landmarks of ``300w/image_0010``. eos' ``fit_shape_and_pose``
also uses the face contour (its contour landmarks and model contour files); facefit fits the
points the mapping defines (the chin is the only jaw point in it). Error is the mean distance in
pixels between the given landmarks and the fitted model's projection of the mapped vertices,
over the 50 mapped points, also as NME (over the outer-eye-corner distance).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import facefit as ff
from _timing import machine

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _eos_fit(points: np.ndarray, size: tuple[int, int], sfm: Path) -> tuple[np.ndarray, float]:
    import eos

    model = eos.morphablemodel.load_model(str(sfm / "sfm_shape_3448.bin"))
    blendshapes = eos.morphablemodel.load_blendshapes(str(sfm / "expression_blendshapes_3448.bin"))
    with_expressions = eos.morphablemodel.MorphableModel(
        model.get_shape_model(), blendshapes, color_model=eos.morphablemodel.PcaModel(),
        vertex_definitions=None, texture_coordinates=model.get_texture_coordinates())
    mapper = eos.core.LandmarkMapper(str(sfm / "ibug_to_sfm.txt"))
    topology = eos.morphablemodel.load_edge_topology(str(sfm / "sfm_3448_edge_topology.json"))
    contour = eos.fitting.ContourLandmarks.load(str(sfm / "ibug_to_sfm.txt"))
    model_contour = eos.fitting.ModelContour.load(str(sfm / "sfm_model_contours.json"))
    landmarks = [eos.core.Landmark(str(i + 1), [float(x), float(y)])
                 for i, (x, y) in enumerate(points)]
    height, width = size
    start = time.perf_counter()
    mesh, pose, _, _ = eos.fitting.fit_shape_and_pose(
        with_expressions, landmarks, mapper, width, height, topology, contour, model_contour)
    seconds = time.perf_counter() - start
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    clip = (np.asarray(pose.get_projection()) @ np.asarray(pose.get_modelview())
            @ np.c_[vertices, np.ones(len(vertices))].T).T
    projected = np.stack([(clip[:, 0] + 1) / 2 * width, (1 - clip[:, 1]) / 2 * height], axis=1)
    return projected, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    sfm = SHARED / "sfm"
    image = ff.read_image(SHARED / "300w" / "image_0010.png")
    points = ff.read_landmarks(SHARED / "300w" / "image_0010.pts")
    model = ff.load_model(sfm / "sfm_shape_3448.bin",
                          blendshapes=sfm / "expression_blendshapes_3448.bin",
                          landmarks=sfm / "ibug_to_sfm.txt")
    mapped = model.landmark_indices >= 0
    eye = float(np.linalg.norm(points[36] - points[45]))
    rows = []
    ff.fit(None, points, model)
    times = []
    for _ in range(args.repeats):
        result = ff.fit(None, points, model)
        times.append(result.seconds)
    error = float(np.linalg.norm(result.landmarks[mapped] - points[mapped], axis=1).mean())
    rows.append({"method": "facefit landmark-only (numpy)", "seconds": min(times),
                 "error_px": error, "nme": error / eye})
    try:
        eos_times = []
        for _ in range(args.repeats):
            projected, seconds = _eos_fit(points, image.shape[:2], sfm)
            eos_times.append(seconds)
        ids = model.landmark_indices[mapped]
        eos_error = float(np.linalg.norm(projected[ids] - points[mapped], axis=1).mean())
        rows.append({"method": "eos fit_shape_and_pose (C++)", "seconds": min(eos_times),
                     "error_px": eos_error, "nme": eos_error / eye})
    except ImportError:
        print("eos-py is not installed: pip install eos-py", file=sys.stderr)
    print(f"{'method':<34} {'seconds':>8} {'error px':>9} {'NME':>7}")
    for row in rows:
        print(f"{row['method']:<34} {row['seconds']:>8.4f} {row['error_px']:>9.2f} "
              f"{row['nme']:>7.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
