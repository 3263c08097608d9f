"""``wgf report OUT.h5``: the comparison table of an output file, and its figures written beside it.

The text report has five parts:

1. the case's title and description (which says what the case shows and, for reproductions that are not
   the PDE, why);
2. one row per run: its status, the time reached, the steps, F at the first and last record, the mass, the
   drift of the invariant Q, the last optimality-certificate gap recorded (the bound on ``F(nu_t) - F*`` at
   the last snapshot, :mod:`wgf.analysis.certificate`; "-" where the model admits none), and the predictor distance ``model.distance`` (exact K-norm for population
   models) between its last snapshot and the reference run's (``[compare] reference``: by default the
   first Eulerian run, else the first Lagrangian one) at the same time;
3. the networks per width m at the final time: seeds, F (mean and standard deviation over seeds) and the
   mean distance to every PDE run (Eulerian and Lagrangian), then the slope of log(mean distance to the
   reference) against log m at every snapshot time the runs share (the Monte Carlo rate of i.i.d.
   neurons is -1/2);
4. for runs whose records span many decades of t (``t_last / t_first >= 10^4``): the long-time decay of
   ``F - F*`` with ``F* = F(T)``, the certified bracket of F* and the slope of ``log(F - F*)`` against
   ``log t`` over the window ``[T / 1000, T / 10]`` (:mod:`wgf.app.decay_report`);
5. notes: a case without a PDE run, networks that leave the ``(alpha, beta)`` family (unequal layer steps,
   sequential layers) or start from a measure without full support, and anything not computed.

Figures (:mod:`wgf.app.plots`), named after the file ``OUT.h5``: ``OUT_energy.png`` (F against t, all runs),
``OUT_distance.png`` (distance to the reference against m, one line per snapshot time, with the grid's
own distance to the reference as a horizontal line), ``OUT_particles.png`` (one panel per width, its
first seed, and one per Lagrangian run: the layout of the ICM review's Fig 2),
``OUT_particles_<run or width>.png`` (all seeds of a width on one panel; Lagrangian runs), and
``OUT_density_<run>.png`` (Eulerian runs: maps of the density on S^2, curves on S^1). Classification
cases (logistic loss) add a section on the implicit bias, the normalised margins against the F1 and F2
max margins, with ``OUT_margin.png`` and ``OUT_predictor.png`` (:mod:`wgf.app.margin_report`); runs
spanning many decades add ``OUT_decay.png`` (``F - F*`` against t, :mod:`wgf.app.decay_report`). Particle plots
exist for inputs of dimension dx <= 2 only (the position ``|a| b`` lives in R^dx): for larger dx they are
skipped, with a note. Empirical ReLU models on two-dimensional inputs with a bias (nu on S^3) get instead,
with one panel per width (its first seed) and one per Lagrangian run: ``OUT_neurons.png`` (every atom at
``|a| b`` in R^3 on the tanh radial scale), ``OUT_lines.png`` (every atom as its line ``b . [x; 1] = 0`` in
the input plane) and ``OUT_predictor_map.png`` (the predictor over the input plane, its decision boundary
``h = 0`` and the training points), all at the final snapshot; Eulerian (grid) runs on S^3 join those
pictures (the generators of the heaviest cells holding 99% of the mass, as atoms with the cells' masses;
the predictor uses every cell) and add ``OUT_line_density_<run>.png``,
the density of the neurons' lines in the input plane (each cell's line weighted by its ``m |a| |b|``, one
row per sign of a) at three snapshots.
"""

from __future__ import annotations

import json
import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..geometry.measure import Measure
from . import plane_plots, plots
from .cases import Case, CaseError, parse_case
from .io import OutputReader
from .decay_report import RunDecay, decay_figures, decay_lines, summarize_decays
from .margin_report import MarginSummary, margin_figures, margin_lines, summarize_margins

__all__ = ["RunSummary", "WidthSummary", "Summary", "summarize", "format_table", "write_figures", "report"]

#: Runs of these solver kinds discretise the PDE (they are the candidates for "distance to the PDE").
PDE_SOLVERS = ("eulerian", "lagrangian")


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
    #: distance of the last snapshot to the last snapshot (at the same time) of the reference and of every
    #: PDE run
    pde_distances: dict[str, float] = field(default_factory=dict)


