"""Benchmark: full fit of a sample photo, side by side with the finite-difference baseline.

Run: ``python benchmarks/fit.py [--image PATH] [--landmarks PATH] [--scipy] [--contour]
[--json FILE]`` (``--contour``: the fit with the jaw contour term).

Targets (2 cores, float64): the facefit fit of ``samples/astronaut.png`` in <= 1 s on NumPy, and
>= 20x faster than ``scipy.optimize.least_squares(problem.residuals, problem.x0,
jac="2-point")`` — the original code's finite-difference approach — at equal or lower energy.
With ``--scipy`` the baseline runs twice from the same start ``x0``: on the full fit's own
:class:`facefit.FitProblem` (the discrete state — visibility, jaw vertices — frozen where the
fit ended, so both energies are of the same function), and on the problem frozen at ``x0``,
side by side with facefit's LM on that very problem with every parameter free.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import facefit as ff
from _timing import machine

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=str(SHARED / "samples" / "astronaut.png"))
    parser.add_argument("--landmarks", default=None)
    parser.add_argument("--backends", default="numpy,torch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scipy", action="store_true", help="also run the scipy baseline")
    parser.add_argument("--contour", action="store_true",
                        help="fit with the contour term (fit's contour=True)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    landmarks = args.landmarks or str(Path(args.image).with_suffix(".pts"))
    image = ff.read_image(args.image)
    points = ff.read_landmarks(landmarks)
    rows = []
    numpy_best = None
    for name in args.backends.split(","):
        with ff.use_backend(name):
            # warm-up (model upload, first-call imports)
            ff.fit(image, points, contour=args.contour)
            best = None
            for _ in range(args.repeats):
                result = ff.fit(image, points, contour=args.contour)
                best = result if best is None or result.seconds < best.seconds else best
            assert best is not None
            numpy_best = best if name == "numpy" else numpy_best
            rows.append({"method": f"facefit analytic ({name})", "seconds": best.seconds,
                         "energy": best.energy, "iterations": len(best.history)})
    if args.scipy:
        from scipy.optimize import least_squares

        from facefit.backends import get_backend
        from facefit.bench.sections import frozen_lm

        def scipy_row(problem: ff.FitProblem, which: str) -> dict:
            start = time.perf_counter()
            solution = least_squares(problem.residuals, problem.x0, jac="2-point",
                                     method="trf")
            return {"method": f"scipy 2-point, {which}", "seconds": time.perf_counter() - start,
                    "energy": float(2 * solution.cost), "iterations": int(solution.nfev)}

        with ff.use_backend("numpy"):
            if numpy_best is not None:
                # The full fit's own problem: state frozen where the fit ended.
                rows.append(scipy_row(numpy_best.problem, "fit's problem"))
            # Solver against solver: the problem frozen at x0, every parameter free.
            problem = ff.FitProblem(image, points)
            x0 = get_backend().asarray(problem.x0)
            frozen_lm(problem, x0)  # warm-up
            # As fit's photometric stage runs it: coarse to fine, one BLAS thread.
            start = time.perf_counter()
            report = frozen_lm(problem, x0)
            seconds = time.perf_counter() - start
            if problem.photometric_term is not None:
                problem.photometric_term.smooth(0.0)
            rows.append({"method": "facefit LM, frozen problem", "seconds": seconds,
                         "energy": report.energy, "iterations": report.iterations})
            rows.append(scipy_row(problem, "frozen problem"))
    print(f"{'method':<40} {'seconds':>9} {'energy':>12} {'iterations':>10}")
    for row in rows:
        print(f"{row['method']:<40} {row['seconds']:>9.3f} {row['energy']:>12.6g} "
              f"{row['iterations']:>10}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
