"""Two discretisations of one PDE: the Eulerian (finite-volume) and Lagrangian (particle) solutions of the
teacher–student WFR flow on S^2 (dx = 2, teacher data/teacher_fig2.csv, uniform nu_0 of mass 1), started
from the same quadrature of nu_0 (particles = grid cells), compared at time T as both are refined: the sup
over 4000 Fibonacci points of |J(.|nu_E) - J(.|nu_L)|, |F(nu_E) - F(nu_L)| and the exact predictor
distance ||h_E - h_L||, with the fitted order in the grid size h, for the upwind and MUSCL schemes.

Run ``python -m benchmarks.discretisations [--quick]``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import wgf
from benchmarks._harness import fitted_slope, parse_args, write_results

TEACHER = Path(__file__).resolve().parents[1] / "data" / "teacher_fig2.csv"


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv)
    model = wgf.TeacherStudent(np.loadtxt(TEACHER, delimiter=","))
    levels = (2, 3, 4) if args.quick else (2, 3, 4, 5, 6)
    T, dt = 2.0, 0.02
    probe = wgf.geometry.sphere.fibonacci_sphere(4000)
    rows, meta = [], {"T": T, "lagrangian": f"rk4, dt = {dt}", "eulerian stepper": "ssprk3, adaptive"}
    for scheme in ("upwind", "muscl"):
        for level in levels:
            grid = wgf.icosahedral_grid(level)
            m0 = grid.uniform_masses(1.0)
            t0 = time.perf_counter()
            euler = wgf.EulerianSolver(model, grid, m0, scheme=scheme, stepper="ssprk3")
            euler.advance(T)
            t1 = time.perf_counter()
            parts = wgf.LagrangianSolver(model, wgf.Measure(grid.points, m0), stepper="rk4", dt=dt)
            parts.advance(T)
            t2 = time.perf_counter()
            rows.append({
                "scheme": scheme, "level": level, "cells": grid.size, "h": grid.h,
                "sup_dJ": wgf.sup_potential_difference(model, euler.measure, parts.measure, probe),
                "dF": abs(euler.energy() - parts.energy()),
                "predictor_distance": model.distance(euler.measure, parts.measure),
                "eulerian_s": t1 - t0, "lagrangian_s": t2 - t1,
            })
        sub = [r for r in rows if r["scheme"] == scheme]
        for key in ("sup_dJ", "dF", "predictor_distance"):
            meta[f"order {scheme} {key}"] = round(fitted_slope([r["h"] for r in sub], [r[key] for r in sub]), 3)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for scheme, marker in (("upwind", "o"), ("muscl", "s")):
        sub = [r for r in rows if r["scheme"] == scheme]
        h = np.array([r["h"] for r in sub])
        for key, ls in (("sup_dJ", "-"), ("dF", "--")):
            ax.loglog(h, [r[key] for r in sub], ls, marker=marker,
                      label=f"{scheme}: {key} (slope {meta[f'order {scheme} {key}']:.2f})")
    ax.set_xlabel("grid size h")
    ax.set_ylabel("Eulerian vs Lagrangian gap at T = 2")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    write_results("discretisations", rows, args, meta, figure=fig)


if __name__ == "__main__":
    main()
