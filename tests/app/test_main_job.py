"""The main job with the real solvers: the bundled cases build, a small real case runs end to end through
``python -m wgf`` and is read back with plain h5py, the report prints the distance per width, and a real run
killed with SIGKILL at a random moment resumes to the file an uninterrupted run writes, bit for bit."""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest

from helpers import run_main
import wgf
from wgf import Measure
from wgf.app import cases
from wgf_toy import assert_same_output

ROOT = Path(wgf.__file__).resolve().parent.parent
TEACHER = ROOT / "data" / "teacher_fig2.csv"


def env():
    e = {k: v for k, v in os.environ.items() if k != cases.PLUGINS_ENV}
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([e["PYTHONPATH"]] if e.get("PYTHONPATH") else []))
    return e


def wgf_process(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "wgf", *args], cwd=cwd, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)



@pytest.fixture(autouse=True)
def no_plugins(monkeypatch):
    monkeypatch.delenv(cases.PLUGINS_ENV, raising=False)


# ------------------------------------------------------------------------------------------- bundled cases
def bundled():
    return sorted((ROOT / "solvers").glob("*.toml"))


def test_every_bundled_case_parses_builds_and_is_listed():
    files = bundled()
    names = [f.stem for f in files]
    for required in ("teacher_student", "icm_fig2", "teacher_student_d100", "classification_s2"):
        assert required in names
    rc, out, _ = run_main(["cases"])
    assert rc == 0
    listed = {line.split()[0]: line.split(None, 1)[1] for line in out.splitlines()}
    for f in files:
        raw = tomllib.loads(f.read_text("utf-8"))
        assert listed[f.stem] == raw["title"]
        assert raw.get("description", "").strip(), f"{f.name} has no description"
        case = cases.load_case(f)
        case.check_buildable()  # every run constructed once: constructor errors would surface here
        if case.time.quantum is not None:  # network runs: every output time is a whole number of steps
            q = case.time.quantum
            for t in [s[0] for s in case.time.stops]:
                assert abs(t / q - round(t / q)) < 1e-9, (f.name, t)
    default = cases.load_case(ROOT / "solvers" / "teacher_student.toml")
    kinds = {r.kind for r in default.runs}
    assert kinds == {"eulerian", "lagrangian", "network"} and default.dim == 2
    widths = sorted({r.params["m"] for r in default.runs if r.kind == "network"})
    assert widths == [5, 20, 100, 1000]
    # one PDE: equal layer steps, i.i.d. uniform initialisation of mass 1, the same nu_0 everywhere
    for r in default.runs:
        if r.kind == "network":
            assert r.params["init"] == "uniform" and r.params["radius"] == 1.0
            assert tuple(r.params.get("layer_steps", (1.0, 1.0))) == (1.0, 1.0)
    assert default.initial.mass == 1.0 and (default.alpha, default.beta) == (4.0, 1.0)
    # the published Fig 2 run says that it is not the (4, 1) PDE
    icm = cases.load_case(ROOT / "solvers" / "icm_fig2.toml")
    assert "NOT the (alpha, beta) = (4, 1)" in icm.description and icm.reference is None
    assert {tuple(r.params["layer_steps"]) for r in icm.runs} == {(1.0, 100.0)}


# ------------------------------------------------------------------------------------------- end to end
SMALL = """
title = "a small real case"
description = "tiny grid, few particles, two small networks"

[model]
type = "teacher_student"
teacher = "teacher.csv"

[initial]
mass = 1.0

[time]
final = 0.6
snapshots = [0.3, 0.6]
records = 7
spacing = "linear"

[eulerian]
level = 1

[lagrangian]
quadrature = "grid"
level = 1
stepper = "rk4"
dt = 0.05

[network]
widths = [4, 16]
seeds = [0, 1]
step_size = 0.02
radius = 1.0
"""