@dataclass
class WidthSummary:
    """The network runs of one width m at the final time (means and standard deviations over seeds)."""

    m: int
    runs: list[str]
    energy_mean: float
    energy_std: float
    distance_mean: float = math.nan
    distance_std: float = math.nan
    pde_distances: dict[str, float] = field(default_factory=dict)


@dataclass
class Summary:
    path: Path
    title: str
    status: str
    reference: str | None
    rows: list[RunSummary]
    notes: list[str] = field(default_factory=list)
    case: Case | None = None
    description: str = ""
    widths: list[WidthSummary] = field(default_factory=list)
    #: ``(t, {network run: distance to the reference})`` at every snapshot time the reference shares
    by_time: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    final_time: float = math.nan
    #: classification runs (logistic loss): margins against the max-margin references
    margins: MarginSummary | None = None
    #: runs spanning many decades of t: the decay of F - F* (wgf.app.decay_report)
    decays: list[RunDecay] = field(default_factory=list)

    def slopes(self) -> list[tuple[float, float]]:
        """``(t, slope)`` of log(mean distance to the reference over seeds) against log m per snapshot
        time (NaN with fewer than two widths)."""
        out = []
        for t, dist in self.by_time:
            um, mean = _width_means(self, dist)
            out.append((t, float(np.polyfit(np.log(um), np.log(mean), 1)[0]) if um.size >= 2 else math.nan))
        return out


