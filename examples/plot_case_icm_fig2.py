"""
The ICM review's Fig 2 as published: online SGD with layer-wise steps
=====================================================================

The case ``solvers/icm_fig2.toml``: networks of width 5 to 1000 trained by online SGD on fresh Gaussian
inputs, with the output layer stepped 100 times less than the input layer, as in the published figure.
Layer-wise steps leave the (alpha, beta) family, so this is *not* a discretisation of the (4, 1) PDE: the
case has no grid or particle run, and the report says why.
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

case_file = bundled_cases_dir() / "icm_fig2.toml"
text = case_file.read_text()
if os.environ.get("WGF_GALLERY_SIZE", "small") != "full":
    for old, new in [
        ("final = 400.0", "final = 4.0"),
        ("snapshots = [2.0, 40.0, 400.0]", "snapshots = [2.0, 4.0]"),
        ("widths = [5, 20, 100, 1000]", "widths = [5, 20]"),
    ]:
        assert old in text, old
        text = text.replace(old, new)
case = parse_case(text, name="icm_fig2", base_dir=case_file.parent)
print(case.title)
print([run.name for run in case.runs])

# %%
# Run it
# ------
# :class:`wgf.app.controller.Controller` is what ``wgf run`` uses: it runs every solver run of the case
# into one HDF5 file, with checkpoints.
out = Path(tempfile.mkdtemp()) / "icm_fig2.h5"
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
