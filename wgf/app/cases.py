"""Case files: one TOML file describes a problem, its initial measure and the discretisations to run.

A case is parsed and validated completely before anything is written: every mistake raises a
:class:`CaseError` whose one-line message names the TOML key, the value and what is allowed. The schema
(every section and key; see also ``solvers/*.toml``)::

    title = "..."                        # optional
    description = "..."                  # optional

    [model]                              # required: the objective F
    type = "teacher_student"             # teacher_student | empirical_relu | spike_deconvolution
    teacher = "../data/teacher_fig2.csv" # array keys: an inline array or a CSV / .npy path relative to
    inputs = "gaussian"                  #   the case file (loaded, then embedded in the output file);
    weight_decay = 0.0                   #   other keys are the model constructor's keyword arguments
                                         # (empirical_relu: X and y, or data = "file.csv" with columns
                                         #  x_1..x_dx, y; spike_deconvolution: positions and weights, or
                                         #  spikes = "file.csv" with columns x_0..x_d, w, and degree,
                                         #  weight_decay, normalization, noise, rng)
    # data = "file.csv"                  # empirical_relu: columns x_1..x_dx, y (instead of X and y)
    # spikes = "file.csv"                # spike_deconvolution: columns x_0..x_d, w (instead of positions
                                         #   and weights)

    [initial]                            # optional (default: uniform, mass 1)
    type = "uniform"                     # uniform on the sphere
    mass = 1.0                           # total mass nu_0(S^d) > 0

    [flow]                               # optional: d/dt nu = -alpha J nu + beta div(nu grad J)
    alpha = 4.0                          # the reaction's coefficient, >= 0 (4: the network's flow)
    beta = 1.0                           # the transport's coefficient, >= 0 (not both 0)

    [time]                               # required
    final = 10.0                         # final time T > 0
    snapshots = 10                       # a count, or a list of times in (0, T]: the measure is stored
    records = 100                        # a count, or a list of times: F, mass, Q... are recorded
    spacing = "log"                      # log | linear spacing of counted times
    first = 0.01                         # first counted time (log spacing; default T / 1000)
    checkpoint_interval = 1.0            # optional: checkpoint every this much simulated time
    checkpoint_wall = 300.0              # checkpoint at least every this many seconds (default 300)

    [eulerian]                           # optional, or [[eulerian]] for several runs (each may set `name`)
    level = 3                            # S^2: icosahedral level (0..7), lloyd = 0 Lloyd iterations
    # n = 256                            # S^1: number of cells
    # lloyd = 0                          # S^2: Lloyd iterations of the icosahedral grid (0..1000)
    # name = "coarse"                    # the run's name (default: eulerian, or eulerian_<i> for the i-th
                                         #   table of [[eulerian]])
    scheme = "upwind"                    # the other keys are EulerianSolver's keyword arguments
    stepper = "ssprk2"
    # dt = 0.01                          # a fixed step (default: adaptive). Where it exceeds the positivity
                                         # (CFL) or energy-stability bound it is reduced to the bound, and
                                         # the run prints one line: warning: run 'eulerian': the fixed
                                         # step dt = ... exceeds the positivity (CFL) bound (...) at t = ...

    [lagrangian]                         # optional (or [[lagrangian]])
    quadrature = "grid"                  # grid (level / n as above) | quasi_uniform (n) | random (n, seed)
    level = 2                            # quadrature = "grid" on S^2: the grid's icosahedral level (0..7)
    # lloyd = 0                          # quadrature = "grid" on S^2: Lloyd iterations, as in [eulerian]
    # n = 1024                           # quasi_uniform, random: the number of particles (grid on S^1: cells)
    # seed = 0                           # random: the seed of the uniform sample
    # name = "particles"                 # the run's name, as in [eulerian]
    stepper = "rk4"                      # the other keys are LagrangianSolver's keyword arguments
    dt = 0.05                            # fixed steps (rk2, rk4): a step that raises F beyond round-off
    # check_energy = true                #   stops the run (numerical blow-up: the energy increased...)

    [network]                            # optional (or [[network]]): one run per (width, seed)
    widths = [10, 100]                   # the network widths m (an integer or distinct integers >= 1)
    seeds = [0, 1]                       # the seeds, one run per (width, seed) (default [0])
    # name = "net"                       # prefix of the run names (default network): net_m0010_s0, ...
    init = "uniform"                     # kind of wgf.discretisations.network.initial_weights
    # radius = 1.0                       # |w_j| at initialisation (default sqrt([initial] mass))
    step_size = 0.01                     # the other keys are NetworkTrainer's keyword arguments
    # check_energy = true                # method = "full", constant steps: a step that raises F stops
                                         # the run (false: no check; SGD is never checked)

    [compare]                            # optional
    reference = "eulerian"               # the run other runs are compared with (default: first
                                         # eulerian run, else first lagrangian run)

    [diagnostics]                        # optional
    certificate = true                   # record the optimality certificate at every snapshot (datasets
                                         # certificate_gap, min_J_lower, min_J_grid, integral_J), where
                                         # the model admits one (wgf.analysis.certificate); false: never
    certificate_points = 4096            # covering size (of S^d, or S^(d-1) for "homogeneous")
    certificate_method = "auto"          # auto | lipschitz | curvature | homogeneous
    certificate_refine = 0               # rounds of local refinement near the minima of J (0..40)

Solver sections pass their remaining keys to the solver's constructor: they are checked against its
keyword parameters (``inspect.signature``; an unknown key gets a difflib suggestion) and a ``ValueError``
of the constructor becomes a :class:`CaseError` naming the section and key. Times, counts and sizes are
checked here; before an output file is created every run is constructed once
(:meth:`Case.check_buildable`), so a constructor's complaint never leaves a file behind. Runs are named
``eulerian``, ``lagrangian``, ``network_m0010_s0`` (``<section>_<i>`` for array-of-tables sections without
a ``name``). A network run's seed gives two independent seeds (``numpy.random.SeedSequence(seed).spawn(2)``)
for ``initial_weights`` and for the trainer (SGD sampling).

Whole steps. A network run advances in whole steps of its ``step_size`` and cannot stop in between, so in
a case with network sections every output time is a whole multiple of the network step (of the largest
one when sections differ; the step sizes must then divide one another): ``final``, explicit time lists
and ``checkpoint_interval`` must be whole multiples (a :class:`CaseError` names the nearest one), and
counted times (``snapshots = 10``) are rounded to the nearest multiple, at least one step, merged where
they coincide (a count may then give fewer times). What every run records as time t is its state at t.

Extension: :func:`register_model` and :func:`register_solver` add model types and solver sections;
modules listed (comma-separated) in the environment variable ``WGF_PLUGINS`` are imported by the command
line before it reads a case (:func:`load_plugins`), so that a plugin's types also work for ``wgf run``,
``--resume`` and ``report``. wgf's own test suite uses this to run a small exact test solver through the
command line.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.resources
import inspect
import math
import os
import re
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ..geometry.measure import Measure
from ..models.base import Model
from ..discretisations.solver import Solver

__all__ = [
    "CaseError", "Case", "RunSpec", "BuiltRun", "TimeSpec", "InitialSpec", "ModelType", "SolverSection",
    "DiagnosticsSpec",
    "MODEL_TYPES", "SOLVER_SECTIONS", "INITIAL_TYPES", "register_model", "register_solver",
    "load_case", "parse_case", "load_plugins", "solver_kwargs", "bundled_cases_dir", "bundled_cases",
    "PLUGINS_ENV", "check_keys", "check_table", "check_number", "check_int", "check_choice", "check_string",
    "check_int_list", "load_array", "constructor_error", "run_name", "network_seeds",
]

#: Environment variable naming plugin modules (comma-separated) imported by the command line.
PLUGINS_ENV = "WGF_PLUGINS"

#: Largest icosahedral level accepted (10 * 4^7 + 2 = 163842 cells).
MAX_ICOSAHEDRAL_LEVEL = 7
#: Bounds on the number of cells / quadrature points / neurons accepted from a case.
MAX_POINTS = 10_000_000
MAX_COUNT = 100_000


class CaseError(ValueError):
    """A case that cannot be run; the message names the TOML key, the value and what is allowed."""


# ---------------------------------------------------------------------------------------------- helpers
def _fmt(value: Any, limit: int = 60) -> str:
    """A value as it would look in TOML, shortened."""
    if isinstance(value, bool):
        s = "true" if value else "false"
    elif isinstance(value, str):
        s = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif isinstance(value, float):
        s = "nan" if math.isnan(value) else repr(value)
    elif isinstance(value, dict):
        s = "{" + ", ".join(f"{k} = {_fmt(v, limit)}" for k, v in value.items()) + "}"
    elif isinstance(value, list):
        s = "[" + ", ".join(_fmt(v, limit) for v in value) + "]"
    else:
        s = repr(value)
    s = s.replace("\n", "\\n")
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _typename(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _where(path: str, key: str | None = None) -> str:
    if not path:
        return key or "the case"
    return f"[{path}]" if key is None else f"[{path}] {key}"


def _bad(path: str, key: str, value: Any, allowed: str) -> CaseError:
    return CaseError(f"{_where(path, key)} = {_fmt(value)}: {allowed}")


def _suggest(key: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_keys(path: str, table: Mapping[str, Any], allowed: Iterable[str], required: Mapping[str, str] = {},
               elsewhere: Mapping[str, str] = {}) -> None:
    """Reject unknown keys (with a suggestion) and missing required ones.

    ``required`` maps a required key to a short description; ``elsewhere`` maps keys that belong to
    another section to where they should go."""
    allowed = sorted(set(allowed) | set(required))
    for key in table:
        if key in elsewhere:
            raise CaseError(f"{_where(path)} key '{key}' does not belong here: {elsewhere[key]}")
        if key not in allowed:
            raise CaseError(
                f"{_where(path)} unknown key '{key}'{_suggest(key, allowed)}; allowed keys: {', '.join(allowed)}"
            )
    for key, what in required.items():
        if key not in table:
            raise CaseError(f"{_where(path)} missing key '{key}' ({what})")


def check_table(path: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise CaseError(f"[{path}] must be a table ([{path}] with keys), got {_typename(value)} {_fmt(value)}")
    return value


def check_number(path: str, key: str, value: Any, *, positive: bool = False, nonnegative: bool = False,
                 maximum: float | None = None) -> float:
    """A finite real number (TOML integer or float), optionally > 0 or >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(path, key, value, f"expected a number, got {_typename(value)}")
    v = float(value)
    if not math.isfinite(v):
        raise _bad(path, key, value, "must be a finite number")
    if positive and v <= 0:
        raise _bad(path, key, value, "must be > 0")
    if nonnegative and v < 0:
        raise _bad(path, key, value, "must be >= 0")
    if maximum is not None and v > maximum:
        raise _bad(path, key, value, f"must be <= {maximum:g}")
    return v


