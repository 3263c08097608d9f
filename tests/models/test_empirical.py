"""EmpiricalReLU: the objective and potential against dense brute force, finite differences along tangent
curves, first variation, Numba against NumPy, its population limit (TeacherStudent, Monte Carlo), the
Lipschitz bound and the certificate, 2-homogeneity, evaluation on other inputs, and input validation."""

import numpy as np
import pytest
from scipy.optimize import minimize

import wgf
from helpers import (away_from_poles, check_first_variation, check_gradient_fd, random_measure,
                     relative_error)
from wgf.geometry import sphere
from wgf.models import EmpiricalReLU, TeacherStudent

CASES = [(loss, bias, lam) for loss in ("square", "logistic") for bias in (False, True) for lam in (0.0, 0.05)]


def _data(n, dx, loss, rng):
    X = rng.standard_normal((n, dx))
    y = np.sin(2 * X[:, 0]) + 0.3 * X[:, -1]
    if loss == "logistic":
        y = np.where(y > 0, 1.0, -1.0)
    return X, y


def _dense(model, nu, X=None):
    """Predictor, per-sample loss derivative and features written out with dense matrices."""
    F = model.features if X is None else (np.column_stack([X, np.ones(len(X))]) if model.bias else X)
    h = np.maximum(F @ nu.points[:, 1:].T, 0) @ (nu.masses * nu.points[:, 0])
    return F, h


def _loss(loss, h, y):
    return 0.5 * (h - y)**2 if loss == "square" else np.log1p(np.exp(-y * h))


def _dloss(loss, h, y):
    return h - y if loss == "square" else -y / (1 + np.exp(y * h))


@pytest.mark.parametrize("loss,bias,lam", CASES)
def test_energy_and_potential_match_dense_definitions(loss, bias, lam):
    rng = np.random.default_rng(1)
    X, y = _data(150, 3, loss, rng)
    model = EmpiricalReLU(X, y, loss=loss, bias=bias, weight_decay=lam)
    assert model.dim == 3 + bias
    nu = random_measure(20, model.dim, rng)
    F, h = _dense(model, nu)
    assert relative_error(model.predict(nu), h) < 1e-13
    assert model.energy(nu) == pytest.approx(np.mean(_loss(loss, h, y)) + lam * nu.total_mass, rel=1e-13)
    P = sphere.sample_uniform(40, model.dim, rng)
    g = _dloss(loss, h, y) / len(y)
    Z = F @ P[:, 1:].T
    J_dense = P[:, 0] * (g @ np.maximum(Z, 0)) + lam
    for backend in ("numba", "numpy"):
        J, G = model.potential(P, nu, backend=backend)
        assert relative_error(J, J_dense) < 1e-12


@pytest.mark.parametrize("loss,bias,lam", CASES)
def test_gradient_matches_finite_differences(loss, bias, lam):
    rng = np.random.default_rng(2)
    X, y = _data(120, 2, loss, rng)
    model = EmpiricalReLU(X, y, loss=loss, bias=bias, weight_decay=lam)
    nu = random_measure(10, model.dim, rng)
    pts = away_from_poles(sphere.sample_uniform(300, model.dim, rng), 0.98, rng)
    # away from the kinks: the tangent curve moves b . x~ by at most h |x~| for |s| <= h, so a point whose
    # every |b . x~_i| exceeds 10 h |x~_i| crosses none
    h = 1e-5
    F = model.features
    margin = np.min(np.abs(pts[:, 1:] @ F.T) / np.linalg.norm(F, axis=1), axis=1)
    pts = pts[margin > 10 * h][:40]
    assert len(pts) == 40
    for backend in ("numba", "numpy"):
        check_gradient_fd(model, nu, pts, np.random.default_rng(3), h=h, backend=backend)


@pytest.mark.parametrize("loss", ["square", "logistic"])
def test_first_variation(loss):
    rng = np.random.default_rng(4)
    X, y = _data(200, 3, loss, rng)
    model = EmpiricalReLU(X, y, loss=loss, bias=True, weight_decay=0.1)
    nu = random_measure(15, model.dim, rng)
    check_first_variation(model, nu, nu.masses * rng.uniform(-1, 1, nu.size), eps=1e-4)


@pytest.mark.parametrize("n,N,M,dx", [(1, 1, 1, 1), (700, 37, 23, 3), (1500, 300, 200, 16)])
def test_backends_agree(n, N, M, dx):
    rng = np.random.default_rng(n)
    for loss in ("square", "logistic"):
        X, y = _data(n, dx, loss, rng)
        model = EmpiricalReLU(X, y, loss=loss, bias=True, weight_decay=0.01)
        nu = random_measure(M, model.dim, rng)
        P = sphere.sample_uniform(N, model.dim, rng)
        J, G = model.potential(P, nu)
        Jr, Gr = model.potential(P, nu, backend="numpy")
        assert relative_error(J, Jr) < 1e-10 and relative_error(G, Gr) < 1e-10


