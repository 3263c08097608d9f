"""Full-gradient networks with ``step_rule="ros2"`` (the network's gradient flow integrated by the particles'
linearly implicit stepper through the lifting eta_j = w_j/|w_j|, m_j = |w_j|^2/m): against an independent
integrator of the flow (RK4 particles), constant-step gradient descent converging to it at first order in
the step, ROS2's own second order (fitted in the accepted steps), the (alpha, beta) of equal layer steps and
of the conic parametrisation, F nonincreasing with steps that grow as the flow settles, zero-norm neurons,
bit-for-bit resume, the work estimate, a case run and input validation."""

from pathlib import Path

import h5py
import numpy as np
import pytest

import wgf
from wgf.app import io
from wgf.discretisations.lagrangian import LagrangianSolver
from wgf.discretisations.network import NetworkTrainer, initial_weights
from wgf.discretisations.solver import energy_tolerance
from wgf.geometry import sphere

from helpers import run_main

DATA = Path(__file__).resolve().parents[2] / "data"
T = 1.0


def _fig2_model():
    return wgf.TeacherStudent(np.loadtxt(DATA / "teacher_fig2.csv", delimiter=","))


def _planar():
    """The planar teacher-student and 40 neurons of the constant- and adaptive-step order tests."""
    rng = np.random.default_rng(2)
    teacher = np.column_stack([rng.choice([-1.0, 1.0], 4), sphere.sample_uniform(4, 1, rng)])
    return wgf.TeacherStudent(teacher), initial_weights(40, 2, kind="uniform", radius=1.0, seed=4)


def _slope(x, y):
    return np.polyfit(np.log(x), np.log(y), 1)[0]


def _flow_weights(model, W0, t, alpha=4.0, beta=1.0, steps=400):
    """The flow's weights at time t by an independent integrator: RK4 particles (fixed steps) mapped back."""
    ode = LagrangianSolver(model, wgf.Measure.from_weights(W0), alpha=alpha, beta=beta, stepper="rk4",
                           dt=t / steps)
    ode.advance(t)
    return ode.measure.to_weights(W0.shape[0])


@pytest.fixture(scope="module")
def planar_flow():
    model, W0 = _planar()
    return model, W0, _flow_weights(model, W0, T)


def test_gradient_descent_converges_to_it_at_first_order(planar_flow):
    """Constant-step gradient descent (step h -> 0, four h) approaches the ros2 trajectory (rtol 1e-6) at
    T = 1 like h^1 (forward Euler on the same flow); the ros2 weights are within 1e-5 of the RK4 particles'
    mapped back, far closer than the finest gradient descent. The time is T exactly."""
    model, W0, exact = planar_flow
    net = NetworkTrainer(model, W0, step_size=0.01, step_rule="ros2", rtol=1e-6, atol=1e-14)
    net.advance(T)
    assert net.time == T
    to_exact = np.abs(net.weights - exact).max()
    hs = [0.04, 0.02, 0.01, 0.005]
    gaps = []
    for h in hs:
        gd = NetworkTrainer(model, W0, step_size=h)
        gd.advance(T)
        gaps.append(np.abs(gd.weights - net.weights).max())
    assert abs(_slope(hs, gaps) - 1) < 0.05, gaps
    assert to_exact < 1e-5 and to_exact < 1e-2 * gaps[-1], (to_exact, gaps)


def test_second_order_in_the_accepted_steps(planar_flow):
    """Tolerances 1e-3 .. 1e-6 (atol negligible): the error of the weights at T against the RK4 flow falls
    like (accepted steps)^-2 (ROS2's order; fitted, four tolerances) and in proportion to the tolerance."""
    model, W0, exact = planar_flow
    tols = [1e-3, 1e-4, 1e-5, 1e-6]
    errors, steps = [], []
    for tol in tols:
        net = NetworkTrainer(model, W0, step_size=0.01, step_rule="ros2", rtol=tol, atol=1e-14)
        net.advance(T)
        errors.append(np.abs(net.weights - exact).max())
        steps.append(net.steps)
    assert abs(_slope(steps, errors) + 2) < 0.25, (steps, errors)
    assert abs(_slope(tols, errors) - 1) < 0.15, (tols, errors)


