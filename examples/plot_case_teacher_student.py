"""
Teacher-student on S^2: one PDE solved three ways
=================================================

The default case, ``solvers/teacher_student.toml`` (``wgf run teacher_student``): the population square
loss of a ReLU student against the four-neuron teacher of ``data/teacher_fig2.csv`` (inputs in R^2, so the
measure lives on S^2), solved on the Eulerian grid, by Lagrangian particles started from the grid's cells,
and by networks of several widths trained with the mean-field step. The report gives each network's
predictor distance to the particle reference.
"""

# %%
# Read the bundled case and make it small
# ---------------------------------------
# The case file is the installed one (:func:`wgf.app.cases.bundled_cases_dir`). For the documentation
# build it runs smaller (the edits below: shorter times, coarser grids, fewer or narrower networks); each
# edit is checked to apply, so that a change of the bundled case cannot silently run the gallery at full size.
import os
import tempfile
from pathlib import Path

import h5py
import matplotlib.pyplot as plt

from wgf.app.cases import bundled_cases_dir, parse_case
from wgf.app.controller import Controller
from wgf.app.report import report

case_file = bundled_cases_dir() / "teacher_student.toml"
text = case_file.read_text()
if os.environ.get("WGF_GALLERY_SIZE", "small") != "full":
    for old, new in [
        ("final = 10.0", "final = 2.0"),
        ("snapshots = [0.5, 2.0, 10.0]", "snapshots = [0.5, 2.0]"),
        ("level = 4", "level = 2"),
        ("widths = [5, 20, 100, 1000]", "widths = [5, 20, 100]"),
        ("seeds = [0, 1, 2, 3, 4]", "seeds = [0, 1]"),
    ]:
        assert old in text, old
        text = text.replace(old, new)
case = parse_case(text, name="teacher_student", base_dir=case_file.parent)
print(case.title)
print([run.name for run in case.runs])

# %%
# Run it
# ------
# :class:`wgf.app.controller.Controller` is what ``wgf run`` uses: it runs every solver run of the case
# into one HDF5 file, with checkpoints.
out = Path(tempfile.mkdtemp()) / "teacher_student.h5"
outcome = Controller.new(case, out, quiet=True).run()
print(outcome)

# %%
# The energy of every run, read back with plain h5py
# --------------------------------------------------
fig, ax = plt.subplots(figsize=(6, 4))
with h5py.File(out) as f:
    for name in f:
        if name != "data" and "energy" in f[name]:
            ax.loglog(f[name]["time"][1:], f[name]["energy"][1:], label=name)
ax.set_xlabel("t")
ax.set_ylabel("F(nu_t)")
ax.legend(fontsize=7, ncol=2)
fig.tight_layout()

# %%
# The report: the comparison table and its figures
# ------------------------------------------------
table, figures = report(out)
print(table)
for path in figures:
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.imshow(plt.imread(path))
    ax.set_title(path.name, fontsize=8)
    ax.axis("off")
