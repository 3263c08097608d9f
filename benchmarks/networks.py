"""Online SGD per-step time, wgf against a PyTorch CPU loop doing the same arithmetic, and the Lagrangian
solver's particle-steps per second against the number of particles N.

SGD (teacher–student, ICM review Fig 3 sizes: d = 100, teacher m0 = 10, batch 100): each step draws a
fresh Gaussian batch (float64 in both), computes the teacher's outputs, the student's predictions, the
residuals ``g = (h - y)/B`` and the update ``w_j <- w_j - gamma m grad_{w_j}`` with equal layer steps.
wgf: ``NetworkTrainer(method="sgd")`` (NumPy generator, the Numba ReLU-feature kernels); PyTorch: the
natural float64 loop in w-space (``torch.randn`` with a seeded generator, matmuls, relu, masks). Both
update rules are checked to agree on a common batch before timing. Timings alternate between the two
(block of steps each, repeated) so that both see the same machine load; the ratio is of the medians.

Lagrangian: ``LagrangianSolver`` (RK4, fixed step) on the teacher–student population model, particles
i.i.d. uniform; one step costs 4 potential evaluations of N x (N + m0) kernel terms, so particle-steps per
second should fall like N^{-1} once the kernel dominates.

Run ``python -m benchmarks.networks [--quick]``.
"""

from __future__ import annotations

import math
import os
import statistics
import time

import numpy as np

from benchmarks._harness import fitted_slope, parse_args, write_results

import wgf
from wgf.lagrangian import LagrangianSolver
from wgf.network import NetworkTrainer, initial_weights


def _teacher(dx, m0, seed=0):
    rng = np.random.default_rng(seed)
    b = wgf.sphere.sample_uniform(m0, dx - 1, rng)
    return np.column_stack([rng.choice([-1.0, 1.0], m0), b])


class TorchSGD:
    """The PyTorch CPU peer: the same online SGD step, float64, in w-space."""

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

    def gradient(self, X):
        """m grad_{w_j} of (1/2B) sum_i (h(x_i) - y_i)^2, shape (m, d+1)."""
        torch = self.torch
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
        with torch.no_grad():
            for _ in range(n):
                X = torch.randn(self.B, d, dtype=torch.float64, generator=self.gen)
                self.W = self.W - self.gamma * self.gradient(X)


def _interleaved(fa, fb, repeat):
    ta, tb = [], []
    fa(), fb()  # warm-up (compilation, allocations)
    for _ in range(repeat):
        t0 = time.perf_counter()
        fa()
        ta.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fb()
        tb.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb), statistics.median([a / b for a, b in zip(ta, tb)])


def sgd_rows(widths, d, batch, repeat, quick):
    import torch

    teacher = _teacher(d, 10)
    model = wgf.TeacherStudent(teacher)
    rows = []
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
        n = max(10, int((200 if quick else 2000) / max(1.0, m / 30)))
        t_w, t_t, ratio = _interleaved(lambda: net.step(n), lambda: peer.step(n), repeat)
        rows.append({"m": m, "d": d, "batch": batch, "steps_per_block": n,
                     "wgf_us_per_step": 1e6 * t_w / n, "torch_us_per_step": 1e6 * t_t / n,
                     "speedup": (t_t / n) / (t_w / n), "median_ratio_torch_over_wgf": 1.0 / ratio,
                     "max_rel_grad_diff": agree})
    return rows


def normals_cost(batch, d, repeat):
    """Per-step cost of drawing the batch alone: NumPy float64 and torch float64 (same generators)."""
    import torch

    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)
    n = 500
    t_np, t_t, _ = _interleaved(lambda: [rng.standard_normal((batch, d)) for _ in range(n)],
                                lambda: [torch.randn(batch, d, dtype=torch.float64, generator=gen)
                                         for _ in range(n)], repeat)
    return 1e6 * t_np / n, 1e6 * t_t / n


