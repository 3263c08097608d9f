"""Finite-width networks: initialisations, the full gradient against finite differences of F, unbiased SGD,
the published ICM Fig 3 update, same dynamics as the Lagrangian ODE (order 1 in the step), the per-neuron
invariant, the 1/m mean-field law, high dimension, bit-for-bit resume and input validation."""

import math
from pathlib import Path

import numpy as np
import pytest

import wgf
from wgf.geometry import sphere
from wgf.discretisations.lagrangian import LagrangianSolver
from wgf.discretisations.network import NetworkTrainer, initial_weights

DATA = Path(__file__).resolve().parents[2] / "data"


def _teacher(dx, m0, seed):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.choice([-1.0, 1.0], m0), sphere.sample_uniform(m0, dx - 1, rng)])


def _fig2_model():
    return wgf.TeacherStudent(np.loadtxt(DATA / "teacher_fig2.csv", delimiter=","))


def _slope(x, y):
    return np.polyfit(np.log(x), np.log(y), 1)[0]


# ---------------------------------------------------------------------------------------------- init
def test_initial_weights():
    w = initial_weights(4000, 3, kind="uniform", radius=2.0, seed=1)
    assert w.shape == (4000, 4)
    assert np.allclose(np.linalg.norm(w, axis=1), 2.0)
    # i.i.d. uniform on the sphere of radius r0: second moments r0^2 I/(d+1) (5 standard errors)
    C = w.T @ w / len(w)
    assert np.abs(C - np.eye(4)).max() < 5 * 4.0 * math.sqrt(2 / 4 / 4000) * 2
    assert np.array_equal(w, initial_weights(4000, 3, kind="uniform", radius=2.0, seed=1))
    b = initial_weights(1000, 5, kind="balanced", radius=math.sqrt(2), seed=2)
    assert np.allclose(np.abs(b[:, 0]), 1.0) and np.allclose(np.linalg.norm(b[:, 1:], axis=1), 1.0)
    assert 400 < np.sum(b[:, 0] > 0) < 600
    # the measure of a uniform network has mass r0^2
    assert wgf.Measure.from_weights(w).total_mass == pytest.approx(4.0)
    for bad, match in [({"kind": "normal"}, "kind"), ({"radius": 0.0}, "radius"), ({"seed": -1}, "seed")]:
        with pytest.raises(ValueError, match=match):
            initial_weights(5, 2, **bad)
    with pytest.raises(ValueError, match="m"):
        initial_weights(0, 2)
    with pytest.raises(ValueError, match="dim"):
        initial_weights(3, 0)


# ---------------------------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("dx,lam", [(2, 0.0), (5, 0.1)])
def test_full_gradient_matches_finite_differences(dx, lam):
    """m dF/dw_j from the potential, r_j (2 J eta_j + grad_S J), against central differences of
    F(W) = model.energy(Measure.from_weights(W)) in w-space (h = 1e-6: truncation ~h^2 F''' and round-off
    ~eps F / h both ~1e-10 relative to the gradient's size)."""
    rng = np.random.default_rng(dx)
    model = wgf.TeacherStudent(_teacher(dx, 3, dx), weight_decay=lam)
    m = 7
    W = initial_weights(m, dx, radius=1.3, seed=dx) * rng.uniform(0.5, 1.5, (m, 1))
    net = NetworkTrainer(model, W, step_size=0.1)
    D = net.population_gradient()
    F = lambda V: model.energy(wgf.Measure.from_weights(V))  # noqa: E731
    h = 1e-6
    fd = np.zeros_like(W)
    for j in range(m):
        for k in range(dx + 1):
            E = np.zeros_like(W)
            E[j, k] = h
            fd[j, k] = m * (F(W + E) - F(W - E)) / (2 * h)
    assert np.abs(D - fd).max() < 1e-7 * np.abs(fd).max()


def test_sgd_gradient_is_unbiased():
    """The mean of the mini-batch gradient over many fresh batches equals the population gradient within
    its standard errors (componentwise z-scores: max |z| < 4.5 over the 66 components, and mean z^2 ~ 1)."""
    model = wgf.TeacherStudent(_teacher(10, 3, 0), weight_decay=0.05)
    W = initial_weights(6, 10, radius=1.0, seed=3)
    net = NetworkTrainer(model, W, step_size=0.1, method="sgd", batch_size=20)
    pop = net.population_gradient()
    rng = np.random.default_rng(5)
    n = 3000
    samples = np.array([net.batch_gradient(model.sample_inputs(20, rng)) for _ in range(n)])
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / math.sqrt(n)
    z = (mean - pop) / se
    assert np.abs(z).max() < 4.5, np.abs(z).max()
    assert 0.6 < np.mean(z**2) < 1.5


