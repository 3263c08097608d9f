"""``wgf sweep``: the sweep schema and its validation, a tiny sweep on a LocalCluster (threads of this
process) merged into one HDF5 file read with h5py, a failing run that is reported and not fatal, restarts,
and the TOML writer."""

import json
import tomllib

import h5py
import numpy as np
import pytest

from helpers import run_main
from wgf.app import cases
from wgf.app.controller import Controller
from wgf.app.sweep import SweepError, load_sweep, parse_sweep, run_sweep

BASE = """
title = "tiny teacher-student"
[model]
type = "teacher_student"
teacher = "teacher.csv"
[time]
final = 0.4
records = 4
snapshots = 2
[network]
widths = [6]
seeds = [0]
step_size = 0.05
method = "sgd"
batch_size = 16
"""


@pytest.fixture
def folder(tmp_path):
    np.savetxt(tmp_path / "teacher.csv", [[1.0, 0.6, 0.8], [-1.0, 0.0, 1.0]], delimiter=",")
    (tmp_path / "base.toml").write_text(BASE)
    return tmp_path


def _sweep(folder, body, name="sw"):
    (folder / f"{name}.toml").write_text(body)
    return load_sweep(folder / f"{name}.toml")



@pytest.mark.filterwarnings("ignore:overflow encountered")  # the blowing-up run
def test_tiny_sweep_merged_file_and_a_failed_run(folder):
    """2 widths x 2 step sizes (zip mode; the large step blows up): 2 runs complete, 2 fail without stopping
    the sweep;
    the merged file holds every run's groups and a table; a completed run's energies equal those of the same
    case run directly (same seeds, same bits)."""
    sw = _sweep(folder, 'case = "base.toml"\nmode = "zip"\n[parameters]\n"network.widths" = [4, 4, 7, 7]\n'
                        '"network.step_size" = [0.05, 400.0, 0.05, 400.0]\n"time.final" = [0.5, 2000.0, 0.5, 2000.0]\n')
    assert [r.name for r in sw.runs] == ["run_0000", "run_0001", "run_0002", "run_0003"]
    assert sw.runs[1].values == {"network.widths": 4, "network.step_size": 400.0, "time.final": 2000.0}
    assert sw.mode == "zip"
    out = folder / "merged.h5"
    res = run_sweep(sw, out, workers=2, processes=False, quiet=True)
    assert res.exit_code == 1
    status = [r["status"] for r in res.records]
    assert status == ["completed", "failed", "completed", "failed"], res.records
    with h5py.File(out, "r") as f:
        assert f.attrs["format"] == "wgf-sweep" and f.attrs["status"] == "failed"
        assert f.attrs["n_completed"] == 2 and f.attrs["n_failed"] == 2
        assert json.loads(f.attrs["parameters"]) == ["network.widths", "network.step_size", "time.final"]
        assert list(f["table/network.widths"][()]) == [4, 4, 7, 7]
        assert [s.decode() for s in f["table/status"][()]] == status
        g = f["runs/run_0002"]
        assert json.loads(g.attrs["values"])["network.widths"] == 7 and g.attrs["sweep_status"] == "completed"
        assert tomllib.loads(g.attrs["config"])["network"]["widths"] == 7
        energy = g["network_m0007_s0/energy"][()]
        assert "blow-up" in f["runs/run_0001"].attrs["error"]
    # the same case run directly
    case = cases.parse_case(sw.runs[2].case_text, name="base", base_dir=folder)
    Controller.new(case, folder / "direct.h5", quiet=True).run()
    with h5py.File(folder / "direct.h5", "r") as f:
        assert np.array_equal(f["network_m0007_s0/energy"][()], energy)
        assert energy[-1] < energy[0]


def test_restart_keeps_finished_runs_and_cli(folder):
    sw = _sweep(folder, 'case = "base.toml"\nmode = "zip"\n[parameters]\n"network.seeds" = [1, 2]\n'
                        '"network.widths" = [[3], [5]]\n')
    out = folder / "z.h5"
    rc, _, err = run_main(["sweep", str(folder / "sw.toml"), "-o", str(out), "--no-processes", "--workers", "1"])
    assert rc == 0, err
    assert "run_0001 (network.seeds=2, network.widths=[5]): completed" in err
    rc, _, err = run_main(["sweep", str(folder / "sw.toml"), "-o", str(out), "--no-processes", "--workers", "1"])
    assert rc == 2 and "already exists" in err and len(err.strip().splitlines()) == 1
    # interrupted sweep: the merged file and one run's file are missing; the other run is kept
    out.unlink()
    (folder / "z.h5.runs" / "run_0000.h5").unlink()
    res = run_sweep(sw, out, workers=1, processes=False, quiet=True)
    assert [r["message"] == "kept from an earlier sweep" for r in res.records] == [False, True]
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "completed"
        assert list(f["table/network.widths"].asstr()[()]) == ["[3]", "[5]"]
        assert "network_m0005_s2" in f["runs/run_0001"]


@pytest.mark.parametrize("body,match", [
    ('[parameters]\n"network.widths" = [1]\n', "missing key 'case'"),
    ('case = "nope.toml"\n[parameters]\n"network.widths" = [1]\n', "no such case file"),
    ('case = "base.toml"\n', "empty \\[parameters\\]"),
    ('case = "base.toml"\n[parameters]\n"network.widths" = []\n', "nonempty array"),
    ('case = "base.toml"\n[parameters]\nwidths = [1]\n', "dotted case key"),
    ('case = "base.toml"\n[parameters]\n"eulerian.level" = [1]\n', "no \\[eulerian\\] section"),
    ('case = "base.toml"\n[parameters]\n"network.widths" = [4, 0]\n',
     "network.widths = 0 is not a valid case: \\[network\\] widths"),
    ('case = "base.toml"\nmode = "zip"\n[parameters]\n"network.widths" = [4, 5]\n"network.seeds" = [1]\n',
     "equal length"),
    ('case = "base.toml"\nmode = "all"\n[parameters]\n"network.widths" = [4]\n', "mode"),
    ('case = "base.toml"\nworkers = 3\n[parameters]\n"network.widths" = [4]\n', "unknown key 'workers'"),
])
def test_sweep_validation(folder, body, match):
    with pytest.raises(SweepError, match=match):
        _sweep(folder, body)
    rc, _, err = run_main(["sweep", str(folder / "sw.toml"), "-o", str(folder / "x.h5")])
    assert rc == 2 and len(err.strip().splitlines()) == 1 and not (folder / "x.h5").exists()


def test_array_of_tables_parameter(folder):
    (folder / "two.toml").write_text(BASE.replace("[network]", "[[network]]\nname = \"a\"") +
                                     '\n[[network]]\nname = "b"\nwidths = [2]\nstep_size = 0.1\n')
    sw = parse_sweep('case = "two.toml"\n[parameters]\n"network.2.widths" = [3, 4]\n', base_dir=folder)
    assert [tomllib.loads(r.case_text)["network"][1]["widths"] for r in sw.runs] == [3, 4]
    with pytest.raises(SweepError, match="array of tables; name one by its position"):
        parse_sweep('case = "two.toml"\n[parameters]\n"network.widths" = [3]\n', base_dir=folder)
