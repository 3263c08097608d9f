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
from wgf.app import plane_plots

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
             .replace("cells = 30000", "cells = 300")
             .replace("widths = [10, 100, 1000]", "widths = [5, 40]")
             .replace("seeds = [0, 1, 2]", "seeds = [1]")
             .replace(f"final = {final}", "final = 2.0")
             .replace(f"snapshots = {raw['time']['snapshots']}".replace("'", ""), "snapshots = [1.0, 2.0]")
             .replace("records = 60", "records = 8"))
    changed = tomllib.loads(small)
    assert changed["lagrangian"]["n"] == 256 and changed["network"]["widths"] == [5, 40]
    assert changed["eulerian"]["cells"] == 300
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
        assert runs == ["eulerian", "lagrangian", "network_m0005_s1", "network_m0040_s1"]
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
                assert pts.shape[0] == (256 if run == "lagrangian" else wgf.hopf_grid(300).points.shape[0])
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
    seg, sign, w = plane_plots.neuron_lines(P, np.array([1.0, 2.0, 3.0]), window)
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
    seg, sign, w = plane_plots.neuron_lines(Q, rng.random(50), window, top=7)
    assert len(w) == 7 and np.all(np.diff(w) <= 0)
    with pytest.raises(ValueError, match=r"points \(N, 4\)"):
        plane_plots.neuron_lines(Q[:, :3], np.ones(50), window)


def test_s3_figures_on_synthetic_measures(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (30, 2))
    y = np.where(np.linalg.norm(X, axis=1) < 0.6, 1.0, -1.0)
    panels = []
    for m in (10, 200):
        nu = Measure.from_weights(rng.standard_normal((m, 4)))
        panels.append((f"m = {m}", nu.points, nu.masses))
    png(plane_plots.neuron_points_figure(panels, tmp_path / "n.png", title="S^3"))
    png(plane_plots.neuron_lines_figure(panels, tmp_path / "l.png", X, y, classification=True))
    png(plane_plots.neuron_lines_figure(panels, tmp_path / "l2.png", X, X[:, 0], classification=False))
    (x0, x1), (y0, y1) = plane_plots.input_window(X)
    assert x1 - x0 == pytest.approx(y1 - y0) and x0 < X[:, 0].min() and X[:, 1].max() < y1
    gx, gy = np.linspace(x0, x1, 40), np.linspace(y0, y1, 30)
    H = 0.5 - np.hypot(*np.meshgrid(gx, gy))
    png(plane_plots.predictor_panels_figure([("a", H), ("b", -H)], (gx, gy), tmp_path / "p.png", X, y))
    png(plane_plots.predictor_panels_figure([("a", H)], (gx, gy), tmp_path / "p2.png", X, X[:, 0], classification=False))
    with pytest.raises(ValueError, match="shape"):
        plane_plots.predictor_panels_figure([("a", H.T)], (gx, gy), tmp_path / "p3.png", X, y)


def _segment_in_box(f, d, box):
    """Length of the line f + t d (d a unit vector) inside the box ((x0, x1), (y0, y1)), by the
    intersection of the two slabs, one axis at a time (an independent per-box computation)."""
    lo, hi = -np.inf, np.inf
    for k, (a, b) in enumerate(box):
        if d[k] == 0.0:
            if not a <= f[k] <= b:
                return 0.0
            continue
        t0, t1 = sorted(((a - f[k]) / d[k], (b - f[k]) / d[k]))
        lo, hi = max(lo, t0), min(hi, t1)
    return max(0.0, hi - lo)


