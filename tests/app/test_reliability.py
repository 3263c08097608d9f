"""Reliability with the real solvers: a fixed Eulerian step above the stability bounds is reduced with one
warning; a too-large fixed Lagrangian step or network step is stopped by the energy check (time, step and
cause named, the last good state kept in the file), while round-off at a minimiser never trips it; malformed
data files named by a case are refused with exit status 2 and no file left behind."""

import os
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from helpers import run_main
import wgf
from wgf.app import cases
from wgf.discretisations.solver import BlowUp, StepReducedWarning

ROOT = Path(wgf.__file__).resolve().parent.parent
TEACHER = np.loadtxt(ROOT / "data" / "teacher_fig2.csv", delimiter=",")



@pytest.fixture(autouse=True)
def no_plugins(monkeypatch):
    monkeypatch.delenv(cases.PLUGINS_ENV, raising=False)


@pytest.fixture(scope="module")
def model():
    return wgf.TeacherStudent(TEACHER)


def case_text(solver_section: str, final: float = 2.0, records: int = 4) -> str:
    return (f'[model]\ntype = "teacher_student"\nteacher = "{(ROOT / "data" / "teacher_fig2.csv").as_posix()}"\n'
            f'[time]\nfinal = {final}\nsnapshots = 1\nrecords = {records}\nspacing = "linear"\n\n{solver_section}')


# ------------------------------------------------------------------------------------------- Eulerian fixed dt
def test_eulerian_fixed_dt_above_the_bounds_is_reduced_with_one_warning(model):
    grid = wgf.icosahedral_grid(1)
    s = wgf.EulerianSolver(model, grid, dt=1.0)
    taken, min_mass = [], []

    def cb(sol):
        taken.append(sol.last_dt)
        min_mass.append(sol.masses.min())
        return False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s.advance(1.0, cb)
        s.advance(3.0, cb)  # once per solver, however many steps are reduced
    (w,) = caught
    assert w.category is StepReducedWarning
    msg = str(w.message)
    assert msg.startswith("the fixed step dt = 1 exceeds the positivity (CFL) bound (") and "at t = 0 (step 1)" in msg
    bound = float(msg.split("bound (")[1].split(")")[0])
    assert 0 < bound < 1.0 and taken[0] == pytest.approx(bound, rel=1e-5)  # printed to 6 digits
    assert max(taken) < 1.0 and min(min_mass) >= 0.0  # reduced at every step; no negative mass, ever
    small = wgf.EulerianSolver(model, grid, dt=0.5 * bound)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # below the bounds: no warning
        small.advance(0.2)


def test_wgf_run_prints_the_reduced_step_warning_once(tmp_path):
    (tmp_path / "e.toml").write_text(case_text("[eulerian]\nlevel = 1\ndt = 1.0\n"))
    rc, out, err = run_main(["run", str(tmp_path / "e.toml"), "-o", str(tmp_path / "e.h5"), "-q"])
    assert rc == 0 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: run 'eulerian': the fixed step dt = 1 exceeds the "
                                                   "positivity (CFL) bound ("), err
    with h5py.File(tmp_path / "e.h5", "r") as f:
        assert f.attrs["status"] == "completed" and np.all(f["eulerian/dt"][1:] < 1.0)


# ------------------------------------------------------------------------------------------- energy check
@pytest.mark.parametrize("section, run, stop", [
    ("[lagrangian]\nquadrature = \"grid\"\nlevel = 1\nstepper = \"rk4\"\ndt = 2.0\n", "lagrangian", (2.0, 1)),
    ("[network]\nwidths = [8]\nseeds = [0]\nstep_size = 1.0\n", "network_m0008_s0", None),
])
def test_a_too_large_fixed_step_is_stopped_with_the_last_good_state(tmp_path, model, section, run, stop):
    (tmp_path / "c.toml").write_text(case_text(section, final=40.0, records=4))  # outputs on whole steps
    out = tmp_path / "c.h5"
    rc, stdout, err = run_main(["run", str(tmp_path / "c.toml"), "-o", str(out), "-q"])
    assert rc == 1 and stdout == "" and "Traceback" not in err
    head = f"numerical blow-up in run '{run}' at t = "
    lines = err.splitlines()  # printed once, when it happens, then the summary
    assert len(lines) == 2 and lines[1] == f"wgf: 1 run(s) failed; the others completed; results in {out}", err
    msg, kept = lines[0].rsplit("; the last good state (", 1)
    assert msg.startswith(head) and kept.endswith(f") is kept in {out}"), lines[0]
    t = float(msg[len(head):].split(",")[0])
    k = int(msg.split(", step ")[1].split(":")[0])
    assert ": the energy increased from F = " in msg and f" in step {k + 1} (t = {t:g} to " in msg, msg
    F0 = float(msg.split("from F = ")[1].split(" to ")[0])
    assert kept == f"t = {t:g}, step {k}) is kept in {out}"
    if stop is not None:
        assert (t, k) == stop
    with h5py.File(out, "r") as f:  # plain h5py: the file keeps the last good state, at (t, k)
        g = f[run]
        assert g.attrs["failed"] == msg and not g.attrs["completed"] and f.attrs["status"] == "failed"
        ck = g["checkpoint"]
        assert ck.attrs["time"] == t and ck.attrs["step"] == k
        state = {name: ck["state"][name][()] for name in ck["state"]}
        assert np.all(np.isfinite(g["energy"][()])) and g["time"][-1] <= t
    if run == "lagrangian":
        nu = wgf.Measure(state["points"], np.exp(state["log_masses"]))
    else:
        nu = wgf.Measure.from_weights(state["weights"])
    assert model.energy(nu) == pytest.approx(F0, rel=1e-9)  # the state before the step that raised F
    assert run_main(["run", "--resume", str(out), "-q"])[0] == 1  # nothing left to run: still a failure


