"""Diagnosis: where the fitted jaw misses the annotated one, point by point, in the face's frame.

Run: ``python benchmarks/jaw_bias.py [PHOTO ...] [--ict-jaw] [--reach] [--pose-share]
[--annotators] [--pictures DIR]``
(default photos: as ``benchmarks/fidelity.py``; each needs a ``.pts`` or menpo ``.ljson``
beside it).

Per photo, two fits (numpy, default options): all 68 points (``full``) and the 17 jaw points
at weight 0 (``held``, leave-jaw-out, as ``fidelity.py``'s jaw NME). For each jaw point the
signed error of the fitted point in the annotation's face frame: x along the outer eye corners
(36 -> 45), y perpendicular to it (down the face), both over the outer-eye-corner distance.
Printed per point and photo, then per photo: jaw NME, the mean error along the annotated
jaw line's outward normal (``out``: + outside the annotated outline; the cheeks are points
0-5 and 11-16) and along its tangent (``|along|``: a point slid along the outline), the chin
(6-10) height error, the lip-to-chin length (57 -> 8) annotated and fitted, and the pose.

``--reach`` adds the model's reach: the jaw NME of landmark-only fits *to the annotated jaw
itself* (all 68 points, no photo), with the identity and expression prior weights at 1, 1/10,
1/100 and 1/1000 of the defaults. As the prior fades the fit may bend the face as far as the
model's shape space and its jaw landmark rule (the candidate lines of landmark marching) allow;
what error is left there is the model's, not the fit's (issue 18's "where the limit is the
shipped model").

``--pose-share`` adds how much of the held-out jaw's error is the pose's: the leave-jaw-out
fit with MediaPipe's face outline (``contour=`` the detected face's outline, as
``fidelity.py --outline``), then the same with the full fit's pitch, and then its whole
rotation, held by a stiff term (:class:`PoseAnchor`). What the full fit's pose does not remove
is the jaw's shape and the outline's own error.

``--annotators`` adds how far two readings of 300-W's jaw convention lie from the hand
annotation, to set the held-out jaw's error beside: dlib's 68-point predictor
(``detector="dlib"``, trained on 300-W's training photos, so it learned the convention from
thousands of annotated jaws) and MediaPipe's jaw placed on its face outline
(:func:`facefit.detect.jaw.outline_jaw`), jaw and inner NME each, the face being the detected
one whose box holds the annotation's centre (n/a where no detected face does). Both see the
jaw in the photo, which the leave-jaw-out fit does not (it has the outline only).

``--ict-jaw`` fits and measures with the ICT model's own jaw vertices (``vertex_indices.json``
in ``../shared/data/ict-face-model``) instead of the shipped, respaced ones
(:func:`facefit.model.respace_jaw`); the image-space spacing of the marched points
(:func:`facefit.render.landmarks.jaw_spacing`) applies either way. ``--pictures DIR`` writes
``NAME.jaw.png``: the photo, the annotated jaw (green), the leave-jaw-out jaw (magenta)
joined to it, the full fit's (cyan).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import facefit as ff
from _timing import machine
from facefit.bench import fidelity as fd
from facefit.model import jaw_candidates

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PHOTOS = [SHARED / "samples" / "astronaut.png", SHARED / "300w" / "image_0010.png",
          SHARED / "samples" / "grace_hopper.jpg"]


def face_frame(points: Any, given: Any) -> Any:
    """(N, 2) ``points`` in ``given``'s face frame: origin between the outer eye corners, x
    toward point 45, y perpendicular (down the face), unit the outer-eye-corner distance."""
    origin = 0.5 * (given[36] + given[45])
    across = given[45] - given[36]
    unit = float(np.linalg.norm(across))
    across = across / unit
    down = np.array([-across[1], across[0]])
    offset = np.asarray(points) - origin
    return np.stack([offset @ across, offset @ down], axis=-1) / unit


def outline_directions(jaw: Any) -> tuple[Any, Any]:
    """Unit tangent and outward normal (17, 2) of a jaw polyline in the face frame."""
    tangent = np.gradient(jaw, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=-1)
    inside = jaw.mean(axis=0) - np.array([0.0, 0.8])  # the face lies above its jaw line
    normal *= np.sign(np.sum((jaw - inside) * normal, axis=1))[:, None]
    return tangent, normal


def ict_jaw_model(model: Any) -> Any:
    """``model`` with the ICT file's own jaw landmark vertices (and their candidate lines)."""
    table = json.loads((SHARED / "ict-face-model" / "vertex_indices.json").read_text())
    marks = np.asarray(model.landmark_indices).copy()
    marks[:17] = np.asarray(table["idx_to_landmark_verts"])[:17]
    return dataclasses.replace(model, landmark_indices=marks,
                               jaw_candidates=jaw_candidates(model.mean_shape, marks))


