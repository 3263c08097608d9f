"""Distances between solutions: predictor distance (exact and Monte Carlo), potentials and energies against
the interaction matrix, and the Hellinger–Kantorovich / WFR distance against closed forms, an independent
solver and its entropic convergence."""

import math

import numpy as np
import pytest

import wgf
from wgf.geometry import sphere
from wgf.analysis.distances import MAX_PLAN_ENTRIES, hk_cost, hellinger_kantorovich, wfr_distance


def _teacher(dx, m0, seed):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.choice([-1.0, 1.0], m0), sphere.sample_uniform(m0, dx - 1, rng)])


def _random_measure(n, d, rng, scale=1.0):
    return wgf.Measure(sphere.sample_uniform(n, d, rng), scale * rng.uniform(0.2, 1.0, n))


def _slope(x, y):
    return np.polyfit(np.log(x), np.log(y), 1)[0]


# ---------------------------------------------------------------------------------------------- predictors
def test_predictor_distance_exact_and_monte_carlo():
    rng = np.random.default_rng(0)
    model = wgf.TeacherStudent(_teacher(3, 4, 0))
    mu, nu = _random_measure(6, 3, rng), _random_measure(9, 3, rng)
    exact = wgf.predictor_distance(model, mu, nu)
    assert exact == pytest.approx(model.distance(mu, nu), rel=1e-14)

    class NoClosedForm(wgf.TeacherStudent):
        def distance(self, mu, nu):
            raise NotImplementedError

    mc_model = NoClosedForm(model.teacher)
    n = 200_000
    mc = wgf.predictor_distance(mc_model, mu, nu, n_samples=n, seed=3)
    # standard error of the mean of (h_mu - h_nu)^2, from a pilot sample, propagated to the square root
    x = model.sample_inputs(20_000, np.random.default_rng(4))
    sq = (model.predict(mu, x) - model.predict(nu, x)) ** 2
    se = sq.std() / math.sqrt(n) / (2 * exact)
    assert abs(mc - exact) < 5 * se
    assert wgf.predictor_distance(model, mu, mu) == 0.0


def test_potential_and_energy_differences_against_the_interaction_matrix():
    """J(.|mu) - J(.|nu) = K(mu - nu) (the quadratic model's interaction matrix, an independent code path)
    and F = 1/2 <nu - nu*, K(nu - nu*)>."""
    rng = np.random.default_rng(1)
    model = wgf.TeacherStudent(_teacher(2, 3, 1))
    mu, nu = _random_measure(7, 2, rng), _random_measure(5, 2, rng)
    pts = sphere.fibonacci_sphere(500)
    K = lambda A: model.interaction(pts, A)  # noqa: E731
    expected = np.abs(K(mu.points) @ mu.masses - K(nu.points) @ nu.masses).max()
    assert wgf.sup_potential_difference(model, mu, nu, pts) == pytest.approx(expected, rel=1e-10)
    T = model.teacher_measure

    def F(m):
        P = np.concatenate([m.points, T.points])
        c = np.concatenate([m.masses, -T.masses])
        return 0.5 * c @ model.interaction(P, P) @ c

    assert wgf.energy_difference(model, mu, nu) == pytest.approx(F(mu) - F(nu), rel=1e-10)
    with pytest.raises(ValueError, match="evaluation points"):
        wgf.sup_potential_difference(model, mu, nu, np.ones((4, 3)))
    with pytest.raises(ValueError, match="dimension mismatch"):
        wgf.energy_difference(model, mu, _random_measure(3, 3, rng))
    with pytest.raises(ValueError, match="Model"):
        wgf.predictor_distance("model", mu, nu)


# ---------------------------------------------------------------------------------------------- HK: closed forms
def _dirac(point, mass):
    return wgf.Measure(np.asarray(point, float)[None, :], [mass])


def _at_angle(theta):
    return np.array([math.cos(theta), math.sin(theta), 0.0])


def hk2_diracs(a, b, d):
    """HK^2(a delta_x, b delta_y) = a + b - 2 sqrt(ab) cos(min(d, pi/2)) (optimal plan sqrt(ab) cos d)."""
    return a + b - 2 * math.sqrt(a * b) * math.cos(min(d, math.pi / 2))


@pytest.mark.parametrize("theta", [0.0, 0.3, 1.0, 1.5, math.pi / 2, 2.0, 3.0])
def test_hk_two_diracs_exact(theta):
    a, b = 0.7, 1.9
    x, y = _dirac(_at_angle(0.0), a), _dirac(_at_angle(theta), b)
    r = hellinger_kantorovich(x, y, epsilon=0.0)
    assert r.squared == pytest.approx(hk2_diracs(a, b, theta), abs=1e-12)
    assert r.epsilon == 0.0 and not r.debiased and r.converged
    assert float(r) == r.distance == pytest.approx(math.sqrt(r.squared))
    # symmetric
    assert hellinger_kantorovich(y, x, epsilon=0.0).squared == pytest.approx(r.squared, abs=1e-12)