def check_int(path: str, key: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(path, key, value, f"expected an integer, got {_typename(value)}")
    if minimum is not None and value < minimum:
        raise _bad(path, key, value, f"must be an integer >= {minimum}")
    if maximum is not None and value > maximum:
        raise _bad(path, key, value, f"must be an integer <= {maximum}")
    return value


def check_choice(path: str, key: str, value: Any, choices: Iterable[str]) -> str:
    choices = list(choices)
    if not isinstance(value, str):
        raise _bad(path, key, value, f"expected a string, one of {', '.join(map(repr, choices))}")
    if value not in choices:
        raise _bad(path, key, value, f"must be one of {', '.join(map(repr, choices))}{_suggest(value, choices)}")
    return value


def check_string(path: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad(path, key, value, f"expected a string, got {_typename(value)}")
    return value


def check_int_list(path: str, key: str, value: Any, *, minimum: int, maximum: int | None = None) -> list[int]:
    """An integer or a nonempty array of distinct integers."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _bad(path, key, value, "must be a nonempty array of integers")
    out = []
    for v in items:
        try:
            out.append(check_int(path, key, v, minimum=minimum, maximum=maximum))
        except CaseError as exc:
            raise _bad(path, key, value, "each " + str(exc).split(": ", 1)[1]) from None
    if len(set(out)) != len(out):
        raise _bad(path, key, value, "must not repeat a value")
    return out


def _time_list(path: str, key: str, value: list, final: float) -> np.ndarray:
    if not value:
        raise _bad(path, key, value, "must be a positive count or a nonempty array of times")
    t = np.array([check_number(path, key, v, positive=True) for v in value])
    if np.any(np.diff(t) <= 0):
        raise _bad(path, key, value, "times must be strictly increasing")
    if t[-1] > final:
        raise _bad(path, key, value, f"times must be <= the final time {final:g}")
    return t


# ---------------------------------------------------------------------------------------------- arrays
def _all_numbers(value: Any) -> bool:
    """Whether a (nested) TOML array holds numbers only (no strings, booleans or tables)."""
    if isinstance(value, list):
        return all(_all_numbers(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_array(path: str, key: str, value: Any, ndim: int, base_dir: Path | None,
               embedded: Mapping[str, np.ndarray] | None) -> tuple[np.ndarray, bool]:
    """An array given inline (a TOML array) or as a file path (CSV, or .npy) relative to ``base_dir``.

    Returns ``(array, from_file)``. On resume (``embedded`` given) a file's content comes from the output
    file, not from disk. The array must be float, finite, of dimension ``ndim`` and nonempty."""
    keypath = f"{path}.{key}"
    from_file = isinstance(value, str)
    if from_file:
        if embedded is not None and keypath in embedded:
            arr = np.asarray(embedded[keypath], dtype=np.float64)
        elif base_dir is None:
            raise CaseError(f"{_where(path, key)} = {_fmt(value)}: the file's content is not embedded in this "
                            "output file")
        else:
            file = (base_dir / value) if not os.path.isabs(value) else Path(value)
            if file.is_dir():
                raise _bad(path, key, value, f"{file.name} is a folder, not a data file")
            if not file.is_file():
                raise _bad(path, key, value, f"no such file (looked for {file.name} relative to the case file)")
            try:
                with warnings.catch_warnings():  # an empty file: reported below, as an empty array
                    warnings.simplefilter("ignore")
                    if file.suffix == ".npy":
                        raw = np.load(file, allow_pickle=False)
                        if not isinstance(raw, np.ndarray) or raw.dtype.kind not in "iuf":
                            raise ValueError(f"expected real numbers, got an array of dtype "
                                             f"{getattr(raw, 'dtype', type(raw).__name__)}")
                        arr = np.asarray(raw, dtype=np.float64)
                    else:
                        arr = np.loadtxt(file, delimiter=",", comments="#", dtype=np.float64, ndmin=ndim)
            except (ValueError, OSError, TypeError, EOFError) as exc:
                msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise _bad(path, key, value, f"cannot read the file as a numeric array: {msg}") from None
    elif isinstance(value, list):
        if not _all_numbers(value):
            raise _bad(path, key, value, f"expected a numeric array of dimension {ndim} (numbers only)")
        try:
            arr = np.array(value, dtype=np.float64)
        except (ValueError, TypeError):
            raise _bad(path, key, value, f"expected a rectangular numeric array of dimension {ndim}") from None
        if ndim == 2 and arr.ndim == 1 and arr.size:
            arr = arr[None, :]  # a single row, e.g. one teacher neuron
    else:
        raise _bad(path, key, value, f"expected an inline array or a file path, got {_typename(value)}")
    if arr.ndim != ndim:
        raise _bad(path, key, value, f"expected an array of dimension {ndim}, got shape {arr.shape}")
    if arr.size == 0:
        raise _bad(path, key, value, "the array is empty")
    if not np.all(np.isfinite(arr)):
        raise _bad(path, key, value, "the array contains NaN or inf")
    return arr, from_file


# ---------------------------------------------------------------------------------------------- kwargs
_SIMPLE_TYPES = {"float": (int, float), "int": (int,), "bool": (bool,), "str": (str,)}
_TYPE_WORDS = {"float": "a number", "int": "an integer", "bool": "a boolean", "str": "a string"}


def _expected_types(param: inspect.Parameter) -> list[str] | None:
    """Names (float / int / bool / str) of the types a TOML value may take for this parameter, from its
    annotation (or its default's type); None when the annotation is anything else (no check)."""
    ann = param.annotation
    if ann is inspect.Parameter.empty:
        d = param.default
        for name, t in (("bool", bool), ("int", int), ("float", float), ("str", str)):
            if isinstance(d, t):
                return [name]
        return None
    text = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))
    text = text.replace(" ", "")
    m = re.fullmatch(r"Optional\[(.*)\]", text)
    if m:
        text = m.group(1) + "|None"
    names = [n for n in text.split("|") if n not in ("None", "NoneType")]
    if not names or any(n not in _SIMPLE_TYPES for n in names):
        return None
    return names


def _type_ok(value: Any, names: list[str]) -> bool:
    types: tuple[type, ...] = sum((_SIMPLE_TYPES[n] for n in names), ())
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, types)


