"""``wgf bench`` and ``python -m benchmarks.run_all``: discovery of benchmark modules, one small benchmark's
``--quick`` run end to end through both, usage errors; the whole suite's ``--quick`` run is a slow test."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import run_main
import wgf

ROOT = Path(wgf.__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks import run_all  # noqa: E402


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))



def test_discovery_by_module(tmp_path, monkeypatch):
    (tmp_path / "alpha.py").write_text("def main(argv=None):\n    return 0\n")
    (tmp_path / "beta.py").write_text("def helper():\n    pass\n")         # no main: not a benchmark
    (tmp_path / "_private.py").write_text("def main(argv=None):\n    pass\n")
    (tmp_path / "run_all.py").write_text("def main(argv=None):\n    pass\n")
    monkeypatch.setattr(run_all, "ROOT", tmp_path)
    assert run_all.discover() == ["alpha"]
    monkeypatch.undo()
    names = run_all.discover()
    assert {"kernels", "eulerian", "networks", "icm_fig3", "rates", "scaling", "sweep", "end_to_end"} <= set(names)
    assert "run_all" not in names and "_harness" not in names


def test_wgf_bench_runs_a_benchmark_and_reports_usage_errors(tmp_path):
    rc, out, err = run_main(["bench", "icm_fig3", "--quick", "--reps", "1", "--steps", "40", "--out", str(tmp_path)])
    assert rc == 0, err
    info = json.loads((tmp_path / "icm_fig3.json").read_text())
    assert info["quick"] and [r["m"] for r in info["rows"]] == [2, 12, 25]
    assert all(0.0 < r["median_risk"] < 10.0 for r in info["rows"])
    assert (tmp_path / "icm_fig3.png").is_file() and (tmp_path / "icm_fig3.csv").is_file()
    rc, out, _ = run_main(["bench", "--list"])
    assert rc == 0 and "icm_fig3" in out.split() and "all" in out.split()
    rc, _, err = run_main(["bench", "no_such_benchmark"])
    assert rc == 2 and "no benchmark named 'no_such_benchmark'" in err and len(err.strip().splitlines()) == 1
    rc, _, err = run_main(["bench"])
    assert rc == 2 and "NAME" in err


def test_run_all_runs_selected_benchmarks_in_subprocesses(tmp_path):
    """The runner on one quick benchmark (end to end in a subprocess) and one that skips cleanly when its
    input is missing or runs (the default case may or may not exist yet): the summary records both."""
    res = subprocess.run([sys.executable, "-m", "benchmarks.run_all", "--quick", "--only", "icm_fig3,end_to_end",
                          "--out", str(tmp_path)], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    info = json.loads((tmp_path / "run_all.json").read_text())
    status = {r["benchmark"]: r["status"] for r in info["rows"]}
    assert status["icm_fig3"] == "ok"
    assert status["end_to_end"] in ("ok", "skipped")
    assert all(r["wall_s"] > 0 for r in info["rows"])
    assert (tmp_path / "icm_fig3.log").read_text().startswith("$ -m benchmarks.icm_fig3 --quick")
    res = subprocess.run([sys.executable, "-m", "benchmarks.run_all", "--only", "nope", "--out", str(tmp_path)],
                         cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert res.returncode == 2 and "unknown benchmark" in res.stderr


@pytest.mark.slow
def test_whole_suite_quick(tmp_path):
    """Every benchmark's --quick run, each in its own subprocess: none fails."""
    res = subprocess.run([sys.executable, "-m", "benchmarks.run_all", "--quick", "--out", str(tmp_path)], cwd=ROOT,
                         env=_env(), capture_output=True, text=True, timeout=3600)
    print(res.stdout[-5000:])
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-3000:]
    info = json.loads((tmp_path / "run_all.json").read_text())
    assert {r["benchmark"] for r in info["rows"]} == set(run_all.discover())
    assert all(r["status"] in ("ok", "skipped") for r in info["rows"])
