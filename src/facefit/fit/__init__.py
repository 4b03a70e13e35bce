"""Fitting by inverse rendering: residual terms, Jacobian strategies, LM solver, stages."""

from .fitting import PHOTOMETRIC_SMOOTHING, FitResult, fit, smoothing_schedule
from .parameters import ParameterLayout
from .problem import JACOBIAN_STRATEGIES, FitProblem
from .solver import SolverOptions, SolverReport, levenberg_marquardt
from .weights import FitWeights

__all__ = [
    "JACOBIAN_STRATEGIES",
    "PHOTOMETRIC_SMOOTHING",
    "FitProblem",
    "FitResult",
    "FitWeights",
    "ParameterLayout",
    "SolverOptions",
    "SolverReport",
    "fit",
    "levenberg_marquardt",
    "smoothing_schedule",
]
