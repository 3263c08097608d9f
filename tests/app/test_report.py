"""Figures on synthetic measures, and the report's numbers against the file they come from."""

import math

import h5py
import numpy as np
import pytest
from matplotlib.image import imread

from wgf import Measure
from wgf.app import plots
from wgf.geometry import sphere
from wgf.app.cases import parse_case
from wgf.app.controller import Controller
from wgf.app.report import report
from wgf_toy import toml_dumps, toy_case


def png(path):
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    assert img[..., :3].std() > 0.01  # not a blank canvas
    return img


def test_particle_positions_are_the_neurons_abs_a_times_b():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((30, 3))
    nu = Measure.from_weights(w)  # masses |w|^2 / m
    pos = plots.particle_positions(nu.points, nu.masses, scale=30)
    p = np.abs(w[:, :1]) * w[:, 1:]
    r = np.linalg.norm(p, axis=1, keepdims=True)
    np.testing.assert_allclose(pos, np.tanh(r) * p / r, rtol=1e-12)
    assert np.all(np.linalg.norm(pos, axis=1) < 1)
    zero = plots.particle_positions(np.array([[1.0, 0.0, 0.0]]), np.array([1.0]))
    assert np.array_equal(zero, [[0.0, 0.0]])  # a = 1, b = 0: the origin, not NaN


def test_figures_on_synthetic_measures(tmp_path):
    rng = np.random.default_rng(1)
    teacher = np.array([[1.0, 0.6, 0.8], [-1.0, -1.0, 0.0]])
    sets = []
    for seed in range(3):
        w = rng.standard_normal((50, 3))
        nu = Measure.from_weights(w)
        sets.append((f"seed {seed}", nu.points, nu.masses))
    png(plots.particle_figure(sets, tmp_path / "p.png", teacher=teacher, title="m = 50"))
    png(plots.particle_figure(sets[:1], tmp_path / "p4.png"))
    one = Measure.from_weights(rng.standard_normal((20, 2)))  # dx = 1: on a line
    png(plots.particle_figure([("s1", one.points, one.masses)], tmp_path / "p1.png", teacher=teacher[:, :2]))
    pts = sphere.fibonacci_sphere(500)
    rho = np.exp(5 * pts[:, 0])
    png(plots.density_figure(pts, [("t = 1", rho)], tmp_path / "d2.png", title="S^2"))
    c = sphere.circle_points(64)
    png(plots.density_figure(c, [("t = 0", np.ones(64)), ("t = 1", np.exp(np.cos(3 * np.arange(64))))],
                             tmp_path / "d1.png"))
    with pytest.raises(ValueError, match="S\\^1 and S\\^2 only"):
        plots.density_figure(sphere.sample_uniform(5, 3, 0), [("x", np.ones(5))], tmp_path / "d3.png")
    t = np.concatenate([[0.0], np.geomspace(1e-3, 10, 40)])
    png(plots.energy_figure([("eulerian", t, 1 / (1 + t)), ("network_m0010_s0", t, 1.1 / (1 + t)),
                             ("network_m0010_s1", t, 1.2 / (1 + t)), ("zero", t, 0 * t)], tmp_path / "e.png"))
    png(plots.distance_figure([10, 10, 100, 100, 1000], [0.3, 0.32, 0.1, 0.09, 0.03], tmp_path / "m.png"))


def test_report_numbers_come_from_the_file(tmp_path):
    doc = toy_case(toy=[{"n": 5, "name": "a", "noise": 0.0}, {"n": 9, "name": "b", "seed": 4}],
                   compare={"reference": "a"})
    case = parse_case(toml_dumps(doc), name="r")
    Controller.new(case, tmp_path / "r.h5", quiet=True).run()
    text, figures = report(tmp_path / "r.h5")
    assert [f.name for f in figures] == ["r_energy.png"]
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("---")) + 1
    rows = {line.split()[0]: line.split() for line in lines[start:] if line.strip()}
    with h5py.File(tmp_path / "r.h5", "r") as f:
        for name in ("a", "b"):
            g = f[name]
            row = rows[name]
            assert row[3] == "completed" and float(row[4]) == g["time"][-1] and int(row[5]) == g["step"][-1]
            assert math.isclose(float(row[6]), g["energy"][0], rel_tol=1e-4)
            assert math.isclose(float(row[7]), g["energy"][-1], rel_tol=1e-4)
            assert math.isclose(float(row[9]), abs(g["Q"][-1] - g["Q"][0]), rel_tol=1e-2)
        # the toy model's distance: |F(mu) - F(nu)| between the final snapshots
        Fa, Fb = f["a/energy"][-1], f["b/energy"][-1]
    assert rows["a"][-1] == "(reference)"
    assert math.isclose(float(rows["b"][-1]), abs(Fa - Fb), rel_tol=1e-3)


