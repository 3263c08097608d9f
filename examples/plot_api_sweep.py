"""
A parameter sweep: the grid's order of convergence
==================================================

A sweep (``wgf sweep SWEEP.toml``, :mod:`wgf.app.sweep`) runs a base case once per combination of the
parameters it varies, on dask.distributed, and merges the runs into one HDF5 file. Here the varied key is
the icosahedral level of an Eulerian run of the teacher-student case, and the merged file gives the
predictor distance of each grid solution to a particle reference: the upwind scheme's first order, as a
slope fitted over the levels.
"""

import os
import tempfile
from pathlib import Path

import h5py
import matplotlib.pyplot as plt
import numpy as np

import wgf
from wgf.app.cases import bundled_cases_dir
from wgf.app.sweep import parse_sweep, run_sweep

SMALL = os.environ.get("WGF_GALLERY_SIZE", "small") != "full"
levels, final = ([0, 1, 2, 3], 1.0) if SMALL else ([1, 2, 3, 4, 5], 2.0)
teacher_file = bundled_cases_dir().parent / "data" / "teacher_fig2.csv"

# %%
# The base case and the sweep file
# --------------------------------
work = Path(tempfile.mkdtemp())
(work / "base.toml").write_text(f"""
title = "teacher-student, one Eulerian run"
[model]
type = "teacher_student"
teacher = "{teacher_file.as_posix()}"
[time]
final = {final}
snapshots = [{final}]
records = 5
[eulerian]
level = 1
""")
sweep_text = f"""
title = "Eulerian grid levels"
case = "base.toml"
[parameters]
"eulerian.level" = {levels}
"""
sweep = parse_sweep(sweep_text, name="levels", base_dir=work)
print([run.label for run in sweep.runs])

# %%
# Run it on a local dask cluster (two workers, as threads here)
# -------------------------------------------------------------
result = run_sweep(sweep, work / "levels.h5", workers=2, processes=False)
print(f"{len(result.records)} runs in {result.wall_seconds:.1f} s, failed: {len(result.failed)}")

# %%
# Read the merged file and fit the order
# --------------------------------------
# The reference: weighted particles from a level-4 quadrature (no numerical diffusion).
model = wgf.TeacherStudent(np.loadtxt(teacher_file, delimiter=","))
g = wgf.icosahedral_grid(4)
reference = wgf.LagrangianSolver(model, wgf.Measure(g.points, g.volumes / g.volumes.sum()), dt=0.05)
reference.advance(final)

h, dist = [], []
with h5py.File(work / "levels.h5") as f:
    print("table columns:", list(f["table"]))
    for run, level in zip(f["table/run"].asstr()[()], f["table/eulerian.level"][()]):
        group = f[f"runs/{run}/eulerian"]
        last = sorted(group["snapshots"])[-1]
        snap = group["snapshots"][last]
        nu = wgf.Measure(snap["points"][()], snap["masses"][()])
        volumes = group["grid/volumes"][()]
        h.append(np.sqrt(np.mean(volumes)))  # a cell size
        dist.append(model.distance(nu, reference.measure))
        print(f"level {int(level)}: {volumes.size:5d} cells, distance to the particles {dist[-1]:.3e}")

slope = np.polyfit(np.log(h), np.log(dist), 1)[0]
fig, ax = plt.subplots(figsize=(5, 4))
ax.loglog(h, dist, "o-")
ax.set(xlabel="cell size h", ylabel=f"||h_grid - h_particles|| at t = {final}",
       title=f"upwind finite volumes: fitted order {slope:.2f}")
fig.tight_layout()
