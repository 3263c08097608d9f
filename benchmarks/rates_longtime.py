"""Long-time behaviour of the teacher–student flow: F(t) - F* to T = 10^6 on the grid and with particles,
the fitted late-time exponent, and the cost of reaching T = 10^6 with the linearly implicit stepper
("ros2") against the explicit fixed-bound stepping.

Problem: teacher–student with Gaussian inputs in R^2 (``dx = 2``, teacher ``data/teacher_fig2.csv``, four
neurons), neurons ``(a, b)`` on S^2 (the planar case: ``b`` in R^2, which is a one-dimensional input with a
bias), ``nu_0`` uniform of mass 1, ``(alpha, beta) = (4, 1)``.

* Grid: icosahedral levels 2, 3 and 4 (162, 642 and 2562 cells), upwind, ``stepper = "ros2"``,
  ``rtol = 1e-4``.
  ``F*`` is the grid's own minimum, ``min_{m >= 0} m.K m / 2 + V.m + C`` (the semi-discrete flow converges
  to it, not to 0): a nonnegative least-squares problem (:func:`discrete_minimum`, scipy's NNLS on a
  factor of K), whose KKT residual (``J >= 0`` everywhere, ``J = 0`` on the support) is reported.
* Particles: the level-0 and level-1 generators (12 and 42 atoms) with their cell areas as masses,
  ``stepper = "ros2"``, ``rtol = 1e-4``, ``atol = 1e-9``. ``F* = 0``, the global minimum (the teacher
  measure is itself a measure of 4 atoms); the run's own last value is reported beside it.
* Exponent: slope of ``log(F - F*)`` against ``log t`` by least squares over the records (10 per decade)
  in two fixed windows, ``[10^3, 10^5]`` and ``[10^4, 10^6]`` (chosen before any run, not tuned), leaving
  out records with ``F - F* < 1e-12 F(0)`` (round-off of F), for each
  resolution (three grids, two particle sets, two networks): two slopes each; the table gives each, and
  the summary their mean with the half-range as the error bar, and the grid's slopes by resolution.
* Networks (``--networks-only`` runs these rows alone, into ``rates_longtime_networks``): widths m = 20
  and 100 (``initial_weights(m, 2, radius=1, seed=0)``, i.e. i.i.d. uniform from the same ``nu_0``) following
  their full-gradient flow with ``step_rule = "ros2"`` (the particles' stepper through the lifting of the
  neurons, :mod:`wgf.discretisations.network_flow`), first step 0.01, ``rtol = 1e-4``, ``atol = 1e-9``;
  ``F* = 0`` as for the particles.
* Cost: the grid at level 3 with the existing explicit stepping (``"ssprk2"``, adaptive within the
  positivity and energy-stability bounds) to ``T_explicit = 10^4``, side by side in the same run with
  "ros2" at rtol 1e-3 .. 1e-6 to 10^6: steps and wall time; the accuracy of each, the largest relative
  deviation of F - F* from ros2 at rtol 1e-6 over t = 10^2, 10^3, 10^4 (and, for ros2, over every record
  to 10^6); and the explicit cost to 10^6 extrapolated from its last 1000 steps (their mean step and time
  per step; the step is capped by the energy-stability bound, which stays about constant).

Run ``python -m benchmarks.rates_longtime [--quick] [--networks-only]`` (quick: T = 10^4, levels 1, 2 and
0, 1, the explicit run to 10^3).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from benchmarks._harness import fitted_slope, parse_args, write_results

import wgf
from wgf.discretisations.eulerian import EulerianSolver
from wgf.discretisations.interaction import DenseInteraction
from wgf.discretisations.lagrangian import LagrangianSolver
from wgf.discretisations.network import NetworkTrainer, initial_weights
from wgf.geometry.grid import icosahedral_grid

TEACHER = Path(__file__).resolve().parents[1] / "data" / "teacher_fig2.csv"
WINDOWS = ((1e3, 1e5), (1e4, 1e6))
NETWORK_WIDTHS = (20, 100)


def discrete_minimum(model, grid) -> tuple[float, float]:
    """``F*`` of the grid and the KKT residual of the minimiser found.

    ``F(m) = m.K m / 2 + V.m + C`` over ``m >= 0``; with ``K = Q diag(lambda) Q^T`` (``lambda > 0`` kept,
    ``-V`` lies in the range of K for this model: ``V = -Phi^T y`` with ``K = Phi^T Phi``) it is
    ``||A m - b||^2 / 2 + C - |b|^2 / 2`` with ``A = diag(sqrt lambda) Q^T``, ``b = diag(lambda^-1/2) Q^T (-V)``:
    scipy's NNLS. Returns ``(F*, r)``, ``r = max(max_i (-J_i)^+, max_{m_i > 0} |J_i|)`` with ``J = K m + V``."""
    from scipy.optimize import nnls

    K = DenseInteraction(model, grid.points).K
    V = np.asarray(model.linear_potential(grid.points), dtype=np.float64)
    C = float(model.energy_constant)
    lam, Q = np.linalg.eigh(K)
    keep = lam > 1e-13 * lam.max()
    A = np.sqrt(lam[keep])[:, None] * Q[:, keep].T
    b = (Q[:, keep].T @ (-V)) / np.sqrt(lam[keep])
    m, _ = nnls(A, b, maxiter=100 * grid.size)
    J = K @ m + V
    F = 0.5 * float(m @ (K @ m)) + float(V @ m) + C
    resid = max(float(np.maximum(-J, 0.0).max()), float(np.abs(J[m > 0]).max()) if np.any(m > 0) else 0.0)
    return F, resid


