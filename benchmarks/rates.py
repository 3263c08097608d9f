"""Convergence rates: every measured order of wgf with the fitted slope beside the expected one.

1. Eulerian finite volumes (``benchmarks.eulerian.convergence``): L1 error of the cell masses against the
   exact solution of the linear potential J = -<e, eta> (alpha = 4, beta = 1, T = 0.5), upwind / forward
   Euler and MUSCL / SSPRK2 on S^1 (n cells) and S^2 (icosahedral levels, plain and 4 Lloyd iterations),
   dt = 0.25 h; slope of log(error) against log(h). Expected 1 (upwind) and 2 (MUSCL).
2. Time steppers on an ODE: every registered stepper (``wgf.discretisations.timesteppers.STEPPERS``) on the nonlinear
   system dy/dt = L y^2 - (W y - 0.2) y (a transport part and a reaction, so that the Strang splitting
   applies), error at T = 1 against a DOP853 solution at rtol 1e-13; slope against dt = the stepper's order.
   And the Lagrangian solver (Runge–Kutta with retraction on S^2, log-masses) on the exact characteristics
   of the linear potential (``wgf.analysis.exact.linear_characteristics``; masses m_t = m_0 e^{alpha t}
   (c_0/c_t)^{alpha/beta}, c = cos^2(phi/2)): slope = the tableau's order.
3. Lagrangian solution against the quadrature size: teacher–student on S^2 (teacher data/teacher_fig2.csv,
   Gaussian inputs), nu_0 uniform of mass 1, RK4 with dt = 0.05 to T = 2 (the same time steps for every N,
   so that the difference to the reference is the quadrature's), initial atoms from N-point quadratures of
   nu_0: the icosahedral grid's generators weighted by their cell areas (N = 42..10242), against the same
   scheme on a much finer grid; error = the exact predictor distance ||h_N(T) - h_ref(T)|| (the K-norm).
   Expected slope -1 in N (h^2, h ~ N^{-1/2}): the cell-area rule is second order for smooth integrands on
   a quasi-uniform mesh, and the ReLU kink along great circles costs only O(h^3) on each of the O(1/h) cut
   cells, O(h^2) in all; the flow carries this initial quadrature error stably to time T. Beside it, two
   quadratures that do not have this order: equal weights 1/N on the grid's generators (a weight error of
   O(1) relative size, cell areas vary by 30%: no convergence beyond the area variation), and N i.i.d.
   uniform points (Monte Carlo: slope -1/2, root-mean-square over 4 draws).
4. Networks against the width m (mean field): full-gradient GD (gamma = 0.05, equal steps) to T = 0.5 from
   i.i.d. uniform neurons of two independent networks of width m; (1/2) E ||h_m^(1) - h_m^(2)||^2 over
   independent pairs (= the variance of h_m, reference free) against m: expected slope -1 (the 1/m law of
   the fluctuations).
5. Networks against the step gamma: full-gradient GD with m = 40 neurons against the Lagrangian ODE from the
   same neurons (RK4, dt = T/40) at T = 1: predictor distance against gamma, expected slope 1 (GD is
   forward Euler on the particle ODE), on S^2 (teacher_fig2) and S^100 (a teacher of 10 neurons).

Run ``python -m benchmarks.rates [--quick]``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from benchmarks._harness import fitted_slope, parse_args, write_results

import wgf
from wgf.geometry import sphere
from wgf.discretisations.lagrangian import ADAPTIVE_STEPPERS, LagrangianSolver, runge_kutta_steppers
from wgf.discretisations.network import NetworkTrainer, initial_weights
from wgf.discretisations.timesteppers import STEPPERS, get_stepper

TEACHER = Path(__file__).resolve().parents[1] / "data" / "teacher_fig2.csv"


def _row(group, case, x_name, xs, errs, expected, note=""):
    slope = fitted_slope(xs, errs)
    return {"group": group, "case": case, "against": x_name, "points": len(xs),
            "range": f"{min(xs):.3g}..{max(xs):.3g}", "fitted": slope, "expected": expected,
            "errors": " ".join(f"{e:.3g}" for e in errs), "note": note}, (xs, errs)


# ---------------------------------------------------------------------------------------------- 1. Eulerian
def eulerian_rates(quick):
    from benchmarks.eulerian import convergence
    from wgf.geometry.grid import circle_grid, icosahedral_grid

    e1 = np.array([np.cos(0.3), np.sin(0.3)])
    e2 = np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)
    ns = (64, 128, 256) if quick else (64, 128, 256, 512, 1024)
    lv = (2, 3, 4) if quick else (3, 4, 5, 6)
    circ = [(f"n={n}", circle_grid(n)) for n in ns]
    ico = [(f"level {k}", icosahedral_grid(k)) for k in lv]
    lloyd = [(f"level {k}, lloyd 4", icosahedral_grid(k, lloyd=4)) for k in lv]
    out = []
    for label, grids, e, scheme, stepper, p in (
            ("S^1 upwind / euler", circ, e1, "upwind", "euler", 1),
            ("S^1 MUSCL / ssprk2", circ, e1, "muscl", "ssprk2", 2),
            ("S^2 upwind / euler", ico, e2, "upwind", "euler", 1),
            ("S^2 MUSCL / ssprk2", ico, e2, "muscl", "ssprk2", 2),
            ("S^2 MUSCL / ssprk2, 4 Lloyd iterations", lloyd, e2, "muscl", "ssprk2", 2)):
        rows, _ = convergence(grids, e, scheme, stepper, label)
        hs = [r["h"] for r in rows]
        errs = [r["L1 error"] for r in rows]
        out.append(_row("Eulerian", label, "h", hs, errs, p, "L1 cell-mass error, exact linear-potential flow"))
    return out


# ---------------------------------------------------------------------------------------------- 2. steppers
_L = np.array([[-1.0, 0.5, 0.2], [0.6, -0.9, 0.3], [0.4, 0.4, -0.5]])
_L -= np.diag(_L.sum(axis=0))
_W = np.array([[0.3, 0.1, 0.0], [0.1, 0.2, 0.05], [0.0, 0.05, 0.4]])
_Y0 = np.array([0.7, 0.4, 1.1])


class _System:
    """dy/dt = T(y) - r(y) y with T(y) = L y^2 (conservative) and r(y) = W y - 0.2."""

    def transport_rhs(self, t, y):
        return _L @ (y * y)

    def reaction_rate(self, t, y):
        return _W @ y - 0.2

    def rhs(self, t, y):
        return self.transport_rhs(t, y) - self.reaction_rate(t, y) * y


def stepper_rates(quick):
    from scipy.integrate import solve_ivp

    ref = solve_ivp(_System().rhs, (0, 1.0), _Y0, method="DOP853", rtol=1e-13, atol=1e-15).y[:, -1]
    out = []
    for name in sorted(STEPPERS):
        st = get_stepper(name)
        p = st.order
        ns = {1: [16, 32, 64, 128], 2: [8, 16, 32, 64], 3: [8, 16, 32, 64]}.get(p, [4, 8, 16, 32])
        if getattr(st, "linearly_implicit", False):
            ns = [2 * n for n in ns]  # ROS2's larger error constant: at 8..64 steps its errors still curve
        errs = []
        for n in ns:
            y, dt = _Y0.copy(), 1.0 / n
            for k in range(n):
                y = st.step(_System(), k * dt, y, dt)
            errs.append(float(np.abs(y - ref).max()))
        out.append(_row("time stepper (ODE)", name, "dt", [1.0 / n for n in ns], errs, p,
                        "max error at T = 1, nonlinear transport + reaction ODE"))
    # Lagrangian particles on the exact linear-potential characteristics
    rng = np.random.default_rng(0)
    e = sphere.normalize(rng.standard_normal((1, 3)))[0]
    pts = sphere.sample_uniform(60, 2, rng)
    pts = pts[np.abs(pts @ e) < 0.95]
    m0 = rng.uniform(0.5, 2.0, len(pts))
    model = wgf.models.LinearPotential(e)
    alpha, beta, T = 4.0, 1.0, 1.0
    eta_T = wgf.analysis.exact.linear_characteristics(pts, T, e, beta)
    c0, cT = 0.5 * (1 + pts @ e), 0.5 * (1 + eta_T @ e)
    m_T = m0 * np.exp(alpha * T) * (c0 / cT) ** (alpha / beta)
    for name in [s for s in runge_kutta_steppers() if s not in ADAPTIVE_STEPPERS]:
        p = STEPPERS[name].order
        ns = [8, 16, 32, 64] if p <= 2 else [4, 8, 16, 32]
        errs = []
        for n in ns:
            s = LagrangianSolver(model, wgf.Measure(pts, m0), alpha=alpha, beta=beta, stepper=name, dt=T / n)
            s.advance(T)
            errs.append(max(float(np.abs(s.points - eta_T).max()), float(np.abs(s.masses / m_T - 1).max())))
        out.append(_row("Lagrangian particles", f"{name}, S^2, exact characteristics", "dt",
                        [T / n for n in ns], errs, p, "max position / relative mass error at T = 1"))
    return out


# ---------------------------------------------------------------------------------------------- 3. quadrature
def quadrature_rates(quick):
    from wgf.geometry.grid import icosahedral_grid

    model = wgf.TeacherStudent(np.loadtxt(TEACHER, delimiter=","))
    T, dt = (1.0, 0.05) if quick else (2.0, 0.05)

    def flow(nu):
        s = LagrangianSolver(model, nu, stepper="rk4", dt=dt)
        s.advance(T)
        return s.measure

    levels = (0, 1, 2, 3) if quick else (1, 2, 3, 4, 5)
    ref_level = 5 if quick else 7
    g = icosahedral_grid(ref_level)
    ref = flow(wgf.Measure(g.points, g.volumes / g.volumes.sum()))
    ns, e_area, e_equal = [], [], []
    for lev in levels:
        g = icosahedral_grid(lev)
        ns.append(g.size)
        e_area.append(model.distance(flow(wgf.Measure(g.points, g.volumes / g.volumes.sum())), ref))
        e_equal.append(model.distance(flow(wgf.Measure(g.points, np.full(g.size, 1.0 / g.size))), ref))
    out = [_row("Lagrangian vs quadrature", f"teacher-student S^2, T = {T:g}: grid generators, cell-area weights",
                "N", ns, e_area, -1.0, f"predictor distance to icosahedral level {ref_level}"),
           _row("Lagrangian vs quadrature", "same, equal weights 1/N (inconsistent weights)", "N", ns, e_equal,
                0.0, "no order expected: stalls at the weight error")]
    mc_n = [64, 256, 1024] if quick else [64, 256, 1024, 4096]
    draws = 2 if quick else 4
    e_mc = []
    for n in mc_n:
        sq = [model.distance(flow(wgf.Measure(sphere.sample_uniform(n, 2, 100 * n + s), np.full(n, 1.0 / n))),
                             ref) ** 2 for s in range(draws)]
        e_mc.append(math.sqrt(float(np.mean(sq))))
    out.append(_row("Lagrangian vs quadrature", f"i.i.d. uniform points (Monte Carlo, rms of {draws})", "N", mc_n,
                    e_mc, -0.5, "predictor distance"))
    return out


# ---------------------------------------------------------------------------------------------- 4-5. networks
def width_rates(quick):
    model = wgf.TeacherStudent(np.loadtxt(TEACHER, delimiter=","))
    widths = [8, 16, 32, 64] if quick else [16, 32, 64, 128, 256, 512, 1024]
    pairs = 10 if quick else 24
    est = np.zeros(len(widths))
    for p in range(pairs):
        W1 = initial_weights(widths[-1], 2, seed=7000 + 2 * p)
        W2 = initial_weights(widths[-1], 2, seed=7001 + 2 * p)
        for i, m in enumerate(widths):
            n1 = NetworkTrainer(model, W1[:m], step_size=0.05)
            n2 = NetworkTrainer(model, W2[:m], step_size=0.05)
            n1.advance(0.5)
            n2.advance(0.5)
            est[i] += 0.5 * model.distance(n1.measure, n2.measure) ** 2 / pairs
    return [_row("networks (mean field)", f"GD width m, T = 0.5, S^2, {pairs} independent pairs", "m", widths,
                 list(est), -1.0, "(1/2) E ||h_m1 - h_m2||^2 (variance of h_m); nested widths")]


def step_rates(quick):
    out = []
    for dx in ((2,) if quick else (2, 100)):
        if dx == 2:
            model = wgf.TeacherStudent(np.loadtxt(TEACHER, delimiter=","))
        else:
            rng = np.random.default_rng(2)
            model = wgf.TeacherStudent(np.column_stack([rng.choice([-1.0, 1.0], 10),
                                                        sphere.sample_uniform(10, dx - 1, rng)]))
        W0 = initial_weights(40, dx, kind="uniform", radius=1.0, seed=4)
        T = 1.0
        ode = LagrangianSolver(model, wgf.Measure.from_weights(W0), stepper="rk4", dt=T / 40)
        ode.advance(T)
        gammas = [0.04, 0.02, 0.01, 0.005] if quick else [0.04, 0.02, 0.01, 0.005, 0.0025]
        dist = []
        for g in gammas:
            net = NetworkTrainer(model, W0, step_size=g)
            net.advance(T)
            dist.append(wgf.predictor_distance(model, net.measure, ode.measure))
        out.append(_row("networks (step)", f"GD step gamma vs particle ODE, m = 40, S^{dx}, T = 1", "gamma",
                        gammas, dist, 1.0, "predictor distance to the RK4 particle solution"))
    return out


# ---------------------------------------------------------------------------------------------- main
def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv)
    results, timings = [], {}
    for name, fn in (("eulerian", eulerian_rates), ("steppers", stepper_rates), ("quadrature", quadrature_rates),
                     ("widths", width_rates), ("steps", step_rates)):
        t0 = time.perf_counter()
        results += fn(args.quick)
        timings[name] = round(time.perf_counter() - t0, 1)
        print(f"{name}: {timings[name]} s", flush=True)
    rows = [r for r, _ in results]
    for r in rows:
        r["verdict"] = "quick (pre-asymptotic)" if args.quick else _verdict(r)
    meta = {"seconds": timings, "missed": [f"{r['group']}: {r['case']}" for r in rows if r["verdict"] == "MISSED"]}
    write_results("rates", rows, args, meta=meta, figure=_figure(results))
    return rows


def _verdict(r):
    if r["expected"] == 0.0:
        return "n/a"
    tol = 0.15 if abs(r["expected"]) <= 1 else 0.25
    return "ok" if abs(r["fitted"] - r["expected"]) <= tol * max(1.0, abs(r["expected"])) else "MISSED"


def _figure(results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    groups = list(dict.fromkeys(r["group"] for r, _ in results))
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    for ax, grp in zip(axes.ravel(), groups):
        for i, (r, (xs, errs)) in enumerate((r, d) for r, d in results if r["group"] == grp):
            lab = f"{r['case'][:64]}: {r['fitted']:.2f} (exp. {r['expected']:g})"
            ax.loglog(xs, errs, "o-", ms=3, label=lab, color=f"C{i % 10}")
        ax.set_title(grp, fontsize=10)
        ax.set_xlabel(next(r["against"] for r, _ in results if r["group"] == grp))
        ax.set_ylabel("error")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize=6)
    for ax in axes.ravel()[len(groups):]:
        ax.axis("off")
    fig.suptitle("wgf convergence rates: fitted slope (expected)", fontsize=11)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
