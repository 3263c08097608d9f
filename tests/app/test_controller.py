"""The controller: output times, exactness against the toy's closed form, bit-for-bit resume after
interruptions at random steps, wall-clock checkpoints, blow-up detection, Ctrl-C."""

import io as _io
import os

import h5py
import numpy as np
import pytest

from wgf.app import io
from wgf.geometry import sphere
from wgf.app.cases import parse_case
from wgf.app.controller import Controller
from wgf_toy import HOOKS, assert_same_output, toml_dumps, toy_case


pytestmark = pytest.mark.usefixtures("toy_hooks")


def run_case(doc, path, **kw):
    case = parse_case(toml_dumps(doc), name="t")
    ctl = Controller.new(case, path, quiet=True, **kw)
    return ctl.run()


def resume(path):
    return Controller.resume(path, quiet=True).run()


NOISY = toy_case(toy={"n": 8, "dt": 0.004, "dt_max": 0.03, "noise": 0.05, "seed": 7},
                 time={"final": 1.0, "snapshots": 4, "records": 15, "checkpoint_interval": 0.4})


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    p = tmp_path_factory.mktemp("base") / "base.h5"
    out = run_case(NOISY, p)
    assert out.status == "completed" and out.exit_code == 0
    with h5py.File(p, "r") as f:
        steps = int(f["toy/step"][-1])
    return p, steps


def test_output_times_and_exact_solution(tmp_path):
    doc = toy_case(toy={"n": 7, "dt": 0.003, "dt_max": 0.05, "noise": 0.0},
                   time={"final": 1.5, "snapshots": 3, "records": 10, "checkpoint_interval": 0.7})
    case = parse_case(toml_dumps(doc))
    out = run_case(doc, tmp_path / "o.h5")
    assert out.status == "completed"
    stops = case.time.stops
    with h5py.File(tmp_path / "o.h5", "r") as f:
        g = f["toy"]
        assert f.attrs["status"] == "completed" and g.attrs["completed"] and not g.attrs["failed"]
        t = g["time"][()]
        # records at t = 0, every record and snapshot time, exactly (the solver lands on them)
        assert t.tolist() == [s[0] for s in stops if s[1] or s[2]]
        assert np.all(np.diff(g["step"][()]) > 0)
        snaps = [g["snapshots"][k].attrs["time"] for k in sorted(g["snapshots"])]
        assert snaps == [s[0] for s in stops if s[2]] and snaps[0] == 0.0 and snaps[-1] == 1.5
        E, M = g["energy"][()], g["mass"][()]
        assert g["checkpoint"].attrs["next_stop"] == len(stops)
    # closed form of the reaction with J = c + g.eta frozen: m_i(t) = m_i(0) exp(-alpha J_i t); the steps
    # multiply exp(-alpha J h_k), exact up to one rounding per step (<= 60 steps: 1e-12 is ample)
    pts = sphere.quasi_uniform_points(7, 2)
    J = 1.5 + pts @ np.array([0.5, -0.3, 0.2])
    m = np.exp(-4.0 * np.outer(t, J)) / 7
    np.testing.assert_allclose(E, m @ J, rtol=1e-12)
    np.testing.assert_allclose(M, m.sum(axis=1), rtol=1e-12)


def test_interrupt_at_random_steps_then_resume_is_bit_for_bit(baseline, tmp_path, monkeypatch):
    base, nsteps = baseline
    rng = np.random.default_rng(2024)
    ks = sorted(rng.choice(np.arange(1, nsteps), size=3, replace=False).tolist())
    p = tmp_path / "o.h5"
    first = True
    for k in ks:  # interrupted three times, resumed three times
        HOOKS["signal_at_step"] = int(k)
        out = run_case(NOISY, p) if first else resume(p)
        first = False
        assert out.status == "interrupted" and out.exit_code == 130, (k, out)
        assert f"resume with: wgf run --resume {p}" in out.message and f"step {k}" in out.message
        with io.OutputReader(p) as r:
            r.check()
            assert r.attrs()["status"] == "interrupted"
            assert r.checkpoint("toy")[0]["step"] == k
    HOOKS["signal_at_step"] = None
    assert resume(p).status == "completed"
    assert_same_output(base, p)


