"""Sparse spike deconvolution (BLASSO) by the Wasserstein–Fisher–Rao flow on a grid, against an
independently computed BLASSO minimiser, on S^1 (Chizat's setting: Dirichlet kernel fc = 8, 5 spikes,
lambda = 0.3) and S^2 (spherical harmonics of degree <= 10, 4 spikes, lambda = 0.3).

``python -m benchmarks.deconvolution`` (S^1: n = 64..1024 cells to t = 100; S^2: icosahedral levels 2..4 to
t = 30); ``--quick``: S^1 n = 64, 128, 256 and S^2 levels 2, 3, shorter. (Level 5 on S^2 is left out: the
certificate sums the kernel over all 10242 cells at ~10^5 covering points per record.)

The reference minimiser does not use the flow: the convex problem restricted to a fine grid of positions
(S^1: 4096 equispaced points; S^2: the level-5 icosahedral points, 10242) is solved exactly by an active-set
method (:func:`wgf.analysis.reference.grid_minimiser`); the grid atoms next to each other are merged
(:func:`wgf.analysis.reference.merge_atoms`) and positions and weights are then polished by L-BFGS-B on F
(:func:`wgf.analysis.reference.polish_atoms`), which removes the fine grid's discretisation of the positions. Its
optimality over all measures is certified by :func:`wgf.optimality_certificate` (second-order bound on
min J, a covering of 2^14 points refined 8 times near the minima of J).

For every grid the flow's limit is compared with (i) the reference: mass assigned to each reference spike
within half the spikes' minimum separation, barycentre position error and weight error, mass assigned to
no spike, and F - F(reference); (ii) the exact minimiser over the same grid (F difference); and the
certificate gap is followed along the flow down to the grid's floor (covering 16 points per cell on S^1,
8 on S^2, refined 4 times). The reference is compared with the
true spikes separately (the lambda bias).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from benchmarks._harness import fitted_slope, parse_args, write_results
from wgf import Measure, optimality_certificate
from wgf.discretisations.eulerian import EulerianSolver
from wgf.geometry.grid import circle_grid, icosahedral_grid
from wgf.models import SpikeDeconvolution
from wgf.analysis.reference import grid_minimiser, match_spikes, merge_atoms, polish_atoms
from wgf.geometry.sphere import circle_points, geodesic_distance

DATA = Path(__file__).resolve().parents[1] / "data"
LAMBDA = 0.3
#: Rounds of local refinement of the certificate's covering (flows and grid floors; the reference).
REFINE, REFINE_REFERENCE = 4, 8
SETTINGS = {1: {"csv": "spikes_s1_fc8.csv", "degree": 8}, 2: {"csv": "spikes_s2_L10.csv", "degree": 10}}


def load_model(dim: int) -> SpikeDeconvolution:
    D = np.loadtxt(DATA / SETTINGS[dim]["csv"], delimiter=",")
    return SpikeDeconvolution(D[:, :-1], D[:, -1], SETTINGS[dim]["degree"], LAMBDA, normalization="fourier")


def min_separation(nu: Measure) -> float:
    i, j = np.triu_indices(nu.size, 1)
    return float(geodesic_distance(nu.points[i], nu.points[j]).min())


def reference_minimiser(model: SpikeDeconvolution, fine_points: np.ndarray, spacing: float, cover: int) -> dict:
    t0 = time.perf_counter()
    gm = grid_minimiser(model, fine_points)
    merged = merge_atoms(gm.measure, 2.5 * spacing)
    pol = polish_atoms(model, merged)
    cert = optimality_certificate(model, pol.measure, n_points=cover, local_starts=0, refine=REFINE_REFERENCE)
    return {"measure": pol.measure, "energy": pol.energy, "fine grid energy": gm.energy,
            "fine grid atoms": gm.measure.size, "stationarity": pol.stationarity, "certificate": cert.gap_bound,
            "certificate min_J_lower": cert.min_J_lower, "covering radius": cert.covering_radius,
            "wall s": time.perf_counter() - t0}


def bias_rows(model: SpikeDeconvolution, ref: Measure, radius: float) -> list[dict]:
    """Reference minimiser against the true spikes: position shift, weight, and the linearised predictions
    ``w - lambda / K(x, x)`` (isolated spike) and ``w - lambda (K_XX^{-1} 1)`` (all spikes, positions fixed)."""
    true = model.spikes
    match = match_spikes(ref, true, radius)
    Kxx = model.interaction(true.points, true.points)
    lin = true.masses - LAMBDA * np.linalg.solve(Kxx, np.ones(true.size))
    rows = []
    for k in range(true.size):
        x = true.points[k]
        where = (f"theta = {math.atan2(x[1], x[0]) % (2 * math.pi):.4f}" if model.dim == 1 else
                 f"(polar, azimuth) = ({math.acos(np.clip(x[2], -1, 1)):.4f}, {math.atan2(x[1], x[0]):.4f})")
        rows.append({"sphere": f"S^{model.dim}", "spike": k, "position": where, "w true": float(true.masses[k]),
                     "w reference": float(match.weights[k]),
                     "w - lambda/K(x,x)": float(true.masses[k] - LAMBDA / model.kernel_peak),
                     "w - lambda K^-1 1": float(lin[k]), "position shift": float(match.position_error[k])})
    return rows


def run_flow(model, grid, T: float, n_times: int, cover: int) -> tuple[EulerianSolver, list[dict], float]:
    s = EulerianSolver(model, grid, stepper="euler")
    hist = []
    wall = 0.0
    for t in np.concatenate([[0.0], np.geomspace(1e-2, T, n_times)]):
        a = time.perf_counter()
        s.advance(float(t))
        wall += time.perf_counter() - a
        c = optimality_certificate(model, s.measure, n_points=cover, local_starts=0, refine=REFINE)
        hist.append({"t": float(t), "F": c.energy, "gap": c.gap_bound, "min_J_lower": c.min_J_lower,
                     "min_J_cells": float(s.diagnostics()["min_J"]),
                     "min_density": float(np.min(s.masses / grid.volumes))})
    return s, hist, wall


def resolution_study(dim: int, grids: list, T: float, n_times: int, cover_factor: int, ref: dict,
                     radius: float) -> tuple[list[dict], dict]:
    model = load_model(dim)
    rows, histories, finals = [], {}, {}
    for label, g in grids:
        cover = cover_factor * g.size
        s, hist, wall = run_flow(model, g, T, n_times, cover)
        gm = grid_minimiser(model, g.points)
        floor = optimality_certificate(model, gm.measure, n_points=cover, local_starts=0, refine=REFINE)
        mf = match_spikes(s.measure, ref["measure"], radius)
        mg = match_spikes(gm.measure, ref["measure"], radius)
        histories[label] = (hist, floor.gap_bound)
        finals[label] = s.measure
        rows.append({
            "sphere": f"S^{dim}", "grid": label, "cells": g.size, "h": g.h, "T": T, "steps": s.steps,
            "run s": wall, "F - F_grid": hist[-1]["F"] - gm.energy, "F_grid - F_ref": gm.energy - ref["energy"],
            "flow pos err": float(np.nanmax(mf.position_error)),
            "flow weight err": float(np.max(np.abs(mf.weight_error))), "flow stray mass": mf.stray_mass,
            "grid-min pos err": float(np.nanmax(mg.position_error)),
            "grid-min weight err": float(np.max(np.abs(mg.weight_error))),
            "certificate(T)": hist[-1]["gap"], "floor (grid min)": floor.gap_bound,
            "covering radius": floor.covering_radius, "min density(T)": hist[-1]["min_density"],
        })
        print({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in rows[-1].items()}, flush=True)
    h = [r["h"] for r in rows]
    slopes = {k: fitted_slope(h, [max(r[k], 1e-300) for r in rows])
              for k in ("flow pos err", "flow weight err", "grid-min pos err", "F_grid - F_ref", "floor (grid min)",
                        "certificate(T)")}
    return rows, {"slopes vs h": slopes, "histories": histories, "finals": finals}


def figure(dim: int, model, ref: dict, rows: list[dict], histories: dict, final: Measure, final_label: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(17, 4.8))
    true = model.spikes
    if dim == 1:
        th = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
        obs = model.predict(true, circle_points(2000, offset=0.0))
        ax[0].plot(th, obs / model.kernel_peak, color="0.7", lw=1, label="observation K nu0 / K(0)")
        ang = lambda P: np.mod(np.arctan2(P[:, 1], P[:, 0]), 2 * np.pi)  # noqa: E731
        ax[0].vlines(ang(final.points), 0, final.masses, color="C2", lw=2, label=f"flow limit, {final_label}")
        ax[0].plot(ang(true.points), true.masses, "ko", mfc="none", ms=9, label="true spikes")
        ax[0].plot(ang(ref["measure"].points), ref["measure"].masses, "rx", ms=9, mew=2, label="reference minimiser")
        ax[0].set_xlabel("theta")
        ax[0].set_ylabel("weight")
        ax[0].set_xlim(0, 2 * np.pi)
    else:
        def lonlat(P):
            return np.degrees(np.arctan2(P[:, 1], P[:, 0])), np.degrees(np.arcsin(np.clip(P[:, 2], -1, 1)))
        keep = final.masses > 1e-6 * final.masses.max()
        lo, la = lonlat(final.points[keep])
        sc = ax[0].scatter(lo, la, c=final.masses[keep], s=12, cmap="viridis", label=f"flow limit, {final_label}")
        fig.colorbar(sc, ax=ax[0], label="cell mass")
        lo, la = lonlat(true.points)
        ax[0].scatter(lo, la, s=140, facecolors="none", edgecolors="k", label="true spikes")
        lo, la = lonlat(ref["measure"].points)
        ax[0].scatter(lo, la, marker="x", s=80, c="r", label="reference minimiser")
        ax[0].set_xlabel("longitude (deg)")
        ax[0].set_ylabel("latitude (deg)")
    ax[0].legend(fontsize=7, loc="upper right")
    ax[0].set_title(f"S^{dim}: spikes, reference, flow limit")

    h = np.array([r["h"] for r in rows])
    for key, mk in (("flow pos err", "o-"), ("grid-min pos err", "s--"), ("flow weight err", "^-"),
                    ("floor (grid min)", "d-"), ("F_grid - F_ref", "v:")):
        y = np.array([r[key] for r in rows])
        ax[1].loglog(h, y, mk, label=f"{key} (slope {fitted_slope(h, np.maximum(y, 1e-300)):.2f})")
    ax[1].loglog(h, h / 2, "k:", lw=0.8, label="h / 2")
    ax[1].set_xlabel("grid size h")
    ax[1].set_title("flow limit vs reference, against h")
    ax[1].legend(fontsize=7)

    for i, (label, (hist, floor)) in enumerate(histories.items()):
        t = np.array([e["t"] for e in hist])[1:]
        gap = np.array([e["gap"] for e in hist])[1:]
        ax[2].loglog(t, gap, "-", color=f"C{i}", label=label)
        ax[2].axhline(floor, color=f"C{i}", ls=":", lw=0.8)
    ax[2].set_xlabel("t")
    ax[2].set_ylabel("certificate gap (bound on F - F*)")
    ax[2].set_title("certificate along the flow; dotted: floor at the grid minimiser")
    ax[2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv)
    quick = args.quick
    bias = []
    for dim in (1, 2):
        model = load_model(dim)
        if dim == 1:
            fine = 1024 if quick else 4096
            ref = reference_minimiser(model, circle_points(fine), 2 * np.pi / fine, 2**14)
            ns = (64, 128, 256) if quick else (64, 128, 256, 512, 1024)
            grids = [(f"n={n}", circle_grid(n)) for n in ns]
            T, n_times, cover_factor = (50.0, 12, 16) if quick else (100.0, 30, 16)
        else:
            lv_fine = 4 if quick else 5
            g_fine = icosahedral_grid(lv_fine)
            ref = reference_minimiser(model, g_fine.points, g_fine.h, 2**14)
            lvs = (2, 3) if quick else (2, 3, 4)
            grids = [(f"level {k}", icosahedral_grid(k)) for k in lvs]
            T, n_times, cover_factor = (20.0, 8, 8) if quick else (30.0, 12, 8)
        radius = 0.5 * min_separation(ref["measure"])
        print(f"S^{dim} reference: F = {ref['energy']:.10g}, certificate {ref['certificate']:.3g}, "
              f"stationarity {ref['stationarity']:.2g}, {ref['wall s']:.1f} s", flush=True)
        bias += bias_rows(model, ref["measure"], radius)
        rows, extra = resolution_study(dim, grids, T, n_times, cover_factor, ref, radius)
        label = grids[-2][0] if len(grids) > 2 else grids[-1][0]
        fig = figure(dim, model, ref, rows, extra["histories"], extra["finals"][label], label)
        hist_summary = {lab: {"t": [e["t"] for e in hist], "gap": [e["gap"] for e in hist],
                              "F": [e["F"] for e in hist], "min_density": [e["min_density"] for e in hist],
                              "floor": floor} for lab, (hist, floor) in extra["histories"].items()}
        meta = {"lambda": LAMBDA, "degree": SETTINGS[dim]["degree"], "K(x,x)": model.kernel_peak,
                "spikes": SETTINGS[dim]["csv"], "true min separation": min_separation(model.spikes),
                "matching radius": radius,
                "reference": {k: v for k, v in ref.items() if k != "measure"},
                "reference spikes": {"points": ref["measure"].points.tolist(),
                                     "weights": ref["measure"].masses.tolist()},
                "slopes vs h": extra["slopes vs h"], "histories": hist_summary}
        write_results(f"deconvolution_s{dim}", rows, args, meta=meta, figure=fig)
    write_results("deconvolution_bias", bias, args)


if __name__ == "__main__":
    main()
