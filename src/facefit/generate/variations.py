"""New expressions and poses for generated samples, drawn reproducibly.

Angles are in degrees at the user-facing edge (:class:`PoseRanges`) and radians in
:class:`facefit.FaceParams`. Expression coefficients are in units of the model's prior std,
like every coefficient in facefit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import FacefitError

__all__ = ["PoseRanges", "draw_expression", "draw_rotation", "is_blendshape_model",
           "sample_rng"]


@dataclass(frozen=True)
class PoseRanges:
    """Uniform ranges, in degrees, that new head poses are drawn from.

    The angles are absolute (the pose of the generated face), not offsets from the photo's pose.
    Defaults follow the spread of 300-W-like photos: yaw +-40, pitch +-15, roll +-10.
    """

    yaw: tuple[float, float] = (-40.0, 40.0)
    pitch: tuple[float, float] = (-15.0, 15.0)
    roll: tuple[float, float] = (-10.0, 10.0)

    def __post_init__(self) -> None:
        for name in ("yaw", "pitch", "roll"):
            low, high = (float(v) for v in getattr(self, name))
            if not (math.isfinite(low) and math.isfinite(high)) or low > high or high - low > 360:
                raise FacefitError(f"pose range {name}={getattr(self, name)!r}: expected "
                                   f"(low, high) degrees with low <= high")


def sample_rng(seed: int, index: int) -> Any:
    """The random generator of sample ``index`` under ``seed``: independent of every other
    sample, so a resumed or parallel run draws exactly what a single run would."""
    return np.random.default_rng([int(seed), int(index)])


def is_blendshape_model(model: Any) -> bool:
    """Whether the expression basis holds blendshapes (weights >= 0), not PCA modes."""
    prior = str(getattr(model, "metadata", {}).get("expression_prior", ""))
    return "blendshape" in prior.lower()


def draw_expression(model: Any, rng: Any, bank: Any = None) -> Any:
    """A new expression, (K,) coefficients in prior-std units.

    From ``bank`` (M, K) when given (a row, e.g. expressions fitted on real faces); else from
    the prior: for PCA bases N(0, 1) per mode; for blendshape bases (ICT's ARKit set, the Surrey
    blendshapes), where negative weights are not faces, a sparse activation of one to four
    shapes with weights in [0.2, 1] (divided by the prior std to get std units).
    """
    count = int(model.n_expression)
    if bank is not None:
        bank = np.asarray(bank, dtype=np.float64)
        if bank.ndim != 2 or bank.shape[1] != count or bank.shape[0] == 0:
            raise FacefitError(f"expression bank must be (M, {count}) for model {model.name!r}, "
                               f"got {bank.shape}")
        return bank[rng.integers(bank.shape[0])].copy()
    if count == 0:
        return np.zeros(0)
    if not is_blendshape_model(model):
        return rng.standard_normal(count)
    std = np.asarray(model.expression_std, dtype=np.float64)
    chosen = rng.choice(count, size=min(count, int(rng.integers(1, 5))), replace=False)
    weights = np.zeros(count)
    weights[chosen] = rng.uniform(0.2, 1.0, size=chosen.size)
    return weights / std


def draw_rotation(ranges: PoseRanges, rng: Any) -> Any:
    """(3,) ``[pitch, yaw, roll]`` in radians, uniform within ``ranges``."""
    degrees = [rng.uniform(*ranges.pitch), rng.uniform(*ranges.yaw), rng.uniform(*ranges.roll)]
    return np.radians(np.asarray(degrees, dtype=np.float64))