def solver_kwargs(path: str, table: Mapping[str, Any], target: Callable, *, own: Iterable[str] = (),
                  supplied: Mapping[str, str] = {}) -> dict[str, Any]:
    """Keyword arguments for ``target`` (a class or function) from a case section.

    Keys in ``own`` are the section's own (handled by the caller and not passed on); keys in ``supplied``
    (parameter -> where the case sets it) are filled by the caller and may not appear in the section.
    Every other key must be a keyword parameter of ``target``; values are checked against simple
    annotations (float / int / bool / str); required parameters must be present."""
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return {k: v for k, v in table.items() if k not in own}
    params = {
        name: p for name, p in sig.parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and name not in supplied and name != "self"
    }
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    elsewhere = {k: f"it is set by {v}" for k, v in supplied.items()}
    allowed = set(params) | set(own)
    required = {name: f"required by {getattr(target, '__name__', 'the constructor')}"
                for name, p in params.items() if p.default is inspect.Parameter.empty}
    if not var_kw:
        check_keys(path, table, allowed, required, elsewhere)
    else:
        check_keys(path, table, set(table) - set(supplied), required, elsewhere)
    kwargs = {}
    for key, value in table.items():
        if key in own:
            continue
        p = params.get(key)
        names = _expected_types(p) if p is not None else None
        if names is not None and not _type_ok(value, names):
            if isinstance(value, float) and not math.isfinite(value):
                raise _bad(path, key, value, "must be a finite number")
            want = " or ".join(_TYPE_WORDS[n] for n in names)
            raise _bad(path, key, value, f"expected {want}, got {_typename(value)}")
        kwargs[key] = value
    return kwargs


