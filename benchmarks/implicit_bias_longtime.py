"""Late-time implicit bias: the gap of the normalised margin to the certified F1 max margin, to t = 10^6.

Reads the output file of the bundled case ``classification_longtime`` (``wgf run classification_longtime``;
this benchmark runs it into ``--out`` when no ``--file`` is given) and, at each of its log-spaced snapshots
and for every run (the grid, icosahedral level 3, upwind with ros2 and with SSPRK2 steps, MUSCL with SSPRK2,
upwind on level 4 with SSPRK2; networks m = 100 and 1000 x 3 seeds with the normalised step rule), measures

* the normalised margin ``gamma(t) = min_i y_i h_nu(x_i) / int |a||b| dnu`` (comparable with the F1 LP,
  :func:`wgf.analysis.margins.normalised_margin`);
* its gap to the F1 max margin, ``1 - gamma(t) / gamma_F1``, against both ends of the certified bracket
  ``[lower, upper]`` of :func:`wgf.analysis.margins.f1_max_margin` (the inputs with their bias are
  two-dimensional, so the input directions lie on S^1 and the dual bound is computed exactly; exchange rounds
  narrow the bracket);
* the mass ``nu_t(S^2)`` and the product ``gap x mass``.

The law ``gap ~ c mass^p`` and ``gap ~ c' (log t)^q`` is fitted (np.polyfit of log gap against log mass, and
against log log t) over the window t in [10^4, 10^6], fixed before the run was looked at: after the
transient in which the data become separated (F ~ 3e-3 at t = 10^3), 11 snapshots. ``gap x mass`` flat in t
means ``gap ~ c / mass``; the grid's numerical diffusion spreads mass off the F1 support directions, which would
show as ``gap x mass`` drifting upward on the grid while it stays flat for the networks (particles without
diffusion; the case has no Lagrangian run, see its description).

Run ``python -m benchmarks.implicit_bias_longtime [--file OUT.h5] [--quick]``; ``--quick`` runs the case
reduced (final time 10^3, level-1 and level-2 grids, one network of width 20) for a smoke test.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks._harness import parse_args, write_results

from wgf.analysis import margins
from wgf.app.cases import parse_case
from wgf.app.io import OutputReader
from wgf.geometry.measure import Measure

CASE = Path(__file__).resolve().parents[1] / "solvers" / "classification_longtime.toml"
#: The fit window (fixed before the results were seen).
WINDOW = (1e4, 1e6)
#: Times of the table's columns.
TABLE_TIMES = (1e2, 1e3, 1e4, 1e5, 1e6)


def _quick_case(out: Path) -> Path:
    """The bundled case reduced for a smoke test: T = 10^3, level-1 and level-2 grids, one network (m = 20)."""
    text = CASE.read_text()
    for old, new in [("final = 1e6", "final = 1e3"), ("records = 120", "records = 20"), ("level = 3", "level = 1"),
                     ("level = 4", "level = 2"), ("widths = [100, 1000]", "widths = [20]"),
                     ("seeds = [0, 1, 2]", "seeds = [0]")]:
        assert old in text, old
        text = text.replace(old, new)
    text, n = re.subn(r"snapshots = \[[^\]]*\]", "snapshots = [1.0, 10.0, 100.0, 1000.0]", text)
    assert n == 1
    text = text.replace('data = "../data/', f'data = "{(CASE.parent.parent / "data").as_posix()}/')
    path = out / "classification_longtime_quick.toml"
    path.write_text(text)
    return path


def produce(out: Path, quick: bool) -> tuple[Path, dict[str, float]]:
    """Run the case (``python -m wgf run``) into ``out``; returns the file and its wall and CPU seconds."""
    out.mkdir(parents=True, exist_ok=True)
    case = _quick_case(out) if quick else CASE
    h5 = out / ("classification_longtime_quick.h5" if quick else "classification_longtime.h5")
    c0, w0 = time.process_time(), time.perf_counter()
    import resource
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "wgf", "run", str(case), "-o", str(h5), "--force", "-q"], check=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return h5, {"wall s": time.perf_counter() - w0,
                "CPU s (user + sys)": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)}


def margin_paths(h5: Path) -> tuple[dict[str, dict[str, np.ndarray]], dict]:
    """Every run's ``t``, normalised margin and mass at its snapshots, and the case's model."""
    with OutputReader(h5) as r:
        case = parse_case(r.config, name="classification_longtime", embedded=r.data())
        model = case.model
        paths = {}
        for run in r.runs:
            t, marg, mass = [], [], []
            for key, tk, _ in r.snapshot_list(run):
                if tk <= 0:  # the initial measure: no margin to speak of (the data are not yet separated)
                    continue
                snap = r.snapshot(run, key)
                nu = Measure(snap["points"], snap["masses"])
                t.append(tk)
                marg.append(margins.normalised_margin(nu, model.features, model.y)["by_ab"])
                mass.append(nu.total_mass)
            kind = r.run_attrs(run).get("solver", "?")
            paths[run] = {"kind": kind, "t": np.array(t), "margin": np.array(marg), "mass": np.array(mass)}
    return paths, {"features": model.features, "y": model.y}


def fit(x: np.ndarray, gap: np.ndarray) -> float:
    """Slope of log gap against log x (np.polyfit), NaN with fewer than 3 positive gaps."""
    ok = (gap > 0) & np.isfinite(gap) & (x > 0)
    if ok.sum() < 3:
        return math.nan
    return float(np.polyfit(np.log(x[ok]), np.log(gap[ok]), 1)[0])


def _at(t: np.ndarray, v: np.ndarray, t0: float) -> float:
    """The value at the snapshot nearest to t0 in log t (NaN if none within a factor 1.1)."""
    k = int(np.argmin(np.abs(np.log(t / t0))))
    return float(v[k]) if abs(math.log(t[k] / t0)) < math.log(1.1) else math.nan


def groups(paths: dict) -> dict[str, list[str]]:
    """Runs grouped for the table: each PDE run alone, networks by width (seeds averaged)."""
    out: dict[str, list[str]] = {}
    for name, p in paths.items():
        if p["kind"] == "network":
            out.setdefault(name.rsplit("_s", 1)[0], []).append(name)
        else:
            out[name] = [name]
    return out


def main(argv=None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv, extra=lambda p: p.add_argument(
        "--file", type=Path, default=None, help="an existing output file of the case (else it is run)"))
    meta: dict = {}
    if args.file is None:
        h5, cost = produce(Path(args.out), args.quick)
        meta["run cost (wgf run, measured here)"] = cost
    else:
        h5 = args.file
    paths, data = margin_paths(h5)
    t0 = time.perf_counter()
    ref = margins.f1_max_margin(data["features"], data["y"], 4096, exchange=4)
    lo, up = ref.bracket
    meta["F1 max margin certified bracket [lower, upper]"] = [lo, up]
    meta["F1 bracket relative width"] = (up - lo) / up
    meta["F1 reference wall s"] = time.perf_counter() - t0
    meta["fit window t"] = list(WINDOW)

    rows, curves = [], {}
    for label, names in groups(paths).items():
        t = paths[names[0]]["t"]
        n_t = min(len(paths[n]["t"]) for n in names)
        t = t[:n_t]
        marg = np.mean([paths[n]["margin"][:n_t] for n in names], axis=0)
        mass = np.mean([paths[n]["mass"][:n_t] for n in names], axis=0)
        gap_up = 1.0 - marg / up   # against the upper end: the largest the gap can be
        gap_lo = 1.0 - marg / lo   # against the lower end: the smallest
        curves[label] = (t, gap_up, mass)
        win = (t >= WINDOW[0] * 0.999) & (t <= WINDOW[1] * 1.001)
        row = {"run": label + (f" (mean of {len(names)} seeds)" if len(names) > 1 else ""),
               "t reached": float(t[-1])}
        for tt in TABLE_TIMES:
            row[f"gap t={tt:g}"] = _at(t, gap_up, tt)
        for tt in TABLE_TIMES[1:]:
            row[f"gap x mass t={tt:g}"] = _at(t, gap_up * mass, tt)
        row["mass at T"] = float(mass[-1])
        row["gap at T against lower"] = float(gap_lo[-1])
        row["snapshots in window"] = int(win.sum())
        row["p: gap ~ mass^p"] = fit(mass[win], gap_up[win])
        row["q: gap ~ (log t)^q"] = fit(np.log(t[win]), gap_up[win])
        rows.append(row)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, (t, g, mass) in curves.items():
        ok = g > 0
        ax[0].loglog(t[ok], g[ok], label=label, lw=1.2)
        ax[1].semilogx(t[ok], (g * mass)[ok], label=label, lw=1.2)
    for a in ax:
        a.axvspan(*WINDOW, color="0.9", zorder=0)
        a.set_xlabel("t")
    ax[0].set_ylabel(r"gap $1 - \gamma(t)/\gamma_{F1}^{up}$")
    ax[1].set_ylabel(r"gap $\times$ mass $\nu_t(S^2)$")
    ax[1].set_ylim(bottom=0)
    ax[0].legend(fontsize=7)
    fig.suptitle(f"classification_longtime: gap to the certified F1 max margin [{lo:.6g}, {up:.6g}] "
                 "(shaded: fit window)", fontsize=9)
    fig.tight_layout()
    write_results("implicit_bias_longtime", rows, args, meta, fig)


if __name__ == "__main__":
    main()