def test_checkpoint_after_every_step_changes_nothing(baseline, tmp_path, monkeypatch):
    base, nsteps = baseline
    doc = toy_case(toy=NOISY["toy"], time={**NOISY["time"], "checkpoint_wall": 1e-9})
    commits = []
    real = io.commit
    monkeypatch.setattr(io, "commit", lambda *a, **k: (commits.append(1), real(*a, **k)))
    run_case(doc, tmp_path / "o.h5")
    assert len(commits) >= nsteps
    assert_same_output(base, tmp_path / "o.h5", ignore=("/@config",))


def test_second_ctrl_c_aborts_and_keeps_the_last_checkpoint(baseline, tmp_path):
    base, nsteps = baseline
    p = tmp_path / "o.h5"
    HOOKS["keyboard_at_step"] = nsteps // 2
    with pytest.raises(KeyboardInterrupt):
        run_case(NOISY, p)
    assert os.listdir(tmp_path) == ["o.h5"]
    with io.OutputReader(p) as r:
        r.check()
        ck = r.checkpoint("toy")  # None when aborted before the run's first checkpoint (t = 0.4)
        assert ck is None or ck[0]["step"] < nsteps // 2
    HOOKS["keyboard_at_step"] = None
    assert resume(p).status == "completed"
    assert_same_output(base, p)


def test_resume_in_the_second_of_several_runs(tmp_path):
    doc = toy_case(toy=[{"n": 5, "noise": 0.02, "seed": 1, "name": "first"},
                        {"n": 6, "noise": 0.02, "seed": 2, "name": "second"}],
                   time={"final": 0.5, "snapshots": 2, "records": 6})
    assert run_case(doc, tmp_path / "a.h5").status == "completed"
    with h5py.File(tmp_path / "a.h5", "r") as f:
        n1 = int(f["first/step"][-1])
    HOOKS["signal_at_step"] = 3  # fires in the first run at step 3, and again in the second
    assert run_case(doc, tmp_path / "b.h5").status == "interrupted"
    with io.OutputReader(tmp_path / "b.h5") as r:
        assert not r.run_attrs("first")["completed"] and not r.run_attrs("second")["started"]
    assert resume(tmp_path / "b.h5").status == "interrupted"
    with io.OutputReader(tmp_path / "b.h5") as r:
        assert r.run_attrs("first")["completed"] and r.checkpoint("second")[0]["step"] == 3
    HOOKS["signal_at_step"] = None
    assert resume(tmp_path / "b.h5").status == "completed"
    assert n1 > 3
    assert_same_output(tmp_path / "a.h5", tmp_path / "b.h5")
    out = resume(tmp_path / "b.h5")
    assert out.status == "nothing" and out.exit_code == 0


@pytest.mark.parametrize("mode, cause", [
    ("nan", "non-finite values (NaN or inf) in the state array 'masses'"),
    ("negative", "invalid measure: masses must be nonnegative"),
    ("raise", "the toy solver gave up"),
    ("energy", "F = inf is not finite"),
])
def test_blow_up_is_stopped_with_the_last_good_state(tmp_path, mode, cause):
    doc = toy_case(toy=[{"n": 5, "name": "bad", "blowup_at": 0.3, "blowup_mode": mode, "dt_max": 0.01},
                        {"n": 5, "name": "good"}],
                   time={"final": 0.6, "snapshots": 2, "records": 30, "spacing": "linear"})
    p = tmp_path / "o.h5"
    out = run_case(doc, p)
    assert out.status == "failed" and out.exit_code == 1
    (msg,) = out.failures
    assert msg.startswith("numerical blow-up in run 'bad' at t = ") and ", step " in msg and cause in msg, msg
    t_fail = float(msg.split("at t = ")[1].split(",")[0])
    with io.OutputReader(p) as r:
        r.check()
        a = r.run_attrs("bad")
        assert a["failed"] == msg and not a["completed"]
        cattrs, state = r.checkpoint("bad")
        assert np.all(np.isfinite(state["masses"])) and np.all(state["masses"] >= 0)
        assert cattrs["time"] < t_fail and state["time"] == cattrs["time"]
        s = r.series("bad")
        assert np.all(np.isfinite(s["energy"])) and s["time"][-1] <= cattrs["time"]
        assert r.run_attrs("good")["completed"] and r.attrs()["status"] == "failed"
    if mode != "energy":  # detected within one step: the saved state is the step just before
        assert state["steps"] == int(msg.split(", step ")[1].split(":")[0]) - 1
        assert cattrs["time"] < 0.3 <= t_fail
    again = resume(p)
    assert again.status == "failed" and again.exit_code == 1 and again.failures == [msg]
    assert "nothing to run" in again.message


