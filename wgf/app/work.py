"""The work a case asks for, estimated before it runs, and the refusal of a case that cannot finish.

A case states a final time T, not a number of steps, so a mistake of a few orders of magnitude (``final =
1e300``, or a fixed network step to t = 10^7) is easy to make and, without a check, runs until it is
killed. Before any output file is written, :func:`estimate_case` estimates for every run (on the solver
built anyway to check the case, then discarded)

* the **steps**: the solver's own estimate where it has a method ``estimate_steps(t_end) -> float`` (a
  stepper whose steps grow as the flow settles can count them better), else ``T / h`` with ``h``
  (:func:`step_size`): a network's next step ``next_step_size()`` (exact for constant steps:
  ``T / gamma``), a Lagrangian solver's ``proposed_dt`` (the fixed ``dt``; for an adaptive stepper its
  starting step, which the error control then lets grow up to the stepper's stability limit, so the
  estimate is high: 6.9e7 steps for the particles of ``solvers/teacher_student_longtime.toml``, which
  take about 1e5), or else the first step the solver takes, measured by taking it (the grid: the step
  its positivity (CFL) and energy-stability bounds allow at t = 0);
* the **atom-steps**: steps times the number of atoms the run moves (grid cells, particles or
  neurons), the unit in which a step's cost grows.

A case whose total atom-steps exceed :data:`MAX_ATOM_STEPS` = 1e11 is refused with one line giving the
estimate and the command-line flag that overrides the check (``wgf run --allow-long``); every bundled case
passes. At the rates measured on the 2-core development machine (single-threaded: 2.4e6 neuron-steps per
CPU second for a full-gradient network of width 1000; 3.2e5 cell- and particle-steps per CPU second for
the 162-cell grid and the 162 RK45 particles of ``teacher_student_longtime``, 5.1e7 of them in 158 s) the
limit is half a day of networks and about four days of grid or particles: far above any case meant to
finish, far below ``final = 1e300``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

__all__ = ["RunWork", "WorkEstimate", "MAX_ATOM_STEPS", "ALLOW_LONG_FLAG", "first_step", "step_size", "estimate_run",
           "estimate_case", "check_work"]

#: Largest total number of atom-steps (cells, particles or neurons times steps) a case may ask for
#: without ``--allow-long`` (see the module docstring for how it was chosen).
MAX_ATOM_STEPS = 1e11

#: The command-line flag of ``wgf run`` that overrides the check.
ALLOW_LONG_FLAG = "--allow-long"

#: Words for the atoms of each solver kind.
ATOM_WORDS = {"eulerian": "cell", "lagrangian": "particle", "network": "neuron"}


@dataclass
class RunWork:
    """The estimated work of one run to the final time.

    Attributes
    ----------
    name, kind : str
        The run's name and solver kind.
    steps : float
        Estimated steps to the final time (NaN: unknown).
    atoms : int
        Atoms the run moves: grid cells, particles or neurons.
    basis : str
        How ``steps`` was obtained, e.g. ``"T / first step 0.0072"``.
    """

    name: str
    kind: str
    steps: float
    atoms: int
    basis: str

    @property
    def atom_steps(self) -> float:
        """``steps * atoms`` (NaN when the steps are unknown)."""
        return self.steps * self.atoms


@dataclass
class WorkEstimate:
    """The estimated work of every run of a case (:func:`estimate_case`)."""

    final: float
    runs: list[RunWork] = field(default_factory=list)

    @property
    def steps(self) -> float:
        """Total estimated steps over the runs with a known estimate."""
        return float(sum(r.steps for r in self.runs if math.isfinite(r.steps)))

    @property
    def atom_steps(self) -> float:
        """Total estimated atom-steps over the runs with a known estimate."""
        return float(sum(r.atom_steps for r in self.runs if math.isfinite(r.atom_steps)))

    @property
    def largest(self) -> RunWork | None:
        """The run with the most atom-steps (None when no run has an estimate)."""
        known = [r for r in self.runs if math.isfinite(r.atom_steps)]
        return max(known, key=lambda r: r.atom_steps) if known else None

    @property
    def too_long(self) -> bool:
        """Whether the total exceeds :data:`MAX_ATOM_STEPS`."""
        return self.atom_steps > MAX_ATOM_STEPS

    def summary(self) -> str:
        """One line: the totals and the largest run, e.g. for the refusal message."""
        big = self.largest
        if big is None:
            return "no run's work could be estimated"
        word = ATOM_WORDS.get(big.kind, "atom")
        return (f"about {self.steps:.3g} steps and {self.atom_steps:.3g} atom-steps in all (largest: run "
                f"'{big.name}', {big.steps:.3g} steps of {big.atoms} {word}{'s' if big.atoms != 1 else ''}, "
                f"{big.basis})")


def first_step(solver: Any, final: float) -> float | None:
    """The size of the first step ``solver`` takes toward ``final``, measured by taking it (the solver's
    state changes: use a throwaway copy). None when it takes no step or fails (a case that blows up in
    its first step is reported by the run itself)."""
    t0 = float(solver.time)
    taken = []

    def stop(s: Any) -> bool:
        taken.append(float(s.time))
        return True

    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            solver.advance(final, stop)
    except (ArithmeticError, ValueError):
        return None
    if not taken or not taken[0] > t0:
        return None
    return taken[0] - t0


def step_size(solver: Any, final: float) -> tuple[float | None, str]:
    """The step size ``h`` behind the estimate ``T / h`` of a freshly built solver, and where it came from:
    the network's next step (``next_step_size()``, exact for constant steps), the Lagrangian solver's
    proposed step (``proposed_dt``: the fixed step, or the adaptive starting step), or else the first step
    the solver takes, measured by taking it (:func:`first_step`; the grid: its step bounds at t = 0)."""
    for attr, what in (("next_step_size", "step"), ("proposed_dt", "proposed step")):
        if hasattr(type(solver), attr):
            try:
                v = getattr(solver, attr)
                h = float(v() if callable(v) else v)
            except (ArithmeticError, ValueError):
                return None, f"unknown ({what} undefined at t = 0)"
            return (h, what) if h > 0 and math.isfinite(h) else (None, f"unknown ({what} {h!r})")
    h = first_step(solver, final)
    return (h, "first step") if h is not None else (None, "unknown (no first step)")


def estimate_run(name: str, kind: str, solver: Any, final: float) -> RunWork:
    """The estimated work of one run from its freshly built ``solver`` to ``final`` (see the module
    docstring); the solver's state may change."""
    try:
        atoms = int(solver.measure.points.shape[0])
    except (AttributeError, ValueError):
        atoms = 0
    t0 = float(solver.time)
    own = getattr(solver, "estimate_steps", None)
    if callable(own):
        steps = own(final)
        if steps is not None and math.isfinite(float(steps)):
            return RunWork(name, kind, float(steps), atoms, "the solver's own estimate")
    h, what = step_size(solver, final)
    if h is None:
        return RunWork(name, kind, math.nan, atoms, what)
    n = (final - t0) / h
    if n < 2.0**53:  # a whole number of steps up to round-off (T = k h) counts as k, else the next one up
        k = round(n)
        n = float(k) if abs(n - k) <= 1e-9 * max(1.0, n) else float(math.ceil(n))
    return RunWork(name, kind, n, atoms, f"T / {what} {h:.3g}")


def estimate_case(case: Any, built: Iterable[tuple[Any, Any]]) -> WorkEstimate:
    """The estimated work of a case: ``built`` gives ``(RunSpec, solver)`` for every run (solvers built
    for this purpose: their state changes)."""
    T = float(case.time.final)
    return WorkEstimate(T, [estimate_run(spec.name, spec.kind, solver, T) for spec, solver in built])


def check_work(estimate: WorkEstimate, allow_long: bool) -> str | None:
    """The one-line refusal of a case above :data:`MAX_ATOM_STEPS` (None when it passes, or with
    ``allow_long``)."""
    if allow_long or not estimate.too_long:
        return None
    return (f"this case asks for {estimate.summary()}, above the limit of {MAX_ATOM_STEPS:.3g} cell-, particle- "
            f"or neuron-steps (half a day to days of computing); reduce [time] final, or run it anyway with "
            f"wgf run {ALLOW_LONG_FLAG}")