def test_population_limit_is_teacher_student():
    """With Gaussian inputs and y = teacher(x), J of the empirical square loss is a Monte Carlo estimate
    of the teacher-student J: n = 1e6 samples, within 4 standard errors (estimated from the per-sample
    terms l'_i a relu(b . x_i))."""
    rng = np.random.default_rng(5)
    dx, n = 3, 1_000_000
    teacher = np.column_stack([[1.0, -0.8, 1.2], rng.standard_normal((3, dx))])
    pop = TeacherStudent(teacher, weight_decay=0.02)
    X = rng.standard_normal((n, dx))
    emp = EmpiricalReLU(X, pop.target(X), weight_decay=0.02)
    nu = random_measure(6, dx, rng)
    eta = sphere.sample_uniform(5, dx, rng)
    J_emp, _ = emp.potential(eta, nu)
    J_pop, _ = pop.potential(eta, nu)
    r = emp.predict(nu) - emp.y
    se = np.array([np.std(r * e[0] * np.maximum(X @ e[1:], 0)) for e in eta]) / np.sqrt(n)
    assert np.all(se > 0) and np.all(np.abs(J_emp - J_pop) <= 4 * se), (J_emp, J_pop, se)
    assert abs(emp.energy(nu) - pop.energy(nu)) <= 4 * np.std(0.5 * r**2) / np.sqrt(n)


def test_predictor_of_weights_equals_predictor_of_measure():
    """2-homogeneity with a bias: (1/m) sum_j a_j relu(b_j . [x; 1]) = h_nu, nu = Measure.from_weights(w)."""
    rng = np.random.default_rng(6)
    X, y = _data(50, 2, "square", rng)
    model = EmpiricalReLU(X, y, bias=True)
    w = 2.3 * rng.standard_normal((31, 4))
    x = rng.standard_normal((400, 2))
    h_net = np.maximum(x @ w[:, 1:3].T + w[:, 3], 0) @ w[:, 0] / len(w)
    assert relative_error(model.predict(wgf.Measure.from_weights(w), x), h_net) < 1e-13


def test_evaluation_on_other_inputs():
    rng = np.random.default_rng(7)
    X, y = _data(300, 2, "logistic", rng)
    model = EmpiricalReLU(X, y, loss="logistic", bias=True)
    mu, nu = random_measure(9, 3, rng), random_measure(12, 3, rng)
    Xt, yt = _data(100, 2, "logistic", rng)
    _, ht = _dense(model, mu, Xt)
    assert model.risk(mu, Xt, yt) == pytest.approx(np.mean(np.log1p(np.exp(-yt * ht))), rel=1e-13)
    assert model.classification_error(mu, Xt, yt) == np.mean(yt * ht <= 0)
    assert model.risk(mu) == pytest.approx(model.energy(mu), rel=1e-15)
    _, hm = _dense(model, mu)
    _, hn = _dense(model, nu)
    assert model.distance(mu, nu) == pytest.approx(np.sqrt(np.mean((hm - hn)**2)), rel=1e-12)
    _, hmt = _dense(model, mu, Xt)
    _, hnt = _dense(model, nu, Xt)
    assert model.distance(mu, nu, Xt) == pytest.approx(np.sqrt(np.mean((hmt - hnt)**2)), rel=1e-12)
    assert model.distance(mu, mu) == 0.0


def test_logistic_loss_is_stable_for_large_margins():
    X = np.array([[1.0], [2.0]])
    model = EmpiricalReLU(X, [1.0, -1.0], loss="logistic")
    # h = m * relu(x) with a = 1/sqrt(2), b = 1/sqrt(2): huge masses give h = +-1e6
    nu = wgf.Measure(sphere.normalize(np.array([[1.0, 1.0]])), [2e6])   # h = m relu(x) / 2 = (1e6, 2e6)
    with np.errstate(over="raise", invalid="raise"):
        F = model.energy(nu)
        J, G = model.potential(np.array([[0.6, 0.8]]), nu)
    h = model.predict(nu)
    # sample 1 (y = +1) has loss ~ exp(-h_1), sample 2 (y = -1) has loss ~ h_2
    assert F == pytest.approx(0.5 * h[1], rel=1e-12)
    assert np.all(np.isfinite(J)) and np.all(np.isfinite(G))


