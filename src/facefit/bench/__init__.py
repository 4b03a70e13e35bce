"""``facefit bench``: time the pipeline's stages, Jacobian strategies, whole fits and the
baselines users would reach for instead, across backends; print a table, write JSON and a plot.

Modules: :mod:`.timing` (measure, machine), :mod:`.sections` (what is timed),
:mod:`.targets` (the issue's targets judged from the figures), this file (options and report).
``python benchmarks/bench.py`` runs the same thing from a checkout.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ..errors import FacefitError

__all__ = ["add_arguments", "run"]

_SECTIONS = ("users", "stages", "baselines", "scaling")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``facefit bench`` options to ``parser``."""
    parser.description = ("Time the pipeline's stages, Jacobian strategies, whole fits and the\n"
                          "baselines users would reach for instead (scipy, Adam, eos), across\n"
                          "backends; print a table, and optionally write JSON and a plot.")
    parser.epilog = ("example: facefit bench --backends numpy,torch --json out.json "
                     "--plot scaling.png")
    parser.add_argument("--backends", default=None,
                        help="comma-separated (default: numpy and torch where installed)")
    parser.add_argument("--jacobians", default="analytic,complex-step,autograd")
    parser.add_argument("--dtypes", default="float64", help="e.g. float64,float32")
    parser.add_argument("--sections", default=",".join(_SECTIONS),
                        help=f"any of {','.join(_SECTIONS)}")
    parser.add_argument("--image", action="append", default=None,
                        help="photo (default: the shipped sample); repeat it for several: the "
                             "baselines run on each, the other sections on the first")
    parser.add_argument("--landmarks", default=None,
                        help="default: IMAGE with suffix .pts (with one --image only)")
    parser.add_argument("--data", default=None,
                        help="the shared data folder with sfm/ and 300w/ for the eos baseline "
                             "(default: ../shared/data if present)")
    parser.add_argument("--no-scipy", action="store_true", help="skip the scipy baseline (slow)")
    parser.add_argument("--adam-steps", type=int, default=1500)
    parser.add_argument("--adam-lr", type=float, default=0.01)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help="few repeats, small sizes, short baselines (a smoke test)")
    parser.add_argument("--json", default=None, help="write every figure and the machine here")
    parser.add_argument("--plot", default=None,
                        help="write time-vs-size curves here (.png; needs matplotlib: "
                             "pip install 'facefit[plot]')")


