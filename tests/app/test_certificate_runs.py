"""The optimality certificate along runs: recorded by the controller at snapshot times (read back with
plain h5py), a valid bound on F(nu_t) - F* where F* is known, falling along an Eulerian flow; the
[diagnostics] section validated like the rest of a case; nothing recorded (and the reason said once)
where no certificate exists; bit-for-bit resume with the certificate recorded; spike deconvolution
cases from CSV files."""

import io as _io
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import wgf
from wgf.app import cases
from wgf.app.cases import CaseError, load_case, parse_case
from wgf.app.cli import main
from wgf.app.controller import Controller
from wgf_toy import HOOKS, assert_same_output, toml_dumps, toy_case, write_case

ROOT = Path(wgf.__file__).resolve().parent.parent
SERIES = ("certificate_gap", "min_J_lower", "min_J_grid", "integral_J")


pytestmark = pytest.mark.usefixtures("toy_plugin")


def parse(doc):
    return parse_case(toml_dumps(doc), base_dir=ROOT)


def ts_case(**over):
    doc = toy_case(model={"type": "teacher_student", "teacher": str(ROOT / "data" / "teacher_fig2.csv")},
                   toy=None, eulerian={"level": 2, "stepper": "euler"},
                   time={"final": 300.0, "snapshots": 6, "records": 12, "first": 1.0})
    doc.update(over)
    return doc


def test_cli_run_records_the_certificate_and_it_bounds_the_gap(tmp_path):
    """Teacher–student (F* = 0, the teacher is a minimiser): at every snapshot the recorded bound is
    >= F(nu_t) - F* = F(nu_t); it falls along the Eulerian flow to below 1e-2 F(0); NaN at the records
    that are not snapshots; the report shows the last value."""
    path = write_case(tmp_path / "ts.toml", ts_case())
    assert main(["run", path, "-o", str(tmp_path / "ts.h5"), "-q"]) == 0
    with h5py.File(tmp_path / "ts.h5", "r") as f:
        g = f["eulerian"]
        t, F = g["time"][()], g["energy"][()]
        s = {k: g[k][()] for k in SERIES}
        snaps = [g["snapshots"][k].attrs["time"] for k in sorted(g["snapshots"])]
    for k in SERIES:
        assert s[k].shape == t.shape
    at = np.isin(t, snaps)
    assert at.sum() == len(snaps) == 7 and np.all(np.isfinite(s["certificate_gap"][at]))
    assert np.all(np.isnan(s["certificate_gap"][~at]))
    gap = s["certificate_gap"][at]
    assert np.all(gap >= F[at])
    assert np.all(s["min_J_lower"][at] <= s["min_J_grid"][at])
    assert gap[-1] < 1e-2 * F[0] and gap[-1] < 1e-3 * gap[0]
    # the last recorded integral of J matches the model's, at the last snapshot
    from wgf.app.io import OutputReader
    with OutputReader(tmp_path / "ts.h5") as r:
        snap = r.snapshot("eulerian", -1)
    nu = wgf.Measure(snap["points"], snap["masses"])
    case = load_case(path)
    J, _ = case.model.potential(nu.points, nu)
    assert s["integral_J"][at][-1] == pytest.approx(nu.integrate(J), rel=1e-9, abs=1e-15)
    out = _io.StringIO()
    from contextlib import redirect_stdout
    with redirect_stdout(out):
        assert main(["report", str(tmp_path / "ts.h5"), "--no-figures"]) == 0
    lines = out.getvalue().splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("run ") and "cert gap" in line)
    header, row = lines[i], lines[i + 2]  # the header, a rule, then the run's row
    col = header.index("cert gap")
    assert float(row[col:].split()[0]) == pytest.approx(gap[-1], rel=1e-3)


def test_certificate_falls_along_the_eulerian_flow_and_stays_above_the_energy():
    """The same through the public API: a level-2 grid, 30 times to t = 1000; the bound decreases from
    its value at t = 0 by more than three orders of magnitude and is never below F(nu_t) - F*."""
    from wgf.discretisations.eulerian import EulerianSolver
    from wgf.geometry.grid import icosahedral_grid
    from wgf.models import TeacherStudent

    model = TeacherStudent(np.loadtxt(ROOT / "data" / "teacher_fig2.csv", delimiter=","))
    s = EulerianSolver(model, icosahedral_grid(2), stepper="euler")
    F0 = s.energy()
    gaps = []
    for t in np.concatenate([[0.0], np.geomspace(0.1, 1000, 30)]):
        s.advance(t)
        c = wgf.optimality_certificate(model, s.measure, local_starts=0)
        assert c.gap_bound >= c.energy >= 0
        gaps.append(c.gap_bound)
    assert gaps[-1] < 1e-3 * gaps[0] and gaps[-1] < 1e-3 * F0
    # mostly decreasing: the running minimum is reached again within a factor 2 at the end
    assert gaps[-1] < 2 * min(gaps)


@pytest.mark.parametrize("section, message", [
    ({"certificate_points": 1}, "[diagnostics] certificate_points = 1: must be an integer >= 2"),
    ({"certificate_points": 2.5}, "[diagnostics] certificate_points = 2.5: expected an integer"),
    ({"certificate": "yes"}, "[diagnostics] certificate = \"yes\": expected a boolean"),
    ({"certificate_point": 10}, "unknown key 'certificate_point' (did you mean 'certificate_points'?)"),
    ({"certificate_method": "exact"}, "[diagnostics] certificate_method = \"exact\": must be one of"),
    ({"certificate_method": "curvature"}, "[diagnostics] certificate_method = \"curvature\": not available "
                                          "for this model"),
    ({"certificate_refine": -1}, "[diagnostics] certificate_refine = -1: must be an integer >= 0"),
])
def test_diagnostics_section_is_validated(section, message):
    with pytest.raises(CaseError) as exc:
        parse(ts_case(diagnostics=section))
    assert message in str(exc.value)