def _width_means(summary: Summary, dist: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    widths: dict[int, list[float]] = {}
    for row in summary.rows:
        d = dist.get(row.name, math.nan)
        if row.solver == "network" and "m" in row.params and d > 0 and math.isfinite(d):
            widths.setdefault(int(row.params["m"]), []).append(d)
    um = np.array(sorted(widths), float)
    return um, np.array([np.mean(widths[int(u)]) for u in um])


def _status(a: dict[str, Any]) -> str:
    if a.get("failed"):
        return "FAILED"
    if a.get("completed"):
        return "completed"
    return "running" if a.get("started") else "not started"


def _snapshot_measure(r: OutputReader, run: str, key: str) -> Measure | None:
    arr = r.snapshot(run, key)
    if "points" not in arr or "masses" not in arr:
        return None
    try:
        return Measure(arr["points"], arr["masses"])
    except ValueError:
        return None


def _final_measure(r: OutputReader, run: str) -> tuple[float, Measure] | None:
    snaps = r.snapshot_list(run)
    if not snaps:
        return None
    nu = _snapshot_measure(r, run, snaps[-1][0])
    return None if nu is None else (snaps[-1][1], nu)


def _same_time(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _not_the_pde(rows: list[RunSummary]) -> list[str]:
    """Notes on network runs that do not discretise the case's PDE."""
    notes = []
    for kind, test, why in (
        ("layer_steps", lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and float(v[0]) != float(v[1]),
         "unequal layer steps (c_a, c_b) leave the (alpha, beta) family: the reaction becomes "
         "-2 (c_a + c_b) J and the velocity gains a radial term"),
        ("sequential", lambda v: v is True,
         "sequential (Gauss-Seidel) layer updates are a different scheme of the same flow only as the step "
         "goes to 0"),
        ("init", lambda v: isinstance(v, str) and v != "uniform",
         "the initialisation is not i.i.d. from the uniform nu_0 (kind '{v}'): its measure has no full "
         "support (e.g. |a| = |b| for every neuron)"),
    ):
        bad = [row for row in rows if row.solver == "network" and test(row.params.get(kind))]
        if bad:
            v = bad[0].params.get(kind)
            notes.append(f"{len(bad)} network run(s) with {kind} = {v}: " + why.format(v=v))
    return notes


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
    summary = Summary(r.path, str(attrs.get("title", "")), str(attrs.get("status", "?")), None, rows, notes, case,
                      description=case.description if case is not None else "")
    summary.decays = summarize_decays(r)
    if case is None:
        return summary
    summary.reference = case.reference
    finals = [row.time for row in rows if not math.isnan(row.time)]
    summary.final_time = max(finals) if finals else math.nan
    # the runs others are compared with: the reference and every discretisation of the PDE
    targets = list(dict.fromkeys(([case.reference] if case.reference else [])
                                 + [row.name for row in rows if row.solver in PDE_SOLVERS]))
    if not targets:
        notes.append("no PDE run in this case (no [eulerian] or [lagrangian] section): there is no reference "
                     "solution, so no distances are computed")
    notes += _not_the_pde(rows)
    if targets:
        _distances(r, summary, case, targets)
    if any(row.solver == "network" for row in rows):
        _widths(summary, targets)
    summary.margins = summarize_margins(r, summary, _snapshot_measure)
    return summary


def _distances(r: OutputReader, summary: Summary, case: Case, pde: list[str]) -> None:
    """Final-time distances of every run to every run in ``pde`` (the reference and the PDE's
    discretisations), and the networks' distances to the reference at every shared snapshot time."""
    notes = summary.notes
    finals = {name: _final_measure(r, name) for name in [row.name for row in summary.rows]}
    ref = summary.reference
    if ref is not None and finals.get(ref) is None:
        notes.append(f"no distances to the reference: the reference run '{ref}' has no snapshot")

    def dist(mu: Measure, nu: Measure, what: str) -> float:
        try:
            return float(case.model.distance(mu, nu))
        except NotImplementedError:
            notes.append(f"no distances: {type(case.model).__name__} defines no predictor distance")
        except ValueError as exc:
            notes.append(f"no distance for {what}: {exc}")
        return math.nan

    for row in summary.rows:
        fm = finals.get(row.name)
        if fm is None:
            continue
        row.snapshot_time = fm[0]
        for p in pde:
            fp = finals.get(p)
            if p == row.name or fp is None or not _same_time(fm[0], fp[0]):
                continue
            row.pde_distances[p] = dist(fm[1], fp[1], f"run '{row.name}'")
            if p == ref:
                row.distance = row.pde_distances[p]
    if ref is None or finals.get(ref) is None:
        return
    net = [row.name for row in summary.rows if row.solver == "network"]
    if not net:
        return
    for key, t, _ in r.snapshot_list(ref):
        nu_ref = _snapshot_measure(r, ref, key)
        if nu_ref is None:
            continue
        out = {}
        for name in net:
            for k2, t2, _ in r.snapshot_list(name):
                if _same_time(t, t2):
                    mu = _snapshot_measure(r, name, k2)
                    if mu is not None:
                        out[name] = dist(mu, nu_ref, f"run '{name}' at t = {t:g}")
                    break
        if out:
            summary.by_time.append((t, out))


def _widths(summary: Summary, pde: list[str]) -> None:
    groups: dict[int, list[RunSummary]] = {}
    for row in summary.rows:
        if row.solver == "network" and "m" in row.params and not math.isnan(row.time) \
                and _same_time(row.time, summary.final_time):
            groups.setdefault(int(row.params["m"]), []).append(row)
    for m in sorted(groups):
        rs = groups[m]
        E = np.array([row.energy for row in rs])
        ws = WidthSummary(m, [row.name for row in rs], float(np.mean(E)), float(np.std(E)))
        d = np.array([row.distance for row in rs])
        if np.any(np.isfinite(d)):
            ws.distance_mean = float(np.nanmean(d))
            ws.distance_std = float(np.nanstd(d))
        for p in pde:
            v = np.array([row.pde_distances.get(p, math.nan) for row in rs])
            if np.any(np.isfinite(v)):
                ws.pde_distances[p] = float(np.nanmean(v))
        summary.widths.append(ws)


# ---------------------------------------------------------------------------------------------- text
def _g(x: float, fmt: str = ".4e") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def _short_params(row: RunSummary) -> str:
    keys = {"network": ("m", "seed"), "eulerian": ("n", "level", "scheme", "stepper"),
            "lagrangian": ("quadrature", "n", "level", "stepper")}.get(row.solver)
    items = [(k, row.params[k]) for k in (keys or row.params) if k in row.params]
    return ",".join(f"{k}={v}" for k, v in items)[:40]


def _table(head: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths)).rstrip() for b in body]
    return lines


