"""The S^3 cases (two-dimensional inputs with a bias): the bundled classification_s3 and regression_s3 run
through the command line at a small size and are read back with plain h5py (the recorded F against the
loss recomputed in NumPy from the stored neurons), and the report draws the S^3 pictures; the pictures'
geometry against closed forms."""

import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest
from matplotlib.image import imread

from helpers import run_main
import wgf
from wgf import Measure
from wgf.app import plots

ROOT = Path(wgf.__file__).resolve().parent.parent
SOLVERS = ROOT / "solvers"


def png(path):
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    assert img[..., :3].std() > 0.01  # not a blank canvas
    return img


def small_case(name: str, tmp_path: Path) -> Path:
    """The bundled case with its sizes cut down (particles, widths, seeds, final time) and its data path
    made absolute; everything else (model, loss, bias, steps) as shipped."""
    text = (SOLVERS / f"{name}.toml").read_text("utf-8")
    raw = tomllib.loads(text)
    data = (SOLVERS / raw["model"]["data"]).resolve()
    final = raw["time"]["final"]
    small = (text.replace(f'data = "{raw["model"]["data"]}"', f'data = "{data.as_posix()}"')
             .replace("n = 4096", "n = 256")
             .replace("widths = [10, 100, 1000]", "widths = [5, 40]")
             .replace("seeds = [0, 1, 2]", "seeds = [1]")
             .replace(f"final = {final}", "final = 2.0")
             .replace(f"snapshots = {raw['time']['snapshots']}".replace("'", ""), "snapshots = [1.0, 2.0]")
             .replace("records = 60", "records = 8"))
    changed = tomllib.loads(small)
    assert changed["lagrangian"]["n"] == 256 and changed["network"]["widths"] == [5, 40]
    assert changed["time"]["final"] == 2.0 and changed["time"]["snapshots"] == [1.0, 2.0]
    path = tmp_path / f"{name}.toml"
    path.write_text(small, "utf-8")
    return path


def numpy_risk(w: np.ndarray, X: np.ndarray, y: np.ndarray, loss: str) -> float:
    """Risk of the network h(x) = (1/m) sum_j a_j relu(b_j . [x; 1]) with neurons w (m, 4), in NumPy."""
    h = np.maximum(np.column_stack([X, np.ones(len(X))]) @ w[:, 1:].T, 0.0) @ w[:, 0] / w.shape[0]
    if loss == "logistic":
        return float(np.mean(np.logaddexp(0.0, -y * h)))
    return float(np.mean(0.5 * (h - y) ** 2))


@pytest.mark.parametrize("name,loss", [("classification_s3", "logistic"), ("regression_s3", "square")])
def test_s3_case_runs_through_the_command_line_and_reads_back(name, loss, tmp_path):
    case = small_case(name, tmp_path)
    out = tmp_path / f"{name}.h5"
    rc, _, err = run_main(["run", str(case), "-o", str(out), "-q"])
    assert rc == 0, err
    data = np.loadtxt(SOLVERS / tomllib.loads((SOLVERS / f"{name}.toml").read_text())["model"]["data"],
                      delimiter=",")
    X, y = data[:, :2], data[:, 2]
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "completed"
        runs = sorted(k for k in f if k != "data")
        assert runs == ["lagrangian", "network_m0005_s1", "network_m0040_s1"]
        for run in runs:
            g = f[run]
            assert bool(g.attrs["completed"]) and g["time"][-1] == pytest.approx(2.0)
            F = g["energy"][()]
            assert np.all(np.isfinite(F)) and F[-1] < F[0]
            snaps = g["snapshots"]
            last = snaps[sorted(snaps)[-1]]
            pts = last["points"][()]
            assert pts.shape[1] == 4                           # (a, b1, b2, b0): nu on S^3
            np.testing.assert_allclose(np.linalg.norm(pts, axis=1), 1.0, atol=1e-12)
            if g.attrs["solver"] == "network":
                w = last["weights"][()]
                m = int(run.split("_m")[1].split("_")[0])
                assert w.shape == (m, 4)
                # F at the last record is the risk of the stored neurons, recomputed here in NumPy
                assert F[-1] == pytest.approx(numpy_risk(w, X, y, loss), rel=1e-10)
            else:
                assert pts.shape[0] == 256
                # F of the stored particles: h = sum_k m_k a_k relu(b_k . [x; 1])
                mk = last["masses"][()]
                h = np.maximum(np.column_stack([X, np.ones(len(X))]) @ pts[:, 1:].T, 0.0) @ (mk * pts[:, 0])
                ref = np.mean(np.logaddexp(0.0, -y * h)) if loss == "logistic" else np.mean(0.5 * (h - y) ** 2)
                assert F[-1] == pytest.approx(ref, rel=1e-10)
    rc, text, err = run_main(["report", str(out)])
    assert rc == 0, err
    assert "no particle plots" not in text
    for suffix in ("neurons", "lines", "predictor_map", "energy", "distance"):
        png(tmp_path / f"{name}_{suffix}.png")


