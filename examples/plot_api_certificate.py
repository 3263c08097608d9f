"""
The optimality certificate along a flow
=======================================

For a convex F, any measure nu and any minimiser nu*,
F(nu) - F* <= int J dnu - min(0, min J) nu*(S^d). :func:`wgf.optimality_certificate` turns the right-hand
side into a guaranteed bound (a lower bound on min J from a covering of the sphere and a Lipschitz
constant; with weight decay lambda, nu*(S^d) <= F(nu) / lambda). Here: sparse spike deconvolution on S^1
solved on a grid, the bound at several times, and the potential J at the end (a minimiser has J >= 0
everywhere and J = 0 on its support).
"""

import os

import matplotlib.pyplot as plt
import numpy as np

import wgf
from wgf.app.cases import bundled_cases_dir

SMALL = os.environ.get("WGF_GALLERY_SIZE", "small") != "full"
spikes = np.loadtxt(bundled_cases_dir().parent / "data" / "spikes_s1_fc8.csv", delimiter=",")
model = wgf.SpikeDeconvolution(spikes[:, :2], spikes[:, 2], degree=8, weight_decay=0.3)
n_cells, final, covering = (128, 10.0, 1024) if SMALL else (512, 100.0, 8192)
grid = wgf.circle_grid(n_cells)
pde = wgf.EulerianSolver(model, grid, grid.volumes / grid.volumes.sum(), stepper="euler")

# %%
# The certificate at log-spaced times
# -----------------------------------
times = np.geomspace(0.05, final, 8)
gaps, energies = [], []
for t in times:
    pde.advance(t)
    cert = wgf.optimality_certificate(model, pde.measure, n_points=covering)
    gaps.append(cert.gap_bound)
    energies.append(cert.energy)
    print(f"t = {t:7.3f}  F = {cert.energy:.6f}  min J >= {cert.min_J_lower:+.2e}  gap bound {cert.gap_bound:.2e}")

fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(times, gaps, "o-", label="certificate: bound on F(nu_t) - F*")
ax.loglog(times, np.array(energies) - min(energies) + 1e-16, "s--", label="F(nu_t) - min_t F (for scale)")
ax.set(xlabel="t", title="spike deconvolution on S^1")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# The potential at the final time
# -------------------------------
theta = np.linspace(-np.pi, np.pi, 2000)
points = np.stack([np.cos(theta), np.sin(theta)], axis=1)
J, _ = model.potential(points, pde.measure)
cell_angle = np.arctan2(grid.points[:, 1], grid.points[:, 0])
fig, ax1 = plt.subplots(figsize=(8, 4))
ax1.plot(theta, J, label="J(theta | nu_T)")
ax1.axhline(0.0, color="k", lw=0.5)
ax1.set(xlabel="theta", ylabel="J")
ax2 = ax1.twinx()
ax2.bar(cell_angle, pde.measure.masses, width=2 * np.pi / n_cells, color="C1", alpha=0.6, label="masses of nu_T")
ax2.vlines(np.arctan2(spikes[:, 1], spikes[:, 0]), 0, spikes[:, 2], color="C2", label="true spikes")
ax2.set_ylabel("mass")
fig.legend(loc="upper right", fontsize=8)
fig.tight_layout()
