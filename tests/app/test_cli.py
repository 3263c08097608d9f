"""The ``wgf`` command line end to end: runs through ``python -m wgf`` and ``main``, SIGKILL and SIGINT of a
running process then ``--resume``, bad output files, and >= 200 generated malformed cases."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import run_main
import wgf
import wgf_toy
from wgf.app import cases, io
from wgf_toy import HOOKS, assert_same_output, toml_dumps, toy_case, write_case

ROOT = Path(wgf.__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parents[1]


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS)] + ([e["PYTHONPATH"]] if e.get("PYTHONPATH") else []))
    e[cases.PLUGINS_ENV] = "wgf_toy"
    return e


def wgf_process(args, cwd, **kw):
    return subprocess.Popen([sys.executable, "-m", "wgf", *args], cwd=cwd, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)



pytestmark = pytest.mark.usefixtures("toy_plugin")


# ------------------------------------------------------------------------------------------- end to end
def test_python_m_wgf_run_then_report(tmp_path):
    """A teacher-student case with its teacher in a CSV beside the case, run by a subprocess; the file is
    read back with plain h5py; the data are embedded, so report and resume work without the CSV."""
    shutil.copy(ROOT / "data" / "teacher_fig2.csv", tmp_path / "teacher.csv")
    doc = toy_case(model={"type": "teacher_student", "teacher": "teacher.csv"},
                   toy=[{"n": 12, "name": "coarse"}, {"n": 24, "name": "fine", "noise": 0.0}],
                   compare={"reference": "fine"})
    write_case(tmp_path / "ts.toml", doc)
    p = wgf_process(["run", "ts.toml", "-o", "out.h5", "--quiet"], tmp_path)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 0, stderr
    assert stderr == "" and stdout == ""
    with h5py.File(tmp_path / "out.h5", "r") as f:
        assert f.attrs["config"] == (tmp_path / "ts.toml").read_text()
        assert f.attrs["wgf_version"] == wgf.__version__ and f.attrs["status"] == "completed"
        assert np.array_equal(f["data/model/teacher"][()], np.loadtxt(tmp_path / "teacher.csv", delimiter=","))
        for run in ("coarse", "fine"):
            g = f[run]
            assert g.attrs["solver"] == "toy" and g.attrs["completed"]
            assert g["time"].shape == g["energy"].shape == g["mass"].shape == g["Q"].shape
            assert g["time"][0] == 0.0 and g["time"][-1] == 1.0
            assert g["snapshots/000000/points"].shape[1] == 3
    (tmp_path / "teacher.csv").unlink()
    rc, out, err = run_main(["report", str(tmp_path / "out.h5")])
    assert rc == 0, err
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("run "))
    assert lines[0].startswith("toy case") and "dist to fine" in header
    coarse = next(line for line in lines if line.startswith("coarse"))
    fine = next(line for line in lines if line.startswith("fine"))
    assert "(reference)" in fine and "completed" in coarse
    assert float(coarse.split()[-1]) > 0  # the predictor distance between the two runs' final measures
    assert (tmp_path / "out_energy.png").stat().st_size > 1000
    assert f"wrote {tmp_path / 'out_energy.png'}" in err


def test_main_runs_fake_solvers_and_reports_every_figure(tmp_path, monkeypatch):
    """Eulerian, Lagrangian and network sections through the builders (stand-in solver modules), then the
    report: table with distances to the reference, energy / distance / particle / density figures."""
    wgf_toy.install_fake_solvers(monkeypatch)
    shutil.copy(ROOT / "data" / "teacher_fig2.csv", tmp_path / "teacher.csv")
    doc = toy_case(model={"type": "teacher_student", "teacher": "teacher.csv"}, toy=None,
                   eulerian={"level": 1}, lagrangian={"quadrature": "random", "n": 40},
                   network={"widths": [4, 16], "seeds": [0, 1], "step_size": 0.02},
                   time={"final": 0.2, "snapshots": 2, "records": 5})
    case_path = write_case(tmp_path / "all.toml", doc)
    rc, out, err = run_main(["run", case_path, "-o", str(tmp_path / "all.h5"), "-q"])
    assert (rc, out, err) == (0, "", "")
    rc, out, err = run_main(["report", str(tmp_path / "all.h5")])
    assert rc == 0, err
    assert "dist to eulerian" in out and "network_m0016_s1" in out and "m=16,seed=1" in out
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == ["all_density_eulerian.png", "all_distance.png", "all_energy.png", "all_particles.png",
                     "all_particles_lagrangian.png", "all_particles_network_m0004.png",
                     "all_particles_network_m0016.png"]
    rc, out2, _ = run_main(["report", str(tmp_path / "all.h5"), "--no-figures", "-q"])
    assert rc == 0 and out2 == out


def test_bundled_cases_and_usage_errors(tmp_path, monkeypatch):
    d = tmp_path / "solvers"
    d.mkdir()
    write_case(d / "toy_small.toml", toy_case(title="A small toy"))
    (d / "broken.toml").write_text("[[[")
    monkeypatch.setattr(cases, "bundled_cases_dir", lambda: d)
    rc, out, _ = run_main(["cases"])
    assert rc == 0 and out.splitlines() == ["broken     (unreadable)", "toy_small  A small toy"]
    monkeypatch.chdir(tmp_path)
    rc, _, err = run_main(["run", "toy_small", "-q"])  # a bundled case by name; output toy_small.h5 here
    assert rc == 0 and (tmp_path / "toy_small.h5").exists(), err
    before = (tmp_path / "toy_small.h5").read_bytes()
    for args, msg in [
        ([], "the following arguments are required: COMMAND"),
        (["run"], "run needs CASE.toml"),
        (["run", "a.toml", "--resume", "b.h5"], "give either CASE.toml or --resume"),
        (["run", "--resume", "b.h5", "--force"], "-o, --force and --allow-long do not apply"),
        (["run", "toy_small"], "toy_small.h5 already exists; use --force to overwrite it or -o"),
        (["run", "nothere.toml"], "no such case file: nothere.toml"),
        (["run", "toy_small", "-o", "missing/out.h5"], "the folder missing does not exist"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["run", "toy_small", "--bogus"], "unrecognized arguments: --bogus"),
        (["report"], "the following arguments are required: OUT.h5"),
    ]:
        rc, out, err = run_main(args)
        assert rc == 2 and out == "" and err.count("\n") == 1 and err.startswith("wgf: error: "), (args, err)
        assert msg in err, (args, err)
    assert (tmp_path / "toy_small.h5").read_bytes() == before
    rc, _, _ = run_main(["run", "toy_small", "--force", "-q"])
    assert rc == 0
    rc, out, _ = run_main(["--version"])
    assert rc == 0


def test_bad_files_for_resume_and_report(tmp_path):
    case_path = write_case(tmp_path / "c.toml", toy_case())
    assert run_main(["run", case_path, "-o", str(tmp_path / "good.h5"), "-q"])[0] == 0
    data = (tmp_path / "good.h5").read_bytes()
    (tmp_path / "trunc.h5").write_bytes(data[: len(data) // 3])
    (tmp_path / "trunc90.h5").write_bytes(data[: 9 * len(data) // 10])
    (tmp_path / "text.h5").write_text("not hdf5")
    (tmp_path / "random.h5").write_bytes(np.random.default_rng(0).bytes(4096))
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = 1
    (tmp_path / "empty.h5").write_bytes(b"")
    shutil.copy(tmp_path / "good.h5", tmp_path / "nockpt.h5")
    with h5py.File(tmp_path / "nockpt.h5", "r+") as f:  # a wgf file whose checkpoint is gone
        del f["toy/checkpoint"]
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for name, msg in [("trunc.h5", "not a readable HDF5 file"), ("trunc90.h5", "not a readable HDF5 file"),
                      ("text.h5", "not a readable HDF5 file"), ("random.h5", "not a readable HDF5 file"),
                      ("foreign.h5", "not a wgf output file"), ("empty.h5", "not a readable HDF5 file"),
                      ("none.h5", "no such file")]:
        for args in (["run", "--resume", str(tmp_path / name)], ["report", str(tmp_path / name)]):
            rc, out, err = run_main(args)
            assert rc == 2 and err.count("\n") == 1 and msg in err and "Traceback" not in err, (args, err)
    rc, _, err = run_main(["run", "--resume", str(tmp_path / "nockpt.h5")])
    assert rc == 2 and err == (f"wgf: error: {tmp_path / 'nockpt.h5'} is corrupt: run 'toy' started but has no "
                               "checkpoint\n")
    # every file left untouched, nothing written beside them (no figures, no temporary files)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    # a file whose plugin is missing: the case cannot be rebuilt -> clear error for resume, table for report
    os.environ.pop(cases.PLUGINS_ENV)
    saved = dict(cases.MODEL_TYPES)
    try:
        del cases.MODEL_TYPES["toy_linear"]
        rc, _, err = run_main(["run", "--resume", str(tmp_path / "good.h5")])
        assert rc == 2 and "cannot be run by this version of wgf" in err and "toy_linear" in err
        rc, out, _ = run_main(["report", str(tmp_path / "good.h5"), "--no-figures"])
        assert rc == 0 and "note: distances unavailable" in out
    finally:
        cases.MODEL_TYPES.clear()
        cases.MODEL_TYPES.update(saved)


def test_ctrl_c_in_process_exit_130_then_resume(tmp_path):
    doc = toy_case(toy={"n": 6, "noise": 0.05, "seed": 3})
    case_path = write_case(tmp_path / "c.toml", doc)
    assert run_main(["run", case_path, "-o", str(tmp_path / "a.h5"), "-q"])[0] == 0
    HOOKS["signal_at_step"] = 5
    rc, out, err = run_main(["run", case_path, "-o", str(tmp_path / "b.h5"), "-q"])
    HOOKS["signal_at_step"] = None
    assert rc == 130 and "Traceback" not in err
    assert err.strip().endswith(f"resume with: wgf run --resume {tmp_path / 'b.h5'}")
    assert run_main(["run", "--resume", str(tmp_path / "b.h5"), "-q"])[0] == 0
    assert_same_output(tmp_path / "a.h5", tmp_path / "b.h5")
    HOOKS["keyboard_at_step"] = 4  # a second Ctrl-C: abort without a checkpoint
    rc, _, err = run_main(["run", case_path, "-o", str(tmp_path / "c.h5"), "-q"])
    assert rc == 130 and f"aborted; {tmp_path / 'c.h5'} keeps its last checkpoint" in err
    assert err.strip().endswith(f"resume with: wgf run --resume {tmp_path / 'c.h5'}")
    HOOKS["keyboard_at_step"] = None
    assert run_main(["run", "--resume", str(tmp_path / "c.h5"), "-q"])[0] == 0
    assert_same_output(tmp_path / "a.h5", tmp_path / "c.h5")


def test_early_ctrl_c(tmp_path, monkeypatch):
    """Ctrl-C after the file is created but before the run loop (no handler yet): the file holds the
    initial layout, and resuming runs everything."""
    from wgf.app.controller import Controller
    case_path = write_case(tmp_path / "c.toml", toy_case())
    assert run_main(["run", case_path, "-o", str(tmp_path / "a.h5"), "-q"])[0] == 0
    with monkeypatch.context() as m:
        m.setattr(Controller, "run", lambda self: (_ for _ in ()).throw(KeyboardInterrupt()))
        rc, _, err = run_main(["run", case_path, "-o", str(tmp_path / "b.h5"), "-q"])
    assert rc == 130 and err.strip().endswith(f"resume with: wgf run --resume {tmp_path / 'b.h5'}")
    assert run_main(["run", "--resume", str(tmp_path / "b.h5"), "-q"])[0] == 0
    assert_same_output(tmp_path / "a.h5", tmp_path / "b.h5")
    with monkeypatch.context() as m:  # before the file exists: nothing to resume, no file
        m.setattr(Controller, "new", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
        rc, _, err = run_main(["run", case_path, "-o", str(tmp_path / "c.h5"), "-q"])
    assert rc == 130 and err == "wgf: error: aborted\n" and not (tmp_path / "c.h5").exists()


# ------------------------------------------------------------------------------------------- signals
SLOW = toy_case(toy={"n": 8, "dt": 0.002, "dt_max": 0.01, "noise": 0.05, "seed": 11, "sleep": 0.004},
                time={"final": 1.0, "snapshots": 5, "records": 30, "checkpoint_wall": 0.03})


@pytest.fixture(scope="module")
def slow_baseline(tmp_path_factory):
    d = tmp_path_factory.mktemp("slow")
    case_path = write_case(d / "slow.toml", SLOW)
    rc, _, err = run_main(["run", case_path, "-o", str(d / "base.h5"), "-q"])
    assert rc == 0, err
    return d / "slow.toml", d / "base.h5"


def kill_at_random(args, out, cwd, rng, sig=signal.SIGKILL, versions=1):
    """Start ``wgf args``; once it has written ``versions`` new versions of ``out`` (os.replace gives each a
    new inode), sleep a random moment and send ``sig``. Returns (exit status, stderr, delay); the status is
    0 when the process finished first."""
    ino = out.stat().st_ino if out.exists() else None
    proc = wgf_process(args, cwd)
    t0 = time.monotonic()
    for _ in range(versions):
        while not (out.exists() and out.stat().st_ino != ino):
            if proc.poll() is not None:
                return proc.returncode, proc.communicate()[1], 0.0
            assert time.monotonic() - t0 < 60
            time.sleep(0.001)
        ino = out.stat().st_ino
    delay = float(rng.uniform(0.0, 0.25))
    time.sleep(delay)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    return proc.returncode, stderr, delay


def check_checkpoint(out: Path):
    with h5py.File(out, "r") as f:  # always opens with plain h5py
        assert f.attrs["format"] == "wgf-output"
    with io.OutputReader(out) as r:
        r.check()  # the last checkpoint is complete and consistent
        ck = r.checkpoint("toy")  # None if killed before the run's first checkpoint
        return r.attrs()["status"], (ck[0]["time"] if ck else 0.0)


def test_sigkill_at_random_moments_then_resume(slow_baseline, tmp_path):
    case_path, base = slow_baseline
    shutil.copy(case_path, tmp_path / "slow.toml")
    out = tmp_path / "out.h5"
    rng = np.random.default_rng()
    rc, _, delay = kill_at_random(["run", "slow.toml", "-o", "out.h5", "-q"], out, tmp_path, rng)
    assert rc == -signal.SIGKILL, delay
    status, t1 = check_checkpoint(out)
    assert status == "running" and t1 < 1.0, delay
    rc, _, delay = kill_at_random(["run", "--resume", "out.h5", "-q"], out, tmp_path, rng)
    assert rc == -signal.SIGKILL, delay
    status, t2 = check_checkpoint(out)
    assert status == "running" and t1 <= t2 < 1.0, delay
    rc, _, err = run_main(["run", "--resume", str(out), "-q"])
    assert rc == 0, err
    assert_same_output(base, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5", "slow.toml"]  # stale temporaries removed


def test_sigint_of_a_process_writes_a_checkpoint_and_says_how_to_resume(slow_baseline, tmp_path):
    case_path, base = slow_baseline
    shutil.copy(case_path, tmp_path / "slow.toml")
    out = tmp_path / "out.h5"
    # SIGINT once the run has started (its first checkpoint written): before that, see test_early_ctrl_c
    rc, stderr, delay = kill_at_random(["run", "slow.toml", "-o", "out.h5", "-q"], out, tmp_path,
                                       np.random.default_rng(), sig=signal.SIGINT, versions=2)
    assert rc == 130, (delay, stderr)
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "resume with: wgf run --resume out.h5"
    status, t = check_checkpoint(out)
    assert status == "interrupted" and 0 < t < 1.0, (delay, stderr)
    assert run_main(["run", "--resume", str(out), "-q"])[0] == 0
    assert_same_output(base, out)


@pytest.mark.slow
def test_sigkill_stress(slow_baseline, tmp_path):
    """Ten kills at random moments in a row, each followed by a resume that is killed in turn."""
    case_path, base = slow_baseline
    shutil.copy(case_path, tmp_path / "slow.toml")
    out = tmp_path / "out.h5"
    rng = np.random.default_rng()
    args = ["run", "slow.toml", "-o", "out.h5", "-q"]
    for _ in range(10):
        rc, _, _ = kill_at_random(args, out, tmp_path, rng)
        status, _ = check_checkpoint(out)
        args = ["run", "--resume", "out.h5", "-q"]
        if rc == 0 or status == "completed":  # finished before the kill
            break
    assert run_main(["run", "--resume", str(out), "-q"])[0] == 0
    assert_same_output(base, out)


# ------------------------------------------------------------------------------------------- malformed cases
def _not_in(allowed):
    return st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
        lambda k: k not in allowed)


def _text(min_size=0, max_size=8):  # no lone surrogates: those would make the TOML itself invalid
    return st.text(st.characters(blacklist_categories=("Cs",)), min_size=min_size, max_size=max_size)


_FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)
_NONFINITE = st.sampled_from([float("nan"), float("inf"), float("-inf")])
_WRONG_TYPE = st.one_of(_text(max_size=8), st.booleans(), st.lists(st.integers(0, 3), max_size=3),
                        st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 2), max_size=2))
_NONPOS = st.one_of(st.floats(max_value=0.0, allow_nan=False, allow_infinity=False), st.integers(-100, 0))
_BAD_POSITIVE = st.one_of(_NONPOS, _NONFINITE, _WRONG_TYPE)
_BAD_COUNT = st.one_of(st.integers(-5, 0), st.floats(0.5, 50.5).filter(lambda x: x != int(x)),
                       _text(max_size=4), st.booleans(), st.just([]), st.just([0.5, 0.2]), st.just([2.0]),
                       st.just([-1.0]))

BAD_VALUES = {
    ("time", "final"): _BAD_POSITIVE,
    ("time", "snapshots"): _BAD_COUNT,
    ("time", "records"): _BAD_COUNT,
    ("time", "spacing"): st.one_of(_text(max_size=8).filter(lambda s: s not in ("log", "linear")),
                                   st.integers()),
    ("time", "first"): st.one_of(_NONPOS, st.floats(1.0, 1e6), _NONFINITE, _WRONG_TYPE),
    ("time", "checkpoint_interval"): st.one_of(_BAD_POSITIVE, st.floats(1e-12, 1e-6)),
    ("time", "checkpoint_wall"): _BAD_POSITIVE,
    ("initial", "mass"): _BAD_POSITIVE,
    ("initial", "type"): st.one_of(_text(max_size=8).filter(lambda s: s != "uniform"), st.integers()),
    ("flow", "alpha"): st.one_of(st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False), _NONFINITE,
                                 _WRONG_TYPE),
    ("flow", "beta"): st.one_of(st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False), _NONFINITE,
                                _WRONG_TYPE),
    ("model", "type"): st.one_of(_text(max_size=10).filter(lambda s: s not in cases.MODEL_TYPES),
                                 st.integers(), st.booleans()),
    ("model", "g"): st.one_of(st.just([]), st.lists(_FINITE, min_size=1, max_size=1),
                              st.lists(st.one_of(_FINITE, _NONFINITE), min_size=2, max_size=4).filter(
                                  lambda v: not all(np.isfinite(v))),
                              st.just([[1.0, 2.0], [3.0]]), st.just([[0.1, 0.2]]),
                              _text(min_size=1, max_size=8).map(lambda s: s + ".csv"), _FINITE, st.booleans()),
    ("model", "c"): st.one_of(st.floats(-10, 0.6), _NONFINITE, _text(max_size=4), st.booleans(),
                              st.lists(st.integers(), max_size=2)),
    ("toy", "n"): st.one_of(st.integers(-10, 0), st.integers(10_001, 10**9), _FINITE, _text(max_size=3)),
    ("toy", "dt"): _BAD_POSITIVE,
    ("toy", "noise"): st.one_of(st.floats(-5, -1e-9), st.floats(1.0, 5.0), _NONFINITE, _text(max_size=3)),
    ("toy", "seed"): st.one_of(st.integers(-100, -1), _text(max_size=3), _FINITE),
    ("toy", "alpha"): st.floats(0, 4),  # belongs in [flow]
    ("eulerian", "level"): st.one_of(st.integers(-10, -1), st.integers(8, 40), st.floats(0.5, 3.5),
                                     _text(max_size=3)),
    ("eulerian", "n"): st.integers(3, 100),  # only on S^1; this model is on S^2
    ("eulerian", "scheme"): _text(max_size=8).filter(lambda s: s not in ("upwind", "muscl")),
    ("eulerian", "cfl"): _BAD_POSITIVE,
}

ALLOWED = {
    "": set(cases.TOP_KEYS) | {"toy", "eulerian", "lagrangian", "network"},
    "time": {"final", "snapshots", "records", "spacing", "first", "checkpoint_interval", "checkpoint_wall"},
    "initial": {"type", "mass"}, "flow": {"alpha", "beta"}, "model": {"type", "g", "c"},
    "toy": {"name", "n", "dt", "growth", "dt_max", "noise", "seed", "sleep", "blowup_at", "blowup_mode"},
    "eulerian": {"name", "n", "level", "lloyd", "scheme", "stepper", "cfl", "dt", "interaction_memory"},
}
SYNTAX = ["[time", "key = ", "= 3", 'a = "unterminated', "[model]\ntype = 'x'", "x = [1, 2", "[[toy]]\nn = 1\n[toy]"]
#: Data files named by the case (``[model] g = "g.csv"``): content -> what is wrong with it.
BAD_DATA = ["0.5, nan, 0.2\n", "0.5, inf, 0.2\n", "a, b\n", "", "1,2\n3\n", "1,2,3\n4,5,6\n", "0.5\n",
            b"\x93\xff\x00", "<folder>", "<missing>"]
KNOWN_KEYS = set().union(*ALLOWED.values(), cases.TOP_KEYS, {"alpha", "beta", "model", "measure"})


def _typo(key: str, i: int, how: str) -> str:
    i = i % len(key)
    if how == "drop":
        return key[:i] + key[i + 1:]
    if how == "double":
        return key[:i] + key[i] + key[i:]
    j = min(i + 1, len(key) - 1)  # swap two neighbours
    return key[:i] + key[j] + key[i] + key[j + 1:] if j > i else key[:-2] + key[-1] + key[-2]


@st.composite
def malformed(draw):
    doc = toy_case(eulerian={"level": 0})
    doc["model"]["c"] = 1.5
    kinds = draw(st.lists(st.sampled_from(["value", "value", "value", "unknown", "typo", "missing", "section",
                                           "syntax", "data", "output"]), min_size=1, max_size=3))
    tail, output, data, typo = "", None, None, None
    for kind in kinds:
        if kind == "value":
            (sec, key) = draw(st.sampled_from(sorted(BAD_VALUES)))
            if not isinstance(doc.get(sec), dict):
                doc[sec] = {}
            doc[sec][key] = draw(BAD_VALUES[(sec, key)])
        elif kind == "unknown":
            sec = draw(st.sampled_from(sorted(ALLOWED)))
            key = draw(_not_in(ALLOWED[sec]))
            if sec == "":
                doc[key] = draw(st.one_of(st.integers(), st.just({"a": 1})))
            else:
                if not isinstance(doc.get(sec), dict):
                    doc[sec] = {}
                doc[sec][key] = 1
        elif kind == "missing":
            what = draw(st.sampled_from(["model.type", "model.g", "time.final", "time", "model", "solvers"]))
            if what == "solvers":
                doc.pop("toy", None), doc.pop("eulerian", None)
            elif "." in what:
                sec, key = what.split(".")
                if isinstance(doc.get(sec), dict):
                    doc[sec].pop(key, None)
            else:
                doc.pop(what, None)
        elif kind == "section":
            sec = draw(st.sampled_from(["time", "model", "toy", "initial", "flow", "eulerian"]))
            doc[sec] = draw(st.one_of(st.integers(), _text(max_size=5), st.lists(st.integers(), min_size=1,
                                                                                    max_size=2)))
        elif kind == "typo":  # a misspelt key: the message suggests the right one
            sec = draw(st.sampled_from(sorted(ALLOWED)))
            key = draw(st.sampled_from(sorted(k for k in ALLOWED[sec] if len(k) >= 4)))
            bad = _typo(key, draw(st.integers(0, 20)), draw(st.sampled_from(["drop", "double", "swap"])))
            if bad in KNOWN_KEYS:
                continue
            if sec == "":
                doc[bad] = doc.pop(key, {"final": 1.0}) if key in doc else {"a": 1}
            else:
                if not isinstance(doc.get(sec), dict):
                    doc[sec] = {}
                doc[sec][bad] = doc[sec].pop(key, 1)
            typo = bad
        elif kind == "data":
            data = draw(st.sampled_from(BAD_DATA))
            if not isinstance(doc.get("model"), dict):
                doc["model"] = {}
            doc["model"]["g"] = "g.csv"
        elif kind == "syntax":
            tail = "\n" + draw(st.sampled_from(SYNTAX)) + "\n"
        else:
            output = draw(st.sampled_from(["exists", "missing_dir", "is_dir", "parent_is_file", "unwritable"]))
    return doc, tail, output, data, (typo if kinds == ["typo"] else None)


def test_every_misspelt_key_gets_its_suggestion(monkeypatch):
    """Each key of every section, misspelt three ways: the one-line error names the typo and suggests the
    key."""
    wgf_toy.install_fake_solvers(monkeypatch)
    n = 0
    for sec, keys in ALLOWED.items():
        for key in sorted(k for k in keys if len(k) >= 4):
            for how in ("drop", "double", "swap"):
                bad = _typo(key, 1, how)
                if bad in KNOWN_KEYS:  # e.g. 'seed' with its e's swapped
                    continue
                doc = toy_case(eulerian={"level": 0})
                if sec == "":
                    doc[bad] = doc.pop(key, {"a": 1})
                else:
                    doc[sec][bad] = doc[sec].pop(key, 1)
                with pytest.raises(cases.CaseError) as exc:
                    cases.parse_case(toml_dumps(doc)).check_buildable()
                assert f"'{bad}'" in str(exc.value) and f"(did you mean '{key}'?)" in str(exc.value), str(exc.value)
                n += 1
    assert n >= 80


def test_the_unmalformed_document_runs(tmp_path, monkeypatch):
    """The document the malformations start from is valid: every failure of the property test below is
    the malformation's."""
    wgf_toy.install_fake_solvers(monkeypatch)
    doc = toy_case(eulerian={"level": 0})
    doc["model"]["c"] = 1.5
    (tmp_path / "case.toml").write_text(toml_dumps(doc))
    assert run_main(["run", str(tmp_path / "case.toml"), "-o", str(tmp_path / "out.h5"), "-q"]) == (0, "", "")