def test_line_density_is_the_length_of_line_in_each_pixel():
    window = ((-1.0, 1.0), (-0.5, 1.5))
    # a horizontal line x2 = 0.3 (a > 0, weight m |a| |b|), a vertical line x1 = -0.2 (a < 0), a diagonal,
    # a line missing the window and a bias-only neuron
    P = np.array([[0.6, 0.0, 1.0, -0.3], [-0.5, 1.0, 0.0, 0.2], [0.3, 1.0, -1.0, 0.1],
                  [0.4, 1.0, 1.0, -9.0], [0.7, 0.0, 0.0, 1.0]])
    m = np.array([2.0, 1.5, 0.5, 3.0, 4.0])
    w = m * np.abs(P[:, 0]) * np.linalg.norm(P[:, 1:], axis=1)
    xe, ye, pos, neg = plane_plots.neuron_line_density(P, m, window, pixels=8, block=2)
    assert xe.shape == (9,) and ye.shape == (9,) and pos.shape == neg.shape == (8, 8)
    area = (xe[1] - xe[0]) * (ye[1] - ye[0])
    # totals: weight times the chord in the window (2 for the horizontal and vertical lines; the diagonal
    # x2 = x1 + 0.1 runs from (-0.6, -0.5) to (1, 1.1))
    assert pos.sum() * area == pytest.approx(w[0] * 2.0 + w[2] * 1.6 * np.sqrt(2.0), rel=1e-12)
    assert neg.sum() * area == pytest.approx(w[1] * 2.0, rel=1e-12)
    assert np.count_nonzero(neg) == 8 and np.all(neg[:, 3] > 0)   # one column (x1 in [-0.25, 0])
    # every pixel against the per-pixel clipping of every line
    rng = np.random.default_rng(5)
    Q = rng.standard_normal((40, 4))
    Q[:3, 1] = 0.0                                                 # horizontal lines
    Q[3:5, 2] = 0.0                                                # vertical lines
    mq = rng.random(40)
    xe, ye, pos, neg = plane_plots.neuron_line_density(Q, mq, window, pixels=6, block=7)
    b = Q[:, 1:3]
    nb = np.linalg.norm(b, axis=1)
    foot = -(Q[:, 3] / nb**2)[:, None] * b
    d = np.column_stack([-b[:, 1], b[:, 0]]) / nb[:, None]
    wq = mq * np.abs(Q[:, 0]) * np.linalg.norm(Q[:, 1:], axis=1)
    ref = np.zeros((2,) + pos.shape)
    for i in range(40):
        for iy in range(pos.shape[0]):
            for ix in range(pos.shape[1]):
                box = ((xe[ix], xe[ix + 1]), (ye[iy], ye[iy + 1]))
                ref[0 if Q[i, 0] > 0 else 1, iy, ix] += wq[i] * _segment_in_box(foot[i], d[i], box)
    area = (xe[1] - xe[0]) * (ye[1] - ye[0])
    np.testing.assert_allclose(pos * area, ref[0], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(neg * area, ref[1], rtol=1e-10, atol=1e-13)
    with pytest.raises(ValueError, match=r"points \(N, 4\)"):
        plane_plots.neuron_line_density(Q[:, :3], mq, window)


def test_report_draws_an_s3_grid_run(tmp_path):
    """The small classification_s3 (its grid cut to 300 cells) through the command line: the grid run read
    back with h5py (the mesh's static arrays against a fresh mesh, the last snapshot's masses against the
    recorded mass) and the report drawing it in the S^3 pictures and its line density."""
    case = small_case("classification_s3", tmp_path)
    out = tmp_path / "grid.h5"
    rc, _, err = run_main(["run", str(case), "-o", str(out), "-q"])
    assert rc == 0, err
    ref = wgf.hopf_grid(300)
    with h5py.File(out, "r") as f:
        g = f["eulerian"]
        assert g.attrs["solver"] == "eulerian" and bool(g.attrs["completed"])
        np.testing.assert_array_equal(g["grid/points"][()], ref.points)
        np.testing.assert_array_equal(g["grid/volumes"][()], ref.volumes)
        last = g["snapshots"][sorted(g["snapshots"])[-1]]
        assert last["masses"].shape == (ref.points.shape[0],) and np.all(last["masses"][()] >= 0)
        assert last["masses"][()].sum() == pytest.approx(g["mass"][-1], rel=1e-10)
    rc, text, err = run_main(["report", str(out)])
    assert rc == 0, err
    assert "eulerian" in text and "grid_line_density_eulerian.png" in text + err
    img = png(tmp_path / "grid_line_density_eulerian.png")
    # two rows of three snapshot panels: the picture is wider than tall
    assert img.shape[1] > img.shape[0]
    for suffix in ("neurons", "lines", "predictor_map"):
        png(tmp_path / f"grid_{suffix}.png")


def test_heaviest_share_is_the_fewest_heaviest_atoms():
    from wgf.app.report import heaviest_share
    m = np.array([1.0, 10.0, 4.0, 1.0, 4.0])                               # sums exact in floating point
    assert sorted(heaviest_share(m, 0.9).tolist()) == [1, 2, 4]          # 18 of 20 exactly: three atoms
    assert sorted(heaviest_share(m, 0.91).tolist()) == [0, 1, 2, 4]      # one more (the first of the ties)
    assert heaviest_share(m, 0.5).tolist() == [1]
    rng = np.random.default_rng(1)
    w = rng.random(200) ** 6
    keep = heaviest_share(w, 0.99)
    rest = np.setdiff1d(np.arange(200), keep)
    assert w[keep].sum() >= 0.99 * w.sum() > w[keep].sum() - w[keep].min()   # enough, and fewest
    assert w[keep].min() >= w[rest].max()
    assert heaviest_share(np.zeros(3), 0.99).size == 0
