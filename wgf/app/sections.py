"""The schema of a case's problem sections: ``[model]``, ``[initial]``, ``[flow]``, ``[diagnostics]``
and ``[time]`` (the keys are listed in :mod:`wgf.app.cases`), each parsed into a small specification.

``MODEL_TYPES`` is the registry of model types (:func:`register_model` adds one); ``INITIAL_TYPES`` the
initial measures. Times: :class:`TimeSpec` holds the output times (snapshots, records, checkpoints) of
a run; with network runs every time is a whole multiple of the network step.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from ..geometry.measure import Measure
from ..models.base import Model
from .validation import (CaseError, _bad, _fmt, _typename, _where, check_choice, check_int, check_keys, check_number,
                         check_table, constructor_error, load_array, solver_kwargs)

if TYPE_CHECKING:
    from .solver_sections import RunSpec

__all__ = [
    "ModelType", "MODEL_TYPES", "register_model", "InitialSpec", "INITIAL_TYPES", "DiagnosticsSpec",
    "TimeSpec", "MAX_ICOSAHEDRAL_LEVEL", "MAX_POINTS", "MAX_COUNT",
]

#: Largest icosahedral level accepted (10 * 4^7 + 2 = 163842 cells).
MAX_ICOSAHEDRAL_LEVEL = 7
#: Bounds on the number of cells / quadrature points / neurons accepted from a case.
MAX_POINTS = 10_000_000
MAX_COUNT = 100_000


def _time_list(path: str, key: str, value: list, final: float) -> np.ndarray:
    if not value:
        raise _bad(path, key, value, "must be a positive count or a nonempty array of times")
    t = np.array([check_number(path, key, v, positive=True) for v in value])
    if np.any(np.diff(t) <= 0):
        raise _bad(path, key, value, "times must be strictly increasing")
    if t[-1] > final:
        raise _bad(path, key, value, f"times must be <= the final time {final:g}")
    return t



# ---------------------------------------------------------------------------------------------- models
@dataclass
class ModelType:
    """How to build one model type from its ``[model]`` section.

    ``load`` returns the model class (imported lazily); ``arrays`` maps keys holding arrays (inline or a
    file) to their dimension; ``prepare(table, arrays) -> table`` may rewrite the section first (e.g. split
    a data file into X and y)."""

    name: str
    load: Callable[[], Callable[..., Model]]
    arrays: dict[str, int] = field(default_factory=dict)
    extra_keys: dict[str, int] = field(default_factory=dict)
    prepare: Callable[[dict, dict], dict] | None = None


def _models_attr(name: str) -> Callable[[], Any]:
    def load():
        from .. import models
        return getattr(models, name)
    load.__qualname__ = f"load_{name}"
    return load


def _split_last_column(key: str, first: str, last: str, columns: str, min_columns: int,
                       what: str) -> Callable[[dict, dict], dict]:
    """A ``prepare`` that reads ``key = "file.csv"`` as two arrays: ``first``, every column but the last,
    and ``last``, the last column (``columns`` and ``what`` describe them in the error messages)."""

    def prepare(table: dict, arrays: dict) -> dict:
        table = dict(table)
        if key in arrays:
            if first in table or last in table:
                raise CaseError(f"[model] give either {key} ({columns}) or {first} and {last}, not both")
            D = arrays.pop(key)
            if D.shape[1] < min_columns:
                raise CaseError(f"[model] {key}: need at least {min_columns} columns ({what}), got shape {D.shape}")
            arrays[first], arrays[last] = np.ascontiguousarray(D[:, :-1]), np.ascontiguousarray(D[:, -1])
            del table[key]
            table[first], table[last] = arrays[first], arrays[last]
        return table

    prepare.__qualname__ = f"split_{key}"
    return prepare


#: ``data = "file.csv"`` (columns x_1..x_dx, y) -> X, y.
_split_data = _split_last_column("data", "X", "y", "columns x..., y", 2, "inputs and label")
#: ``spikes = "file.csv"`` (columns x_0..x_d, w: a unit vector and a weight per row) -> positions, weights.
_split_spikes = _split_last_column("spikes", "positions", "weights", "columns x_0..x_d, w", 3,
                                   "a unit vector of S^1 or S^2 and a weight")


MODEL_TYPES: dict[str, ModelType] = {
    "teacher_student": ModelType("teacher_student", _models_attr("TeacherStudent"), arrays={"teacher": 2}),
    "empirical_relu": ModelType("empirical_relu", _models_attr("EmpiricalReLU"), arrays={"X": 2, "y": 1},
                                extra_keys={"data": 2}, prepare=_split_data),
    "spike_deconvolution": ModelType("spike_deconvolution", _models_attr("SpikeDeconvolution"),
                                     arrays={"positions": 2, "weights": 1}, extra_keys={"spikes": 2},
                                     prepare=_split_spikes),
}


def register_model(name: str, load: Callable[[], Callable[..., Model]], arrays: Mapping[str, int] = {},
                   extra_keys: Mapping[str, int] = {}, prepare: Callable | None = None) -> None:
    """Add (or replace) a model type usable as ``[model] type = name``."""
    MODEL_TYPES[name] = ModelType(name, load, dict(arrays), dict(extra_keys), prepare)


# ---------------------------------------------------------------------------------------------- initial
@dataclass
class InitialSpec:
    """The initial measure nu_0: a density type and a total mass."""

    type: str
    mass: float

    def masses(self, points: np.ndarray, volumes: np.ndarray | None = None) -> np.ndarray:
        """Masses of nu_0 on cells / quadrature nodes with volumes (equal weights when None), (N,)."""
        w = INITIAL_TYPES[self.type](np.asarray(points, float))
        if volumes is not None:
            w = w * np.asarray(volumes, float)
        return self.mass * w / w.sum()

    def measure(self, points: np.ndarray, volumes: np.ndarray | None = None) -> Measure:
        return Measure(points, self.masses(points, volumes))


#: Initial densities (unnormalised, w.r.t. the uniform measure) by name.
INITIAL_TYPES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "uniform": lambda points: np.ones(points.shape[0]),
}


# ---------------------------------------------------------------------------------------------- diagnostics
#: Largest covering size accepted for the certificate (the Voronoi cells of S^2 take seconds per 10^5).
MAX_CERTIFICATE_POINTS = 2**22


@dataclass
class DiagnosticsSpec:
    """The ``[diagnostics]`` section: the optimality certificate recorded at snapshot times.

    ``certificate`` turns it on (default) or off; ``points`` is the covering size, ``method`` the
    lower-bound method and ``refine`` the rounds of local refinement of
    :func:`wgf.optimality_certificate`. ``unavailable`` is None, or why the case's model admits no
    certificate (then nothing is recorded)."""

    certificate: bool = True
    points: int = 4096
    method: str = "auto"
    refine: int = 0
    unavailable: str | None = None

    @property
    def enabled(self) -> bool:
        return self.certificate and self.unavailable is None


def _parse_diagnostics(table: Any, model: Model) -> DiagnosticsSpec:
    from ..analysis.certificate import CERTIFICATE_METHODS, certificate_unavailable

    p = "diagnostics"
    table = check_table(p, table)
    check_keys(p, table, ["certificate", "certificate_points", "certificate_method", "certificate_refine"])
    on = table.get("certificate", True)
    if not isinstance(on, bool):
        raise _bad(p, "certificate", on, f"expected a boolean (true or false), got {_typename(on)}")
    points = check_int(p, "certificate_points", table.get("certificate_points", 4096), minimum=2,
                       maximum=MAX_CERTIFICATE_POINTS)
    method = check_choice(p, "certificate_method", table.get("certificate_method", "auto"), CERTIFICATE_METHODS)
    refine = check_int(p, "certificate_refine", table.get("certificate_refine", 0), minimum=0, maximum=40)
    why = certificate_unavailable(model, method)
    if on and why is not None and method != "auto":
        raise _bad(p, "certificate_method", method, f"not available for this model: {why}")
    return DiagnosticsSpec(on, points, method, refine, why)


# ---------------------------------------------------------------------------------------------- time
@dataclass
class TimeSpec:
    """Output times of a case: every run stops exactly at ``stops`` (sorted, starting at 0).

    ``quantum`` is the time step of the case's network runs (None without them): every output time is
    then a whole multiple ``k * quantum`` of it (see :func:`parse_case`)."""

    final: float
    record_times: np.ndarray
    snapshot_times: np.ndarray
    checkpoint_times: np.ndarray
    checkpoint_wall: float
    quantum: float | None = None

    @property
    def stops(self) -> list[tuple[float, bool, bool, bool]]:
        """``(t, record, snapshot, checkpoint)`` for t = 0 and every output time; times closer than
        1e-12 T are merged (so that no step is a round-off sliver)."""
        events: list[tuple[float, int]] = [(0.0, 0), (0.0, 1)]
        events += [(float(t), 0) for t in self.record_times] + [(float(t), 1) for t in self.snapshot_times]
        events += [(float(t), 2) for t in self.checkpoint_times] + [(self.final, 0), (self.final, 1)]
        events.sort()
        out: list[list] = []
        tol = 1e-12 * self.final
        for t, kind in events:
            if not out or t - out[-1][0] > tol:
                out.append([t, False, False, False])
            elif t > out[-1][0]:
                out[-1][0] = t
            out[-1][1 + kind] = True
        out[-1][0] = self.final
        return [tuple(s) for s in out]  # type: ignore[misc]


#: Relative tolerance (in units of the quantum) within which a time counts as a whole number of steps.
QUANTUM_TOL = 1e-9


def _whole_steps(path: str, key: str, value: Any, t: np.ndarray, quantum: float, source: str) -> np.ndarray:
    """Times ``t`` given explicitly as whole multiples ``k * quantum`` (k >= 1), or a CaseError naming the
    first one that is not, with the nearest multiple."""
    k = np.rint(t / quantum)
    bad = (k < 1) | (np.abs(t - k * quantum) > QUANTUM_TOL * quantum)
    if np.any(bad):
        i = int(np.argmax(bad))
        near = max(1.0, float(k[i])) * quantum
        what = "the final time" if key == "final" else ("times" if isinstance(value, list) else "it")
        raise _bad(path, key, value, f"{what} must be whole multiples of the network step {quantum:g} "
                   f"({source}) so that every network run stops exactly there; {float(t[i]):.12g} is not "
                   f"(nearest: {near:.12g})")
    return k * quantum


def _parse_time(table: dict, quantum: float | None = None, source: str = "") -> TimeSpec:
    """Parse ``[time]``. With ``quantum`` (the network runs' step, ``source`` naming where it is set) every
    time lands on a whole step: the final time, explicit lists and ``checkpoint_interval`` must be whole
    multiples of it, and counted times are rounded to the nearest multiple (at least one step; repeated
    ones merged, so a count may give fewer times)."""
    p = "time"
    check_keys(p, table, ["final", "snapshots", "records", "spacing", "first", "checkpoint_interval",
                          "checkpoint_wall"], {"final": "the final time, a number > 0"})
    final = given_final = check_number(p, "final", table["final"], positive=True)
    if quantum is not None:
        final = float(_whole_steps(p, "final", table["final"], np.array([final]), quantum, source)[0])
    spacing = check_choice(p, "spacing", table.get("spacing", "log"), ["log", "linear"])
    if "first" in table and spacing != "log":
        raise _bad(p, "first", table["first"], "applies only to spacing = \"log\"")
    first = check_number(p, "first", table.get("first", final * 1e-3), positive=True)
    if first >= final and ("first" in table):
        raise _bad(p, "first", table["first"], f"must be < the final time {final:g}")

    def times(key: str, default: int) -> np.ndarray:
        v = table.get(key, default)
        if isinstance(v, list):
            t = _time_list(p, key, v, given_final)
            return t if quantum is None else _whole_steps(p, key, v, t, quantum, source)
        n = check_int(p, key, v, minimum=1, maximum=MAX_COUNT)
        if spacing == "log":
            t = np.geomspace(first, final, n) if n > 1 else np.array([final])
        else:
            t = np.linspace(final / n, final, n)
        if quantum is None:
            return t
        k = np.unique(np.maximum(np.rint(t / quantum), 1.0))
        return k * quantum

    records = times("records", 100)
    snaps = times("snapshots", 10)
    ckpt = np.empty(0)
    if "checkpoint_interval" in table:
        dt = check_number(p, "checkpoint_interval", table["checkpoint_interval"], positive=True)
        n = int(math.floor(final / dt))
        if n > MAX_COUNT:
            raise _bad(p, "checkpoint_interval", dt, f"gives more than {MAX_COUNT} checkpoints; use a larger one")
        if quantum is not None:
            dt = float(_whole_steps(p, "checkpoint_interval", table["checkpoint_interval"], np.array([dt]),
                                    quantum, source)[0])
            ckpt = (round(dt / quantum) * np.arange(1, n + 1)) * quantum
        else:
            ckpt = dt * np.arange(1, n + 1)
        ckpt = ckpt[ckpt < final * (1 - 1e-12)]
    wall = check_number(p, "checkpoint_wall", table.get("checkpoint_wall", 300.0), positive=True)
    return TimeSpec(final, records, snaps, ckpt, wall, quantum)


def _time_quantum(runs: list["RunSpec"]) -> tuple[float, str] | None:
    """The common time step of the runs that take whole steps (``RunSpec.time_step``), and where it is set:
    the largest step, which every other step must divide."""
    stepped = [r for r in runs if r.time_step is not None]
    if not stepped:
        return None
    big = max(stepped, key=lambda r: r.time_step)
    q = float(big.time_step)
    for r in stepped:
        ratio = q / r.time_step
        if abs(ratio - round(ratio)) > QUANTUM_TOL * ratio:
            raise CaseError(f"{_where(r.section, 'step_size')} = {_fmt(r.time_step)}: the network step sizes of a "
                            f"case must divide one another, so that output times land on whole steps of every "
                            f"run; [{big.section}] step_size = {_fmt(q)} is not a whole multiple of it")
    return q, f"[{big.section}] step_size"


def _parse_model(table: Any, base_dir: Path | None, embedded: Mapping[str, np.ndarray] | None,
                 data: dict[str, np.ndarray]) -> Model:
    p = "model"
    table = dict(check_table(p, table))
    if "type" not in table:
        close = difflib.get_close_matches("type", [str(k) for k in table], n=1, cutoff=0.6)
        if close:  # a misspelt 'type' is reported as such (the other keys depend on the type)
            raise CaseError(f"[model] unknown key '{close[0]}' (did you mean 'type'?)")
        raise CaseError(f"[model] missing key 'type' (one of {', '.join(map(repr, MODEL_TYPES))})")
    mtype = check_choice(p, "type", table.pop("type"), list(MODEL_TYPES))
    spec = MODEL_TYPES[mtype]
    try:
        cls = spec.load()
    except (ImportError, AttributeError):
        raise CaseError(f"[model] type = {_fmt(mtype)}: this model is not available in this installation "
                        "of wgf") from None
    arrays: dict[str, np.ndarray] = {}
    for key, ndim in {**spec.arrays, **spec.extra_keys}.items():
        if key in table:
            arr, from_file = load_array(p, key, table[key], ndim, base_dir, embedded)
            arrays[key] = arr
            if from_file:
                data[f"{p}.{key}"] = arr
    raw_table = dict(table)
    table = {k: arrays.get(k, v) for k, v in table.items()}
    if spec.prepare is not None:
        table = spec.prepare(table, arrays)
    own = set(spec.extra_keys)
    kwargs = solver_kwargs(p, {k: v for k, v in table.items()}, cls, own=own)
    try:
        model = cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise constructor_error(p, raw_table, exc) from None
    if not isinstance(getattr(model, "dim", None), int) or model.dim < 1:  # pragma: no cover - model bug
        raise CaseError(f"[model] type = {_fmt(mtype)} built a model without a valid dim")
    return model


def _parse_initial(table: Any) -> InitialSpec:
    p = "initial"
    table = check_table(p, table)
    check_keys(p, table, ["type", "mass"])
    t = check_choice(p, "type", table.get("type", "uniform"), list(INITIAL_TYPES))
    mass = check_number(p, "mass", table.get("mass", 1.0), positive=True)
    return InitialSpec(t, mass)


def _parse_flow(table: Any) -> tuple[float, float]:
    p = "flow"
    table = check_table(p, table)
    check_keys(p, table, ["alpha", "beta"])
    alpha = check_number(p, "alpha", table.get("alpha", 4.0), nonnegative=True)
    beta = check_number(p, "beta", table.get("beta", 1.0), nonnegative=True)
    if alpha == 0 and beta == 0:
        raise CaseError("[flow] alpha = 0 and beta = 0: the flow would not move; at least one must be > 0")
    return alpha, beta