def _input_paths(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The photo and landmark files: each ``--image``, or the sample shipped in the package."""
    from importlib.resources import files

    if args.image:
        if args.landmarks and len(args.image) > 1:
            raise FacefitError("--landmarks names one photo's points; with several --image, "
                               "put each photo's .pts beside it")
        return [(image, args.landmarks or str(Path(image).with_suffix(".pts")))
                for image in args.image]
    samples = files("facefit") / "data" / "samples"
    return [(str(samples / "astronaut.png"), str(samples / "astronaut.pts"))]


def _inputs(paths: list[tuple[str, str]]) -> list[tuple[Any, Any]]:
    from ..io import read_image, read_landmarks

    return [(read_image(image), read_landmarks(pts)) for image, pts in paths]


def _choices(text: str, valid: tuple[str, ...], what: str) -> list[str]:
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    bad = [item for item in chosen if item not in valid]
    if bad or not chosen:
        raise FacefitError(f"--{what} {text!r}: unknown {', '.join(bad) or 'empty list'}; "
                           f"valid choices: {', '.join(valid)}")
    return chosen


def _table(rows: list[dict[str, Any]], targets: list[dict[str, Any]]) -> str:
    """The rows and the targets as aligned text; columns are as wide as their widest entry."""
    body = []
    for row in rows:
        what = row.get("stage") or row.get("method") or row.get("kind", "")
        detail = next((f"{k}={row[k]}" for k in ("size", "model", "batch", "image")
                       if k in row), "")
        if "unsupported" in row:  # after the figures' columns, so that it widens none
            figures = ["", "", "", "unsupported: " + row["unsupported"]]
        else:
            extra = row.get("energy", row.get("error_px"))
            figures = [_ms(row.get("min_s", row.get("seconds"))), _ms(row.get("median_s")),
                       "" if extra is None else f"{extra:.6g}"]
        body.append([row["section"], f"{what} {detail}".strip(), row.get("backend", ""),
                     row.get("dtype", ""), *figures])
    lines = _aligned(["section", "what", "backend", "dtype", "min", "median", "energy/error"],
                     body, right=(4, 5, 6))
    lines.append("")
    lines.extend(_aligned(["target", "measured", "result"],
                          [[t["target"], t["measured"], "met" if t["met"] else "MISSED"]
                           for t in targets]))
    return "\n".join(lines)


def _aligned(header: list[str], body: list[list[str]], right: tuple[int, ...] = ()) -> list[str]:
    """Rows of cells padded to their column's widest cell (``right``: right-aligned columns).

    Cells beyond the header's columns (an ``unsupported`` reason) follow unpadded: they widen
    no column, and nothing is ever cut.
    """
    widths = [max(len(str(cells[i])) for cells in [header, *body] if i < len(cells))
              for i in range(len(header))]
    lines = []
    for cells in [header, *body]:
        text = [str(c).rjust(w) if i in right else str(c).ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=False))]
        text.extend(str(c) for c in cells[len(widths):])
        lines.append(" ".join(text).rstrip())
    return lines


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds * 1e3:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend, or a FacefitError saying how to get it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError as exc:
        raise FacefitError("--plot needs matplotlib: pip install 'facefit[plot]'") from exc
    return pyplot


def _plot(rows: list[dict[str, Any]], path: str) -> None:
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(1, 3, figsize=(15, 4))
    for backend in sorted({r["backend"] for r in rows if r.get("kind") == "fit vs image size"}):
        sized = [r for r in rows if r.get("kind") == "fit vs image size"
                 and r["backend"] == backend]
        axes[0].plot([r["size"] for r in sized], [r["seconds"] for r in sized], "o-",
                     label=backend)
        batched = [r for r in rows if r.get("kind") == "render vs batch (256x256)"
                   and r["backend"] == backend]
        axes[1].plot([r["batch"] for r in batched], [r["per_image_s"] * 1e3 for r in batched],
                     "o-", label=backend)
        by_model = sorted((r for r in rows if r.get("kind") == "fit vs model"
                           and r["backend"] == backend), key=lambda r: r["vertices"])
        axes[2].plot([r["vertices"] for r in by_model], [r["seconds"] for r in by_model], "o-",
                     label=backend)
    axes[0].set(xlabel="image side (pixels)", ylabel="fit time (s)", title="fit vs image size")
    axes[1].set(xlabel="batch size B", ylabel="ms per image", title="render_batch, 256x256")
    axes[2].set(xlabel="model vertices", ylabel="fit time (s)", title="fit vs model size")
    for axis in axes:
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def run(args: argparse.Namespace) -> int:
    """Run the benchmarks; returns the exit status."""
    from ..backends import BACKEND_NAMES, available_backends
    from ..fit import JACOBIAN_STRATEGIES
    from .sections import baseline_rows, scaling_rows, stage_rows, user_rows
    from .targets import evaluate_targets
    from .timing import machine

    installed = available_backends()
    backends: list[str] = _choices(args.backends, tuple(BACKEND_NAMES), "backends") \
        if args.backends else [b for b in ("numpy", "torch") if b in installed]
    missing = [b for b in backends if b not in installed]
    if missing:
        raise FacefitError(f"--backends: {', '.join(missing)} not available here; available: "
                           f"{', '.join(installed)}")
    jacobians = _choices(args.jacobians, tuple(JACOBIAN_STRATEGIES), "jacobians")
    dtypes = _choices(args.dtypes, ("float64", "float32"), "dtypes")
    sections = _choices(args.sections, _SECTIONS, "sections")
    if args.plot:
        _pyplot()  # before the benchmark runs, not after it: a missing extra is bad input
    data = Path(args.data) if args.data else Path.cwd().parent / "shared" / "data"
    if args.data and not data.is_dir():
        raise FacefitError(f"--data '{args.data}': no such folder")
    data_dir = data if data.is_dir() else None
    paths = _input_paths(args)
    photos = _inputs(paths)
    image, points = photos[0]
    repeats = 2 if args.quick else args.repeats
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    if "users" in sections:  # first: a cold process and a quiet machine, as users start
        rows.extend(user_rows(image, points, *paths[0], repeats=repeats,
                              busy=not args.quick))
    if "stages" in sections:
        for backend in backends:
            for dtype in dtypes:
                rows.extend(stage_rows(image, points, backend, dtype, jacobians, repeats))
    if "baselines" in sections:
        for k, ((photo, photo_points), (photo_path, _)) in enumerate(
                zip(photos, paths, strict=True)):
            found = baseline_rows(photo, photo_points, data_dir if k == 0 else None,
                                  adam_steps=20 if args.quick else args.adam_steps,
                                  adam_lr=args.adam_lr, scipy=not (args.no_scipy or args.quick),
                                  repeats=repeats)
            if len(photos) > 1:  # which photo each solver row is of (not the Surrey rows)
                for row in found:
                    if "Surrey" not in row.get("method", ""):
                        row["image"] = Path(photo_path).name
            rows.extend(found)
    if "scaling" in sections:
        rows.extend(scaling_rows(image, points, backends, None if args.quick else data_dir,
                                 sizes=(128, 256) if args.quick else (256, 512, 768, 1024),
                                 batches=(1, 2) if args.quick else (1, 4, 16),
                                 bfm_size=not args.quick))
    targets = evaluate_targets(rows)
    print(_table(rows, targets))
    seconds = time.perf_counter() - start
    print(f"\n{len(rows)} rows in {seconds:.0f} s")
    if args.json:
        report = {"machine": machine(), "seconds": seconds, "rows": rows, "targets": targets,
                  "command": "facefit bench", "date": time.strftime("%Y-%m-%d")}
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    if args.plot:
        _plot(rows, args.plot)
    return 0
