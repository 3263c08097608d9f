"""The linearly implicit stepper "ros2" (Rosenbrock W-method) for long times: its order (fitted slopes)
on an ODE with any matrix A, on the exact characteristics of the linear potential and on the grid's pure
reaction; its stability function; the grid Jacobian against finite differences; positivity and the
decrease of F at steps far above the explicit bounds; steps that grow as the flow settles; resume."""

from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import wgf
import wgf.analysis.exact
from wgf.discretisations.eulerian import EulerianSolver
from wgf.discretisations.lagrangian import LagrangianSolver
from wgf.discretisations.timesteppers import (Rosenbrock2, finite_difference_jacobian, get_stepper,
                                              rosenbrock_factor, rosenbrock_step)
from wgf.geometry.grid import circle_grid, icosahedral_grid
from wgf.models import TeacherStudent
from wgf.models.linear import LinearPotential

TEACHER = np.loadtxt(Path(__file__).resolve().parents[2] / "data" / "teacher_fig2.csv", delimiter=",")

# the nonlinear transport + reaction ODE of test_timesteppers
L = np.array([[-1.0, 0.5, 0.2], [0.6, -0.9, 0.3], [0.4, 0.4, -0.5]])
L -= np.diag(L.sum(axis=0))
W = np.array([[0.3, 0.1, 0.0], [0.1, 0.2, 0.05], [0.0, 0.05, 0.4]])
Y0 = np.array([0.7, 0.4, 1.1])


def f(t, y):
    return L @ (y * y) - (W @ y - 0.2) * y


def jac(y):
    return 2.0 * L * y[None, :] - np.diag(W @ y - 0.2) - y[:, None] * W


def _slope(x, y):
    return np.polyfit(np.log(x), np.log(y), 1)[0]


@pytest.mark.parametrize("matrix", ["exact", "zero", "random", "frozen"])
def test_ros2_is_second_order_with_any_matrix(matrix):
    """A W-method: order 2 whatever A is (the exact Jacobian, 0, a random matrix, the Jacobian at y0)."""
    ref = solve_ivp(f, (0, 1), Y0, method="DOP853", rtol=1e-13, atol=1e-15).y[:, -1]
    R = np.random.default_rng(0).standard_normal((3, 3))
    ns = [32, 64, 128, 256]  # the asymptotic range (at 8..64 the exact-Jacobian errors still curve: 1.8)
    errs = []
    for n in ns:
        y, h = Y0.copy(), 1.0 / n
        for k in range(n):
            A = {"exact": jac(y), "zero": np.zeros((3, 3)), "random": R, "frozen": jac(Y0)}[matrix]
            y = rosenbrock_step(f, k * h, y, h, rosenbrock_factor(A, h))[0]
        errs.append(np.abs(y - ref).max())
    slope = _slope(1.0 / np.array(ns), errs)
    assert 1.85 < slope < 2.5, (matrix, errs, slope)


def test_ros2_embedded_estimate_is_the_first_order_local_error():
    # one step from Y0: the estimate is y_ros2 - y_euler(gamma), O(h^2), and the true local error of
    # y + h k1 is within a constant factor of it
    ref = lambda h: solve_ivp(f, (0, h), Y0, method="DOP853", rtol=1e-13, atol=1e-15).y[:, -1]  # noqa: E731
    hs = [0.02, 0.01, 0.005, 0.0025]
    est, true1, true2 = [], [], []
    for h in hs:
        y2, err = rosenbrock_step(f, 0.0, Y0, h, rosenbrock_factor(jac(Y0), h))
        est.append(np.abs(err).max())
        true1.append(np.abs((y2 - err) - ref(h)).max())
        true2.append(np.abs(y2 - ref(h)).max())
    assert abs(_slope(hs, est) - 2) < 0.1
    assert abs(_slope(hs, true1) - 2) < 0.1
    assert abs(_slope(hs, true2) - 3) < 0.2          # local error of the second-order solution
    assert 0.2 < est[-1] / true1[-1] < 5


