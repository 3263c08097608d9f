"""Full-gradient networks with ``step_rule="adaptive"`` (gradient descent with a persistent backtracking line
search): F nonincreasing at every accepted step, steps that grow as the flow settles, first-order agreement
with the gradient flow and with constant steps (fitted order in the largest step), bit-for-bit resume,
exact output times through a case, and input validation."""

from pathlib import Path

import h5py
import numpy as np
import pytest

import wgf
from wgf.discretisations.lagrangian import LagrangianSolver
from wgf.discretisations.network import NetworkTrainer, initial_weights
from wgf.discretisations.solver import BlowUp, energy_tolerance
from wgf.geometry import sphere

from helpers import run_main

DATA = Path(__file__).resolve().parents[2] / "data"


def _fig2_model():
    return wgf.TeacherStudent(np.loadtxt(DATA / "teacher_fig2.csv", delimiter=","))


def _teacher(dx, m0, seed):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.choice([-1.0, 1.0], m0), sphere.sample_uniform(m0, dx - 1, rng)])


def _slope(x, y):
    return np.polyfit(np.log(x), np.log(y), 1)[0]


def test_energy_nonincreasing_and_steps_grow():
    """The default case's teacher (mass 8), m = 20, from a step of 1e-3 to t = 200: F (recomputed by the
    model, independently of the trainer's cached value) never rises beyond round-off, every accepted step
    satisfies Armijo's condition against the gradient at its start, and the steps grow as the flow settles:
    the median of the last 50 accepted steps is > 300 times the first step and > 10 times the median over
    t <= 1; the largest accepted step is not stable as a constant step from the start (a constant step of
    that size raises F, which the constant-step trainer's check reports)."""
    model = _fig2_model()
    W0 = initial_weights(20, 2, radius=1.0, seed=0)
    net = NetworkTrainer(model, W0, step_size=1e-3, step_rule="adaptive")
    F = [model.energy(net.measure)]
    D = []
    rows = []

    def record(s):
        g = s.population_gradient()
        F.append(model.energy(s.measure))
        rows.append((s.time, s.last_step))
        D.append(float(np.einsum("ij,ij->", g, g)) / s.width)
        return False

    D0 = net.population_gradient()
    D.insert(0, float(np.einsum("ij,ij->", D0, D0)) / net.width)
    net.advance(200.0, record)
    F, D, rows = np.array(F), np.array(D), np.array(rows)
    assert net.time == 200.0 and net.steps == len(rows)
    tol = energy_tolerance(float(np.abs(F).max()) * 10, net.width)
    assert np.all(np.diff(F) <= tol), np.diff(F).max()
    h = rows[:, 1]
    # Armijo: F_{k+1} <= F_k - c h_k D_k (+ round-off), c = 1/2
    assert np.all(F[1:] <= F[:-1] - 0.5 * h * D[:-1] + tol)
    early = np.median(h[rows[:, 0] <= 1.0])
    late = np.median(h[-50:])
    assert late > 300 * 1e-3 and late > 10 * early, (early, late)
    assert net.rejected > 0   # it found the edge of stability and backed off
    big = float(np.max(h))
    const = NetworkTrainer(model, W0, step_size=big)
    with pytest.raises(BlowUp, match="energy increased"):
        const.advance(20 * big)


def test_agrees_with_the_flow_and_constant_steps_at_first_order():
    """From the same 40 neurons (the planar teacher-student of the constant-step order test), adaptive steps
    capped at ``max_step = h`` (starting at h/4) against the Lagrangian ODE (RK4, 40 steps: the flow) and
    against the constant-step trainer at step h, at T = 1 (fitted over four h). To the flow the distance
    shrinks like h^1 (forward Euler). To the constant-step trainer like h^2: the adaptive steps equal h
    after a start-up of 7 growing steps lasting O(h), so both first-order trajectories share the leading
    error term C h and differ at O(h^2). The time is T exactly."""
    model = wgf.TeacherStudent(_teacher(2, 4, 2))
    W0 = initial_weights(40, 2, kind="uniform", radius=1.0, seed=4)
    T = 1.0
    ode = LagrangianSolver(model, wgf.Measure.from_weights(W0), stepper="rk4", dt=T / 40)
    ode.advance(T)
    hs = [0.04, 0.02, 0.01, 0.005]
    to_flow, to_const = [], []
    for h in hs:
        net = NetworkTrainer(model, W0, step_size=h / 4, max_step=h, step_rule="adaptive")
        net.advance(T)
        assert net.time == T
        const = NetworkTrainer(model, W0, step_size=h)
        const.advance(T)
        to_flow.append(wgf.predictor_distance(model, net.measure, ode.measure))
        to_const.append(wgf.predictor_distance(model, net.measure, const.measure))
    assert abs(_slope(hs, to_flow) - 1) < 0.15, to_flow
    assert abs(_slope(hs, to_const) - 2) < 0.2, to_const
    assert to_const[-1] < to_flow[-1]   # closer to the same discretisation than to the flow


