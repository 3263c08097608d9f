"""The default case end to end: ``wgf run solvers/teacher_student.toml`` in a fresh subprocess, first with an
empty Numba cache (every kernel compiled: what a first run after installation costs) and then again with
the cache it filled (the cost of every later run), and ``wgf report`` on the result.

The cache is isolated in a temporary folder (``NUMBA_CACHE_DIR``), so the repository's own cache is
neither used nor touched. ``--quick`` runs the same case with its final time divided by 20 (through the
Python API on the case text, so that relative data paths still resolve). Skipped, with a message, when
the case file does not exist.

Run ``python -m benchmarks.end_to_end [--quick]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._harness import parse_args, skip, write_results

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "solvers" / "teacher_student.toml"

_QUICK = """
import sys, tomllib
from pathlib import Path
from wgf.app.cases import parse_case
from wgf.app.controller import Controller
from tomli_w import dumps as toml_dumps
case_path, out, factor = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
doc = tomllib.loads(case_path.read_text())
doc["time"]["final"] = doc["time"]["final"] / factor
for k in ("first", "checkpoint_interval"):
    doc["time"].pop(k, None)
for k in ("records", "snapshots"):
    if isinstance(doc["time"].get(k), list):
        doc["time"].pop(k)
case = parse_case(toml_dumps(doc), name=case_path.stem, base_dir=case_path.parent)
outcome = Controller.new(case, out, quiet=True).run()
sys.exit(outcome.exit_code)
"""


def _timed(cmd, env, cwd):
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:])} failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
    return wall


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv)
    if not CASE.is_file():
        skip("end_to_end", f"the default case {os.path.relpath(CASE, ROOT)} does not exist in this checkout", args)
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="wgf-e2e-") as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp / "numba-cache"),
                   PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        for label in ("cold numba cache", "warm numba cache"):
            out = tmp / f"{label.split()[0]}.h5"
            if args.quick:
                cmd = [sys.executable, "-c", _QUICK, str(CASE), str(out), "20"]
            else:
                cmd = [sys.executable, "-m", "wgf", "run", str(CASE), "-o", str(out), "-q"]
            wall = _timed(cmd, env, ROOT)
            print(f"{label}: {wall:.1f} s", flush=True)
            rows.append({"step": "wgf run" + (" (T/20)" if args.quick else ""), "cache": label, "wall_s": wall,
                         "output_MB": out.stat().st_size / 1e6})
        wall = _timed([sys.executable, "-m", "wgf", "report", str(out), "-q"], env, ROOT)
        rows.append({"step": "wgf report", "cache": "warm numba cache", "wall_s": wall, "output_MB": float("nan")})
    meta = {"case": str(os.path.relpath(CASE, ROOT)), "compile_overhead_s": rows[0]["wall_s"] - rows[1]["wall_s"],
            "load_average": round(os.getloadavg()[0], 2)}
    write_results("end_to_end", rows, args, meta=meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
