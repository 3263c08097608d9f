"""Online SGD per-step time, wgf against a PyTorch CPU loop doing the same arithmetic, and the Lagrangian
solver's particle-steps per second against the number of particles N.

SGD (teacher–student, ICM review Fig 3 sizes: d = 100, teacher m0 = 10, batch 100): each step takes a
fresh Gaussian batch (float64 in both), the teacher's outputs, the student's predictions, the residuals
``g = (h - y)/B`` and the update ``w_j <- w_j - gamma m grad_{w_j}`` with equal layer steps. Both draw the
inputs in blocks of 20 batches (one generator call, the teacher's outputs for the whole block) and step
through the block batch by batch. wgf: ``NetworkTrainer(method="sgd")`` (NumPy PCG64 generator, its
normals drawn by a compiled loop, the same numbers as NumPy's call; the Numba ReLU-feature kernels, one
compiled serial loop per block below 2e6 multiply-adds per step); PyTorch: the
natural float64 loop in w-space (``torch.randn`` with a seeded generator, matmuls, relu, masks). Both
updates are checked to agree on a common batch before timing.

Timing method (fair under load): every measurement runs in its own fresh subprocess, so that Numba's
OpenMP workers and PyTorch's threads never share a process. Four configurations, wgf with Numba on 1 or
2 threads and PyTorch with ``torch.set_num_threads`` 1 or 2, each time every width (after a warm-up, the
median of 5 timed chunks of steps); a round runs the four configurations one after the other, in an order
that rotates from round to round, and the reported time of a configuration is the median over rounds.
The speed-up quoted is best PyTorch configuration / best wgf configuration at each width.

Lagrangian: ``LagrangianSolver`` (RK4, fixed step) on the teacher–student population model, particles
i.i.d. uniform; one step costs 4 potential evaluations. On S^100 each is N x (N + m0) kernel terms, so
particle-steps per second should fall like N^{-1} once the kernel dominates; on S^2 (two-dimensional
inputs) the model uses the exact O(N log N) planar algorithm, so they should stay nearly flat in N.

Run ``python -m benchmarks.networks [--quick] [--rounds R]``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks._harness import fitted_slope, parse_args, write_results

import wgf
from wgf.discretisations.lagrangian import LagrangianSolver
from wgf.discretisations.network import NetworkTrainer, initial_weights

ROOT = Path(__file__).resolve().parent.parent
BLOCK_BATCHES = 20


def _teacher(dx, m0, seed=0):
    rng = np.random.default_rng(seed)
    b = wgf.geometry.sphere.sample_uniform(m0, dx - 1, rng)
    return np.column_stack([rng.choice([-1.0, 1.0], m0), b])


class TorchSGD:
    """The PyTorch CPU peer: the same online SGD step, float64, in w-space, inputs drawn in blocks of
    ``BLOCK_BATCHES`` batches with the teacher's outputs computed per block."""

    def __init__(self, teacher, W0, step_size, batch_size, seed=0):
        import torch

        self.torch = torch
        self.Ta = torch.tensor(teacher[:, 0])
        self.Tb = torch.tensor(teacher[:, 1:])
        self.W = torch.tensor(W0)
        self.gamma = step_size
        self.B = batch_size
        self.m = W0.shape[0]
        self.gen = torch.Generator().manual_seed(seed)
        self._X = self._y = None
        self._pos = BLOCK_BATCHES

    def gradient(self, X, y=None):
        """m grad_{w_j} of (1/2B) sum_i (h(x_i) - y_i)^2, shape (m, d+1)."""
        torch = self.torch
        if y is None:
            y = torch.relu(X @ self.Tb.T) @ self.Ta
        a, b = self.W[:, 0], self.W[:, 1:]
        Z = X @ b.T
        H = torch.relu(Z)
        g = (H @ a / self.m - y) / X.shape[0]
        ga = H.T @ g
        gb = a[:, None] * (((Z > 0).to(X.dtype) * g[:, None]).T @ X)
        return torch.cat([ga[:, None], gb], dim=1)

    def step(self, n):
        torch = self.torch
        d = self.Tb.shape[1]
        B = self.B
        with torch.no_grad():
            for _ in range(n):
                if self._pos == BLOCK_BATCHES:
                    self._X = torch.randn(BLOCK_BATCHES * B, d, dtype=torch.float64, generator=self.gen)
                    self._y = torch.relu(self._X @ self.Tb.T) @ self.Ta
                    self._pos = 0
                s = self._pos * B
                self.W = self.W - self.gamma * self.gradient(self._X[s:s + B], self._y[s:s + B])
                self._pos += 1


