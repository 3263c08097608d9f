"""
Teacher-student to long times: the decay of F(t) - F*
=====================================================

The case ``solvers/teacher_student_longtime.toml``: the teacher-student PDE on S^2 (the Fig 2 teacher)
solved on the grid and by particles with the linearly implicit ``ros2`` stepper, and by networks of width
20 and 100 following their gradient flow with the same stepper (``step_rule = "ros2"``), to t = 10^6 with log-spaced records, so that the
report shows the decay of F - F* over many decades with the certificate's gap and a fitted slope. The
gallery runs it to t = 10^3 on level-1 grids.
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

case_file = bundled_cases_dir() / "teacher_student_longtime.toml"
text = case_file.read_text()
if os.environ.get("WGF_GALLERY_SIZE", "small") != "full":
    for old, new in [
        ("final = 1e6", "final = 1e3"),
        ("records = 200", "records = 40"),
        ("snapshots = 13", "snapshots = 4"),
        ("level = 2", "level = 1"),
    ]:
        assert old in text, old
        text = text.replace(old, new)
case = parse_case(text, name="teacher_student_longtime", base_dir=case_file.parent)
print(case.title)
print([run.name for run in case.runs])

# %%
# Run it
# ------
# :class:`wgf.app.controller.Controller` is what ``wgf run`` uses: it runs every solver run of the case
# into one HDF5 file, with checkpoints.
out = Path(tempfile.mkdtemp()) / "teacher_student_longtime.h5"
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
