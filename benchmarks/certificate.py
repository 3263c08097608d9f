"""Optimality certificate along the Eulerian flow of the default case (teacher–student, dx = 2, teacher
data/teacher_fig2.csv, uniform initial measure of mass 1, alpha = 4, beta = 1), its floor on each grid,
the covering's share of it, and the minimum cell density along the flow (full support).

``python -m benchmarks.certificate``: flows on icosahedral levels 2..4 to t = 10^5 and level 5 to
t = 3 10^4 (forward Euler, adaptive step); floors at levels 1..4; covering studies at level 4.
``--quick``: levels 2, 3 to t = 10^3, floors at levels 1..3.

What is measured. The certificate is the bound ``int J dnu_t - min(0, min J) nu*(S^2) >= F(nu_t) - F*``
of :mod:`wgf.analysis.certificate` with F* = 0 (the teacher nu* is a minimiser, of mass 8). min J is bounded below
with the "homogeneous" method: J(a, b) = a f(b) for this model, so min J over S^2 is minus the maximum of
|J((1, u)/sqrt2)| over u in the circle, covered by 2^18 equispaced points (radius 1.2e-5; 2^20 for the
floors) with the residual Lipschitz bound sqrt(R(nu)).

The floor of a grid is the certificate at the exact minimiser of F over measures on the grid's cell
centres (:func:`wgf.analysis.reference.grid_minimiser`, an active-set QP): the grid flow from a full-support
initial measure converges to such a minimiser, and all of them have the same potential J (F is strictly
convex in the predictor), hence the same floor -min(0, min J_h) nu*(S^2) (int J_h dnu_h = 0).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks._harness import fitted_slope, parse_args, write_results
from wgf import optimality_certificate
from wgf.discretisations.eulerian import EulerianSolver
from wgf.geometry.grid import icosahedral_grid
from wgf.models import TeacherStudent
from wgf.analysis.reference import grid_minimiser

TEACHER = Path(__file__).resolve().parents[1] / "data" / "teacher_fig2.csv"
#: Circle covering points: along the flows, and for the floors (where the covering's share must be small).
COVER, COVER_FLOOR = 2**18, 2**20
THRESHOLDS = (1e-15, 1e-30, 1e-60, 1e-120, 1e-240)


def model() -> TeacherStudent:
    return TeacherStudent(np.loadtxt(TEACHER, delimiter=","))


def flow(level: int, T: float, per_decade: int):
    m = model()
    g = icosahedral_grid(level)
    s = EulerianSolver(m, g, stepper="euler")
    times = np.concatenate([[0.0], np.geomspace(0.1, T, int(round(per_decade * np.log10(T / 0.1))) + 1)])
    hist, wall = [], 0.0
    for t in times:
        a = time.perf_counter()
        s.advance(float(t))
        wall += time.perf_counter() - a
        c = optimality_certificate(m, s.measure, n_points=COVER, local_starts=0)
        d = s.diagnostics()
        hist.append({"level": level, "t": float(t), "F": c.energy, "certificate": c.gap_bound,
                     "min_J_lower": c.min_J_lower, "min_J_grid": c.min_J_grid, "min_J_cells": d["min_J"],
                     "integral_J": c.integral_J, "mass": d["mass"],
                     "min_density": float(np.min(s.masses / g.volumes)), "min_mass": d["min_mass"]})
    print(f"level {level}: t = {T:g} in {wall:.1f} s, {s.steps} steps; F = {hist[-1]['F']:.3e}, "
          f"certificate = {hist[-1]['certificate']:.3e}, min density = {hist[-1]['min_density']:.2e}", flush=True)
    return hist, wall, s.steps, s.measure


def floor(level: int, cover: int = COVER_FLOOR) -> dict:
    m = model()
    g = icosahedral_grid(level)
    t0 = time.perf_counter()
    gm = grid_minimiser(m, g.points)
    wall = time.perf_counter() - t0
    c = optimality_certificate(m, gm.measure, n_points=cover, local_starts=0)
    return {"level": level, "cells": g.size, "h": g.h, "F_h": gm.energy, "floor": c.gap_bound,
            "min J_h (lower bound)": c.min_J_lower, "min J_h (grid of the covering)": c.min_J_grid,
            "int J_h dnu_h": c.integral_J, "kkt residual": gm.kkt_residual, "atoms": gm.measure.size,
            "mass": gm.measure.total_mass, "QP s": wall, "measure": gm.measure}


def covering_study(measure, label: str, ns_circle, ns_sphere) -> list[dict]:
    m = model()
    rows = []
    for n in ns_circle:
        c = optimality_certificate(m, measure, n_points=n, local_starts=0, method="homogeneous")
        rows.append({"state": label, "method": "homogeneous (circle)", "points": n, "radius": c.covering_radius,
                     "certificate": c.gap_bound, "min_J_lower": c.min_J_lower, "L": c.lipschitz})
    for n in ns_sphere:
        c = optimality_certificate(m, measure, n_points=n, local_starts=0, method="lipschitz")
        rows.append({"state": label, "method": "lipschitz (S^2)", "points": n, "radius": c.covering_radius,
                     "certificate": c.gap_bound, "min_J_lower": c.min_J_lower, "L": c.lipschitz})
    return rows


def threshold_times(hist: list[dict]) -> dict:
    out = {}
    for thr in THRESHOLDS:
        hit = [e["t"] for e in hist if e["min_density"] < thr]
        out[f"{thr:.0e}"] = hit[0] if hit else None
    return out


def tail_exponent(hist: list[dict], decades: float = 1.0) -> float:
    t = np.array([e["t"] for e in hist])
    c = np.array([e["certificate"] for e in hist])
    sel = t >= t[-1] / 10**decades
    return fitted_slope(t[sel], c[sel])


def make_figure(flows: dict, floors: list[dict], cov: list[dict]):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 2, figsize=(13, 10))
    fl = {r["level"]: r for r in floors}
    for i, (level, hist) in enumerate(flows.items()):
        t = np.array([e["t"] for e in hist])[1:]
        ax[0, 0].loglog(t, [e["certificate"] for e in hist][1:], "-", color=f"C{i}", label=f"certificate, level {level}")
        ax[0, 0].loglog(t, [e["F"] for e in hist][1:], "--", color=f"C{i}", lw=0.9, label=f"F(nu_t), level {level}")
        if level in fl:
            ax[0, 0].axhline(fl[level]["floor"], color=f"C{i}", ls=":", lw=1)
        ax[1, 1].loglog(t, [e["min_density"] for e in hist][1:], "-", color=f"C{i}", label=f"level {level}")
    ax[0, 0].set_xlabel("t")
    ax[0, 0].set_title("certificate (bound on F - F*) and F along the flow;\ndotted: the grid's floor (t -> inf)")
    ax[0, 0].legend(fontsize=7, ncol=2)

    h = np.array([r["h"] for r in floors])
    for key, mk in (("floor", "o-"), ("F_h", "s--")):
        y = np.array([r[key] for r in floors])
        ax[0, 1].loglog(h, y, mk, label=f"{key} (slope {fitted_slope(h, y):.2f})")
    ax[0, 1].set_xlabel("grid size h (largest centre distance)")
    ax[0, 1].set_title("floor of the certificate and min F over the grid, against h")
    ax[0, 1].legend(fontsize=8)

    for i, (state, method) in enumerate(sorted({(r["state"], r["method"]) for r in cov})):
        rr = [r for r in cov if r["state"] == state and r["method"] == method]
        ax[1, 0].loglog([r["points"] for r in rr], [r["certificate"] for r in rr], "o-", ms=3, color=f"C{i}",
                        label=f"{state}: {method}")
    lv = int(cov[0]["state"].split("level ")[1].rstrip(")"))
    ax[1, 0].axhline(fl[lv]["floor"], color="k", ls=":", lw=1, label=f"level-{lv} floor (2^20 circle points)")
    ax[1, 0].set_xlabel("covering points")
    ax[1, 0].set_title(f"certificate against the covering size, level {lv}")
    ax[1, 0].legend(fontsize=7)

    ax[1, 1].set_xlabel("t")
    ax[1, 1].set_ylabel("min over cells of m_i / |V_i|")
    ax[1, 1].set_title("full support: minimum cell density along the flow")
    ax[1, 1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv)
    if args.quick:
        plan, floor_levels, per_decade = {2: 1e3, 3: 1e3}, (1, 2, 3), 6
    else:
        plan, floor_levels, per_decade = {2: 1e5, 3: 1e5, 4: 1e5, 5: 3e4}, (1, 2, 3, 4), 10
    floors = [floor(k) for k in floor_levels]
    for r in floors:
        print({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in r.items() if k != "measure"}, flush=True)
    flows, finals, runs = {}, {}, []
    for level, T in plan.items():
        hist, wall, steps, finals[level] = flow(level, T, per_decade)
        flows[level] = hist
        last = hist[-1]
        fl = next((r for r in floors if r["level"] == level), None)
        runs.append({"level": level, "cells": 10 * 4**level + 2, "T": T, "steps": steps, "run s": wall,
                     "F(T)": last["F"], "certificate(T)": last["certificate"],
                     "certificate(T)/F(0)": last["certificate"] / hist[0]["F"],
                     "min J cells(T)": last["min_J_cells"], "min J lower(T)": last["min_J_lower"],
                     "int J(T)": last["integral_J"], "mass(T)": last["mass"],
                     "floor": fl["floor"] if fl else float("nan"), "F_h": fl["F_h"] if fl else float("nan"),
                     "tail exponent": tail_exponent(hist), "min density(T)": last["min_density"]})
    cov_level = 3 if args.quick else 4
    fl = next(r for r in floors if r["level"] == cov_level)
    ns_circle = [2**k for k in range(4, 13 if args.quick else 21, 2)]
    ns_sphere = [2**k for k in range(8, 13 if args.quick else 17, 2)]
    cov = covering_study(fl["measure"], f"grid minimiser (level {cov_level})", ns_circle, ns_sphere)
    cov += covering_study(finals[cov_level], f"flow at t = {plan[cov_level]:g} (level {cov_level})", ns_circle,
                          ns_sphere)
    thresholds = {level: threshold_times(h) for level, h in flows.items()}
    h = [r["h"] for r in floors]
    meta = {
        "case": "teacher-student dx = 2, data/teacher_fig2.csv, uniform mass 1, alpha = 4, beta = 1, euler",
        "certificate": f"homogeneous method, {COVER} circle points ({COVER_FLOOR} for the floors)",
        "floor slope vs h": fitted_slope(h, [r["floor"] for r in floors]),
        "F_h slope vs h": fitted_slope(h, [r["F_h"] for r in floors]),
        "floors": [{k: v for k, v in r.items() if k != "measure"} for r in floors],
        "covering study": cov,
        "first record time with min density below": thresholds,
        "flows": {lv: [{k: e[k] for k in ("t", "F", "certificate", "min_J_lower", "min_J_cells", "min_density",
                                          "mass")} for e in hist] for lv, hist in flows.items()},
    }
    fig = make_figure(flows, floors, cov)
    write_results("certificate", runs, args, meta=meta, figure=fig)


if __name__ == "__main__":
    main()
