"""The flat parameter vector the solver works on, and its blocks.

``x = [identity (K_id), expression (K_exp), albedo (K_alb), light (27, row-major (9, 3)),
pitch, yaw, roll, scale, tx, ty]`` with coefficients in units of their std, so the prior is
``||z||^2`` and the normal equations are well scaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..backends import array_namespace, to_numpy
from ..errors import FitError
from ..forward import Coefficients, Pose
from ..params import FaceParams

Array = Any

__all__ = ["ParameterLayout"]


@dataclass(frozen=True)
class ParameterLayout:
    """Where each block of :class:`FaceParams` sits in the flat vector ``x``.

    Attributes
    ----------
    n_identity, n_expression, n_albedo : coefficient counts of the model.

    The blocks' slices are computed once per layout (``cached_property``): the solver's inner
    loop asks for them thousands of times per fit.
    """

    n_identity: int
    n_expression: int
    n_albedo: int

    @classmethod
    def for_model(cls, model: Any) -> ParameterLayout:
        return cls(model.n_identity, model.n_expression, model.n_albedo)

    @cached_property
    def identity(self) -> slice:
        return slice(0, self.n_identity)

    @cached_property
    def expression(self) -> slice:
        return slice(self.identity.stop, self.identity.stop + self.n_expression)

    @cached_property
    def shape(self) -> slice:
        """Identity and expression together (both move vertices)."""
        return slice(0, self.expression.stop)

    @cached_property
    def albedo(self) -> slice:
        return slice(self.expression.stop, self.expression.stop + self.n_albedo)

    @cached_property
    def coefficients(self) -> slice:
        """Every block with a prior: identity, expression, albedo."""
        return slice(0, self.albedo.stop)

    @cached_property
    def light(self) -> slice:
        return slice(self.albedo.stop, self.albedo.stop + 27)

    @cached_property
    def rotation(self) -> slice:
        return slice(self.light.stop, self.light.stop + 3)

    @cached_property
    def scale(self) -> int:
        return self.rotation.stop

    @cached_property
    def translation(self) -> slice:
        return slice(self.scale + 1, self.scale + 3)

    @cached_property
    def pose(self) -> slice:
        """Rotation, scale and translation."""
        return slice(self.rotation.start, self.translation.stop)

    @cached_property
    def size(self) -> int:
        return self.translation.stop

    def pack(self, params: FaceParams) -> Any:
        """``params`` as a host float64 vector (missing coefficients are zeros)."""
        p = params
        sizes = (self.n_identity, self.n_expression, self.n_albedo)
        blocks = []
        for name, size in zip(("identity", "expression", "albedo"), sizes, strict=True):
            value = getattr(p, name)
            if value is None:
                value = [0.0] * size
            elif len(value) != size:
                raise FitError(f"FaceParams.{name} has {len(value)} coefficients, expected {size}")
            blocks.extend(to_numpy(value).tolist())
        blocks.extend(to_numpy(p.light).reshape(-1).tolist())
        blocks.extend(to_numpy(p.rotation).tolist())
        blocks.append(float(p.scale))
        blocks.extend(to_numpy(p.translation).tolist())
        return to_numpy(blocks).astype("float64")

    def unpack(self, x: Array) -> FaceParams:
        """A flat vector (any backend) as :class:`FaceParams`."""
        host = to_numpy(x).astype("float64")
        if host.shape != (self.size,):
            raise FitError(f"parameter vector has shape {host.shape}, expected ({self.size},)")
        return FaceParams(
            identity=host[self.identity], expression=host[self.expression],
            albedo=host[self.albedo], light=host[self.light].reshape(9, 3),
            rotation=host[self.rotation], scale=float(host[self.scale]),
            translation=host[self.translation])

    def pose_of(self, x: Array) -> Pose:
        """The :class:`~facefit.forward.Pose` blocks of a flat vector ``x`` (any backend)."""
        return Pose(x[self.rotation], x[self.scale], x[self.translation])

    def coefficients_of(self, x: Array) -> Coefficients:
        """The :class:`~facefit.forward.Coefficients` blocks of a flat vector ``x``."""
        xp = array_namespace(x)
        return Coefficients(x[self.shape], x[self.albedo], xp.reshape(x[self.light], (9, 3)))
