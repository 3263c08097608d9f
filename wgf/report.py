"""``wgf report OUT.h5``: the comparison table of an output file, and its figures written beside it.

For every run: its status, the time reached, the steps, F at the first and last record, the mass, the
drift of the invariant Q, the last optimality-certificate gap recorded (the bound on ``F(nu_t) - F*`` at
the last snapshot, :mod:`wgf.certificate`; "-" where the model admits none), and the predictor distance
``model.distance`` between its last snapshot and the reference run's (``[compare] reference``) at the same time. Figures (:mod:`wgf.plots`), named after the
file ``OUT.h5``: ``OUT_energy.png`` (F against t, all runs), ``OUT_distance.png`` (distance to the reference
against the width m, when there are network runs), ``OUT_particles_<run or width>.png`` (network widths,
all seeds on one panel; Lagrangian runs), ``OUT_density_<run>.png`` (grid runs).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import plots
from .cases import Case, CaseError, parse_case
from .io import OutputReader
from .measure import Measure

__all__ = ["RunSummary", "Summary", "summarize", "format_table", "write_figures", "report"]


@dataclass
class RunSummary:
    """One row of the comparison table."""

    name: str
    solver: str
    params: dict[str, Any]
    status: str
    time: float = math.nan
    steps: int = 0
    energy0: float = math.nan
    energy: float = math.nan
    mass: float = math.nan
    q_drift: float = math.nan
    certificate: float = math.nan
    distance: float = math.nan
    snapshot_time: float = math.nan


@dataclass
class Summary:
    path: Path
    title: str
    status: str
    reference: str | None
    rows: list[RunSummary]
    notes: list[str] = field(default_factory=list)
    case: Case | None = None


def _status(a: dict[str, Any]) -> str:
    if a.get("failed"):
        return "FAILED"
    if a.get("completed"):
        return "completed"
    return "running" if a.get("started") else "not started"


def _final_measure(r: OutputReader, run: str) -> tuple[float, Measure] | None:
    snaps = r.snapshot_list(run)
    if not snaps:
        return None
    arr = r.snapshot(run, snaps[-1][0])
    if "points" not in arr or "masses" not in arr:
        return None
    try:
        return snaps[-1][1], Measure(arr["points"], arr["masses"])
    except ValueError:
        return None


def summarize(r: OutputReader) -> Summary:
    """Read the comparison table from an open output file."""
    r.check()
    attrs = r.attrs()
    notes: list[str] = []
    case: Case | None = None
    try:
        case = parse_case(r.config, name=str(attrs.get("case_name", "case")), embedded=r.data())
    except CaseError as exc:
        notes.append(f"distances unavailable: the stored case cannot be rebuilt ({exc})")
    rows = []
    for name in r.runs:
        a = r.run_attrs(name)
        try:
            params = json.loads(a.get("params", "{}"))
        except json.JSONDecodeError:
            params = {}
        row = RunSummary(name, str(a.get("solver", "?")), params, _status(a))
        s = r.series(name)
        if "time" in s and len(s["time"]):
            row.time = float(s["time"][-1])
            row.steps = int(s["step"][-1]) if "step" in s else 0
            if "energy" in s:
                row.energy0, row.energy = float(s["energy"][0]), float(s["energy"][-1])
            if "mass" in s:
                row.mass = float(s["mass"][-1])
            if "Q" in s:
                row.q_drift = abs(float(s["Q"][-1]) - float(s["Q"][0]))
            if "certificate_gap" in s:
                gaps = s["certificate_gap"][np.isfinite(s["certificate_gap"])]
                if gaps.size:
                    row.certificate = float(gaps[-1])
        rows.append(row)
    reference = case.reference if case is not None else None
    if case is not None and reference is not None:
        ref = _final_measure(r, reference)
        if ref is None:
            notes.append(f"no distances: the reference run '{reference}' has no snapshot")
        else:
            t_ref, nu_ref = ref
            for row in rows:
                fm = _final_measure(r, row.name)
                if fm is None:
                    continue
                row.snapshot_time = fm[0]
                if not math.isclose(fm[0], t_ref, rel_tol=1e-9, abs_tol=1e-12):
                    continue
                try:
                    row.distance = float(case.model.distance(fm[1], nu_ref))
                except NotImplementedError:
                    notes.append(f"no distances: {type(case.model).__name__} defines no predictor distance")
                    break
                except ValueError as exc:
                    notes.append(f"no distance for run '{row.name}': {exc}")
    return Summary(r.path, str(attrs.get("title", "")), str(attrs.get("status", "?")), reference, rows, notes, case)


def _g(x: float, fmt: str = ".4e") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def _short_params(row: RunSummary) -> str:
    keys = {"network": ("m", "seed"), "eulerian": ("n", "level", "scheme", "stepper"),
            "lagrangian": ("quadrature", "n", "level", "stepper")}.get(row.solver)
    items = [(k, row.params[k]) for k in (keys or row.params) if k in row.params]
    return ",".join(f"{k}={v}" for k, v in items)[:40]


def format_table(summary: Summary) -> str:
    """The comparison table as text."""
    ref = summary.reference or "-"
    head = ["run", "solver", "parameters", "status", "t", "steps", "F(0)", "F(t)", "mass(t)", "|dQ|",
            "cert gap", f"dist to {ref}"]
    body = []
    for row in summary.rows:
        dist = "(reference)" if row.name == summary.reference else _g(row.distance, ".3e")
        body.append([row.name, row.solver, _short_params(row), row.status, _g(row.time, ".4g"), str(row.steps),
                     _g(row.energy0), _g(row.energy), _g(row.mass, ".5g"), _g(row.q_drift, ".2e"),
                     _g(row.certificate, ".3e"), dist])
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    lines = [f"{summary.title}  [{summary.path.name}: {summary.status}]",
             "  ".join(h.ljust(w) for h, w in zip(head, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    lines += [f"note: {n}" for n in dict.fromkeys(summary.notes)]
    return "\n".join(lines)


def _teacher(case: Case | None) -> np.ndarray | None:
    if case is None:
        return None
    T = getattr(case.model, "teacher", None)
    if isinstance(T, np.ndarray) and T.ndim == 2 and T.shape[1] == case.dim + 1:
        return T
    return None


def write_figures(r: OutputReader, summary: Summary) -> list[Path]:
    """Write the figures of an open output file beside it; returns their paths."""
    base = r.path.with_suffix("")
    stem = lambda suffix: base.with_name(f"{base.name}_{suffix}.png")  # noqa: E731
    out: list[Path] = []
    curves = []
    for name in r.runs:
        s = r.series(name)
        if "time" in s and "energy" in s:
            curves.append((name, s["time"], s["energy"]))
    if curves:
        out.append(plots.energy_figure(curves, stem("energy"), title=summary.title))
    rows = {row.name: row for row in summary.rows}
    net = [row for row in summary.rows if row.solver == "network" and "m" in row.params]
    dist = [(row.params["m"], row.distance) for row in net if not math.isnan(row.distance)]
    if dist:
        out.append(plots.distance_figure([d[0] for d in dist], [d[1] for d in dist], stem("distance"),
                                         reference=summary.reference or "reference", title=summary.title))
    teacher = _teacher(summary.case)
    groups: dict[str, list[str]] = {}
    for row in summary.rows:
        if row.solver == "network" and "m" in row.params:
            groups.setdefault(row.name.rsplit("_s", 1)[0], []).append(row.name)
        elif row.solver == "lagrangian":
            groups[row.name] = [row.name]
    for group, names in groups.items():
        sets = []
        for name in names:
            fm = _final_measure(r, name)
            if fm is not None:
                label = f"seed {rows[name].params.get('seed')}" if rows[name].solver == "network" else name
                sets.append((label, fm[1].points, fm[1].masses))
        if sets:
            t = rows[names[0]].time
            out.append(plots.particle_figure(sets, stem(f"particles_{group}"), teacher=teacher,
                                             title=f"{group} at t = {_g(t, '.4g')}"))
    for row in summary.rows:
        st = r.static(row.name)
        if "grid/volumes" not in st or row.status == "not started":
            continue
        pts, vol = st["grid/points"], st["grid/volumes"]
        if pts.shape[1] not in (2, 3):
            continue
        snaps = r.snapshot_list(row.name)
        picks = [snaps[0], snaps[len(snaps) // 2], snaps[-1]] if pts.shape[1] == 2 else snaps[-1:]
        dens = []
        for key, t, _ in dict.fromkeys(picks):
            arr = r.snapshot(row.name, key)
            if "masses" in arr and arr["masses"].shape == vol.shape:
                dens.append((f"t = {t:.4g}", arr["masses"] / vol))
        if dens:
            out.append(plots.density_figure(pts, dens, stem(f"density_{row.name}"),
                                            title=f"{row.name}: density at {dens[-1][0]}"))
    return out


def report(path: str | Path, *, figures: bool = True) -> tuple[str, list[Path]]:
    """The comparison table of an output file, and (if ``figures``) its figures written beside it."""
    with OutputReader(path) as r:
        summary = summarize(r)
        paths = write_figures(r, summary) if figures else []
    return format_table(summary), paths
