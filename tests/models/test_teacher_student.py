"""TeacherStudent and its closed-form ReLU kernel: Monte Carlo of the definitions, finite differences,
first variation, the quadratic structure, Numba against NumPy, 2-homogeneity and input validation."""

import math

import numba
import numpy as np
import pytest

import wgf
from helpers import (away_from_poles, check_first_variation, check_gradient_fd, random_measure,
                     relative_error)
from wgf.geometry import sphere
from wgf._parallel import SERIAL_WORK
from wgf.models import TeacherStudent
from wgf.models.relu_kernel import _asin_small_array, relu_kappa, relu_potential, relu_potential_numpy

INPUTS = ("gaussian", "sphere")


def _teacher(dx, m0, rng):
    return np.column_stack([rng.choice([-1.0, 1.0], m0) * rng.uniform(0.5, 1.5, m0),
                            rng.standard_normal((m0, dx))])


def _inputs(kind, n, dx, rng):
    x = rng.standard_normal((n, dx))
    if kind == "sphere":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _mc_mean(term, kind, n, dx, rng, chunk=200_000):
    """Mean and standard error of ``term(x)`` (chunk, ...) over n i.i.d. inputs, streamed in chunks."""
    s = s2 = 0.0
    for start in range(0, n, chunk):
        t = term(_inputs(kind, min(chunk, n - start), dx, rng))
        s = s + t.sum(axis=0)
        s2 = s2 + (t * t).sum(axis=0)
    mean = s / n
    return mean, np.sqrt(np.maximum(s2 / n - mean**2, 0.0) / n)


# ---------------------------------------------------------------------------------------------- Monte Carlo
@pytest.mark.parametrize("kind", INPUTS)
def test_kernel_matches_monte_carlo(kind):
    """E_x[relu(u.x) relu(v.x)] by 1.2e6 samples within 4 standard errors, for pairs of different norms
    at generic, orthogonal, near-parallel, parallel, near-antiparallel and antiparallel angles."""
    rng = np.random.default_rng(1)
    dx = 3
    u = rng.standard_normal(dx)
    w = rng.standard_normal(dx)
    w -= (w @ u) / (u @ u) * u                     # orthogonal to u
    pairs = [
        (u, rng.standard_normal(dx)),
        (u, 0.3 * w),
        (u, 2.5 * (u + 1e-3 * w)),
        (u, 0.4 * u),
        (u, -1.7 * (u + 1e-2 * w)),
        (u, -0.7 * u),
        (0.05 * w, 3.0 * rng.standard_normal(dx)),
    ]
    U = np.array([p[0] for p in pairs])
    V = np.array([p[1] for p in pairs])
    scale = 1.0 if kind == "gaussian" else 1.0 / dx
    exact = scale * np.diag(relu_kappa(U, V))
    # the same through the model's interaction K(eta, eta') = a a' kappa(b, b') on the sphere
    P = sphere.normalize(np.column_stack([np.full(len(U), 0.6), U]))
    Q = sphere.normalize(np.column_stack([np.full(len(V), -0.8), V]))
    model = TeacherStudent(np.ones((1, dx + 1)), inputs=kind)
    K = np.diag(model.interaction(P, Q))
    assert K == pytest.approx(P[:, 0] * Q[:, 0] * scale * np.diag(relu_kappa(P[:, 1:], Q[:, 1:])), rel=1e-14)

    def term(x):
        return np.maximum(x @ U.T, 0) * np.maximum(x @ V.T, 0)

    est, se = _mc_mean(term, kind, 1_200_000, dx, rng)
    # antiparallel pairs: both sides are exactly 0 up to round-off of the closed form
    tol = 4 * se + 1e-14 * np.linalg.norm(U, axis=1) * np.linalg.norm(V, axis=1)
    assert np.all(np.abs(est - exact) <= tol), (est, exact, se)
    assert np.all(se[:5] > 0)   # the test is not vacuous: a nonzero spread for the nondegenerate pairs


