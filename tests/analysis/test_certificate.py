"""The optimality certificate: a valid upper bound on F(nu) - F*, tested on problems whose minimiser is
known (a realisable teacher, F* = 0; a single BLASSO spike, whose minimiser is the spike shrunk by
lambda / K(x, x)), with its lower bounds on min J checked by dense sampling and its floor's order in the
covering radius fitted over four coverings."""

import math

import numpy as np
import pytest

import wgf
from wgf.geometry import sphere
from wgf.models import EmpiricalReLU, SpikeDeconvolution, TeacherStudent


def _teacher(dx, m0, seed):
    rng = np.random.default_rng(seed)
    b = sphere.sample_uniform(m0, dx - 1, rng)
    return np.column_stack([rng.choice([-1.0, 1.0], m0), b])


def _near(nu, eps, rng):
    """A measure close to nu: masses scaled by 1 + eps u, points moved by ~eps."""
    pts = sphere.normalize(nu.points + eps * rng.standard_normal(nu.points.shape))
    return wgf.Measure(pts, nu.masses * (1 + eps * rng.uniform(-1, 1, nu.size)))


def _dense_min(model, nu, n, rng):
    P = sphere.fibonacci_sphere(n) if model.dim == 2 else sphere.circle_points(n, offset=0.123)
    return model.potential(P, nu)[0].min()


# ------------------------------------------------------------------------------------ Lipschitz bounds
@pytest.mark.parametrize("dx", [1, 2])
def test_lipschitz_bound_dominates_gradient(dx):
    rng = np.random.default_rng(dx)
    model = TeacherStudent(_teacher(dx, 3, dx))
    P = sphere.sample_uniform(20_000, dx, rng)
    far = wgf.Measure(sphere.sample_uniform(20, dx, rng), rng.random(20))
    for nu in (far, _near(model.teacher_measure, 1e-2, rng), _near(model.teacher_measure, 1e-4, rng)):
        _, G = model.potential(P, nu)
        assert np.linalg.norm(G, axis=1).max() <= model.potential_lipschitz(nu)


def test_residual_lipschitz_bound_vanishes_at_the_teacher():
    """Near nu* the Cauchy–Schwarz bound sqrt(R) is the smaller one and tends to 0 like sqrt(F); the
    sampled gradient stays below it (Gaussian and uniform-sphere inputs)."""
    rng = np.random.default_rng(7)
    for inputs in ("gaussian", "sphere"):
        model = TeacherStudent(_teacher(2, 4, 1), inputs=inputs)
        P = sphere.sample_uniform(20_000, 2, rng)
        for eps in (1e-1, 1e-2, 1e-3):
            nu = _near(model.teacher_measure, eps, rng)
            L, F = model.potential_lipschitz(nu), model.energy(nu)
            assert L == pytest.approx(math.sqrt(model.scale * F), rel=1e-6)
            assert np.linalg.norm(model.potential(P, nu)[1], axis=1).max() <= L


# ------------------------------------------------------------------------------------ known minimisers
@pytest.mark.parametrize("dx", [1, 2])
@pytest.mark.parametrize("method", ["lipschitz", "homogeneous"])
@pytest.mark.parametrize("seed", range(3))
def test_certificate_bounds_the_optimality_gap(dx, method, seed):
    rng = np.random.default_rng(10 * seed + dx)
    model = TeacherStudent(_teacher(dx, 4, seed))
    n = int(rng.integers(3, 40))
    nu = wgf.Measure(sphere.sample_uniform(n, dx, rng), rng.random(n) * rng.uniform(0.1, 3))
    for mu in (nu, _near(model.teacher_measure, 0.05, rng)):
        cert = wgf.optimality_certificate(model, mu, n_points=1024, method=method)
        assert cert.method == method
        # realisable teacher: F* = 0
        assert cert.energy <= cert.gap_bound
        assert cert.min_J_lower <= cert.min_J_local <= cert.min_J_grid
        # the guaranteed lower bound holds at many points
        assert cert.min_J_lower <= _dense_min(model, mu, 100_000, rng)


@pytest.mark.parametrize("dx", [1, 2])
def test_homogeneous_minimum_is_a_maximum_on_one_sphere_less(dx):
    """J(a, b) = a f(b): min over S^dx equals -max |J((1, u)/sqrt2)| over u in S^(dx-1), exactly for
    dx = 1 (two points), within L pi / (n sqrt2) for dx = 2 (n points on the circle)."""
    rng = np.random.default_rng(3)
    model = TeacherStudent(_teacher(dx, 3, 5), weight_decay=0.01)
    nu = wgf.Measure(sphere.sample_uniform(15, dx, rng), rng.random(15))
    cert = wgf.optimality_certificate(model, nu, n_points=4096, method="homogeneous", local_starts=0)
    dense = _dense_min(model, nu, 400_000, rng)
    assert cert.min_J_lower <= dense
    if dx == 1:
        assert cert.covering_radius == 0 and cert.min_J_lower == cert.min_J_grid
        assert dense - cert.min_J_grid < 1e-6 * abs(cert.min_J_grid)  # the minimum is attained
    else:
        slack = cert.lipschitz * math.pi / 4096 / math.sqrt(2)
        assert cert.min_J_grid - cert.min_J_lower == pytest.approx(slack, rel=1e-6)
        # the dense points (covering radius ~ 0.006) give an upper bound on min J close to the grid's
        assert cert.min_J_grid - slack <= dense <= cert.min_J_grid + 0.01 * cert.lipschitz


