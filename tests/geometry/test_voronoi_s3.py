"""Voronoi grids of S^3 and the spherical-simplex quadrature they are integrated with.

Independent references: closed-form moments of the orthants of S^2 and S^3, Girard's theorem for a
spherical triangle, the 600-cell (120 congruent cells), a Monte-Carlo count of nearest generators, the
Voronoi property checked by a k-d tree, and the divergence theorem on every cell (face areas against cell
moments, two separately computed quantities).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.spatial import cKDTree
from scipy.special import beta as beta_fn

import wgf
from wgf.geometry.spherical_simplices import (
    conical_product_rule,
    fan_moments,
    fan_moments_numpy,
    great_sphere_triangle_areas,
    radial_simplex_rule,
    voronoi_fan_moments,
)
from wgf.geometry.sphere import geodesic_distance, normalize, sample_uniform
from wgf.geometry.voronoi_s3 import hopf_grid, hopf_points, s3_voronoi_grid

S3_VOLUME = 2.0 * math.pi**2


@pytest.fixture(scope="module")
def grid():
    return hopf_grid(1000)


@pytest.fixture(scope="module")
def random_grid():
    return s3_voronoi_grid(sample_uniform(600, 3, 7), name="random(600)")


def orthants(d):
    """The 2^(d+1) coordinate orthant simplices of S^d, shape (2^(d+1), d+1, d+1)."""
    return np.array([np.diag(s) for s in itertools.product([1.0, -1.0], repeat=d + 1)])


def six_hundred_cell():
    """The 120 vertices of the 600-cell: +-e_k, (+-1/2)^4, and the even permutations of
    (+-phi, +-1, +-1/phi, 0)/2."""
    phi = (1.0 + 5.0**0.5) / 2.0
    pts = [s * np.eye(4)[k] for k in range(4) for s in (1.0, -1.0)]
    pts += [0.5 * np.array(s) for s in itertools.product([1.0, -1.0], repeat=4)]
    even = [p for p in itertools.permutations(range(4))
            if sum(p[i] > p[j] for i in range(4) for j in range(i + 1, 4)) % 2 == 0]
    for signs in itertools.product([1.0, -1.0], repeat=3):
        base = np.array([signs[0] * phi, signs[1] * 1.0, signs[2] / phi, 0.0]) / 2.0
        pts += [base[list(p)] for p in even]
    return np.array(pts)


# ---------------------------------------------------------------------- quadrature
@pytest.mark.parametrize("d", [2, 3])
def test_conical_product_rule_integrates_monomials_exactly(d):
    # int_{[0,1]^d} prod_k s_k^(a_k + d - k) ds = prod_k 1 / (a_k + d - k + 1), exact for a_k <= 2 order - 1
    order = 3
    S, W = conical_product_rule(d, order)
    assert S.shape == (order**d, d) and np.all((S > 0) & (S < 1))
    for a in itertools.product(range(2 * order), repeat=d):
        exact = np.prod([1.0 / (a[k] + d - (k + 1) + 1) for k in range(d)])
        assert W @ np.prod(S ** np.array(a), axis=1) == pytest.approx(exact, rel=1e-13)


@pytest.mark.parametrize("d", [2, 3])
def test_radial_rule_converges_to_the_orthants(d):
    # 2^(d+1) orthants tile S^d; each has measure |S^d| / 2^(d+1) and first moment int x_0 dA over the
    # orthant = |S^d| E|x_0| / 2^(d+1), E|x_0| = B(1, d/2) / B(1/2, d/2) for uniform points of S^d
    area = wgf.geometry.sphere.sphere_area(d)
    mean_abs = beta_fn(1.0, d / 2.0) / beta_fn(0.5, d / 2.0)
    errs = []
    for order in (4, 8, 16):
        x, w = radial_simplex_rule(orthants(d), order)
        assert np.all(w > 0) and np.allclose(np.linalg.norm(x, axis=2), 1.0)
        errs.append(abs(w.sum() - area))
    assert errs[-1] < 1e-9 * area and errs[1] < errs[0] * 1e-2
    x, w = radial_simplex_rule(orthants(d)[:1], 24)
    m1 = np.einsum("tq,tqk->k", w, x)
    assert np.allclose(m1, area * mean_abs / 2 ** (d + 1), rtol=1e-10)


def test_fan_moments_compiled_against_numpy():
    rng = np.random.default_rng(3)
    c = normalize(rng.standard_normal((500, 4)))
    verts = [c] + [normalize(c + 0.2 * rng.standard_normal((500, 4))) for _ in range(3)]
    for order in (1, 2, 3, 5):
        m0, m1 = fan_moments(verts, order)
        r0, r1 = fan_moments_numpy(verts, order)
        assert np.allclose(m0, r0, rtol=1e-13, atol=0) and np.allclose(m1, r1, rtol=1e-12, atol=1e-17)
    # the 16 orthants of S^3 through the compiled loop
    O = orthants(3)
    m0, _ = fan_moments([O[:, k] for k in range(4)], 16)
    assert m0.sum() == pytest.approx(S3_VOLUME, rel=1e-10)
    with pytest.raises(ValueError, match="four arrays"):
        fan_moments(verts[:3] + [verts[3][:, :3]], 2)
    with pytest.raises(ValueError, match="order"):
        conical_product_rule(3, 0)


def test_great_sphere_triangle_areas_against_girard():
    # spherical triangles of S^2 by Girard's theorem (area = angle sum - pi), embedded in a random great
    # 2-sphere of S^3 by an orthogonal map
    rng = np.random.default_rng(5)
    c = normalize(rng.standard_normal((200, 3)))
    A, B, C = (normalize(c + s * rng.standard_normal((200, 3))) for s in (0.3, 0.4, 0.5))

    def angle(p, q, r):  # angle at p between the arcs to q and r
        tq = q - np.sum(p * q, 1)[:, None] * p
        tr = r - np.sum(p * r, 1)[:, None] * p
        return np.arctan2(np.linalg.norm(np.cross(tq, tr), axis=1), np.sum(tq * tr, 1))

    girard = angle(A, B, C) + angle(B, C, A) + angle(C, A, B) - np.pi
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    emb = lambda X: np.c_[X, np.zeros(len(X))] @ Q.T  # noqa: E731
    n = np.tile(Q[:, 3], (200, 1))
    for backend in ("numba", "numpy"):
        E = great_sphere_triangle_areas(n, emb(A), emb(B), emb(C), backend=backend)
        assert np.allclose(E, girard, rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------------- the mesh
def test_hopf_points_are_quasi_uniform():
    P = hopf_points(2000)
    assert P.shape[1] == 4 and abs(P.shape[0] - 2000) < 0.05 * 2000
    assert np.allclose(np.linalg.norm(P, axis=1), 1.0)
    d, _ = cKDTree(P).query(P, k=2)
    nn = d[:, 1]
    assert nn.min() > 0.5 * nn.max()          # no clusters, no holes
    with pytest.raises(ValueError, match="cells"):
        hopf_points(10)


@pytest.mark.parametrize("which", ["grid", "random_grid"])
def test_volumes_sum_to_the_sphere_and_match_a_monte_carlo_count(which, request):
    g = request.getfixturevalue(which)
    assert g.dim == 3 and np.all(g.volumes > 0)
    # the fans tile S^3 exactly: only the quadrature errs, ~h^8 at the default 4 points per direction
    # (measured 6e-11 on the Hopf grid, 2e-9 on the coarse random one, h = 0.84), round-off at 8
    assert g.volumes.sum() == pytest.approx(S3_VOLUME, rel=1e-10 if which == "grid" else 1e-8)
    v8, _ = voronoi_fan_moments(g.points, g.edges, g.face_points, g.voronoi_vertices, g.face_segments, 8)
    assert v8.sum() == pytest.approx(S3_VOLUME, rel=1e-14)
    # cell of each of N uniform points = its nearest generator: counts ~ Binomial(N, |V_i| / |S^3|)
    N = 1_000_000
    X = sample_uniform(N, 3, 11)
    _, idx = cKDTree(g.points).query(X)
    counts = np.bincount(idx, minlength=g.size)
    p = g.volumes / S3_VOLUME
    z = (counts - N * p) / np.sqrt(N * p * (1 - p))
    assert np.abs(z).max() < 5.0 and 0.8 < np.mean(z**2) < 1.2, (np.abs(z).max(), np.mean(z**2))


def test_volume_quadrature_converges_at_order_2q():
    # the volumes' quadrature error on one mesh falls with the points per direction
    g = hopf_grid(1000)
    errs = [abs(voronoi_fan_moments(g.points, g.edges, g.face_points, g.voronoi_vertices, g.face_segments,
                                    q)[0].sum() - S3_VOLUME) for q in (1, 2, 3)]
    assert errs[0] > 30 * errs[1] > 900 * errs[2], errs
    # and with h at a fixed order: about h^4 for q = 2 (sum of relative errors of the cells)
    hs, es = [], []
    for cells in (500, 1000, 2000, 4000):
        g = hopf_grid(cells)
        v2, _ = voronoi_fan_moments(g.points, g.edges, g.face_points, g.voronoi_vertices, g.face_segments, 2)
        hs.append(g.h)
        es.append(np.abs(v2 / g.volumes - 1).max())
    assert np.polyfit(np.log(hs), np.log(es), 1)[0] > 3.5, es


def test_faces_are_orthogonal_bisectors_and_vertices_are_voronoi(random_grid, grid):
    for g in (grid, random_grid):
        i, j = g.edges[g.face_segments[:, 0], 0], g.edges[g.face_segments[:, 0], 1]
        for k in (1, 2):
            v = g.voronoi_vertices[g.face_segments[:, k]]
            # every face vertex is equidistant from the two generators: the face lies on the bisector
            # great sphere {x : x.(p_i - p_j) = 0}, whose normal p_i - p_j is the arc's direction at its midpoint
            assert np.abs(np.sum(v * (g.points[i] - g.points[j]), axis=1)).max() < 1e-12
        u = g.points[g.edges[:, 0]] - g.points[g.edges[:, 1]]
        assert np.abs(np.sum(g.face_points * u, axis=1)).max() < 1e-12
        # the face centre is nearer to p_i, p_j than to any other generator: it is on the face
        d, _ = cKDTree(g.points).query(g.face_points, k=3)
        dij = np.linalg.norm(g.face_points - g.points[g.edges[:, 0]], axis=1)
        assert np.allclose(d[:, 0], dij, atol=1e-12) and np.allclose(d[:, 1], dij, atol=1e-12)
        assert np.all(d[:, 2] > dij + 1e-9)
        # Voronoi vertices: no generator is nearer than the four of their Delaunay tetrahedron
        d, _ = cKDTree(g.points).query(g.voronoi_vertices, k=5)
        assert np.allclose(d[:, :4], d[:, :1], atol=1e-12) and np.all(d[:, 4] >= d[:, 3] - 1e-12)
        assert np.allclose(g.centre_distances, geodesic_distance(g.points[g.edges[:, 0]], g.points[g.edges[:, 1]]))


@pytest.mark.parametrize("which", ["grid", "random_grid"])
def test_divergence_theorem_on_every_cell(which, request):
    # the tangential field X = a - (a.x) x has div X = -3 a.x on S^3 and flux -a.u_ij l_ij through the face
    # (i, j) (u_ij = (p_i - p_j)/|p_i - p_j| is the face's unit normal, X.nu = -a.u on it), so for every cell
    #     sum_j l_ij (p_j - p_i)/|p_j - p_i| = -3 int_{V_i} x dA:
    # exact face areas (triangle formula) against quadrature first moments (fan tetrahedra)
    g = request.getfixturevalue(which)
    u = g.points[g.edges[:, 1]] - g.points[g.edges[:, 0]]
    u /= np.linalg.norm(u, axis=1)[:, None]
    flux = np.zeros((g.size, 4))
    for k in range(4):
        flux[:, k] = (np.bincount(g.edges[:, 0], g.edge_lengths * u[:, k], g.size)
                      - np.bincount(g.edges[:, 1], g.edge_lengths * u[:, k], g.size))
    _, m1 = voronoi_fan_moments(g.points, g.edges, g.face_points, g.voronoi_vertices, g.face_segments, 5)
    scale = np.abs(m1).max()
    assert np.abs(flux + 3.0 * m1).max() < 1e-9 * scale


def test_the_600_cell_gives_congruent_cells():
    P = six_hundred_cell()
    assert P.shape == (120, 4) and np.allclose(np.linalg.norm(P, axis=1), 1.0)
    g = s3_voronoi_grid(P, name="600-cell")
    assert g.size == 120 and g.edges.shape[0] == 720          # the 600-cell's 720 edges
    assert np.allclose(g.volumes, S3_VOLUME / 120, rtol=1e-10)
    assert np.allclose(g.centre_distances, math.pi / 5)       # neighbours at 36 degrees
    assert np.allclose(g.edge_lengths, g.edge_lengths[0], rtol=1e-12)   # 12 congruent pentagons per cell
    assert np.all(np.bincount(g.edges.ravel()) == 12)
    assert g.quality()["centroid_offset"] < 1e-10             # centroidal by symmetry


def test_a_cospherical_configuration_the_24_cell():
    # the 24-cell's vertices: its Delaunay cells are octahedra, split by Qhull into tetrahedra with
    # coinciding circumcentres; the zero-area faces (octahedron diagonals) are dropped
    P = np.array([v for v in itertools.product([1.0, -1.0, 0.0], repeat=4)
                  if np.count_nonzero(v) == 2]) / np.sqrt(2.0)
    assert P.shape == (24, 4)
    g = s3_voronoi_grid(P, volume_order=10)                  # h = pi/3: a high order for round-off
    assert np.allclose(g.volumes, S3_VOLUME / 24, rtol=1e-12)
    assert np.all(np.bincount(g.edges.ravel(), minlength=24) == 8)   # each cell an octahedron: 8 faces
    assert np.allclose(g.centre_distances, math.pi / 3)


def test_compiled_faces_against_numpy(random_grid):
    # the compiled loop over faces and its NumPy reference build the same grid (the 24-cell: degenerate rings)
    P24 = np.array([v for v in itertools.product([1.0, -1.0, 0.0], repeat=4) if np.count_nonzero(v) == 2])
    for P in (hopf_points(500), random_grid.points, P24 / np.sqrt(2.0)):
        a, b = s3_voronoi_grid(P), s3_voronoi_grid(P, backend="numpy")
        assert np.array_equal(a.edges, b.edges) and np.array_equal(a.face_segments, b.face_segments)
        assert np.allclose(a.edge_lengths, b.edge_lengths, rtol=1e-13, atol=1e-15)   # some faces ~1e-8
        assert np.allclose(a.face_points, b.face_points, rtol=0, atol=1e-12)
        assert np.allclose(a.volumes, b.volumes, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="backend"):
        s3_voronoi_grid(P24, backend="cuda")


def test_lloyd_moves_towards_a_centroidal_mesh():
    g0, g2 = hopf_grid(500), hopf_grid(500, lloyd=2)
    assert g2.quality()["centroid_offset"] < 0.5 * g0.quality()["centroid_offset"]
    assert g2.volumes.sum() == pytest.approx(S3_VOLUME, rel=1e-9)


def test_integrate_and_centroids_on_s3(grid):
    # int x_0^2 over S^3 = |S^3| / 4; the centroids from the compiled moments agree with the quadrature
    f = grid.integrate(lambda x: x[:, 0] ** 2, order=4)
    assert f.sum() == pytest.approx(S3_VOLUME / 4, rel=1e-9)
    nodes, weights, cells = grid.quadrature(2)
    assert nodes.shape == (weights.size, 4) and cells.shape == weights.shape
    c = np.stack([np.bincount(cells, weights * nodes[:, k], grid.size) for k in range(4)], axis=1)
    assert np.allclose(normalize(c), grid.centroids(order=2), atol=1e-12)
    assert np.allclose(grid.integrate(lambda x: np.ones(len(x)), 4), grid.volumes, rtol=1e-12)


def test_validation():
    with pytest.raises(ValueError, match="shape"):
        s3_voronoi_grid(np.ones((10, 3)))
    with pytest.raises(ValueError, match="hemisphere"):
        s3_voronoi_grid(normalize(np.abs(sample_uniform(50, 3, 0)) + [1.0, 0, 0, 0]))
    with pytest.raises(ValueError, match="duplicates"):
        P = sample_uniform(50, 3, 0)
        s3_voronoi_grid(np.r_[P, P[:1]])
    with pytest.raises(ValueError, match="lloyd"):
        hopf_grid(1000, lloyd=-1)
    with pytest.raises(ValueError, match="cells"):
        hopf_grid(True)
    g = hopf_grid(200)
    with pytest.raises(ValueError, match="come together"):
        wgf.Grid(g.points, g.volumes, g.edges, g.edge_lengths, g.centre_distances, g.face_points,
                 voronoi_vertices=g.voronoi_vertices)
