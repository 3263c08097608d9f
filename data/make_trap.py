"""Find and store the small-m trap of the teacher–student problem (run from the repository root:
``python data/make_trap.py``; about a minute).

Setting (ICM review §4.4, Fig 2): the teacher ``data/teacher_fig2.csv`` (dx = 2, m0 = 4), Gaussian inputs,
population square loss, and a student network of width m = 5 trained by gradient descent on the exact
population risk (``NetworkTrainer``, method "full", equal layer steps, step 0.05) from the i.i.d. uniform
initialisation of radius 1 (``initial_weights(5, 2, kind="uniform", radius=1.0)``, i.e. a sample of the same
uniform nu_0 of mass 1 that the PDE starts from). The seeds are those of a case file's ``[network] seeds``:
seed s draws the weights with ``initial_weights(..., seed=wgf.app.cases.network_seeds(s)[0])``, so
``solvers/trap_m5.toml`` rebuilds the stored weights from its seed.

The search scans s = 0, 1, 2, ... and stops at the first seed whose network stalls at a clearly positive
value: F(1000) > 1e-2 (F(0-measure) = 1.61, and the PDE from the uniform nu_0 reaches ~1e-4 by then), with
F(1000) within 1e-8 relative of F(500) and a point where J(.|nu) < -1e-2 (a certified negative value: any
point with J < 0 is an upper bound on min J). Which seeds trap depends on the draw; the stored weights are
those of the first one found, written to ``data/trap_m5_init.csv`` with the seed in the header.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wgf.app.cases import network_seeds  # noqa: E402
from wgf.analysis.certificate import local_minimum_of_potential  # noqa: E402
from wgf.models import TeacherStudent  # noqa: E402
from wgf.discretisations.network import NetworkTrainer, initial_weights  # noqa: E402
from wgf.geometry.sphere import covering_point_set  # noqa: E402

WIDTH = 5
STEP = 0.05
T_FINAL = 1000.0
F_TRAP = 1e-2
J_TRAP = -1e-2


def trap_weights(seed: int) -> np.ndarray:
    """Initial weights (5, 3) of the case seed ``seed`` (what ``[network] seeds = [seed]`` builds)."""
    return initial_weights(WIDTH, 2, kind="uniform", radius=1.0, seed=network_seeds(seed)[0])


def min_potential(model, measure, n_points: int = 2000) -> float:
    """An upper bound on min J(.|nu): the best of local descents from the 8 lowest covering points."""
    pts, _ = covering_point_set(n_points, model.dim)
    J, _ = model.potential(pts, measure)
    _, Jl = local_minimum_of_potential(model, measure, pts[np.argsort(J)[:8]])
    return float(min(J.min(), Jl.min()))


def classify(model, seed: int) -> dict:
    tr = NetworkTrainer(model, trap_weights(seed), step_size=STEP)
    tr.advance(T_FINAL / 2)
    F_half = tr.energy()
    tr.advance(T_FINAL)
    F = tr.energy()
    return {"seed": seed, "F_half": F_half, "F": F, "min_J": min_potential(model, tr.measure)}


def main(max_seed: int = 200) -> int:
    teacher = np.loadtxt(ROOT / "data" / "teacher_fig2.csv", delimiter=",")
    model = TeacherStudent(teacher)
    for seed in range(max_seed):
        r = classify(model, seed)
        trapped = r["F"] > F_TRAP and abs(r["F"] - r["F_half"]) <= 1e-8 * r["F"] and r["min_J"] < J_TRAP
        print(f"seed {seed:3d}: F(500) = {r['F_half']:.4e}, F(1000) = {r['F']:.4e}, min J <= {r['min_J']:.3e}"
              f"{'  <- trapped' if trapped else ''}")
        if trapped:
            np.savetxt(ROOT / "data" / "trap_m5_init.csv", trap_weights(seed), delimiter=",", fmt="%.17g",
                       header=f"a,b1,b2  initial weights of the width-5 trap, case seed {seed} "
                              f"(initial_weights(5, 2, kind='uniform', radius=1, seed=network_seeds({seed})[0]); "
                              "see data/make_trap.py)")
            return seed
    raise SystemExit(f"no seed below {max_seed} traps")


if __name__ == "__main__":
    main()