@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_potential_matches_monte_carlo(kind, weight_decay):
    """J(eta) = E_x[(h_nu(x) - y(x)) a relu(b.x)] + lambda by 1e6 samples within 4 standard errors."""
    rng = np.random.default_rng(2)
    dx = 3
    model = TeacherStudent(_teacher(dx, 3, rng), inputs=kind, weight_decay=weight_decay)
    nu = random_measure(6, dx, rng)
    eta = sphere.sample_uniform(5, dx, rng)
    J, _ = model.potential(eta, nu)
    T = model.teacher_measure

    def term(x):
        r = (np.maximum(x @ nu.points[:, 1:].T, 0) @ (nu.masses * nu.points[:, 0])
             - np.maximum(x @ T.points[:, 1:].T, 0) @ (T.masses * T.points[:, 0]))
        return r[:, None] * eta[:, 0] * np.maximum(x @ eta[:, 1:].T, 0)

    est, se = _mc_mean(term, kind, 1_000_000, dx, rng)
    assert np.all(se > 0)
    assert np.all(np.abs(est + weight_decay - J) <= 4 * se), (est + weight_decay, J, se)


@pytest.mark.parametrize("kind", INPUTS)
def test_energy_and_predict_match_monte_carlo(kind):
    """F(nu) = 1/2 E_x[(h_nu - y)^2] + lambda nu(S^d), with h_nu from predict (200k samples, 4 SE)."""
    rng = np.random.default_rng(3)
    dx = 2
    model = TeacherStudent(_teacher(dx, 2, rng), inputs=kind, weight_decay=0.05)
    nu = random_measure(5, dx, rng)

    def term(x):
        return 0.5 * (model.predict(nu, x) - model.target(x))**2

    est, se = _mc_mean(term, kind, 200_000, dx, rng)
    assert abs(est + 0.05 * nu.total_mass - model.energy(nu)) <= 4 * se
    # the distance to the teacher is the L2 norm of the residual: distance^2 = 2 (F - lambda mass)
    assert model.distance(nu, model.teacher_measure)**2 == pytest.approx(
        2 * (model.energy(nu) - 0.05 * nu.total_mass), rel=1e-12)


# ---------------------------------------------------------------------------------------------- derivatives
@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("dx", [1, 2, 5])
def test_gradient_matches_finite_differences(kind, dx):
    rng = np.random.default_rng(10 + dx)
    model = TeacherStudent(_teacher(dx, 3, rng), inputs=kind, weight_decay=0.1)
    nu = random_measure(8, dx, rng)
    # away from the poles (|b| >= 0.2), where J is not differentiable; atoms and points are generic, so
    # no b is parallel to an atom's (the t^3 term of the kernel)
    pts = away_from_poles(sphere.sample_uniform(40, dx, rng), 0.98, rng)
    for backend in ("numba", "numpy"):
        check_gradient_fd(model, nu, pts, np.random.default_rng(0), backend=backend)


def test_poles_have_zero_potential_and_gradient():
    rng = np.random.default_rng(4)
    model = TeacherStudent(_teacher(3, 2, rng))
    nu = random_measure(5, 3, rng)
    poles = np.array([[1.0, 0, 0, 0], [-1.0, 0, 0, 0]])
    for backend in ("numba", "numpy"):
        J, G = model.potential(poles, nu, backend=backend)
        assert np.all(J == 0.0) and np.all(G == 0.0)


@pytest.mark.parametrize("kind", INPUTS)
def test_first_variation(kind):
    rng = np.random.default_rng(5)
    model = TeacherStudent(_teacher(3, 3, rng), inputs=kind, weight_decay=0.2)
    nu = random_measure(12, 3, rng)
    delta = nu.masses * rng.uniform(-1, 1, nu.size)     # |delta| <= m, so eps <= 1 keeps nu +- eps delta >= 0
    check_first_variation(model, nu, delta, eps=1e-4)


