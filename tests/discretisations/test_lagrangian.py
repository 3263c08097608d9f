"""Lagrangian weighted particles: Runge–Kutta orders against an exact solution, retraction, error control,
energy dissipation, the invariant Q, bit-for-bit resume and input validation."""

import numpy as np
import pytest

import wgf
from wgf.geometry import sphere
from wgf.discretisations.lagrangian import ADAPTIVE_STEPPERS, LagrangianSolver, runge_kutta_steppers
from wgf.models.base import Model
from wgf.discretisations.timesteppers import STEPPERS


# ---------------------------------------------------------------------------------------------- exact case
class LinearPotential(Model):
    """F(nu) = -<e, int eta dnu>, so J(eta) = -<e, eta> whatever nu (the linear potential of the issue)."""

    def __init__(self, e):
        self.e = np.asarray(e, float) / np.linalg.norm(e)
        self.dim = len(self.e) - 1

    def _potential(self, P, measure, backend):
        c = P @ self.e
        return -c, -(self.e[None, :] - c[:, None] * P)

    def energy(self, measure):
        return -float(measure.masses @ (measure.points @ self.e))


def exact_linear(e, eta0, m0, t, alpha, beta):
    """Characteristics of J = -<e, eta>: d eta/dt = beta (e - <e,eta> eta) moves eta toward e along the great
    circle with phi' = -beta sin phi, i.e. tan(phi_t/2) = tan(phi_0/2) e^{-beta t}; dm/dt = alpha cos(phi) m
    integrates (u = tan(phi/2), cos phi = (1-u^2)/(1+u^2), ds = -du/(beta u)) to
    m_t = m_0 e^{alpha t} ((1 + u_t^2)/(1 + u_0^2))^{alpha/beta}."""
    c0 = eta0 @ e
    phi0 = np.arccos(np.clip(c0, -1, 1))
    v = eta0 - c0[:, None] * e[None, :]
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    u0 = np.tan(phi0 / 2)
    ut = u0 * np.exp(-beta * t)
    phit = 2 * np.arctan(ut)
    eta = np.cos(phit)[:, None] * e[None, :] + np.sin(phit)[:, None] * v
    m = m0 * np.exp(alpha * t) * ((1 + ut**2) / (1 + u0**2)) ** (alpha / beta)
    return eta, m


def _linear_case(d=2, n=40, seed=0):
    rng = np.random.default_rng(seed)
    e = sphere.normalize(rng.standard_normal((1, d + 1)))[0]
    pts = sphere.sample_uniform(n, d, rng)
    pts = pts[np.abs(pts @ e) < 0.95]  # away from the fixed points +-e, where the direction v is undefined
    masses = rng.uniform(0.5, 2.0, len(pts))
    return LinearPotential(e), wgf.Measure(pts, masses)


def _errors(solver, model, nu0, T, alpha, beta):
    eta, m = exact_linear(model.e, nu0.points, nu0.masses, T, alpha, beta)
    snap = solver.snapshot()
    return (np.abs(snap["points"] - eta).max(), np.abs(snap["masses"] / m - 1).max())


def _slope(x, y):
    return np.polyfit(np.log(x), np.log(y), 1)[0]


FIXED = [s for s in runge_kutta_steppers() if s not in ADAPTIVE_STEPPERS]


@pytest.mark.parametrize("name", FIXED)
def test_fixed_step_orders_on_exact_solution(name):
    """Error at T = 1 against the exact characteristics over 4 step sizes: fitted slope = the tableau's order
    (every registered fixed tableau, with retraction after each stage)."""
    alpha, beta, T = 4.0, 1.0, 1.0
    model, nu0 = _linear_case()
    order = STEPPERS[name].order
    ns = [8, 16, 32, 64] if order <= 2 else [4, 8, 16, 32]
    ep, em = [], []
    for n in ns:
        s = LagrangianSolver(model, nu0, alpha=alpha, beta=beta, stepper=name, dt=T / n)
        s.advance(T)
        assert s.steps == n and s.time == T
        e1, e2 = _errors(s, model, nu0, T, alpha, beta)
        ep.append(e1)
        em.append(e2)
        # retraction: the points stay on the sphere to round-off
        assert np.abs(np.linalg.norm(s.points, axis=1) - 1).max() < 1e-14
    dts = T / np.array(ns)
    # the fitted order is the asymptotic one up to the pre-asymptotic curvature over this range
    assert abs(_slope(dts, ep) - order) < 0.3, (name, ep)
    assert abs(_slope(dts, em) - order) < 0.3, (name, em)