def test_progress_bar_and_messages(tmp_path):
    stream = _io.StringIO()
    case = parse_case(toml_dumps(toy_case()), name="t")
    Controller.new(case, tmp_path / "o.h5", stream=stream).run()
    text = stream.getvalue()
    assert "run toy (toy)" in text and "F=" in text and "t=1/1" in text
    stream = _io.StringIO()
    Controller.new(case, tmp_path / "p.h5", quiet=True, stream=stream).run()
    assert stream.getvalue() == ""


class _Terminal(_io.StringIO):
    def isatty(self):
        return True


def test_batch_log_gets_plain_lines_and_a_terminal_gets_the_bar(tmp_path, monkeypatch):
    from wgf.app import controller

    case = parse_case(toml_dumps(toy_case()), name="t")
    tty = _Terminal()
    Controller.new(case, tmp_path / "tty.h5", stream=tty).run()
    assert "\r" in tty.getvalue() and "%|" in tty.getvalue()  # tqdm redraws the bar in place
    log = _io.StringIO()
    Controller.new(case, tmp_path / "log.h5", stream=log).run()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    # the controller's own header, one plain progress line at the end, and the "wrote" line at most
    progress = [ln for ln in lines if ln.startswith("toy: t=")]
    assert progress == [progress[-1]] and "t=1/1 (100%)" in progress[-1] and "F=" in progress[-1]
    assert len(lines) <= 4, lines
    # with a zero interval every update writes a line: the interval is what keeps the log short
    monkeypatch.setattr(controller._PlainProgress, "interval", 0.0)
    log = _io.StringIO()
    Controller.new(case, tmp_path / "log0.h5", stream=log).run()
    assert len([ln for ln in log.getvalue().splitlines() if ln.startswith("toy: t=")]) > 1


def test_validation_errors_leave_no_file(tmp_path):
    from wgf.app.cases import CaseError
    case = parse_case(toml_dumps(toy_case(toy={"n": 4, "dt": 0.1, "dt_max": 0.01})))
    with pytest.raises(CaseError, match=r"\[toy\] dt_max = 0.01: dt_max must be finite and >= dt"):
        Controller.new(case, tmp_path / "o.h5")
    assert os.listdir(tmp_path) == []


def test_ctrl_c_during_a_checkpoint_write(baseline, tmp_path, monkeypatch):
    """The signal arrives while a checkpoint is being written (its status already computed): the run still
    stops there, the file says 'interrupted', and resuming gives the uninterrupted file."""
    import signal
    base, _ = baseline
    calls = []
    real = io.commit

    def commit(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*a, **k)
    monkeypatch.setattr(io, "commit", commit)
    p = tmp_path / "o.h5"
    out = run_case(NOISY, p)
    assert out.status == "interrupted"
    with io.OutputReader(p) as r:
        assert r.attrs()["status"] == "interrupted"
    monkeypatch.setattr(io, "commit", real)
    assert resume(p).status == "completed"
    assert_same_output(base, p)