def constructor_error(path: str, table: Mapping[str, Any], exc: Exception,
                      aliases: Mapping[str, str] = {}) -> CaseError:
    """A constructor's ValueError/TypeError as a CaseError naming the section and, when the message names
    one of the section's keys (or a parameter name that ``aliases`` maps to a key), that key and its
    value."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    best = None
    names = {**{k: k for k in table}, **{a: k for a, k in aliases.items() if k in table}}
    for word, key in names.items():
        m = re.search(rf"(?<![\w.]){re.escape(word)}(?!\w)", msg)
        if m and (best is None or m.start() < best[1]):
            best = (key, m.start())
    if best is not None:
        return CaseError(f"{_where(path, best[0])} = {_fmt(table[best[0]])}: {msg}")
    return CaseError(f"{_where(path)}: {msg}")


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


# ---------------------------------------------------------------------------------------------- runs
@dataclass
class BuiltRun:
    """A constructed solver and the static arrays stored once in its group (e.g. ``grid/volumes``)."""

    solver: Solver
    static: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class RunSpec:
    """One solver run of a case: its group name, solver kind, parameters (stored as attributes) and a
    builder. ``build()`` converts constructor errors into :class:`CaseError`. ``time_step`` is set for runs
    that can only stop on whole steps (networks)."""

    name: str
    kind: str
    section: str
    params: dict[str, Any]
    builder: Callable[[], BuiltRun]
    table: dict = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    #: The run advances in whole steps of this size (networks): output times are multiples of it.
    time_step: float | None = None

    def build(self) -> BuiltRun:
        try:
            built = self.builder()
        except CaseError:
            raise
        except (ValueError, TypeError) as exc:
            raise constructor_error(self.section, self.table, exc, self.aliases) from None
        if not isinstance(built, BuiltRun):
            built = BuiltRun(built)
        return built


@dataclass
class SolverSection:
    """A solver section: ``expand(case, path, table) -> [RunSpec]`` validates the section and returns its
    runs (``path`` is the section's name for messages, e.g. ``network`` or ``eulerian[2]``)."""

    name: str
    expand: Callable[["Case", str, dict], list[RunSpec]]


SOLVER_SECTIONS: dict[str, SolverSection] = {}


def register_solver(section: str, expand: Callable[["Case", str, dict], list[RunSpec]]) -> None:
    """Add (or replace) a solver section ``[section]`` (or ``[[section]]``) of case files."""
    SOLVER_SECTIONS[section] = SolverSection(section, expand)


def _lazy_class(path: str, module: str, name: str, what: str):
    try:
        mod = importlib.import_module(module)
        return getattr(mod, name)
    except (ImportError, AttributeError):
        raise CaseError(f"[{path}] the {what} is not available in this installation of wgf "
                        f"({module}.{name} is missing)") from None


def run_name(path: str, table: dict, default: str) -> str:
    if "name" not in table:
        return default
    name = check_string(path, "name", table["name"])
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-]{0,63}", name) or name in ("data",):
        raise _bad(path, "name", name, "must start with a letter and contain only letters, digits, _ and - "
                   "(at most 64 characters), and not be 'data'")
    return name


