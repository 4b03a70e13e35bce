"""Fitting by inverse rendering: residual terms, Jacobian strategies, LM solver, stages."""

from .fitting import FitResult, fit
from .options import FitOptions
from .parameters import ParameterLayout
from .problem import JACOBIAN_STRATEGIES, FitProblem
from .solver import IterationRecord, SolverOptions, SolverReport, levenberg_marquardt
from .stages import PHOTOMETRIC_SMOOTHING, Stage, default_stages, smoothing_schedule
from .terms import LandmarkTerm, PhotometricTerm, PriorTerm, ResidualTerm
from .weights import FitWeights

__all__ = [
    "JACOBIAN_STRATEGIES",
    "PHOTOMETRIC_SMOOTHING",
    "FitOptions",
    "FitProblem",
    "FitResult",
    "FitWeights",
    "IterationRecord",
    "LandmarkTerm",
    "ParameterLayout",
    "PhotometricTerm",
    "PriorTerm",
    "ResidualTerm",
    "SolverOptions",
    "SolverReport",
    "Stage",
    "default_stages",
    "fit",
    "levenberg_marquardt",
    "smoothing_schedule",
]