def test_certificate_at_the_teacher_is_zero_with_the_homogeneous_bound():
    model = TeacherStudent(_teacher(2, 4, 0))
    cert = wgf.optimality_certificate(model, model.teacher_measure, n_points=1024)
    assert cert.method == "homogeneous"
    assert abs(cert.energy) < 1e-12 and 0 <= cert.gap_bound < 1e-6


def test_lipschitz_floor_shrinks_like_the_covering_radius():
    """Away from the minimiser the Lipschitz covering term L r nu*(S^2) dominates the floor; on S^2 the
    radius is ~ n^{-1/2}."""
    rng = np.random.default_rng(0)
    model = TeacherStudent(_teacher(2, 4, 0))
    nu = _near(model.teacher_measure, 0.05, rng)
    ns = [256, 1024, 4096, 16384]
    terms = []
    for n in ns:
        c = wgf.optimality_certificate(model, nu, n_points=n, method="lipschitz", local_starts=0)
        terms.append(c.min_J_grid - c.min_J_lower)
        assert c.gap_bound >= c.energy
    assert np.all(np.diff(terms) < 0)
    assert -0.6 < np.polyfit(np.log(ns), np.log(terms), 1)[0] < -0.4


def test_weight_decay_uses_energy_over_lambda():
    rng = np.random.default_rng(3)
    model = TeacherStudent(_teacher(2, 4, 1), weight_decay=0.1)
    nu = wgf.Measure(sphere.sample_uniform(10, 2, rng), rng.random(10))
    cert = wgf.optimality_certificate(model, nu, n_points=512)
    assert cert.minimiser_mass == pytest.approx(cert.energy / 0.1)


# ------------------------------------------------------------------------------------ BLASSO
def _single_spike(dim, degree, lam=0.3):
    x0 = sphere.normalize(np.array([[0.3, -0.8, 0.5][: dim + 1]]))
    return SpikeDeconvolution(x0, [0.9], degree, lam), x0


@pytest.mark.parametrize("dim, degree", [(1, 8), (2, 6)])
def test_single_spike_minimiser_is_shrunk_by_lambda_over_peak(dim, degree):
    """J(.|c delta_x0) = (c - w) K(. , x0) + lambda; at c = w - lambda/K(x0, x0) it is
    lambda (1 - K/K(x0, x0)) >= 0 with equality at x0 (|K(x, x0)| <= K(x0, x0)): the KKT conditions."""
    model, x0 = _single_spike(dim, degree)
    star = wgf.Measure(x0, [0.9 - 0.3 / model.kernel_peak])
    J, G = model.potential(x0, star)
    assert abs(J[0]) < 1e-12 and np.abs(G).max() < 1e-10
    rng = np.random.default_rng(1)
    assert _dense_min(model, star, 50_000, rng) >= -1e-12
    Fstar = model.energy(star)
    for s in range(5):
        n = 1 + s * 3
        nu = wgf.Measure(sphere.sample_uniform(n, dim, rng), rng.random(n))
        for method in ("lipschitz", "curvature"):
            c = wgf.optimality_certificate(model, nu, n_points=1024, method=method)
            assert c.gap_bound >= c.energy - Fstar
            assert c.min_J_lower <= _dense_min(model, nu, 50_000, rng)


@pytest.mark.parametrize("dim, degree", [(1, 8), (2, 6)])
def test_curvature_and_lipschitz_bounds_hold_along_geodesics(dim, degree):
    """Sampled first and second derivatives of J along random unit-speed great circles (central
    differences, step 1e-3: truncation error ~ 1e-7 relative) stay below L and M2, for measures far from
    and near the minimiser (where the residual bounds are the smaller ones)."""
    rng = np.random.default_rng(dim)
    model, x0 = _single_spike(dim, degree)
    star = wgf.Measure(x0, [0.9 - 0.3 / model.kernel_peak])
    far = wgf.Measure(sphere.sample_uniform(12, dim, rng), 2 * rng.random(12))
    near = wgf.Measure(sphere.normalize(x0 + 1e-2), [0.88])
    for nu in (far, near, star):
        L, M2 = model.potential_lipschitz(nu), model.potential_curvature(nu)
        p = sphere.sample_uniform(300, dim, rng)
        v = sphere.tangent_project(p, rng.standard_normal(p.shape))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        h = 1e-3
        vals = [model.potential(np.cos(k * h) * p + np.sin(k * h) * v, nu)[0] for k in (-1, 0, 1)]
        d1 = (vals[2] - vals[0]) / (2 * h)
        d2 = (vals[2] - 2 * vals[1] + vals[0]) / h**2
        assert np.abs(d1).max() <= L
        assert np.abs(d2).max() <= M2 * (1 + 1e-5)
        # the bounds are not vacuous: within a factor 4 of the sampled maxima
        assert np.abs(d2).max() > M2 / 4 or nu is star