def step_breakdown(m, d, batch, repeat):
    """Median microseconds of the pieces of one wgf SGD step at width m: drawing the batch, the teacher's
    outputs, the two ReLU-feature kernels, and the whole step."""
    from wgf.relu_features import relu_features_potential, relu_features_predict

    model = wgf.TeacherStudent(_teacher(d, 10))
    net = NetworkTrainer(model, initial_weights(m, d, seed=m), step_size=0.005, method="sgd", batch_size=batch)
    rng = np.random.default_rng(0)
    X = model.sample_inputs(batch, rng)
    W = net.weights
    r = np.linalg.norm(W, axis=1)
    eta = W / r[:, None]
    g = rng.standard_normal(batch) / batch
    n = max(5, int(2000 / max(1.0, m / 30)))
    parts = {
        "normals": lambda: rng.standard_normal((batch, d)),
        "teacher": lambda: model.target(X),
        "predict_kernel": lambda: relu_features_predict(eta, r * r / m, X),
        "potential_kernel": lambda: relu_features_potential(eta, X, g),
        "whole_step": lambda: net.step(1),
    }
    out = {}
    for k, f in parts.items():
        f()
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            ts.append((time.perf_counter() - t0) / n)
        out[k] = 1e6 * statistics.median(ts)
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
    args = parse_args(__doc__.splitlines()[0], argv)
    import numba
    import torch

    quick = args.quick
    widths = [5, 30, 100] if quick else [5, 10, 20, 30, 100, 1000]
    repeat = 3 if quick else 7
    sgd = sgd_rows(widths, d=100, batch=100, repeat=repeat, quick=quick)
    np_us, torch_us = normals_cost(100, 100, repeat)
    breakdown = {m: step_breakdown(m, 100, 100, repeat) for m in ((30,) if quick else (30, 1000))}
    sizes2 = [64, 128, 256, 512] if quick else [64, 128, 256, 512, 1024, 2048, 4096]
    sizes100 = [64, 128, 256] if quick else [64, 128, 256, 512, 1024, 2048]
    lag = lagrangian_rows(sizes2, 2, 3) + lagrangian_rows(sizes100, 100, 3)
    fits = {}
    for d in (2, 100):
        rr = [r for r in lag if r["d"] == d and r["N"] >= 256]
        if len(rr) >= 2:
            fits[d] = fitted_slope([r["N"] for r in rr], [r["particle_steps_per_s"] for r in rr])
    rows = [dict(kind="sgd", **r) for r in sgd] + [dict(kind="lagrangian", **r) for r in lag]
    small = [r for r in sgd if r["m"] <= 30]
    meta = {
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "numba_threads": numba.get_num_threads(), "numba_threading_layer": _threading_layer(),
        "normals_us_per_step_numpy": np_us, "normals_us_per_step_torch": torch_us,
        "min_speedup_m_le_30": min(r["speedup"] for r in small) if small else float("nan"),
        "speedup_m_1000": next((r["speedup"] for r in sgd if r["m"] == 1000), float("nan")),
        "particle_steps_exponent_d2_N_ge_256": fits.get(2, float("nan")),
        "particle_steps_exponent_d100_N_ge_256": fits.get(100, float("nan")),
        "cpu_count": os.cpu_count(),
    }
    for m, parts in breakdown.items():
        meta[f"wgf_step_breakdown_us_m{m}"] = {k: round(v, 1) for k, v in parts.items()}
    fig = _figure(sgd, lag, fits)
    write_results("networks", [_flat(r) for r in rows], args, meta=meta, figure=fig)


def _threading_layer():
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        return "unknown"


def _flat(r):
    keys = ["kind", "m", "N", "d", "batch", "wgf_us_per_step", "torch_us_per_step", "speedup",
            "s_per_step", "particle_steps_per_s"]
    return {k: r.get(k, "") for k in keys}


def _figure(sgd, lag, fits):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    m = [r["m"] for r in sgd]
    ax[0].loglog(m, [r["wgf_us_per_step"] for r in sgd], "o-", label="wgf (NumPy RNG + Numba kernels)")
    ax[0].loglog(m, [r["torch_us_per_step"] for r in sgd], "s--", label="PyTorch CPU loop")
    for r in sgd:
        ax[0].annotate(f"x{r['speedup']:.2g}", (r["m"], r["wgf_us_per_step"]), textcoords="offset points",
                       xytext=(0, -14), ha="center", fontsize=8)
    ax[0].set_xlabel("width m")
    ax[0].set_ylabel("time per SGD step (us)")
    ax[0].set_title("online SGD, d = 100, batch 100 (speedup = torch / wgf)")
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