def test_published_fig3_update_is_reproduced():
    """The ICM Fig 3 loop (A = a/m, B = b; batch-mean output step (1/m) lr, batch-sum input step m lr with
    the updated A), transcribed literally, equals NetworkTrainer(step_size=lr, layer_steps=(1, B),
    sequential=True, method="sgd") from weights (m A, B) on the same sample stream."""
    dx, m, bs, lr, steps = 20, 7, 50, 0.005, 60
    model = wgf.TeacherStudent(_teacher(dx, 4, 1))
    W0 = initial_weights(m, dx, kind="balanced", radius=math.sqrt(2), seed=8)
    net = NetworkTrainer(model, W0, step_size=lr, layer_steps=(1.0, bs), sequential=True, method="sgd",
                         batch_size=bs, seed=17)
    net.step(steps)
    # literal transcription, columns as in the published code: A (m,), B (d, m), X (d, bs)
    A, B = W0[:, 0] / m, W0[:, 1:].T.copy()
    Atc, Btc = model.teacher[:, 0], model.teacher[:, 1:].T
    rng = np.random.default_rng(17)
    for _ in range(steps):
        X = model.sample_inputs(bs, rng).T
        Y = Atc @ np.maximum(Btc.T @ X, 0.0)
        H = np.maximum(B.T @ X, 0.0)
        G = A @ H - Y
        GA = H @ G / bs
        A = A - (1 / m) * lr * GA
        GB = (A[:, None] * (H > 0)) @ (X * G).T
        B = B - m * lr * GB.T
    ref = np.column_stack([m * A, B.T])
    assert np.allclose(net.weights, ref, rtol=1e-10, atol=1e-12)
    assert not np.allclose(ref, W0)  # it moved


# ---------------------------------------------------------------------------------------------- dynamics
def _ode_reference(model, W0, T):
    ode = LagrangianSolver(model, wgf.Measure.from_weights(W0), stepper="rk4", dt=T / 40)
    ode.advance(T)
    return ode


@pytest.mark.parametrize("dx", [2, 100])
def test_network_and_particles_have_the_same_dynamics(dx):
    """From the same neurons, GD in w-space (full population gradient, equal layer steps) and the Lagrangian
    ODE in (r, eta) agree at T = 1: the predictor distance shrinks like gamma^1 (fitted over four gamma).
    dx = 100 with a teacher of m0 = 10 is the high-dimensional case (no grid)."""
    model = wgf.TeacherStudent(_teacher(dx, 4 if dx == 2 else 10, 2))
    W0 = initial_weights(40, dx, kind="uniform", radius=1.0, seed=4)
    T = 1.0
    ode = _ode_reference(model, W0, T)
    gammas = [0.04, 0.02, 0.01, 0.005]
    dist = []
    for g in gammas:
        net = NetworkTrainer(model, W0, step_size=g)
        net.advance(T)
        assert net.time == pytest.approx(T) and net.steps == round(T / g)
        dist.append(wgf.predictor_distance(model, net.measure, ode.measure))
    assert abs(_slope(gammas, dist) - 1) < 0.15, dist
    assert model.energy(ode.measure) < 0.9 * model.energy(wgf.Measure.from_weights(W0))


def test_per_neuron_invariant_drifts_at_order_one():
    """GD changes a^2 - |b|^2 by gamma^2 (g_a^2 - |g_b|^2) per step, so by O(gamma) at fixed T (slope 1);
    with unequal layer steps the conserved quantity is a^2/c_a - |b|^2/c_b."""
    model = _fig2_model()
    W0 = initial_weights(30, 2, kind="uniform", radius=1.0, seed=5)
    for ca, cb in [(1.0, 1.0), (0.5, 2.0)]:
        q0 = W0[:, 0] ** 2 / ca - np.sum(W0[:, 1:] ** 2, axis=1) / cb
        gammas = [0.04, 0.02, 0.01, 0.005]
        drift = []
        for g in gammas:
            net = NetworkTrainer(model, W0, step_size=g, layer_steps=(ca, cb))
            net.advance(1.0)
            w = net.weights
            q = w[:, 0] ** 2 / ca - np.sum(w[:, 1:] ** 2, axis=1) / cb
            drift.append(np.abs(q - q0).max())
            if ca == cb:
                assert np.allclose(net.balances(), w[:, 0] ** 2 - np.sum(w[:, 1:] ** 2, axis=1))
        assert abs(_slope(gammas, drift) - 1) < 0.15, (ca, cb, drift)