def _record(solver, times, extra=None):
    """Advance through ``times`` recording F, the steps and the wall time at each (and ``extra(solver)``
    into ``extra.values`` when given)."""
    F, steps, wall = [], [], []
    t0 = time.perf_counter()
    for t in times:
        solver.advance(float(t))
        F.append(solver.energy())
        steps.append(solver.steps)
        wall.append(time.perf_counter() - t0)
        if extra is not None:
            extra(solver)
    return np.array(F), np.array(steps), np.array(wall)


#: Records with ``F - F* < ROUNDOFF * F(0)`` are left out of the fits: the round-off level of F
#: (:func:`wgf.discretisations.solver.energy_tolerance` is ~1e-14 of the terms of F here).
ROUNDOFF = 1e-12


def _window_slope(times, gaps, window):
    sel = (times >= window[0] * (1 - 1e-9)) & (times <= window[1] * (1 + 1e-9)) & (gaps > ROUNDOFF * gaps[0])
    if sel.sum() < 3:
        return math.nan
    return fitted_slope(times[sel], gaps[sel])


def _slope_keys(windows, slopes) -> dict:
    return {f"slope [{w[0]:.0e}, {w[1]:.0e}]": s for w, s in zip(windows, slopes)}


def network_rows(model, times, windows, T) -> tuple[list[dict], list[tuple]]:
    """The table rows and curves of the networks (see the module docstring)."""
    rows, curves = [], []
    for m in NETWORK_WIDTHS:
        net = NetworkTrainer(model, initial_weights(m, 2, radius=1.0, seed=0), step_size=0.01, step_rule="ros2",
                             rtol=1e-4, atol=1e-9)
        F, steps, wall = _record(net, times)
        slopes = [_window_slope(times, F, w) for w in windows]
        curves.append((f"network, m = {m}", times, F, slopes))
        rows.append({"discretisation": "network (ros2)", "resolution": f"m = {m}", "T": T, "steps": int(steps[-1]),
                     "jacobians": net.particle_flow.jacobians, "rejected": str(net.rejected),
                     "wall s": float(wall[-1]), "F*": 0.0, "F* source": "global minimum (teacher = 4 atoms)",
                     "F(T) - F*": float(F[-1]), **_slope_keys(windows, slopes),
                     "last dt": net.last_step, "dt_E at T": math.nan, "dt_cfl at T": math.nan,
                     "dt_cfl slope": math.nan})
    return rows, curves


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv, extra=lambda p: p.add_argument(
        "--networks-only", action="store_true", help="the network rows alone (results rates_longtime_networks)"))
    quick = args.quick
    T = 1e4 if quick else 1e6
    times = np.logspace(0, math.log10(T), 10 * int(round(math.log10(T))) + 1)
    windows = ((1e2, 1e3), (1e3, 1e4)) if quick else WINDOWS
    model = wgf.models.TeacherStudent(np.loadtxt(TEACHER, delimiter=","), inputs="gaussian")
    net_rows, net_curves = network_rows(model, times, windows, T)
    if args.networks_only:
        write_results("rates_longtime_networks", net_rows, args, {"windows": [list(w) for w in windows]})
        return net_rows
    rows, curves = [], []

    # ------------------------------------------------------------------ grid
    for level in ((1, 2) if quick else (2, 3, 4)):
        g = icosahedral_grid(level)
        Fstar, kkt = discrete_minimum(model, g)
        s = EulerianSolver(model, g, stepper="ros2", rtol=1e-4)
        cfl = []
        F, steps, wall = _record(s, times, lambda sol: cfl.append(sol.diagnostics()["dt_cfl"]))
        gap = F - Fstar
        slopes = [_window_slope(times, gap, w) for w in windows]
        cfl = np.array(cfl)
        curves.append((f"grid, {g.size} cells", times, gap, slopes))
        rows.append({"discretisation": "grid (ros2)", "resolution": f"level {level}, {g.size} cells",
                     "T": T, "steps": int(steps[-1]), "jacobians": s.jacobians,
                     "rejected": f"{s.rejections['positivity']}/{s.rejections['error']}/{s.rejections['energy']}",
                     "wall s": float(wall[-1]), "F*": Fstar, "F* source": f"NNLS, KKT residual {kkt:.1e}",
                     "F(T) - F*": float(gap[-1]),
                     f"slope [{windows[0][0]:.0e}, {windows[0][1]:.0e}]": slopes[0],
                     f"slope [{windows[1][0]:.0e}, {windows[1][1]:.0e}]": slopes[1],
                     "last dt": s.last_dt, "dt_E at T": s.diagnostics()["dt_energy"],
                     "dt_cfl at T": s.diagnostics()["dt_cfl"],
                     "dt_cfl slope": _window_slope(times, cfl, windows[1])})
        if level == (2 if quick else 3):
            ros2_fine = (g, Fstar, F, steps, wall)

    # ------------------------------------------------------------------ particles
    for level in ((0, 1) if quick else (0, 1)):
        g = icosahedral_grid(level)
        nu0 = wgf.Measure(g.points, g.volumes / g.volumes.sum())
        s = LagrangianSolver(model, nu0, stepper="ros2", rtol=1e-4, atol=1e-9)
        F, steps, wall = _record(s, times)
        gap = F - 0.0
        slopes = [_window_slope(times, gap, w) for w in windows]
        curves.append((f"particles, N = {g.size}", times, gap, slopes))
        rows.append({"discretisation": "particles (ros2)", "resolution": f"N = {g.size}",
                     "T": T, "steps": int(steps[-1]), "jacobians": s.jacobians, "rejected": str(s.rejected),
                     "wall s": float(wall[-1]), "F*": 0.0, "F* source": "global minimum (teacher = 4 atoms)",
                     "F(T) - F*": float(gap[-1]),
                     f"slope [{windows[0][0]:.0e}, {windows[0][1]:.0e}]": slopes[0],
                     f"slope [{windows[1][0]:.0e}, {windows[1][1]:.0e}]": slopes[1],
                     "last dt": s.proposed_dt, "dt_E at T": math.nan,
                     "dt_cfl at T": math.nan, "dt_cfl slope": math.nan})

    rows += net_rows
    curves += net_curves

    # ------------------------------------------------------------------ cost against explicit stepping
    g, Fstar, F_r, steps_r, wall_r = ros2_fine
    T_ex = 1e3 if quick else 1e4
    ex_times = times[times <= T_ex * (1 + 1e-9)]
    ex = EulerianSolver(model, g, stepper="ssprk2")
    F_e, steps_e, wall_e = _record(ex, ex_times)
    # the last 1000 explicit steps: their mean step and wall time per step
    n_tail = 1000
    t_before = ex.time
    t0 = time.perf_counter()
    k0 = ex.steps
    ex.advance(ex.time + 1e9, lambda sol: sol.steps - k0 >= n_tail)
    tail_steps = ex.steps - k0
    mean_dt = (ex.time - t_before) / tail_steps
    per_step = (time.perf_counter() - t0) / tail_steps
    steps_ex_T = steps_e[-1] + (T - T_ex) / mean_dt
    wall_ex_T = wall_e[-1] + (T - T_ex) / mean_dt * per_step
    i_ex = int(np.argmin(np.abs(times - T_ex)))
    # accuracy: ros2 at tighter tolerances; every run against the tightest (rtol 1e-6), in F - F*
    tight = {1e-4: (F_r, steps_r, wall_r)}
    for rtol in (1e-3, 1e-5, 1e-6):
        tight[rtol] = _record(EulerianSolver(model, g, stepper="ros2", rtol=rtol), times)
    F_ref = tight[1e-6][0]
    check = [tt for tt in (1e2, 1e3, 1e4) if tt <= T_ex]
    idx = [int(np.argmin(np.abs(times - tt))) for tt in check]

    def deviation(Fs):
        return max(abs(Fs[i] - F_ref[i]) / (F_ref[i] - Fstar) for i in idx)

    agree = {"ssprk2": deviation(F_e)}
    agree.update({f"ros2 rtol {r:g}": deviation(v[0]) for r, v in tight.items() if r != 1e-6})
    # and over every record to T (the explicit run stops at T_explicit)
    agree_T = {f"ros2 rtol {r:g}": float(np.max(np.abs(v[0] - F_ref) / (F_ref - Fstar)))
               for r, v in tight.items() if r != 1e-6}
    dev = f"max over t = {', '.join(f'{c:g}' for c in check)} of |F - F_ref| / (F_ref - F*), F_ref: ros2 rtol 1e-6"
    cost_rows = [
        {"stepper": "ssprk2 (explicit, bounds)", "to T": T_ex, "steps": int(steps_e[-1]), "wall s": float(wall_e[-1]),
         "how": "measured", "deviation": agree["ssprk2"]},
        {"stepper": "ssprk2 (explicit, bounds)", "to T": T, "steps": int(steps_ex_T), "wall s": float(wall_ex_T),
         "how": f"extrapolated from its last {tail_steps} steps: mean dt {mean_dt:.3g}, {per_step * 1e3:.3g} ms/step",
         "deviation": math.nan},
    ]
    for rtol, (Fs, st, wl) in tight.items():
        for k, tt in ((i_ex, T_ex), (len(times) - 1, T)):
            cost_rows.append({"stepper": f"ros2 rtol {rtol:g}", "to T": tt, "steps": int(st[k]), "wall s": float(wl[k]),
                              "how": "measured",
                              "deviation": agree.get(f"ros2 rtol {rtol:g}", 0.0) if tt == T_ex
                              else agree_T.get(f"ros2 rtol {rtol:g}", 0.0)})
    from benchmarks._harness import format_table
    print(format_table(cost_rows))

    grid_slopes = [x for c in curves if c[0].startswith("grid") for x in c[3]]
    part_slopes = [x for c in curves if c[0].startswith("particles") for x in c[3]]

    def summary(sl):
        sl = [x for x in sl if math.isfinite(x)]
        if not sl:
            return "n/a"
        return f"{np.mean(sl):.3f} +- {0.5 * (max(sl) - min(sl)):.3f} (from {len(sl)} fits)"

    meta = {
        "problem": ("teacher-student, Gaussian inputs in R^2 (planar S^2), teacher data/teacher_fig2.csv, "
                    "nu_0 uniform mass 1"),
        "windows": [list(w) for w in windows],
        "grid exponent (mean +- half-range)": summary(grid_slopes),
        "particle exponent (mean +- half-range)": summary(part_slopes),
        "grid slopes by resolution": {c[0]: [round(float(x), 3) for x in c[3]] for c in curves
                                      if c[0].startswith("grid")},
        "cost rows": cost_rows,
        "deviation": dev,
        "deviations": agree,
        "deviations over every record to T (ros2)": agree_T,
    }
    for rtol, (Fs, st, wl) in tight.items():
        meta[f"explicit / ros2 rtol {rtol:g} to T = {T:g} (steps, wall; explicit extrapolated)"] = (
            f"{steps_ex_T / st[-1]:.3g}, {wall_ex_T / wl[-1]:.3g}")
        meta[f"explicit / ros2 rtol {rtol:g} to T = {T_ex:g} (steps, wall; measured)"] = (
            f"{steps_e[-1] / st[i_ex]:.3g}, {wall_e[-1] / wl[i_ex]:.3g}")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (label, t, gap, sl), c in zip(curves, ["C0", "C1", "C4", "C2", "C3", "C5", "C6"]):
        ok = gap > 0
        ax.loglog(t[ok], gap[ok], "-", color=c, label=f"{label}: slopes {sl[0]:.2f}, {sl[1]:.2f}")
    ax.axhline(ROUNDOFF * curves[0][2][0], color="0.5", lw=0.8, ls="--")
    ok = (F_e - Fstar) > 0
    ax.loglog(ex_times[ok], (F_e - Fstar)[ok], "k:", lw=2, label=f"grid {g.size} cells, explicit ssprk2")
    for w in windows:
        ax.axvspan(w[0], w[1], color="0.9" if w is windows[0] else "0.8", alpha=0.3, lw=0)
    ax.set_xlabel("t")
    ax.set_ylabel("F(t) - F*")
    ax.set_title("teacher-student (planar S^2): grid F* = its NNLS minimum, particles F* = 0", fontsize=9)
    ax.legend(fontsize=7)
    write_results("rates_longtime", rows, args, meta, figure=fig)
    return rows


if __name__ == "__main__":
    main()
