"""Case files: schema, validation messages, output times, builders (with stand-in solver modules)."""

import math
import re

import numpy as np
import pytest

import wgf_toy
from wgf.app import cases
from wgf.app.cases import CaseError, parse_case
from wgf_toy import toml_dumps, toy_case


def parse(doc, **kw):
    return parse_case(toml_dumps(doc), **kw)


def error_of(doc, **kw) -> str:
    with pytest.raises(CaseError) as info:
        case = parse(doc, **kw)
        case.check_buildable()
    msg = str(info.value)
    assert "\n" not in msg
    return msg


# ------------------------------------------------------------------------------------------- valid cases
def test_toy_case_parses():
    case = parse(toy_case(), name="toy")
    assert case.name == "toy" and case.title == "toy case"
    assert case.dim == 2 and case.alpha == 4.0 and case.beta == 1.0
    assert [r.name for r in case.runs] == ["toy"] and case.runs[0].kind == "toy"
    assert case.reference is None
    built = case.runs[0].build()
    nu = built.solver.measure
    assert nu.size == 8 and math.isclose(nu.total_mass, 1.0, rel_tol=1e-14)


def test_defaults_for_optional_sections():
    case = parse(toy_case(initial=None, flow=None, title=None), name="x")
    assert case.title == "x" and case.initial.mass == 1.0 and (case.alpha, case.beta) == (4.0, 1.0)


@pytest.mark.parametrize("spacing", ["log", "linear"])
def test_stops_contain_every_output_time(spacing):
    doc = toy_case(time={"final": 2.0, "snapshots": 4, "records": 9, "spacing": spacing,
                         "checkpoint_interval": 0.5})
    ts = parse(doc).time
    stops = ts.stops
    t = np.array([s[0] for s in stops])
    assert t[0] == 0.0 and t[-1] == 2.0 and np.all(np.diff(t) > 0)
    rec = {s[0] for s in stops if s[1]}
    snap = {s[0] for s in stops if s[2]}
    ck = {s[0] for s in stops if s[3]}
    assert set(ts.record_times.tolist()) <= rec and 0.0 in rec and 2.0 in rec
    assert set(ts.snapshot_times.tolist()) <= snap and 0.0 in snap and 2.0 in snap
    assert ck == {0.5, 1.0, 1.5}
    assert len(ts.snapshot_times) == 4 and len(ts.record_times) == 9
    if spacing == "log":
        assert math.isclose(ts.record_times[0], 2e-3) and np.allclose(np.diff(np.log(ts.record_times)),
                                                                      np.log(1000) / 8)
    else:
        assert np.allclose(ts.record_times, 2.0 * np.arange(1, 10) / 9)


def test_explicit_time_lists_and_merging():
    # 0.5 + 1e-15 is merged with 0.5 (no round-off sliver of a step); the snapshot flag survives
    doc = toy_case(time={"final": 1.0, "snapshots": [0.5, 1.0], "records": [0.25, 0.5 + 1e-15]})
    stops = parse(doc).time.stops
    assert [s[0] for s in stops] == [0.0, 0.25, 0.5 + 1e-15, 1.0]
    assert stops[2][1] and stops[2][2]


def test_array_of_tables_gives_named_runs():
    doc = toy_case(toy=[{"n": 4}, {"n": 5, "name": "fine"}])
    case = parse(doc)
    assert [r.name for r in case.runs] == ["toy_1", "fine"]
    assert case.runs[1].section == "toy[2]"


def test_data_file_relative_to_case_and_embedding(tmp_path):
    (tmp_path / "g.csv").write_text("# g vector\n0.5, -0.3, 0.2\n")
    doc = toy_case(model={"type": "toy_linear", "g": "g.csv", "c": 1.5})
    case = parse(doc, base_dir=tmp_path)
    assert np.array_equal(case.data["model.g"], [0.5, -0.3, 0.2]) and case.dim == 2
    # resume: the embedded copy is used and the file is not needed
    (tmp_path / "g.csv").unlink()
    case2 = parse(doc, embedded={"model.g": np.array([0.1, 0.2, 0.3, 0.4])})
    assert case2.dim == 3
    assert "no such file" in error_of(doc, base_dir=tmp_path)
    assert "not embedded" in error_of(doc)