@pytest.mark.parametrize("name", ADAPTIVE_STEPPERS)
def test_adaptive_pair_meets_tolerance(name):
    """Global error at T = 1 against the exact solution is at most a small multiple of the tolerance (the
    flow is contracting toward e, so local errors do not amplify), and shrinks with it like tol^{~1}."""
    alpha, beta, T = 4.0, 1.0, 1.0
    model, nu0 = _linear_case(seed=1)
    tols = [1e-4, 1e-5, 1e-6, 1e-7]
    errs, steps = [], []
    for tol in tols:
        s = LagrangianSolver(model, nu0, alpha=alpha, beta=beta, stepper=name, rtol=tol, atol=tol)
        s.advance(T)
        assert s.time == T
        e1, e2 = _errors(s, model, nu0, T, alpha, beta)
        errs.append(max(e1, e2))
        steps.append(s.steps)
        # masses are ~ e^4 ~ 50 here: relative mass error ~ (atol + rtol m)/m ~ tol
        assert max(e1, e2) < 10 * tol, (tol, e1, e2)
    assert _slope(tols, errs) > 0.7
    assert steps == sorted(steps)  # tighter tolerance, more steps
    assert all(np.diff(steps) > 0)


def test_adaptive_initial_step_and_given_dt():
    model, nu0 = _linear_case()
    s = LagrangianSolver(model, nu0, stepper="rk45", rtol=1e-6, atol=1e-9)
    assert 0 < s.proposed_dt < 1
    s2 = LagrangianSolver(model, nu0, stepper="rk45", dt=0.01, rtol=1e-6, atol=1e-9)
    assert s2.proposed_dt == 0.01


def test_zero_mass_atoms_stay_zero_and_move():
    model, nu0 = _linear_case(n=10)
    masses = nu0.masses.copy()
    masses[0] = 0.0
    nu = wgf.Measure(nu0.points, masses)
    s = LagrangianSolver(model, nu, stepper="rk4", dt=0.1)
    s.advance(1.0)
    assert s.masses[0] == 0.0 and np.all(s.masses[1:] > 0)
    eta, _ = exact_linear(model.e, nu.points[:1], np.ones(1), 1.0, 4.0, 1.0)
    assert np.abs(s.points[0] - eta[0]).max() < 1e-5


# ---------------------------------------------------------------------------------------------- teacher–student
def _teacher(dx, m0, seed):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.choice([-1.0, 1.0], m0), sphere.sample_uniform(m0, dx - 1, rng)])


def _ts_case(n=40, seed=3, dx=2):
    model = wgf.TeacherStudent(_teacher(dx, 4, seed))
    w0 = wgf.initial_weights(n, dx, kind="uniform", radius=1.0, seed=seed)
    return model, wgf.Measure.from_weights(w0)


def test_energy_dissipation_identity():
    """dF/dt = -alpha int J^2 dnu - beta int |grad_S J|^2 dnu at t = 0, checked by (F(h) - F(0))/h over four
    h with one RK4 step: the defect shrinks like h (fitted slope ~1), for two (alpha, beta)."""
    model, nu0 = _ts_case()
    J, G = model.potential(nu0.points, nu0)
    for alpha, beta in [(4.0, 1.0), (1.0, 3.0)]:
        D = alpha * nu0.integrate(J**2) + beta * nu0.integrate(np.sum(G**2, axis=1))
        hs = [0.02, 0.01, 0.005, 0.0025]
        defects = []
        for h in hs:
            s = LagrangianSolver(model, nu0, alpha=alpha, beta=beta, stepper="rk4", dt=h)
            s.advance(h)
            defects.append(abs((s.energy() - model.energy(nu0)) / h + D))
        assert abs(_slope(hs, defects) - 1) < 0.2, defects


