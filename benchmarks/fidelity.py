"""Benchmark: does the fit stay on the face? Spill, RMSE in the outline, NME, leave-jaw-out.

Run: ``python benchmarks/fidelity.py [PHOTO ...] [--pictures DIR] [--contour | --outline]
[--repeats K] [--json FILE]``
(default photos: every photo with a .pts here: the shared samples, which include the wheel's
shipped astronaut, and 300-W image_0010; a photo given needs a ``.pts`` or a menpo ``.ljson``
beside it). The jaw contour term, in both fits: ``--contour`` on the photo's skin edges
(``fit(contour=True)``), ``--outline`` on MediaPipe's face outline of the photo
(``fit(contour=ff.detect_landmarks(photo)[0].outline)``); only the leave-jaw-out fit uses it,
the full fit's jaw points being all given.

Per photo (definitions in :mod:`facefit.bench.fidelity`):

- ``nme``: full fit (all 68 points), NME over the 68 points;
- ``jaw_nme``: leave-jaw-out — the fit with the 17 jaw points at weight 0
  (``landmark_weights``), its jaw line (landmark marching) against the annotated one;
  ``inner_nme`` is that fit's NME over the 51 points it was given;
- ``spill``, ``coverage``, ``rmse``: the full fit's rendered mask against the annotated
  face outline (68-point hull extended to the forehead), and the photometric RMSE inside it
  with the model's albedo; ``rmse_detail`` with the per-vertex albedo detail solved after
  the fit added (``FitResult.albedo_detail``, where the fit has one);
- ``seconds``: the full fit's time (not a timing benchmark: see benchmarks/fit.py);
- with ``--repeats K``: ``jaw_mean`` and ``jaw_sd``, the leave-jaw-out jaw NME over 3K fits:
  the photometric samples drawn at three strides (``max_samples`` 1000 / 1200 / 1400: every
  6th / 5th / 4th vertex of the ICT face region) times K landmark sets, the first as
  annotated and the others with every point moved by N(0, (1% of the outer-eye-corner
  distance)^2) per coordinate (seeds 1..K-1). One fit's jaw NME moves by up to 0.02 with
  either change (benchmarks/README.md), so differences between methods smaller than that
  need the mean.

``--pictures DIR`` writes ``NAME.fidelity.png`` per photo: the photo dimmed, the rendered mask
tinted blue where allowed and red where it spills, the outline (green) and its dilation
(yellow), the annotated points (white) and the leave-jaw-out jaw (magenta); and
``NAME.heldout.png``: the leave-jaw-out fit rendered over the photo, with the same points.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import facefit as ff
from _timing import machine
from facefit.backends import to_numpy
from facefit.bench import fidelity as fd
from facefit.errors import DetectionError
from facefit.fit import FitOptions

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PHOTOS = [SHARED / "samples" / "astronaut.png", SHARED / "300w" / "image_0010.png",
          SHARED / "samples" / "grace_hopper.jpg"]

#: ``max_samples`` of the repeated leave-jaw-out fits (``--repeats``): three different sets of
#: photometric samples of about the default density (1200 is the default).
SAMPLE_COUNTS = (1000, 1200, 1400)
#: Landmark jitter of the repeated fits, in outer-eye-corner distances (standard deviation).
JITTER = 0.01


def measure(path: Path, fit_options: dict[str, Any] | None = None,
            pictures: Path | None = None,
            forehead: float = fd.FOREHEAD_FRACTION, repeats: int = 0) -> dict[str, Any]:
    """The fidelity figures of one photo (and its overlay picture under ``pictures``);
    ``repeats`` K > 0 adds the leave-jaw-out jaw NME's mean and spread over 3K fits."""
    options = dict(fit_options or {})
    photo = ff.read_image(path)
    given = ff.read_landmarks(fd.landmarks_beside(path))
    size = photo.shape[:2]
    result = ff.fit(photo, given, **options)
    # The model's own colours (what the photometric fit reached); the per-vertex albedo
    # detail solved after the fit, where there is one, is scored apart (rmse_detail).
    detailed = getattr(result, "albedo_detail", None) is not None
    rendered = (result.render(detail=False) if detailed else result.render()).to_numpy()
    mask = rendered["mask"]
    outline_polygon = fd.face_outline(given, forehead)
    outline = fd.inside_convex(outline_polygon, size)
    allowed = fd.inside_convex(outline_polygon, size, fd.SPILL_MARGIN * fd.eye_distance(given))
    weights = np.ones(68)
    weights[fd.JAW] = 0.0
    held_out = ff.fit(photo, given, landmark_weights=weights, **options)
    row = {
        "photo": path.name,
        "nme": fd.nme(result.landmarks, given),
        "jaw_nme": fd.nme(held_out.landmarks, given, fd.JAW),
        "inner_nme": fd.nme(held_out.landmarks, given, slice(17, 68)),
        "spill": fd.spill(mask, allowed),
        "coverage": fd.coverage(mask, outline),
        "rmse": fd.outline_rmse(rendered["image"], photo, mask, outline),
        "rmse_detail": fd.outline_rmse(result.render().to_numpy()["image"], photo, mask,
                                       outline) if detailed else float("nan"),
        "seconds": result.seconds,
    }
    if repeats > 0:
        errors = _repeated_jaw_nme(photo, given, weights, options, repeats)
        row["jaw_mean"], row["jaw_sd"] = float(np.mean(errors)), float(np.std(errors))
    if pictures is not None:
        pictures.mkdir(parents=True, exist_ok=True)
        _picture(pictures / f"{path.stem}.fidelity.png", photo, mask, allowed, outline_polygon,
                 given, to_numpy(held_out.landmarks))
        _points_over(pictures / f"{path.stem}.heldout.png",
                     held_out.render().to_numpy()["image"], given, to_numpy(held_out.landmarks))
    return row


