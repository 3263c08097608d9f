"""
Logistic classification to t = 10^6: the margin's slow approach to the F1 max margin
====================================================================================

The case ``solvers/classification_longtime.toml``: the data and model of ``classification_s2`` (logistic
loss, a bias feature, no weight decay; nu on S^2) run to t = 10^6 on grids, particles and networks with
step sizes that grow as the loss decays, so that the report's implicit-bias figure shows the normalised
margin against the F1 max margin over six decades. The gallery runs it to t = 10^3 on level-1 and level-2
grids with one narrow network.
"""

# %%
# Read the bundled case and make it small
# ---------------------------------------
# The case file is the installed one (:func:`wgf.app.cases.bundled_cases_dir`). For the documentation
# build it runs smaller (the edits below: shorter times, coarser grids, fewer or narrower networks); each
# edit is checked to apply, so that a change of the bundled case cannot silently run the gallery at full size.
import os
import re
import tempfile
from pathlib import Path

import h5py
import matplotlib.pyplot as plt

from wgf.app.cases import bundled_cases_dir, parse_case
from wgf.app.controller import Controller
from wgf.app.report import report

case_file = bundled_cases_dir() / "classification_longtime.toml"
text = case_file.read_text()
if os.environ.get("WGF_GALLERY_SIZE", "small") != "full":
    for old, new in [
        ("final = 1e6", "final = 1e3"),
        ("records = 120", "records = 20"),
        ("level = 3", "level = 1"),
        ("level = 4", "level = 2"),
        ("widths = [100, 1000]", "widths = [20]"),
        ("seeds = [0, 1, 2]", "seeds = [0]"),
    ]:
        assert old in text, old
        text = text.replace(old, new)
    text, n = re.subn(r"snapshots = \[[^\]]*\]", "snapshots = [1.0, 10.0, 100.0, 1000.0]", text)
    assert n == 1
case = parse_case(text, name="classification_longtime", base_dir=case_file.parent)
print(case.title)
print([run.name for run in case.runs])

# %%
# Run it
# ------
# :class:`wgf.app.controller.Controller` is what ``wgf run`` uses: it runs every solver run of the case
# into one HDF5 file, with checkpoints.
out = Path(tempfile.mkdtemp()) / "classification_longtime.h5"
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
