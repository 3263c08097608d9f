"""The bundled case classification_longtime, reduced (T = 10^3, level-1 grids, one small network), run
through the command line and read back with plain h5py."""

import json

import h5py
import numpy as np
import pytest

from helpers import run_main
from wgf.analysis.margins import f1_max_margin, normalised_margin
from wgf.app.cases import bundled_cases_dir, parse_case
from wgf.geometry.measure import Measure

REDUCTIONS = [
    ("final = 1e6", "final = 1e3"),
    ("records = 120", "records = 12"),
    ("level = 3", "level = 1"),
    ("level = 4", "level = 2"),
    ("widths = [100, 1000]", "widths = [20]"),
    ("seeds = [0, 1, 2]", "seeds = [0]"),
]


def reduced_case(tmp_path):
    text = (bundled_cases_dir() / "classification_longtime.toml").read_text()
    for old, new in REDUCTIONS:
        assert old in text, old  # a change of the bundled case must not silently run this test at full size
        text = text.replace(old, new)
    # the snapshots up to the reduced final time
    head, _, rest = text.partition("snapshots = [")
    _, _, tail = rest.partition("]")
    text = head + "snapshots = [1.0, 10.0, 100.0, 1000.0]" + tail
    text = text.replace('data = "../data/', f'data = "{(bundled_cases_dir().parent / "data").as_posix()}/')
    path = tmp_path / "classification_longtime.toml"
    path.write_text(text)
    return path, text


def test_normalised_network_steps_do_not_force_output_times_onto_a_step_lattice():
    # the bundled case's snapshot 1.58489 is no multiple of step_size = 0.25: with normalised steps (no fixed
    # lattice of times) that is accepted, and the times are kept as given
    case_file = bundled_cases_dir() / "classification_longtime.toml"
    case = parse_case(case_file.read_text(), name="classification_longtime", base_dir=case_file.parent)
    assert case.time.quantum is None
    assert np.any(np.isclose(case.time.snapshot_times, 1.58489, rtol=0, atol=1e-12))
    assert case.time.final == 1e6


@pytest.mark.slow
def test_reduced_longtime_classification_runs_from_the_command_line_and_reads_back(tmp_path):
    path, text = reduced_case(tmp_path)
    out = tmp_path / "o.h5"
    rc, _, err = run_main(["run", str(path), "-o", str(out), "-q"])
    assert rc == 0, err
    case = parse_case(text, name="classification_longtime", base_dir=path.parent)
    model = case.model
    lo, up = f1_max_margin(model.features, model.y, 1024).bracket
    with h5py.File(out, "r") as f:
        runs = json.loads(f.attrs["runs"])
        assert sorted(runs) == ["eulerian", "eulerian_l4", "eulerian_muscl", "eulerian_ssprk2", "network_m0020_s0",
                                "particles"]
        for name in runs:
            g = f[name]
            assert bool(g.attrs["completed"])
            t, energy = g["time"][()], g["energy"][()]
            # F decreases along every run; a normalised-step network whose next step would pass an output
            # time stays where it is (its first step, 0.36, is longer than the first records' spacing)
            network = g.attrs["solver"] == "network"
            assert np.all(np.diff(t) >= 0) if network else np.all(np.diff(t) > 0)
            assert np.all(np.diff(energy) <= 1e-12)
            snaps = [g["snapshots"][k] for k in sorted(g["snapshots"])]
            assert snaps[0].attrs["time"] == 0.0  # the initial measure, then the case's snapshot times
            snaps = snaps[1:]
            ts = np.array([s.attrs["time"] for s in snaps])
            if network:
                # normalised steps stop at the last whole step before each output time
                assert np.all(ts <= np.array([1.0, 10.0, 100.0, 1000.0]) * (1 + 1e-12))
                assert ts[-1] > 500.0
            else:
                np.testing.assert_allclose(ts, [1.0, 10.0, 100.0, 1000.0], rtol=1e-12)
            mass = [float(np.sum(s["masses"][()])) for s in snaps]
            assert np.all(np.diff(mass) > 0)  # no minimiser: the mass grows
            nu = Measure(snaps[-1]["points"][()], snaps[-1]["masses"][()])
            margin = normalised_margin(nu, model.features, model.y)["by_ab"]
            # separated by t = 10^3, and never above the F1 max margin (|h| <= int |a||b| . max margin)
            assert 0.0 < margin <= up * (1 + 1e-9), (name, margin, lo, up)
