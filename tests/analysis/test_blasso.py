"""Sparse spike deconvolution (BLASSO): the reference tools (active set dense and matrix-free, merging,
polishing, spike matching) on problems with a known answer, and a small grid flow on S^1 whose limit is
the exact minimiser over its grid and lies within the grid resolution of an independently computed
off-grid minimiser."""

from pathlib import Path

import numpy as np
import pytest

import wgf
from wgf.geometry import sphere
from wgf.discretisations.eulerian import EulerianSolver
from wgf.geometry.grid import circle_grid, icosahedral_grid
from wgf.models import SpikeDeconvolution, TeacherStudent
from wgf.analysis.reference import grid_minimiser, match_spikes, merge_atoms, polish_atoms

DATA = Path(wgf.__file__).resolve().parent.parent / "data"


def chizat_model():
    D = np.loadtxt(DATA / "spikes_s1_fc8.csv", delimiter=",")
    return SpikeDeconvolution(D[:, :2], D[:, 2], 8, 0.3)


@pytest.mark.parametrize("which", ["spikes", "teacher"])
def test_grid_minimiser_dense_and_matrix_free_agree(which):
    if which == "spikes":
        model, P = chizat_model(), sphere.circle_points(300)
    else:
        model = TeacherStudent(np.loadtxt(DATA / "teacher_fig2.csv", delimiter=","))
        P = icosahedral_grid(2).points
    a, b = grid_minimiser(model, P, dense=True), grid_minimiser(model, P, dense=False)
    assert a.kkt_residual < 1e-9 and b.kkt_residual < 1e-9
    assert b.energy == pytest.approx(a.energy, rel=1e-10, abs=1e-14)
    assert abs(model.energy(b.measure) - b.energy) < 1e-10
    if which == "spikes":  # strictly convex on its support here: the same atoms and weights
        np.testing.assert_allclose(b.measure.masses, a.measure.masses, rtol=1e-8)
    with pytest.raises(ValueError, match="dense must be"):
        grid_minimiser(model, P, dense="yes")


def test_merge_atoms_and_match_spikes_on_synthetic_measures():
    th = np.array([0.10, 0.11, 0.12, 2.0, 2.015, 4.0])
    m = np.array([1.0, 2.0, 1.0, 0.5, 0.5, 0.25])
    nu = wgf.Measure(np.stack([np.cos(th), np.sin(th)], 1), m)
    merged = merge_atoms(nu, 0.011)  # chains of steps 0.01 and 0.015: {0.10, 0.11, 0.12}, {2.0}, {2.015}, {4.0}
    assert merged.size == 4
    merged = merge_atoms(nu, 0.02)
    assert merged.size == 3 and merged.total_mass == pytest.approx(m.sum())
    ang = np.sort(np.arctan2(merged.points[:, 1], merged.points[:, 0]))
    np.testing.assert_allclose(ang, [4.0 - 2 * np.pi, 0.11, 2.0075], atol=1e-5)  # extrinsic barycentres
    spikes = wgf.Measure(np.stack([np.cos([0.1, 2.0]), np.sin([0.1, 2.0])], 1), [4.5, 1.0])
    r = match_spikes(nu, spikes, radius=0.5)
    np.testing.assert_allclose(r.weights, [4.0, 1.0])
    np.testing.assert_allclose(r.weight_error, [-0.5, 0.0])
    np.testing.assert_allclose(r.position_error, [0.01, 0.0075], atol=1e-5)
    assert r.stray_mass == pytest.approx(0.25)
    empty = match_spikes(wgf.Measure(nu.points[5:], m[5:]), spikes, 0.5)
    assert np.all(np.isnan(empty.position_error)) and empty.stray_mass == 0.25
    with pytest.raises(ValueError, match="radius"):
        match_spikes(nu, spikes, 0.0)


@pytest.mark.parametrize("dim, degree", [(1, 8), (2, 6)])
def test_polish_recovers_the_single_spike_minimiser(dim, degree):
    """From a displaced start the polished atom is the known minimiser (x0, w - lambda / K(x0, x0))."""
    x0 = sphere.normalize(np.array([[0.3, -0.8, 0.5][: dim + 1]]))
    model = SpikeDeconvolution(x0, [0.9], degree, 0.3)
    start = wgf.Measure(sphere.normalize(x0 + 0.05), [0.5])
    pol = polish_atoms(model, start)
    assert sphere.geodesic_distance(pol.measure.points, x0)[0] < 1e-6
    assert pol.measure.masses[0] == pytest.approx(0.9 - 0.3 / model.kernel_peak, abs=1e-6)
    assert pol.stationarity < 1e-7


def test_small_s1_flow_converges_to_the_grid_minimiser_within_the_grid_resolution_of_the_reference():
    """Chizat's setting on 128 cells to t = 40: F reaches the minimum over the grid; every spike of the
    flow's limit (cells within half the separation merged into a barycentre) lies within h/10 of the
    grid minimiser's and within one cell h of the off-grid reference minimiser (fine grid of 2048 points,
    merged and polished; its optimality certified to 1e-5); the flow's certificate sits at the grid floor,
    above F - F(reference)."""
    model = chizat_model()
    g = circle_grid(128)
    s = EulerianSolver(model, g, stepper="euler")
    s.advance(40.0)
    limit = s.measure
    gm = grid_minimiser(model, g.points)
    assert s.energy() - gm.energy < 1e-8

    fine = grid_minimiser(model, sphere.circle_points(2048))
    ref = polish_atoms(model, merge_atoms(fine.measure, 2.5 * 2 * np.pi / 2048))
    cert_ref = wgf.optimality_certificate(model, ref.measure, n_points=8192, refine=3, local_starts=0)
    assert ref.measure.size == 5 and cert_ref.gap_bound < 1e-5
    i, j = np.triu_indices(5, 1)
    radius = 0.5 * sphere.geodesic_distance(ref.measure.points[i], ref.measure.points[j]).min()

    flow = match_spikes(limit, ref.measure, radius)
    grid = match_spikes(gm.measure, ref.measure, radius)
    assert flow.stray_mass < 1e-6 and grid.stray_mass < 1e-9
    assert np.max(sphere.geodesic_distance(flow.positions, grid.positions)) < g.h / 10
    np.testing.assert_allclose(flow.weights, grid.weights, atol=1e-4)
    assert np.nanmax(flow.position_error) < g.h
    assert np.max(np.abs(flow.weight_error)) < 0.01

    cert = wgf.optimality_certificate(model, limit, n_points=16 * 128, refine=3, local_starts=0)
    floor = wgf.optimality_certificate(model, gm.measure, n_points=16 * 128, refine=3, local_starts=0)
    assert cert.gap_bound >= s.energy() - ref.energy >= 0
    assert cert.gap_bound == pytest.approx(floor.gap_bound, rel=1e-2)