def _steps_per_chunk(m, quick):
    base = 60 if quick else 400
    return max(20, int(base / max(1.0, m / 30)))


def _sgd_worker(spec: dict) -> dict:
    """Runs in a fresh subprocess: time one configuration (``impl`` wgf or torch, ``threads``) at every
    width of ``spec["widths"]``; returns microseconds per step (median of the timed chunks) by width."""
    impl, threads, d, batch = spec["impl"], spec["threads"], spec["d"], spec["batch"]
    teacher = _teacher(d, 10)
    out = {}
    if impl == "torch":
        import torch

        torch.set_num_threads(threads)
    else:
        import numba

        numba.set_num_threads(threads)
        model = wgf.TeacherStudent(teacher)
    for m in spec["widths"]:
        W0 = initial_weights(m, d, kind="uniform", radius=1.0, seed=m)
        if impl == "torch":
            runner = TorchSGD(teacher, W0, 0.005, batch, seed=1)
        else:
            runner = NetworkTrainer(model, W0, step_size=0.005, method="sgd", batch_size=batch, seed=1)
        n = _steps_per_chunk(m, spec["quick"])
        runner.step(n)  # warm-up: compilation / cache loading, allocations, first blocks
        chunks = []
        for _ in range(spec["chunks"]):
            t0 = time.perf_counter()
            runner.step(n)
            chunks.append((time.perf_counter() - t0) / n)
        out[str(m)] = 1e6 * statistics.median(chunks)
    return out


def _run_worker(spec: dict) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-m", "benchmarks.networks", "--sgd-worker", json.dumps(spec)],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"SGD timing subprocess {spec['impl']}/{spec['threads']} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


CONFIGS = [("wgf", 1), ("wgf", 2), ("torch", 1), ("torch", 2)]


def check_same_update(widths, d, batch):
    """wgf's and the PyTorch peer's mini-batch gradients agree (relative 1e-10) on a common batch."""
    import torch

    teacher = _teacher(d, 10)
    model = wgf.TeacherStudent(teacher)
    worst = 0.0
    for m in widths:
        W0 = initial_weights(m, d, kind="uniform", radius=1.0, seed=m)
        net = NetworkTrainer(model, W0, step_size=0.005, method="sgd", batch_size=batch, seed=1)
        peer = TorchSGD(teacher, W0, 0.005, batch, seed=1)
        X = model.sample_inputs(batch, np.random.default_rng(2))
        g_wgf = net.batch_gradient(X)
        g_torch = peer.gradient(torch.tensor(X)).numpy()
        agree = float(np.abs(g_wgf - g_torch).max() / np.abs(g_torch).max())
        if agree > 1e-10:
            raise AssertionError(f"wgf and PyTorch SGD steps differ (relative {agree:.2e}) at m = {m}")
        worst = max(worst, agree)
    return worst


def sgd_rows(widths, d, batch, rounds, quick):
    samples = {c: {m: [] for m in widths} for c in CONFIGS}
    for r in range(rounds):
        order = CONFIGS[r % len(CONFIGS):] + CONFIGS[:r % len(CONFIGS)]
        for impl, threads in order:
            res = _run_worker({"impl": impl, "threads": threads, "widths": list(widths), "d": d, "batch": batch,
                               "quick": quick, "chunks": 3 if quick else 5})
            for m in widths:
                samples[(impl, threads)][m].append(res[str(m)])
        print(f"round {r + 1}/{rounds} done", flush=True)
    rows = []
    for m in widths:
        med = {c: statistics.median(samples[c][m]) for c in CONFIGS}
        w_best = min(med[("wgf", 1)], med[("wgf", 2)])
        t_best = min(med[("torch", 1)], med[("torch", 2)])
        rows.append({"m": m, "d": d, "batch": batch,
                     "wgf_1thr_us": med[("wgf", 1)], "wgf_2thr_us": med[("wgf", 2)],
                     "torch_1thr_us": med[("torch", 1)], "torch_2thr_us": med[("torch", 2)],
                     "wgf_us_per_step": w_best, "torch_us_per_step": t_best, "speedup": t_best / w_best})
    return rows, samples


