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

__all__ = ["EXPRESSION_PRESETS", "PoseRanges", "draw_expression", "draw_rotation",
           "is_blendshape_model", "sample_rng"]

#: Facial expressions as ARKit blendshape weights (the ICT model's names; ``_L``/``_R`` pairs
#: are written once without the suffix and applied to both sides). A random set of one to four
#: unrelated blendshapes, as drawn before, gives lopsided grimaces that are not expressions a
#: 300-W photo shows; these are the common ones (FACS-style combinations), each drawn at a
#: random intensity with a little asymmetry between the sides.
EXPRESSION_PRESETS: dict[str, dict[str, float]] = {
    "smile": {"mouthSmile": 0.8, "cheekSquint": 0.4, "eyeSquint": 0.2},
    "broad smile": {"mouthSmile": 1.0, "cheekSquint": 0.6, "eyeSquint": 0.35,
                    "jawOpen": 0.15, "mouthUpperUp": 0.2},
    "laugh": {"mouthSmile": 0.9, "jawOpen": 0.45, "cheekSquint": 0.6, "eyeSquint": 0.4,
              "mouthUpperUp": 0.2},
    "talking": {"jawOpen": 0.25, "mouthLowerDown": 0.2, "mouthFunnel": 0.1},
    "surprise": {"browInnerUp": 0.8, "browOuterUp": 0.7, "eyeWide": 0.6, "jawOpen": 0.45},
    "frown": {"browDown": 0.7, "mouthFrown": 0.5, "mouthPress": 0.2},
    "sad": {"browInnerUp": 0.6, "mouthFrown": 0.6, "mouthShrugLower": 0.3},
    "disgust": {"noseSneer": 0.7, "mouthUpperUp": 0.4, "browDown": 0.4},
    "pucker": {"mouthPucker": 0.8, "mouthFunnel": 0.2},
    "closed eyes": {"eyeBlink": 1.0},
    "raised brows": {"browInnerUp": 0.7, "browOuterUp": 0.7},
    "pressed lips": {"mouthPress": 0.6, "mouthRollLower": 0.3},
}



#: The least turn toward the side the photo hardly saw that :class:`PoseRanges` allows, degrees.
MIN_REVEAL = 15.0


@dataclass(frozen=True)
class PoseRanges:
    """Uniform ranges, in degrees, that new head poses are drawn from.

    The angles are absolute (the pose of the generated face), not offsets from the photo's pose.
    Defaults follow the spread of 300-W-like photos: yaw +-40, pitch +-15, roll +-10.

    ``reveal`` limits how far a sample turns toward the side of the face that the photo hardly
    saw: at most ``reveal`` degrees from a frontal photo, less the more the photo was turned
    (``reveal - 1.5 |photo yaw|``, at least 15), while turning further away is free. That side
    was never photographed, so turning it to the camera shows stretched or invented skin; the
    3DDFA profiling behind 300W-LP only ever turns a face away. ``None`` lifts the limit.
    """

    yaw: tuple[float, float] = (-40.0, 40.0)
    pitch: tuple[float, float] = (-15.0, 15.0)
    roll: tuple[float, float] = (-10.0, 10.0)
    reveal: float | None = 45.0

    def __post_init__(self) -> None:
        for name in ("yaw", "pitch", "roll"):
            low, high = (float(v) for v in getattr(self, name))
            if not (math.isfinite(low) and math.isfinite(high)) or low > high or high - low > 360:
                raise FacefitError(f"pose range {name}={getattr(self, name)!r}: expected "
                                   f"(low, high) degrees with low <= high")
        if self.reveal is not None and not (math.isfinite(self.reveal) and self.reveal >= 0):
            raise FacefitError(f"pose range reveal={self.reveal!r}: expected degrees >= 0 or None")

    def yaw_for(self, photo_yaw: float | None) -> tuple[float, float]:
        """(low, high) yaw in degrees for a photo whose fitted yaw is ``photo_yaw`` degrees:
        :attr:`yaw` cut by the :attr:`reveal` limit (a zero-width range at the limit when they
        do not meet)."""
        low, high = (float(v) for v in self.yaw)
        if self.reveal is None or photo_yaw is None:
            return low, high
        turn = max(MIN_REVEAL, self.reveal - 1.5 * abs(photo_yaw))
        if photo_yaw >= 0:
            limit = photo_yaw - turn  # the side the photo hardly saw is reached by lower yaw
            return (max(low, limit), high) if high >= limit else (limit, limit)
        limit = photo_yaw + turn
        return (low, min(high, limit)) if low <= limit else (limit, limit)


def sample_rng(seed: int, index: int) -> Any:
    """The random generator of sample ``index`` under ``seed``: independent of every other
    sample, so a resumed or parallel run draws exactly what a single run would."""
    return np.random.default_rng([int(seed), int(index)])


def is_blendshape_model(model: Any) -> bool:
    """Whether the expression basis holds blendshapes (weights >= 0), not PCA modes."""
    prior = str(getattr(model, "metadata", {}).get("expression_prior", ""))
    return "blendshape" in prior.lower()


def _preset_weights(names: list[str], rng: Any) -> Any | None:
    """Blendshape weights (K,) of a random preset at a random intensity, or None when the
    model does not name the blendshapes the presets use."""
    index = {name: k for k, name in enumerate(names)}
    name = list(EXPRESSION_PRESETS)[int(rng.integers(len(EXPRESSION_PRESETS)))]
    intensity = rng.uniform(0.35, 1.0)
    weights = np.zeros(len(names))
    for shape, weight in EXPRESSION_PRESETS[name].items():
        sides = [shape] if shape in index else [f"{shape}_L", f"{shape}_R"]
        if not all(side in index for side in sides):
            return None
        for side in sides:
            weights[index[side]] = weight * intensity * rng.uniform(0.85, 1.0)
    return np.clip(weights, 0.0, 1.0)


def draw_expression(model: Any, rng: Any, bank: Any = None) -> Any:
    """A new expression, (K,) coefficients in prior-std units.

    From ``bank`` (M, K) when given (a row, e.g. expressions fitted on real faces); else from
    the prior: for PCA bases N(0, 1) per mode. For blendshape bases, where negative weights are
    not faces: with ARKit names (the ICT model) one of :data:`EXPRESSION_PRESETS` at an
    intensity in [0.35, 1] (each side within 15% of it), and one draw in six the neutral face;
    with other names (the Surrey blendshapes) one to four shapes with weights in [0.2, 1].
    Weights are divided by the prior std to get std units.
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
    names = [str(n) for n in getattr(model, "metadata", {}).get("expression_names", [])]
    if len(names) == count and all(f"{s}_L" in names for s in ("mouthSmile", "eyeBlink")):
        if rng.uniform() < 1 / 6:
            return np.zeros(count)
        weights = _preset_weights(names, rng)
        if weights is not None:
            return weights / std
    chosen = rng.choice(count, size=min(count, int(rng.integers(1, 5))), replace=False)
    weights = np.zeros(count)
    weights[chosen] = rng.uniform(0.2, 1.0, size=chosen.size)
    return weights / std


def draw_rotation(ranges: PoseRanges, rng: Any, photo_yaw: float | None = None) -> Any:
    """(3,) ``[pitch, yaw, roll]`` in radians, uniform within ``ranges`` (yaw within
    :meth:`PoseRanges.yaw_for` of the photo's fitted yaw in degrees, when given)."""
    degrees = [rng.uniform(*ranges.pitch), rng.uniform(*ranges.yaw_for(photo_yaw)),
               rng.uniform(*ranges.roll)]
    return np.radians(np.asarray(degrees, dtype=np.float64))