def measure(path: Path, model: Any) -> dict[str, Any]:
    """Both fits of one photo and their signed jaw errors (see the module docstring)."""
    photo = ff.read_image(path)
    given = ff.read_landmarks(fd.landmarks_beside(path))
    weights = np.ones(68)
    weights[fd.JAW] = 0.0
    row: dict[str, Any] = {"photo": path.name, "given": given}
    annotated = face_frame(given, given)
    tangent, normal = outline_directions(annotated[:17])
    for tag, point_weights in (("full", None), ("held", weights)):
        result = ff.fit(photo, given, model=model, landmark_weights=point_weights)
        fitted = np.asarray(result.landmarks)
        error = face_frame(fitted, given)[:17] - annotated[:17]  # (17, 2)
        out = np.sum(error * normal, axis=1)
        local = face_frame(fitted, given)
        row[tag] = {
            "points": fitted, "error": error,
            "jaw_nme": fd.nme(fitted, given, fd.JAW),
            "out": float(out.mean()), "cheeks_out": float(np.r_[out[:6], out[11:]].mean()),
            "along": float(np.abs(np.sum(error * tangent, axis=1)).mean()),
            "chin_dy": float(error[6:11, 1].mean()),
            "lip_chin": float(local[8, 1] - local[57, 1]),
            "pose_deg": np.degrees(np.asarray(result.params.rotation)).round(1).tolist(),
            "rotation": np.asarray(result.params.rotation),
        }
    row["lip_chin"] = float(annotated[8, 1] - annotated[57, 1])
    return row


#: Prior weights of :func:`reach`, as fractions of the defaults (:class:`facefit.FitWeights`).
REACH_PRIOR_SCALES = (1.0, 0.1, 0.01, 0.001)


def reach(path: Path, model: Any) -> list[float]:
    """Jaw NME of landmark-only fits to all 68 annotated points of ``path``, one per prior
    scale of :data:`REACH_PRIOR_SCALES` (see the module docstring)."""
    given = ff.read_landmarks(fd.landmarks_beside(path))
    default = ff.FitWeights()
    errors = []
    for scale in REACH_PRIOR_SCALES:
        weights = dataclasses.replace(default, identity=scale * default.identity,
                                      expression=scale * default.expression)
        result = ff.fit(None, given, model=model, photometric=False, weights=weights,
                        max_iterations=30)
        errors.append(fd.nme(result.landmarks, given, fd.JAW))
    return errors


class PoseAnchor:
    """A stiff residual term holding rotation angles ``axes`` at ``angles`` (radians): the
    leave-jaw-out fit given the full fit's pose, for :func:`pose_share`."""

    name = "pose_anchor"
    STIFFNESS = 30.0

    def __init__(self, problem: Any, angles: Any, axes: list[int]):
        self.layout, self.angles, self.axes = problem.layout, np.asarray(angles), axes

    def update(self, x: Any) -> None:
        return None

    def residuals(self, x: Any) -> Any:
        return self.STIFFNESS * (x[self.layout.rotation][self.axes] - self.angles)

    def jacobian(self, x: Any) -> Any:
        jacobian = np.zeros((len(self.axes), self.layout.size))
        for row, axis in enumerate(self.axes):
            jacobian[row, self.layout.rotation.start + axis] = self.STIFFNESS
        return jacobian