def normals_cost(batch, d, repeat):
    """Per-step cost of drawing the inputs alone (float64, in blocks of 20 batches): NumPy's
    ``Generator.standard_normal`` (PCG64), wgf's compiled draw of the same numbers
    (:func:`wgf.geometry.normals.standard_normal`) and ``torch.randn`` (one thread)."""
    import torch

    from wgf.geometry.normals import standard_normal

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)
    rows = BLOCK_BATCHES * batch
    draws = {
        "numpy": lambda: rng.standard_normal((rows, d)),
        "wgf": lambda: standard_normal(rng, (rows, d)),
        "torch": lambda: torch.randn(rows, d, dtype=torch.float64, generator=gen),
    }
    times = {k: [] for k in draws}
    for k, f in draws.items():
        f()
    for _ in range(repeat):
        for k, f in draws.items():
            t0 = time.perf_counter()
            for _ in range(25):
                f()
            times[k].append((time.perf_counter() - t0) / 25 / BLOCK_BATCHES)
    return {k: 1e6 * statistics.median(v) for k, v in times.items()}


def step_breakdown(m, d, batch, repeat):
    """Median microseconds per step of the pieces of one wgf SGD step at width m (this process, numba
    threads as configured): per block of 20 batches divided by 20, the block's Gaussian inputs drawn into
    the kernels' layout, the whole block preparation (those inputs and the teacher's outputs:
    ``TeacherStudent.sample_training_block``, which runs on the prefetch thread when two Numba threads are
    allowed); then the steps' arithmetic on a prepared block, and the whole step."""
    from wgf.geometry.normals import standard_normal_transposed

    model = wgf.TeacherStudent(_teacher(d, 10))
    net = NetworkTrainer(model, initial_weights(m, d, seed=m), step_size=0.005, method="sgd", batch_size=batch)
    rng = np.random.default_rng(0)
    rows = BLOCK_BATCHES * batch
    XT, y = model.sample_training_block(rows, rng)
    probe = NetworkTrainer(model, initial_weights(m, d, seed=m), step_size=1e-12, method="sgd", batch_size=batch)
    parts = {
        "normals": lambda: standard_normal_transposed(rng, rows, d, XT.shape[0]),
        "block": lambda: model.sample_training_block(rows, rng),
        "arithmetic": lambda: probe._sgd_batches(XT, y, 0, BLOCK_BATCHES),
        "whole_step": lambda: net.step(BLOCK_BATCHES),
    }
    out = {}
    for k, f in parts.items():
        f()
        reps = max(3, int(40 / max(1.0, m / 30)))
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(reps):
                f()
            ts.append((time.perf_counter() - t0) / reps / BLOCK_BATCHES)
        out[k] = 1e6 * statistics.median(ts)
    out["fused"] = bool(net._fused())
    return out