def test_curvature_floor_is_second_order_in_the_covering_radius():
    """At the known BLASSO minimiser on S^1 (J >= 0, int J dnu* = 0) the certificate is its floor
    -min(0, min_J_lower) nu*(S^1): order 2 in the radius pi/n with the curvature bound, order 1 with the
    Lipschitz bound."""
    model, x0 = _single_spike(1, 8)
    star = wgf.Measure(x0, [0.9 - 0.3 / model.kernel_peak])
    ns = [256, 512, 1024, 2048]
    for method, order in (("curvature", 2.0), ("lipschitz", 1.0)):
        floors = [wgf.optimality_certificate(model, star, n_points=n, method=method, local_starts=0).gap_bound
                  for n in ns]
        assert min(floors) > 0
        slope = np.polyfit(np.log(ns), np.log(floors), 1)[0]
        assert -order - 0.25 < slope < -order + 0.25, (method, floors)


# ------------------------------------------------------------------------------------ availability
def test_certificate_unavailable_says_why():
    assert wgf.certificate_unavailable(TeacherStudent(_teacher(2, 2, 0))) is None
    # dx = 3: the homogeneous bound covers S^2, the Lipschitz bound would need S^3
    assert wgf.certificate_unavailable(TeacherStudent(_teacher(3, 2, 0))) is None
    why = wgf.certificate_unavailable(TeacherStudent(_teacher(3, 2, 0)), method="lipschitz")
    assert "S^1 and S^2" in why
    why = wgf.certificate_unavailable(TeacherStudent(_teacher(4, 2, 0)))
    assert "S^4" in why and "S^1 and S^2" in why
    model = TeacherStudent(_teacher(4, 2, 0))
    nu = wgf.Measure(sphere.sample_uniform(4, 4, 0), np.ones(4))
    with pytest.raises(ValueError, match="S\\^4"):
        wgf.optimality_certificate(model, nu)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 2)), rng.choice([-1.0, 1.0], 20)
    assert "no minimiser" in wgf.certificate_unavailable(EmpiricalReLU(X, y, loss="logistic"))
    assert wgf.certificate_unavailable(EmpiricalReLU(X, y, loss="logistic", weight_decay=0.1)) is None
    assert "curvature" in wgf.certificate_unavailable(TeacherStudent(_teacher(2, 2, 0)), method="curvature")
    with pytest.raises(ValueError, match="method must be one of"):
        wgf.optimality_certificate(TeacherStudent(_teacher(2, 2, 0)), wgf.Measure(sphere.sample_uniform(3, 2, 0),
                                   np.ones(3)), method="exact")


@pytest.mark.parametrize("dim, degree", [(1, 8), (2, 6)])
def test_local_refinement_is_valid_and_shrinks_the_floor(dim, degree):
    """Refined lower bounds stay below dense samples of J; at the known single-spike minimiser each
    round divides the second-order floor by (radius ratio)^2 = 64 (S^1) or 8 (S^2)."""
    model, x0 = _single_spike(dim, degree)
    star = wgf.Measure(x0, [0.9 - 0.3 / model.kernel_peak])
    rng = np.random.default_rng(4)
    nu = wgf.Measure(sphere.sample_uniform(6, dim, rng), rng.random(6))
    dense = _dense_min(model, nu, 200_000, rng)
    lows, slack = [], []
    for rounds in (0, 2, 4):
        c = wgf.optimality_certificate(model, nu, n_points=512, refine=rounds, local_starts=4)
        assert c.min_J_lower <= min(dense, c.min_J_local)
        lows.append(c.min_J_lower)
        slack.append(c.min_J_local - c.min_J_lower)
    assert lows == sorted(lows) and slack[2] < slack[0] / 10
    floors = [wgf.optimality_certificate(model, star, n_points=512, refine=k, local_starts=0).gap_bound
              for k in (1, 2, 3)]
    ratio = 64.0 if dim == 1 else 8.0
    for a, b in zip(floors, floors[1:]):
        assert ratio / 2 < a / b < ratio * 2
