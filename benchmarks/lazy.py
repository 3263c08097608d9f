"""Lazy against mean-field training (IFCAM lectures' scaling table; DESIGN §2 tangent kernel).

Data: n = 10 inputs uniform on S^9 (dx = 10, seed 0), targets y = sign(x_1), square loss, no bias; the
closed-form tangent kernel K = ntk_kernel(X) (E[a^2] = 1) then has lambda_min/n = 0.021 and
lambda_max/n = 0.25. Initialisation: a_j = +-1, b_j ~ N(0, I_dx) i.i.d. (the kernel's assumption).

Training with output scale alpha is the mean-field trainer on rescaled targets (:mod:`wgf.analysis.lazy`):
``NetworkTrainer(lazy_objective(X, y, alpha), W0, step_size=0.25)``, method "full", the m-scaled step
``w_j <- w_j - gamma m grad_{w_j} F_alpha`` with gamma = 0.25 for every m and alpha (t = k gamma;
gamma lambda_max/n = 0.064), the predictor read as ``alpha h``. alpha = 1 is the mean-field 1/m output
scaling, alpha = sqrt(m) the 1/sqrt(m) (lazy, NTK) scaling.

1. Per-neuron RMS displacement ``sqrt(mean_j |w_j(T) - w_j(0)|^2)`` at T = 20 against m, both scalings:
   fitted slopes (IFCAM: O(1) for mean field, O(1/sqrt m) for lazy).
2. The lazy network's residual ``r = f - y`` against the NTK gradient flow ``exp(-t K/n) r(0)`` (closed form
   from the eigendecomposition, same r(0) as the network), sup over t in (0, 100] relative to |r(0)|, mean
   over 3 draws per m, and the same against gradient descent on the linearised model
   ``(I - gamma K/n)^k r(0)`` (which removes the O(gamma) time-discretisation floor, itself reported).
3. Late-time decay rate of |r(t)| (fit of log|r| over t in [200, 400]) for the widest lazy network against
   lambda_min(K)/n, the rate of the NTK flow on the same window, and the empirical kernel's lambda_min/n at
   t = 0 and at the end.

Run ``python -m benchmarks.lazy [--quick]``.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks._harness import fitted_slope, format_table, parse_args, write_results

from wgf.analysis import lazy
from wgf.discretisations.network import NetworkTrainer
from wgf.models.relu_kernel import ntk_kernel
from wgf.geometry.sphere import sample_uniform

GAMMA = 0.25
N, DX = 10, 10


def data():
    X = sample_uniform(N, DX - 1, np.random.default_rng(0))
    return X, np.sign(X[:, 0])


def init(m, seed):
    rng = np.random.default_rng([m, seed])
    return np.column_stack([rng.choice([-1.0, 1.0], m), rng.standard_normal((m, DX))])


def trainer(X, y, W, alpha):
    return NetworkTrainer(lazy.lazy_objective(X, y, alpha), W, step_size=GAMMA)


def residual(tr, y, alpha):
    return alpha * tr.model.predict(tr.measure) - y


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv)
    quick = args.quick
    X, y = data()
    K = ntk_kernel(X)
    lam = np.linalg.eigvalsh(K)
    widths = [64, 256, 1024] if quick else [64, 256, 1024, 4096, 16384]
    T_disp = 20.0

    # 1. displacement
    rows = []
    disp = {"mean-field": [], "lazy": []}
    for m in widths:
        W = init(m, 0)
        for name, alpha in (("mean-field", 1.0), ("lazy", float(np.sqrt(m)))):
            t0 = time.perf_counter()
            tr = trainer(X, y, W, alpha)
            r0 = residual(tr, y, alpha)
            tr.advance(T_disp)
            d = lazy.rms_displacement(tr.weights, W)
            disp[name].append(d)
            rows.append({"m": m, "scaling": name, "alpha": alpha, "|f(0)|": float(np.linalg.norm(r0 + y)),
                         "|r(T)|/|r(0)|": float(np.linalg.norm(residual(tr, y, alpha)) / np.linalg.norm(r0)),
                         "RMS displacement": d, "wall s": time.perf_counter() - t0})
    slopes = {k: fitted_slope(widths, v) for k, v in disp.items()}

    # 2. agreement with the NTK flow
    ntk_widths = [256, 1024] if quick else [256, 1024, 4096, 16384]
    seeds = range(2) if quick else range(3)
    T_agree = 40.0 if quick else 100.0
    times = np.linspace(T_agree / 20, T_agree, 20)
    agree_rows = []
    curves = {}
    floor = []
    for m in ntk_widths:
        e_flow, e_gd = [], []
        for s in seeds:
            W = init(m, s)
            alpha = float(np.sqrt(m))
            tr = trainer(X, y, W, alpha)
            r0 = residual(tr, y, alpha)
            flow = lazy.ntk_flow(K, r0, times)
            gd = lazy.ntk_flow(K, r0, times, step=GAMMA)
            rs = []
            for t in times:
                tr.advance(t)
                rs.append(residual(tr, y, alpha))
            rs = np.array(rs)
            nr0 = np.linalg.norm(r0)
            e_flow.append(np.max(np.linalg.norm(rs - flow, axis=1)) / nr0)
            e_gd.append(np.max(np.linalg.norm(rs - gd, axis=1)) / nr0)
            if s == 0:
                curves[m] = (np.concatenate([[0.0], times]),
                             np.concatenate([[1.0], np.linalg.norm(rs, axis=1) / nr0]),
                             np.concatenate([[1.0], np.linalg.norm(flow, axis=1) / nr0]))
            floor.append(np.max(np.linalg.norm(gd - flow, axis=1)) / nr0)
        agree_rows.append({"m": m, "draws": len(seeds), "sup|r - r_flow|/|r0|": float(np.mean(e_flow)),
                           "sup|r - r_GD-NTK|/|r0|": float(np.mean(e_gd))})
    order_flow = fitted_slope(ntk_widths, [r["sup|r - r_flow|/|r0|"] for r in agree_rows])
    order_gd = fitted_slope(ntk_widths, [r["sup|r - r_GD-NTK|/|r0|"] for r in agree_rows])

    # 3. late-time decay rate
    m = ntk_widths[-1]
    W = init(m, 0)
    alpha = float(np.sqrt(m))
    tr = trainer(X, y, W, alpha)
    r0 = residual(tr, y, alpha)
    window = np.linspace(100.0, 200.0, 9) if quick else np.linspace(200.0, 400.0, 9)
    norms = []
    for t in window:
        tr.advance(t)
        norms.append(np.linalg.norm(residual(tr, y, alpha)))
    rate_net = -np.polyfit(window, np.log(norms), 1)[0]
    rate_flow = -np.polyfit(window, np.log(np.linalg.norm(lazy.ntk_flow(K, r0, window), axis=1)), 1)[0]
    decay = {"m": m, "fitted rate (network)": float(rate_net), "fitted rate (NTK flow)": float(rate_flow),
             "lambda_min(K)/n": float(lam[0] / N), "lambda_2(K)/n": float(lam[1] / N),
             "lambda_min(K_m(0))/n": float(np.linalg.eigvalsh(lazy.empirical_ntk(W, X))[0] / N),
             "lambda_min(K_m(T))/n": float(np.linalg.eigvalsh(lazy.empirical_ntk(tr.weights, X))[0] / N),
             "window": f"[{window[0]:g}, {window[-1]:g}]"}

    meta = {"T (displacement)": T_disp, "step": GAMMA, "displacement slopes": slopes,
            "NTK agreement": agree_rows, "fitted order vs flow": order_flow, "fitted order vs GD-NTK": order_gd,
            "GD vs flow floor (sup over t, max over draws)": float(max(floor)), "late decay": decay,
            "lambda_min/n, lambda_max/n": (float(lam[0] / N), float(lam[-1] / N))}
    fig = _figure(widths, disp, slopes, curves, agree_rows, ntk_widths, order_gd, max(floor))
    write_results("lazy", rows, args, meta=meta, figure=fig)
    print()
    print(format_table(agree_rows))
    print(format_table([decay]))
    return rows, meta


def _figure(widths, disp, slopes, curves, agree_rows, ntk_widths, order_gd, floor):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, mk in (("mean-field", "o-"), ("lazy", "s-")):
        ax[0].loglog(widths, disp[name], mk, label=f"{name} (slope {slopes[name]:.3f})")
    ax[0].set_xlabel("width m")
    ax[0].set_ylabel("per-neuron RMS displacement at T = 20")
    ax[0].legend()
    for k, (m, (t, rn, rf)) in enumerate(curves.items()):
        ax[1].semilogy(t, rn, "o", ms=3, color=f"C{k}", label=f"lazy network m={m}")
        ax[1].semilogy(t, rf, "-", lw=0.8, color=f"C{k}")
    ax[1].set_xlabel("t")
    ax[1].set_ylabel("|f(t) - y| / |f(0) - y|")
    ax[1].set_title("dots: network; lines: NTK flow exp(-tK/n) r(0), same r(0)", fontsize=9)
    ax[1].legend(fontsize=8)
    ax[2].loglog(ntk_widths, [r["sup|r - r_flow|/|r0|"] for r in agree_rows], "o-", label="vs NTK flow")
    ax[2].loglog(ntk_widths, [r["sup|r - r_GD-NTK|/|r0|"] for r in agree_rows], "s-",
                 label=f"vs GD on the NTK model (order {order_gd:.2f})")
    ax[2].axhline(floor, color="k", ls=":", lw=0.8, label="GD vs flow on the NTK model (step floor)")
    ax[2].set_xlabel("width m")
    ax[2].set_ylabel("sup_t |r_net - r_ref| / |r(0)|")
    ax[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