def test_ros2_stability_function_is_l_stable_and_positive():
    """On y' = lambda y with the exact Jacobian: R(z) = (1 - (1 + sqrt 2) z) / (1 - gamma z)^2, in (0, 1]
    for z <= 0 and -> 0 as z -> -inf: any step, however far above the explicit bound 2/|lambda|, decays
    and stays positive."""
    g = Rosenbrock2.gamma
    for z in [-1e-3, -0.5, -2.0, -10.0, -1e3, -1e8]:
        lam = z  # h = 1
        y1 = rosenbrock_step(lambda t, y: lam * y, 0.0, np.ones(1), 1.0, rosenbrock_factor(np.array([[lam]]), 1.0))[0]
        R = (1 - (1 + np.sqrt(2)) * z) / (1 - g * z) ** 2
        assert y1[0] == pytest.approx(R, rel=1e-12)
        assert 0 < y1[0] <= 1
    assert abs(R) < 1e-7


def test_ros2_on_exact_linear_characteristics():
    """Particles of the linear potential J = -<e, eta> (retraction onto S^2 after each stage, log-masses):
    fitted order 2 against the exact characteristics (wgf.analysis.exact), with the finite-difference
    Jacobian of the retracted field."""
    rng = np.random.default_rng(3)
    e = np.array([1.0, 2.0, -2.0]) / 3.0
    P = rng.standard_normal((12, 3))
    P /= np.linalg.norm(P, axis=1)[:, None]
    P = P[np.abs(P @ e) < 0.9]
    m0 = rng.uniform(0.5, 2.0, len(P))
    alpha, beta, T = 4.0, 1.0, 1.0

    def field(t, y):
        eta = y[:, :3]
        c = eta @ e
        out = np.empty_like(y)
        out[:, :3] = beta * (e[None, :] - c[:, None] * eta)
        out[:, 3] = alpha * c
        return out

    def project(y):
        out = y.copy()
        out[:, :3] /= np.linalg.norm(out[:, :3], axis=1)[:, None]
        return out

    eta_T = wgf.analysis.exact.linear_characteristics(P, T, e, beta)
    c0, cT = 0.5 * (1 + P @ e), 0.5 * (1 + eta_T @ e)
    m_T = m0 * np.exp(alpha * T) * (c0 / cT) ** (alpha / beta)
    ns = [8, 16, 32, 64]
    errs = []
    for n in ns:
        y = np.column_stack([P, np.log(m0)])
        h = T / n
        for k in range(n):
            A = finite_difference_jacobian(field, k * h, y, project=project)
            y = rosenbrock_step(field, k * h, y, h, rosenbrock_factor(A, h), project=project)[0]
        errs.append(max(np.abs(y[:, :3] - eta_T).max(), np.abs(np.exp(y[:, 3]) / m_T - 1).max()))
    slope = _slope(T / np.array(ns), errs)
    assert 1.85 < slope < 2.5, (errs, slope)


def test_finite_difference_jacobian_and_kink_columns():
    def g(t, y):
        return np.array([np.sin(y[0]) * y[1], y[1] ** 2, abs(y[2]) + y[0]])

    y = np.array([0.3, -0.7, 0.0])        # |y_2| has its kink here
    exact = np.array([[np.cos(0.3) * -0.7, np.sin(0.3), 0.0], [0.0, -1.4, 0.0], [1.0, 0.0, 0.0]])
    A = finite_difference_jacobian(g, 0.0, y, drop_kinks=True)
    assert np.abs(A - exact).max() < 1e-7     # the kink column is dropped (one-sided slopes +1 and -1)
    A1 = finite_difference_jacobian(g, 0.0, y)
    assert np.abs(A1[:, :2] - exact[:, :2]).max() < 1e-6 and A1[2, 2] == pytest.approx(1.0)


# ---------------------------------------------------------------------- the grid
@pytest.fixture(scope="module")
def model():
    return TeacherStudent(TEACHER)


@pytest.mark.parametrize("grid", ["S1", "S2"])
def test_grid_jacobian_matches_finite_differences(model, grid):
    if grid == "S1":
        g = circle_grid(64)
        mdl = LinearPotential(np.array([0.6, 0.8]))
    else:
        g = icosahedral_grid(2)
        mdl = model
    m = g.volumes * np.random.default_rng(1).uniform(0.5, 1.5, g.size) / g.volumes.sum()
    s = EulerianSolver(mdl, g, m, stepper="ros2")
    A = s.jacobian(0.0, s.masses)
    Afd = finite_difference_jacobian(lambda t, y: s._evaluate(y).rhs, 0.0, s.masses)
    assert np.abs(A - Afd).max() < 1e-6 * np.abs(A).max()


