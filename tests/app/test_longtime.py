"""Runs over many decades: records and checkpoints by time, not by step (the file does not grow with the
step count), resume of such a run, the work estimate and its refusal through the command line, and the
report's long-time decay section and figure."""

import math

import h5py
import numpy as np
import pytest

from helpers import run_main
from wgf.analysis.decay import fit_decay
from wgf.app import io, work
from wgf.app.cases import bundled_cases, load_case, parse_case
from wgf.app.controller import Controller
from wgf.app.decay_report import DECAY_MIN_SPAN, summarize_decays
from wgf.app.report import report
from wgf_toy import HOOKS, assert_same_output, toml_dumps, toy_case, write_case

pytestmark = pytest.mark.usefixtures("toy_plugin")

T_LONG = 1e7


def long_case(dt_max: float, **time) -> dict:
    """The toy flow to t = 10^7 with log-spaced records from t = 0.01 (nine decades); the reaction is slow
    (alpha = 1e-7) so that F still changes at t = 10^7; the toy's step grows from 0.01 to dt_max; a
    checkpoint every 10^6 of simulated time."""
    return toy_case(flow={"alpha": 1e-7, "beta": 1.0},
                    time={"final": T_LONG, "records": 90, "snapshots": 10, "spacing": "log", "first": 0.01,
                          "checkpoint_interval": 1e6, **time},
                    toy={"n": 8, "dt": 0.01, "growth": 1.5, "dt_max": dt_max, "noise": 0.0})


def run_doc(doc, path, **kw):
    return Controller.new(parse_case(toml_dumps(doc), name="t"), path, quiet=True, **kw).run()


@pytest.fixture(scope="module")
def two_long_runs(tmp_path_factory):
    """The same case with steps up to 1e5 and up to 1e3: about 100 times more steps for the second."""
    d = tmp_path_factory.mktemp("long")
    HOOKS.update(signal_at_step=None, keyboard_at_step=None)
    out = {}
    for dt_max in (1e5, 1e3):
        p = d / f"dt{dt_max:g}.h5"
        commits = []
        real = io.commit
        io.commit = lambda *a, **k: (commits.append(1), real(*a, **k))[1]
        try:
            assert run_doc(long_case(dt_max), p).status == "completed"
        finally:
            io.commit = real
        out[dt_max] = (p, len(commits))
    return out


def test_records_snapshots_and_checkpoints_are_by_time_not_by_step(two_long_runs):
    (pa, ca), (pb, cb) = two_long_runs[1e5], two_long_runs[1e3]
    with h5py.File(pa, "r") as fa, h5py.File(pb, "r") as fb:
        sa, sb = int(fa["toy/step"][-1]), int(fb["toy/step"][-1])
        assert sb > 40 * sa  # very different numbers of steps (10105 and 231 when written)
        ta, tb = fa["toy/time"][()], fb["toy/time"][()]
        np.testing.assert_array_equal(ta, tb)  # the same records, at the same times
        assert len(fa["toy/snapshots"]) == len(fb["toy/snapshots"]) == 11  # t = 0 and 10 more
        for name in fa["toy"]:
            if isinstance(fa["toy"][name], h5py.Dataset):
                assert fa["toy"][name].shape == fb["toy"][name].shape == ta.shape, name
        # log-spaced record times: t = 0, then 90 times from 0.01 to 10^7 with equal ratios
        rec = np.geomspace(0.01, T_LONG, 90)
        assert ta[0] == 0.0 and ta[-1] == T_LONG
        assert np.all(np.isin(rec, ta)) and ta.size <= 1 + 90 + 10
        assert np.allclose(np.diff(np.log(rec)), math.log(1e9) / 89)
    assert ca == cb == 10  # checkpoints at t = 1e6, 2e6, ..., 9e6 and the end, whatever the steps
    size_a, size_b = pa.stat().st_size, pb.stat().st_size
    assert abs(size_b - size_a) <= 0.01 * size_a, (size_a, size_b)
    # bounded by the records, not the steps: far below 8 bytes per step of the longer run
    assert size_b < 200_000 and size_b < 8 * sb


