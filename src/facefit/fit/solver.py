"""Levenberg-Marquardt on the normal equations, with Cholesky solves.

``(J^T J + lambda * diag(J^T J)) dx = -J^T r`` over the active parameters; a step is accepted
when it lowers the energy ``r . r`` (then lambda shrinks) and rejected otherwise (lambda grows),
so the energy never increases across accepted steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from ..backends import array_namespace, cholesky_solve, gram

Array = Any

__all__ = ["IterationRecord", "SolverOptions", "SolverReport", "levenberg_marquardt"]


#: One LM iteration, as kept in :attr:`SolverReport.history` and ``FitResult.history``:
#: ``stage`` is the stage and round (``"photometric/0"``), ``energy`` the energy after the
#: iteration, ``step`` the norm of the accepted step (0 when none was), ``lambda`` the damping
#: after it, ``accepted`` whether it lowered the energy, ``seconds`` the time since the run
#: started. (The functional form because ``lambda`` is a keyword.)
IterationRecord = TypedDict("IterationRecord", {
    "stage": str, "iteration": int, "energy": float, "step": float, "lambda": float,
    "accepted": bool, "seconds": float})


@dataclass(frozen=True)
class SolverOptions:
    """Stopping rules and damping schedule.

    Attributes
    ----------
    max_iterations : cap on accepted-or-rejected outer steps (Jacobian evaluations).
    relative_decrease : stop when an accepted step lowers the energy by less than this fraction.
    step_tolerance : stop when ``|dx| <= step_tolerance * (|x| + step_tolerance)``.
    initial_damping, damping_up, damping_down : lambda's start and update factors.
    min_damping : lambda never falls below this after an accepted step.
    max_damping : give up (converged as far as it can) when lambda exceeds this.

    The damping starts high and stays above a floor: from a rough start, near-Gauss-Newton
    steps jump across the many shallow local minima that bilinear image sampling gives the
    photometric energy, into poorer ones. On the three shared photos, LM from the closed-form
    start with the state frozen there ends 1.4-2.9% below scipy's ``least_squares`` with these
    defaults; with (1e-3, 10, 0.3, 1e-12) it ended within 0.03% of scipy on two and 0.18%
    above it on the astronaut.
    ``fit`` uses this damping for its photometric stage (with its own stopping rule, and
    coarse to fine: see ``facefit.fit.smoothing_schedule``); its landmark stages, which have no
    such ripples, take near-Gauss-Newton steps with (1e-3, 10, 0.3, 1e-12).

    The floor alone does not get past every ripple: on the photo itself LM converges to the
    ripple minimum nearest its path (on the astronaut, 0.03435 from the closed-form start, where
    a 1500-step Adam run, whose small averaged steps slide across ripples, reached 0.03294).
    Starting on a blurred photo, where the ripples are smoothed away, is what takes LM below
    Adam (0.03273 there).
    """

    max_iterations: int = 20
    relative_decrease: float = 1e-6
    step_tolerance: float = 1e-9
    initial_damping: float = 1.0
    damping_up: float = 4.0
    damping_down: float = 0.5
    min_damping: float = 1e-3
    max_damping: float = 1e10


@dataclass
class SolverReport:
    """Outcome of one run: final point and energy, per-iteration history, why it stopped."""

    x: Array
    energy: float
    iterations: int
    reason: str
    history: list[IterationRecord] = field(default_factory=list)


def levenberg_marquardt(
    residuals: Callable[[Array], Array],
    jacobian: Callable[[Array], Array],
    x0: Array,
    active: Array,
    options: SolverOptions | None = None,
    *,
    stage: str = "",
    damping: float | None = None,
    gram_threads: int | None = None,
    normal_equations: Callable[[Array, Array, Array | None], tuple[Array, Array]] | None = None,
) -> SolverReport:
    """Minimise ``|residuals(x)|^2`` over the parameters ``active`` (the rest stay fixed).

    Parameters
    ----------
    residuals : maps an (n,) array to an (m,) array.
    jacobian : maps an (n,) array to the (m, n) Jacobian.
    x0 : (n,) starting point.
    active : (k,) int indices of the parameters to optimise.
    options : stopping rules; defaults to :class:`SolverOptions`.
    stage : a label written into each history entry.
    damping : starting lambda (overrides ``options.initial_damping``).
    gram_threads : host BLAS threads for ``J^T J`` alone (see :func:`facefit.backends.gram`);
        None leaves the BLAS pool as it is.
    normal_equations : optional ``(x, r, columns) -> (J^T J, J^T r)`` at ``x``, with ``r``
        the residuals there, over the parameters ``columns`` (None: all n; else ``active``);
        when given it replaces ``jacobian`` and the product (e.g.
        :meth:`facefit.fit.FitProblem.normal_equations`, which sums them term by term
        without stacking the Jacobian).

    Returns
    -------
    SolverReport
        ``history`` entries hold ``stage``, ``iteration``, ``energy``, ``step`` (norm of the
        accepted dx), ``lambda``, ``accepted`` and ``seconds``.
    """
    options = options or SolverOptions()
    xp = array_namespace(x0)
    x = x0
    r = residuals(x)
    energy = float(xp.sum(r * r))
    lam = options.initial_damping if damping is None else damping
    history: list[IterationRecord] = []
    reason = "iteration cap"
    n = x.shape[0]
    everything = active.shape[0] == n and bool(
        xp.all(active == xp.arange(n, dtype=active.dtype, device=active.device)))
    for iteration in range(options.max_iterations):
        start = time.perf_counter()
        if normal_equations is not None:
            normal, gradient = normal_equations(x, r, None if everything else active)
        else:
            full_jacobian = jacobian(x)
            jac = full_jacobian if everything else xp.take(full_jacobian, active, axis=1)
            gradient = xp.matrix_transpose(jac) @ r
            normal = gram(jac, gram_threads)
        diagonal = xp.linalg.diagonal(normal)
        floor = 1e-12 * max(float(xp.max(diagonal)), 1e-300)
        diagonal = xp.where(diagonal > floor, diagonal, xp.full_like(diagonal, floor))
        accepted = False
        step_norm = 0.0
        while lam <= options.max_damping:
            system = normal + lam * _diag(diagonal, xp)
            dx = -cholesky_solve(system, gradient)
            if not bool(xp.all(xp.isfinite(dx))):
                lam *= options.damping_up
                continue
            trial = x + (dx if everything else _scatter(dx, active, x, xp))
            r_trial = residuals(trial)
            trial_energy = float(xp.sum(r_trial * r_trial))
            if math.isfinite(trial_energy) and trial_energy < energy:
                accepted = True
                decrease = energy - trial_energy
                step_norm = float(xp.sqrt(xp.sum(dx * dx)))
                x, r, previous, energy = trial, r_trial, energy, trial_energy
                lam = max(lam * options.damping_down, options.min_damping)
                break
            lam *= options.damping_up
        history.append({"stage": stage, "iteration": iteration, "energy": energy,
                        "step": step_norm, "lambda": lam, "accepted": accepted,
                        "seconds": time.perf_counter() - start})
        if not accepted:
            reason = "no decrease (damping limit)"
            break
        x_norm = float(xp.sqrt(xp.sum(xp.take(x, active) ** 2)))
        if decrease <= options.relative_decrease * previous:
            reason = "relative decrease"
            break
        if step_norm <= options.step_tolerance * (x_norm + options.step_tolerance):
            reason = "step size"
            break
    return SolverReport(x=x, energy=energy, iterations=len(history), reason=reason,
                        history=history)


def _diag(values: Array, xp: Any) -> Array:
    n = values.shape[0]
    return xp.eye(n, dtype=values.dtype, device=values.device) * values[None, :]


def _scatter(dx: Array, active: Array, like: Array, xp: Any) -> Array:
    """A full-length step with ``dx`` at ``active`` and zeros elsewhere."""
    n = like.shape[0]
    one_hot = xp.astype(xp.arange(n, device=like.device)[:, None] == active[None, :], like.dtype)
    return one_hot @ dx