@pytest.mark.parametrize("pole", [0, 1, 2])
def test_map_polygons_of_voronoi_cells_converge_to_the_cell_areas(pole):
    """In Lambert's equal-area coordinates (longitude, sin latitude) a planar area is the spherical area,
    so every cell's map polygon (unwrapped about its generator, polar cells closed along the map's edge)
    must enclose its Voronoi cell's area; edges are great-circle arcs sampled ``subdivide`` times, chords
    in the map plane, so the error falls as subdivide^-2."""
    from scipy.spatial import SphericalVoronoi
    pts = sphere.sample_uniform(300, 2, 5)  # generic: cells across the antimeridian and around the poles
    areas = SphericalVoronoi(pts, 1.0, np.zeros(3)).calculate_areas()
    subs = [2, 4, 8, 16]
    errors = []
    for sub in subs:
        polys = plots.sphere_cell_polygons(pts, pole, subdivide=sub)
        first: dict = {}
        for i, v in polys:
            first.setdefault(i, v)
        assert sorted(first) == list(range(len(pts)))
        assert len(polys) > len(pts)  # the cells across the antimeridian are drawn twice
        x = [v[:, 0] for _, v in sorted(first.items())]
        y = [np.sin(v[:, 1]) for _, v in sorted(first.items())]
        a = np.array([abs(0.5 * np.sum(u * np.roll(w, -1) - np.roll(u, -1) * w)) for u, w in zip(x, y)])
        errors.append(np.max(np.abs(a / areas - 1)))
    slope = np.polyfit(np.log(subs), np.log(errors), 1)[0]
    assert -2.4 < slope < -1.6, (slope, errors)
    assert errors[-1] < 1e-2


def test_more_figures_on_synthetic_measures(tmp_path):
    rng = np.random.default_rng(3)
    teacher = np.array([[1.0, 0.6, 0.8], [-1.0, -1.0, 0.0]])
    panels = []
    for m in (5, 50):
        nu = Measure.from_weights(rng.standard_normal((m, 3)))
        panels.append((f"m = {m}", [("seed 0", nu.points, nu.masses)]))
    png(plots.particle_panels(panels, tmp_path / "panels.png", teacher=teacher, title="two widths"))
    from wgf import icosahedral_grid
    g = icosahedral_grid(2)
    T = Measure.from_weights(teacher, scale=1.0)
    dens = [("t = 5", np.exp(5.0 * (g.points @ T.points[0])))]
    png(plots.density_figure(g.points, dens, tmp_path / "maps.png", pole=0, marks=(T.points, teacher[:, 0]),
                             axis_labels=("longitude: direction of b", "latitude: arcsin a"), title="maps"))
    with pytest.raises(ValueError, match="pole must be 0, 1 or 2"):
        plots.density_figure(g.points, dens, tmp_path / "bad.png", pole=3)
    png(plots.distance_figure([10, 10, 100, 100], [0.3, 0.2, 0.1, 0.05], tmp_path / "dist.png",
                              earlier=[("t = 0", [10, 100], [0.2, 0.06])], floors=[("grid", 0.04)], label="t = 1"))


def test_classification_report_quotes_margins_read_from_the_snapshots(tmp_path):
    from wgf.analysis.implicit_bias import max_margin_references
    from wgf.analysis.margins import normalised_margin
    from wgf.app.margin_report import F1_DIRECTIONS

    rng = np.random.default_rng(1)
    X = np.sort(rng.uniform(-1, 1, 12))
    y = np.where(np.abs(X) < 0.5, 1.0, -1.0)
    data = tmp_path / "d.csv"
    np.savetxt(data, np.column_stack([X, y]), delimiter=",")
    text = f"""
title = "tiny classification"
[model]
type = "empirical_relu"
data = "{data.name}"
loss = "logistic"
bias = true
[time]
final = 2.0
snapshots = [0.5, 2.0]
records = 4
[lagrangian]
quadrature = "quasi_uniform"
n = 200
stepper = "rk4"
dt = 0.05
[network]
widths = [20]
seeds = [0]
step_size = 0.05
"""
    case = parse_case(text, name="c", base_dir=tmp_path)
    Controller.new(case, tmp_path / "c.h5", quiet=True).run()
    out, figures = report(tmp_path / "c.h5")
    assert {"c_margin.png", "c_predictor.png"} <= {f.name for f in figures}
    for f in figures:
        if f.name in ("c_margin.png", "c_predictor.png"):
            assert imread(f).shape[0] > 100
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("implicit bias"))
    refs = max_margin_references(case.model.features, y, F1_DIRECTIONS)
    assert f"F1 max margin >= {refs.f1:.6g}" in lines[start + 1] and f"F2 max margin = {refs.f2:.6g}" in lines[start + 1]
    rows = {line.split()[0]: line.split() for line in lines[start + 3:start + 5]}
    with h5py.File(tmp_path / "c.h5", "r") as f:
        for name in ("lagrangian", "network_m0020_s0"):
            snap = f[name]["snapshots"]
            last = snap[sorted(snap)[-1]]
            nu = Measure(last["points"][()], last["masses"][()])
            m = normalised_margin(nu, case.model.features, y)["by_ab"]
            assert float(rows[name][1]) == last.attrs["time"]
            assert math.isclose(float(rows[name][2]), m, rel_tol=1e-4)
            assert math.isclose(float(rows[name][3]), 1 - m / refs.f1, rel_tol=1e-3, abs_tol=1e-6)