def _pair_estimate(model, widths, pairs, T, gamma, seed0):
    """(1/2) E ||h_m^(1) - h_m^(2)||^2 over independent pairs, for nested widths: the networks of width m
    are the first m neurons of two i.i.d. samples of the largest width (unbiased at every width; the nesting
    correlates the estimates across widths, which steadies the fitted slope)."""
    out = np.zeros(len(widths))
    for p in range(pairs):
        W1 = initial_weights(widths[-1], model.dim, seed=seed0 + 2 * p)
        W2 = initial_weights(widths[-1], model.dim, seed=seed0 + 2 * p + 1)
        for i, m in enumerate(widths):
            n1 = NetworkTrainer(model, W1[:m], step_size=gamma)
            n2 = NetworkTrainer(model, W2[:m], step_size=gamma)
            n1.advance(T)
            n2.advance(T)
            out[i] += 0.5 * model.distance(n1.measure, n2.measure) ** 2 / pairs
    return out


def test_mean_field_fluctuations_decay_like_one_over_m():
    """Cheap version of the mean-field limit: full-gradient networks (gamma = 0.05, equal steps) at T = 0.5
    from i.i.d. uniform neurons, reference-free form, widths 8..128, 30 pairs: fitted slope of
    log E||h_m^(1) - h_m^(2)||^2 / 2 against log m in [-1.2, -0.8]."""
    model = _fig2_model()
    widths = [8, 16, 32, 64, 128]
    est = _pair_estimate(model, widths, pairs=30, T=0.5, gamma=0.05, seed0=1000)
    slope = _slope(widths, est)
    assert -1.2 <= slope <= -0.8, (slope, est)


@pytest.mark.slow
def test_mean_field_fluctuations_decay_like_one_over_m_full():
    """The full version: widths 64..4096, 12 pairs (24 independent networks per width), T = 0.5."""
    model = _fig2_model()
    widths = [64, 128, 256, 512, 1024, 2048, 4096]
    est = _pair_estimate(model, widths, pairs=12, T=0.5, gamma=0.05, seed0=5000)
    slope = _slope(widths, est)
    print("mean-field widths", widths, "estimates", est.tolist(), "slope", slope)
    assert -1.2 <= slope <= -0.8, (slope, est)


def test_high_dimension_sgd_and_particles():
    """dx = 100, m0 = 10: online SGD, full GD and the Lagrangian solver all lower F from the same start, and
    SGD with a small step stays within its noise level of full GD."""
    model = wgf.TeacherStudent(_teacher(100, 10, 9))
    W0 = initial_weights(30, 100, kind="uniform", radius=1.0, seed=9)
    F0 = model.energy(wgf.Measure.from_weights(W0))
    T = 2.0
    full = NetworkTrainer(model, W0, step_size=0.02)
    full.advance(T)
    sgd = NetworkTrainer(model, W0, step_size=0.02, method="sgd", batch_size=100, seed=1)
    sgd.advance(T)
    lag = LagrangianSolver(model, wgf.Measure.from_weights(W0), stepper="rk45", rtol=1e-6, atol=1e-9)
    lag.advance(T)
    for F in (full.energy(), sgd.energy(), lag.energy()):
        assert F < 0.8 * F0
    d_full = wgf.predictor_distance(model, full.measure, lag.measure)
    d_sgd = wgf.predictor_distance(model, sgd.measure, full.measure)
    assert d_full < 0.02 * math.sqrt(2 * F0)
    assert d_sgd < 0.2 * math.sqrt(2 * F0)