def test_grid_ros2_fixed_steps_second_order_with_transport():
    """The linear potential on S^1 with transport: fixed ros2 steps against a fine ssprk3 solution of the same
    semi-discrete system (the time error alone): fitted slope 2."""
    g = circle_grid(128)
    mdl = LinearPotential(np.array([np.cos(0.3), np.sin(0.3)]))
    T = 0.5
    ref = EulerianSolver(mdl, g, stepper="ssprk3", cfl=0.2)
    ref.advance(T)
    ns = [10, 20, 40, 80]
    errs = []
    for n in ns:
        s = EulerianSolver(mdl, g, stepper="ros2", dt=T / n)
        s.advance(T)
        assert s.steps == n
        errs.append(np.abs(s.masses - ref.masses).sum() / ref.masses.sum())
    slope = -_slope(ns, errs)
    assert 1.85 < slope < 2.5, (errs, slope)


def test_grid_long_time_positive_monotone_and_growing_steps(model):
    """Teacher-student on S^2 to T = 10^4: every accepted step keeps the masses nonnegative and F
    nonincreasing, the steps end far above the explicit (energy-stability) bound, and they grow."""
    g = icosahedral_grid(2)
    s = EulerianSolver(model, g, stepper="ros2", rtol=1e-4)
    F, minm, ratio, dts = [s.energy()], [], [], []

    def record(sol):
        d = sol.diagnostics()
        F.append(d["energy"])
        minm.append(d["min_mass"])
        dts.append(sol.last_dt)
        ratio.append(sol.last_dt / d["dt_energy"])
        return False

    for T in (10.0, 1e4):
        s.advance(T, record)
        if T == 10.0:
            dt_10 = dts[-2]          # the last step is shortened to land on T
    assert min(minm) >= 0.0
    dF = np.diff(F)
    assert np.all(dF <= 64 * np.finfo(float).eps * F[0]), dF.max()
    assert F[-1] < 1e-3 * F[0]
    assert max(ratio) > 100.0          # steps 100x the energy-stability bound of explicit stepping
    assert dts[-2] > 100.0 * dt_10     # the step grows as the flow settles
    # an explicit run needs T / dt_E ~ 3e4 steps to reach 10^4
    assert s.steps < 3000, s.steps
    print(f"ros2 grid: {s.steps} steps to 1e4, rejected {s.rejections}, {s.jacobians} Jacobians, "
          f"max dt / dt_E = {max(ratio):.3g}")


def test_grid_ros2_resume_is_bit_for_bit(model):
    g = icosahedral_grid(1)
    a = EulerianSolver(model, g, stepper="ros2")
    a.advance(50.0)
    b = EulerianSolver(model, g, stepper="ros2")
    b.advance(20.0)
    state = b.state_dict()
    c = EulerianSolver(model, g, stepper="ros2")
    c.load_state_dict(state)
    c.advance(50.0)
    b.advance(50.0)
    assert np.array_equal(b.masses, c.masses) and b.steps == c.steps
    # stopping at 20 is a step boundary for b and c only; a took other steps, to the same accuracy
    assert np.abs(a.masses - c.masses).sum() < 1e-3 * a.masses.sum()


def test_grid_ros2_validation(model):
    g = icosahedral_grid(1)
    with pytest.raises(ValueError, match="jacobian_age"):
        EulerianSolver(model, g, stepper="ros2", jacobian_age=0)
    with pytest.raises(ValueError, match="reuse_ratio"):
        EulerianSolver(model, g, stepper="ros2", reuse_ratio=0.5)
    with pytest.raises(ValueError, match="rtol"):
        EulerianSolver(model, g, stepper="ros2", rtol=-1.0)
    with pytest.raises(ValueError, match="needs .* bytes of dense matrices"):
        EulerianSolver(model, g, stepper="ros2", interaction_memory=1000)
    assert "ros2" in EulerianSolver.allowed_steppers()
    assert get_stepper("ros2") is Rosenbrock2


