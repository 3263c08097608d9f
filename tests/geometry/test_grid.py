import math

import numpy as np
import pytest
from scipy.spatial import SphericalVoronoi

from wgf.geometry.grid import Grid, circle_grid, icosahedral_grid
from wgf.geometry.sphere import geodesic_distance


def test_circle_grid_geometry():
    g = circle_grid(40)
    assert g.dim == 1 and g.size == 40 and g.edges.shape == (40, 2)
    assert g.volumes.sum() == pytest.approx(2 * math.pi, rel=1e-14)
    assert np.allclose(g.edge_lengths, 1.0)
    assert np.allclose(g.centre_distances, 2 * math.pi / 40)
    # faces lie halfway between the generators
    i, j = g.edges.T
    assert np.allclose(geodesic_distance(g.face_points, g.points[i]), math.pi / 40)
    assert np.allclose(geodesic_distance(g.face_points, g.points[j]), math.pi / 40)
    q = g.quality()
    assert q["h"] == pytest.approx(2 * math.pi / 40) and q["volume_ratio"] == pytest.approx(1.0)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_icosahedral_grid_topology_and_volumes(level):
    g = icosahedral_grid(level)
    n = 10 * 4**level + 2
    assert g.size == n and g.dim == 2
    # Euler: cells - edges + Voronoi vertices = 2, with 2(n - 2) Delaunay triangles = Voronoi vertices
    assert g.size - g.edges.shape[0] + 2 * (n - 2) == 2
    assert g.volumes.sum() == pytest.approx(4 * math.pi, rel=1e-12)
    # the fan quadrature of 1 reproduces SphericalVoronoi's areas (two independent computations)
    ones = g.integrate(lambda p: np.ones(len(p)))
    sv = SphericalVoronoi(g.points, radius=1.0, center=np.zeros(3))
    assert np.allclose(ones, sv.calculate_areas(), rtol=1e-6 if level == 0 else 1e-9)
    # Voronoi faces are equidistant from the two generators (orthogonal bisectors)
    i, j = g.edges.T
    for k in range(2):
        v = g.face_vertices[:, k]
        assert np.allclose(geodesic_distance(v, g.points[i]), geodesic_distance(v, g.points[j]), atol=1e-12)


def test_csr_adjacency_is_consistent():
    g = icosahedral_grid(2)
    c = g.csr()
    src = np.repeat(np.arange(g.size), np.diff(c["offsets"]))
    assert np.array_equal(src[c["reverse"]], c["neighbours"])
    assert np.array_equal(c["neighbours"][c["reverse"]], src)
    assert np.array_equal(c["edge"][c["reverse"]], c["edge"])
    assert set(np.diff(c["offsets"])) == {5, 6}          # 12 pentagons, the rest hexagons


def test_quadrature_converges_on_a_smooth_function():
    # int_{S^2} exp(<a, x>) = 4 pi sinh|a| / |a|; per-cell values agree between two quadrature orders
    a = np.array([0.3, -1.1, 0.7])
    f = lambda p: np.exp(p @ a)  # noqa: E731
    g = icosahedral_grid(3)
    exact = 4 * math.pi * math.sinh(np.linalg.norm(a)) / np.linalg.norm(a)
    errs = [abs(g.integrate(f, order).sum() / exact - 1) for order in (1, 2, 3, 4)]
    assert errs[0] > errs[1] > errs[2] > errs[3] and errs[3] < 1e-12      # spectral in the order
    # per cell, the default order 4 agrees with order 8 to 1e-10 of a cell volume: far below the
    # finite-volume errors measured against these cell integrals (>= 1e-6 of the mass)
    diff = np.abs(g.integrate(f, 4) - g.integrate(f, 8)).max()
    assert diff < 1e-10 * g.volumes.max()
    c = circle_grid(50)
    assert c.integrate(lambda p: np.exp(p[:, 0]), 4).sum() == pytest.approx(2 * math.pi * 1.2660658777520082,
                                                                           rel=1e-13)  # 2 pi I_0(1)


def test_lloyd_moves_towards_a_centroidal_mesh():
    offs = [icosahedral_grid(3, lloyd=k).quality()["centroid_offset"] for k in (0, 2, 5)]
    assert offs[0] > offs[1] > offs[2]
    g = icosahedral_grid(3, lloyd=2)
    assert g.volumes.sum() == pytest.approx(4 * math.pi, rel=1e-12)


def test_uniform_masses_and_validation():
    g = icosahedral_grid(1)
    m = g.uniform_masses(3.0)
    assert m.sum() == pytest.approx(3.0) and np.allclose(m / g.volumes, 3.0 / (4 * math.pi))
    with pytest.raises(ValueError, match="total"):
        g.uniform_masses(-1.0)
    with pytest.raises(ValueError, match="n must"):
        circle_grid(2)
    with pytest.raises(ValueError, match="level"):
        icosahedral_grid(-1)
    with pytest.raises(ValueError, match="lloyd"):
        icosahedral_grid(1, lloyd=1.5)
    with pytest.raises(ValueError, match="order"):
        g.integrate(lambda p: p[:, 0], order=0)
    with pytest.raises(ValueError, match="volumes"):
        Grid(g.points, -g.volumes, g.edges, g.edge_lengths, g.centre_distances, g.face_points)