def test_a_long_run_interrupted_and_resumed_is_bit_for_bit(two_long_runs, tmp_path):
    base, _ = two_long_runs[1e3]
    p = tmp_path / "r.h5"
    HOOKS["signal_at_step"] = 4321
    out = run_doc(long_case(1e3), p)
    HOOKS["signal_at_step"] = None
    assert out.status == "interrupted"
    assert Controller.resume(p, quiet=True).run().status == "completed"
    assert_same_output(base, p)


def test_report_fits_the_decay_of_runs_spanning_many_decades(two_long_runs):
    p, _ = two_long_runs[1e3]
    text, figures = report(p)
    assert any(f.name.endswith("_decay.png") and f.stat().st_size > 1000 for f in figures)
    lines = text.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("long-time decay of F - F*"))
    header = " ".join(lines[i:i + 2])
    assert "F* = F(T)" in header and "[T/1000, T/10]" in header
    row = next(line for line in lines[i:] if line.startswith("toy ")).split()
    with h5py.File(p, "r") as f:
        t, F = f["toy/time"][()], f["toy/energy"][()]
    # the slope, recomputed here with numpy alone: least squares of log(F - F(T)) on log t, t in [1e4, 1e6]
    w = (t >= 1e4 * (1 - 1e-12)) & (t <= 1e6 * (1 + 1e-12))
    slope = np.polyfit(np.log(t[w]), np.log(F[w] - F[-1]), 1)[0]
    assert float(row[-1]) == pytest.approx(slope, abs=5e-4)
    assert int(row[-2]) == int(w.sum()) and fit_decay(t, F).points == int(w.sum())


def test_short_runs_get_no_decay_section(tmp_path):
    p = tmp_path / "s.h5"
    assert run_doc(toy_case(), p).status == "completed"  # t = 0.001 .. 1: three decades
    text, figures = report(p)
    assert "long-time decay" not in text and not any("_decay" in f.name for f in figures)
    assert DECAY_MIN_SPAN == 1e4


# ------------------------------------------------------------------------------------------- work estimate
def test_a_case_that_cannot_finish_is_refused_with_one_line(tmp_path):
    case = write_case(tmp_path / "c.toml", toy_case(time={"final": 1e300, "records": 5}))
    rc, out, err = run_main(["run", case, "-o", str(tmp_path / "o.h5")])
    assert rc == 2 and out == "" and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"wgf: error: {case}: this case asks for about ")
    assert "steps of 8 atoms" in err and "run 'toy'" in err and "--allow-long" in err
    assert not (tmp_path / "o.h5").exists() and list(tmp_path.iterdir()) == [tmp_path / "c.toml"]


def test_fixed_network_steps_to_1e300_are_refused_with_the_estimate(tmp_path):
    doc = {"model": {"type": "teacher_student", "teacher": [[1.0, 0.6, 0.8], [-0.5, 0.8, -0.6]]},
           "time": {"final": 1e300, "records": 5},
           "network": {"widths": [10], "seeds": [0], "step_size": 0.5}}
    case = write_case(tmp_path / "n.toml", doc)
    rc, _, err = run_main(["run", case, "-o", str(tmp_path / "o.h5")])
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "2e+300 steps of 10 neurons, T / step 0.5" in err and "--allow-long" in err
    assert not (tmp_path / "o.h5").exists()


