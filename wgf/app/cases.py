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
    # lloyd = 0                          # S^2, S^3: Lloyd iterations of the grid (0..1000)
    # cells = 2000                       # S^3: target number of cells of the Hopf-fibration Voronoi grid
                                         #   (>= 64; the grid has this many within a few percent)
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
    # lloyd = 0                          # quadrature = "grid" on S^2, S^3: Lloyd iterations, as in [eulerian]
    # cells = 2000                       # quadrature = "grid" on S^3: target number of cells, as in [eulerian]
    # n = 1024                           # quasi_uniform, random: the number of particles (grid on S^1: cells)
    # seed = 0                           # random: the seed of the uniform sample
    # name = "particles"                 # the run's name, as in [eulerian]
    stepper = "rk4"                      # the other keys are LagrangianSolver's keyword arguments
    dt = 0.05                            # fixed steps (rk2, rk4): a step that raises F beyond round-off
    # check_energy = true                #   stops the run (numerical blow-up: the energy increased...)
    # step_control = "energy"           # fixed tableaux (ssprk2, rk4...): steps chosen by a sufficient-decrease
                                         #   test on F, from the first trial dt, growing by step_growth
                                         #   (long times past the kinks of ReLU models; also
                                         #   sufficient_decrease, max_step)

    [network]                            # optional (or [[network]]): one run per (width, seed)
    widths = [10, 100]                   # the network widths m (an integer or distinct integers >= 1)
    seeds = [0, 1]                       # the seeds, one run per (width, seed) (default [0])
    # name = "net"                       # prefix of the run names (default network): net_m0010_s0, ...
    init = "uniform"                     # kind of wgf.discretisations.network.initial_weights
    # radius = 1.0                       # |w_j| at initialisation (default sqrt([initial] mass))
    step_size = 0.01                     # the other keys are NetworkTrainer's keyword arguments
    # check_energy = true                # method = "full", constant steps: a step that raises F stops
                                         # the run (false: no check; SGD is never checked)
    # step_rule = "adaptive"             # constant | normalised | adaptive | ros2 (full gradient; adaptive:
                                         #   a line search whose step starts at step_size and grows while F
                                         #   decreases enough, up to gradient descent's stability edge; ros2:
                                         #   the gradient flow itself by the particles' linearly implicit
                                         #   ROS2 from a first step step_size, equal layer steps or conic,
                                         #   steps that grow as the flow settles; both land on every output
                                         #   time, no whole-step constraint)
    # rtol = 1e-6                        # step_rule = "ros2": the tolerances of its error control (as in
    # atol = 1e-9                        #   [lagrangian]; the error norm of the network's measure)
    # parametrisation = "conic"          # conic particle steps (radius by a mirror step, direction on
                                         # the sphere) with the [flow]'s alpha and beta, any model
    # alpha = 4.0                        # conic only: the network's own (alpha, beta) (default [flow]'s)

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

Whole steps. A network run with constant steps advances in whole steps of its ``step_size`` and cannot
stop in between (``step_rule = "normalised"`` stops at its last whole step before an output time and
records the time it reached; ``"adaptive"`` and ``"ros2"`` shorten their last step to land on the output
time: none constrains the case's times), so in a case with network sections every output time is a whole
multiple of the network step (of the largest one when sections differ; the step sizes must then divide one
another): ``final``, explicit time lists and ``checkpoint_interval`` must be whole multiples (a
:class:`CaseError` names the nearest one), and counted times (``snapshots = 10``) are rounded to the
nearest multiple, at least one step, merged where they coincide (a count may then give fewer times). What
every run records as time t is its state at t.

Extension: :func:`register_model` and :func:`register_solver` add model types and solver sections;
modules listed (comma-separated) in the environment variable ``WGF_PLUGINS`` are imported by the command
line before it reads a case (:func:`load_plugins`), so that a plugin's types also work for ``wgf run``,
``--resume`` and ``report``. wgf's own test suite uses this to run a small exact test solver through the
command line.

Where the code lives: the validation helpers that any plugin may use (:mod:`wgf.app.validation`), the
problem sections' schema and parsing (:mod:`wgf.app.sections`), the solver-section registry and wgf's own
solver sections (:mod:`wgf.app.solver_sections`); this module assembles a :class:`Case` from them and
re-exports their public names, so that ``from wgf.app.cases import register_solver, check_keys`` works.
"""

from __future__ import annotations

import importlib
import importlib.resources
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from ..models.base import Model
from .sections import (INITIAL_TYPES, MODEL_TYPES, DiagnosticsSpec, InitialSpec, ModelType, TimeSpec,
                       _parse_diagnostics, _parse_flow, _parse_initial, _parse_model, _parse_time, _time_quantum,
                       register_model)
from .solver_sections import SOLVER_SECTIONS, BuiltRun, RunSpec, SolverSection, network_seeds, register_solver, run_name
from .validation import (CaseError, _bad, _suggest, check_choice, check_int, check_int_list, check_keys, check_number,
                         check_string, check_table, constructor_error, load_array, solver_kwargs)

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
