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