def test_lipschitz_bound_and_certificate():
    rng = np.random.default_rng(8)
    X, y = _data(60, 1, "square", rng)
    model = EmpiricalReLU(X, y, bias=True, weight_decay=0.05)         # on S^2
    nu = random_measure(25, 2, rng)
    L = model.potential_lipschitz(nu)
    P = sphere.sample_uniform(100_000, 2, rng)
    J, G = model.potential(P, nu)
    assert np.linalg.norm(G, axis=1).max() <= L
    # J is L-Lipschitz along geodesics, kinks included
    Q = sphere.retract(P[:2000], 0.05 * sphere.tangent_project(P[:2000], rng.standard_normal((2000, 3))))
    JQ, _ = model.potential(Q, nu)
    assert np.all(np.abs(JQ - J[:2000]) <= L * sphere.geodesic_distance(P[:2000], Q) + 1e-15)
    cert = wgf.optimality_certificate(model, nu, n_points=1024)
    assert cert.minimiser_mass == pytest.approx(cert.energy / 0.05)
    assert cert.min_J_lower <= J.min()
    # F* <= F of any measure: a reference minimiser over a fixed point set, computed with dense features
    # (L-BFGS-B on the masses), so that F(nu) - F(ref) <= F(nu) - F* <= gap_bound
    pts = sphere.fibonacci_sphere(200)
    Phi = np.maximum(model.features @ pts[:, 1:].T, 0) * pts[:, 0]     # (n, 200)

    def objective(m):
        r = Phi @ m - y
        return r @ r / (2 * len(y)) + 0.05 * m.sum(), Phi.T @ r / len(y) + 0.05

    res = minimize(objective, np.zeros(200), jac=True, method="L-BFGS-B", bounds=[(0, None)] * 200)
    ref = model.energy(wgf.Measure(pts, res.x))
    assert ref == pytest.approx(res.fun, rel=1e-12)
    assert ref < model.energy(nu)
    assert model.energy(nu) - ref <= cert.gap_bound
    # without weight decay no bound on a minimiser's mass exists
    assert EmpiricalReLU(X, y, bias=True).minimiser_mass_bound(nu) is None
    with pytest.raises(ValueError, match="mass of a minimiser"):
        wgf.optimality_certificate(EmpiricalReLU(X, y, bias=True), nu, n_points=64)


@pytest.mark.parametrize("kwargs,match", [
    (dict(X=np.ones(5), y=np.ones(5)), "X must have shape"),
    (dict(X=np.ones((0, 2)), y=np.ones(0)), "at least one sample"),
    (dict(X=[[1.0, np.nan]], y=[1.0]), "X contains NaN"),
    (dict(X=[["a", "b"]], y=[1.0]), "numeric"),
    (dict(X=np.ones((3, 2)), y=np.ones(4)), "y must have shape \\(3,\\)"),
    (dict(X=np.ones((3, 2)), y=[1.0, np.inf, 0.0]), "y contains NaN or inf"),
    (dict(X=np.ones((3, 2)), y=[1.0, 0.0, -1.0], loss="logistic"), "labels"),
    (dict(X=np.ones((3, 2)), y=np.ones(3), loss="hinge"), "loss must be one of"),
    (dict(X=np.ones((3, 2)), y=np.ones(3), weight_decay=-0.1), "weight_decay"),
    (dict(X=np.ones((3, 2)), y=np.ones(3), weight_decay="x"), "weight_decay"),
    (dict(X=np.ones((3, 2)), y=np.ones(3), bias=1), "bias"),
])
def test_constructor_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EmpiricalReLU(**kwargs)


def test_methods_reject_bad_input():
    rng = np.random.default_rng(9)
    X, y = _data(20, 2, "square", rng)
    model = EmpiricalReLU(X, y, bias=True)                              # on S^3
    nu = random_measure(4, 3, rng)
    with pytest.raises(ValueError, match="dimension mismatch"):
        model.energy(random_measure(4, 2, rng))                         # bias forgotten: S^2
    with pytest.raises(ValueError, match="S\\^3"):
        model.potential(sphere.sample_uniform(2, 2, rng), nu)
    with pytest.raises(ValueError, match="unit vectors"):
        model.potential(np.ones((2, 4)), nu)
    with pytest.raises(ValueError, match="inputs must have shape \\(n, 2\\)"):
        model.predict(nu, np.ones((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        model.predict(nu, np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="without targets"):
        model.risk(nu, X)
    with pytest.raises(ValueError, match="y must have shape"):
        model.risk(nu, X, y[:-1])
    with pytest.raises(ValueError, match="labels"):
        model.classification_error(nu)
