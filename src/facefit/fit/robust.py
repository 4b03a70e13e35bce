"""Robust photometric fitting by iteratively reweighted least squares (IRLS).

Pixels the model cannot explain — hair over the forehead, glasses, a moustache, a hand — pull a
least-squares fit's albedo and light toward them. A robust loss ``rho(s)`` of each sample's
squared colour residual ``s = |albedo * shading - I|^2`` grows more slowly than ``s`` once ``s``
passes the scale ``sigma^2``, so those samples lose their pull. Minimising ``sum rho(s_i)`` has
the gradient ``sum rho'(s_i) grad s_i``: a weighted least-squares problem with weights
``w_i = rho'(s_i)``. IRLS computes the weights at the start of each photometric round, from the
real residuals, and holds them constant within the round, so the term stays a plain weighted
least-squares term: smooth in ``x``, with every Jacobian strategy (analytic, complex step,
autograd) exact and agreeing, and at the point where the weights were taken its gradient is the
robust energy's gradient.

Losses, normalised so that ``rho'(0) = 1`` (small residuals weigh as in least squares):

- ``"cauchy"``: ``rho(s) = sigma^2 log(1 + s / sigma^2)``, ``w = 1 / (1 + s / sigma^2)``;
- ``"geman-mcclure"``: ``rho(s) = sigma^2 s / (sigma^2 + s)``,
  ``w = sigma^4 / (sigma^2 + s)^2``: redescending, a gross outlier's weight goes to zero.

The scale is robust too: ``sigma = factor * 1.4826 * median |r_i|`` over the visible samples
(the median absolute residual of Gaussian noise is 0.6745 of its std), never below ``floor``.
"""

from __future__ import annotations

from typing import Any

from ..backends import array_namespace
from ..errors import FitError

Array = Any

__all__ = ["ROBUST_LOSSES", "RobustOptions", "as_robust", "check_robust", "robust_loss",
           "robust_scale", "robust_weights"]

#: The robust losses offered (None fits by plain least squares).
ROBUST_LOSSES = ("cauchy", "geman-mcclure")

#: Median absolute deviation to standard deviation, for Gaussian noise.
_MAD_TO_STD = 1.4826


class RobustOptions:
    """How the photometric term reweights its samples (see the module docstring).

    Attributes
    ----------
    loss : one of :data:`ROBUST_LOSSES`.
    factor : ``sigma`` in robust standard deviations of the residual norms.
    floor : the least ``sigma`` (colour units in [0, 1]): a fit that matches the photo almost
        exactly must not call its own small residuals outliers.
    """

    def __init__(self, loss: str = "geman-mcclure", factor: float = 2.5, floor: float = 0.04):
        check_robust(loss)
        if not (factor > 0 and floor > 0):
            raise FitError(f"robust factor and floor must be positive, got {factor}, {floor}")
        self.loss, self.factor, self.floor = loss, float(factor), float(floor)

    def __repr__(self) -> str:
        return f"RobustOptions({self.loss!r}, factor={self.factor}, floor={self.floor})"


def as_robust(robust: Any) -> RobustOptions | None:
    """None, a :class:`RobustOptions`, or one made from a loss name; else a :class:`FitError`."""
    if robust is None or isinstance(robust, RobustOptions):
        return robust
    return RobustOptions(check_robust(robust))


def check_robust(loss: Any) -> str:
    """``loss`` if it names a robust loss; else a :class:`FitError` listing them."""
    if loss in ROBUST_LOSSES:
        return str(loss)
    raise FitError(f"robust loss {loss!r} is unknown; valid choices: {', '.join(ROBUST_LOSSES)}")


def robust_loss(squared: Array, sigma2: float, loss: str) -> Array:
    """``rho(s)`` of squared residuals ``s`` (any shape); complex-step safe.

    Parameters
    ----------
    squared : (...) squared residual norms ``s >= 0``.
    sigma2 : the scale ``sigma^2`` (> 0).
    loss : one of :data:`ROBUST_LOSSES`.
    """
    xp = array_namespace(squared)
    if check_robust(loss) == "cauchy":
        return sigma2 * xp.log(1.0 + squared / sigma2)
    return sigma2 * squared / (sigma2 + squared)


def robust_weights(squared: Array, sigma2: float, loss: str, derivative: bool = False) -> Array:
    """IRLS weights ``w = rho'(s)`` (or, with ``derivative``, ``rho''(s)``); complex-step safe.

    Parameters
    ----------
    squared : (...) squared residual norms ``s >= 0``.
    sigma2 : the scale ``sigma^2`` (> 0).
    loss : one of :data:`ROBUST_LOSSES`.
    derivative : return ``d w / d s`` instead of ``w``.

    Returns
    -------
    (...) array in (0, 1] (``w``) or <= 0 (its derivative).
    """
    ratio = 1.0 + squared / sigma2
    if check_robust(loss) == "cauchy":
        return -1.0 / (sigma2 * ratio * ratio) if derivative else 1.0 / ratio
    if derivative:
        return -2.0 / (sigma2 * ratio * ratio * ratio)
    return 1.0 / (ratio * ratio)


def robust_scale(squared: Array, visible: Array, factor: float, floor: float) -> float:
    """``sigma^2`` from the median residual norm over the visible samples (real values).

    Parameters
    ----------
    squared : (N,) real squared residual norms.
    visible : (N,) visibility weights (0 or 1).
    factor, floor : see :class:`RobustOptions`.
    """
    xp = array_namespace(squared, visible)
    count = int(float(xp.sum(visible)))
    if count == 0:
        return floor * floor
    norms = xp.sqrt(xp.where(visible > 0, squared, xp.full_like(squared, float("inf"))))
    ordered = xp.sort(norms)
    median = 0.5 * (float(ordered[(count - 1) // 2]) + float(ordered[count // 2]))
    sigma = max(factor * _MAD_TO_STD * median, floor)
    return sigma * sigma
