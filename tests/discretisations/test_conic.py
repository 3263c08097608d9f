"""Conic particle gradient descent (``NetworkTrainer(parametrisation="conic")``): against the Lagrangian
solver with the same (alpha, beta) (first order in the step, fitted), the mirror step exact on a frozen
potential, positive radii, agreement with the cartesian trainer to first order at (4, 1), the SGD step
against a NumPy reference, and input validation."""

from pathlib import Path

import numpy as np
import pytest

import wgf
from wgf.discretisations.lagrangian import LagrangianSolver
from wgf.discretisations.network import NetworkTrainer, conic_update, initial_weights
from wgf.geometry import sphere
from wgf.models import LinearPotential, SpikeDeconvolution

DATA = Path(__file__).resolve().parents[2] / "data"


def _slope(x, y):
    return np.polyfit(np.log(x), np.log(y), 1)[0]


def _teacher_student():
    rng = np.random.default_rng(3)
    teacher = np.column_stack([rng.choice([-1.0, 1.0], 3), sphere.sample_uniform(3, 2, rng)])
    return wgf.TeacherStudent(teacher, weight_decay=0.05)


def _deconvolution():
    D = np.loadtxt(DATA / "spikes_s1_fc8.csv", delimiter=",")
    return SpikeDeconvolution(D[:, :2], D[:, 2], 8, 0.3)


def _as_weights(measure, m):
    """Weights ``w_k = sqrt(m m_k) eta_k`` of a measure whose atoms are m neurons."""
    return np.sqrt(m * measure.masses)[:, None] * measure.points


CASES = {
    "teacher-student (alpha, beta) = (1, 2)": (_teacher_student, 1.0, 2.0, 4),
    "deconvolution S^1 (alpha, beta) = (4, 0.05)": (_deconvolution, 4.0, 0.05, 1),
}


@pytest.mark.parametrize("case", list(CASES))
def test_conic_steps_follow_the_lagrangian_solver_at_first_order(case):
    make, alpha, beta, _ = CASES[case]
    model = make()
    m, T = 12, 0.5
    rng = np.random.default_rng(4)
    W0 = 0.7 * sphere.sample_uniform(m, model.dim, rng)
    ref = LagrangianSolver(model, wgf.Measure.from_weights(W0), alpha=alpha, beta=beta, stepper="rk4", dt=T / 400)
    ref.advance(T)
    W_ref = _as_weights(ref.measure, m)
    ns = np.array([10, 20, 40, 80])
    errs = []
    for n in ns:
        tr = NetworkTrainer(model, W0, step_size=T / n, parametrisation="conic", alpha=alpha, beta=beta)
        tr.advance(T)
        assert tr.steps == n
        errs.append(np.abs(tr.weights - W_ref).max())
    slope = _slope(T / ns, errs)
    assert 0.85 < slope < 1.15, (errs, slope)
    assert errs[-1] < 2e-2 * np.abs(W_ref).max()


def test_mirror_step_exact_on_a_frozen_potential():
    # LinearPotential: J(eta) = -<e, eta> does not depend on nu; with beta = 0 the directions stay put and
    # r(t) = r0 exp(-(alpha/2) J t) for any step
    e = np.array([0.3, -1.0, 0.5])
    model = LinearPotential(e)
    rng = np.random.default_rng(5)
    W0 = rng.uniform(0.5, 2.0, (30, 1)) * sphere.sample_uniform(30, 2, rng)
    eta, r0 = sphere.normalize(W0), np.linalg.norm(W0, axis=1)
    J = -eta @ model.direction
    for dt, n in [(0.5, 4), (0.1, 20), (2.0, 1)]:
        tr = NetworkTrainer(model, W0, step_size=dt, parametrisation="conic", alpha=3.0, beta=0.0,
                            check_energy=False)
        tr.step(n)
        exact = (r0 * np.exp(-1.5 * J * dt * n))[:, None] * eta
        assert np.allclose(tr.weights, exact, rtol=1e-13, atol=0)


def test_radii_stay_positive_for_any_step():
    model = LinearPotential([1.0, 0.0, 0.0])
    W0 = sphere.sample_uniform(50, 2, np.random.default_rng(6))
    tr = NetworkTrainer(model, W0, step_size=5.0, parametrisation="conic", alpha=4.0, beta=0.1,
                        check_energy=False)
    tr.step(10)  # J up to 1: a radius shrinks by exp(-2 * 5) per step, never through zero
    r = np.linalg.norm(tr.weights, axis=1)
    assert np.all(r > 0) and np.all(np.isfinite(r))
    # the cartesian step with the same size flips signs instead (r <- r |1 - 2 gamma J| with gamma J = 5)
    cart = NetworkTrainer(model, W0, step_size=5.0, check_energy=False)
    cart.step(1)
    flipped = np.sum(cart.weights * W0, axis=1) < 0
    assert np.any(flipped)
    # deconvolution: all radii positive after a run, and F decreased (energy check on every step)
    dec = _deconvolution()
    th = 2 * np.pi * (np.arange(8) + 0.5) / 8
    tr = NetworkTrainer(dec, 0.3 * np.column_stack([np.cos(th), np.sin(th)]), step_size=0.01,
                        parametrisation="conic", alpha=4.0, beta=0.02)
    F0 = tr.energy()
    tr.step(300)
    assert np.all(np.linalg.norm(tr.weights, axis=1) > 0) and tr.energy() < F0