def lagrangian_rows(sizes, d, repeat):
    model = wgf.TeacherStudent(_teacher(d, 4 if d == 2 else 10, 1))
    rows = []
    for N in sizes:
        nu0 = wgf.Measure.from_weights(initial_weights(N, d, seed=N))
        s = LagrangianSolver(model, nu0, stepper="rk4", dt=1e-3)
        steps = max(1, int(2e6 / (N * N)))
        s.advance(steps * 1e-3)  # warm-up
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            s.advance(s.time + steps * 1e-3)
            times.append((time.perf_counter() - t0) / steps)
        t = statistics.median(times)
        rows.append({"N": N, "d": d, "s_per_step": t, "particle_steps_per_s": N / t,
                     "kernel_terms_per_s": 4 * N * (N + model.teacher.shape[0]) / t})
    return rows


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "--sgd-worker":
        print(json.dumps(_sgd_worker(json.loads(argv[1]))))
        return None
    args = parse_args(__doc__.splitlines()[0], argv, extra=lambda p: p.add_argument(
        "--rounds", type=int, default=None, help="rounds of the four SGD timing configurations"))
    import numba
    try:
        import torch
    except ImportError:
        sys.exit("benchmarks.networks times wgf against PyTorch (a CPU build, a benchmark peer only, never a "
                 "dependency of wgf): pip install torch")

    quick = args.quick
    widths = [5, 30] if quick else [5, 10, 20, 30, 100, 1000]
    rounds = args.rounds or (1 if quick else 5)
    load_before = os.getloadavg()
    agree = check_same_update(widths, 100, 100)
    sgd, samples = sgd_rows(widths, d=100, batch=100, rounds=rounds, quick=quick)
    load_after = os.getloadavg()
    normals_us = normals_cost(100, 100, 3 if quick else 7)
    breakdown = {m: step_breakdown(m, 100, 100, 3 if quick else 5) for m in ((30,) if quick else (5, 30, 1000))}
    sizes2 = [64, 256] if quick else [64, 128, 256, 512, 1024, 2048, 4096]
    sizes100 = [64, 256] if quick else [64, 128, 256, 512, 1024, 2048]
    lag = lagrangian_rows(sizes2, 2, 3) + lagrangian_rows(sizes100, 100, 3)
    fits = {}
    for d in (2, 100):
        rr = [r for r in lag if r["d"] == d and r["N"] >= 256]
        if len(rr) >= 2:
            fits[d] = fitted_slope([r["N"] for r in rr], [r["particle_steps_per_s"] for r in rr])
    rows = [dict(kind="sgd", **r) for r in sgd] + [dict(kind="lagrangian", **r) for r in lag]
    small = [r for r in sgd if r["m"] <= 30]
    targets = {}
    if small:
        targets["SGD >= 3x faster than PyTorch at m <= 30"] = min(r["speedup"] for r in small) >= 3
    big = [r for r in sgd if r["m"] == 1000]
    if big:
        targets["SGD not slower than PyTorch at m = 1000"] = big[0]["speedup"] >= 1
    meta = {
        "method": "fresh subprocess per (configuration, round); configurations wgf/numba 1 and 2 threads, "
                  "torch 1 and 2 threads; median of 5 chunks per process, median over rounds; "
                  "speedup = best torch / best wgf",
        "rounds": rounds,
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "torch": torch.__version__, "numba_threading_layer": numba.config.THREADING_LAYER,
        "max_rel_grad_diff_wgf_vs_torch": agree,
        **{f"normals_us_per_step_{k}": round(v, 1) for k, v in normals_us.items()},
        "min_speedup_m_le_30": min(r["speedup"] for r in small) if small else float("nan"),
        "speedup_m_1000": big[0]["speedup"] if big else float("nan"),
        "per_round_us": {f"{impl}{thr}": {str(m): [round(v, 1) for v in samples[(impl, thr)][m]] for m in widths}
                         for impl, thr in CONFIGS},
        "particle_steps_exponent_d2_N_ge_256": fits.get(2, float("nan")),
        "particle_steps_exponent_d100_N_ge_256": fits.get(100, float("nan")),
        "cpu_count": os.cpu_count(),
        "targets": {k: ("met" if v else "MISSED") for k, v in targets.items()},
    }
    for m, parts in breakdown.items():
        meta[f"wgf_step_breakdown_us_m{m}"] = {k: (round(v, 1) if isinstance(v, float) else v)
                                                for k, v in parts.items()}
    fig = _figure(sgd, lag, fits)
    write_results("networks", [_flat(r) for r in rows], args, meta=meta, figure=fig)
    return rows, meta


def _flat(r):
    keys = ["kind", "m", "N", "d", "batch", "wgf_1thr_us", "wgf_2thr_us", "torch_1thr_us", "torch_2thr_us",
            "wgf_us_per_step", "torch_us_per_step", "speedup", "s_per_step", "particle_steps_per_s"]
    return {k: r.get(k, "") for k in keys}


def _figure(sgd, lag, fits):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    m = [r["m"] for r in sgd]
    ax[0].loglog(m, [r["wgf_us_per_step"] for r in sgd], "o-", label="wgf (best of 1, 2 threads)")
    ax[0].loglog(m, [r["torch_us_per_step"] for r in sgd], "s--", label="PyTorch CPU loop (best of 1, 2 threads)")
    for r in sgd:
        ax[0].annotate(f"x{r['speedup']:.2g}", (r["m"], r["wgf_us_per_step"]), textcoords="offset points",
                       xytext=(0, -14), ha="center", fontsize=8)
    ax[0].set_ylim(bottom=min(r["wgf_us_per_step"] for r in sgd) / 1.6)  # room for the labels below
    ax[0].set_xlabel("width m")
    ax[0].set_ylabel("time per SGD step (us)")
    ax[0].set_title("online SGD, d = 100, batch 100 (x = torch / wgf)", fontsize=9)
    ax[0].legend(fontsize=8)
    for d, mk in ((2, "o-"), (100, "s-")):
        rr = [r for r in lag if r["d"] == d]
        lab = f"S^{d}" + (f" (slope {fits[d]:.2f} for N >= 256)" if d in fits else "")
        ax[1].loglog([r["N"] for r in rr], [r["particle_steps_per_s"] for r in rr], mk, label=lab)
    ax[1].set_xlabel("particles N")
    ax[1].set_ylabel("particle-steps per second (RK4)")
    ax[1].set_title("Lagrangian solver throughput")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
