"""The optimality certificate: a valid upper bound on F(nu) - F*, with a floor that shrinks with the
covering, tested on teacher–student problems whose minimiser (the teacher) is known."""

import numpy as np
import pytest

import wgf
from wgf import sphere
from wgf.models import TeacherStudent


def _teacher(dx, m0, seed):
    rng = np.random.default_rng(seed)
    b = sphere.sample_uniform(m0, dx - 1, rng)
    return np.column_stack([rng.choice([-1.0, 1.0], m0), b])


@pytest.mark.parametrize("dx", [1, 2])
def test_lipschitz_bound_dominates_gradient(dx):
    rng = np.random.default_rng(dx)
    model = TeacherStudent(_teacher(dx, 3, dx))
    nu = wgf.Measure(sphere.sample_uniform(20, dx, rng), rng.random(20))
    _, G = model.potential(sphere.sample_uniform(50_000, dx, rng), nu)
    assert np.linalg.norm(G, axis=1).max() <= model.potential_lipschitz(nu)


@pytest.mark.parametrize("dx", [1, 2])
@pytest.mark.parametrize("seed", range(4))
def test_certificate_bounds_the_optimality_gap(dx, seed):
    rng = np.random.default_rng(10 * seed + dx)
    model = TeacherStudent(_teacher(dx, 4, seed))
    n = int(rng.integers(3, 40))
    nu = wgf.Measure(sphere.sample_uniform(n, dx, rng), rng.random(n) * rng.uniform(0.1, 3))
    cert = wgf.optimality_certificate(model, nu, n_points=1024)
    # realisable teacher: F* = 0
    assert cert.energy <= cert.gap_bound
    assert cert.min_J_lower <= cert.min_J_local <= cert.min_J_grid
    # the guaranteed lower bound holds at many random points (Monte Carlo check)
    J, _ = model.potential(sphere.sample_uniform(100_000, dx, rng), nu)
    assert cert.min_J_lower <= J.min()


def test_certificate_floor_at_the_minimiser_shrinks_with_the_covering():
    model = TeacherStudent(_teacher(2, 4, 0))
    nustar = model.teacher_measure
    floors, radii = [], []
    for n in (256, 1024, 4096, 16384):
        cert = wgf.optimality_certificate(model, nustar, n_points=n)
        assert abs(cert.energy) < 1e-12 and abs(cert.integral_J) < 1e-12
        floors.append(cert.gap_bound)
        radii.append(cert.covering_radius)
    slope = np.polyfit(np.log([256, 1024, 4096, 16384]), np.log(floors), 1)[0]
    # covering radius ~ n^{-1/2} on S^2, and the floor is L r nu*(S^2)
    assert -0.6 < slope < -0.4
    assert np.all(np.diff(floors) < 0)


def test_weight_decay_uses_energy_over_lambda():
    rng = np.random.default_rng(3)
    model = TeacherStudent(_teacher(2, 4, 1), weight_decay=0.1)
    nu = wgf.Measure(sphere.sample_uniform(10, 2, rng), rng.random(10))
    cert = wgf.optimality_certificate(model, nu, n_points=512)
    assert cert.minimiser_mass == pytest.approx(cert.energy / 0.1)


def test_certificate_unavailable_in_high_dimension():
    model = TeacherStudent(_teacher(3, 2, 0))
    nu = wgf.Measure(sphere.sample_uniform(4, 3, 0), np.ones(4))
    with pytest.raises(ValueError, match="S\\^1 and S\\^2"):
        wgf.optimality_certificate(model, nu)