def _grid(case: "Case", path: str, table: dict):
    """Check the grid keys (n on S^1; level, lloyd on S^2) and return a grid factory."""
    d = case.dim
    if d == 1:
        for k in ("level", "lloyd"):
            if k in table:
                raise _bad(path, k, table[k], "applies to grids on S^2; on S^1 give n (the number of cells)")
        if "n" not in table:
            raise CaseError(f"{_where(path)} missing key 'n' (number of cells of the grid on S^1, >= 3)")
        n = check_int(path, "n", table["n"], minimum=3, maximum=MAX_POINTS)

        def make():
            from ..geometry import grid
            return grid.circle_grid(n)
        return make, {"n": n}
    if d == 2:
        if "n" in table:
            raise _bad(path, "n", table["n"], "applies to grids on S^1; on S^2 give level (icosahedral level)")
        if "level" not in table:
            raise CaseError(f"{_where(path)} missing key 'level' (icosahedral grid level on S^2, "
                            f"0..{MAX_ICOSAHEDRAL_LEVEL})")
        level = check_int(path, "level", table["level"], minimum=0, maximum=MAX_ICOSAHEDRAL_LEVEL)
        lloyd = check_int(path, "lloyd", table.get("lloyd", 0), minimum=0, maximum=1000)

        def make():
            from ..geometry import grid
            return grid.icosahedral_grid(level, lloyd=lloyd)
        return make, {"level": level, "lloyd": lloyd}
    raise CaseError(f"{_where(path)} grids exist only on S^1 and S^2, but the model lives on S^{d}"
                    + (" (use [lagrangian] quadrature = \"quasi_uniform\" or \"random\")" if path.startswith(
                        "lagrangian") else ""))


