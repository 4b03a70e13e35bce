"""Time the same work on two source trees, alternating fresh processes: did a refactor change
results or cost?

Run: ``python benchmarks/compare_trees.py OLD_SRC NEW_SRC [ROUNDS]`` with each ``SRC`` a
``src`` folder of a facefit checkout whose C extensions are built (e.g. a ``git worktree`` of
the old commit with the ``.so`` files copied in). Per round and tree, one fresh process
measures a warm fit of the astronaut sample (median of 5; ``detail=False`` where the tree has
it, so that both do the same work), a 512x512 render (median of 20), and the photometric and
landmark terms' Jacobians at the fitted point (medians of 30 and 50), and prints the final
energy: a pure refactor gives the same bits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples" / "astronaut.png"

_MEASURE = r"""
import inspect, json, os, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import facefit as ff

def median(work, n):
    times = []
    for _ in range(n):
        start = time.perf_counter(); work(); times.append(time.perf_counter() - start)
    return statistics.median(times)

image = ff.read_image(sys.argv[2]); points = ff.read_landmarks(sys.argv[2][:-4] + ".pts")
model = ff.load_model()
options = {"detail": False} if "detail" in inspect.signature(ff.fit).parameters else {}
ff.fit(image, points, model, **options)
fit_seconds = median(lambda: ff.fit(image, points, model, **options), 5)
result = ff.fit(image, points, model, **options)
render_seconds = median(lambda: ff.render(model, result.params, image.shape[:2], image), 20)
problem = result.problem
x = problem.backend.asarray(result.x)
photometric, landmarks = problem.photometric_term, problem.landmark_term

def fresh(call):  # the term keeps its last forward pass: time one from scratch
    cache = getattr(photometric, "_last", None)
    if cache is not None:
        cache.clear()
    else:
        photometric._last_forward = None
    return call(x)

print(json.dumps({"load": os.getloadavg()[0], "energy": result.energy, "fit": fit_seconds,
                  "render": render_seconds,
                  "photometric jacobian": median(lambda: fresh(photometric.jacobian), 30),
                  "photometric residuals": median(lambda: fresh(photometric.residuals), 30),
                  "landmark jacobian": median(lambda: landmarks.jacobian(x), 50)}))
"""


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    old, new = argv[0], argv[1]
    rounds = int(argv[2]) if len(argv) > 2 else 3
    for round_index in range(rounds):
        for label, tree in (("old", old), ("new", new)):
            out = subprocess.run([sys.executable, "-c", _MEASURE, tree, str(PHOTO)],
                                 capture_output=True, text=True, check=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            print(json.dumps({"round": round_index, "tree": label, **row}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