def test_the_solver_stays_at_the_last_good_state(model):
    grid = wgf.icosahedral_grid(1)
    nu0 = wgf.Measure(grid.points, grid.uniform_masses(1.0))
    s = wgf.LagrangianSolver(model, nu0, stepper="rk4", dt=2.0)
    with pytest.raises(BlowUp, match=r"energy increased .* in step 2 \(t = 2 to 4, rk4 with dt = 2\)"):
        s.advance(10.0)
    ref = wgf.LagrangianSolver(model, nu0, stepper="rk4", dt=2.0, check_energy=False)
    ref.advance(2.0)
    assert s.steps == 1 and s.time == 2.0
    assert all(np.array_equal(a, b) for a, b in zip(s.state_dict().values(), ref.state_dict().values()))
    ref.advance(4.0)  # unchecked, the same step is taken and F rises
    assert ref.energy() > s.energy()

    W0 = wgf.initial_weights(8, 2, seed=0)
    net = wgf.NetworkTrainer(model, W0, step_size=1.0)
    with pytest.raises(BlowUp, match=r"energy increased .* in step 8 \(t = 7 to 8, gradient step 1\)"):
        net.advance(40.0)
    free = wgf.NetworkTrainer(model, W0, step_size=1.0, check_energy=False)
    free.advance(7.0)
    assert net.steps == 7 and np.array_equal(net.weights, free.weights)
    # online SGD is not monotone and not checked; nor are the adaptive steppers
    sgd = wgf.NetworkTrainer(model, W0, step_size=1.0, method="sgd", batch_size=10)
    sgd.advance(5.0)
    assert sgd.steps == 5


def test_round_off_at_a_minimiser_never_trips_the_check(model):
    """At nu* itself every step changes F by round-off only: 1024 particles and 64 neurons on the teacher's
    atoms take fixed steps without a BlowUp (F stays at the round-off level)."""
    T = model.teacher_measure
    k = 256
    nu = wgf.Measure(np.repeat(T.points, k, axis=0), np.repeat(T.masses / k, k))
    s = wgf.LagrangianSolver(model, nu, stepper="rk4", dt=0.5)
    s.advance(25.0)
    assert s.steps == 50 and abs(s.energy()) < 1e-12
    W = np.repeat(TEACHER, 16, axis=0) * 2.0  # m = 64 neurons: (1/m) |w_j|^2 = |t_k|^2 / 16
    net = wgf.NetworkTrainer(model, W, step_size=0.1)
    net.advance(20.0)
    assert net.steps == 200 and abs(net.energy()) < 1e-12


# ------------------------------------------------------------------------------------------- data files
BAD_TEACHERS = [
    ("nan.csv", "1,2,3\n4,nan,6\n", "the array contains NaN or inf"),
    ("inf.csv", "1,2,3\n4,inf,6\n", "the array contains NaN or inf"),
    ("onecol.csv", "1\n2\n", "teacher must have shape (m0, dx+1)"),
    ("ragged.csv", "1,2,3\n4,5\n", "cannot read the file as a numeric array: the number of columns changed"),
    ("text.csv", "a,b,c\n", "cannot read the file as a numeric array"),
    ("empty.csv", "", "the array is empty"),
    ("binary.csv", b"\x93\xff\x00\x01", "cannot read the file as a numeric array"),
    ("complex.npy", np.array([[1 + 2j, 1.0, 1.0]]), "expected real numbers, got an array of dtype complex128"),
    ("cube.npy", np.ones((2, 2, 3)), "expected an array of dimension 2, got shape (2, 2, 3)"),
    ("folder.csv", None, "folder.csv is a folder, not a data file"),
    ("missing.csv", ..., "no such file"),
    ('[["1", "2", "3"]]', "inline", "expected a numeric array of dimension 2 (numbers only)"),
    ("[[true, 1, 2]]", "inline", "expected a numeric array of dimension 2 (numbers only)"),
]