def _static_grid(g) -> dict[str, np.ndarray]:
    return {"grid/points": np.asarray(g.points, float), "grid/volumes": np.asarray(g.volumes, float)}


def _expand_eulerian(case: "Case", path: str, table: dict) -> list[RunSpec]:
    cls = _lazy_class(path, "wgf.discretisations.eulerian", "EulerianSolver", "Eulerian solver")
    own = {"name", "n", "level", "lloyd"}
    kwargs = solver_kwargs(path, table, cls, own=own, supplied={
        "model": "[model]", "grid": "n / level", "masses": "[initial]",
        "alpha": "[flow]", "beta": "[flow]"})
    make_grid, gparams = _grid(case, path, table)
    name = run_name(path, table, path.replace("[", "_").rstrip("]"))

    def build() -> BuiltRun:
        g = make_grid()
        masses = case.initial.masses(g.points, g.volumes)
        s = cls(case.model, g, masses, alpha=case.alpha, beta=case.beta, **kwargs)
        return BuiltRun(s, _static_grid(g))
    return [RunSpec(name, "eulerian", path, {**gparams, **kwargs}, build, table)]


QUADRATURES = ("grid", "quasi_uniform", "random")


def _expand_lagrangian(case: "Case", path: str, table: dict) -> list[RunSpec]:
    cls = _lazy_class(path, "wgf.discretisations.lagrangian", "LagrangianSolver", "Lagrangian solver")
    own = {"name", "quadrature", "n", "level", "lloyd", "seed"}
    kwargs = solver_kwargs(path, table, cls, own=own, supplied={
        "model": "[model]", "measure": "[initial] and quadrature", "alpha": "[flow]", "beta": "[flow]"})
    quad = check_choice(path, "quadrature", table.get("quadrature", "grid"), QUADRATURES)
    name = run_name(path, table, path.replace("[", "_").rstrip("]"))
    params: dict[str, Any] = {"quadrature": quad}
    if quad == "grid":
        if "seed" in table:
            raise _bad(path, "seed", table["seed"], "applies only to quadrature = \"random\"")
        make_grid, gparams = _grid(case, path, table)
        params.update(gparams)

        def nodes():
            g = make_grid()
            return g.points, g.volumes, _static_grid(g)
    else:
        for k in ("level", "lloyd"):
            if k in table:
                raise _bad(path, k, table[k], "applies only to quadrature = \"grid\"")
        if quad != "random" and "seed" in table:
            raise _bad(path, "seed", table["seed"], "applies only to quadrature = \"random\"")
        if "n" not in table:
            raise CaseError(f"{_where(path)} missing key 'n' (number of particles, >= 1)")
        n = check_int(path, "n", table["n"], minimum=1, maximum=MAX_POINTS)
        seed = check_int(path, "seed", table.get("seed", 0), minimum=0)
        params.update(n=n, **({"seed": seed} if quad == "random" else {}))
        d = case.dim

        def nodes():
            from ..geometry import sphere
            pts = sphere.sample_uniform(n, d, seed) if quad == "random" else sphere.quasi_uniform_points(n, d)
            return pts, None, {}

    def build() -> BuiltRun:
        pts, vol, static = nodes()
        s = cls(case.model, case.initial.measure(pts, vol), alpha=case.alpha, beta=case.beta, **kwargs)
        return BuiltRun(s, static)
    return [RunSpec(name, "lagrangian", path, {**params, **kwargs}, build, table)]


def network_seeds(seed: int) -> tuple[int, int]:
    """Independent integer seeds (initialisation, training) derived from a run's seed (SeedSequence)."""
    a, b = np.random.SeedSequence(seed).spawn(2)
    return int(a.generate_state(1, np.uint64)[0]), int(b.generate_state(1, np.uint64)[0])


