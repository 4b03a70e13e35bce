"""``FitOptions``: every setting of a fit, checked once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import FitError
from .inputs import as_contour, check_iterations
from .robust import as_robust
from .stages import Stage, default_stages
from .weights import FitWeights

__all__ = ["FitOptions"]


@dataclass(frozen=True)
class FitOptions:
    """How to fit (see :func:`facefit.fit` for what each option does).

    Attributes
    ----------
    jacobian : ``"analytic"``, ``"complex-step"`` or ``"autograd"``.
    photometric : False fits pose, identity and expression to the landmarks alone.
    max_iterations : LM iterations per round, a positive integer, or None (10).
    progress : print one line per round to stderr.
    weights : the energy's :class:`FitWeights`.
    rounds : rounds of the shape and photometric stages, a positive integer.
    blas_threads : host BLAS threads for ``J^T J`` (None: one).
    landmark_weights : (68,) relative weight of each landmark, or None.
    detector : the face detector used when no landmarks are given.
    max_samples : at most this many vertices are compared with the photo.
    terms : extra residual terms (terms or functions ``problem -> term``).
    stages : the schedule; None: :func:`facefit.fit.stages.default_stages`.
    detail : solve the per-vertex albedo detail after the fit (:mod:`facefit.fit.detail`).
    robust : None (least squares) or the photometric term's robust loss: a name
        (:data:`facefit.fit.robust.ROBUST_LOSSES`) or :class:`~facefit.fit.robust.RobustOptions`.
    contour : the contour term (:mod:`facefit.fit.terms.contour`; with a photo): None (the
        detector's face outline when the landmarks come from a detector that gives one),
        True (that outline, else the photo's skin edges), False (none) or a (P, 2) outline
        in the photo's pixels; see :func:`facefit.fit`.
    """

    jacobian: str = "analytic"
    photometric: bool = True
    max_iterations: int | None = None
    progress: bool = False
    weights: FitWeights = field(default_factory=FitWeights)
    rounds: int = 3
    blas_threads: int | None = None
    landmark_weights: Any = None
    detector: str = "mediapipe"
    max_samples: int = 1200
    terms: Sequence[Any] = ()
    stages: Sequence[Stage] | None = None
    detail: bool = True
    robust: Any = None
    contour: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "robust", as_robust(self.robust))
        object.__setattr__(self, "contour", as_contour(self.contour))
        # The Jacobian strategy depends on the backend: checked by fit (check_jacobian).
        check_iterations(self.max_iterations)
        for name in ("rounds", "max_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise FitError(f"{name} must be a positive integer, got {value!r}")
        if self.blas_threads is not None and (
                isinstance(self.blas_threads, bool) or not isinstance(self.blas_threads, int)
                or self.blas_threads < 1):
            raise FitError(f"blas_threads must be None or a positive integer, "
                           f"got {self.blas_threads!r}")
        if self.weights is None:
            object.__setattr__(self, "weights", FitWeights())
        if self.stages is not None:
            bad = [s for s in self.stages if not isinstance(s, Stage)]
            if bad or not self.stages:
                raise FitError("stages must be a non-empty list of facefit.fit.Stage")

    def schedule(self, has_photo: bool = True) -> list[Stage]:
        """The stages to run on a problem with or without a photo.

        In the default schedule the extra :attr:`terms` join the last stage that runs (the
        photometric one, or without a photo the shape stage); a custom schedule says itself
        which stages see which terms.
        """
        stages = list(self.stages) if self.stages is not None else default_stages(
            self.rounds, self.max_iterations)
        stages = [s for s in stages if has_photo or not s.needs_photo]
        if self.stages is None and stages:
            stages[-1] = replace(stages[-1], terms=None)
        return stages