def test_hk_pure_mass_change_empty_and_homogeneity():
    x = _at_angle(0.4)
    for a, b in [(1.0, 4.0), (0.3, 0.3), (2.5, 0.1)]:
        r = hellinger_kantorovich(_dirac(x, a), _dirac(x, b), epsilon=0.0)
        assert r.squared == pytest.approx((math.sqrt(a) - math.sqrt(b)) ** 2, abs=1e-12)
    rng = np.random.default_rng(2)
    mu = _random_measure(5, 2, rng)
    empty = wgf.Measure(np.zeros((0, 3)), np.zeros(0))
    for eps in (0.0, 0.05):
        # the plan to an empty measure is 0 and so is the entropic term (KL(0 | mu x 0) = 0)
        r = hellinger_kantorovich(mu, empty, epsilon=eps, debias=False)
        assert r.squared == pytest.approx(mu.total_mass, rel=1e-12)
    # atoms of zero mass are ignored
    z = wgf.Measure(np.vstack([mu.points, _at_angle(1.0)]), np.append(mu.masses, 0.0))
    assert hellinger_kantorovich(z, mu, epsilon=0.0).squared == pytest.approx(0.0, abs=1e-10)
    # HK^2 is 1-homogeneous in the pair of measures: HK^2(l mu, l nu) = l HK^2(mu, nu) (cost on plans,
    # KL terms all scale by l)
    nu = _random_measure(4, 2, rng)
    r1 = hellinger_kantorovich(mu, nu, epsilon=0.0, max_iter=20_000)
    r3 = hellinger_kantorovich(wgf.Measure(mu.points, 3 * mu.masses), wgf.Measure(nu.points, 3 * nu.masses),
                               epsilon=0.0, max_iter=20_000)
    assert r3.squared == pytest.approx(3 * r1.squared, rel=1e-6)


def test_hk_cost_is_infinite_beyond_a_quarter_turn():
    P = np.array([_at_angle(0.0)])
    Q = np.array([_at_angle(t) for t in (0.0, 1.0, math.pi / 2, 2.5)])
    c = hk_cost(P, Q)[0]
    assert c[0] == 0.0 and c[1] == pytest.approx(-math.log(math.cos(1.0) ** 2))
    assert np.isinf(c[2]) and np.isinf(c[3])
    c_inf = hk_cost(P, Q, length_scale=math.inf)[0]
    assert c_inf[0] == 0.0 and np.all(np.isinf(c_inf[1:]))


# ---------------------------------------------------------------------------------------------- HK: entropic
def test_entropic_dirac_values_converge():
    """Two Diracs at distance 0.8 (and a pure mass change): OT_eps and the debiased S_eps tend to the
    closed form at first order in epsilon (fitted slope ~1 over four epsilon), the unregularised cost of the
    entropic plan at second order."""
    a, b = 0.7, 1.9
    eps_list = [0.08, 0.04, 0.02, 0.01]
    for theta in (0.0, 0.8):
        x, y = _dirac(_at_angle(0.0), a), _dirac(_at_angle(theta), b)
        exact = hk2_diracs(a, b, theta)
        e_raw, e_deb, e_pri = [], [], []
        for eps in eps_list:
            r = hellinger_kantorovich(x, y, epsilon=eps, debias=True)
            assert r.epsilon == eps and r.debiased and r.converged
            e_raw.append(abs(r.entropic - exact))
            e_deb.append(abs(r.squared - exact))
            e_pri.append(r.primal - exact)
            assert r.primal >= exact - 1e-12  # a feasible plan's cost bounds the minimum from above
        assert abs(_slope(eps_list, e_raw) - 1) < 0.1
        assert abs(_slope(eps_list, e_deb) - 1) < 0.1
        assert abs(_slope(eps_list, e_pri) - 2) < 0.15


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # SciPy on POT's L-BFGS-B options
def test_exact_solver_against_an_independent_one():
    """Random measures on S^2 (some pairs beyond pi/2): the MM solver (epsilon = 0) agrees with POT's
    L-BFGS-B on the same objective (infinite costs replaced by 80: an entry there would cost at least
    sqrt(ab) e^{-40} of plan), and the entropic plans' unregularised costs bound it from above."""
    import ot

    rng = np.random.default_rng(7)
    mu, nu = _random_measure(8, 2, rng), _random_measure(10, 2, rng)
    exact = hellinger_kantorovich(mu, nu, epsilon=0.0, max_iter=200_000, tol=1e-13)
    assert exact.converged
    M = hk_cost(mu.points, nu.points)
    assert np.any(~np.isfinite(M))
    G = ot.unbalanced.lbfgsb_unbalanced(mu.masses, nu.masses, np.where(np.isfinite(M), M, 80.0), 0.0, 1.0,
                                        numItermax=50_000, stopThr=1e-15)
    G[~np.isfinite(M)] = 0.0
    fin = np.isfinite(M)
    kl = lambda p, q: float(np.sum(np.where(p > 0, p * np.log(p / q), 0) - p + q))  # noqa: E731
    ref = float(np.sum(G[fin] * M[fin])) + kl(G.sum(1), mu.masses) + kl(G.sum(0), nu.masses)
    assert exact.squared == pytest.approx(ref, rel=1e-6)
    for eps in (0.04, 0.01):
        assert hellinger_kantorovich(mu, nu, epsilon=eps).primal >= exact.squared - 1e-9