def test_allow_long_runs_it_and_ctrl_c_stops_it_with_a_checkpoint(tmp_path):
    case = write_case(tmp_path / "c.toml", toy_case(time={"final": 1e300, "records": 5}))
    HOOKS["signal_at_step"] = 7
    rc, _, err = run_main(["run", case, "-o", str(tmp_path / "o.h5"), "--allow-long"])
    HOOKS["signal_at_step"] = None
    assert rc == 130 and "Traceback" not in err
    assert "run because of --allow-long" in err.splitlines()[0]
    assert err.strip().endswith(f"resume with: wgf run --resume {tmp_path / 'o.h5'}")
    with io.OutputReader(tmp_path / "o.h5") as r:
        r.check()
        assert r.checkpoint("toy")[0]["step"] == 7
    rc, _, err = run_main(["run", "--resume", str(tmp_path / "o.h5"), "--allow-long"])
    assert rc == 2 and "--allow-long do not apply" in err


def test_estimates_against_independent_counts():
    # the toy's own estimate (ToySolver.estimate_steps) against the steps its run takes to t = 5
    case = parse_case(toml_dumps(toy_case(time={"final": 5.0, "records": [5.0]})))
    spec = case.runs[0]
    est = work.estimate_case(case, [(spec, spec.build().solver)])
    solver = spec.build().solver
    solver.advance(5.0)
    assert est.runs[0].steps == solver.steps and est.runs[0].basis == "the solver's own estimate"
    assert est.runs[0].atoms == 8 and est.atom_steps == 8 * solver.steps
    # a fixed Lagrangian step and constant network steps: T / dt exactly; the grid: its first step
    doc = {"model": {"type": "teacher_student", "teacher": [[1.0, 0.6, 0.8], [-0.5, 0.8, -0.6]]},
           "time": {"final": 20.0, "records": 4},
           "lagrangian": {"quadrature": "quasi_uniform", "n": 30, "stepper": "rk4", "dt": 0.05},
           "eulerian": {"level": 1, "dt": 1e-3},
           "network": {"widths": [7], "seeds": [0], "step_size": 0.04}}
    case = parse_case(toml_dumps(doc))
    est = {r.name: r for r in work.estimate_case(case, [(r, r.build().solver) for r in case.runs]).runs}
    assert est["lagrangian"].steps == 400 and est["lagrangian"].atoms == 30
    assert est["network_m0007_s0"].steps == 500 and est["network_m0007_s0"].atoms == 7
    assert est["eulerian"].steps == 20_000 and est["eulerian"].atoms == 42  # dt = 1e-3 below both bounds


def test_every_bundled_case_passes_the_estimate():
    for stem, path, _ in bundled_cases():
        case = load_case(path)
        est = work.estimate_case(case, ((r, r.build().solver) for r in case.runs))
        assert work.check_work(est, allow_long=False) is None, (stem, est.summary())
        assert all(math.isfinite(r.steps) and r.steps >= 1 for r in est.runs), (stem, est.summary())


def test_the_certified_bracket_of_a_real_run_holds_the_known_minimum(tmp_path):
    # teacher-student with a teacher that is itself a measure on S^2: F* = 0 exactly, so the bracket
    # max(F - gap) <= F* <= min F computed from the run's certificate must hold 0
    doc = {"model": {"type": "teacher_student", "teacher": [[0.5, 0.3, -0.4], [-0.5, -0.45, -0.2]]},
           "time": {"final": 1e4, "records": 40, "snapshots": 6, "spacing": "log", "first": 0.01},
           "lagrangian": {"quadrature": "quasi_uniform", "n": 60, "stepper": "rk45"},
           "diagnostics": {"certificate_points": 1024}}
    p = tmp_path / "ts.h5"
    assert run_doc(doc, p).status == "completed"
    text, _ = report(p, figures=False)
    with io.OutputReader(p) as r:
        (d,) = summarize_decays(r)
    assert d.name == "lagrangian" and math.isfinite(d.lower) and math.isfinite(d.fit.slope)
    assert d.lower <= 0.0 <= d.upper and d.upper == d.fit.f_star
    assert d.upper - d.lower < 1e-5  # informative: [-2.6e-6, 5.6e-8] when written, F(0) = 0.024
    assert "lagrangian" in text.split("long-time decay of F - F*")[1]
