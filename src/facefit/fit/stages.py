"""The fit's schedule as data: which terms, which parameters free, which solver settings.

:func:`default_stages` is the schedule of DESIGN.md: (1) the pose from the landmarks, (2) the
pose, identity and expression from the landmarks with their prior, (3) everything, with the
photometric term, coarse to fine. Before each round of a stage the terms' discrete state (jaw
landmark vertices, sample visibility) is re-decided at the current point, then LM runs with it
frozen. A custom schedule is a list of :class:`Stage` passed to ``fit(stages=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import FitError
from .solver import SolverOptions

__all__ = ["BLOCKS", "PHOTOMETRIC_SMOOTHING", "Stage", "default_stages", "smoothing_schedule"]

#: Parameter blocks a stage can free (see :class:`facefit.fit.ParameterLayout`).
BLOCKS = ("identity", "expression", "albedo", "light", "rotation", "scale", "translation")

#: Gaussian blur, in the photo's pixels, of the photometric rounds before the last (which is
#: always on the photo itself): coarse to fine. On the three shared photos, LM on the problem
#: frozen at the closed-form start ends 5-11% lower with it than on the photo alone, and below
#: a 1500-step Adam run (benchmarks/README.md); blurs of 3 px or 1.5 px first, or 2 px alone,
#: ended higher than 2 then 1 on at least one photo.
PHOTOMETRIC_SMOOTHING = (2.0, 1.0)

_POSE = ("rotation", "scale", "translation")


@dataclass(frozen=True)
class Stage:
    """One stage of a fit.

    Attributes
    ----------
    name : a label, written into the history (``"name/round"``).
    terms : names of the problem's terms it minimises; None: all of them (extra terms too).
        The built-in terms that need a photo (``photometric``, ``contour``) are skipped where
        the problem has none.
    free : parameter blocks (:data:`BLOCKS`) it optimises; the others stay fixed.
    rounds : outer rounds; each re-decides the discrete state first. A round after the first
        on the photo itself that takes at most one iteration ends the stage (converged).
    solver : LM settings of each round.
    smoothing : the photo's blur (pixels) in each round (photometric term); missing: 0.
    coarse_solver : LM settings of the rounds on a blurred photo (default: ``solver``).
    needs_photo : skipped when the problem has no photo.
    """

    name: str
    terms: tuple[str, ...] | None
    free: tuple[str, ...]
    rounds: int
    solver: SolverOptions = field(default_factory=SolverOptions)
    smoothing: tuple[float, ...] = ()
    coarse_solver: SolverOptions | None = None
    needs_photo: bool = False

    def __post_init__(self) -> None:
        unknown = [b for b in self.free if b not in BLOCKS]
        if unknown or not self.free:
            raise FitError(f"stage {self.name!r}: free blocks must be among {', '.join(BLOCKS)}, "
                           f"got {list(self.free)}")
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 1:
            raise FitError(f"stage {self.name!r}: rounds must be a positive integer, "
                           f"got {self.rounds!r}")

    def blur(self, round_index: int) -> float:
        """The photo's blur in round ``round_index``."""
        return self.smoothing[round_index] if round_index < len(self.smoothing) else 0.0

    def options(self, round_index: int) -> SolverOptions:
        """The LM settings of round ``round_index``."""
        if self.blur(round_index) and self.coarse_solver is not None:
            return self.coarse_solver
        return self.solver


def smoothing_schedule(rounds: int) -> list[float]:
    """The photo's blur (pixels) in each of ``rounds`` photometric rounds: the first of
    :data:`PHOTOMETRIC_SMOOTHING`, as many as leave the last round on the photo itself."""
    coarse = list(PHOTOMETRIC_SMOOTHING[:max(rounds - 1, 0)])
    return coarse + [0.0] * (rounds - len(coarse))


def default_stages(rounds: int = 3, max_iterations: int | None = None) -> list[Stage]:
    """facefit's schedule with ``rounds`` rounds of the shape and photometric stages and at most
    ``max_iterations`` LM iterations per round (default 10)."""
    per_round = max_iterations or 10
    # The landmark and prior terms are smooth and nearly quadratic once the pose is close, so
    # their stages take near-Gauss-Newton steps; the high damping floor of the defaults is for
    # the photometric term's bilinear-sampling ripples (see SolverOptions).
    geometric = SolverOptions(max_iterations=per_round, initial_damping=1e-3, damping_up=10.0,
                              damping_down=0.3, min_damping=1e-12)
    # Photometric rounds on the blurred photo are stepping stones, stopped once a step gains
    # less than 0.1%; the last round, on the photo itself, stops below 0.01%. On the shared
    # photos this takes 21-24 photometric iterations instead of 30 (1e-6 everywhere), for a
    # final energy between 5.3% lower and 1.8% higher (benchmarks/README.md).
    fine = SolverOptions(max_iterations=per_round, relative_decrease=1e-4)
    coarse = SolverOptions(max_iterations=per_round, relative_decrease=1e-3)
    landmarks = ("landmarks", "prior")
    # The jaw's outline in the photo (the contour term, where the problem has one) shapes the
    # jaw from the shape stage on: the landmark stages settle identity, and the photometric
    # stage barely moves the outline, whose pixels it does not compare.
    return [
        Stage("pose", landmarks, _POSE, 2, geometric),
        Stage("shape", (*landmarks, "contour"), ("identity", "expression", *_POSE), rounds,
              geometric),
        Stage("photometric", None, BLOCKS, rounds, fine, tuple(smoothing_schedule(rounds)),
              coarse, needs_photo=True),
    ]