def test_teacher_student_with_the_bundled_teacher(tmp_path):
    import wgf
    from pathlib import Path
    root = Path(wgf.__file__).resolve().parent.parent
    doc = toy_case(model={"type": "teacher_student", "teacher": "data/teacher_fig2.csv", "inputs": "gaussian"})
    case = parse(doc, base_dir=root)
    assert case.dim == 2 and case.data["model.teacher"].shape == (4, 3)
    assert case.model.teacher.shape == (4, 3)


# ------------------------------------------------------------------------------------------- messages
@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["time"].update(finl=1.0), r"\[time\] unknown key 'finl' \(did you mean 'final'\?\)"),
    (lambda d: d["time"].pop("final"), r"\[time\] missing key 'final'"),
    (lambda d: d["time"].update(final=-1.0), r"\[time\] final = -1.0: must be > 0"),
    (lambda d: d["time"].update(final=0), r"\[time\] final = 0: must be > 0"),
    (lambda d: d["time"].update(final=float("nan")), r"\[time\] final = nan: must be a finite number"),
    (lambda d: d["time"].update(final="ten"), r"\[time\] final = \"ten\": expected a number, got a string"),
    (lambda d: d["time"].update(records=0), r"\[time\] records = 0: must be an integer >= 1"),
    (lambda d: d["time"].update(snapshots=[0.5, 0.2]), r"strictly increasing"),
    (lambda d: d["time"].update(snapshots=[0.5, 2.0]), r"must be <= the final time 1"),
    (lambda d: d["time"].update(spacing="lineer"), r"spacing = \"lineer\": must be one of 'log', "
                                                     r"'linear' \(did you mean 'linear'\?\)"),
    (lambda d: d["time"].update(checkpoint_wall=0), r"checkpoint_wall = 0: must be > 0"),
    (lambda d: d["time"].update(first=2.0), r"first = 2.0: must be < the final time"),
    (lambda d: d["model"].update(type="toy_linearr"), r"\[model\] type = \"toy_linearr\": must be one of .*did "
                                                      r"you mean 'toy_linear'"),
    (lambda d: d["model"].pop("type"), r"\[model\] missing key 'type'"),
    (lambda d: d["model"].pop("g"), r"\[model\] missing key 'g' \(required by ToyLinear\)"),
    (lambda d: d["model"].update(g=[0.5, float("inf"), 0.2]), r"\[model\] g = .*NaN or inf"),
    (lambda d: d["model"].update(g=[[1.0, 2.0], [3.0]]), r"\[model\] g = .*rectangular"),
    (lambda d: d["model"].update(c=0.1), r"\[model\] c = 0.1: c must be finite and > \|g\|"),
    (lambda d: d["model"].update(c=True), r"\[model\] c = true: expected a number, got a boolean"),
    (lambda d: d["initial"].update(mass=-2), r"\[initial\] mass = -2: must be > 0"),
    (lambda d: d["initial"].update(type="gaussian"), r"\[initial\] type = \"gaussian\": must be one of 'uniform'"),
    (lambda d: d["flow"].update(alpha=0.0, beta=0.0), r"\[flow\] alpha = 0 and beta = 0"),
    (lambda d: d["flow"].update(gamma=1), r"\[flow\] unknown key 'gamma'"),
    (lambda d: d["toy"].update(dt=-0.1), r"\[toy\] dt = -0.1: dt must be a positive finite number"),
    (lambda d: d["toy"].update(dt="small"), r"\[toy\] dt = \"small\": expected a number, got a string"),
    (lambda d: d["toy"].update(alpha=3.0), r"\[toy\] key 'alpha' does not belong here: it is set by \[flow\]"),
    (lambda d: d["toy"].update(sed=1), r"\[toy\] unknown key 'sed' \(did you mean 'seed'\?\)"),
    (lambda d: d["toy"].update(n=0), r"\[toy\] n = 0: must be an integer >= 1"),
    (lambda d: d.update(tiem={"final": 1.0}), r"unknown top-level key or section 'tiem' \(did you mean 'time'\?\)"),
    (lambda d: d.pop("toy"), r"no solver sections"),
    (lambda d: d.update(compare={"reference": "tyo"}), r"\[compare\] reference = \"tyo\": no run has this name "
                                                       r"\(did you mean 'toy'\?\)"),
    (lambda d: d.update(title=3), r"^title = 3: expected a string"),
    (lambda d: d.update(time=5), r"\[time\] must be a table"),
])
def test_error_messages(mutate, expected):
    doc = toy_case()
    mutate(doc)
    msg = error_of(doc)
    assert re.search(expected, msg), msg


