"""Evidence, from a finished fit itself, that its inputs did not belong together.

A fit always returns *something*: given another photo's landmarks, or points on a wall, the
colour model bends to the pixels there. The bending shows. Measured on the shared photos with
their own landmarks, the colour model explains 69-87% of the colour variance at the visible
samples, with albedo coefficients of 0.41-0.48 standard deviations (root-mean-square). With
landmarks of another photo, or moved off the face, either it explains almost nothing (noise:
4%) or it needs albedo of 0.78-1.3 standard deviations; a flat wall leaves nothing to explain.
The thresholds below sit between those groups with room to spare on the side of real faces.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..backends import to_numpy
from ..errors import FitWarning

__all__ = ["MAX_ALBEDO_RMS", "MIN_COLOUR_STD", "MIN_EXPLAINED", "check_plausible"]

#: Below this colour standard deviation at the samples, the photo shows no detail there.
MIN_COLOUR_STD = 0.01
#: Below this fraction of colour variance explained, the model did not find a face.
MIN_EXPLAINED = 0.25
#: Above this root-mean-square albedo coefficient (in standard deviations), the colour model
#: was pushed far outside the faces it was built from.
MAX_ALBEDO_RMS = 0.7


def check_plausible(problem: Any, x: Any, name: str = "the photo") -> list[str]:
    """Warn (:class:`facefit.FitWarning`) when the fit at ``x`` suggests that the landmarks do
    not belong to the photo; return the messages (empty for a plausible fit).

    Parameters
    ----------
    problem : the :class:`FitProblem` (with a photo; landmark-only fits are not judged).
    x : (n,) backend vector of the fit.
    name : what to call the photo in the message.
    """
    term = problem.photometric_term
    if term is None:
        return []
    # A robust fit is judged on the samples it kept (its IRLS weights; ones otherwise): the
    # occluder it rightly ignored is not colour it failed to explain. The unseen samples
    # weigh nothing: only the seen ones are evaluated.
    model, observed, weight = (to_numpy(a) for a in term.seen_colours(x))
    seen = weight > 0
    if not seen.any():
        return []
    model, observed, weight = model[seen], observed[seen], weight[seen][:, None]
    total = float(weight.sum())
    mean = (weight * observed).sum(axis=0) / total
    variance = float((weight * (observed - mean) ** 2).sum()) / (3 * total)
    explained = 1.0 - float((weight * (observed - model) ** 2).sum()) / (3 * total) / max(
        variance, 1e-300)
    albedo = to_numpy(x)[problem.layout.albedo]
    albedo_rms = math.sqrt(float(np.mean(albedo * albedo))) if albedo.size else 0.0
    reasons = []
    if math.sqrt(variance) < MIN_COLOUR_STD:
        reasons.append(f"the photo is flat where the landmarks are (colour std "
                       f"{math.sqrt(variance):.3g})")
    elif explained < MIN_EXPLAINED:
        reasons.append(f"the face model explains only {explained:.0%} of the colour there")
    elif albedo_rms > MAX_ALBEDO_RMS:
        reasons.append(f"matching it needed skin colours far from any face (albedo "
                       f"{albedo_rms:.2f} std per component)")
    messages = [f"{name}: {reason}; are the landmarks for this photo?" for reason in reasons]
    for message in messages:
        warnings.warn(message, FitWarning, stacklevel=3)
    return messages