def test_small_real_case_through_python_m_wgf_and_plain_h5py(tmp_path):
    shutil.copy(TEACHER, tmp_path / "teacher.csv")
    (tmp_path / "small.toml").write_text(SMALL)
    p = wgf_process(["run", "small.toml", "-o", "out.h5", "--quiet"], tmp_path)
    stdout, stderr = p.communicate(timeout=300)
    assert p.returncode == 0, stderr
    assert stdout == "" and stderr == ""
    runs = ["eulerian", "lagrangian", "network_m0004_s0", "network_m0004_s1", "network_m0016_s0",
            "network_m0016_s1"]
    times = np.array([0.0, 0.6 / 7, 2 * 0.6 / 7, 3 * 0.6 / 7, 0.3, 4 * 0.6 / 7, 5 * 0.6 / 7, 6 * 0.6 / 7, 0.6])
    with h5py.File(tmp_path / "out.h5", "r") as f:
        a = f.attrs
        assert a["format"] == "wgf-output" and a["format_version"] == 1 and a["wgf_version"] == wgf.__version__
        assert a["config"] == SMALL and a["case_name"] == "small" and a["title"] == "a small real case"
        assert a["status"] == "completed" and json.loads(a["runs"]) == runs
        assert np.array_equal(f["data/model/teacher"][()], np.loadtxt(TEACHER, delimiter=","))
        for name in runs:
            g = f[name]
            kind = name.split("_")[0]
            assert g.attrs["solver"] == kind and g.attrs["completed"] and g.attrs["started"]
            assert g.attrs["failed"] == ""
            params = json.loads(g.attrs["params"])
            t, step, F = g["time"][()], g["step"][()], g["energy"][()]
            assert t.shape == step.shape == F.shape == g["mass"].shape == g["Q"].shape
            # counted times rounded to whole network steps (0.02): every run records the same times
            np.testing.assert_allclose(t, 0.02 * np.rint(times / 0.02), rtol=0, atol=1e-12)
            assert t[0] == 0.0 and F[-1] < F[0]
            if kind == "network":
                assert np.array_equal(step, np.rint(t / 0.02).astype(int))  # time t is the state after t/gamma steps
                assert params["m"] in (4, 16) and params["step_size"] == 0.02
            snaps = g["snapshots"]
            assert sorted(snaps) == ["000000", "000001", "000002"]
            assert [snaps[k].attrs["time"] for k in sorted(snaps)] == pytest.approx([0.0, 0.3, 0.6], abs=1e-12)
            last = snaps["000002"]
            P, M = last["points"][()], last["masses"][()]
            assert P.shape[1] == 3 and M.shape == (P.shape[0],) and np.all(M >= 0)
            np.testing.assert_allclose(np.linalg.norm(P, axis=1), 1.0, rtol=1e-12)
            assert math.isclose(M.sum(), g["mass"][-1], rel_tol=1e-12)
            if kind == "network":
                assert last["weights"].shape == (params["m"], 3)
            else:
                assert g["grid/points"].shape == (42, 3) and math.isclose(g["grid/volumes"][()].sum(), 4 * np.pi)
            ck = g["checkpoint"]
            assert ck.attrs["n_records"] == len(t) and ck.attrs["n_snapshots"] == 3
        # the report's numbers, recomputed here from the arrays
        model = wgf.TeacherStudent(f["data/model/teacher"][()])
        final = {n: Measure(f[f"{n}/snapshots/000002/points"][()], f[f"{n}/snapshots/000002/masses"][()])
                 for n in runs}
    dist = {n: model.distance(final[n], final["eulerian"]) for n in runs}
    (tmp_path / "teacher.csv").unlink()  # the report needs only the file
    rc, out, err = run_main(["report", str(tmp_path / "out.h5")])
    assert rc == 0, err
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("m ") and "seeds" in line)
    assert "dist to eulerian (reference)" in lines[head] and "dist to lagrangian" in lines[head]
    for i, m in enumerate((4, 16)):
        row = lines[head + 2 + i].split()
        assert row[0] == str(m) and row[1] == "2"
        mean = np.mean([dist[f"network_m{m:04d}_s{s}"] for s in (0, 1)])
        assert math.isclose(float(row[4]), mean, rel_tol=1e-3)
    assert "slope of log(mean distance to eulerian) against log m" in out
    lag = next(line for line in lines if line.startswith("lagrangian "))
    assert math.isclose(float(lag.split()[-1]), dist["lagrangian"], rel_tol=1e-3)
    written = sorted(q.name for q in tmp_path.glob("*.png"))
    assert written == ["out_density_eulerian.png", "out_distance.png", "out_energy.png", "out_particles.png",
                       "out_particles_lagrangian.png", "out_particles_network_m0004.png",
                       "out_particles_network_m0016.png"]


def test_networks_only_case_reports_that_it_is_not_the_pde(tmp_path):
    """Unequal layer steps, sequential layers and the balanced initialisation of the published Fig 2 run:
    the report says why these networks are not the (4, 1) PDE and that there is no reference."""
    text = SMALL.split("[eulerian]")[0].replace('teacher = "teacher.csv"', f'teacher = "{TEACHER.as_posix()}"')
    text += ("[network]\nwidths = [3, 6]\nseeds = [8]\ninit = \"balanced\"\nradius = 1.4142135623730951\n"
             "step_size = 0.02\nlayer_steps = [1.0, 4.0]\nsequential = true\n")
    (tmp_path / "fig2.toml").write_text(text)
    assert run_main(["run", str(tmp_path / "fig2.toml"), "-o", str(tmp_path / "o.h5"), "-q"])[0] == 0
    rc, out, _ = run_main(["report", str(tmp_path / "o.h5"), "--no-figures"])
    assert rc == 0
    flat = " ".join(out.split())
    assert "no PDE run in this case" in flat and "dist to" not in out
    assert "layer_steps = [1.0, 4.0]: unequal layer steps (c_a, c_b) leave the (alpha, beta) family" in flat
    assert "init = balanced" in flat and "no full support" in flat


