"""Derive the MediaPipe-478 to iBUG-68 table shipped as ``facefit/data/mediapipe_ibug68.json``.

Faces with known 68 points: the two shipped-sample photos (``samples/*.pts``, dlib-made) and
views of the same people re-rendered by ``ff.generate`` with new poses (yaw up to +-40 degrees)
and expressions, whose ``.landmarks`` are exact by construction (the model's iBUG vertices,
jaw on the silhouette). The hand-annotated 300-W photo is held out: the tests and
``benchmarks/detect.py`` measure the table on it.

For each iBUG point the script picks the mesh point, or the fixed convex combination of two
(weights 1/4, 1/2, 3/4) or three (equal weights) mesh points, among the 468 face-mesh
points (the 10 iris points follow the gaze and are left out), with the smallest mean error over
the faces, errors divided by each face's outer-eye-corner distance. A combination replaces a
single point only when it lowers the error by more than 5% (fewer points, less overfitting).

Fit weights: the inverse of each point's mean squared error relative to the median over the
inner-face points (17-67), clipped to [0.1, 1]. They are what ``DetectedFace.point_weights``
gives ``ff.fit``: points that MediaPipe places differently from an annotator (the jaw, whose
mesh vertices drift inward when the head turns) pull less.

Usage: ``python tools/derive_mediapipe_mapping.py [--data ../shared/data] [--views 16]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

import facefit as ff
from facefit.detect._mediapipe import detect_dense

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "facefit" / "data" / "mediapipe_ibug68.json"
PAIR_WEIGHTS = (0.25, 0.5, 0.75)
GAIN = 0.95
IRIS_START = 468  # a combination must beat the best single point by 5%


def _dense(image: np.ndarray) -> np.ndarray | None:
    pixels = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    faces = detect_dense(pixels)
    if not faces:
        return None
    return max(faces, key=lambda f: np.ptp(f.dense[:, 0]) * np.ptp(f.dense[:, 1])).dense


def collect(data: Path, views: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(F, 478, 2) detected mesh points, (F, 68, 2) true points, names."""
    dense, truth, names = [], [], []
    for name in ("samples/astronaut.png", "samples/grace_hopper.jpg"):
        photo = ff.read_image(data / name)
        points = ff.read_landmarks((data / name).with_suffix(".pts"))
        found = _dense(photo)
        if found is not None:
            dense.append(found[:, :2])
            truth.append(points)
            names.append(name)
        for sample in ff.generate(photo, points, n=views, seed=7):
            found = _dense(sample.image)
            if found is None:
                print(f"{name} view {sample.index}: no face", file=sys.stderr)
                continue
            dense.append(found[:, :2])
            truth.append(sample.landmarks)
            names.append(f"{name}#view{sample.index}")
    return np.stack(dense), np.stack(truth), names


def derive(dense: np.ndarray, truth: np.ndarray) -> tuple[list[list[list[float]]], np.ndarray]:
    """The table (per iBUG point a list of [index, weight]) and each point's mean error."""
    scale = np.linalg.norm(truth[:, 36] - truth[:, 45], axis=1)  # (F,)

    def error(combined: np.ndarray, point: int) -> float:
        # combined: (F, 2) candidate positions of iBUG point `point` in every face
        return float(np.mean(np.linalg.norm(combined - truth[:, point], axis=1) / scale))

    table, errors = [], []
    for point in range(68):
        distance = np.linalg.norm(dense - truth[:, point][:, None, :], axis=2)  # (F, 478)
        single = (distance / scale[:, None]).mean(axis=0)
        order = np.argsort(single)
        # The iris points (468-477) follow the gaze, not the eyelids: never used.
        order = order[order < IRIS_START]
        best: list[list[float]] = [[int(order[0]), 1.0]]
        best_error = float(single[order[0]])
        target = best_error * GAIN
        top = [int(i) for i in order[:12]]
        for i, j in itertools.combinations(top, 2):
            for w in PAIR_WEIGHTS:
                e = error(w * dense[:, i] + (1 - w) * dense[:, j], point)
                if e < target and e < best_error:
                    best, best_error = [[i, w], [j, 1 - w]], e
        for combo in itertools.combinations(top[:8], 3):
            e = error(dense[:, list(combo)].mean(axis=1), point)
            if e < target and e < best_error:
                best, best_error = [[k, 1 / 3] for k in combo], e
        table.append(best)
        errors.append(best_error)
    return table, np.asarray(errors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--views", type=int, default=16, help="generated views per photo")
    args = parser.parse_args()
    dense, truth, names = collect(args.data, args.views)
    table, errors = derive(dense, truth)
    squared = errors ** 2
    fit_weights = np.clip(np.median(squared[17:]) / squared, 0.1, 1.0)
    OUT.write_text(json.dumps({
        "description": "MediaPipe Face Landmarker 478 mesh points -> 68 iBUG points: for each "
                       "iBUG point (0-based, iBUG order) a list of [mesh index, weight]; "
                       "fit_weights: relative landmark weights for fitting",
        "derived_by": "tools/derive_mediapipe_mapping.py",
        "faces": len(names),
        "mean_error_per_point": [round(float(e), 4) for e in errors],
        "points": [[[int(i), round(float(w), 4)] for i, w in combo] for combo in table],
        "fit_weights": [round(float(w), 3) for w in fit_weights],
    }, indent=1) + "\n")
    print(f"{len(names)} faces; mean error / eye-corner distance: all {errors.mean():.4f}, "
          f"jaw {errors[:17].mean():.4f}, inner {errors[17:].mean():.4f}; wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