@pytest.mark.parametrize("name, content, expected", BAD_TEACHERS, ids=[b[0] for b in BAD_TEACHERS])
def test_a_malformed_data_file_exits_2_with_one_line_and_no_output(tmp_path, name, content, expected):
    if isinstance(content, str) and content != "inline":
        (tmp_path / name).write_text(content)
    elif isinstance(content, bytes):
        (tmp_path / name).write_bytes(content)
    elif isinstance(content, np.ndarray):
        np.save(tmp_path / name, content)
    elif content is None:
        (tmp_path / name).mkdir()
    value = name if isinstance(content, str) and content == "inline" else f"\"{name}\""
    (tmp_path / "c.toml").write_text(f'[model]\ntype = "teacher_student"\nteacher = {value}\n'
                                     '[time]\nfinal = 1.0\nsnapshots = 1\nrecords = 2\n[eulerian]\nlevel = 0\n')
    before = sorted(os.listdir(tmp_path))
    rc, out, err = run_main(["run", str(tmp_path / "c.toml"), "-o", str(tmp_path / "o.h5")])
    assert rc == 2 and out == "" and err.count("\n") == 1 and err.startswith("wgf: error: "), err
    assert "[model] teacher = " in err and expected in err, err
    assert sorted(os.listdir(tmp_path)) == before


# ------------------------------------------------------------------------------------------- kill and resume
def test_kill_resume_benchmark_file_checks(tmp_path, monkeypatch):
    """The helpers of benchmarks/kill_resume.py on small toy files: a complete file is described and equal to
    itself, a changed dataset is found, a missing file is "no file", a truncated one does not open."""
    import shutil

    import wgf_toy
    from benchmarks import kill_resume as kr
    from wgf.app.controller import Controller

    monkeypatch.setenv(cases.PLUGINS_ENV, "wgf_toy")
    case = cases.parse_case(wgf_toy.toml_dumps(wgf_toy.toy_case()), name="t")
    assert Controller.new(case, tmp_path / "a.h5", quiet=True).run().status == "completed"
    assert kr.describe(tmp_path / "a.h5") == ("1/1 runs done", True, True)
    assert kr.status(tmp_path / "a.h5") == "completed"
    assert kr.describe(tmp_path / "none.h5") == ("no file", True, True) and kr.status(tmp_path / "none.h5") == ""
    assert Controller.new(case, tmp_path / "b.h5", quiet=True).run().status == "completed"
    assert kr.differences(tmp_path / "a.h5", tmp_path / "b.h5") == []  # wall-clock attributes aside
    shutil.copy(tmp_path / "a.h5", tmp_path / "c.h5")
    with h5py.File(tmp_path / "c.h5", "r+") as f:
        f["toy/energy"][-1] += 1e-15
    assert kr.differences(tmp_path / "a.h5", tmp_path / "c.h5") == ["toy/energy"]
    data = (tmp_path / "a.h5").read_bytes()
    (tmp_path / "d.h5").write_bytes(data[: len(data) // 2])
    text, opens, complete = kr.describe(tmp_path / "d.h5")
    assert text.startswith("unreadable") and not opens and not complete
    assert "[eulerian]" in kr.case_text() and "[lagrangian]" in kr.case_text() and "[network]" in kr.case_text()


@pytest.mark.slow
def test_kill_resume_benchmark_quick(tmp_path):
    """The benchmark's --quick mode (3 trials, about 25 s): every killed file opens and has a complete last
    checkpoint, and every resumed file equals the uninterrupted one bit for bit."""
    import json

    from benchmarks import kill_resume as kr
    assert kr.main(["--quick", "--out", str(tmp_path)]) == 0
    meta = json.loads((tmp_path / "kill_resume.json").read_text())["meta"]
    assert meta["bit_identical_results"] == 3
    assert meta["files_that_opened_with_h5py"] == meta["files_with_a_complete_last_checkpoint"] \
        == meta["files_after_a_kill"]