# ---------------------------------------------------------------------- particles
def test_particles_ros2_monotone_and_steps_above_explicit_stability(model):
    """Teacher-student particles (42 atoms on S^2) to T = 1000: F nonincreasing at every accepted step, and
    the last steps far outside the stability interval of every explicit Runge-Kutta method (at most
    ~3.3 / rho for rk45 and 2 / rho for forward Euler, rho the spectral radius of the Jacobian there)."""
    g = icosahedral_grid(1)
    nu0 = wgf.Measure(g.points, g.volumes / g.volumes.sum())
    s = LagrangianSolver(model, nu0, stepper="ros2", rtol=1e-4, atol=1e-9)
    F, times = [s.energy()], [0.0]

    def record(sol):
        F.append(sol.energy())
        times.append(sol.time)
        return False

    s.advance(1000.0, record)
    F = np.array(F)
    assert np.all(np.diff(F) <= 1e-14 * F[0]), np.diff(F).max()
    assert F[-1] < 1e-4 * F[0]
    rho = np.abs(np.linalg.eigvals(s._jacobian(s._y))).max()
    dts = np.diff(times)
    assert dts[-2] * rho > 20.0, (dts[-2], rho)
    assert dts[-2] > 100 * dts[:10].max()           # the steps grew as the flow settled
    print(f"particles to T = 1000: ros2 {s.steps} steps ({s.jacobians} Jacobians, {s.rejected} rejected), "
          f"last dt {dts[-2]:.3g}, spectral radius {rho:.3g}")


def test_particles_ros2_resume_is_bit_for_bit(model):
    g = icosahedral_grid(0)
    nu0 = wgf.Measure(g.points, g.volumes / g.volumes.sum())
    b = LagrangianSolver(model, nu0, stepper="ros2", rtol=1e-4)
    b.advance(5.0)
    c = LagrangianSolver(model, nu0, stepper="ros2", rtol=1e-4)
    c.load_state_dict(b.state_dict())
    b.advance(30.0)
    c.advance(30.0)
    assert np.array_equal(b.points, c.points) and np.array_equal(b.masses, c.masses) and b.steps == c.steps


def test_grid_ros2_non_quadratic_model_uses_finite_differences():
    """A model that is not quadratic (empirical logistic loss): the finite-difference Jacobian, and the
    same checks (F nonincreasing at every accepted step, masses nonnegative)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2))
    y = np.sign(X[:, 0] + 0.3 * X[:, 1])
    mdl = wgf.models.EmpiricalReLU(X, y, loss="logistic")
    g = icosahedral_grid(1)
    s = EulerianSolver(mdl, g, stepper="ros2", rtol=1e-3)
    F = [s.energy()]
    s.advance(50.0, lambda sol: F.append(sol.energy()) and False)
    assert np.all(np.diff(F) <= 1e-12 * abs(F[0])) and s.masses.min() >= 0
    assert F[-1] < 0.5 * F[0] and s.jacobians >= 1


@pytest.mark.parametrize("kind", ["grid", "particles"])
def test_ros2_estimate_steps_by_probe_leaves_the_solver_unchanged(model, kind):
    """estimate_steps probes and restores: the run afterwards is the run without the probe, bit for bit,
    and the estimate is within a factor 2 above the steps taken (teacher-student to 10^4)."""
    g = icosahedral_grid(1)

    def build():
        if kind == "grid":
            return EulerianSolver(model, g, stepper="ros2", rtol=1e-4)
        return LagrangianSolver(model, wgf.Measure(g.points, g.volumes / g.volumes.sum()), stepper="ros2",
                                rtol=1e-4, atol=1e-9)

    a, b = build(), build()
    est = a.estimate_steps(1e4)
    assert a.time == 0.0 and a.steps == 0
    a.advance(1e4)
    b.advance(1e4)
    assert np.array_equal(a.masses, b.masses) and a.steps == b.steps
    assert a.steps <= est <= 2.0 * a.steps, (est, a.steps)
    assert build().estimate_steps(0.0) == 0.0
    if kind == "grid":
        assert EulerianSolver(model, g, stepper="ssprk2").estimate_steps(1e4) is None