def pose_share(path: Path, model: Any, full_rotation: Any) -> list[float]:
    """Jaw NME of leave-jaw-out fits with MediaPipe's outline: free, with the full fit's pitch,
    with its whole rotation (see the module docstring)."""
    photo = ff.read_image(path)
    given = ff.read_landmarks(fd.landmarks_beside(path))
    outline = fd.detected_outline(photo, path.name)
    weights = np.ones(68)
    weights[fd.JAW] = 0.0
    errors = []
    for axes in ([], [0], [0, 1, 2]):
        terms = [] if not axes else [
            lambda problem, axes=axes: PoseAnchor(problem, np.asarray(full_rotation)[axes], axes)]
        result = ff.fit(photo, given, model=model, landmark_weights=weights, contour=outline,
                        terms=terms)
        errors.append(fd.nme(result.landmarks, given, fd.JAW))
    return errors


def annotators(path: Path) -> list[float]:
    """Jaw and inner NME against the hand annotation of dlib's points and of MediaPipe's
    (placed jaw), NaN where the detector finds no face at the annotated one."""
    photo = ff.read_image(path)
    given = ff.read_landmarks(fd.landmarks_beside(path))
    centre = np.nanmean(given, axis=0)
    errors = []
    for detector in ("dlib", "mediapipe"):
        try:
            faces = ff.detect_landmarks(photo, detector=detector)
        except ff.DetectionError:
            faces = []
        hits = [f for f in faces if f.box[0] <= centre[0] <= f.box[2]
                and f.box[1] <= centre[1] <= f.box[3]]
        if not hits:
            errors += [float("nan")] * 2
            continue
        points = np.asarray(hits[0].landmarks)
        errors += [fd.nme(points, given, fd.JAW), fd.nme(points, given, slice(17, 68))]
    return errors