def test_entropic_convergence_between_nearby_solutions():
    """Two nearby measures (20 atoms moved by ~0.1 and masses changed by up to 20%: two approximations of
    one solution): OT_eps and the debiased S_eps converge to the exact HK^2 at first order (fitted slopes over
    four epsilon), S_eps with errors at least 20x smaller than OT_eps's (the entropic bias
    eps KL(gamma | mu x nu) grows with the number of atoms and debiasing removes most of it)."""
    rng = np.random.default_rng(8)
    pts = sphere.sample_uniform(20, 2, rng)
    m = rng.uniform(0.2, 1.0, 20)
    mu = wgf.Measure(pts, m)
    nu = wgf.Measure(sphere.normalize(pts + 0.1 * rng.standard_normal(pts.shape)), m * rng.uniform(0.8, 1.2, 20))
    exact = hellinger_kantorovich(mu, nu, epsilon=0.0, max_iter=200_000, tol=1e-13)
    assert exact.converged
    eps_list = [0.02, 0.01, 0.005, 0.0025]
    e_raw, e_deb = [], []
    for eps in eps_list:
        r = hellinger_kantorovich(mu, nu, epsilon=eps, debias=True)
        assert r.converged
        e_raw.append(abs(r.entropic - exact.squared))
        e_deb.append(abs(r.squared - exact.squared))
        assert r.primal >= exact.squared - 1e-9
    assert all(d < e / 20 for d, e in zip(e_deb, e_raw)), (e_deb, e_raw)
    # first order for OT_eps; S_eps at least first order (over this range its fitted slope is ~1.2)
    assert abs(_slope(eps_list, e_raw) - 1) < 0.1 and _slope(eps_list, e_deb) > 0.8, (e_raw, e_deb)


# ---------------------------------------------------------------------------------------------- WFR scaling
@pytest.mark.parametrize("alpha,beta", [(4.0, 1.0), (1.0, 1.0), (4.0, 4.0), (2.0, 0.5), (3.0, 0.0)])
def test_wfr_scaling_closed_form(alpha, beta):
    """WFR^2_{alpha,beta}(a delta_x, b delta_y) = (4/alpha) (a + b - 2 sqrt(ab) cos(min(s d, pi/2))),
    s = sqrt(alpha/(4 beta)) (s = inf when beta = 0: pure Fisher-Rao/Hellinger)."""
    a, b, theta = 0.6, 1.3, 0.7
    x, y = _dirac(_at_angle(0.0), a), _dirac(_at_angle(theta), b)
    s = math.inf if beta == 0 else math.sqrt(alpha / (4 * beta))
    d = theta * s if beta > 0 else math.inf
    expected = 4 / alpha * hk2_diracs(a, b, d)
    r = wfr_distance(x, y, alpha, beta, epsilon=0.0)
    assert r.squared == pytest.approx(expected, abs=1e-12)
    same = wfr_distance(x, _dirac(_at_angle(0.0), b), alpha, beta, epsilon=0.0)
    assert same.squared == pytest.approx(4 / alpha * (math.sqrt(a) - math.sqrt(b)) ** 2, abs=1e-12)
    if (alpha, beta) == (4.0, 1.0):
        assert r.squared == hellinger_kantorovich(x, y, epsilon=0.0).squared


def test_hk_bad_inputs():
    rng = np.random.default_rng(3)
    mu, nu = _random_measure(4, 2, rng), _random_measure(3, 2, rng)
    with pytest.raises(ValueError, match="epsilon"):
        hellinger_kantorovich(mu, nu, epsilon=-0.1)
    with pytest.raises(ValueError, match="debias"):
        hellinger_kantorovich(mu, nu, debias="yes")
    with pytest.raises(ValueError, match="mu"):
        hellinger_kantorovich(mu.points, nu)
    with pytest.raises(ValueError, match="share a sphere"):
        hellinger_kantorovich(mu, _random_measure(3, 3, rng))
    with pytest.raises(ValueError, match="alpha"):
        wfr_distance(mu, nu, alpha=0.0)
    with pytest.raises(ValueError, match="beta"):
        wfr_distance(mu, nu, beta=-1.0)
    with pytest.raises(ValueError, match="length_scale"):
        hellinger_kantorovich(mu, nu, length_scale=0.0)
    far = _dirac(_at_angle(0.0), 1.0)
    near_far = _dirac(_at_angle(1.4), 1.0)  # cost -log cos^2 1.4 = 5.1: exp(-5.1/eps) underflows at 1e-3
    with pytest.raises(ValueError, match="too small"):
        hellinger_kantorovich(far, near_far, epsilon=1e-3)
    n = int(math.isqrt(MAX_PLAN_ENTRIES)) + 1
    big = wgf.Measure(sphere.fibonacci_sphere(n), np.ones(n))
    with pytest.raises(ValueError, match="MAX_PLAN_ENTRIES"):
        hellinger_kantorovich(big, big)