def _expand_network(case: "Case", path: str, table: dict) -> list[RunSpec]:
    cls = _lazy_class(path, "wgf.discretisations.network", "NetworkTrainer", "network trainer")
    init_fn = _lazy_class(path, "wgf.discretisations.network", "initial_weights", "network initialisation")
    own = {"name", "widths", "seeds", "init", "radius"}
    kwargs = solver_kwargs(path, table, cls, own=own, supplied={
        "model": "[model]", "weights": "widths, init and radius", "seed": "seeds"})
    if "widths" not in table:
        raise CaseError(f"{_where(path)} missing key 'widths' (network widths m, e.g. [10, 100])")
    widths = check_int_list(path, "widths", table["widths"], minimum=1, maximum=MAX_POINTS)
    seeds = check_int_list(path, "seeds", table.get("seeds", [0]), minimum=0)
    init = check_string(path, "init", table.get("init", "uniform"))
    if case.initial.type != "uniform":
        raise CaseError(f"{_where(path)} networks are initialised i.i.d. from a uniform nu_0 only, but "
                        f"[initial] type = {_fmt(case.initial.type)}")
    radius = (check_number(path, "radius", table["radius"], positive=True) if "radius" in table
              else math.sqrt(case.initial.mass))
    step = kwargs.get("step_size")
    step = float(step) if isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0 else None
    prefix = run_name(path, table, "network" if path == "network" else path.replace("[", "_").rstrip("]"))
    wd = max(4, len(str(max(widths))))
    takes_seed = "seed" in inspect.signature(cls).parameters
    runs = []
    for m in widths:
        for seed in seeds:
            def build(m=m, seed=seed) -> BuiltRun:
                s_init, s_train = network_seeds(seed)
                w = init_fn(m, case.dim, kind=init, radius=radius, seed=s_init)
                extra = {"seed": s_train} if takes_seed else {}
                return BuiltRun(cls(case.model, w, **extra, **kwargs))
            runs.append(RunSpec(f"{prefix}_m{m:0{wd}d}_s{seed}", "network", path,
                                {"m": m, "seed": seed, "init": init, "radius": radius, **kwargs}, build, table,
                                aliases={"kind": "init"}, time_step=step))
    return runs


register_solver("eulerian", _expand_eulerian)
register_solver("lagrangian", _expand_lagrangian)
register_solver("network", _expand_network)


# ---------------------------------------------------------------------------------------------- case
TOP_KEYS = ("title", "description", "model", "initial", "flow", "time", "compare", "diagnostics")


@dataclass
class Case:
    """A validated case.

    Attributes
    ----------
    text : str
        The TOML text (stored verbatim in the output file).
    name : str
        Short name (the case file's stem).
    title, description : str
    model : Model
    dim : int
        d, the model's sphere S^d.
    initial : InitialSpec
    alpha, beta : float
    time : TimeSpec
    runs : list of RunSpec
    reference : str or None
        Name of the reference run for distances.
    data : dict
        ``"section.key" -> array`` loaded from files (embedded in the output file).
    diagnostics : DiagnosticsSpec
        The ``[diagnostics]`` section.
    """

    text: str
    name: str
    title: str
    description: str
    model: Model
    dim: int
    initial: InitialSpec
    alpha: float
    beta: float
    time: TimeSpec
    runs: list[RunSpec]
    reference: str | None
    data: dict[str, np.ndarray]
    raw: dict
    diagnostics: DiagnosticsSpec = field(default_factory=DiagnosticsSpec)

    def run(self, name: str) -> RunSpec:
        for r in self.runs:
            if r.name == name:
                return r
        raise KeyError(name)

    def check_buildable(self) -> None:
        """Construct every run once (and discard it), so that constructor errors appear before any output
        is written."""
        for r in self.runs:
            r.build()


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