def picture(out: Path, path: Path, row: dict[str, Any]) -> None:
    from PIL import Image, ImageDraw

    photo = ff.read_image(path)
    image = Image.fromarray((np.clip(0.8 * photo, 0, 1) * 255).round().astype(np.uint8))
    draw = ImageDraw.Draw(image)
    given = row["given"][:17]
    held, full = row["held"]["points"][:17], row["full"]["points"][:17]
    radius = max(1.5, photo.shape[1] / 300)
    draw.line([tuple(p) for p in given], fill=(0, 255, 0), width=1)
    for a, b in zip(given, held, strict=True):
        draw.line([tuple(a), tuple(b)], fill=(255, 255, 255), width=1)
    for points, colour in ((given, (0, 255, 0)), (full, (0, 220, 255)), (held, (255, 0, 255))):
        for x, y in points:
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    low, high = np.nanmin(row["given"], axis=0), np.nanmax(row["given"], axis=0)
    pad = 0.25 * (high - low)
    box = (max(int(low[0] - pad[0]), 0), max(int(low[1] - 2 * pad[1]), 0),
           min(int(high[0] + pad[0]), photo.shape[1]), min(int(high[1] + pad[1]), photo.shape[0]))
    image.crop(box).save(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="*", help="photos with a .pts or menpo .ljson beside them")
    parser.add_argument("--ict-jaw", action="store_true",
                        help="measure with the ICT file's own jaw vertices")
    parser.add_argument("--pictures", default=None, help="folder for NAME.jaw.png")
    parser.add_argument("--reach", action="store_true",
                        help="also the model's reach: landmark-only fits to the jaw itself, "
                             "prior weakened")
    parser.add_argument("--pose-share", action="store_true",
                        help="also leave-jaw-out fits with the outline, given the full fit's "
                             "pitch or rotation")
    parser.add_argument("--annotators", action="store_true",
                        help="also dlib's and MediaPipe's points against the hand annotation")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    photos = [Path(p) for p in args.photos] or [p for p in PHOTOS if p.is_file()]
    model = ff.load_model()
    if args.ict_jaw:
        model = ict_jaw_model(model)
    rows = []
    with ff.use_backend("numpy"):
        for path in photos:
            rows.append(measure(path, model))
            if args.pictures:
                Path(args.pictures).mkdir(parents=True, exist_ok=True)
                picture(Path(args.pictures) / f"{path.stem}.jaw.png", path, rows[-1])
    names = [row["photo"].rsplit(".", 1)[0][:12] for row in rows]
    for tag in ("held", "full"):
        errors = np.stack([row[tag]["error"] for row in rows])  # (P, 17, 2)
        print(f"\n{tag}: signed error dx,dy of each jaw point (face frame, eye distances)")
        print("pt " + "".join(f"{n:>14}" for n in names) + "     mean dx   dy")
        for k in range(17):
            print(f"{k:2d} " + "".join(f"{e[0]:+7.3f},{e[1]:+.3f}" for e in errors[:, k])
                  + f"   {errors[:, k, 0].mean():+.3f} {errors[:, k, 1].mean():+.3f}")
        print(f"{'photo':<13}{'jaw NME':>8}{'out':>8}{'cheeks':>8}{'|along|':>8}{'chin dy':>8}"
              f"{'57-8 annot':>11}{'fitted':>7}  pose (pitch, yaw, roll)")
        for name, row in zip(names, rows, strict=True):
            r = row[tag]
            print(f"{name:<13}{r['jaw_nme']:8.4f}{r['out']:+8.3f}{r['cheeks_out']:+8.3f}"
                  f"{r['along']:8.3f}{r['chin_dy']:+8.3f}{row['lip_chin']:11.3f}"
                  f"{r['lip_chin']:7.3f}  {r['pose_deg']}")
    if args.reach:
        with ff.use_backend("numpy"):
            for row, path in zip(rows, photos, strict=True):
                row["reach"] = reach(path, model)
        print("\nreach: jaw NME of landmark-only fits to all 68 points, prior weight x "
              + " / ".join(f"{s:g}" for s in REACH_PRIOR_SCALES))
        for name, row in zip(names, rows, strict=True):
            print(f"{name:<13}" + "".join(f"{e:8.4f}" for e in row["reach"]))
    if args.pose_share:
        with ff.use_backend("numpy"):
            for row, path in zip(rows, photos, strict=True):
                row["pose_share"] = pose_share(path, model, row["full"]["rotation"])
        print("\npose share: leave-jaw-out jaw NME with the outline: free / the full fit's "
              "pitch / its rotation / (the full fit)")
        for name, row in zip(names, rows, strict=True):
            print(f"{name:<13}" + "".join(f"{e:8.4f}" for e in row["pose_share"])
                  + f"   ({row['full']['jaw_nme']:.4f})")
    if args.annotators:
        for row, path in zip(rows, photos, strict=True):
            row["annotators"] = annotators(path)
        print("\nannotators: NME against the hand annotation, jaw / inner: dlib's points, "
              "then MediaPipe's (placed jaw)")
        for name, row in zip(names, rows, strict=True):
            print(f"{name:<13}" + "".join(f"{e:8.4f}" for e in row["annotators"]))
    if args.json:
        keep = [{"photo": row["photo"], "lip_chin": row["lip_chin"], "reach": row.get("reach"),
                 "pose_share": row.get("pose_share"),
                 **{tag: {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                          for k, v in row[tag].items() if k != "points"}
                    for tag in ("held", "full")}} for row in rows]
        Path(args.json).write_text(json.dumps({"machine": machine(), "rows": keep}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
