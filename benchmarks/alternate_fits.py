"""Warm fits of two (or more) source trees in alternating processes: which is faster, in wall
and CPU time, under the same load?

Run: ``python benchmarks/alternate_fits.py ROUNDS FITS PHOTO SRC [SRC ...]`` with each ``SRC``
a ``src`` folder of a facefit checkout whose C extensions are built and ``PHOTO`` an image
with a ``.pts`` file beside it. Per round, one fresh process per tree (the trees' order
swapped every other round) fits the photo once to warm up, then ``FITS`` times with the
default options (albedo detail included), recording each fit's wall time (``FitResult.seconds``)
and the process CPU time it took, and prints the final energy and the iteration count: the same
work on both trees, or not. Ends with each tree's median and minimum over all its fits.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

_MEASURE = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import facefit as ff
image = ff.read_image(sys.argv[2])
points = ff.read_landmarks(sys.argv[2].rsplit(".", 1)[0] + ".pts")
model = ff.load_model()
ff.fit(image, points, model)
walls, cpus = [], []
for _ in range(int(sys.argv[3])):
    start = time.process_time()
    result = ff.fit(image, points, model)
    cpus.append(time.process_time() - start)
    walls.append(result.seconds)
print(json.dumps({"walls": walls, "cpus": cpus, "energy": result.energy,
                  "iterations": len(result.history), "load": os.getloadavg()[0]}))
"""


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print(__doc__)
        return 2
    rounds, fits, photo, trees = int(argv[0]), argv[1], argv[2], argv[3:]
    runs: dict[str, list[dict]] = {tree: [] for tree in trees}
    for k in range(rounds):
        for tree in trees if k % 2 == 0 else trees[::-1]:
            done = subprocess.run([sys.executable, "-c", _MEASURE, tree, photo, fits],
                                  capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            runs[tree].append(row)
            print(f"{k} {tree}: wall median {statistics.median(row['walls']):.3f} s "
                  f"(min {min(row['walls']):.3f}), CPU median {statistics.median(row['cpus']):.3f}"
                  f" s, energy {row['energy']!r}, {row['iterations']} iterations, "
                  f"load {row['load']:.2f}", flush=True)
    for tree, rows in runs.items():
        walls = [t for row in rows for t in row["walls"]]
        cpus = [t for row in rows for t in row["cpus"]]
        print(f"{tree}: all fits wall median {statistics.median(walls):.3f} s (min "
              f"{min(walls):.3f}), CPU median {statistics.median(cpus):.3f} s "
              f"(min {min(cpus):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