def parse_case(text: str, *, name: str = "case", base_dir: Path | str | None = None,
               embedded: Mapping[str, np.ndarray] | None = None) -> Case:
    """Parse and validate a case from its TOML text.

    Parameters
    ----------
    text : str
        TOML text.
    name : str
        Short name of the case (used for default output names).
    base_dir : path, optional
        Directory that relative data paths are resolved against (the case file's directory).
    embedded : mapping, optional
        ``"section.key" -> array`` contents of data files, read from an output file (resume, report);
        used instead of the files on disk.

    Raises
    ------
    CaseError
        With a one-line message naming the key, the value and what is allowed.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(f"not valid TOML: {exc}") from None
    base = Path(base_dir) if base_dir is not None else None
    allowed = set(TOP_KEYS) | set(SOLVER_SECTIONS)
    for key in raw:
        if key not in allowed:
            raise CaseError(f"unknown top-level key or section '{key}'{_suggest(key, allowed)}; allowed: "
                            f"{', '.join(sorted(allowed))}")
    title = check_string("", "title", raw.get("title", name)).strip()
    description = check_string("", "description", raw.get("description", "")).strip()
    if "model" not in raw:
        raise CaseError("missing section [model] (the objective: type = \"teacher_student\", ...)")
    if "time" not in raw:
        raise CaseError("missing section [time] (at least: final = <final time>)")
    data: dict[str, np.ndarray] = {}
    model = _parse_model(raw["model"], base, embedded, data)
    initial = _parse_initial(raw.get("initial", {}))
    alpha, beta = _parse_flow(raw.get("flow", {}))
    tspec = _parse_time(check_table("time", raw["time"]))
    diagnostics = _parse_diagnostics(raw.get("diagnostics", {}), model)
    case = Case(text=text, name=name, title=title, description=description, model=model, dim=int(model.dim),
                initial=initial, alpha=alpha, beta=beta, time=tspec, runs=[], reference=None, data=data, raw=raw,
                diagnostics=diagnostics)
    for section, spec in SOLVER_SECTIONS.items():
        if section not in raw:
            continue
        value = raw[section]
        if isinstance(value, list):
            if not value:
                raise CaseError(f"[[{section}]] is an empty array of tables")
            for i, t in enumerate(value):
                path = f"{section}[{i + 1}]" if len(value) > 1 else section
                case.runs += spec.expand(case, path, dict(check_table(path, t)))
        else:
            case.runs += spec.expand(case, section, dict(check_table(section, value)))
    if not case.runs:
        raise CaseError("no solver sections: add at least one of " +
                        ", ".join(f"[{s}]" for s in SOLVER_SECTIONS))
    quantum = _time_quantum(case.runs)
    if quantum is not None:
        case.time = _parse_time(check_table("time", raw["time"]), *quantum)
    names = [r.name for r in case.runs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise CaseError(f"two runs are both named '{dup[0]}': give the sections distinct name keys")
    compare = check_table("compare", raw.get("compare", {}))
    check_keys("compare", compare, ["reference"])
    if "reference" in compare:
        ref = check_string("compare", "reference", compare["reference"])
        if ref not in names:
            raise _bad("compare", "reference", ref, f"no run has this name{_suggest(ref, names)}; runs: "
                       + ", ".join(names))
        case.reference = ref
    else:
        for kind in ("eulerian", "lagrangian"):
            cand = [r.name for r in case.runs if r.kind == kind]
            if cand:
                case.reference = cand[0]
                break
    return case


def load_case(path: str | os.PathLike) -> Case:
    """Read and validate a case file (see :func:`parse_case`)."""
    p = Path(path)
    if not p.exists():
        raise CaseError(f"no such case file: {p}")
    if not p.is_file():
        raise CaseError(f"not a file: {p}")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise CaseError(f"{p}: not a UTF-8 text file") from None
    except OSError as exc:
        raise CaseError(f"cannot read {p}: {exc.strerror or exc}") from None
    return parse_case(text, name=p.stem, base_dir=p.resolve().parent)


# ---------------------------------------------------------------------------------------------- plugins
def load_plugins(spec: str | None = None) -> list[str]:
    """Import the modules named in ``spec`` (default: the ``WGF_PLUGINS`` environment variable,
    comma-separated); they register model types and solver sections. Returns the names imported."""
    spec = os.environ.get(PLUGINS_ENV, "") if spec is None else spec
    names = [s.strip() for s in spec.split(",") if s.strip()]
    for n in names:
        try:
            importlib.import_module(n)
        except ImportError as exc:
            raise CaseError(f"cannot import the plugin module '{n}' named in {PLUGINS_ENV}: {exc}") from None
    return names


# ---------------------------------------------------------------------------------------------- bundled
def bundled_cases_dir() -> Path:
    """The folder of the bundled case files, from a source checkout or from an installed wheel.

    In a source checkout (Python run in it, or an editable install) it is the ``solvers/`` folder beside
    the package (recognised by ``pyproject.toml`` beside it as well). An installed wheel carries the same
    files as package data: the cases in ``wgf/_bundled/solvers`` and the data files they name in
    ``wgf/_bundled/data``, side by side as ``solvers/`` and ``data/`` are in the checkout, so that the
    cases' relative paths (``teacher = "../data/teacher_fig2.csv"``) resolve in both
    (``importlib.resources``; the wheel is installed unzipped, so the folder is a real directory).
    """
    package = Path(__file__).resolve().parents[1]
    checkout = package.parent
    if (checkout / "solvers").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout / "solvers"
    return Path(str(importlib.resources.files("wgf").joinpath("_bundled", "solvers")))


def bundled_cases() -> list[tuple[str, Path, str]]:
    """``(name, path, title)`` of the bundled case files, sorted by name."""
    d = bundled_cases_dir()
    out = []
    if d.is_dir():
        for f in sorted(d.glob("*.toml")):
            try:
                title = str(tomllib.loads(f.read_text("utf-8")).get("title", ""))
            except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
                title = "(unreadable)"
            out.append((f.stem, f, title))
    return out
