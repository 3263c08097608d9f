"""The controller: the time loop over a case's solver runs, output, checkpoints, interruptions, resume.

The controller owns the time loop (PyClaw's solver/controller split) and drives every solver through the
:class:`~wgf.discretisations.solver.Solver` interface alone. The runs of a case are advanced one after the other. Each run
stops exactly at the case's output times (:attr:`wgf.app.cases.TimeSpec.stops`: t = 0, the record, snapshot
and checkpoint times, the final time): it records the diagnostics there, keeps snapshots, and writes a
checkpoint (with the records and snapshots taken since the previous one) at every checkpoint time
(``[time] checkpoint_interval``), at the end of the run and at least every ``[time] checkpoint_wall``
seconds. (A checkpoint rewrites the whole file, so a case of many short runs writes about one per run.) A wall-clock checkpoint, Ctrl-C (SIGINT) and SIGTERM stop the solver at
a step boundary through the step callback; neither changes the trajectory (the Solver contract), so a run
interrupted anywhere and resumed with ``wgf run --resume`` writes exactly the file an uninterrupted run
writes (attributes holding wall-clock times aside).

At every snapshot time the controller also records the optimality certificate of the run's measure
(:func:`wgf.optimality_certificate`, covering size and method from the case's ``[diagnostics]``): the
datasets ``certificate_gap`` (the bound on ``F(nu_t) - F*``), ``min_J_lower`` (the guaranteed lower bound
on ``min J``), ``min_J_grid`` (the smallest J evaluated, an upper bound on ``min J``) and ``integral_J``
(``int J dnu_t``), NaN at records that are not snapshots (a certificate costs a covering evaluation). It is
a deterministic function of the measure, so resumed runs record the same values. Where the model admits
no certificate (no minimiser, no certified covering of S^d, no Lipschitz bound) nothing is recorded and
the reason is printed once.

After every step the callback checks the solver's state (every float array of ``state_dict()`` finite,
and its measure a valid nonnegative measure unless the solver guarantees that a finite state gives one,
:attr:`~wgf.discretisations.solver.Solver.finite_state_is_valid`) and keeps a copy of the last good state; a failed check, a
:class:`~wgf.discretisations.solver.BlowUp` (or FloatingPointError) raised by the solver or a non-finite energy or mass at
a record stops the run with a message naming the time, the step and the cause, and the checkpoint then
holds the last good state. The other runs of the case still run. (The Lagrangian and network solvers also
raise BlowUp when a fixed step increases F beyond round-off; the Eulerian solver never takes such a step.)

A :class:`~wgf.discretisations.solver.StepReducedWarning` of a solver (a fixed step above a stability bound, reduced to
it) is printed once per run, as ``warning: run 'NAME': ...``, even with ``quiet``.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time as _time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, TextIO

import numpy as np

from ..analysis.certificate import optimality_certificate
from ..discretisations.solver import BlowUp, Solver, StepReducedWarning
from . import io, work
from .cases import Case, CaseError, RunSpec, parse_case

__all__ = ["Controller", "Outcome", "EXIT_CODES"]

#: Exit status of ``wgf run`` by outcome.
EXIT_CODES = {"completed": 0, "nothing": 0, "failed": 1, "interrupted": 130, "terminated": 143}


def _is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is an interactive terminal (a redrawn progress bar belongs only there)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _PlainProgress:
    """Progress of one run as plain lines, for a stream that is not a terminal (a batch job's log).

    It has the few members of a ``tqdm`` bar that the controller uses (``n``, ``set_postfix_str``,
    ``refresh``, ``close``) and writes at most one line per ``interval`` seconds of wall time while the
    run goes on, and one line when it closes: a log holds one line per run (after the controller's own
    "run NAME" line), plus one per ``interval`` of a long run, instead of one per bar redraw.
    """

    interval: float = 30.0

    def __init__(self, stream: Any, name: str, t0: float, total: float) -> None:
        self.stream, self.name, self.total = stream, name, float(total)
        self.n = float(t0)
        self._postfix = ""
        self._start = self._last = _time.monotonic()

    def _line(self) -> str:
        pct = 100.0 if self.total <= 0 else 100.0 * self.n / self.total
        post = f" {self._postfix}" if self._postfix else ""
        return (f"{self.name}: t={self.n:.4g}/{self.total:.4g} ({pct:.0f}%){post} "
                f"[{_time.monotonic() - self._start:.1f} s]")

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self._postfix = text

    def refresh(self) -> None:
        now = _time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            print(self._line(), file=self.stream, flush=True)

    def close(self) -> None:
        print(self._line(), file=self.stream, flush=True)


@dataclass
class Outcome:
    """Result of :meth:`Controller.run`: ``status`` is "completed", "failed" (a run blew up; the others
    ran), "interrupted" (SIGINT), "terminated" (SIGTERM) or "nothing" (every run was already completed)."""

    status: str
    message: str
    failures: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


@dataclass
class _RunState:
    spec: RunSpec
    started: bool = False
    completed: bool = False
    failed: str = ""
    next_stop: int = 0
    series: dict[str, list] = field(default_factory=dict)
    n_snapshots: int = 0
    pending: list[io.Snapshot] = field(default_factory=list)
    state: dict[str, Any] | None = None
    wall: float = 0.0

    @property
    def n_records(self) -> int:
        return len(self.series.get("time", []))


def _copy_state(state: dict[str, Any]) -> dict[str, Any]:
    return {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v) for k, v in state.items()}


def _series_name(key: str) -> str:
    key = str(key).replace("/", "_") or "unnamed"
    return f"diag_{key}" if key in io.RESERVED or key.startswith(".") else key


class Controller:
    """Runs (or resumes) every solver run of a case, writing one HDF5 file (layout: :mod:`wgf.app.io`).

    Build it with :meth:`new` (a fresh output file) or :meth:`resume` (from a file's last checkpoint), then
    call :meth:`run`.
    """

    def __init__(self, case: Case, path: Path, states: list[_RunState], *, quiet: bool = False,
                 stream: Optional[TextIO] = None):
        self.case = case
        self.path = Path(path)
        self.states = states
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self._signal: int | None = None
        self._stop_reason: str | None = None
        self._blowup: tuple[str, float, int] | None = None
        self._good: list[tuple[dict, float, int]] = []
        self._static: dict[str, np.ndarray] = {}
        self._last_ckpt = _time.monotonic()
        self._wall_mark = _time.monotonic()
        self._bar = None
        self._bar_t = 0.0
        self._energy = math.nan
        self._checkpointed: tuple[str, float, int] | None = None
        self._committed_status = ""
        self._certificate_note = False
        self._warned: set[str] = set()
        #: Failure messages already printed (to ``stream``) by this controller.
        self.reported: list[str] = []
        #: The estimated work of the case (:meth:`new`; None on resume).
        self.estimate: work.WorkEstimate | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def new(cls, case: Case, path: str | Path, *, force: bool = False, quiet: bool = False,
            stream: Optional[TextIO] = None, allow_long: bool = False) -> "Controller":
        """Validate the output path and every run (each solver is constructed once, and its work to the
        final time estimated: :mod:`wgf.app.work`), then write the initial output file. Raises CaseError
        (also for a case above :data:`wgf.app.work.MAX_ATOM_STEPS`, unless ``allow_long``) or
        OutputFileError, leaving no file behind."""
        p = io.check_output_path(path, force)
        io.remove_stale_tmp(p)
        # one run built at a time (a generator), estimated and discarded: the check of Case.check_buildable
        estimate = work.estimate_case(case, ((r, r.build().solver) for r in case.runs))
        refusal = work.check_work(estimate, allow_long)
        if refusal is not None:
            raise CaseError(refusal)
        try:
            io.create_output(p, config=case.text, case_name=case.name, title=case.title, data=case.data,
                             runs=[(r.name, r.kind, r.section, r.params) for r in case.runs])
        except OSError as exc:
            raise io.OutputFileError(f"cannot write {p}: {exc.strerror or exc}") from None
        ctl = cls(case, p, [_RunState(r) for r in case.runs], quiet=quiet, stream=stream)
        ctl.estimate = estimate
        if estimate.too_long:
            ctl._log(f"note: {estimate.summary()}: above the limit of {work.MAX_ATOM_STEPS:.3g} atom-steps, run "
                     f"because of {work.ALLOW_LONG_FLAG}", force=True)
        return ctl

    @classmethod
    def resume(cls, path: str | Path, *, quiet: bool = False, stream: Optional[TextIO] = None) -> "Controller":
        """Reopen an output file at its last checkpoint (the case and its data come from the file)."""
        p = Path(path)
        with io.OutputReader(p) as r:
            r.check()
            attrs = r.attrs()
            try:
                case = parse_case(r.config, name=str(attrs.get("case_name", "case")), embedded=r.data())
            except CaseError as exc:
                raise CaseError(f"the case stored in {p} cannot be run by this version of wgf: {exc}") from None
            names = [s.name for s in case.runs]
            if names != r.runs:
                raise io.OutputFileError(f"{p} is inconsistent: its runs {r.runs} are not those of its case "
                                         f"{names}")
            states = []
            for spec in case.runs:
                a = r.run_attrs(spec.name)
                st = _RunState(spec, started=bool(a["started"]), completed=bool(a["completed"]),
                               failed=str(a.get("failed", "")), wall=float(a.get("wall_seconds", 0.0)))
                if a["solver"] != spec.kind:
                    raise io.OutputFileError(f"{p} is inconsistent: run {spec.name!r} is a {a['solver']!r} run "
                                             f"in the file but a {spec.kind!r} run in its case")
                if st.started:
                    ck = r.checkpoint(spec.name)
                    assert ck is not None  # r.check() guarantees it
                    cattrs, st.state = ck
                    st.next_stop = int(cattrs["next_stop"])
                    st.n_snapshots = int(cattrs["n_snapshots"])
                    st.series = {k: list(v) for k, v in r.series(spec.name).items()}
                    if not 0 <= st.next_stop <= len(case.time.stops):
                        raise io.OutputFileError(f"{p} is corrupt: run {spec.name!r} has next_stop "
                                                 f"{st.next_stop}")
                states.append(st)
        io.remove_stale_tmp(p)
        return cls(case, p, states, quiet=quiet, stream=stream)

    # ------------------------------------------------------------------ messages and progress
    def _log(self, msg: str, force: bool = False) -> None:
        if self.quiet and not force:
            return
        from tqdm import tqdm
        tqdm.write(msg, file=self.stream)

    def _open_bar(self, st: _RunState, t0: float) -> None:
        T = self.case.time.final
        self._bar_t = 0.0
        if not _is_terminal(self.stream):
            # a log file or a pipe: plain lines, not a redrawn bar (see _PlainProgress)
            self._bar = None if self.quiet else _PlainProgress(self.stream, st.spec.name, t0, T)
            return
        from tqdm import tqdm
        self._bar = tqdm(total=T, initial=t0, desc=st.spec.name, file=self.stream, disable=self.quiet,
                         leave=True, dynamic_ncols=True,
                         bar_format="{desc} {percentage:3.0f}%|{bar}| t={n:.4g}/{total:.4g}{postfix} "
                                    "[{elapsed}<{remaining}]")

    def _update_bar(self, solver: Solver, force: bool = False) -> None:
        if self._bar is None or self.quiet:
            return
        now = _time.monotonic()
        if not force and now - self._bar_t < 0.2:
            return
        self._bar_t = now
        self._bar.n = min(float(solver.time), self.case.time.final)
        self._bar.set_postfix_str(f"F={self._energy:.4e}", refresh=False)
        self._bar.refresh()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    # ------------------------------------------------------------------ signals
    def _on_signal(self, signum, frame) -> None:
        if self._signal is not None:
            raise KeyboardInterrupt
        self._signal = signum
        name = "Ctrl-C" if signum == signal.SIGINT else f"signal {signum}"
        self._log(f"{name}: stopping after the current step to write a checkpoint "
                  f"({name} again aborts without one; the file keeps its previous checkpoint)", force=True)

    def _show_warnings(self, st: _RunState, caught: list) -> None:
        """Print a solver's StepReducedWarning once per run (even with quiet: it says that the case's step
        is not the one taken); other warnings go on to Python's usual display."""
        for w in caught:
            if issubclass(w.category, StepReducedWarning):
                if st.spec.name not in self._warned:
                    self._warned.add(st.spec.name)
                    self._log(f"warning: run '{st.spec.name}': {w.message}", force=True)
            else:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno, None, w.line)
        caught.clear()

    # ------------------------------------------------------------------ checks
    def _health(self, solver: Solver, state: dict[str, Any]) -> str | None:
        for k, v in state.items():
            if isinstance(v, np.ndarray) and v.dtype.kind in "fc" and not np.all(np.isfinite(v)):
                return f"non-finite values (NaN or inf) in the state array '{k}'"
        if getattr(solver, "finite_state_is_valid", False):
            return None
        try:
            solver.measure
        except ValueError as exc:
            return f"invalid measure: {exc}"
        return None

    def _callback(self, solver: Solver) -> bool:
        state = solver.state_dict()
        cause = self._health(solver, state)
        if cause is not None:
            self._blowup = (cause, float(solver.time), int(solver.steps))
            return True
        entry = (_copy_state(state), float(solver.time), int(solver.steps))
        self._good = [self._good[-1], entry] if self._good else [entry]
        if self._signal is not None:
            self._stop_reason = "signal"
            return True
        if _time.monotonic() - self._last_ckpt >= self.case.time.checkpoint_wall:
            self._stop_reason = "wall"
            return True
        self._update_bar(solver)
        return False

    def _certificate(self, solver: Solver) -> dict[str, float]:
        """The certificate series at a snapshot (empty where the case's model admits none)."""
        spec = self.case.diagnostics
        if not spec.enabled:
            return {}
        c = optimality_certificate(self.case.model, solver.measure, n_points=spec.points, local_starts=0,
                                   method=spec.method, refine=spec.refine)
        return {"certificate_gap": c.gap_bound, "min_J_lower": c.min_J_lower, "min_J_grid": c.min_J_grid,
                "integral_J": c.integral_J}

    def _note_certificate(self) -> None:
        spec = self.case.diagnostics
        if spec.certificate and spec.unavailable is not None and not self._certificate_note:
            self._certificate_note = True
            self._log(f"no optimality certificate is recorded: {spec.unavailable}")

    def _record(self, st: _RunState, solver: Solver, snapshot: bool = False) -> str | None:
        try:
            diag = solver.diagnostics()
            values = {_series_name(k): float(v) for k, v in diag.items()}
        except (ValueError, TypeError, ArithmeticError) as exc:
            return f"the diagnostics failed: {exc}"
        if snapshot:
            try:
                values.update(self._certificate(solver))
            except (ValueError, TypeError, ArithmeticError) as exc:
                return f"the optimality certificate failed: {exc}"
        for key in ("energy", "mass"):
            if key in values and not math.isfinite(values[key]):
                return f"{'F' if key == 'energy' else 'the total mass'} = {values[key]} is not finite"
        n = st.n_records
        if n == 0:
            st.series = {"time": [], "step": []}
        for key in values:
            if key not in st.series:
                st.series[key] = [math.nan] * n
        st.series["time"].append(float(solver.time))
        st.series["step"].append(int(solver.steps))
        for key, col in st.series.items():
            if key not in ("time", "step"):
                col.append(values.get(key, math.nan))
        self._energy = values.get("energy", math.nan)
        return None

    # ------------------------------------------------------------------ checkpoints
    def _status(self) -> str:
        if self._signal is not None:
            return "interrupted"
        if all(s.completed or s.failed for s in self.states):
            return "failed" if any(s.failed for s in self.states) else "completed"
        return "running"

    def _commit(self, st: _RunState, solver: Solver, good: tuple[dict, float, int] | None = None) -> None:
        if good is None:
            good = (solver.state_dict(), float(solver.time), int(solver.steps))
        state, t, k = good
        now = _time.monotonic()
        st.wall += now - self._wall_mark
        self._wall_mark = now
        series = {key: np.asarray(v, dtype=np.int64 if key == "step" else np.float64)
                  for key, v in st.series.items()}
        update = io.RunUpdate(
            st.spec.name,
            attrs={"started": True, "completed": st.completed, "failed": st.failed, "wall_seconds": st.wall},
            series=series, snapshots=list(st.pending), static=self._static, state=state,
            checkpoint_attrs={"time": t, "step": k, "next_stop": st.next_stop, "n_records": st.n_records,
                              "n_snapshots": st.n_snapshots},
        )
        status = self._status()
        io.commit(self.path, [update], {"status": status})
        self._committed_status = status
        self._checkpointed = (st.spec.name, t, k)
        st.pending.clear()
        self._static = {}
        self._last_ckpt = _time.monotonic()

    # ------------------------------------------------------------------ the loop
    def _fail(self, st: _RunState, solver: Solver, cause: str, t: float, k: int,
              good: tuple[dict, float, int] | None) -> None:
        st.failed = (f"numerical blow-up in run '{st.spec.name}' at t = {t:.6g}, step {k}: {cause}")
        if good is None:
            good = (solver.state_dict(), float(solver.time), int(solver.steps))
        self._commit(st, solver, good)
        self._close_bar()
        self._log(f"{st.failed}; the last good state (t = {good[1]:.6g}, step {good[2]}) is kept in {self.path}",
                  force=True)
        self.reported.append(st.failed)

    def _run_one(self, st: _RunState) -> str:
        """Advance one run to the final time; returns "completed", "failed" or "signal"."""
        built = st.spec.build()
        solver = built.solver
        self._note_certificate()
        if st.started:
            solver.load_state_dict(st.state)
            st.state = None
        else:
            st.started, st.next_stop, st.series, st.n_snapshots = True, 0, {}, 0
            self._static = dict(built.static)
        stops = self.case.time.stops
        self._good = []
        self._wall_mark = self._last_ckpt = _time.monotonic()
        self._energy = st.series["energy"][-1] if st.series.get("energy") else math.nan
        self._open_bar(st, float(solver.time))
        while st.next_stop < len(stops):
            t, rec, snap, ckpt = stops[st.next_stop]
            if t > 0:
                self._stop_reason, self._blowup = None, None
                self._good = [(_copy_state(solver.state_dict()), float(solver.time), int(solver.steps))]
                try:
                    # overflow on the way to a blow-up is reported by the checks below, not as warnings
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), \
                            warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always", StepReducedWarning)
                        try:
                            solver.advance(t, self._callback)
                        finally:
                            self._show_warnings(st, caught)
                except (BlowUp, FloatingPointError) as exc:  # the solvers raise FloatingPointError on overflow
                    self._blowup = (str(exc) or "the solver detected a blow-up", float(solver.time),
                                    int(solver.steps))
                if self._blowup is not None:
                    self._fail(st, solver, *self._blowup, good=self._good[-1])
                    return "failed"
                if self._stop_reason is not None:
                    self._commit(st, solver)
                    if self._stop_reason == "signal":
                        return "signal"
                    continue
            if rec or snap:
                cause = self._record(st, solver, snapshot=snap)
                if cause is not None:
                    good = self._good[0] if len(self._good) == 2 else None
                    self._fail(st, solver, cause, float(solver.time), int(solver.steps), good)
                    return "failed"
            if snap:
                arrays = {k: np.array(v, copy=True) for k, v in solver.snapshot().items()}
                st.pending.append(io.Snapshot(st.n_snapshots, float(solver.time), int(solver.steps), arrays))
                st.n_snapshots += 1
            st.next_stop += 1
            if st.next_stop == len(stops):
                st.completed = True
            if (ckpt or st.completed or self._signal is not None
                    or _time.monotonic() - self._last_ckpt >= self.case.time.checkpoint_wall):
                self._commit(st, solver)
            self._update_bar(solver, force=True)
            if self._signal is not None and not st.completed:
                return "signal"
        self._close_bar()
        return "completed"

    def run(self) -> Outcome:
        """Run every run that is not completed or failed. Installs SIGINT/SIGTERM handlers (main thread
        only) for the duration."""
        todo = [s for s in self.states if not (s.completed or s.failed)]
        if not todo:
            failed = [s.failed for s in self.states if s.failed]
            if failed:
                return Outcome("failed", f"nothing to run in {self.path}: every run is completed or failed "
                               f"({len(failed)} failed)", failed)
            return Outcome("nothing", f"nothing to run in {self.path}: every run is completed")
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                handlers[sig] = signal.signal(sig, self._on_signal)
        current = todo[0]
        try:
            for st in todo:
                current = st
                self._log(f"run {st.spec.name} ({st.spec.kind})" + (" resumed" if st.started else ""))
                self._run_one(st)
                if self._signal is not None:
                    break
            if self._signal is not None and self._committed_status != "interrupted":
                # the signal came during the last checkpoint's write (or between runs): record it
                io.commit(self.path, [], {"status": "interrupted"})
        finally:
            self._close_bar()
            for sig, h in handlers.items():
                signal.signal(sig, h)
        failures = [s.failed for s in self.states if s.failed]
        if self._signal is not None:
            status = "interrupted" if self._signal == signal.SIGINT else "terminated"
            where = (f"in run '{self._checkpointed[0]}' at t = {self._checkpointed[1]:.6g}, step "
                     f"{self._checkpointed[2]}" if self._checkpointed else f"before run '{current.spec.name}' started")
            return Outcome(status, f"interrupted {where}; checkpoint written to {self.path}\n"
                           f"resume with: wgf run --resume {self.path}", failures)
        if failures:
            return Outcome("failed", f"{len(failures)} run(s) failed; the others completed; results in "
                           f"{self.path}", failures)
        return Outcome("completed", f"wrote {self.path} ({len(self.states)} run(s)); see: wgf report {self.path}")