def test_certificate_off_and_unavailable_record_nothing(tmp_path):
    # switched off
    p = tmp_path / "off.h5"
    Controller.new(parse(ts_case(diagnostics={"certificate": False})), p, quiet=True).run()
    with h5py.File(p, "r") as f:
        assert not any(k in f["eulerian"] for k in SERIES) and "energy" in f["eulerian"]
    # unregularised logistic loss: no minimiser, so no certificate; said once for two runs, no crash
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 2))
    doc = toy_case(model={"type": "empirical_relu", "X": X.tolist(), "y": np.sign(X[:, 0]).tolist(),
                          "loss": "logistic"},
                   toy=[{"n": 6, "name": "a"}, {"n": 7, "name": "b"}])
    stream = _io.StringIO()
    case = parse(doc)
    assert "no minimiser" in case.diagnostics.unavailable
    out = Controller.new(case, tmp_path / "log.h5", stream=stream).run()
    assert out.status == "completed"
    assert stream.getvalue().count("no optimality certificate is recorded") == 1
    assert "no minimiser" in stream.getvalue()
    with h5py.File(tmp_path / "log.h5", "r") as f:
        for run in ("a", "b"):
            assert not any(k in f[run] for k in SERIES)


def test_interrupted_and_resumed_run_records_the_same_certificate(tmp_path):
    """The certificate is a deterministic function of the state: a run interrupted twice and resumed
    writes exactly the file of an uninterrupted run (the toy solver with its RNG, on teacher–student)."""
    doc = toy_case(model={"type": "teacher_student", "teacher": str(ROOT / "data" / "teacher_fig2.csv")},
                   toy={"n": 40, "dt": 0.004, "dt_max": 0.03, "noise": 0.05, "seed": 3},
                   time={"final": 1.0, "snapshots": 5, "records": 10, "checkpoint_interval": 0.4})
    case = parse(doc)
    base = tmp_path / "base.h5"
    assert Controller.new(case, base, quiet=True).run().status == "completed"
    with h5py.File(base, "r") as f:
        assert np.isfinite(f["toy/certificate_gap"][()]).sum() == 6
        n = int(f["toy/step"][-1])
    p = tmp_path / "o.h5"
    for i, k in enumerate((n // 3, 2 * n // 3)):
        HOOKS["signal_at_step"] = k
        c = parse(doc)
        out = Controller.new(c, p, quiet=True).run() if i == 0 else Controller.resume(p, quiet=True).run()
        assert out.status == "interrupted"
    HOOKS["signal_at_step"] = None
    assert Controller.resume(p, quiet=True).run().status == "completed"
    assert_same_output(base, p)


# ------------------------------------------------------------------------------------------- deconvolution
def test_spike_deconvolution_case_from_a_csv_and_inline(tmp_path):
    shutil.copy(ROOT / "data" / "spikes_s1_fc8.csv", tmp_path / "spikes.csv")
    base = {"type": "spike_deconvolution", "degree": 8, "weight_decay": 0.3}
    doc = toy_case(model={**base, "spikes": "spikes.csv"}, toy={"n": 8})
    case = cases.parse_case(toml_dumps(doc), base_dir=tmp_path)
    D = np.loadtxt(tmp_path / "spikes.csv", delimiter=",")
    assert case.dim == 1 and np.array_equal(case.model.spikes.masses, D[:, 2])
    assert case.model.kernel_peak == 17.0 and case.diagnostics.enabled
    assert np.array_equal(case.data["model.spikes"], D)
    inline = toy_case(model={**base, "positions": D[:, :2].tolist(), "weights": D[:, 2].tolist()}, toy={"n": 8})
    assert np.array_equal(cases.parse_case(toml_dumps(inline)).model.spikes.points, case.model.spikes.points)
    for model, message in (
            ({**base, "spikes": "spikes.csv", "weights": [1.0]}, "give either spikes"),
            ({**base, "positions": D[:, :2].tolist()}, "missing key 'weights'"),
            ({**base, "spikes": "spikes.csv", "degree": 0}, "[model] degree = 0: degree = 0: fc"),
            ({**base, "spikes": "spikes.csv", "weight_decay": 0.0}, "weight_decay"),
            ({**base, "spikes": "spikes.csv", "normalisation": "unit"}, "did you mean 'normalization'"),
    ):
        with pytest.raises(CaseError) as exc:
            cases.parse_case(toml_dumps(toy_case(model=model, toy={"n": 8})), base_dir=tmp_path)
        assert message in str(exc.value), str(exc.value)


@pytest.mark.parametrize("name", ["deconvolution_s1", "deconvolution_s2"])
def test_bundled_deconvolution_cases_are_valid(name):
    case = load_case(ROOT / "solvers" / f"{name}.toml")
    assert case.model.weight_decay == 0.3 and case.diagnostics.enabled
    assert [r.kind for r in case.runs] == ["eulerian"]
    assert wgf.certificate_unavailable(case.model) is None
