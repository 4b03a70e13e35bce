"""Residual terms of the fitting energy, one module each, with exact analytic Jacobians.

Every term maps the flat parameter vector ``x`` (see :mod:`..parameters`) to a fixed-size
residual vector through the one forward model, :func:`facefit.forward.evaluate`. Discrete
decisions (which vertex each jaw landmark uses, which sample vertices are visible) are taken by
``update`` at a real ``x`` and then frozen, so ``residuals`` is smooth in ``x`` and complex-step
safe. ``jacobian`` is the analytic chain rule, O(m n): per sample a 3x3 (or 2x3) derivative
times the basis rows of its vertex.

A new term is one module here implementing :class:`ResidualTerm` (``jacobian`` may return
None: the backend's automatic strategy steps in), passed to ``FitProblem(terms=...)`` or
``fit(terms=...)``.
"""

from .base import LastEvaluation, ResidualTerm, assemble_jacobian, image_plane
from .contour import ContourTerm
from .landmarks import LandmarkTerm, point_jacobian_blocks
from .photometric import PhotometricTerm, sh_basis_gradient
from .prior import PriorTerm

__all__ = ["ContourTerm", "LandmarkTerm", "LastEvaluation", "PhotometricTerm", "PriorTerm",
           "ResidualTerm", "assemble_jacobian", "image_plane", "point_jacobian_blocks",
           "sh_basis_gradient"]