def test_invalid_toml_names_the_line():
    with pytest.raises(CaseError, match=r"not valid TOML: .*line 2"):
        parse_case("[time]\nfinal = = 1\n")


def test_csv_with_nan_and_bad_file(tmp_path):
    (tmp_path / "g.csv").write_text("0.5, nan, 0.2\n")
    (tmp_path / "h.csv").write_text("0.5, abc\n")
    doc = toy_case(model={"type": "toy_linear", "g": "g.csv"})
    assert "NaN or inf" in error_of(doc, base_dir=tmp_path)
    doc["model"]["g"] = "h.csv"
    assert "cannot read the file as a numeric array" in error_of(doc, base_dir=tmp_path)


def test_constructor_error_without_a_key_names_the_section():
    err = cases.constructor_error("eulerian", {"cfl": 2}, ValueError("the grid is too coarse\nmore"))
    assert str(err) == "[eulerian]: the grid is too coarse"
    err = cases.constructor_error("eulerian", {"cfl": 2, "dt": 1}, ValueError("dt must be < cfl bound"))
    assert str(err) == "[eulerian] dt = 1: dt must be < cfl bound"


def test_type_checks_from_annotations():
    def target(a: float, b: "int | None" = None, c: str = "x", d=True, e=None, f: "tuple[float, float]" = (1, 1)):
        pass
    kw = cases.solver_kwargs("s", {"a": 1, "b": 2, "c": "y", "d": False, "e": [1], "f": [2, 3]}, target)
    assert kw == {"a": 1, "b": 2, "c": "y", "d": False, "e": [1], "f": [2, 3]}
    for bad, msg in [({"a": "1"}, "expected a number"), ({"a": 1, "b": 1.5}, "expected an integer"),
                     ({"a": 1, "c": 3}, "expected a string"), ({"a": 1, "d": 1}, "expected a boolean"),
                     ({"a": float("inf")}, "must be a finite number"), ({}, "missing key 'a'")]:
        with pytest.raises(CaseError, match=msg):
            cases.solver_kwargs("s", bad, target)


# ------------------------------------------------------------------------------------------- builders
@pytest.fixture
def fakes(monkeypatch):
    wgf_toy.install_fake_solvers(monkeypatch)


