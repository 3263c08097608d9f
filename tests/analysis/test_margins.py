"""Max-margin references for the implicit-bias experiments, each checked independently: LP duality,
the SVM primal against its dual, the F2 kernel against Monte Carlo."""

import numpy as np
import pytest
from scipy.optimize import minimize

import wgf
from wgf.analysis import margins
from wgf.geometry import sphere


def test_cluster_data_layout():
    X, y = margins.cluster_classification_data(500, d=5, k=3, seed=1)
    assert X.shape == (500, 5) and set(np.unique(y)) == {-1.0, 1.0}
    assert np.all(np.abs(X) <= 0.5)
    # the first two coordinates lie in k^2 disjoint disks of radius 1/(3k-1)
    r = 1 / 8
    centres = -0.5 + r + 3 * r * np.arange(3)
    dist = np.min(np.hypot(X[:, :1] - centres[None, :], 0 * X[:, :1]), axis=1)
    assert np.all(dist <= r + 1e-12)


def test_f1_lp_is_optimal_by_duality_and_monotone_in_directions():
    X, y = margins.cluster_classification_data(60, d=2, k=3, seed=2)
    F = margins.add_bias(X)
    U = sphere.quasi_uniform_points(600, 2)
    gamma, c, _ = margins.f1_max_margin(F, y, U)
    Phi = np.maximum(F @ U.T, 0)
    # primal feasibility
    assert np.abs(c).sum() <= 1 + 1e-9
    assert np.min(y * (Phi @ c)) >= gamma - 1e-9
    # weak duality: for any probability lambda on samples, gamma <= max_k |sum_i lambda_i y_i phi_k(x_i)|;
    # the LP's own dual (the optimal lambda) attains it
    rng = np.random.default_rng(0)
    for _ in range(20):
        lam = rng.dirichlet(np.ones(len(y)))
        assert gamma <= np.abs((lam * y) @ Phi).max() + 1e-12
    # a subset of directions cannot do better
    sub, _, _ = margins.f1_max_margin(F, y, U[::3])
    assert sub <= gamma + 1e-12


def test_kernel_svm_dual_matches_primal():
    rng = np.random.default_rng(3)
    X, y = margins.cluster_classification_data(40, d=2, k=2, seed=4)
    F = margins.add_bias(X)
    B = sphere.sample_uniform(300, 2, rng)
    Phi = np.maximum(F @ B.T, 0) / np.sqrt(300)
    gamma, alpha = margins.kernel_max_margin(Phi @ Phi.T, y)
    # primal: min |w|^2 s.t. y_i Phi_i w >= 1, solved independently with SLSQP
    cons = {"type": "ineq", "fun": lambda w: y * (Phi @ w) - 1, "jac": lambda w: y[:, None] * Phi}
    w0 = np.linalg.lstsq(Phi, y * 2, rcond=None)[0]
    res = minimize(lambda w: (w @ w, 2 * w), w0, jac=True, constraints=[cons], method="SLSQP",
                   options={"ftol": 1e-14, "maxiter": 1000})
    # SLSQP may end on a line-search warning at the optimum: check feasibility instead of its flag
    assert np.min(y * (Phi @ res.x)) >= 1 - 1e-8
    assert gamma == pytest.approx(1 / np.linalg.norm(res.x), rel=1e-5)


def test_linear_kernel_two_points():
    F = np.array([[1.0, 0.0], [-1.0, 0.0], [0.5, 3.0]])
    y = np.array([1.0, -1.0, 1.0])
    gamma, _ = margins.kernel_max_margin(F @ F.T, y)
    # max over unit w of min(w1, w1, 0.5 w1 + 3 w2): balanced at w2 = w1 / 6, so gamma = 6 / sqrt(37)
    assert gamma == pytest.approx(6 / np.sqrt(37), rel=1e-6)


def test_f2_kernel_monte_carlo():
    rng = np.random.default_rng(5)
    F = margins.add_bias(rng.uniform(-0.5, 0.5, (4, 2)))
    n = 1_000_000
    B = sphere.sample_uniform(n, 2, rng)
    A = np.maximum(F @ B.T, 0)
    est = A @ A.T / n
    prod = (A[:, None, :] * A[None, :, :]).reshape(16, n)
    se = prod.std(axis=1).reshape(4, 4) / np.sqrt(n)
    assert np.all(np.abs(est - margins.f2_kernel(F)) <= 4 * se)


def test_flow_margin_below_lp_when_its_directions_are_available():
    rng = np.random.default_rng(6)
    X, y = margins.cluster_classification_data(50, d=2, k=2, seed=7)
    F = margins.add_bias(X)
    nu = wgf.Measure(sphere.sample_uniform(30, 3, rng), rng.random(30))
    m = margins.normalised_margin(nu, F, y)
    U = np.concatenate([sphere.normalize(nu.points[:, 1:]), sphere.quasi_uniform_points(200, 2)])
    gamma, _, _ = margins.f1_max_margin(F, y, U)
    assert m["by_ab"] <= gamma + 1e-12
    assert m["by_mass"] <= 0.5 * gamma + 1e-12