def test_energy_decreases_from_grid_quadrature():
    """Start from a quadrature of the uniform nu_0 (Fibonacci cell centres with equal cell masses): F
    decreases step after step."""
    model = wgf.TeacherStudent(_teacher(2, 4, 5))
    pts = sphere.fibonacci_sphere(200)
    nu0 = wgf.Measure(pts, np.full(200, 4 * np.pi / 200 / (4 * np.pi)))
    s = LagrangianSolver(model, nu0, stepper="rk4", dt=0.1)
    energies = [s.energy()]
    s.advance(2.0, callback=lambda sol: energies.append(sol.energy()) and False)
    assert len(energies) == 21
    assert np.all(np.diff(energies) < 0)
    assert energies[-1] < 0.5 * energies[0]


def test_particle_balance_conserved_to_integrator_order():
    """With alpha = 4 beta every particle's m_k (eta_0^2 - |eta_{1:}|^2) (a neuron's a^2 - |b|^2) is
    invariant; RK4's drift at T = 1 shrinks like dt^4 (fitted over four dt).

    Balanced neurons (a^2 = |b|^2) keep |b| = |a|, far from the poles b = 0 where J is not differentiable:
    from a uniform start a neuron with a^2 > |b|^2 can approach a pole (|b| ~ 1e-3 here by T = 1 for seed
    4), and there the fixed-step order falls to about 1.5."""
    model = wgf.TeacherStudent(_teacher(2, 4, 4))
    nu0 = wgf.Measure.from_weights(wgf.initial_weights(30, 2, kind="balanced", radius=1.0, seed=4))
    q0 = nu0.masses * (2 * nu0.points[:, 0] ** 2 - 1)
    dts = [0.2, 0.1, 0.05, 0.025]
    drift = []
    for dt in dts:
        s = LagrangianSolver(model, nu0, stepper="rk4", dt=dt)
        s.advance(1.0)
        q = s.masses * (2 * s.points[:, 0] ** 2 - 1)
        drift.append(np.abs(q - q0).max())
    slope = _slope(dts, drift)
    # C^{2,1} kernel: crossings of parallel b's cost local O(dt^4), which keeps global order 4
    assert 3.5 < slope < 4.6, (slope, drift)
    # the total Q likewise
    s = LagrangianSolver(model, nu0, stepper="rk4", dt=0.025)
    s.advance(1.0)
    assert abs(s.measure.balance() - nu0.balance()) < 10 * drift[-1] * len(q0)


# ---------------------------------------------------------------------------------------------- resume
def _random_stops(seed, p=0.3):
    rng = np.random.default_rng(seed)
    return lambda solver: bool(rng.random() < p)


@pytest.mark.parametrize("stepper,kw", [("rk4", {"dt": 0.07}), ("rk45", {"rtol": 1e-7, "atol": 1e-9}),
                                        ("rk23", {"rtol": 1e-5, "atol": 1e-8})])
def test_resume_bit_for_bit(stepper, kw):
    model, nu0 = _ts_case(n=25, seed=6)
    T = 1.0
    ref = LagrangianSolver(model, nu0, stepper=stepper, **kw)
    ref.advance(T)
    stop = _random_stops(11)
    sol = LagrangianSolver(model, nu0, stepper=stepper, **kw)
    restarts = 0
    while sol.time < T:
        sol.advance(T, callback=stop)
        state = sol.state_dict()
        sol = LagrangianSolver(model, nu0, stepper=stepper, **kw)
        sol.load_state_dict(state)
        restarts += 1
    assert restarts > 3
    assert sol.time == ref.time and sol.steps == ref.steps
    a, b = sol.snapshot(), ref.snapshot()
    assert np.array_equal(a["points"], b["points"]) and np.array_equal(a["masses"], b["masses"])


