"""Eulerian grid solver: teacher–student to T = 1000 against the level (wall time, steps, cell-steps per
second, fitted cost exponent), and (``--convergence``) the exact-solution convergence orders of the
finite-volume schemes.

``python -m benchmarks.eulerian`` (levels 3..5 to T = 1000 with the solver's default interaction, which
for this model is the exact O(n log n) planar kernel at every stage, and at level 4 the precomputed dense
matrix in float64 and float32 and the ssprk2 stepper for comparison); ``--convergence`` adds the orders on S^1
n = 64..1024 and S^2 levels 3..6, which ``python -m benchmarks.rates`` also measures (with every other
order of wgf), so the suite runs them once, there; ``--quick`` runs levels 2..3 to T = 100 and the small
convergence tables.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks._harness import fitted_slope, parse_args, write_results
from wgf.discretisations.eulerian import EulerianSolver
from wgf.analysis.exact import linear_flow_masses
from wgf.geometry.grid import circle_grid, icosahedral_grid
from wgf.models import LinearPotential, TeacherStudent

TEACHER = Path(__file__).resolve().parents[1] / "data" / "teacher_fig2.csv"


def teacher_student_run(level: int, T: float, stepper: str, dtype: str, interaction: str = "auto") -> dict:
    model = TeacherStudent(np.loadtxt(TEACHER, delimiter=","))
    t0 = time.perf_counter()
    grid = icosahedral_grid(level)
    t1 = time.perf_counter()
    solver = EulerianSolver(model, grid, stepper=stepper, interaction=interaction, interaction_dtype=dtype)
    t2 = time.perf_counter()
    F0, Q0 = solver.energy(), solver.measure.balance()
    solver.advance(T)
    t3 = time.perf_counter()
    d = solver.diagnostics()
    used = "dense " + dtype if solver.dense is not None else "kernel"
    return {"level": level, "cells": grid.size, "stepper": stepper, "interaction": used,
            "setup s": t2 - t0, "run s": t3 - t2, "total s": t3 - t0, "steps": solver.steps,
            "rejected": solver.rejected, "cell-steps/s": grid.size * solver.steps / (t3 - t2),
            "F(T)/F(0)": d["energy"] / F0, "min J": d["min_J"], "mass": d["mass"], "Q drift": d["Q"] - Q0,
            "min mass": d["min_mass"], "grid s": t1 - t0}


def convergence(grids, direction, scheme, stepper, label, courant=0.25, T=0.5) -> tuple[list[dict], float]:
    rows, hs, errs = [], [], []
    for name, g in grids:
        m0 = linear_flow_masses(g, 0.0, direction)
        s = EulerianSolver(LinearPotential(direction), g, m0, scheme=scheme, stepper=stepper, dt=courant * g.h,
                           interaction_memory=0)
        t = time.perf_counter()
        s.advance(T)
        wall = time.perf_counter() - t
        err = float(np.abs(s.masses - linear_flow_masses(g, T, direction)).sum())
        hs.append(g.h)
        errs.append(err)
        rows.append({"case": label, "grid": name, "cells": g.size, "h": g.h, "steps": s.steps, "L1 error": err,
                     "run s": wall})
    slope = fitted_slope(hs, errs)
    for r in rows:
        r["fitted order"] = slope
    return rows, slope


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv, extra=lambda p: p.add_argument(
        "--convergence", action="store_true", help="also measure the convergence orders (see benchmarks.rates)"))
    levels, T = ((2, 3), 100.0) if args.quick else ((3, 4, 5), 1000.0)
    rows = [teacher_student_run(level, T, "euler", "float64") for level in levels]
    if not args.quick:
        rows.append(teacher_student_run(4, T, "euler", "float64", interaction="dense"))
        rows.append(teacher_student_run(4, T, "euler", "float32", interaction="dense"))
        rows.append(teacher_student_run(4, T, "ssprk2", "float64"))
    for r in rows:
        print({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in r.items()}, flush=True)
    base = [r for r in rows[:len(levels)]]
    exponent = fitted_slope([r["cells"] for r in base], [r["run s"] for r in base])
    meta = {"T": T, "cost exponent (run time vs cells)": exponent,
            "steps exponent": fitted_slope([r["cells"] for r in base], [r["steps"] for r in base])}
    write_results("eulerian_teacher_student", rows, args, meta=meta)
    if args.convergence:
        convergence_tables(args)


def convergence_tables(args):
    e1 = np.array([np.cos(0.3), np.sin(0.3)])
    e2 = np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)
    ns = (64, 128, 256) if args.quick else (64, 128, 256, 512, 1024)
    lv = (2, 3, 4) if args.quick else (3, 4, 5, 6)
    circ = [(f"n={n}", circle_grid(n)) for n in ns]
    ico = [(f"level {k}", icosahedral_grid(k)) for k in lv]
    crows, slopes = [], {}
    for label, grids, e, scheme, stepper in (
            ("S^1 upwind/euler", circ, e1, "upwind", "euler"),
            ("S^1 muscl/ssprk2", circ, e1, "muscl", "ssprk2"),
            ("S^2 upwind/euler", ico, e2, "upwind", "euler"),
            ("S^2 muscl/ssprk2", ico, e2, "muscl", "ssprk2")):
        r, slopes[label] = convergence(grids, e, scheme, stepper, label)
        crows += r
    lloyd = [(f"level {k}, lloyd 4", icosahedral_grid(k, lloyd=4)) for k in lv]
    r, slopes["S^2 muscl/ssprk2, centroidal (lloyd 4)"] = convergence(lloyd, e2, "muscl", "ssprk2",
                                                                      "S^2 muscl centroidal")
    crows += r
    quality = {name: g.quality() for name, g in ico + lloyd}
    write_results("eulerian_convergence", crows, args, meta={"slopes": slopes, "mesh quality": quality})


if __name__ == "__main__":
    main()