def test_solver_modules_missing_is_a_case_error(monkeypatch):
    import sys
    for name in ("wgf.discretisations.eulerian", "wgf.discretisations.network", "wgf.discretisations.lagrangian"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    for section in ({"eulerian": {"level": 1}}, {"network": {"widths": [2], "step_size": 0.1}},
                    {"lagrangian": {"level": 1}}):
        msg = error_of(toy_case(toy=None, **section))
        assert "is not available in this installation of wgf" in msg


def test_eulerian_builder(fakes):
    case = parse(toy_case(toy=None, eulerian={"level": 1, "scheme": "muscl", "cfl": 0.3}))
    (run,) = case.runs
    assert run.name == "eulerian" and run.kind == "eulerian" and case.reference == "eulerian"
    assert run.params == {"level": 1, "lloyd": 0, "scheme": "muscl", "cfl": 0.3}
    built = run.build()
    assert built.solver.kind == "eulerian" and built.static["grid/volumes"].shape == (42,)
    assert math.isclose(built.solver.measure.total_mass, 1.0, rel_tol=1e-14)


@pytest.mark.parametrize("section, expected", [
    ({"level": 8}, r"\[eulerian\] level = 8: must be an integer <= 7"),
    ({"level": -1}, r"level = -1: must be an integer >= 0"),
    ({"n": 100}, r"\[eulerian\] n = 100: applies to grids on S\^1; on S\^2 give level"),
    ({}, r"missing key 'level'"),
    ({"level": 1, "scheme": "weno"}, r"\[eulerian\] scheme = \"weno\": scheme must be 'upwind' or 'muscl'"),
    ({"level": 1, "cfl": -0.5}, r"\[eulerian\] cfl = -0.5: cfl must be > 0"),
    ({"level": 1, "shceme": "upwind"}, r"unknown key 'shceme' \(did you mean 'scheme'\?\)"),
    ({"level": 1, "masses": [1]}, r"key 'masses' does not belong here"),
])
def test_eulerian_errors(fakes, section, expected):
    msg = error_of(toy_case(toy=None, eulerian=section))
    assert re.search(expected, msg), msg


def test_eulerian_on_circle_and_on_s3(fakes):
    case = parse(toy_case(toy=None, model={"type": "toy_linear", "g": [0.3, 0.4]}, eulerian={"n": 16}))
    assert case.runs[0].build().static["grid/points"].shape == (16, 2)
    msg = error_of(toy_case(toy=None, model={"type": "toy_linear", "g": [0.3, 0.4]}, eulerian={"level": 2}))
    assert "applies to grids on S^2; on S^1 give n" in msg
    msg = error_of(toy_case(toy=None, model={"type": "toy_linear", "g": [0.1, 0.1, 0.1, 0.1]},
                            eulerian={"level": 2}))
    assert "[eulerian] level = 2: applies to grids on S^2; on S^3 give cells" in msg
    msg = error_of(toy_case(toy=None, model={"type": "toy_linear", "g": [0.1, 0.1, 0.1, 0.1, 0.1]},
                            eulerian={"cells": 100}))
    assert "grids exist only on S^1, S^2 and S^3, but the model lives on S^4" in msg


S3_TOY = {"type": "toy_linear", "g": [0.1, -0.2, 0.3, 0.4]}


def test_eulerian_and_grid_quadrature_on_s3():
    """The S^3 grid: cells (a target count) and lloyd, the mesh's static arrays stored as on S^2, the mesh
    built once for the check and the run of one section."""
    import wgf
    case = parse(toy_case(toy=None, model=S3_TOY, eulerian={"cells": 100, "scheme": "muscl"},
                          lagrangian={"quadrature": "grid", "cells": 100, "lloyd": 1, "dt": 0.1}))
    eul, lag = case.runs
    assert eul.params == {"cells": 100, "lloyd": 0, "scheme": "muscl"}
    assert lag.params == {"quadrature": "grid", "cells": 100, "lloyd": 1, "dt": 0.1}
    ref = wgf.hopf_grid(100)
    first, second = eul.build(), eul.build()
    for built in (first, second):
        np.testing.assert_array_equal(built.static["grid/points"], ref.points)
        np.testing.assert_array_equal(built.static["grid/volumes"], ref.volumes)
        assert built.solver.measure.total_mass == pytest.approx(1.0, rel=1e-12)
    assert second.solver.grid is first.solver.grid          # the mesh of the check is reused by the run
    assert eul.build().solver.grid is not first.solver.grid  # ... once: a third build makes its own
    relaxed = wgf.hopf_grid(100, lloyd=1)
    built = lag.build()
    np.testing.assert_array_equal(built.static["grid/points"], relaxed.points)
    nu = built.solver.measure
    np.testing.assert_allclose(nu.masses, relaxed.volumes / relaxed.volumes.sum(), rtol=1e-12)
    assert nu.points is not built.static["grid/points"]      # the particles move, the stored grid does not


@pytest.mark.parametrize("section, expected", [
    ({}, r"\[eulerian\] missing key 'cells' \(target number of cells of the Voronoi grid on S\^3, 64\.\.10000000\)"),
    ({"cells": 63}, r"\[eulerian\] cells = 63: must be an integer >= 64"),
    ({"cells": 10**8}, r"\[eulerian\] cells = 100000000: must be an integer <= 10000000"),
    ({"cells": 2.5}, r"\[eulerian\] cells = 2\.5: expected an integer, got a float"),
    ({"cells": True}, r"\[eulerian\] cells = true: expected an integer"),
    ({"cells": 100, "lloyd": -1}, r"\[eulerian\] lloyd = -1: must be an integer >= 0"),
    ({"n": 100}, r"\[eulerian\] n = 100: applies to grids on S\^1; on S\^3 give cells"),
])
def test_s3_grid_errors(section, expected):
    msg = error_of(toy_case(toy=None, model=S3_TOY, eulerian=section))
    assert re.search(expected, msg), msg


def test_cells_belongs_to_s3_grids_only():
    circle = {"type": "toy_linear", "g": [0.3, 0.4]}
    assert "[eulerian] cells = 100: applies to grids on S^3; on S^1 give n" in error_of(
        toy_case(toy=None, model=circle, eulerian={"cells": 100}))
    assert "[eulerian] cells = 100: applies to grids on S^3; on S^2 give level" in error_of(
        toy_case(toy=None, eulerian={"cells": 100}))
    assert "[lagrangian] cells = 100: applies only to quadrature = \"grid\"" in error_of(
        toy_case(toy=None, model=S3_TOY, lagrangian={"quadrature": "random", "n": 5, "cells": 100}))


def test_lagrangian_builder(fakes):
    case = parse(toy_case(toy=None, lagrangian=[{"quadrature": "random", "n": 50, "seed": 3},
                                                 {"quadrature": "grid", "level": 1, "name": "lag_grid"}]))
    r1, r2 = case.runs
    assert (r1.name, r2.name) == ("lagrangian_1", "lag_grid")
    nu1 = r1.build().solver.measure
    assert nu1.size == 50 and np.allclose(nu1.masses, 1 / 50)
    assert np.array_equal(nu1.points, r1.build().solver.measure.points)  # seeded
    assert r2.build().solver.measure.size == 42
    assert "applies only to quadrature = \"grid\"" in error_of(
        toy_case(toy=None, lagrangian={"quadrature": "random", "n": 5, "level": 2}))
    assert "missing key 'n'" in error_of(toy_case(toy=None, lagrangian={"quadrature": "quasi_uniform"}))


def test_network_builder(fakes):
    case = parse(toy_case(toy=None, initial={"mass": 4.0},
                          network={"widths": [5, 20], "seeds": [0, 1], "step_size": 0.01, "method": "sgd"}))
    names = [r.name for r in case.runs]
    assert names == ["network_m0005_s0", "network_m0005_s1", "network_m0020_s0", "network_m0020_s1"]
    assert case.reference is None
    r = case.runs[2]
    assert r.params["m"] == 20 and r.params["seed"] == 0 and r.params["radius"] == 2.0
    s = r.build().solver
    # w_j = r0 eta_j: total mass (1/m) sum |w_j|^2 = r0^2 = the initial mass
    assert s.m == 20 and math.isclose(s.measure.total_mass, 4.0, rel_tol=1e-12)
    assert np.array_equal(s.measure.points, r.build().solver.measure.points)
    assert not np.array_equal(s.measure.points, case.runs[3].build().solver.measure.points)
    a, b = cases.network_seeds(0)
    assert a != b


@pytest.mark.parametrize("section, expected", [
    ({"step_size": 0.1}, r"missing key 'widths'"),
    ({"widths": [5]}, r"missing key 'step_size' \(required by NetworkTrainer\)"),
    ({"widths": [5, 5], "step_size": 0.1}, r"widths = \[5, 5\]: must not repeat a value"),
    ({"widths": [0], "step_size": 0.1}, r"widths = \[0\]: each must be an integer >= 1"),
    ({"widths": [], "step_size": 0.1}, r"must be a nonempty array"),
    ({"widths": [4], "seeds": [-1], "step_size": 0.1}, r"seeds = \[-1\]: each must be an integer >= 0"),
    ({"widths": [4], "step_size": 0.0}, r"\[network\] step_size = 0.0: step_size must be > 0"),
    ({"widths": [4], "step_size": 0.1, "seed": 3}, r"key 'seed' does not belong here: it is set by seeds"),
    ({"widths": [4], "step_size": 0.1, "init": "gaussian"}, r"\[network\] init = \"gaussian\": kind must be"),
])
def test_network_errors(fakes, section, expected):
    msg = error_of(toy_case(toy=None, network=section))
    assert re.search(expected, msg), msg


def test_duplicate_run_names_and_reference(fakes):
    msg = error_of(toy_case(toy=[{"n": 4, "name": "a"}, {"n": 5, "name": "a"}]))
    assert "two runs are both named 'a'" in msg
    case = parse(toy_case(eulerian={"level": 0}, lagrangian={"quadrature": "grid", "level": 0},
                          compare={"reference": "lagrangian"}))
    assert case.reference == "lagrangian"
    assert parse(toy_case(lagrangian={"quadrature": "grid", "level": 0})).reference == "lagrangian"


def test_plugins_loader(monkeypatch):
    monkeypatch.setenv(cases.PLUGINS_ENV, "wgf_toy, ")
    assert cases.load_plugins() == ["wgf_toy"]
    with pytest.raises(CaseError, match="cannot import the plugin module 'no_such_plugin_module'"):
        cases.load_plugins("no_such_plugin_module")


def test_empirical_data_file_is_split_into_X_and_y(tmp_path, monkeypatch):
    """``data = "file.csv"`` (columns x..., y) for the empirical model (a stand-in class with the planned
    signature) becomes X and y, and the file's content is embedded."""
    from wgf import models
    from wgf.models.base import Model

    class EmpiricalReLU(Model):
        def __init__(self, X, y, loss: str = "square", bias: bool = False, weight_decay: float = 0.0):
            if X.shape[0] != y.shape[0]:
                raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}")
            self.X, self.y, self.dim = X, y, X.shape[1] + bias

        def _potential(self, points, measure, backend):
            raise NotImplementedError

        def energy(self, measure):
            return 0.0
    monkeypatch.setattr(models, "EmpiricalReLU", EmpiricalReLU, raising=False)
    (tmp_path / "d.csv").write_text("x1,x2,y\n".replace("x1", "# x1") + "1,2,1\n3,4,-1\n5,6,1\n")
    case = parse(toy_case(model={"type": "empirical_relu", "data": "d.csv", "bias": True}), base_dir=tmp_path)
    assert case.dim == 3 and np.array_equal(case.model.y, [1, -1, 1]) and case.model.X.shape == (3, 2)
    assert case.data["model.data"].shape == (3, 3)
    msg = error_of(toy_case(model={"type": "empirical_relu", "data": "d.csv", "y": [1.0]}), base_dir=tmp_path)
    assert "give either data (columns x..., y) or X and y, not both" in msg
    msg = error_of(toy_case(model={"type": "empirical_relu", "X": [[1.0, 2.0], [3.0, 4.0]], "y": [1.0]}))
    assert msg == "[model] X = [[1.0, 2.0], [3.0, 4.0]]: X has 2 samples but y has 1"  # the first key named
    msg = error_of(toy_case(model={"type": "empirical_relu", "X": [[1.0, 2.0]], "y": [1.0], "bias": 1}))
    assert msg == "[model] bias = 1: expected a boolean, got an integer"