def test_grid_times_and_shortened_steps():
    """Fixed steps: stopping at grid times changes nothing; stopping between grid times splits one step and
    returns to the grid."""
    model, nu0 = _ts_case(n=20, seed=7)
    ref = LagrangianSolver(model, nu0, stepper="rk4", dt=0.1)
    ref.advance(1.0)
    s = LagrangianSolver(model, nu0, stepper="rk4", dt=0.1)
    for t in (0.3, 0.7, 1.0):  # 0.3 = 3 * 0.1 up to round-off
        s.advance(t)
        assert s.time == t
    assert np.array_equal(s.points, ref.points) and np.array_equal(s.masses, ref.masses)
    s2 = LagrangianSolver(model, nu0, stepper="rk4", dt=0.1)
    s2.advance(0.35)
    assert s2.time == 0.35 and s2.steps == 4
    s2.advance(1.0)
    assert s2.steps == 11  # one step split in two, back on the grid after it
    # the split step changes the result by no more than the discretisation error itself
    fine = LagrangianSolver(model, nu0, stepper="rk4", dt=0.0125)
    fine.advance(1.0)
    err = np.abs(ref.points - fine.points).max()
    assert 0 < np.abs(s2.points - ref.points).max() < 2 * err


def test_blowup_and_bad_inputs():
    model, nu0 = _ts_case(n=5)
    with pytest.raises(ValueError, match="model"):
        LagrangianSolver("model", nu0, dt=0.1)
    with pytest.raises(ValueError, match="measure"):
        LagrangianSolver(model, np.ones((3, 3)), dt=0.1)
    with pytest.raises(ValueError, match="dimension mismatch"):
        LagrangianSolver(model, wgf.Measure(sphere.sample_uniform(3, 3, 0), np.ones(3)), dt=0.1)
    with pytest.raises(ValueError, match="alpha"):
        LagrangianSolver(model, nu0, alpha=-1.0, dt=0.1)
    with pytest.raises(ValueError, match="beta"):
        LagrangianSolver(model, nu0, beta=float("nan"), dt=0.1)
    with pytest.raises(ValueError, match="stepper"):
        LagrangianSolver(model, nu0, stepper="rk7", dt=0.1)
    with pytest.raises(ValueError, match="dt is required"):
        LagrangianSolver(model, nu0, stepper="rk4")
    with pytest.raises(ValueError, match="dt"):
        LagrangianSolver(model, nu0, stepper="rk4", dt=0.0)
    with pytest.raises(ValueError, match="rtol"):
        LagrangianSolver(model, nu0, stepper="rk45", rtol=-1.0)
    with pytest.raises(ValueError, match="both be 0"):
        LagrangianSolver(model, nu0, stepper="rk45", rtol=0.0, atol=0.0)
    s = LagrangianSolver(model, nu0, dt=0.1)
    s.advance(0.2)
    with pytest.raises(ValueError, match="before the current time"):
        s.advance(0.1)
    with pytest.raises(ValueError, match="t_end"):
        s.advance(float("inf"))
    other = LagrangianSolver(model, wgf.Measure(nu0.points[:3], nu0.masses[:3]), dt=0.1)
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict(s.state_dict())
    with pytest.raises(ValueError, match="missing"):
        s.load_state_dict({"points": s.points})
    with pytest.raises(ValueError, match="stepper"):
        LagrangianSolver(model, nu0, stepper="rk2", dt=0.1).load_state_dict(s.state_dict())
    # a step far too large for the reaction blows up, and says so
    big = LagrangianSolver(model, wgf.Measure(nu0.points, 1e3 * nu0.masses), stepper="euler", dt=50.0)
    with pytest.raises(FloatingPointError, match="blew up"):
        big.advance(500.0)


def test_diagnostics_and_snapshot():
    model, nu0 = _ts_case(n=8)
    s = LagrangianSolver(model, nu0, stepper="rk45", rtol=1e-6, atol=1e-9)
    s.advance(0.5)
    d = s.diagnostics()
    for key in ("energy", "mass", "Q", "dt", "rejected", "evaluations"):
        assert key in d and np.isfinite(d[key])
    assert d["mass"] == pytest.approx(s.masses.sum())
    assert s.kind == "lagrangian"
    snap = s.snapshot()
    assert snap["points"].shape == (8, 3) and snap["masses"].shape == (8,)
