"""``FaceParams``: everything that describes one rendered face, in facefit's units.

Coefficients are in units of their standard deviation (N(0, 1) under the model's prior), whatever
the model. Angles are radians ``[pitch, yaw, roll]``, scale is pixels per model millimetre, and
translation is in pixels (where the model origin lands in the image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .backends import to_numpy
from .errors import FitError
from .lighting import AMBIENT

__all__ = ["FaceParams"]

Host = Any  # a host (NumPy) float64 array


def _host(value: Any, name: str, shape: tuple[int, ...] | None) -> Host | None:
    if value is None:
        return None
    array = to_numpy(value)
    try:
        array = array.astype("float64", copy=True)
    except (TypeError, ValueError):
        raise FitError(f"FaceParams.{name} must be numeric, got {value!r}") from None
    if shape is not None and tuple(array.shape) != shape:
        raise FitError(f"FaceParams.{name} must have shape {shape}, got {tuple(array.shape)}")
    if array.ndim != (len(shape) if shape is not None else 1):
        raise FitError(f"FaceParams.{name} must be a vector, got shape {tuple(array.shape)}")
    if not bool((array == array).all()) or bool((abs(array) == math.inf).any()):
        raise FitError(f"FaceParams.{name} has non-finite values")
    return array


def _ambient_light() -> Host:
    light = to_numpy([[0.0] * 3] * 9).astype("float64")
    light[0, :] = AMBIENT
    return light


@dataclass
class FaceParams:
    """Parameters of one face: shape, colour, light and pose.

    Attributes
    ----------
    identity, expression, albedo : (K,) coefficients in units of std; None means zeros, sized
        for the model used.
    light : (9, 3) SH lighting per colour channel; the default is ambient white light of shading 1.
    rotation : (3,) ``[pitch, yaw, roll]`` in radians.
    scale : pixels per model millimetre.
    translation : (2,) image position of the model origin, in pixels.
    """

    identity: Host | None = None
    expression: Host | None = None
    albedo: Host | None = None
    light: Host = field(default_factory=_ambient_light)
    rotation: Host = field(default_factory=lambda: to_numpy([0.0, 0.0, 0.0]).astype("float64"))
    scale: float = 1.0
    translation: Host = field(default_factory=lambda: to_numpy([0.0, 0.0]).astype("float64"))

    def __post_init__(self) -> None:
        self.identity = _host(self.identity, "identity", None)
        self.expression = _host(self.expression, "expression", None)
        self.albedo = _host(self.albedo, "albedo", None)
        self.light = _host(self.light, "light", (9, 3))
        self.rotation = _host(self.rotation, "rotation", (3,))
        self.translation = _host(self.translation, "translation", (2,))
        scale = float(to_numpy(self.scale))
        if not math.isfinite(scale):
            raise FitError(f"FaceParams.scale must be finite, got {self.scale!r}")
        self.scale = scale

    def for_model(self, model: Any) -> FaceParams:
        """A copy with missing coefficients filled with zeros, checked against ``model``'s sizes."""
        sizes = {"identity": model.n_identity, "expression": model.n_expression,
                 "albedo": model.n_albedo}
        filled = {}
        for name, size in sizes.items():
            value = getattr(self, name)
            if value is None:
                value = to_numpy([0.0] * size).astype("float64")
            elif value.shape != (size,):
                raise FitError(f"FaceParams.{name} has {value.shape[0]} coefficients but the "
                               f"model {model.name!r} has {size}")
            filled[name] = value
        return replace(self, **filled)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and floats, ready for JSON."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.tolist() if hasattr(value, "tolist") else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceParams:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`facefit.FitError`."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise FitError(f"FaceParams.from_dict: unknown keys {sorted(unknown)}; "
                           f"expected some of {sorted(known)}")
        return cls(**data)

    @classmethod
    def framing(cls, model: Any, size: tuple[int, int] = (512, 512)) -> FaceParams:
        """A frontal face centred in an image of ``size`` (H, W), about 70% of its width wide."""
        height, width = int(size[0]), int(size[1])
        mean = to_numpy(model.mean_shape)
        low, high = mean.min(axis=0), mean.max(axis=0)
        centre = (low + high) / 2
        scale = 0.7 * width / float(high[0] - low[0])
        translation = [(width - 1) / 2 - scale * centre[0], (height - 1) / 2 + scale * centre[1]]
        return cls(scale=scale, translation=translation).for_model(model)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FaceParams):
            return NotImplemented
        return self.to_dict() == other.to_dict()
