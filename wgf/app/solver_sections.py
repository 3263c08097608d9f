"""Solver sections of a case: the registry (:func:`register_solver`) and wgf's own three,
``[eulerian]``, ``[lagrangian]`` and ``[network]``, each expanded into one :class:`RunSpec` per run.

A :class:`RunSpec` names its HDF5 group, its solver kind and its parameters, and builds its solver
lazily (:meth:`RunSpec.build`), so that a case is validated before any solver is constructed.
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..discretisations.solver import Solver
from .sections import MAX_ICOSAHEDRAL_LEVEL, MAX_POINTS
from .validation import (CaseError, _bad, _fmt, _where, check_choice, check_int, check_int_list, check_number,
                         check_string, constructor_error, solver_kwargs)

if TYPE_CHECKING:
    from .cases import Case

#: The fewest cells a Voronoi grid of S^3 may have (:func:`wgf.geometry.voronoi_s3.hopf_grid`).
MIN_S3_CELLS = 64

__all__ = ["BuiltRun", "RunSpec", "SolverSection", "SOLVER_SECTIONS", "register_solver", "run_name",
           "network_seeds", "QUADRATURES"]

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
        """Construct the run's solver (with its static arrays); a ValueError or TypeError of the
        constructor becomes a :class:`CaseError` naming the section and, where it can, the key."""
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


#: The size key of a grid on each sphere: (key, what it is, its range in words, minimum, maximum).
_GRID_SIZE = {1: ("n", "number of cells of the grid on S^1", ">= 3", 3, MAX_POINTS),
              2: ("level", "icosahedral grid level on S^2", f"0..{MAX_ICOSAHEDRAL_LEVEL}", 0, MAX_ICOSAHEDRAL_LEVEL),
              3: ("cells", "target number of cells of the Voronoi grid on S^3", f"{MIN_S3_CELLS}..{MAX_POINTS}",
                  MIN_S3_CELLS, MAX_POINTS)}


def _grid_size(path: str, table: dict, d: int) -> int:
    """The grid's size key on S^d, checked; the other spheres' keys (and ``lloyd`` on S^1) are refused."""
    key, what, bounds, lo, hi = _GRID_SIZE[d]
    for e, (k, *_rest) in _GRID_SIZE.items():
        if e != d and k in table:
            raise _bad(path, k, table[k], f"applies to grids on S^{e}; on S^{d} give {key} ({what})")
    if d == 1 and "lloyd" in table:
        raise _bad(path, "lloyd", table["lloyd"], f"applies to grids on S^2 and S^3; on S^1 give {key} ({what})")
    if key not in table:
        raise CaseError(f"{_where(path)} missing key '{key}' ({what}, {bounds})")
    return check_int(path, key, table[key], minimum=lo, maximum=hi)


def _grid(case: "Case", path: str, table: dict):
    """Check the grid keys (n on S^1; level, lloyd on S^2; cells, lloyd on S^3) and return a grid factory."""
    d = case.dim
    if d not in _GRID_SIZE:
        raise CaseError(f"{_where(path)} grids exist only on S^1, S^2 and S^3, but the model lives on S^{d}"
                        + (" (use [lagrangian] quadrature = \"quasi_uniform\" or \"random\")" if path.startswith(
                            "lagrangian") else ""))
    size = _grid_size(path, table, d)
    lloyd = 0 if d == 1 else check_int(path, "lloyd", table.get("lloyd", 0), minimum=0, maximum=1000)
    if d == 1:
        def make():
            from ..geometry import grid
            return grid.circle_grid(size)
        return make, {"n": size}
    if d == 2:
        def make():
            from ..geometry import grid
            return grid.icosahedral_grid(size, lloyd=lloyd)
        return make, {"level": size, "lloyd": lloyd}

    def build_mesh():
        from ..geometry import voronoi_s3
        return voronoi_s3.hopf_grid(size, lloyd=lloyd)
    return _reused_once(build_mesh), {"cells": size, "lloyd": lloyd}


def _reused_once(make: Callable[[], Any]) -> Callable[[], Any]:
    """``make`` with its result kept for one second call, then released.

    A run is built twice in ``wgf run`` (once to check and estimate it before any output is written, once
    to run it), and the Voronoi mesh of S^3 is the costly part of building an S^3 grid run (seconds at
    10^4 cells): the second build takes the first one's mesh instead of constructing it again. The mesh
    is never modified by the solvers that receive it (they copy what they change)."""
    kept: list = []

    def once():
        if kept:
            return kept.pop()
        grid = make()
        kept.append(grid)
        return grid
    return once


def _static_grid(g) -> dict[str, np.ndarray]:
    return {"grid/points": np.asarray(g.points, float), "grid/volumes": np.asarray(g.volumes, float)}


def _expand_eulerian(case: "Case", path: str, table: dict) -> list[RunSpec]:
    cls = _lazy_class(path, "wgf.discretisations.eulerian", "EulerianSolver", "Eulerian solver")
    own = {"name", "n", "level", "lloyd", "cells"}
    kwargs = solver_kwargs(path, table, cls, own=own, supplied={
        "model": "[model]", "grid": "n / level / cells", "masses": "[initial]",
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
    own = {"name", "quadrature", "n", "level", "lloyd", "cells", "seed"}
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
            # copies: the particles move, and the grid may be shared with a second build of this run
            return np.array(g.points, float), np.array(g.volumes, float), _static_grid(g)
    else:
        for k in ("level", "lloyd", "cells"):
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
    if kwargs.get("parametrisation") == "conic":
        # conic steps: the [flow]'s (alpha, beta) unless the section sets its own
        kwargs.setdefault("alpha", case.alpha)
        kwargs.setdefault("beta", case.beta)
    elif "alpha" in kwargs or "beta" in kwargs:
        key = "alpha" if "alpha" in kwargs else "beta"
        raise _bad(path, key, table[key], "applies only to parametrisation = \"conic\" (cartesian networks "
                   "follow the (4, 1) flow, or leave the family with layer_steps)")
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
    if kwargs.get("step_rule", "constant") != "constant":
        # normalised steps (gamma_k = step_size / (F N_k)) do not land on a fixed lattice of times: such a run
        # stops at the last whole step before each output time and records the time it reached; adaptive
        # and ros2 steps (rtol, atol: NetworkTrainer's keywords) shorten their last step to land on every
        # output time
        step = None
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


