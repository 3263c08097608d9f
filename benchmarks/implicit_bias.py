"""Implicit bias of the unregularised logistic loss (ICM review §5; Chizat & Bach 2020): margins of trained
networks against independently computed max-margin classifiers (d = 2), and test error of training both
layers against the output layer only (d = 15).

Data (:func:`wgf.analysis.margins.cluster_classification_data`): the first two coordinates in k^2 disks on a k x k
grid of [-1/2, 1/2]^2 with random cluster labels, the others uniform on [-1/2, 1/2], and a bias coordinate
(``EmpiricalReLU(..., loss="logistic", bias=True)``): neurons live on S^(d+1).

Training: ``NetworkTrainer`` (method "full": gradient descent on the empirical risk), width m = 1000,
initialisation ``initial_weights(m, d+1, kind="balanced", radius=sqrt 2)``: a_j = +-1, b_j uniform on the unit
sphere (so a_j^2 - |b_j|^2 = 0 and the random features of the output-layer run are those of the F2 kernel).
Both layers: equal layer steps; output layer only: ``layer_steps = (1, 0)``. Step schedule: the normalised
rule ``step_rule="normalised"``, gamma_k = 20 / (F(W_k) N_k) with N_k = the mass (both layers) or
(1/m) sum |b_j|^2 = 1 (output layer), which grows like 1/loss, so the flow time t = sum gamma_k grows
geometrically with the step count; and, for comparison, constant steps gamma = 0.5 (both layers).

d = 2 (k = 4, n = 100, data seed 0): gaps against log10 t of
  * both layers: ``1 - by_ab / gamma_F1`` and ``1 - 2 by_mass / gamma_F1`` (:func:`wgf.analysis.margins.normalised_margin`;
    see :mod:`wgf.analysis.margins` for why the mass-normalised margin tends to gamma_F1 / 2), gamma_F1 the LP optimum
    over the finest grid of directions on S^2 (with the bias coordinate); the LP's grid convergence
    (1000 ... 64000 directions) and its value with the network's own directions added are reported, each
    LP value with its certified dual bound (:func:`wgf.analysis.margins.f1_max_margin`), and the gap is also
    given against both ends of the narrowest certified bracket (cutting-plane rounds from 4000 directions);
  * output layer only: ``1 - output_layer_margin / gamma_RF``, gamma_RF the exact SVM margin of the network's
    random-feature kernel, beside the F2 limit (SVM with the closed-form kernel) and gamma_RF against m;
  * a uniform initialisation of radius 1 (a_j^2 - |b_j|^2 != 0): the ratio int |a||b| dnu / mass -> 1/2.

d = 15 (k = 3): test error P(y f(x) <= 0) on 4000 fresh samples of the same distribution (one draw of
n + 4000 samples split), against n in {32, 64, 128, 256, 512} at m = 500 and against m in
{10, 30, 100, 300, 1000} at n = 256, mean over 3 draws (data labels, samples and initialisation), 1000
normalised steps each (budget chosen to keep this part to a few minutes); beside it the test error of the
F2 max-margin classifier (kernel SVM, the output layer's m, t -> infinity limit).

Run ``python -m benchmarks.implicit_bias [--quick] [--part d2|d15]``.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks._harness import parse_args, write_results

from wgf.analysis import margins
from wgf.models import EmpiricalReLU
from wgf.discretisations.network import NetworkTrainer, initial_weights
from wgf.geometry.sphere import normalize, quasi_uniform_points

G0 = 20.0


def _checkpoints(total, count):
    return np.unique(np.geomspace(50, total, count).astype(int))


def d2_experiment(quick: bool):
    X, y = margins.cluster_classification_data(100, d=2, k=4, seed=0)
    F = margins.add_bias(X)
    model = EmpiricalReLU(X, y, loss="logistic", bias=True)
    m = 1000
    W0 = initial_weights(m, 3, kind="balanced", radius=np.sqrt(2), seed=1)
    info = {}

    # references
    t0 = time.perf_counter()
    lp, brackets = {}, {}
    for K in ((1000, 4000) if quick else (1000, 4000, 16000, 64000)):
        r = margins.f1_max_margin(F, y, K)
        lp[K] = r.gamma
        brackets[K] = r.bracket
    K_ref = max(lp)
    gF1 = lp[K_ref]
    info["F1 LP optimum by number of directions"] = lp
    info["F1 max margin certified bracket [LP, dual bound] by number of directions"] = brackets
    # cutting-plane rounds from 4000 directions: the narrowest certified bracket
    ex = margins.f1_max_margin(F, y, 4000, exchange=3 if quick else 8)
    gF1_lo, gF1_up = ex.bracket
    info["F1 max margin certified bracket after exchange rounds"] = {"directions": len(ex.directions),
                                                                     "bracket": ex.bracket}
    rf = margins.kernel_max_margin(margins.random_feature_kernel(W0, F), y)
    gRF = rf.gamma
    gF2, alphaF2 = f2 = margins.kernel_max_margin(margins.f2_kernel(F), y)
    info["gamma_RF (m = 1000) bracket"] = rf.bracket
    info["gamma_F2 bracket"] = f2.bracket
    rf_m = {}
    for mm in ((100, 1000, 10000) if quick else (100, 1000, 10000, 100000)):
        Wm = initial_weights(mm, 3, kind="balanced", radius=np.sqrt(2), seed=2)
        rf_m[mm] = margins.kernel_max_margin(margins.random_feature_kernel(Wm, F), y)[0]
    info["gamma_RF against m (one draw each)"] = rf_m
    info["reference wall s"] = time.perf_counter() - t0

    rows, curves = [], {}

    def record(name, tr, kind, ref):
        if kind == "ab":
            mg = margins.normalised_margin(tr.measure, F, y)
            row = {"run": name, "steps": tr.steps, "t": tr.time, "log10 t": np.log10(tr.time), "F": tr.energy(),
                   "mass": tr.measure.total_mass, "margin/int|a||b|": mg["by_ab"], "2 margin/mass": 2 * mg["by_mass"],
                   "gap (int|a||b|)": 1 - mg["by_ab"] / ref, "gap (mass)": 1 - 2 * mg["by_mass"] / ref,
                   "gap to certified lo": 1 - mg["by_ab"] / gF1_lo, "gap to certified up": 1 - mg["by_ab"] / gF1_up}
        else:
            om = margins.output_layer_margin(tr.weights, F, y)
            row = {"run": name, "steps": tr.steps, "t": tr.time, "log10 t": np.log10(tr.time), "F": tr.energy(),
                   "mass": tr.measure.total_mass, "margin/int|a||b|": float("nan"), "2 margin/mass": float("nan"),
                   "gap (int|a||b|)": 1 - om / ref, "gap (mass)": float("nan"),
                   "gap to certified lo": float("nan"), "gap to certified up": float("nan")}
        rows.append(row)
        curves.setdefault(name, []).append(row)

    runs = [
        ("both layers, normalised", dict(step_size=G0, step_rule="normalised"), "ab", gF1, 2000 if quick else 40000),
        # the constant step is meant to leave the stable range (F rises in some steps from step 1323 on):
        # no energy check
        ("both layers, constant 0.5", dict(step_size=0.5, check_energy=False), "ab", gF1, 2000 if quick else 20000),
        ("output layer, normalised", dict(step_size=G0, step_rule="normalised", layer_steps=(1, 0)), "rf", gRF,
         2000 if quick else 120000),
    ]
    finals = {}
    for name, kw, kind, ref, total in runs:
        t0 = time.perf_counter()
        tr = NetworkTrainer(model, W0, **kw)
        for k in _checkpoints(total, 8 if quick else 14):
            tr.step(int(k) - tr.steps)
            record(name, tr, kind, ref)
        info[f"wall s: {name}"] = time.perf_counter() - t0
        finals[name] = tr
    # the LP with the network's own directions added (still a lower bound of gamma_F1, and >= by_ab exactly)
    Wb = finals["both layers, normalised"].weights
    U = np.concatenate([quasi_uniform_points(K_ref, 2), normalize(Wb[:, 1:])])
    info["F1 LP optimum and certified bound, grid + network directions"] = margins.f1_max_margin(F, y, U).bracket

    # uniform initialisation: int |a||b| / mass -> 1/2. mass - 2 int|a||b| = (1/m) sum_j (|a_j| - |b_j|)^2
    # <= (1/m) sum_j |c_j|, c_j = a_j^2 - |b_j|^2: constant along the flow, drifting under finite steps
    ratio = []
    if not quick:
        Wu = initial_weights(m, 3, kind="uniform", radius=1.0, seed=1)

        def abs_c(W):
            return float(np.abs(W[:, 0] ** 2 - np.sum(W[:, 1:] ** 2, axis=1)).mean())

        c0 = abs_c(Wu)
        tr = NetworkTrainer(model, Wu, step_size=G0, step_rule="normalised")
        for k in _checkpoints(10000, 8):
            tr.step(int(k) - tr.steps)
            nu = tr.measure
            mg = margins.normalised_margin(nu, F, y)
            ratio.append({"steps": tr.steps, "mass": nu.total_mass, "int|a||b|/mass": mg["by_mass"] / mg["by_ab"],
                          "mean|c_j(0)|/(2 mass)": c0 / (2 * nu.total_mass),
                          "mean|c_j(t)|/(2 mass)": abs_c(tr.weights) / (2 * nu.total_mass),
                          "gap (int|a||b|)": 1 - mg["by_ab"] / gF1})
        info["uniform init: int|a||b|/mass"] = ratio
    fig = _figure_d2(curves, finals, F, y, X, (gF1_lo, gF1_up), gRF, ratio)
    return rows, info, fig


def _figure_d2(curves, finals, F, y, X, bracket, gRF, ratio):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 4 if ratio else 3, figsize=(20 if ratio else 15, 4.4))
    for k, (name, rs) in enumerate(curves.items()):
        lt = [r["log10 t"] for r in rs]
        ax[0].plot(lt, [r["gap (int|a||b|)"] for r in rs], "o-", color=f"C{k}", ms=3,
                   label=name + (" (margin / int|a||b|)" if "both" in name else " (vs random-feature SVM)"))
        if "both" in name:
            ax[0].plot(lt, [r["gap (mass)"] for r in rs], "x--", color=f"C{k}", ms=4, label=name + " (2 margin / mass)")
    ax[0].axhline(0.1, color="k", lw=0.6, ls=":")
    ax[0].set_yscale("log")
    ax[0].set_ylim(1e-2, 3)
    ax[0].set_xlabel("log10 t")
    ax[0].set_ylabel("relative gap to the max margin")
    ax[0].legend(fontsize=7)
    ax[0].set_title(f"gamma_F1 in [{bracket[0]:.5f}, {bracket[1]:.5f}] (certified), gamma_RF = {gRF:.5f} (SVM)",
                    fontsize=9)
    g = np.linspace(-0.55, 0.55, 221)
    GX, GY = np.meshgrid(g, g)
    grid = np.column_stack([GX.ravel(), GY.ravel()])
    for a_, name in zip(ax[1:3], ("both layers, normalised", "output layer, normalised")):
        tr = finals[name]
        h = tr.model.predict(tr.measure, grid).reshape(GX.shape)
        a_.contourf(GX, GY, np.sign(h), levels=[-2, 0, 2], colors=["#cfe0f5", "#f8d3cf"])
        a_.contour(GX, GY, h, levels=[0], colors="k", linewidths=1)
        a_.scatter(X[:, 0], X[:, 1], c=np.where(y > 0, "C3", "C0"), s=8)
        a_.set_aspect("equal")
        a_.set_title(f"{name}: decision boundary")
    if ratio:
        mass = [r["mass"] for r in ratio]
        ax[3].loglog(mass, [0.5 - r["int|a||b|/mass"] for r in ratio], "o-", label="1/2 - int|a||b| / mass")
        ax[3].loglog(mass, [r["mean|c_j(t)|/(2 mass)"] for r in ratio], "k--",
                     label="mean|c_j(t)| / (2 mass) (bound, current balances)")
        ax[3].loglog(mass, [r["mean|c_j(0)|/(2 mass)"] for r in ratio], "k:",
                     label="mean|c_j(0)| / (2 mass) (the flow's bound)")
        ax[3].set_xlabel("mass")
        ax[3].set_title("uniform initialisation: int|a||b| / mass -> 1/2")
        ax[3].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _test_errors(n, m, seeds, steps, n_test=4000):
    out = {"both": [], "output": [], "F2 SVM": [], "train both": [], "train output": []}
    for s in seeds:
        X, y = margins.cluster_classification_data(n + n_test, d=15, k=3, seed=1000 + s)
        Xtr, ytr, Xte, yte = X[:n], y[:n], X[n:], y[n:]
        model = EmpiricalReLU(Xtr, ytr, loss="logistic", bias=True)
        W0 = initial_weights(m, 16, kind="balanced", radius=np.sqrt(2), seed=2000 + s)
        for key, ls in (("both", (1, 1)), ("output", (1, 0))):
            tr = NetworkTrainer(model, W0, step_size=G0, layer_steps=ls, step_rule="normalised")
            tr.step(steps)
            out[key].append(model.classification_error(tr.measure, Xte, yte))
            out["train " + key].append(model.classification_error(tr.measure))
        Ftr, Fte = margins.add_bias(Xtr), margins.add_bias(Xte)
        _, alpha = margins.kernel_max_margin(margins.f2_kernel(Ftr), ytr)
        f = margins.f2_kernel(Fte, Ftr) @ (alpha * ytr)
        out["F2 SVM"].append(float(np.mean(yte * f <= 0)))
    return {k: float(np.mean(v)) for k, v in out.items()}


def d15_experiment(quick: bool):
    seeds = range(2) if quick else range(3)
    steps = 200 if quick else 1000
    ns = (32, 128) if quick else (32, 64, 128, 256, 512)
    ms = (10, 100) if quick else (10, 30, 100, 300, 1000)
    m_fixed, n_fixed = (100, 128) if quick else (500, 256)
    rows = []
    t0 = time.perf_counter()
    for n in ns:
        e = _test_errors(n, m_fixed, seeds, steps)
        rows.append({"sweep": "n", "n": n, "m": m_fixed, **{f"test err {k}" if "train" not in k else f"{k} err": v
                                                             for k, v in e.items()}})
    for m in ms:
        e = _test_errors(n_fixed, m, seeds, steps)
        rows.append({"sweep": "m", "n": n_fixed, "m": m, **{f"test err {k}" if "train" not in k else f"{k} err": v
                                                             for k, v in e.items()}})
    info = {"draws": len(seeds), "steps": steps, "wall s": time.perf_counter() - t0}
    fig = _figure_d15(rows)
    return rows, info, fig


def _figure_d15(rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for a_, sweep in zip(ax, ("n", "m")):
        rs = [r for r in rows if r["sweep"] == sweep]
        x = [r[sweep] for r in rs]
        a_.semilogx(x, [r["test err both"] for r in rs], "o-", label="both layers (F1 max margin)")
        a_.semilogx(x, [r["test err output"] for r in rs], "s-", label="output layer (random features)")
        a_.semilogx(x, [r["test err F2 SVM"] for r in rs], "k--", label="F2 max-margin SVM")
        a_.set_xticks(x, [str(v) for v in x])
        a_.minorticks_off()
        a_.set_xlabel(sweep)
        a_.set_ylabel("test error")
        fixed = "m" if sweep == "n" else "n"
        a_.set_title(f"d = 15, {fixed} = {rs[0][fixed]}")
        a_.legend(fontsize=8)
    fig.tight_layout()
    return fig


def main(argv=None):
    def extra(p):
        p.add_argument("--part", choices=("all", "d2", "d15"), default="all", help="which experiment to run")

    args = parse_args(__doc__.splitlines()[0], argv, extra)
    out = []
    if args.part in ("all", "d2"):
        rows2, info2, fig2 = d2_experiment(args.quick)
        write_results("implicit_bias_d2", rows2, args, meta=info2, figure=fig2)
        out += [rows2, info2]
    if args.part in ("all", "d15"):
        rows15, info15, fig15 = d15_experiment(args.quick)
        write_results("implicit_bias_d15", rows15, args, meta=info15, figure=fig15)
        out += [rows15, info15]
    return out


if __name__ == "__main__":
    main()