# ---------------------------------------------------------------------------------------------- brackets
def _dense_max_abs(F, w, n=400_001):
    """max over n equispaced angles of |sum_i w_i relu(u . x_i)| on S^1 (an independent estimate)."""
    th = np.linspace(0.0, 2 * np.pi, n)
    U = np.column_stack([np.cos(th), np.sin(th)])
    return np.abs(np.maximum(U @ F.T, 0.0) @ w).max()


def test_max_abs_relu_sum_exact_on_the_circle_against_a_dense_scan():
    rng = np.random.default_rng(11)
    for _ in range(5):
        F = rng.normal(size=(25, 2))
        w = rng.normal(size=25)
        top = margins.max_abs_relu_sum(F, w)
        dense = _dense_max_abs(F, w)
        # the scan is a lower bound within (Lipschitz constant) x (half the spacing)
        assert dense <= top.upper + 1e-12
        assert top.upper - dense <= np.abs(w) @ np.linalg.norm(F, axis=1) * np.pi / 400_000
        assert top.value == top.upper and top.certified
        assert abs(np.abs(np.maximum(F @ top.argmax, 0) @ w) - top.value) < 1e-12


def test_max_abs_relu_sum_on_s2_brackets_the_circle_answer_for_planar_data():
    # data in the plane x_3 = 0: g(u) = |u_12| g(u_12 / |u_12|), so the max over S^2 is the max over S^1
    rng = np.random.default_rng(12)
    F = rng.normal(size=(30, 2))
    w = rng.normal(size=30)
    exact = margins.max_abs_relu_sum(F, w).upper
    top = margins.max_abs_relu_sum(np.column_stack([F, np.zeros(30)]), w, rtol=1e-6)
    assert top.value <= exact + 1e-12 <= top.upper + 2e-12
    assert top.upper - top.value <= 1e-6 * top.value + 1e-12


def test_max_abs_relu_sum_on_s2_against_a_dense_fibonacci_scan():
    rng = np.random.default_rng(13)
    F = margins.add_bias(rng.uniform(-0.5, 0.5, (40, 2)))
    w = rng.normal(size=40) / 40
    top = margins.max_abs_relu_sum(F, w, rtol=1e-5)
    U = sphere.fibonacci_sphere(400_000)
    dense = np.abs(np.maximum(U @ F.T, 0.0) @ w).max()
    assert dense <= top.upper + 1e-15
    assert top.value <= top.upper
    # the scan's spacing is about 0.006 rad: its maximum is within a Lipschitz step of the true one
    assert top.upper - dense <= (np.abs(w) @ np.linalg.norm(F, axis=1)) * 0.006


def test_cap_bounds_kernel_matches_numpy_and_bounds_samples_in_the_cap():
    rng = np.random.default_rng(14)
    F = rng.normal(size=(20, 3))
    w = rng.normal(size=20)
    P = sphere.sample_uniform(200, 2, rng)
    R = rng.uniform(0.0, 0.5, 200)
    nF = np.linalg.norm(F, axis=1)
    ub = margins.cap_upper_bounds(F, nF, w, P, R)
    assert np.allclose(ub, margins.cap_upper_bounds_numpy(F, nF, w, P, R), rtol=1e-12, atol=1e-13)
    # points sampled inside each cap never exceed its bound
    for c in range(0, 200, 10):
        v = sphere.sample_uniform(2000, 2, rng)
        t = sphere.tangent_project(np.repeat(P[c:c + 1], 2000, 0), v)
        t *= (R[c] * rng.random(2000) / np.linalg.norm(t, axis=1))[:, None]
        inside = sphere.exp_map(np.repeat(P[c:c + 1], 2000, 0), t)
        assert np.abs(np.maximum(inside @ F.T, 0) @ w).max() <= ub[c] + 1e-12


@pytest.mark.parametrize("phi, exact", [(np.pi / 3, np.sqrt(3) / 4),   # maximiser on a kink
                                        (2 * np.pi / 3, 0.5)])
def test_f1_bracket_two_opposite_labels_closed_form(phi, exact):
    # x1 = e1 (y = +1), x2 = (cos phi, sin phi) (y = -1). With lambda = (1/2, 1/2) the dual function
    # (relu(u.x1) - relu(u.x2)) / 2 has max sin(phi)/2 for phi <= pi/2 (at u orthogonal to x2) and 1/2
    # beyond (at u = x1, where u.x2 <= 0); f = (relu(v.x) - relu(v'.x))/2 with the two maximisers attains it
    F = np.array([[1.0, 0.0], [np.cos(phi), np.sin(phi)]])
    y = np.array([1.0, -1.0])
    prev = None
    for K in (10, 40, 160, 640):
        r = margins.f1_max_margin(F, y, K)
        assert r.lower <= exact + 1e-9 and exact <= r.upper + 1e-12
        assert r.lower == pytest.approx(r.gamma, abs=1e-9)
        width = r.upper - r.lower
        if prev is not None:
            assert width <= prev
        prev = width
    assert prev <= 2e-3