def test_quadratic_structure():
    """J = K nu + V and F = 1/2 <nu, K nu> + <nu, V> + C, with K from the closed-form matrix (NumPy)."""
    rng = np.random.default_rng(6)
    model = TeacherStudent(_teacher(4, 3, rng), weight_decay=0.3)
    nu = random_measure(20, 4, rng)
    P = sphere.sample_uniform(30, 4, rng)
    J, _ = model.potential(P, nu)
    Jq = model.interaction(P, nu.points) @ nu.masses + model.linear_potential(P)
    assert relative_error(J, Jq) < 1e-12
    K = model.interaction(nu.points, nu.points)
    F = 0.5 * nu.masses @ K @ nu.masses + nu.masses @ model.linear_potential(nu.points) + model.energy_constant
    assert model.energy(nu) == pytest.approx(F, rel=1e-12)
    # the teacher is a minimiser without weight decay: F = 0 and J = 0 on its support
    m0 = TeacherStudent(model.teacher)
    assert abs(m0.energy(m0.teacher_measure)) < 1e-14
    assert np.abs(m0.potential(m0.teacher_measure.points, m0.teacher_measure)[0]).max() < 1e-13


# ---------------------------------------------------------------------------------------------- kernels
def test_rational_asin_within_one_ulp():
    y = np.concatenate([np.linspace(-0.5, 0.5, 200_001), np.geomspace(1e-300, 0.5, 2000)])
    ref = np.arcsin(y)
    ulp = np.spacing(np.abs(ref))
    ulp[ref == 0] = np.spacing(0.0)
    assert np.max(np.abs(_asin_small_array(y) - ref) / ulp) <= 1.0


def _kernel_inputs(N, M, k, rng):
    P = sphere.sample_uniform(N, k, rng)
    Q = sphere.sample_uniform(M, k, rng)
    c = rng.standard_normal(M)
    m = min(N, M) // 3
    if m:
        # coincident, parallel and antiparallel directions (the branches of the angle), poles
        Q[:m, 1:] = 0.5 * P[:m, 1:]
        Q[m:2 * m, 1:] = -1.3 * P[m:2 * m, 1:]
        Q[:2 * m] = sphere.normalize(Q[:2 * m])
        Q[2 * m] = P[2 * m]
        P[-1] = np.eye(k + 1)[0]
        Q[-1] = -np.eye(k + 1)[0]
    return P, Q, c


@pytest.mark.parametrize("N,M,k", [(1, 1, 1), (3, 5, 1), (50, 61, 2), (130, 37, 3), (257, 515, 16),
                                   (40, 1100, 17), (600, 9, 6)])
def test_numba_kernel_matches_numpy(N, M, k):
    rng = np.random.default_rng(N + M + k)
    P, Q, c = _kernel_inputs(N, M, k, rng)
    J, G = relu_potential(P, Q, c, scale=0.7)
    Jr, Gr = relu_potential_numpy(P, Q, c, scale=0.7)
    assert relative_error(J, Jr) < 1e-10 and relative_error(G, Gr) < 1e-10
    J2, G2 = relu_potential(P, Q, c, scale=0.7, with_grad=False)
    assert G2 is None and np.array_equal(J, J2)
    # and both against the dense closed-form matrix
    Jm = 0.7 * (P[:, 0, None] * Q[None, :, 0] * relu_kappa(P[:, 1:], Q[:, 1:])) @ c
    assert relative_error(J, Jm) < 1e-10


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two threads")
def test_kernel_independent_of_threads_and_of_other_points():
    rng = np.random.default_rng(7)
    P, Q, c = _kernel_inputs(203, 700, 5, rng)
    assert 4 * 204 * 8 * 700 > SERIAL_WORK > 4 * 4 * 8 * 700     # parallel path, and serial for 4 points
    J, G = relu_potential(P, Q, c)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        J1, G1 = relu_potential(P, Q, c)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(J, J1) and np.array_equal(G, G1)
    Js, Gs = relu_potential(P[7:11], Q, c)
    assert np.array_equal(Js, J[7:11]) and np.array_equal(Gs, G[7:11])


