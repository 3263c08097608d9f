"""Speed-up of ``wgf sweep`` from 1 to 2 workers on a CPU-bound sweep.

The sweep: a teacher–student case on S^2 (teacher data/teacher_fig2.csv) with one Lagrangian run from
N i.i.d. uniform particles (RK4, fixed step), eight runs that differ by the particles' seed
(``"lagrangian.seed" = [0, ..., 7]``). It runs twice through :func:`wgf.app.sweep.run_sweep`, on a LocalCluster
of 1 and then of 2 worker processes, each worker single-threaded (``NUMBA_NUM_THREADS``,
``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` = 1: so 2 workers use the 2 cores). The wall
time includes starting the cluster and merging; the sum of the runs' own compute times is shown beside it.
Both sweeps must give the same merged results (bit for bit: the runs are deterministic).

The machine is shared, and another process holding one of the 2 cores for a few seconds halves a 2-worker
sweep's speed, so the two sweeps alternate over ``--rounds`` rounds (1 then 2 workers, 2 then 1, ...) and
the reported wall time of each is the median over rounds; the speed-up of each round is kept beside it.

Run ``python -m benchmarks.sweep [--quick] [--rounds R]`` (default 3 rounds, ``--quick`` 1).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

import h5py
import numpy as np

from benchmarks._harness import parse_args, write_results

from wgf.app.sweep import load_sweep, run_sweep

ROOT = Path(__file__).resolve().parent.parent

CASE = """title = "sweep benchmark: Lagrangian particles, teacher-student S^2"
[model]
type = "teacher_student"
teacher = "{teacher}"
[time]
final = {final}
records = 5
snapshots = 1
[lagrangian]
quadrature = "random"
n = {n}
seed = 0
stepper = "rk4"
dt = 0.01
"""


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv, extra=lambda p: p.add_argument(
        "--rounds", type=int, default=None, help="rounds of the 1- and 2-worker sweeps (default 3, quick 1)"))
    runs, n, final = (4, 400, 0.5) if args.quick else (8, 3000, 3.0)
    rounds = args.rounds or (1 if args.quick else 3)
    if rounds < 1:
        raise ValueError(f"--rounds must be >= 1, got {rounds}")
    walls, computes, results = {1: [], 2: []}, {1: [], 2: []}, {}
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="wgf-sweep-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "case.toml").write_text(CASE.format(teacher=(ROOT / "data" / "teacher_fig2.csv").as_posix(),
                                                   final=final, n=n))
        (tmp / "sweep.toml").write_text('case = "case.toml"\n[parameters]\n"lagrangian.seed" = '
                                        f"{list(range(runs))}\n")
        sweep = load_sweep(tmp / "sweep.toml")
        for k in range(rounds):
            for workers in ((1, 2) if k % 2 == 0 else (2, 1)):
                out = tmp / f"w{workers}_r{k}.h5"
                res = run_sweep(sweep, out, workers=workers, threads_per_run=1)
                if res.failed:
                    raise RuntimeError(f"runs failed: {res.failed}")
                with h5py.File(out, "r") as f:
                    energies = [f[f"runs/{r.name}/lagrangian/energy"][()] for r in sweep.runs]
                results.setdefault(workers, energies)
                if not all(np.array_equal(a, b) for a, b in zip(results[workers], energies)):
                    raise AssertionError(f"two sweeps on {workers} worker(s) gave different results")
                walls[workers].append(res.wall_seconds)
                computes[workers].append(sum(r["wall"] for r in res.records))
    same = all(np.array_equal(a, b) for a, b in zip(results[1], results[2]))
    rows = []
    for workers in (1, 2):
        wall = statistics.median(walls[workers])
        rows.append({"workers": workers, "runs": runs, "rounds": rounds, "wall_s": wall,
                     "sum_run_compute_s": statistics.median(computes[workers]),
                     "runs_per_minute": 60 * runs / wall})
    for r in rows:
        r["speedup_vs_1"] = rows[0]["wall_s"] / r["wall_s"]
    meta = {"sweep": f"{runs} Lagrangian runs, N = {n} particles on S^2, RK4 dt = 0.01 to T = {final}",
            "worker_threads": "NUMBA_NUM_THREADS = OMP/OPENBLAS/MKL_NUM_THREADS = 1 per worker",
            "same_results_1_vs_2_workers": same, "speedup_1_to_2_workers": rows[1]["speedup_vs_1"],
            "wall_s_per_round": {w: [round(v, 2) for v in walls[w]] for w in (1, 2)},
            "speedup_per_round": [round(a / b, 3) for a, b in zip(walls[1], walls[2])],
            "load_average_start_end": [round(load0[0], 2), round(os.getloadavg()[0], 2)],
            "cpu_count": os.cpu_count()}
    if not same:
        raise AssertionError("the merged results of 1 and 2 workers differ")
    write_results("sweep", rows, args, meta=meta)
    return rows


if __name__ == "__main__":
    main()
