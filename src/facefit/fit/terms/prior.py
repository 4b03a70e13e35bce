"""The prior term: coefficients are N(0, 1) in units of their std."""

from __future__ import annotations

import math
from typing import Any

from ...backends import Backend, array_namespace
from ..parameters import ParameterLayout

Array = Any

__all__ = ["PriorTerm"]


class PriorTerm:
    """``sqrt(w_block) * z`` for the identity, expression and albedo coefficients."""

    name = "prior"

    def __init__(self, layout: ParameterLayout, identity: float, expression: float,
                 albedo: float, backend: Backend):
        xp = backend.xp
        self.layout = layout
        self.scale = xp.concat([
            xp.full((layout.n_identity,), math.sqrt(identity), dtype=backend.dtype,
                    device=backend.device),
            xp.full((layout.n_expression,), math.sqrt(expression), dtype=backend.dtype,
                    device=backend.device),
            xp.full((layout.n_albedo,), math.sqrt(albedo), dtype=backend.dtype,
                    device=backend.device)])

    def update(self, x: Array) -> None:
        return None

    def residuals(self, x: Array) -> Array:
        return self.scale * x[self.layout.coefficients]

    def jacobian_columns(self, x: Array) -> tuple[Array, Array]:
        """The Jacobian as one entry per row: row i is ``scale[i]`` at column i (the
        coefficients), so the solver adds it to the normal matrix's diagonal directly."""
        xp = array_namespace(x)
        ids = xp.arange(self.layout.coefficients.stop, device=x.device)
        return ids, xp.astype(self.scale, x.dtype)

    def jacobian(self, x: Array) -> Array:
        xp = array_namespace(x)
        k = self.layout.coefficients.stop
        diagonal = xp.eye(k, dtype=x.dtype, device=x.device) * self.scale[None, :]
        rest = xp.zeros((k, self.layout.size - k), dtype=x.dtype, device=x.device)
        return xp.concat([diagonal, rest], axis=1)
