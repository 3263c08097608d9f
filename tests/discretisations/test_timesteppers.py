"""Orders of every registered time stepper on a nonlinear ODE with a transport part and a reaction,
``dy/dt = T(y) - r(y) y``, fitted over step refinements against a tight reference solution."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from wgf.discretisations.timesteppers import STEPPERS, ExplicitRK, StrangSplitting, get_stepper, rk_step

L = np.array([[-1.0, 0.5, 0.2], [0.6, -0.9, 0.3], [0.4, 0.4, -0.5]])
L -= np.diag(L.sum(axis=0))  # columns sum to zero: T conserves sum(y)
W = np.array([[0.3, 0.1, 0.0], [0.1, 0.2, 0.05], [0.0, 0.05, 0.4]])


class System:
    """T(y) = L (y^2) (mass-conserving, nonlinear), r(y) = W y - 0.2 (state-dependent rate)."""

    def transport_rhs(self, t, y):
        return L @ (y * y)

    def reaction_rate(self, t, y):
        return W @ y - 0.2

    def rhs(self, t, y):
        return self.transport_rhs(t, y) - self.reaction_rate(t, y) * y


Y0 = np.array([0.7, 0.4, 1.1])
T_END = 1.0


@pytest.fixture(scope="module")
def reference():
    s = System()
    sol = solve_ivp(s.rhs, (0, T_END), Y0, method="DOP853", rtol=1e-13, atol=1e-15)
    return sol.y[:, -1]


def integrate(stepper, n):
    s, y, dt = System(), Y0.copy(), T_END / n
    for k in range(n):
        y = stepper.step(s, k * dt, y, dt)
    return y


@pytest.mark.parametrize("name", sorted(STEPPERS))
def test_stepper_order(name, reference):
    stepper = get_stepper(name)
    p = stepper.order
    # step counts in the asymptotic range, above round-off: fewer steps for higher orders
    ns = {1: [16, 32, 64, 128], 2: [8, 16, 32, 64], 3: [8, 16, 32, 64], 4: [4, 8, 16, 32],
          5: [4, 8, 16, 32]}[p]
    if getattr(stepper, "linearly_implicit", False):
        # ROS2's error constant is larger: at 8..64 steps its errors still curve (fitted 1.81)
        ns = [2 * n for n in ns]
    errs = [np.abs(integrate(stepper, n) - reference).max() for n in ns]
    slope = -np.polyfit(np.log(ns), np.log(errs), 1)[0]
    assert slope > p - 0.2, (name, errs, slope)
    assert slope < p + 0.6, (name, errs, slope)   # not accidentally of higher order: the order is exact


def test_ssp_steppers_are_convex_combinations_of_euler_steps():
    # Shu-Osher: with f linear, SSPRK2/3 equal the stated convex combinations of forward-Euler steps
    f = System().rhs
    y, dt = Y0, 0.05
    fe = lambda u: u + dt * f(0, u)  # noqa: E731
    u1 = fe(y)
    assert np.allclose(get_stepper("ssprk2").step(System(), 0, y, dt), 0.5 * y + 0.5 * fe(u1), atol=1e-15)
    u2 = 0.75 * y + 0.25 * fe(u1)
    assert np.allclose(get_stepper("ssprk3").step(System(), 0, y, dt), y / 3 + 2 / 3 * fe(u2), atol=1e-15)


def test_registry_and_rk_step_interface():
    for name in ("rk2", "rk4", "rk45", "rk23", "euler", "ssprk2", "ssprk3", "strang"):
        assert name in STEPPERS
    assert issubclass(get_stepper("strang"), StrangSplitting)
    assert all(issubclass(get_stepper(n), ExplicitRK) for n in ("rk2", "rk4", "rk45", "rk23"))
    y, err, k = rk_step(lambda t, y: -y, 0.0, np.ones(2), 0.1, get_stepper("rk45"))
    assert np.allclose(y, np.exp(-0.1)) and err is not None and len(k) == 7
    with pytest.raises(ValueError, match="Runge-Kutta"):
        rk_step(lambda t, y: -y, 0.0, np.ones(2), 0.1, get_stepper("strang"))
    with pytest.raises(ValueError, match="unknown time stepper"):
        get_stepper("nope")


def test_strang_reaction_substep_is_second_order_and_frozen_rate_is_first():
    # the exponential midpoint substep alone on dy/dt = -r(y) y, against the reference of that ODE
    class R:
        def reaction_rate(self, t, y):
            return W @ y - 0.2

    sol = solve_ivp(lambda t, y: -R().reaction_rate(t, y) * y, (0, 1), Y0, rtol=1e-13, atol=1e-15,
                    method="DOP853").y[:, -1]
    ns = [8, 16, 32, 64]
    mid, frozen = [], []
    for n in ns:
        y1 = y2 = Y0.copy()
        for _ in range(n):
            y1 = StrangSplitting.reaction_step(R(), 0, y1, 1 / n)
            y2 = y2 * np.exp(-R().reaction_rate(0, y2) / n)
        mid.append(np.abs(y1 - sol).max())
        frozen.append(np.abs(y2 - sol).max())
    assert -np.polyfit(np.log(ns), np.log(mid), 1)[0] > 1.9
    assert -np.polyfit(np.log(ns), np.log(frozen), 1)[0] < 1.1