def test_the_documented_example_case_is_valid(fakes):
    """The example in wgf.app.cases' docstring parses and builds (with stand-in solver modules)."""
    import textwrap
    from pathlib import Path
    doc = cases.__doc__
    block = doc.split("see also ``solvers/*.toml``)::\n", 1)[1].split("\nSolver sections pass", 1)[0]
    text = textwrap.dedent(block)
    root = Path(cases.__file__).resolve().parents[2]
    case = parse_case(text, base_dir=root / "data")
    assert case.dim == 2 and case.reference == "eulerian"
    assert [r.name for r in case.runs] == ["eulerian", "lagrangian", "network_m0010_s0", "network_m0010_s1",
                                           "network_m0100_s0", "network_m0100_s1"]
    case.check_buildable()


# ------------------------------------------------------------------------------------------- whole steps
def _net(step, **kw):
    return {"widths": [3], "step_size": step, **kw}


def test_output_times_land_on_whole_network_steps():
    """Counted times are rounded to multiples k * q of the network step q (at least one step, merged where
    they coincide), and a real network advanced to each stop is exactly there: what is recorded as time t is
    the state after t / q steps."""
    from wgf.discretisations.network import NetworkTrainer
    q = 0.03
    case = parse(toy_case(toy=None, network=_net(q), time={"final": 0.9, "snapshots": 4, "records": 25,
                                                            "first": 0.001, "checkpoint_interval": 0.27}))
    ts = case.time
    assert ts.quantum == q and ts.final == 30 * q
    for arr in (ts.record_times, ts.snapshot_times, ts.checkpoint_times):
        k = np.rint(arr / q)
        assert np.array_equal(arr, k * q) and np.all(k >= 1) and np.all(np.diff(arr) > 0)
    assert ts.record_times[0] == q and len(ts.record_times) < 25  # log times below one step merged
    assert np.array_equal(ts.checkpoint_times, q * np.array([9.0, 18.0, 27.0]))
    solver = case.runs[0].build().solver
    assert isinstance(solver, NetworkTrainer)
    for t, *_ in ts.stops:
        solver.advance(t)
        assert solver.time == t and solver.steps == round(t / q)
    # without network runs nothing is rounded
    free = parse(toy_case(time={"final": 0.9, "snapshots": 4, "records": 25, "first": 0.001})).time
    assert free.quantum is None and free.record_times[0] == 0.001 and len(free.record_times) == 25