def test_resume_bit_for_bit():
    """Stop at random accepted steps, state_dict -> new trainer -> load_state_dict -> continue: weights,
    time, steps, proposed step and rejections equal an uninterrupted run's bit for bit."""
    model = _fig2_model()
    W0 = initial_weights(12, 2, radius=1.0, seed=3)
    kw = dict(step_size=0.01, step_rule="adaptive")
    T = 30.0
    ref = NetworkTrainer(model, W0, **kw)
    ref.advance(T)
    assert ref.rejected > 0
    rng = np.random.default_rng(0)
    net = NetworkTrainer(model, W0, **kw)
    restarts = 0
    while net.time < T:
        net.advance(T, callback=lambda s: bool(rng.random() < 0.05))
        state = net.state_dict()
        net = NetworkTrainer(model, W0, **kw)
        net.load_state_dict(state)
        restarts += 1
    assert restarts > 3
    assert np.array_equal(net.weights, ref.weights)
    assert (net.time, net.steps, net.rejected, net.next_step_size()) == (
        ref.time, ref.steps, ref.rejected, ref.next_step_size())
    state = ref.state_dict()
    del state["proposed_step"]
    with pytest.raises(ValueError, match="proposed_step"):
        NetworkTrainer(model, W0, **kw).load_state_dict(state)


def test_work_estimate_is_a_probe_and_leaves_the_trainer_unchanged():
    """``estimate_steps`` probes to t = 1 and restores the state; to t = 10^4 it is above the steps then
    taken (the safe side for refusing a case) by less than 10x, and far below T / step_size."""
    model = _fig2_model()
    W0 = initial_weights(10, 2, radius=1.0, seed=1)
    net = NetworkTrainer(model, W0, step_size=0.01, step_rule="adaptive")
    n = net.estimate_steps(1e4)
    assert net.time == 0.0 and net.steps == 0 and np.array_equal(net.weights, W0)
    net.advance(1e4)
    assert net.steps <= n < 10 * net.steps and n < 1e4 / 0.01 / 10
    assert NetworkTrainer(model, W0, step_size=0.01).estimate_steps(1e4) is None


@pytest.mark.parametrize("kw,match", [
    (dict(method="sgd"), "adaptive"), (dict(sequential=True), "adaptive"),
    (dict(parametrisation="conic"), "adaptive"), (dict(step_growth=1.0), "step_growth"),
    (dict(sufficient_decrease=1.0), "sufficient_decrease"), (dict(sufficient_decrease=0.0), "sufficient_decrease"),
    (dict(max_step=0.0), "max_step")])
def test_bad_inputs(kw, match):
    model = _fig2_model()
    with pytest.raises(ValueError, match=match):
        NetworkTrainer(model, initial_weights(4, 2, seed=0), step_size=0.1, step_rule="adaptive", **kw)


def test_case_with_adaptive_network_lands_on_output_times(tmp_path):
    """``[network] step_rule = "adaptive"`` through ``wgf run``: output times that are no multiple of
    ``step_size`` are accepted and recorded exactly, F is nonincreasing over the records, the step series
    is recorded, and ``--resume`` of the completed file changes nothing."""
    case = tmp_path / "c.toml"
    case.write_text(f"""
[model]
type = "teacher_student"
teacher = "{(DATA / 'teacher_fig2.csv').as_posix()}"
[time]
final = 1000.0
records = 25
snapshots = 3
spacing = "log"
first = 0.013
[network]
widths = [8]
step_size = 0.01
step_rule = "adaptive"
""")
    out = tmp_path / "c.h5"
    rc, _, err = run_main(["run", str(case), "-o", str(out), "-q"])
    assert rc == 0, err
    with h5py.File(out) as f:
        g = f["network_m0008_s0"]
        t, F, steps = g["time"][()], g["energy"][()], g["step"][()]
        assert t[-1] == 1000.0 and t[1] == pytest.approx(0.013, rel=1e-12)
        assert np.all(np.diff(F) <= 1e-12 * F[0])
        assert steps[-1] < 1000.0 / 0.01 / 5
        assert "dt" in g and np.nanmax(g["dt"][()]) > 0.1