@settings(max_examples=220, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(malformed())
def test_malformed_cases_exit_2_with_one_line_and_no_output(example):
    """Wrong types, missing and unknown keys (misspelt ones get a suggestion), zero or negative times and
    steps, NaN and inf, mismatched dimensions, impossible grid levels, bad data files, TOML syntax errors,
    and output paths that exist, are folders, lie in a missing folder or under a file, or cannot be
    written: exit status 2, one line on stderr, nothing written (an existing output file untouched)."""
    doc, tail, output, data, typo = example
    text = toml_dumps(doc) + tail
    with tempfile.TemporaryDirectory() as d, pytest.MonkeyPatch.context() as mp:
        wgf_toy.install_fake_solvers(mp)
        d = Path(d)
        (d / "case.toml").write_text(text)
        if data == "<folder>":
            (d / "g.csv").mkdir()
        elif isinstance(data, bytes):
            (d / "g.csv").write_bytes(data)
        elif data is not None and data != "<missing>":
            (d / "g.csv").write_text(data)
        out = d / "out.h5"
        if output == "exists":
            out.write_bytes(b"precious")
        elif output == "is_dir":
            out.mkdir()
        elif output == "missing_dir":
            out = d / "nowhere" / "out.h5"
        elif output == "parent_is_file":
            out = d / "case.toml" / "out.h5"
        elif output == "unwritable":  # what open() does in a read-only folder (root may write anywhere)
            def refuse(path, *a, **k):
                raise PermissionError(13, "Permission denied", str(path))
            mp.setattr(io, "open", refuse, raising=False)
        before = {p.name: (p.read_bytes() if p.is_file() else None) for p in d.iterdir()}
        rc, stdout, stderr = run_main(["run", str(d / "case.toml"), "-o", str(out)])
        assert rc == 2, (text, stderr)
        assert stdout == "" and stderr.count("\n") == 1 and stderr.startswith("wgf: error: "), stderr
        assert "Traceback" not in stderr
        # nothing written, not even a temporary file; existing files (an output, the case) untouched
        assert {p.name: (p.read_bytes() if p.is_file() else None) for p in d.iterdir()} == before
        if typo is not None:
            assert f"'{typo}'" in stderr and "(did you mean '" in stderr, stderr