def test_f1_bracket_interior_maximiser_closes_at_second_order():
    # two points of the same label at a right angle: gamma_F1 = 1/sqrt 2 (one neuron along (1, 1))
    F = np.eye(2)
    y = np.ones(2)
    Ks = np.array([12, 24, 48, 96, 192])
    gaps = []
    for K in Ks:
        r = margins.f1_max_margin(F, y, sphere.circle_points(int(K), offset=0.3))
        assert r.lower <= 1 / np.sqrt(2) + 1e-12 <= r.upper + 2e-12
        gaps.append(1 / np.sqrt(2) - r.lower)
    slope = np.polyfit(np.log(1.0 / Ks), np.log(gaps), 1)[0]
    assert 1.8 < slope < 2.2, slope


def test_f1_bracket_converges_on_one_dimensional_data_with_bias():
    rng = np.random.default_rng(15)
    x = rng.uniform(-1, 1, 20)
    y = np.where(np.sin(4 * x) > 0, 1.0, -1.0)
    F = margins.add_bias(x[:, None])
    Ks = np.array([50, 100, 200, 400, 800])
    res = [margins.f1_max_margin(F, y, int(K)) for K in Ks]
    lows = np.array([r.lower for r in res])
    ups = np.array([r.upper for r in res])
    assert np.all(ups >= lows)
    assert lows.max() <= ups.min() + 1e-12  # every lower bound below every upper bound
    slope = np.polyfit(np.log(1.0 / Ks), np.log(ups - lows), 1)[0]
    assert slope > 1.5, slope
    assert (ups[-1] - lows[-1]) / lows[-1] < 1e-4


def test_f1_exchange_rounds_narrow_the_bracket_on_s2():
    X, y = margins.cluster_classification_data(40, d=2, k=3, seed=2)
    F = margins.add_bias(X)
    plain = margins.f1_max_margin(F, y, 500)
    ex = margins.f1_max_margin(F, y, 500, exchange=3)
    assert plain.certified and ex.certified
    assert ex.lower >= plain.lower - 1e-12
    assert ex.lower <= plain.upper + 1e-12 and plain.lower <= ex.upper + 1e-12
    assert ex.upper - ex.lower < 0.5 * (plain.upper - plain.lower)
    assert len(ex.directions) > 500
    # the old tuple interface
    gamma, c, U = ex
    assert gamma == ex[0] == ex.gamma and U is ex.directions and np.abs(c).sum() <= 1 + 1e-9


def test_f1_upper_bound_not_certified_in_higher_dimension():
    rng = np.random.default_rng(16)
    F = margins.add_bias(rng.uniform(-0.5, 0.5, (10, 3)))
    y = np.where(F[:, 0] > 0, 1.0, -1.0)
    r = margins.f1_max_margin(F, y, 256)
    assert not r.certified and r.upper == np.inf and r.lower <= r.gamma + 1e-9


def test_kernel_max_margin_bracket_closes():
    rng = np.random.default_rng(17)
    X, y = margins.cluster_classification_data(40, d=2, k=2, seed=4)
    r = margins.kernel_max_margin(margins.f2_kernel(margins.add_bias(X)), y)
    gamma, alpha = r
    assert gamma <= r.upper * (1 + 1e-12)
    assert r.upper - gamma <= 1e-8 * gamma
    # any other lambda in the simplex gives a larger dual bound
    Q = (y[:, None] * y[None, :]) * margins.f2_kernel(margins.add_bias(X))
    for _ in range(10):
        lam = rng.dirichlet(np.ones(40))
        assert np.sqrt(lam @ Q @ lam) >= r.upper - 1e-12


def test_max_abs_relu_sum_validation():
    with pytest.raises(ValueError, match="weights"):
        margins.max_abs_relu_sum(np.ones((3, 2)), np.ones(2))
    with pytest.raises(ValueError, match="finite"):
        margins.max_abs_relu_sum(np.array([[np.nan, 1.0]]), np.ones(1))
    with pytest.raises(ValueError, match="rtol"):
        margins.max_abs_relu_sum(np.ones((3, 3)), np.ones(3), rtol=-1.0)
    with pytest.raises(ValueError, match="exchange"):
        margins.f1_max_margin(np.eye(2), np.ones(2), 10, exchange=-1)
    top = margins.max_abs_relu_sum(np.zeros((3, 3)), np.ones(3))  # g = 0
    assert top.upper == top.value == 0.0
