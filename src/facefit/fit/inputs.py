"""What the fitter accepts: the photo, the landmarks, the model and the options, checked once.

Each check raises a :class:`facefit.FacefitError` subclass whose message names the input, so
bad input never turns into a fit that silently returns garbage (a uint8 photo read as 0..255
floats, coincident or collinear landmarks that give a zero scale, a negative iteration cap).
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ..backends import Backend, to_numpy
from ..errors import FitError, LandmarkError, ModelError
from ..io import read_landmarks, validate_landmarks
from ..io.images import as_float, read_pixels

__all__ = ["JACOBIAN_STRATEGIES", "as_contour", "as_image", "as_landmarks", "as_model",
           "as_photo", "as_point_weights", "check_fittable_landmarks", "check_iterations",
           "check_jacobian", "contour_outline", "weighted_points"]

#: Jacobian strategy names: "analytic" everywhere, plus each backend's automatic ones.
JACOBIAN_STRATEGIES = ("analytic", "complex-step", "autograd")

#: What landmarks given as an array are called in messages (files are called by their path).
ARRAY_NAME = "array"
#: Landmarks need at least this many given points to fit a pose.
MIN_POINTS = 6
#: The given points' root-mean-square distance from their centroid must reach this (pixels).
MIN_SPREAD_PX = 2.0
#: The points' extent across their main direction, relative to along it (1 for a disc, 0 for
#: a line). Real faces are about 0.6-1.0 at any pose; 0.05 leaves room for profiles.
MIN_FLATNESS = 0.05


def _is_path(value: Any) -> bool:
    return isinstance(value, str) or hasattr(value, "__fspath__")


#: Float photos may over- and undershoot [0, 1] this much (synthetic renders with noise do);
#: a photo on the 0..255 scale is far outside.
FLOAT_RANGE = (-0.5, 1.5)


def as_photo(image: Any) -> Any:
    """The photo as a host (H, W, 3) array, uint8 kept as it is (a large photo is cropped
    before anything is converted, see :mod:`.frame`), other depths float64; or None.

    Raises
    ------
    ImageError
        As :func:`as_image`.
    """
    if image is None:
        return None
    return read_pixels(image, float_range=FLOAT_RANGE)


def as_image(image: Any) -> Any:
    """The photo as a host (H, W, 3) float64 array in [0, 1], or None.

    Parameters
    ----------
    image : a path, None, or an array of any backend in any layout :func:`facefit.read_image`
        accepts: uint8 is scaled by 1/255; floats must be finite and within
        :data:`FLOAT_RANGE`.

    Raises
    ------
    ImageError
        Unreadable file, or an array of the wrong shape, dtype (complex, strings) or range.
    """
    photo = as_photo(image)
    return None if photo is None else as_float(photo)


def as_landmarks(landmarks: Any) -> tuple[Any, str]:
    """``(points, name)``: (68, 2) host float64 0-based points and what to call them.

    Raises
    ------
    LandmarkError
        Unreadable file, non-numeric values (strings, complex), or the wrong shape.
    """
    if _is_path(landmarks):
        return read_landmarks(landmarks), os.fspath(landmarks)
    try:
        raw = np.asarray(to_numpy(landmarks))
    except Exception as exc:
        raise LandmarkError(f"landmark array: cannot be converted to an array ({exc})") \
            from None
    if raw.dtype.kind not in "biuf":
        raise LandmarkError(f"landmark array: values must be real numbers, got dtype "
                            f"{raw.dtype}")
    points = raw.astype("float64")
    if points.shape != (68, 2):
        raise LandmarkError(f"landmark array: must be (68, 2) iBUG points, got shape "
                            f"{points.shape}")
    return points, ARRAY_NAME


def as_point_weights(weights: Any) -> Any:
    """(68,) host float64 relative landmark weights, or None for equal weights.

    Raises
    ------
    LandmarkError
        Not 68 real, finite, non-negative numbers, or all zero.
    """
    if weights is None:
        return None
    raw = np.asarray(to_numpy(weights))
    host = raw.astype("float64") if raw.dtype.kind in "biuf" else None
    if host is None or host.shape != (68,) or not bool(np.isfinite(host).all()) \
            or bool((host < 0).any()) or not float(host.sum()) > 0:
        raise LandmarkError(f"landmark_weights must be 68 finite weights >= 0, not all zero; "
                            f"got {raw.dtype} of shape {raw.shape}")
    return host


def weighted_points(points: Any, point_weights: Any) -> Any:
    """(68, 2) host float64 ``points`` with those weighted 0 in ``point_weights`` ((68,) host,
    or None: every point weighted) set to NaN: what a fit may read of where points lie."""
    points = np.asarray(points, dtype=np.float64)
    if point_weights is None:
        return points
    return np.where((np.asarray(point_weights) > 0)[:, None], points, np.nan)


def as_contour(contour: Any) -> Any:
    """The ``contour`` setting of a fit: None, True, False, or a (P, 2) host float64 outline.

    Raises
    ------
    FitError
        An outline that is not P >= 3 finite (x, y) points spanning an area.
    """
    if contour is None or isinstance(contour, bool):
        return contour
    raw = np.asarray(to_numpy(contour))
    outline = raw.astype("float64") if raw.dtype.kind in "iuf" else None
    if outline is None or outline.ndim != 2 or outline.shape[1] != 2 or outline.shape[0] < 3 \
            or not bool(np.isfinite(outline).all()):
        raise FitError(f"contour must be None, True, False or an outline of at least 3 finite "
                       f"(x, y) points; got {raw.dtype} of shape {raw.shape}")
    centred = outline - outline.mean(axis=0)
    if np.linalg.matrix_rank(centred, tol=1e-6 * max(float(np.abs(centred).max()), 1.0)) < 2:
        raise FitError(f"contour outline: its {outline.shape[0]} points lie on a line or a "
                       "point; an outline must enclose the face")
    return outline


def contour_outline(contour: Any) -> Any:
    """The (P, 2) host outline of a ``contour`` setting (checked by :func:`as_contour`), or
    None where the setting is None, True or False."""
    contour = as_contour(contour)
    return None if contour is None or isinstance(contour, bool) else contour


def check_fittable_landmarks(points: Any, image_shape: Any, name: str) -> None:
    """Raise unless ``points`` can pin down a pose (and lie on the image, when one is given).

    Parameters
    ----------
    points : (68, 2) host float64, NaN for missing points.
    image_shape : (H, W, ...) of the photo, or None for a landmark-only fit.
    name : what the points came from, for messages.

    Raises
    ------
    LandmarkError
        Fewer than :data:`MIN_POINTS` given, infinite values, points outside the image, all
        points (nearly) at one place, or all (nearly) on one line.
    """
    given = points[~np.isnan(points).any(axis=1)]
    if len(given) < MIN_POINTS:
        raise LandmarkError(f"landmarks '{name}': only {len(given)} of 68 points are given; "
                            f"at least {MIN_POINTS} are needed to fit")
    if image_shape is not None:
        validate_landmarks(points, image_shape, name, from_file=name != ARRAY_NAME)
    elif bool(np.isinf(given).any()):
        raise LandmarkError(f"landmarks '{name}': infinite coordinates")
    centred = given - given.mean(axis=0)
    spread = np.linalg.svd(centred, compute_uv=False)  # (2,), largest first
    rms = float(math.sqrt(float((spread ** 2).sum()) / len(given)))
    if rms < MIN_SPREAD_PX:
        raise LandmarkError(f"landmarks '{name}': the points (nearly) coincide (spread "
                            f"{rms:.3g} pixels); a face needs points spread over it")
    if spread[1] < MIN_FLATNESS * spread[0]:
        raise LandmarkError(f"landmarks '{name}': the points lie (nearly) on one line; a face "
                            "needs points spread in two directions")


def as_model(model: Any) -> Any:
    """A :class:`facefit.MorphableModel` from None (the embedded default), a path, or a model.

    Raises
    ------
    ModelError
        A missing or malformed model file, or a value that is neither a path nor a model.
    """
    from ..model import load_model

    if model is None or _is_path(model):
        return load_model(model)
    # Duck-typed: anything that gives the model's arrays per backend fits like a model.
    if not callable(getattr(model, "arrays", None)):
        raise ModelError(f"model must be a MorphableModel or a model file path, got "
                         f"{type(model).__name__}")
    return model


def check_iterations(max_iterations: Any) -> int | None:
    """``max_iterations`` if it is None or a positive integer; else a :class:`FitError`."""
    if max_iterations is None:
        return None
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int | np.integer) \
            or max_iterations < 1:
        raise FitError(f"max_iterations must be a positive integer or None, got "
                       f"{max_iterations!r}")
    return int(max_iterations)


def check_jacobian(strategy: Any, backend: Backend) -> str:
    """``strategy`` if ``backend`` offers it; else a :class:`FitError` listing what it offers."""
    valid = ("analytic", *backend.jacobian_strategies)
    if strategy in valid:
        return str(strategy)
    known = strategy in JACOBIAN_STRATEGIES
    raise FitError(f"Jacobian strategy {strategy!r} is "
                   + (f"not available on the {backend.name} backend" if known else "unknown")
                   + f"; valid choices here: {', '.join(valid)}")
