"""How the cost grows with the problem size: log-log plots with fitted exponents.

* N, Lagrangian / teacher–student potential calls: one ``model.potential(P, nu)`` with N evaluation points
  and an N-atom measure. S^2 (two-dimensional inputs: the exact sorted-angular-sum algorithm,
  expected exponent ~1, i.e. N log N) and S^10 (the direct kernel, expected 2: every pair).
* N, Lagrangian solver: seconds per RK4 step (4 potential calls) on S^10 (expected 2).
* n, EmpiricalReLU samples: one ``potential`` call (a predictor pass and a potential pass over the samples,
  square loss, dx = 16, N = M = 256): expected 1.
* m, networks: one online SGD step (d = 100, batch 100, teacher m0 = 10): expected 1 at large m (the two
  kernels are O(m B d)); at small m the batch draw (O(B d), independent of m) dominates, so the exponent
  is fitted over m >= 300.

Each time is the median of several calls (all threads of this machine, Numba's default); the fitted
exponent is the least-squares slope of log(time) against log(size) over the sizes marked in the table.

Run ``python -m benchmarks.scaling [--quick]``.
"""

from __future__ import annotations


import numpy as np

from benchmarks._harness import fitted_slope, parse_args, time_median, write_results

import wgf
from wgf.geometry import sphere
from wgf.discretisations.lagrangian import LagrangianSolver
from wgf.models import EmpiricalReLU
from wgf.discretisations.network import NetworkTrainer, initial_weights


def _teacher(dx, m0, seed):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.choice([-1.0, 1.0], m0), sphere.sample_uniform(m0, dx - 1, rng)])


def _series(name, size_name, sizes, fn, expected, fit_from, repeat):
    rows = []
    for n in sizes:
        t = time_median(fn(n), repeat=repeat, warmup=1, min_time=0.05)
        rows.append({"series": name, "size": size_name, "n": n, "seconds": t, "fitted": n >= fit_from})
        print(f"{name}: {size_name} = {n}: {t:.3g} s", flush=True)
    fit = [r for r in rows if r["fitted"]]
    slope = fitted_slope([r["n"] for r in fit], [r["seconds"] for r in fit])
    for r in rows:
        r["exponent"] = slope
        r["expected"] = expected
    return rows


def potential_calls(dx):
    model = wgf.TeacherStudent(_teacher(dx, 4, dx))

    def make(N):
        rng = np.random.default_rng(N)
        P = sphere.sample_uniform(N, dx, rng)
        nu = wgf.Measure(sphere.sample_uniform(N, dx, rng), np.full(N, 1.0 / N))
        return lambda: model.potential(P, nu)
    return make


def lagrangian_steps(dx):
    model = wgf.TeacherStudent(_teacher(dx, 4, dx))

    def make(N):
        s = LagrangianSolver(model, wgf.Measure.from_weights(initial_weights(N, dx, seed=N)), stepper="rk4",
                             dt=1e-3)
        return lambda: s.advance(s.time + 1e-3)
    return make


def empirical_calls(n):
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, 16))
    model = EmpiricalReLU(X, np.sin(X[:, 0]))
    P = sphere.sample_uniform(256, 16, rng)
    nu = wgf.Measure(sphere.sample_uniform(256, 16, rng), np.full(256, 1.0 / 256))
    return lambda: model.potential(P, nu)


def sgd_steps(m):
    model = wgf.TeacherStudent(_teacher(100, 10, 0))
    net = NetworkTrainer(model, initial_weights(m, 100, seed=m), step_size=0.005, method="sgd", batch_size=100)
    return lambda: net.step(20)


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv)
    q = args.quick
    rep = 3 if q else 5
    rows = []
    rows += _series("TeacherStudent potential, S^2 (planar)", "N",
                    [1000, 4000, 16000] if q else [1000, 4000, 16000, 64000, 256000, 1024000],
                    potential_calls(2), 1.0, 4000, rep)
    rows += _series("TeacherStudent potential, S^10 (direct)", "N",
                    [256, 512, 1024] if q else [256, 512, 1024, 2048, 4096, 8192],
                    potential_calls(10), 2.0, 1024 if not q else 256, rep)
    rows += _series("Lagrangian RK4 step, S^10", "N", [256, 512, 1024] if q else [512, 1024, 2048, 4096],
                    lagrangian_steps(10), 2.0, 512 if not q else 256, rep)
    rows += _series("EmpiricalReLU potential (N = M = 256, dx = 16)", "n",
                    [2000, 8000, 32000] if q else [2000, 8000, 32000, 128000, 512000],
                    empirical_calls, 1.0, 8000 if not q else 2000, rep)
    rows += _series("network SGD, 20 steps (d = 100, batch 100)", "m",
                    [10, 100, 300] if q else [10, 30, 100, 300, 1000, 3000],
                    sgd_steps, 1.0, 300 if not q else 100, rep)
    series = list(dict.fromkeys(r["series"] for r in rows))
    summary = {s: {"exponent": round(next(r["exponent"] for r in rows if r["series"] == s), 3),
                   "expected": next(r["expected"] for r in rows if r["series"] == s)} for s in series}
    write_results("scaling", rows, args, meta={"exponents": summary}, figure=_figure(rows, series))
    return rows


def _figure(rows, series):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    panel = {"N": 0, "n": 1, "m": 2}
    for i, s in enumerate(series):
        rr = [r for r in rows if r["series"] == s]
        ax = axes[panel[rr[0]["size"]]]
        x = np.array([r["n"] for r in rr], float)
        y = np.array([r["seconds"] for r in rr])
        ax.loglog(x, y, "o-", color=f"C{i}", label=f"{s}: {rr[0]['exponent']:.2f} (expected {rr[0]['expected']:g})")
        fit = np.array([r["fitted"] for r in rr])
        c = np.polyfit(np.log(x[fit]), np.log(y[fit]), 1)
        ax.loglog(x[fit], np.exp(np.polyval(c, np.log(x[fit]))), ":", color=f"C{i}", lw=1)
    for ax, (lab, t) in zip(axes, [("N (points = atoms)", "cost against N"),
                                   ("n (samples)", "cost against n"), ("m (width)", "cost against m")]):
        ax.set_xlabel(lab)
        ax.set_ylabel("seconds (median)")
        ax.set_title(t, fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