# ---------------------------------------------------------------------------------------------- time, resume
def test_whole_steps_and_rounding_rule():
    model = _fig2_model()
    net = NetworkTrainer(model, initial_weights(5, 2, seed=0), step_size=0.1)
    net.advance(0.3)  # 0.3 / 0.1 = 2.9999999999999996 in floating point: still 3 steps
    assert net.steps == 3 and net.time == pytest.approx(0.3)
    net.advance(0.45)
    assert net.steps == 4
    net.advance(0.41)
    assert net.steps == 4
    assert net.steps_until(1.0) == 10
    seen = []
    net.advance(1.0, callback=lambda s: seen.append(s.steps) or s.steps == 7)
    assert net.steps == 7 and seen == [5, 6, 7]


@pytest.mark.parametrize("method,seq", [("sgd", False), ("sgd", True), ("full", True)])
def test_resume_bit_for_bit(method, seq):
    """Stop at random steps (callback), state_dict -> new trainer -> load_state_dict -> continue: the
    weights equal an uninterrupted run's bit for bit (mini-batch blocks redrawn from the saved state)."""
    model = wgf.TeacherStudent(_teacher(10, 3, 4))
    W0 = initial_weights(6, 10, kind="balanced", seed=2)
    kw = dict(step_size=0.01, layer_steps=(1.0, 2.0), sequential=seq, method=method, batch_size=30, seed=3)
    T = 1.5  # 150 steps: several blocks of 66 batches
    ref = NetworkTrainer(model, W0, **kw)
    ref.advance(T)
    rng = np.random.default_rng(0)
    net = NetworkTrainer(model, W0, **kw)
    restarts = 0
    while net.steps < ref.steps:
        net.advance(T, callback=lambda s: bool(rng.random() < 0.04))
        state = net.state_dict()
        assert isinstance(state["rng_state"], str)
        net = NetworkTrainer(model, W0, **kw)
        net.load_state_dict(state)
        restarts += 1
    assert restarts > 3
    assert net.steps == ref.steps and np.array_equal(net.weights, ref.weights)
    # intermediate t_end stops (whole steps) change nothing either
    net2 = NetworkTrainer(model, W0, **kw)
    for t in (0.237, 0.5, 1.111, T):
        net2.advance(t)
    assert np.array_equal(net2.weights, ref.weights)


def test_diagnostics_snapshot_and_bad_inputs():
    model = _fig2_model()
    W0 = initial_weights(5, 2, seed=0)
    net = NetworkTrainer(model, W0, step_size=0.1)
    assert net.kind == "network" and net.width == 5
    d = net.diagnostics()
    assert d["mass"] == pytest.approx(np.sum(W0**2) / 5) and d["Q"] == pytest.approx(np.mean(net.balances()))
    snap = net.snapshot()
    assert np.array_equal(snap["weights"], W0)
    bad = [
        (dict(model="m"), "model"),
        (dict(weights=np.ones((5, 4))), "weights"),
        (dict(weights=np.full((5, 3), np.nan)), "NaN"),
        (dict(step_size=0.0), "step_size"),
        (dict(step_size=-1), "step_size"),
        (dict(layer_steps=(1.0,)), "layer_steps"),
        (dict(layer_steps=(1.0, -2.0)), "c_b"),
        (dict(method="adam"), "method"),
        (dict(batch_size=0), "batch_size"),
        (dict(seed=-3), "seed"),
        (dict(seed=1.5), "seed"),
        (dict(sequential="yes"), "sequential"),
    ]
    for kw, match in bad:
        args = dict(model=model, weights=W0, step_size=0.1)
        args.update(kw)
        with pytest.raises(ValueError, match=match):
            NetworkTrainer(args.pop("model"), args.pop("weights"), **args)

    class NoSampling(wgf.TeacherStudent):
        sample_inputs = None

    with pytest.raises(ValueError, match="sample_inputs"):
        NetworkTrainer(NoSampling(model.teacher), W0, step_size=0.1, method="sgd")
    with pytest.raises(ValueError, match="t_end"):
        net.advance(float("nan"))
    with pytest.raises(ValueError, match="shape"):
        NetworkTrainer(model, W0[:3], step_size=0.1).load_state_dict(net.state_dict())
    with pytest.raises(FloatingPointError, match="blew up"):
        NetworkTrainer(model, 30 * W0, step_size=5.0, check_energy=False).advance(100.0)
    with pytest.raises(wgf.discretisations.solver.BlowUp, match=r"energy increased .* in step 1 \(t = 0 to 5, "):
        NetworkTrainer(model, 30 * W0, step_size=5.0).advance(100.0)  # caught at the first step