def test_sections_with_commensurate_steps_use_the_largest():
    case = parse(toy_case(toy=None, network=[_net(0.01), _net(0.03, widths=[4])],
                          time={"final": 0.6, "snapshots": 2, "records": 5}))
    assert case.time.quantum == 0.03
    small = next(r for r in case.runs if r.params["step_size"] == 0.01).build().solver
    for t, *_ in case.time.stops:  # the finer network reaches every stop in whole steps too
        small.advance(t)
        assert math.isclose(small.time, t, rel_tol=1e-12, abs_tol=1e-15) and small.steps == round(t / 0.01)


@pytest.mark.parametrize("time, network, expected", [
    ({"final": 1.0}, _net(0.03), r"\[time\] final = 1.0: the final time must be whole multiples of the network "
     r"step 0.03 \(\[network\] step_size\) .*nearest: 0.99"),
    ({"final": 0.9, "snapshots": [0.1, 0.9]}, _net(0.03), r"\[time\] snapshots = \[0.1, 0.9\]: times must be whole "
     r"multiples of the network step 0.03 .*0.1 is not \(nearest: 0.09"),
    ({"final": 0.9, "records": [0.01]}, _net(0.03), r"records = \[0.01\]: .*0.01 is not \(nearest: 0.03"),
    ({"final": 0.9, "checkpoint_interval": 0.1}, _net(0.03), r"checkpoint_interval = 0.1: it must be whole "
     r"multiples of the network step 0.03"),
    ({"final": 0.6}, [_net(0.02), _net(0.03, widths=[4])], r"\[network\[1\]\] step_size = 0.02: the network step "
     r"sizes of a case must divide one another.*\[network\[2\]\] step_size = 0.03 is not a whole multiple"),
])
def test_times_off_the_network_steps_are_errors(time, network, expected):
    msg = error_of(toy_case(toy=None, network=network, time=time))
    assert re.search(expected, msg), msg
