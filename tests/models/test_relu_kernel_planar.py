"""The O((N + M) log M) planar ReLU-kernel potential against the direct O(N M) kernel `relu_potential_direct` (itself tested against
its NumPy reference, Monte Carlo and finite differences), on random points, on the symmetric icosahedral
grids (many tied angles) and on adversarial sets of tied, antipodal and polar directions."""

import numpy as np
import pytest

from wgf import icosahedral_grid
from wgf.geometry import sphere
from wgf.models.relu_kernel import relu_potential, relu_potential_direct
from wgf.models.relu_kernel_planar import relu_potential_planar

# Both algorithms are exact; the planar one sums prefix sums of terms up to 3 pi |c_j| over 3M entries,
# so its round-off is at most ~ eps * 3M * 3 pi * sum|c| (6e-12 sum|c| at M = 1e3); observed ~1e-17.
TOL = 1e-12


def _compare(P, Q, c, scale=1.0):
    J1, G1 = relu_potential_direct(P, Q, c, scale)
    J2, G2 = relu_potential_planar(P, Q, c, scale)
    J0, G0 = relu_potential(P, Q, c, scale)          # the public entry dispatches to the planar algorithm
    assert np.array_equal(J0, J2) and np.array_equal(G0, G2)
    s = scale * np.abs(c).sum()
    assert np.abs(J1 - J2).max() <= TOL * s
    assert np.abs(G1 - G2).max() <= TOL * s
    J3, G3 = relu_potential_planar(P, Q, c, scale, with_grad=False)
    assert G3 is None and np.array_equal(J3, J2)


@pytest.mark.parametrize("N,M", [(1, 1), (7, 5), (200, 300), (1000, 2)])
def test_random_points(N, M):
    rng = np.random.default_rng(N + M)
    P, Q = sphere.sample_uniform(N, 2, rng), sphere.sample_uniform(M, 2, rng)
    _compare(P, Q, rng.standard_normal(M), scale=0.5)


@pytest.mark.parametrize("level", [1, 2, 3])
def test_icosahedral_grid_with_tied_angles(level):
    P = icosahedral_grid(level).points
    c = np.random.default_rng(level).standard_normal(len(P))
    _compare(P, P, c)


def test_ties_antipodes_and_poles():
    rng = np.random.default_rng(0)
    th = np.repeat(np.linspace(-np.pi, np.pi, 17)[:-1], 5)   # 16 angles, each 5 times, antipodal pairs
    a = rng.uniform(-1, 1, len(th))
    r = np.sqrt(1 - a**2)
    P = np.column_stack([a, r * np.cos(th), r * np.sin(th)])
    P = np.vstack([P, [[1.0, 0, 0], [-1.0, 0, 0]]])           # the poles b = 0
    c = rng.standard_normal(len(P))
    _compare(P, P, c)
    J, G = relu_potential_planar(P, P, c)
    assert np.all(J[-2:] == 0) and np.all(G[-2:] == 0)


def test_zero_and_empty_measures():
    P = sphere.sample_uniform(5, 2, 1)
    J, G = relu_potential_planar(P, P, np.zeros(5))
    assert np.all(J == 0) and np.all(G == 0)
    J, G = relu_potential_planar(P, np.zeros((0, 3)), np.zeros(0))
    assert np.all(J == 0) and np.all(G == 0)


def test_rejects_other_dimensions():
    with pytest.raises(ValueError, match="length 3"):
        relu_potential_planar(np.eye(4), np.eye(4), np.ones(4))