def format_table(summary: Summary) -> str:
    """The comparison table as text (see the module docstring)."""
    ref = summary.reference
    lines = [f"{summary.title}  [{summary.path.name}: {summary.status}]"]
    if summary.description:
        lines += textwrap.wrap(" ".join(summary.description.split()), 100)
    lines.append("")
    head = ["run", "solver", "parameters", "status", "t", "steps", "F(0)", "F(t)", "mass(t)", "|dQ|", "cert gap"]
    if ref is not None:
        head.append(f"dist to {ref}")
    body = []
    for row in summary.rows:
        cells = [row.name, row.solver, _short_params(row), row.status, _g(row.time, ".4g"), str(row.steps),
                 _g(row.energy0), _g(row.energy), _g(row.mass, ".5g"), _g(row.q_drift, ".2e"),
                 _g(row.certificate, ".3e")]
        if ref is not None:
            cells.append("(reference)" if row.name == ref else _g(row.distance, ".3e"))
        body.append(cells)
    lines += _table(head, body)
    if summary.widths:
        pde = ([ref] if ref else []) + [row.name for row in summary.rows if row.solver in PDE_SOLVERS]
        pde = list(dict.fromkeys(p for p in pde if any(p in w.pde_distances for w in summary.widths)))
        lines += ["", f"networks at t = {_g(summary.final_time, '.4g')} by width m (mean over seeds, standard "
                  "deviation in brackets):"]
        head = ["m", "seeds", "F(t)"] + [f"dist to {p}" + (" (reference)" if p == ref else "") for p in pde]
        body = []
        for w in summary.widths:
            cells = [str(w.m), str(len(w.runs)), f"{_g(w.energy_mean, '.3e')} ({_g(w.energy_std, '.1e')})"]
            for p in pde:
                v = w.pde_distances.get(p, math.nan)
                cells.append(f"{_g(v, '.3e')} ({_g(w.distance_std, '.1e')})" if p == ref else _g(v, ".3e"))
            body.append(cells)
        lines += _table(head, body)
        slopes = [(t, s) for t, s in summary.slopes() if math.isfinite(s)]
        if slopes and ref is not None:
            lines.append(f"slope of log(mean distance to {ref}) against log m (i.i.d. sampling alone gives "
                         "-0.5): " + ", ".join(f"t = {t:.4g}: {s:.2f}" for t, s in slopes))
    if summary.margins is not None and summary.margins.paths:
        lines += margin_lines(summary.margins)
    lines += decay_lines(summary.decays, _table)
    notes = list(dict.fromkeys(summary.notes + (summary.margins.notes if summary.margins is not None else [])))
    if notes:
        lines.append("")
        for n in notes:
            lines += textwrap.wrap(f"note: {n}", 100, subsequent_indent="  ")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- figures
def _teacher(case: Case | None) -> np.ndarray | None:
    if case is None:
        return None
    T = getattr(case.model, "teacher", None)
    if isinstance(T, np.ndarray) and T.ndim == 2 and T.shape[1] == case.dim + 1:
        return T
    return None


def _is_relu(case: Case | None) -> bool:
    from ..models import EmpiricalReLU, TeacherStudent
    return case is not None and isinstance(case.model, (TeacherStudent, EmpiricalReLU))


def _input_plane_model(case: Case | None) -> bool:
    """An empirical ReLU model on inputs in R^2 with a bias: neurons (a, b1, b2, b0) on S^3."""
    from ..models import EmpiricalReLU
    return (case is not None and isinstance(case.model, EmpiricalReLU) and case.model.bias
            and case.model.dx == 2)


#: Points per axis of the input-plane grid on which ``_input_plane_figures`` evaluates the predictor.
PREDICTOR_GRID = 121


#: Grid runs in the neuron pictures: the heaviest cells that hold this share of the mass (the predictor
#: uses every cell). A grid keeps some mass in every cell, which would cover the picture.
GRID_MASS_SHARE = 0.99


def heaviest_share(masses: np.ndarray, share: float) -> np.ndarray:
    """Indices of the fewest atoms, heaviest first, whose masses (N,) sum to at least ``share`` of the total."""
    order = np.argsort(-np.asarray(masses, float), kind="stable")
    cum = np.cumsum(np.asarray(masses, float)[order])
    if cum.size == 0 or cum[-1] <= 0:
        return order[:0]
    return order[:int(np.searchsorted(cum, share * cum[-1])) + 1]