def test_neuron_lines_are_the_kinks_of_the_neurons():
    # three neurons: a line through the window, one outside it, and a bias-only neuron (no line)
    P = np.array([[0.5, 1.0, -1.0, 0.2], [-0.5, 1.0, 0.0, -5.0], [0.6, 0.0, 0.0, 0.8]])
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    window = ((-1.0, 1.0), (-1.0, 1.0))
    seg, sign, w = plots.neuron_lines(P, np.array([1.0, 2.0, 3.0]), window)
    assert seg.shape == (1, 2, 2) and sign.tolist() == [1.0]
    assert w[0] == pytest.approx(abs(P[0, 0]) * np.linalg.norm(P[0, 1:]))
    for x in seg[0]:                                       # both ends on b . [x; 1] = 0
        assert P[0, 1:3] @ x + P[0, 3] == pytest.approx(0.0, abs=1e-12)
    assert np.linalg.norm(seg[0, 1] - seg[0, 0]) > 2 * np.sqrt(2)   # spans the window
    # heaviest first, at most `top`
    rng = np.random.default_rng(0)
    Q = rng.standard_normal((50, 4))
    Q[:, 3] *= 0.1
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    seg, sign, w = plots.neuron_lines(Q, rng.random(50), window, top=7)
    assert len(w) == 7 and np.all(np.diff(w) <= 0)
    with pytest.raises(ValueError, match=r"points \(N, 4\)"):
        plots.neuron_lines(Q[:, :3], np.ones(50), window)


def test_s3_figures_on_synthetic_measures(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (30, 2))
    y = np.where(np.linalg.norm(X, axis=1) < 0.6, 1.0, -1.0)
    panels = []
    for m in (10, 200):
        nu = Measure.from_weights(rng.standard_normal((m, 4)))
        panels.append((f"m = {m}", nu.points, nu.masses))
    png(plots.neuron_points_figure(panels, tmp_path / "n.png", title="S^3"))
    png(plots.neuron_lines_figure(panels, tmp_path / "l.png", X, y, classification=True))
    png(plots.neuron_lines_figure(panels, tmp_path / "l2.png", X, X[:, 0], classification=False))
    (x0, x1), (y0, y1) = plots.input_window(X)
    assert x1 - x0 == pytest.approx(y1 - y0) and x0 < X[:, 0].min() and X[:, 1].max() < y1
    gx, gy = np.linspace(x0, x1, 40), np.linspace(y0, y1, 30)
    H = 0.5 - np.hypot(*np.meshgrid(gx, gy))
    png(plots.predictor_panels_figure([("a", H), ("b", -H)], (gx, gy), tmp_path / "p.png", X, y))
    png(plots.predictor_panels_figure([("a", H)], (gx, gy), tmp_path / "p2.png", X, X[:, 0], classification=False))
    with pytest.raises(ValueError, match="shape"):
        plots.predictor_panels_figure([("a", H.T)], (gx, gy), tmp_path / "p3.png", X, y)
