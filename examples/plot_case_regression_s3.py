"""
Square-loss regression in the plane with a bias: a teacher of three neurons on S^3
==================================================================================

The case ``solvers/regression_s3.toml``: two-dimensional inputs with a bias feature (neurons on S^3),
targets from a teacher of three ReLU neurons with a bias, square loss. The report draws the neurons at
``|a| b`` in R^3 and as lines in the input plane, where the teacher's kinks lie, and the predictor over the
plane.
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

case_file = bundled_cases_dir() / "regression_s3.toml"
text = case_file.read_text()
if os.environ.get("WGF_GALLERY_SIZE", "small") != "full":
    for old, new in [
        ("final = 100.0", "final = 5.0"),
        ("snapshots = [1.0, 10.0, 100.0]", "snapshots = [1.0, 5.0]"),
        ("cells = 30000", "cells = 2000"),
        ("n = 4096", "n = 512"),
        ("widths = [10, 100, 1000]", "widths = [10, 100]"),
        ("seeds = [0, 1, 2]", "seeds = [0]"),
    ]:
        assert old in text, old
        text = text.replace(old, new)
case = parse_case(text, name="regression_s3", base_dir=case_file.parent)
print(case.title)
print([run.name for run in case.runs])

# %%
# Run it
# ------
# :class:`wgf.app.controller.Controller` is what ``wgf run`` uses: it runs every solver run of the case
# into one HDF5 file, with checkpoints.
out = Path(tempfile.mkdtemp()) / "regression_s3.h5"
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