def _input_plane_figures(r: OutputReader, summary: Summary, panels: list[tuple[str, str]], stem,
                         grids: frozenset = frozenset()) -> list[Path]:
    """The S^3 pictures of :mod:`wgf.app.plots` (neurons at |a| b, their lines, the predictor) of the final
    snapshots of the runs ``panels`` = ``[(panel title, run name)]``; runs named in ``grids`` are drawn by
    their heaviest cells holding :data:`GRID_MASS_SHARE` of the mass (:func:`heaviest_share`)."""
    model = summary.case.model
    measures = []
    for ptitle, name in panels:
        fm = _final_measure(r, name)
        if fm is not None:
            measures.append((ptitle, fm[1], name))
    if not measures:
        return []
    classification = model.loss == "logistic"
    title = f"{summary.title}: at t = {_g(summary.final_time, '.4g')}"
    sets = []
    for t, m, name in measures:
        if name in grids:
            keep = heaviest_share(m.masses, GRID_MASS_SHARE)
            t = f"{t} ({keep.size} cells, {GRID_MASS_SHARE:.0%} of mass)"
            sets.append((t, m.points[keep], m.masses[keep]))
        else:
            sets.append((t, m.points, m.masses))
    out = [plane_plots.neuron_points_figure(sets, stem("neurons"), title=title),
           plane_plots.neuron_lines_figure(sets, stem("lines"), model.X, model.y, classification, title=title)]
    (x0, x1), (y0, y1) = plane_plots.input_window(model.X)
    gx, gy = np.linspace(x0, x1, PREDICTOR_GRID), np.linspace(y0, y1, PREDICTOR_GRID)
    G = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    H = [(t, model.predict(m, G).reshape(gy.size, gx.size)) for t, m, _ in measures]
    out.append(plane_plots.predictor_panels_figure(H, (gx, gy), stem("predictor_map"), model.X, model.y,
                                             classification, title=title))
    return out


#: Pixels along the longer side of the input window in the line-density pictures.
LINE_DENSITY_PIXELS = 200