@pytest.mark.parametrize("kind", INPUTS)
def test_model_backends_agree(kind):
    rng = np.random.default_rng(8)
    model = TeacherStudent(_teacher(6, 4, rng), inputs=kind, weight_decay=0.01)
    nu = random_measure(300, 6, rng)
    P = sphere.sample_uniform(200, 6, rng)
    J, G = model.potential(P, nu)
    Jr, Gr = model.potential(P, nu, backend="numpy")
    assert relative_error(J, Jr) < 1e-10 and relative_error(G, Gr) < 1e-10


# ---------------------------------------------------------------------------------------------- networks
def test_predictor_of_weights_equals_predictor_of_measure():
    """2-homogeneity: h(x) = (1/m) sum_j a_j relu(b_j . x) for raw weights w_j equals h_nu with
    nu = (1/m) sum |w_j|^2 delta_{w_j/|w_j|}."""
    rng = np.random.default_rng(9)
    w = 1.7 * rng.standard_normal((25, 4))
    w[3] = 0.0                                          # a dead neuron maps to mass 0
    x = rng.standard_normal((500, 3))
    h_net = np.maximum(x @ w[:, 1:].T, 0) @ w[:, 0] / len(w)
    model = TeacherStudent(_teacher(3, 2, rng))
    h_nu = model.predict(wgf.Measure.from_weights(w), x)
    assert relative_error(h_nu, h_net) < 1e-13
    # the teacher convention: y(x) = sum_k a_k relu(b_k . x), no 1/m0
    assert relative_error(model.target(x), np.maximum(x @ model.teacher[:, 1:].T, 0) @ model.teacher[:, 0]) < 1e-13


# ---------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs,match", [
    (dict(teacher=np.ones(3)), "shape"),
    (dict(teacher=np.ones((2, 1))), "shape"),
    (dict(teacher=[[1.0, np.nan, 0.0]]), "NaN"),
    (dict(teacher="abc"), "numeric"),
    (dict(teacher=np.ones((2, 3)), inputs="uniform"), "inputs"),
    (dict(teacher=np.ones((2, 3)), weight_decay=-1.0), "weight_decay"),
    (dict(teacher=np.ones((2, 3)), weight_decay=np.nan), "weight_decay"),
])
def test_constructor_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TeacherStudent(**kwargs)


def test_methods_reject_bad_input():
    rng = np.random.default_rng(11)
    model = TeacherStudent(_teacher(2, 2, rng))
    nu = random_measure(4, 2, rng)
    with pytest.raises(ValueError, match="unit vectors"):
        model.potential(np.ones((3, 3)), nu)
    with pytest.raises(ValueError, match="S\\^2"):
        model.potential(sphere.sample_uniform(3, 3, rng), nu)              # points of S^3
    with pytest.raises(ValueError, match="dimension mismatch"):
        model.potential(sphere.sample_uniform(3, 2, rng), random_measure(4, 3, rng))
    with pytest.raises(ValueError, match="dimension mismatch"):
        model.energy(random_measure(4, 1, rng))
    with pytest.raises(ValueError, match="backend"):
        model.potential(sphere.sample_uniform(3, 2, rng), nu, backend="cuda")
    with pytest.raises(ValueError, match="Measure"):
        model.energy(np.ones((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        model.predict(nu, np.ones((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        model.predict(nu, np.full((5, 2), np.inf))
    with pytest.raises(ValueError, match="NaN"):
        model.potential(np.full((2, 3), np.nan), nu)
    with pytest.raises(ValueError, match="nonnegative"):
        wgf.Measure(sphere.sample_uniform(2, 2, rng), [1.0, -0.5])
    with pytest.raises(ValueError, match="NaN"):
        wgf.Measure(sphere.sample_uniform(2, 2, rng), [1.0, np.nan])
    assert math.isfinite(model.energy(nu))
