"""The Voronoi grids of S^3 (``wgf.hopf_grid``): construction cost against cells, and the finite-volume
orders on them.

1. Construction: wall time of ``wgf.hopf_grid(cells)`` (Qhull in R^4, faces, the compiled cell-volume
   quadrature) and its peak memory, each size in a fresh subprocess (peak resident set size minus the
   resident size after imports and a 200-cell warm-up, which compiled the kernels); fitted exponents
   against the number of cells. Beside them: the relative error of the volume sum against 2 pi^2, faces
   per cell, the volume ratio and the centroid offset (relative to h) of the mesh.
2. L1 orders: the linear-potential flow (J = -<e, eta>, e = (1, 2, 3, 4)/sqrt(30), alpha = 4, beta = 1,
   uniform nu_0) to T = 0.25, SSPRK3 with dt = 0.2 h (no step limited by the bounds), upwind and MUSCL;
   L1 error of the cell masses against the exact ones (wgf.analysis.exact, cell quadrature with 2 points
   per direction on every fan tetrahedron); slopes of log(error) against log(h) (h the largest neighbour
   distance) and against log(cells^(-1/3)), over all sizes and over the finest four.
3. Grid against particles: EmpiricalReLU with 200 two-dimensional Gaussian inputs plus a bias (neurons on
   S^3), square loss, a two-neuron teacher with biases; the Eulerian solution (SSPRK3, adaptive) and the
   Lagrangian one (RK4, dt = 0.02) from the same grid quadrature of the uniform nu_0 to T = 2;
   sup over 2000 probe points of |J_grid - J_particles| and |F_grid - F_particles| against h.

Run ``python -m benchmarks.mesh_s3 [--quick]``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import numpy as np

from benchmarks._harness import fitted_slope, parse_args, write_results

import wgf
from wgf.analysis.exact import linear_flow_density

E3 = np.array([1.0, 2.0, 3.0, 4.0]) / math.sqrt(30.0)
T_EXACT = 0.25
COURANT = 0.2

_CONSTRUCT = r"""
import json, math, resource, sys, time
import wgf
wgf.hopf_grid(200)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
g = wgf.hopf_grid(int(sys.argv[1]))
t = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
q = g.quality()
print(json.dumps({"cells": g.size, "seconds": t, "peak_MiB": (peak - base) / 1024.0,
                  "volume_sum_rel_error": g.volumes.sum() / (2 * math.pi**2) - 1,
                  "faces_per_cell": 2 * g.edges.shape[0] / g.size, "h": g.h,
                  "volume_ratio": q["volume_ratio"], "centroid_offset": q["centroid_offset"]}))
"""


def construction(sizes):
    rows = []
    for cells in sizes:
        out = subprocess.run([sys.executable, "-c", _CONSTRUCT, str(cells)], capture_output=True, text=True,
                             check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append({"target": cells, **r})
        print(rows[-1], flush=True)
    return rows


def l1_orders(sizes):
    rows = []
    for cells in sizes:
        g = wgf.hopf_grid(cells)
        m0, mT = g.integrate(lambda p: np.stack([linear_flow_density(p, t, E3) for t in (0.0, T_EXACT)], 1), 2).T
        for scheme in ("upwind", "muscl"):
            dt = COURANT * g.h
            s = wgf.EulerianSolver(wgf.LinearPotential(E3), g, m0, scheme=scheme, stepper="ssprk3", dt=dt,
                                   interaction_memory=0)
            t = time.perf_counter()
            s.advance(T_EXACT)
            rows.append({"scheme": scheme, "cells": g.size, "h": g.h, "steps": s.steps, "rejected": s.rejected,
                         "L1_error": float(np.abs(s.masses - mT).sum()), "solve_s": time.perf_counter() - t})
            print(rows[-1], flush=True)
    return rows


def grid_vs_particles(sizes, T=2.0):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 2))
    y = np.maximum(X @ [1.0, -0.5] + 0.3, 0.0) - 0.8 * np.maximum(X @ [0.2, 1.0] - 0.2, 0.0)
    model = wgf.EmpiricalReLU(X, y, loss="square", bias=True)
    probe = wgf.geometry.sphere.sample_uniform(2000, 3, 1)
    rows = []
    for cells in sizes:
        g = wgf.hopf_grid(cells)
        m0 = g.uniform_masses(1.0)
        for scheme in ("upwind", "muscl"):
            euler = wgf.EulerianSolver(model, g, m0, scheme=scheme, stepper="ssprk3")
            euler.advance(T)
            parts = wgf.LagrangianSolver(model, wgf.Measure(g.points, m0), stepper="rk4", dt=0.02)
            parts.advance(T)
            rows.append({"scheme": scheme, "cells": g.size, "h": g.h,
                         "sup_dJ": wgf.sup_potential_difference(model, euler.measure, parts.measure, probe),
                         "dF": abs(euler.energy() - parts.energy())})
            print(rows[-1], flush=True)
    return rows


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv)
    build_sizes = (1000, 3000) if args.quick else (1000, 3000, 10000, 30000, 100000)
    order_sizes = (1000, 2000) if args.quick else (1000, 2000, 4000, 8000, 16000, 32000)
    gap_sizes = (500, 1000) if args.quick else (500, 1000, 2000, 4000)

    build = construction(build_sizes)
    n = [r["cells"] for r in build]
    meta = {"time_exponent": fitted_slope(n, [r["seconds"] for r in build]),
            "memory_exponent": fitted_slope(n, [max(r["peak_MiB"], 1e-3) for r in build])}
    write_results("mesh_s3_construction", build, args, meta)

    orders = l1_orders(order_sizes)
    summary = []
    for scheme in ("upwind", "muscl"):
        rs = [r for r in orders if r["scheme"] == scheme]
        for label, sub in (("all", rs), ("finest 4", rs[-4:])):
            if len(sub) < 2 or (label != "all" and len(rs) <= 4):
                continue
            summary.append({"scheme": scheme, "sizes": label,
                            "cells": f"{sub[0]['cells']}..{sub[-1]['cells']}",
                            "slope_vs_h": fitted_slope([r["h"] for r in sub], [r["L1_error"] for r in sub]),
                            "slope_vs_cells^-1/3": fitted_slope([r["cells"] ** (-1 / 3) for r in sub],
                                                                [r["L1_error"] for r in sub])})
    write_results("mesh_s3_orders", orders, args, {"slopes": summary})
    for r in summary:
        print(r)

    gaps = grid_vs_particles(gap_sizes)
    gap_meta = {}
    for scheme in ("upwind", "muscl"):
        rs = [r for r in gaps if r["scheme"] == scheme]
        gap_meta[scheme] = {"slope_sup_dJ": fitted_slope([r["h"] for r in rs], [r["sup_dJ"] for r in rs]),
                            "slope_dF": fitted_slope([r["h"] for r in rs], [r["dF"] for r in rs])}
    write_results("mesh_s3_grid_vs_particles", gaps, args, gap_meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
