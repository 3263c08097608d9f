"""The interface shared by the three discretisations (grid, particles, networks).

A solver owns a state that represents ``nu_t`` and advances it in time; the controller (the time loop,
output and checkpoints) drives any solver through this interface alone (PyClaw's solver/controller split).

Resuming bit for bit: :meth:`Solver.state_dict` returns everything the future trajectory depends on
(arrays, the time, the step counter, the proposed next step size, RNG states), and ``advance`` is a
deterministic function of that state and its target time. The controller only ever stops at fixed
simulated times (output and checkpoint times), so an interrupted and an uninterrupted run take the same
steps.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, Callable, Optional

import numpy as np

from .._parallel import blas_single_threaded
from .._validate import check_real
from ..geometry.measure import Measure
from ..models.base import Model

__all__ = ["Solver", "SOLVER_KINDS", "StepCallback", "BlowUp", "StepReducedWarning", "energy_tolerance",
           "energy_increase", "probe_step_count", "LINE_SEARCH_HALVINGS", "line_search_parameters",
           "line_search_trial", "line_search_outcome"]

#: The solver kinds: the ``solver`` attribute of a run group in an output file.
SOLVER_KINDS = ("eulerian", "lagrangian", "network")

#: ``callback(solver) -> bool``: called after every step; True asks the solver to stop there.
StepCallback = Callable[["Solver"], bool]


class BlowUp(ArithmeticError):
    """Raised by a solver that detects a numerical blow-up (NaN or inf, negative mass, energy increase...);
    the message names the cause. The controller stops the run, keeps the last good state and reports the
    time and step."""


class StepReducedWarning(UserWarning):
    """A step size the user fixed exceeds a stability bound of the solver and is reduced to the bound.

    Issued once per solver object, naming the requested step, the bound and which bound (e.g. the
    positivity (CFL) bound of :class:`~wgf.discretisations.eulerian.EulerianSolver`); ``wgf run`` prints it once per run."""


def energy_tolerance(scale: float, n_terms: int) -> float:
    """Round-off allowance ``(64 + n) eps scale`` for comparing two computed values of F.

    ``scale`` bounds the magnitude of the terms summed to form F (for a quadratic model
    ``|C| + sum_i m_i (|J_i| + |V_i|)``), ``n`` is the number of atoms. J at every atom is itself a sum over
    the ``n`` atoms, and a recursive sum of ``n`` terms is exact to ``(n - 1) eps`` times the sum of their
    magnitudes (Higham, *Accuracy and Stability of Numerical Algorithms*, §4.2), so the computed F is exact
    to a small multiple of ``n eps scale``; 64 covers the few operations per term (the Eulerian solver's
    allowance). Measured at a minimiser of the teacher-student F (where every step changes F by round-off
    only): the computed F varies by up to 5 eps scale with 1024 atoms and 130 eps scale with 16384, so the
    ``n`` term is needed and the allowance has a margin of 100 or more; a step that is really too large
    raises F by orders of magnitude more (1e-7 of F and beyond)."""
    return (64.0 + float(n_terms)) * float(np.finfo(np.float64).eps) * float(scale)



def energy_increase(before: tuple[float, float], after: tuple[float, float]) -> str | None:
    """The energy check of a step that must not raise F: ``before`` and ``after`` are ``(F, allowance)``
    pairs (the allowance from :func:`energy_tolerance`). None when ``F_after <= F_before + max(allowances)``;
    otherwise what went wrong (F not finite, or by how much it increased), for the solver's
    :class:`BlowUp` message."""
    (F0, tol0), (F1, tol1) = before, after
    tol = max(tol0, tol1)
    if F1 <= F0 + tol:
        return None
    if not math.isfinite(F1):
        return f"F = {F1!r} is not finite"
    return (f"the energy increased from F = {F0:.12g} to {F1:.12g} (by {F1 - F0:.3g}, beyond the round-off "
            f"allowance {tol:.2g})")

def probe_step_count(solver: "Solver", t_end: float, proposed: Callable[[], float], probe: float = 1.0,
                     levels_off: bool = False) -> float:
    """Steps to ``t_end`` of an adaptive stepper whose steps grow as the flow settles, estimated by a probe.

    The solver advances to ``t_p = min(t_end, t0 + probe)`` (``n_p`` steps, then the proposed step ``h_p``)
    and is restored from its :meth:`Solver.state_dict`, so it is left as it was. Beyond ``t_p`` the step is
    taken to grow in proportion to the elapsed time, ``h(s) = h_p s / s_p`` (``s = t - t0``), which gives
    ``n_p + ln(s_end / s_p) s_p / h_p`` steps; with ``levels_off`` (explicit steps held at a stability
    limit, see :func:`line_search_outcome`) it is taken to stay ``h_p``, which gives ``n_p + (t_end - t_p) /
    h_p``, an overestimate wherever the steps still grow. The step of "ros2" grows faster than that (``h / s`` rises
    to 0.0095 at ``s = 10^6`` on the grid of 642 cells), so this overestimates, within a factor 2 where
    measured (teacher–student to 10^6: 2324 estimated and 1426 taken on 162 cells, 2510 and 1616 on 642
    cells, 1520 and 778 for 42 particles), where ``T / h_p`` is ~1e8 - 1e11. Used by the case-work check
    before a run (``estimate_steps`` of the solvers)."""
    t0 = float(solver.time)
    t_end = float(t_end)
    if not t_end > t0:
        return 0.0
    state = solver.state_dict()
    steps0 = solver.steps
    tp = min(t_end, t0 + float(probe))
    try:
        solver.advance(tp)
        n_p = solver.steps - steps0
        h_p = float(proposed())
    finally:
        solver.load_state_dict(state)
    if tp >= t_end:
        return float(n_p)
    if levels_off:
        return float(n_p) + (t_end - tp) / h_p
    return float(n_p) + math.log((t_end - t0) / (tp - t0)) * (tp - t0) / h_p


#: The line search (:func:`line_search_outcome`): the most consecutive halvings of a trial step before the
#: solver gives up (:class:`BlowUp`).
LINE_SEARCH_HALVINGS = 60


def line_search_parameters(step_growth: float, sufficient_decrease: float,
                           max_step: float) -> tuple[float, float, float]:
    """The checked parameters of :func:`line_search_outcome`: ``step_growth > 1``, ``0 < sufficient_decrease
    < 1`` and ``max_step > 0`` (inf allowed); ValueError naming the parameter otherwise."""
    growth = check_real("step_growth", step_growth, low=1.0, low_open=True)
    c = check_real("sufficient_decrease", sufficient_decrease, low=0.0, high=1.0, low_open=True)
    if c == 1.0:
        raise ValueError("sufficient_decrease must be < 1, got 1.0")
    return growth, c, check_real("max_step", max_step, low=0.0, low_open=True, allow_inf=True)


def line_search_trial(proposed: float, remaining: float, round_tol: float = 1e-9) -> tuple[float, bool]:
    """The trial step ``(h, last)`` of a line search from the ``proposed`` step with ``remaining`` time to
    the target: the whole remaining time (``last = True``) when the proposed step reaches it up to a
    relative ``round_tol``, so that the solver lands exactly on the target, else the proposed step."""
    last = proposed >= remaining * (1.0 - round_tol)
    return (remaining if last else proposed), last


def line_search_outcome(before: tuple[float, float], after: tuple[float, float], h: float, proposed: float,
                        D: float, sufficient_decrease: float, step_growth: float,
                        max_step: float) -> tuple[bool, float]:
    r"""The sufficient-decrease (Armijo) test of an explicit step of size ``h`` and the next trial step.

    Parameters
    ----------
    before, after : (float, float)
        ``(F, allowance)`` before and after the step (allowances from :func:`energy_tolerance`; an
        ``after`` F that is not finite fails the test).
    h : float
        The step tried (``proposed``, or less to land on a target time: :func:`line_search_trial`).
    proposed : float
        The proposed step the trial came from.
    D : float
        The dissipation ``-dF/dt >= 0`` along the flow at the state before the step.
    sufficient_decrease, step_growth, max_step : float
        ``c`` in (0, 1), the growth factor > 1 and the cap of the trial step
        (:func:`line_search_parameters`).

    Returns
    -------
    accepted : bool
        Whether :math:`F_{after} \le F_{before} - c\, h\, D + \max(\mathrm{tol}_{before},
        \mathrm{tol}_{after})`.
    proposed : float
        The next trial step: accepted, ``min(step_growth h, max_step)`` when ``h`` was the whole proposed
        step, else (a step shortened to land on a target) the proposed step unchanged; rejected,
        ``h / 2``.

    Notes
    -----
    Why it holds the step at a stability limit: for an explicit step of a smooth gradient flow
    ``F(y') = F - h D + O(h^2 L D)`` (L the curvature of F along the step), so the test accepts every step
    up to a multiple of ``(1 - c) / L``, and a step beyond the method's stability limit amplifies the
    stiff modes until F no longer decreases enough; a persistent trial step that grows by ``step_growth``
    after each acceptance and halves on each rejection therefore follows that limit as it changes along
    the flow. F is nonincreasing (up to round-off) on every accepted step, whatever the steps.
    """
    (F0, tol0), (F1, tol1) = before, after
    if F1 <= F0 - sufficient_decrease * h * D + max(tol0, tol1):
        return True, (min(step_growth * h, max_step) if h == proposed else proposed)
    return False, 0.5 * h


class Solver(ABC):
    """Abstract time integrator of the Wasserstein–Fisher–Rao flow (or of a network's training).

    Attributes
    ----------
    kind : str
        One of :data:`SOLVER_KINDS`, stored as the HDF5 group attribute ``solver``.
    model : Model
    time : float
        Current time t.
    steps : int
        Number of steps taken.
    finite_state_is_valid : bool
        Whether a finite state always gives a valid measure (the solver keeps masses nonnegative and points
        on the sphere by construction).
    """

    kind: str = ""
    model: Model
    time: float = 0.0
    steps: int = 0
    #: True when every state with finite arrays gives a valid measure (nonnegative masses, unit points), so
    #: that the controller's per-step health check need not build the measure (it checks finiteness only).
    finite_state_is_valid: bool = False

    @property
    @abstractmethod
    def measure(self) -> Measure:
        """The current measure ``nu_t``."""

    def advance(self, t_end: float, callback: Optional[StepCallback] = None) -> None:
        """Advance the state to exactly ``t_end`` (the last step is shortened to land on it).

        ``callback(solver)`` is called after every step; if it returns True the solver stops at that step
        boundary, before ``t_end`` (progress bars, Ctrl-C, blow-up checks). Stopping early never changes the
        future trajectory: a later ``advance(t_end)`` takes the steps an uninterrupted call would have
        taken, because the proposed step size is part of the state.

        BLAS runs on one thread meanwhile (:func:`wgf._parallel.blas_single_threaded`): wgf parallelises
        with Numba, and BLAS threads woken between Numba calls cost more than the small products they do."""
        with blas_single_threaded():
            self._advance(t_end, callback)

    @abstractmethod
    def _advance(self, t_end: float, callback: Optional[StepCallback]) -> None:
        """The time loop behind :meth:`advance` (same contract)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: name -> ndarray, float, int or str."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state produced by :meth:`state_dict` (on a solver built from the same case)."""

    def snapshot(self) -> dict[str, np.ndarray]:
        """Arrays stored at output times (default: the measure's points and masses)."""
        nu = self.measure
        return {"points": nu.points, "masses": nu.masses}

    def energy(self) -> float:
        """``F(nu_t)``."""
        return self.model.energy(self.measure)

    def diagnostics(self) -> dict[str, float]:
        """Scalars recorded at output times: energy, total mass, the invariant Q."""
        nu = self.measure
        return {"energy": self.energy(), "mass": nu.total_mass, "Q": nu.balance()}
