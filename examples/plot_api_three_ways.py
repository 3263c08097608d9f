"""
Build a model, solve it three ways, compare
===========================================

The Python API behind ``wgf run``: a teacher-student model on S^2, the Wasserstein-Fisher-Rao flow solved
by the Eulerian finite-volume grid, by Lagrangian particles started from the same cells, and by networks
of growing width trained by gradient descent with the mean-field step; then the predictor distances
between them and the invariant Q that the particles and networks conserve and the grid does not.
"""

# %%
# The model
# ---------
# A teacher of four neurons w_k = (a_k, b_k) with b_k in R^2: the student's measure lives on S^2.
import os

import matplotlib.pyplot as plt
import numpy as np

import wgf
from wgf.app.cases import bundled_cases_dir

SMALL = os.environ.get("WGF_GALLERY_SIZE", "small") != "full"
teacher = np.loadtxt(bundled_cases_dir().parent / "data" / "teacher_fig2.csv", delimiter=",")
model = wgf.TeacherStudent(teacher, inputs="gaussian")
print("teacher neurons (a, b):\n", teacher, "\nsphere dimension d =", model.dim)

# %%
# Three discretisations of one flow, from the same uniform nu_0 of mass 1
# -----------------------------------------------------------------------
level, widths, final = (2, [5, 20, 80], 2.0) if SMALL else (4, [5, 20, 100, 1000], 10.0)
grid = wgf.icosahedral_grid(level)
masses = grid.volumes / grid.volumes.sum()
pde = wgf.EulerianSolver(model, grid, masses)
particles = wgf.LagrangianSolver(model, wgf.Measure(grid.points, masses), stepper="rk4", dt=0.05)
networks = {m: wgf.NetworkTrainer(model, wgf.initial_weights(m, model.dim, seed=1), step_size=0.01)
            for m in widths}
solvers = {"eulerian": pde, "lagrangian": particles, **{f"network m={m}": n for m, n in networks.items()}}

# Every solver reports F, the mass and the invariant Q(nu) = int (eta_0^2 - |eta_{1:}|^2) dnu in
# ``diagnostics()``; the (4, 1) flow conserves Q.
times = np.linspace(0.0, final, 11)
energy = {name: [s.diagnostics()["energy"]] for name, s in solvers.items()}
Q = {name: [s.diagnostics()["Q"]] for name, s in solvers.items()}
for t in times[1:]:
    for name, s in solvers.items():
        s.advance(t)
        d = s.diagnostics()
        energy[name].append(d["energy"])
        Q[name].append(d["Q"])

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
for name in solvers:
    ax1.semilogy(times, energy[name], label=name)
    ax2.plot(times, np.array(Q[name]) - Q[name][0], label=name)
ax1.set(xlabel="t", ylabel="F(nu_t)", title="energy")
ax2.set(xlabel="t", ylabel="Q(nu_t) - Q(nu_0)", title="the invariant Q")
ax1.legend(fontsize=8)
fig.tight_layout()

# %%
# Distances to the particle reference
# -----------------------------------
# For this model the predictor distance ||h_nu - h_mu|| is exact (the K-norm of nu - mu). The networks'
# distances fall as m grows; the upwind grid is first order in its cell size.
ref = particles.measure
dist = {name: model.distance(s.measure, ref) for name, s in solvers.items() if s is not particles}
for name, d in dist.items():
    print(f"{name:14s} ||h - h_ref|| = {d:.3e}")

fig, ax = plt.subplots(figsize=(5, 4))
ax.loglog(widths, [dist[f"network m={m}"] for m in widths], "o-", label="networks")
ax.axhline(dist["eulerian"], color="k", ls="--", label=f"Eulerian grid, level {level}")
slope = np.polyfit(np.log(widths), np.log([dist[f"network m={m}"] for m in widths]), 1)[0]
ax.set(xlabel="width m", ylabel="distance to the particles at t = %g" % final,
       title=f"fitted slope {slope:.2f} (one seed)")
ax.legend()
fig.tight_layout()
