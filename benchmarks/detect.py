"""Benchmark: face and 68-point detection time, its accuracy, and fits from detected points.

Run: ``python benchmarks/detect.py [--repeats 10] [--detectors mediapipe,dlib] [--json FILE]``.

Per photo and detector: the first call in a fresh process (cold: imports, model loading) and
the median and spread of warm calls; NME (mean point error over the outer-eye-corner distance,
as in ``tests/test_fit_real.py``) of the detector's 68 points against the photo's ``.pts``;
and the NME of the fitted landmarks of ``ff.fit`` from (a) those ``.pts`` points and (b) the
detected points, against the same ``.pts``. Only ``300w/image_0010.pts`` is a hand annotation;
the two sample photos' points were made by dlib, which the table says. The target of issue
#19: on the hand-annotated photo, (b) within 1.3x of (a).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

import facefit as ff
from _timing import machine

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PHOTOS = {
    "300w/image_0010.png": "hand (300-W)",
    "samples/astronaut.png": "dlib-made",
    "samples/grace_hopper.jpg": "dlib-made",
}


def nme(points: np.ndarray, reference: np.ndarray) -> float:
    """Mean point error over the outer-eye-corner distance."""
    return float(np.linalg.norm(points - reference, axis=1).mean()
                 / np.linalg.norm(reference[36] - reference[45]))


def cold_seconds(path: Path, detector: str) -> float:
    """Seconds of the first ``detect_landmarks`` call in a fresh interpreter (after import)."""
    code = ("import time, facefit as ff; s = time.perf_counter(); "
            f"ff.detect_landmarks({str(path)!r}, detector={detector!r}); "
            "print(time.perf_counter() - s)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--detectors", default="mediapipe,dlib")
    parser.add_argument("--no-fit", action="store_true", help="skip the fits")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    rows = []
    hand_fits: dict[str, float] = {}
    for detector in args.detectors.split(","):
        for name, kind in PHOTOS.items():
            path = SHARED / name
            image = ff.read_image(path)
            reference = ff.read_landmarks(path.with_suffix(".pts"))
            try:
                cold = cold_seconds(path, detector)
            except subprocess.CalledProcessError as exc:
                print(f"{detector}: unavailable ({exc.stderr.strip().splitlines()[-1]})")
                break
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                faces = ff.detect_landmarks(image, detector=detector)
                times.append(time.perf_counter() - start)
            row = {"photo": name, "reference": kind, "detector": detector,
                   "size": f"{image.shape[1]}x{image.shape[0]}", "cold_s": cold,
                   "warm_median_s": statistics.median(times), "warm_min_s": min(times),
                   "warm_max_s": max(times), "faces": len(faces),
                   "nme_detected": nme(faces[0].landmarks, reference)}
            if not args.no_fit:
                if name not in hand_fits:
                    hand_fits[name] = nme(ff.fit(image, reference).landmarks, reference)
                row["nme_fit_from_reference"] = hand_fits[name]
                row["nme_fit_from_detected"] = nme(ff.fit(image, faces[0]).landmarks,
                                                   reference)
                row["ratio"] = row["nme_fit_from_detected"] / row["nme_fit_from_reference"]
            rows.append(row)
            fit_text = "" if args.no_fit else (
                f"  fit NME from .pts {row['nme_fit_from_reference']:.4f}, from detected "
                f"{row['nme_fit_from_detected']:.4f} (x{row['ratio']:.2f})")
            print(f"{detector:9s} {name:26s} [{kind}] cold {cold * 1000:6.0f} ms, warm median "
                  f"{row['warm_median_s'] * 1000:5.0f} ms ({row['warm_min_s'] * 1000:.0f}-"
                  f"{row['warm_max_s'] * 1000:.0f}), detector NME {row['nme_detected']:.4f}"
                  f"{fit_text}", flush=True)
    load = os.getloadavg()
    print(f"load average during the run (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"machine": machine(), "load": load, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
