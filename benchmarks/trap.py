"""The small-m trap (ICM review §4.4, Fig 2, m = 5): a width-5 network stalls at a non-global stationary
point where min J < 0, while the PDE from full support converges.

Problem: teacher ``data/teacher_fig2.csv`` (dx = 2, m0 = 4), Gaussian inputs, population square loss,
F* = 0. Every run starts from the uniform nu_0 of mass 1 on S^2 or an i.i.d. sample of it:

* network: width 5, gradient descent on the exact population risk (``NetworkTrainer``, method "full"),
  equal layer steps, step 0.05, weights ``data/trap_m5_init.csv`` (case seed 16, found by
  ``data/make_trap.py``, i.i.d. uniform on the sphere of radius 1);
* Eulerian: icosahedral grid level 3 (642 cells), forward Euler within the CFL and energy bounds;
* Lagrangian: 642 particles at the level-3 cell centres with the cell masses, adaptive RK45
  (rtol 1e-6, atol 1e-9).

Recorded at log-spaced times: F, and min J(.|nu_t) as an upper bound (the best local descent from the 8
lowest of 2000 covering points: a point where J < 0 proves min J < 0). At the end, the certificate
(:func:`wgf.optimality_certificate`, 4096 covering points): a guaranteed lower bound on min J and the bound
on F - F*. The first table is the seed statistics: for widths 5, 10, 20 and seeds 0..S-1 (the case files'
seeds: same draws as ``data/make_trap.py``), the fraction of networks whose F(T) is above 1e-2 (trapped),
and above 1e-4.

Run ``python -m benchmarks.trap [--quick]``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks._harness import format_table, parse_args, write_results

import wgf
from wgf.app.cases import network_seeds
from wgf.analysis.certificate import local_minimum_of_potential
from wgf.models import TeacherStudent
from wgf.discretisations.network import NetworkTrainer, initial_weights
from wgf.geometry.sphere import covering_point_set

DATA = Path(__file__).resolve().parent.parent / "data"
STEP = 0.05


def min_potential(model, measure, pts) -> float:
    """Upper bound on min J: best local descent from the 8 lowest covering points (and the points)."""
    J, _ = model.potential(pts, measure)
    _, Jl = local_minimum_of_potential(model, measure, pts[np.argsort(J)[:8]])
    return float(min(J.min(), Jl.min()))


def seed_statistics(model, widths, seeds, T):
    rows = []
    for m in widths:
        F = []
        for s in seeds:
            w = initial_weights(m, 2, kind="uniform", radius=1.0, seed=network_seeds(s)[0])
            tr = NetworkTrainer(model, w, step_size=STEP)
            tr.advance(T)
            F.append(tr.energy())
        F = np.array(F)
        rows.append({"width": m, "seeds": len(seeds), "T": T, "trapped F>1e-2": int(np.sum(F > 1e-2)),
                     "F>1e-4": int(np.sum(F > 1e-4)), "median F(T)": float(np.median(F)),
                     "max F(T)": float(F.max()), "trapped seeds": " ".join(str(s) for s, f in zip(seeds, F) if f > 1e-2)})
    return rows


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv)
    quick = args.quick
    T = 100.0 if quick else 1000.0
    times = np.geomspace(0.1, T, 16 if quick else 31)
    teacher = np.loadtxt(DATA / "teacher_fig2.csv", delimiter=",")
    model = TeacherStudent(teacher)
    W0 = np.loadtxt(DATA / "trap_m5_init.csv", delimiter=",")
    pts, _ = covering_point_set(2000, 2)

    grid = wgf.icosahedral_grid(3)
    runs = {
        "network m=5": NetworkTrainer(model, W0, step_size=STEP),
        "Eulerian level 3": wgf.EulerianSolver(model, grid, grid.uniform_masses(1.0), stepper="euler"),
        "Lagrangian 642": wgf.LagrangianSolver(model, wgf.Measure(grid.points, grid.uniform_masses(1.0)),
                                               stepper="rk45", rtol=1e-6, atol=1e-9),
    }
    series = {}
    rows = []
    for name, solver in runs.items():
        t0 = time.perf_counter()
        rec = {"t": [], "F": [], "minJ": []}
        for t in times:
            solver.advance(t)
            rec["t"].append(solver.time)
            rec["F"].append(solver.energy())
            rec["minJ"].append(min_potential(model, solver.measure, pts))
        wall = time.perf_counter() - t0
        nu = solver.measure
        cert = wgf.optimality_certificate(model, nu, n_points=4096)
        row = {"run": name, "T": float(solver.time), "steps": int(solver.steps), "wall s": wall,
               "F(T/100)": float(np.interp(np.log(T / 100), np.log(rec["t"]), rec["F"])),
               "F(T)": rec["F"][-1], "min J <= (local)": rec["minJ"][-1], "min J >= (certified)": cert.min_J_lower,
               "F - F* <= (certificate)": cert.gap_bound, "mass": nu.total_mass}
        if isinstance(solver, NetworkTrainer):
            row["|m grad|"] = float(np.linalg.norm(solver.population_gradient()))
            series["weights"] = solver.weights.copy()
        else:
            row["|m grad|"] = float("nan")
        rows.append(row)
        series[name] = rec
        if name.startswith("Eulerian"):
            series["eulerian measure"] = nu

    widths, seeds = ((5, 20), range(6)) if quick else ((5, 10, 20), range(24))
    stats = seed_statistics(model, widths, list(seeds), T)

    fig = _figure(series, teacher, rows)
    meta = {"network F stalls at": rows[0]["F(T)"], "network min J upper bound": rows[0]["min J <= (local)"],
            "seed statistics": stats}
    write_results("trap", rows, args, meta=meta, figure=fig)
    print()
    print(format_table(stats))
    return rows, stats


def _figure(series, teacher, rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.4))
    for name in ("network m=5", "Eulerian level 3", "Lagrangian 642"):
        r = series[name]
        ax[0].loglog(r["t"], r["F"], label=name)
        ax[1].loglog(r["t"], -np.asarray(r["minJ"]), label=name)
    ax[0].set_xlabel("t")
    ax[0].set_ylabel("F(nu_t)   (F* = 0)")
    ax[0].set_title("objective")
    ax[0].legend()
    ax[1].set_xlabel("t")
    ax[1].set_ylabel("-min J(.|nu_t)  (from a point where J < 0)")
    ax[1].set_title("min J < 0 at the trap: not a global minimiser")
    ax[1].legend()
    # directions b/|b| at radius tanh(|a||b|) (ICM Fig 2 style), teacher directions, the PDE's limit
    a = ax[2]
    W = series["weights"]
    th = np.linspace(0, 2 * np.pi, 200)
    a.plot(np.cos(th), np.sin(th), color="0.8", lw=0.8)
    for k, (ta, *tb) in enumerate(teacher):
        tb = np.asarray(tb) / np.linalg.norm(tb)
        a.plot([0, tb[0]], [0, tb[1]], "--", color="C3" if ta > 0 else "C0", lw=1,
               label="teacher directions" if k == 0 else None)
    nu = series["eulerian measure"]
    P = nu.points
    nb = np.linalg.norm(P[:, 1:], axis=1)
    w1 = nu.masses * np.abs(P[:, 0]) * nb  # the F1 mass of each cell
    u = P[:, 1:] / np.maximum(nb, 1e-300)[:, None]
    keep = w1 > 1e-3 * w1.max()
    a.scatter(1.08 * u[keep, 0], 1.08 * u[keep, 1], s=60 * w1[keep] / w1.max(),
              c=np.where(P[keep, 0] > 0, "C3", "C0"), alpha=0.5, label="Eulerian at T: mass |a||b| by direction")
    ab = np.abs(W[:, 0]) * np.linalg.norm(W[:, 1:], axis=1)
    v = W[:, 1:] / np.linalg.norm(W[:, 1:], axis=1)[:, None] * np.tanh(ab)[:, None]
    a.scatter(v[:, 0], v[:, 1], marker="x", s=90, c=np.where(W[:, 0] > 0, "C3", "C0"),
              label="network m=5 at T (radius tanh|a||b|)")
    a.set_aspect("equal")
    a.set_xlim(-1.25, 1.25)
    a.set_ylim(-1.25, 1.25)
    a.set_title(f"trapped neurons (F = {rows[0]['F(T)']:.3g}); red a>0, blue a<0", fontsize=10)
    a.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