def test_conic_at_four_one_agrees_with_the_cartesian_trainer_to_first_order():
    model = _teacher_student()
    W0 = initial_weights(15, model.dim, kind="uniform", radius=0.8, seed=7)
    T = 0.5
    ns = np.array([10, 20, 40, 80])
    one, whole = [], []
    for n in ns:
        g = T / n
        a = NetworkTrainer(model, W0, step_size=g, parametrisation="conic")
        b = NetworkTrainer(model, W0, step_size=g)
        a.step(1)
        b.step(1)
        one.append(np.abs(a.weights - b.weights).max())
        a.advance(T)
        b.advance(T)
        whole.append(np.abs(a.weights - b.weights).max())
    # one step: the two updates agree to O(gamma^2); over [0, T]: O(gamma)
    assert 1.8 < _slope(T / ns, one) < 2.2, one
    assert 0.85 < _slope(T / ns, whole) < 1.15, whole


def test_conic_sgd_step_against_numpy_reference():
    model = _teacher_student()
    W0 = initial_weights(9, model.dim, kind="uniform", radius=1.0, seed=8)
    X = model.sample_inputs(40, np.random.default_rng(9))
    tr = NetworkTrainer(model, W0, step_size=0.05, method="sgd", batch_size=20, parametrisation="conic",
                        alpha=2.0, beta=0.5)
    tr.train_on(X)
    assert tr.steps == 2
    # reference: NumPy mini-batch potential of (1/2B) sum (h - y)^2 + lambda nu(S^d)
    W = W0.copy()
    for s in range(2):
        Xb = X[20 * s:20 * (s + 1)]
        r = np.linalg.norm(W, axis=1)
        eta = W / r[:, None]
        pre = Xb @ eta[:, 1:].T  # (B, m)
        h = np.maximum(pre, 0) @ (r ** 2 / 9 * eta[:, 0])
        g = (h - model.target(Xb)) / 20
        J = eta[:, 0] * (g @ np.maximum(pre, 0)) + model.weight_decay
        grad = np.column_stack([g @ np.maximum(pre, 0), eta[:, 0:1] * ((g[:, None] * (pre > 0)).T @ Xb)])
        G = grad - np.sum(grad * eta, axis=1, keepdims=True) * eta
        W = (r * np.exp(-1.0 * 0.05 * J))[:, None] * sphere.normalize(eta - 0.5 * 0.05 * G)
    assert np.allclose(tr.weights, W, rtol=1e-12, atol=1e-14)
    # its own stream: resumable bit for bit
    a = NetworkTrainer(model, W0, step_size=0.05, method="sgd", batch_size=20, parametrisation="conic")
    a.step(30)
    b = NetworkTrainer(model, W0, step_size=0.05, method="sgd", batch_size=20, parametrisation="conic")
    b.step(13)
    state = b.state_dict()
    c = NetworkTrainer(model, W0, step_size=0.05, method="sgd", batch_size=20, parametrisation="conic")
    c.load_state_dict(state)
    c.step(17)
    assert np.array_equal(a.weights, c.weights)


def test_conic_update_formula():
    rng = np.random.default_rng(10)
    eta = sphere.sample_uniform(5, 2, rng)
    G = sphere.tangent_project(eta, rng.normal(size=(5, 3)))
    J, r = rng.normal(size=5), rng.uniform(0.1, 1, 5)
    W = conic_update(r, eta, J, G, 0.1, 2.0, 3.0)
    assert np.allclose(np.linalg.norm(W, axis=1), r * np.exp(-0.1 * J), rtol=1e-14)
    assert np.allclose(sphere.normalize(W), sphere.retract(eta, -0.3 * G), rtol=1e-14)


def test_conic_validation():
    model = _teacher_student()
    W0 = initial_weights(4, model.dim, seed=0)
    for kw, match in [({"layer_steps": (2.0, 1.0)}, "layer_steps"), ({"sequential": True}, "sequential"),
                      ({"alpha": -1.0}, "alpha"), ({"beta": float("nan")}, "beta")]:
        with pytest.raises(ValueError, match=match):
            NetworkTrainer(model, W0, step_size=0.1, parametrisation="conic", **kw)
    with pytest.raises(ValueError, match="parametrisation"):
        NetworkTrainer(model, W0, step_size=0.1, parametrisation="polar")
    assert "conic, alpha=4, beta=1" in repr(NetworkTrainer(model, W0, step_size=0.1, parametrisation="conic"))