# ------------------------------------------------------------------------------------------- SIGKILL
KILL = SMALL.replace("final = 0.6", "final = 1.2").replace("snapshots = [0.3, 0.6]", "snapshots = 3") \
    .replace("records = 7", "records = 10\ncheckpoint_wall = 0.05").replace("level = 1\n\n[lagrangian]",
                                                                           "level = 3\n\n[lagrangian]") \
    .replace("widths = [4, 16]", "widths = [50, 400]").replace("seeds = [0, 1]", "seeds = [3]") \
    .replace("step_size = 0.02", "step_size = 0.002")


def _kill_after_first_checkpoint(args, out: Path, cwd: Path, delay: float) -> int:
    """Start ``wgf args``; once ``out`` has been rewritten by a checkpoint (a new inode), wait ``delay``
    seconds and SIGKILL it. Returns the exit status (0 when it finished first)."""
    ino = out.stat().st_ino if out.exists() else None
    proc = wgf_process(args, cwd)
    t0 = time.monotonic()
    seen = 0
    while seen < (2 if ino is None else 1):  # a new run: the file's creation, then a checkpoint
        if out.exists() and out.stat().st_ino != ino:
            ino = out.stat().st_ino
            seen += 1
            continue
        if proc.poll() is not None:
            return proc.returncode
        assert time.monotonic() - t0 < 120
        time.sleep(0.002)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    return proc.returncode


def test_sigkill_of_a_real_run_then_resume_is_bit_for_bit(tmp_path):
    shutil.copy(TEACHER, tmp_path / "teacher.csv")
    (tmp_path / "kill.toml").write_text(KILL)
    rc, _, err = run_main(["run", str(tmp_path / "kill.toml"), "-o", str(tmp_path / "base.h5"), "-q"])
    assert rc == 0, err
    with h5py.File(tmp_path / "base.h5", "r") as f:  # compute time of the uninterrupted run
        busy = sum(float(f[n].attrs["wall_seconds"]) for n in json.loads(f.attrs["runs"]))
    out = tmp_path / "out.h5"
    rng = np.random.default_rng()
    # killed at a random moment after its first checkpoint (within the first half of the computation),
    # resumed and killed again, then resumed to the end
    d1, d2 = rng.uniform(0.0, 0.5 * busy, size=2)
    rc = _kill_after_first_checkpoint(["run", "kill.toml", "-o", "out.h5", "-q"], out, tmp_path, d1)
    assert rc == -signal.SIGKILL, d1
    with wgf.app.io.OutputReader(out) as r:
        r.check()  # the file on disk is a complete checkpoint
        assert r.attrs()["status"] == "running"
        done = [n for n in r.runs if r.run_attrs(n)["completed"]]
    assert len(done) < 4, d1
    rc = _kill_after_first_checkpoint(["run", "--resume", "out.h5", "-q"], out, tmp_path, d2)
    assert rc in (0, -signal.SIGKILL), d2
    rc, _, err = run_main(["run", "--resume", str(out), "-q"])
    assert rc == 0, err
    assert_same_output(tmp_path / "base.h5", out)
    assert sorted(q.name for q in tmp_path.iterdir()) == ["base.h5", "kill.toml", "out.h5", "teacher.csv"]


def test_a_real_network_that_blows_up_is_stopped_with_its_last_good_state(tmp_path):
    """A step size far too large: the network's weights overflow (FloatingPointError from the trainer); the
    run stops with the time, the step and the cause, exit status 1, the last good state kept."""
    text = SMALL.split("[eulerian]")[0].replace('teacher = "teacher.csv"', f'teacher = "{TEACHER.as_posix()}"')
    text = text.replace("final = 0.6", "final = 400.0").replace("snapshots = [0.3, 0.6]", "snapshots = 2")
    text += "[network]\nwidths = [4]\nstep_size = 2.0\n"
    (tmp_path / "blow.toml").write_text(text)
    rc, out, err = run_main(["run", str(tmp_path / "blow.toml"), "-o", str(tmp_path / "b.h5"), "-q"])
    assert rc == 1 and out == ""
    assert "numerical blow-up in run 'network_m0004_s0' at t = " in err and "reduce step_size" in err
    assert "Traceback" not in err and "Warning" not in err
    with wgf.app.io.OutputReader(tmp_path / "b.h5") as r:
        r.check()
        a = r.run_attrs("network_m0004_s0")
        assert a["failed"].startswith("numerical blow-up") and not a["completed"]
        _, state = r.checkpoint("network_m0004_s0")
        assert np.all(np.isfinite(state["weights"])) and 0 < state["steps"] < 200