@pytest.mark.parametrize("kw,alpha,beta", [
    (dict(layer_steps=(0.5, 0.5)), 2.0, 0.5),                       # equal cartesian steps c: (4c, c)
    (dict(parametrisation="conic", alpha=1.0, beta=2.0), 1.0, 2.0),  # conic: its own (alpha, beta)
])
def test_the_lifting_gives_the_particle_flow(planar_flow, kw, alpha, beta):
    """Equal layer steps (c, c) follow the WFR particles with (4c, c), the conic parametrisation those with
    its (alpha, beta) != (4, 1): ros2 (rtol 1e-6) is within 1e-5 of RK4 particles with these coefficients
    and 1e-2 away from the (4, 1) flow; the constant-step trainer of the same parametrisation approaches
    it at first order (two steps, error halving)."""
    model, W0, flow41 = planar_flow
    net = NetworkTrainer(model, W0, step_size=0.01, step_rule="ros2", rtol=1e-6, atol=1e-14, **kw)
    net.advance(T)
    exact = _flow_weights(model, W0, T, alpha, beta)
    assert np.abs(net.weights - exact).max() < 1e-5
    assert np.abs(net.weights - flow41).max() > 1e-2
    gaps = []
    for h in (0.01, 0.005):
        gd = NetworkTrainer(model, W0, step_size=h, **kw)
        gd.advance(T)
        gaps.append(np.abs(gd.weights - exact).max())
    assert 1.8 < gaps[0] / gaps[1] < 2.2, gaps


def test_energy_nonincreasing_and_steps_grow():
    """The default case's teacher, m = 20, from a first step 0.01 to t = 10^6: F (recomputed by the model
    from the reported weights) never rises beyond round-off at any accepted step, the step grows as the
    flow settles (the last above 10^4, far beyond gradient descent's stability edge of about 1), a
    thousand steps or fewer in all."""
    model = _fig2_model()
    W0 = initial_weights(20, 2, radius=1.0, seed=0)
    net = NetworkTrainer(model, W0, step_size=0.01, step_rule="ros2", rtol=1e-4)
    F = [model.energy(net.measure)]
    h = []

    def record(s):
        F.append(model.energy(wgf.Measure.from_weights(s.weights)))
        h.append(s.last_step)
        return False

    net.advance(1e6, record)
    F = np.array(F)
    assert net.time == 1e6 and net.steps == len(h) <= 1000
    assert np.all(np.diff(F) <= energy_tolerance(F[0] * 10, net.width)), np.diff(F).max()
    assert F[-1] < 1e-6 * F[0]
    assert h[-1] > 1e4 and net.diagnostics()["dt"] == h[-1]


def test_zero_norm_neurons_stay_zero():
    """A zero neuron is a zero-mass atom: it stays exactly zero and the others follow the particles of the
    remaining atoms (the same ROS2 steps, to round-off)."""
    model, W0 = _planar()
    W0 = W0.copy()
    W0[3] = 0.0
    net = NetworkTrainer(model, W0, step_size=0.01, step_rule="ros2", rtol=1e-5)
    net.advance(0.5)
    assert np.all(net.weights[3] == 0.0)
    nu = wgf.Measure.from_weights(W0)
    keep = nu.masses > 0
    ref = LagrangianSolver(model, wgf.Measure(nu.points[keep], nu.masses[keep]), stepper="ros2", dt=0.01, rtol=1e-5)
    ref.advance(0.5)
    assert net.steps == ref.steps
    np.testing.assert_allclose(np.delete(net.weights, 3, axis=0), ref.measure.to_weights(40)[:], atol=1e-12)