def _repeated_jaw_nme(photo: Any, given: Any, weights: Any, options: dict[str, Any],
                      repeats: int) -> list[float]:
    """Leave-jaw-out jaw NME of the fits over :data:`SAMPLE_COUNTS` x ``repeats`` landmark
    sets (the first as given, the others jittered by :data:`JITTER`, seeds 1..)."""
    scale = JITTER * fd.eye_distance(given)
    errors = []
    for seed in range(repeats):
        points = given if seed == 0 else given + np.random.default_rng(seed).normal(
            size=given.shape) * scale
        for count in SAMPLE_COUNTS:
            settings = FitOptions(landmark_weights=weights, max_samples=count, detail=False,
                                  **options)
            held_out = ff.fit(photo, points, options=settings)
            errors.append(fd.nme(held_out.landmarks, given, fd.JAW))
    return errors


def _picture(out: Path, photo: Any, mask: Any, allowed: Any, outline: Any, given: Any,
             jaw: Any) -> None:
    from PIL import Image, ImageDraw

    canvas = 0.55 * photo
    tint = np.zeros_like(photo)
    tint[mask & allowed] = (0.1, 0.3, 0.9)
    tint[mask & ~allowed] = (1.0, 0.0, 0.0)
    alpha = np.where(mask, 0.45, 0.0)[..., None]
    canvas = (1 - alpha) * canvas + alpha * tint
    image = Image.fromarray((np.clip(canvas, 0, 1) * 255).round().astype(np.uint8))
    draw = ImageDraw.Draw(image)
    ring = [tuple(p) for p in np.asarray(outline).tolist()]
    draw.line([*ring, ring[0]], fill=(0, 255, 0), width=1)
    # The dilated outline's edge: pixels of ``allowed`` with a neighbour outside it.
    edge = allowed & ~(np.roll(allowed, 1, 0) & np.roll(allowed, -1, 0)
                       & np.roll(allowed, 1, 1) & np.roll(allowed, -1, 1))
    pixels = np.asarray(image).copy()
    pixels[edge] = (255, 230, 0)
    image = Image.fromarray(pixels)
    _draw_points(ImageDraw.Draw(image), given, jaw)
    image.save(out)


def _draw_points(draw: Any, given: Any, jaw: Any) -> None:
    """The annotated points (white) and the fitted jaw (magenta), on a PIL ``draw``."""
    for x, y in given[~np.isnan(given).any(axis=1)]:
        draw.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=(255, 255, 255))
    for x, y in jaw[fd.JAW][~np.isnan(jaw[fd.JAW]).any(axis=1)]:
        draw.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=(255, 0, 255))


def _points_over(out: Path, image: Any, given: Any, jaw: Any) -> None:
    """``image`` with the annotated points (white) and the fitted jaw (magenta) drawn on it."""
    from PIL import Image, ImageDraw

    picture = Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8))
    _draw_points(ImageDraw.Draw(picture), given, jaw)
    picture.save(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="*", help="photos with a .pts or menpo .ljson beside them")
    parser.add_argument("--pictures", default=None, help="folder for overlay pictures")
    parser.add_argument("--forehead", type=float, default=fd.FOREHEAD_FRACTION,
                        help="outline's reach above the brows, in frontal eye-nose heights")
    parser.add_argument("--robust", default=None, help="robust loss of the fits (fit's robust=)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--contour", action="store_true",
                        help="fit with the jaw contour term on the photo's skin edges (fit's "
                             "contour=True), both fits")
    source.add_argument("--outline", action="store_true",
                        help="fit with the jaw contour term on MediaPipe's face outline of the "
                             "photo (fit's contour=OUTLINE), both fits")
    parser.add_argument("--repeats", type=int, default=0,
                        help="K: the leave-jaw-out jaw NME's mean and sd over 3K fits "
                             "(three sample sets x K landmark sets, jittered but the first)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    photos = [Path(p) for p in args.photos] or [p for p in PHOTOS if p.is_file()]
    rows = []
    print(f"{'photo':<18} {'NME':>6} {'jaw NME':>8} {'inner':>6} {'spill':>7} {'cover':>6} "
          f"{'RMSE':>6} {'+detail':>7} {'fit s':>6}"
          + (f" {'jaw mean':>8} {'sd':>6}" if args.repeats else ""))
    for path in photos:
        with ff.use_backend("numpy"):
            options: dict[str, Any] = {"robust": args.robust} if args.robust else {}
            if args.contour:
                options["contour"] = True
            if args.outline:
                try:
                    options["contour"] = fd.detected_outline(path)
                except DetectionError as exc:
                    raise SystemExit(str(exc)) from None
            row = measure(path, options or None,
                          pictures=Path(args.pictures) if args.pictures else None,
                          forehead=args.forehead, repeats=args.repeats)
        rows.append(row)
        print(f"{row['photo']:<18} {row['nme']:>6.4f} {row['jaw_nme']:>8.4f} "
              f"{row['inner_nme']:>6.4f} {100 * row['spill']:>6.2f}% "
              f"{100 * row['coverage']:>5.1f}% {row['rmse']:>6.4f} {row['rmse_detail']:>7.4f} "
              f"{row['seconds']:>6.2f}"
              + (f" {row['jaw_mean']:>8.4f} {row['jaw_sd']:>6.4f}" if args.repeats else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