def _line_density_figures(r: OutputReader, summary: Summary, run: str, stem) -> list[Path]:
    """The density of the neuron lines in the input plane (:func:`wgf.app.plane_plots.line_density_figure`) of a
    grid run on S^3 at three of its snapshots after t = 0 (the first, a middle one and the last)."""
    snaps = [s for s in r.snapshot_list(run) if s[1] > 0]
    picks = list(dict.fromkeys([snaps[0], snaps[len(snaps) // 2], snaps[-1]])) if snaps else []
    cols = []
    for key, t, _ in picks:
        nu = _snapshot_measure(r, run, key)
        if nu is not None:
            cols.append((f"t = {t:.4g}", nu.points, nu.masses))
    if not cols:
        return []
    model = summary.case.model
    return [plane_plots.line_density_figure(cols, stem(f"line_density_{run}"), model.X, model.y,
                                      model.loss == "logistic", title=f"{summary.title}: {run}",
                                      pixels=LINE_DENSITY_PIXELS)]


def write_figures(r: OutputReader, summary: Summary) -> list[Path]:
    """Write the figures of an open output file beside it; returns their paths."""
    base = r.path.with_suffix("")
    stem = lambda suffix: base.with_name(f"{base.name}_{suffix}.png")  # noqa: E731
    out: list[Path] = []
    case = summary.case
    curves = []
    for name in r.runs:
        s = r.series(name)
        if "time" in s and "energy" in s:
            curves.append((name, s["time"], s["energy"]))
    if curves:
        out.append(plots.energy_figure(curves, stem("energy"), title=summary.title))
    rows = {row.name: row for row in summary.rows}
    net = [row for row in summary.rows if row.solver == "network" and "m" in row.params]
    final = [(row.params["m"], row.distance) for row in net if not math.isnan(row.distance)]
    if final and summary.reference is not None:
        T = summary.final_time
        earlier = []
        for t, dist in summary.by_time:
            if not _same_time(t, T):
                m_, d_ = zip(*[(rows[n].params["m"], v) for n, v in dist.items()]) if dist else ((), ())
                earlier.append((f"t = {t:.4g}", m_, d_))
        floors = [(f"{row.name} at t = {_g(T, '.4g')}", row.distance) for row in summary.rows
                  if row.solver in PDE_SOLVERS and row.name != summary.reference and not math.isnan(row.distance)]
        out.append(plots.distance_figure([d[0] for d in final], [d[1] for d in final], stem("distance"),
                                         reference=summary.reference, title=summary.title, earlier=earlier,
                                         floors=floors, label=f"t = {_g(T, '.4g')}"))
    dim = case.dim if case is not None else None
    teacher = _teacher(case)
    dx_ok = dim is not None and dim <= 2
    groups: dict[str, list[str]] = {}
    for row in summary.rows:
        if row.solver == "network" and "m" in row.params:
            groups.setdefault(row.name.rsplit("_s", 1)[0], []).append(row.name)
        elif row.solver == "lagrangian":
            groups[row.name] = [row.name]
    plane = _input_plane_model(case)
    if groups and not dx_ok and dim is not None and not plane:
        summary.notes.append(f"no particle plots: the position |a| b lives in R^{dim}; the plot is drawn for "
                             "inputs of dimension <= 2 only")
    panels = []
    for group, names in (groups.items() if dx_ok else ()):
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
            first = rows[names[0]]
            ptitle = (f"m = {first.params['m']} (seed {first.params.get('seed')})" if first.solver == "network"
                      else f"{group}: the PDE, N = {len(sets[0][2])}")
            panels.append((ptitle, sets[:1]))
    panels.sort(key=lambda p: p[0].startswith("m = ") is False)  # networks by width, then the PDE's particles
    grids = [row for row in summary.rows if row.solver == "eulerian" and row.status != "not started"]
    if plane and (groups or grids):
        picks = []
        for group, names in groups.items():
            first = rows[names[0]]
            picks.append((f"m = {first.params['m']} (seed {first.params.get('seed')})" if first.solver == "network"
                          else f"{group}: the PDE", names[0]))
        picks += [(f"{row.name}: grid", row.name) for row in grids]
        picks.sort(key=lambda p: p[0].startswith("m = ") is False)  # networks by width, then the PDE's
        out += _input_plane_figures(r, summary, picks, stem, frozenset(row.name for row in grids))
        for row in grids:
            out += _line_density_figures(r, summary, row.name, stem)
    if len(panels) > 1:
        out.append(plots.particle_panels(panels, stem("particles"), teacher=teacher,
                                         title=f"{summary.title}: particles at t = {_g(summary.final_time, '.4g')}"))
    relu = _is_relu(case)
    marks = None
    if teacher is not None and case is not None and getattr(case.model, "teacher_measure", None) is not None:
        marks = (case.model.teacher_measure.points, teacher[:, 0])
    for row in summary.rows:
        if row.solver != "eulerian" or row.status == "not started":
            continue
        st = r.static(row.name)
        if "grid/volumes" not in st:
            continue
        pts, vol = st["grid/points"], st["grid/volumes"]
        if pts.shape[1] not in (2, 3):
            continue
        snaps = r.snapshot_list(row.name)
        later = [s for s in snaps if s[1] > 0] or snaps
        if pts.shape[1] == 2:
            picks = [snaps[0], later[len(later) // 2], later[-1]]
        else:
            picks = [later[0], later[len(later) // 2], later[-1]] if len(later) >= 3 else later
        dens = []
        for key, t, _ in dict.fromkeys(picks):
            arr = r.snapshot(row.name, key)
            if "masses" in arr and arr["masses"].shape == vol.shape:
                dens.append((f"t = {t:.4g}", arr["masses"] / vol))
        if dens:
            labels = ("longitude: direction of b", "latitude: arcsin a") if relu and pts.shape[1] == 3 else None
            out.append(plots.density_figure(pts, dens, stem(f"density_{row.name}"), pole=0 if relu else 2,
                                            marks=marks if pts.shape[1] == 3 else None, axis_labels=labels,
                                            title=f"{row.name}: density of nu_t"
                                            + (" (stars: the teacher's neurons)" if marks is not None
                                               and pts.shape[1] == 3 else "")))
    if summary.margins is not None and summary.margins.paths:
        out += margin_figures(summary.margins, stem, summary.title, summary.reference)
    out += decay_figures(summary.decays, stem, summary.title)
    return out


def report(path: str | Path, *, figures: bool = True) -> tuple[str, list[Path]]:
    """The comparison table of an output file, and (if ``figures``) its figures written beside it."""
    with OutputReader(path) as r:
        summary = summarize(r)
        paths = write_figures(r, summary) if figures else []
    return format_table(summary), paths