def test_resume_bit_for_bit(tmp_path):
    """Stop at random accepted steps, state_dict -> a checkpoint group of an HDF5 file (the app's
    ``write_state`` / ``read_state``) -> new trainer -> load_state_dict -> continue to t = 10^3:
    weights, time, steps, rejections, last and proposed step equal an uninterrupted run's bit for bit;
    ``step(n)`` takes n accepted steps; a state without the particle solver's entries is refused."""
    model = _fig2_model()
    W0 = initial_weights(12, 2, radius=1.0, seed=3)
    kw = dict(step_size=0.01, step_rule="ros2", rtol=1e-4)
    T_end = 1e3
    ref = NetworkTrainer(model, W0, **kw)
    ref.advance(T_end)
    rng = np.random.default_rng(0)
    net = NetworkTrainer(model, W0, **kw)
    restarts = 0
    while net.time < T_end:
        net.advance(T_end, callback=lambda s: bool(rng.random() < 0.02))
        with h5py.File(tmp_path / "state.h5", "w") as f:
            io.write_state(f.create_group("state"), net.state_dict())
        with h5py.File(tmp_path / "state.h5", "r") as f:
            state = io.read_state(f["state"])
        net = NetworkTrainer(model, W0, **kw)
        net.load_state_dict(state)
        restarts += 1
    assert restarts > 3
    assert np.array_equal(net.weights, ref.weights)
    assert (net.time, net.steps, net.rejected, net.last_step, net.next_step_size()) == (
        ref.time, ref.steps, ref.rejected, ref.last_step, ref.next_step_size())
    one = NetworkTrainer(model, W0, **kw)
    one.step(5)
    assert one.steps == 5 and one.time > 0.0
    state = {k: v for k, v in ref.state_dict().items() if not k.startswith("flow_")}
    with pytest.raises(ValueError, match="flow_"):
        NetworkTrainer(model, W0, **kw).load_state_dict(state)


def test_work_estimate_is_a_probe_and_leaves_the_trainer_unchanged():
    """``estimate_steps(10^6)`` probes the particle solver and restores it: above the steps then taken (the
    safe side for refusing a case) by less than 4x, and a thousandth of the line search's ~10^6."""
    model = _fig2_model()
    W0 = initial_weights(10, 2, radius=1.0, seed=1)
    net = NetworkTrainer(model, W0, step_size=0.01, step_rule="ros2", rtol=1e-4)
    n = net.estimate_steps(1e6)
    assert net.time == 0.0 and net.steps == 0 and np.array_equal(net.weights, W0)
    net.advance(1e6)
    assert net.steps <= n < 4 * net.steps and n < 1e4, (n, net.steps)


@pytest.mark.parametrize("kw,match", [
    (dict(method="sgd"), "method='full'"), (dict(sequential=True), "sequential"),
    (dict(layer_steps=(1.0, 0.5)), "equal layer steps"), (dict(rtol=0.0, atol=0.0), "rtol and atol"),
    (dict(rtol=-1.0), "rtol")])
def test_bad_inputs(kw, match):
    with pytest.raises(ValueError, match=match):
        NetworkTrainer(_fig2_model(), initial_weights(4, 2, seed=0), step_size=0.1, step_rule="ros2", **kw)


def test_case_with_ros2_network(tmp_path):
    """``[network] step_rule = "ros2"`` (+ rtol) through ``wgf run``: output times that are no multiple of
    ``step_size`` are recorded exactly, F is nonincreasing over the records, far fewer steps than T."""
    case = tmp_path / "c.toml"
    case.write_text(f"""
[model]
type = "teacher_student"
teacher = "{(DATA / 'teacher_fig2.csv').as_posix()}"
[time]
final = 1e5
records = 25
snapshots = 3
spacing = "log"
first = 0.013
[network]
widths = [8]
step_size = 0.01
step_rule = "ros2"
rtol = 1e-4
""")
    out = tmp_path / "c.h5"
    rc, _, err = run_main(["run", str(case), "-o", str(out), "-q"])
    assert rc == 0, err
    with h5py.File(out) as f:
        g = f["network_m0008_s0"]
        t, F, steps = g["time"][()], g["energy"][()], g["step"][()]
        assert t[-1] == 1e5 and t[1] == pytest.approx(0.013, rel=1e-12)
        assert np.all(np.diff(F) <= 1e-12 * F[0])
        assert steps[-1] < 2000
