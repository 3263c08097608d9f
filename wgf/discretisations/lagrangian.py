r"""Lagrangian weighted particles for the Wasserstein–Fisher–Rao flow on S^d.

The measure ``nu_t = sum_k m_k(t) delta_{eta_k(t)}`` solves the conic (WFR) gradient flow
``d/dt nu = -alpha J nu + beta div_S(nu grad_S J)`` exactly when each atom follows the characteristics

.. math::

    \dot\eta_k = -\beta\,(I - \eta_k\eta_k^T)\,\nabla J(\eta_k \mid \nu_t), \qquad
    \dot m_k = -\alpha\, J(\eta_k \mid \nu_t)\, m_k ,

a system of ODEs on ``(S^d)^N x (0, inf)^N``: no grid, no numerical diffusion, any dimension d. The atoms
come from any quadrature of ``nu_0`` (grid cell centres with the cell masses, a deterministic point set with
weights, or the neurons of a network through :meth:`wgf.Measure.from_weights`).

State and positivity. The solver integrates the *log-masses* ``l_k = log m_k``, ``dl_k/dt = -alpha J``: a
mass is ``exp(l_k) > 0`` after any step of any size, whereas an explicit step on ``m`` itself goes negative
as soon as ``alpha J dt < -1``. The right-hand side is as smooth in ``l`` as in ``m`` (it depends on
``m = exp(l)`` only through J), so the Runge–Kutta order is unchanged, and a frozen J is integrated exactly.
Atoms of zero mass (``l = -inf``) keep mass zero and still move.

Time stepping (the tableaux of :mod:`wgf.discretisations.timesteppers`):

* fixed steps ``"rk2"`` (explicit midpoint), ``"rk4"`` (classical) or any other registered explicit
  tableau without error control, on the grid ``t_k = k dt``: a step is shortened only to land on a
  requested ``t_end`` that is not a grid time, and the next step goes back to the grid, so stopping early
  splits one step in two and changes nothing else;
* adaptive ``"rk45"`` (Dormand–Prince 5(4)) and ``"rk23"`` (Bogacki–Shampine 3(2)) with local
  extrapolation and the controller :func:`wgf.discretisations.timesteppers.next_step_size`; the error norm is the max over
  atoms of ``|err_eta| / (atol + rtol |eta|)`` and ``m |err_l| / (atol + rtol m)`` (the mass error implied
  by the log-mass error), accepted when <= 1. The proposed step is part of the state.
* adaptive, linearly implicit ``"ros2"`` (:class:`~wgf.discretisations.timesteppers.Rosenbrock2`, second
  order, L-stable) for long times: explicit steps are capped by the stiffness of the flow near its limit
  (the curvature of F, which does not shrink as the flow settles), ROS2 is not. ``A`` is a
  finite-difference Jacobian of the retracted field (``2 N (d+2)`` evaluations, central differences; a
  column where the field has a kink at the scale of the increment, such as an atom at a pole ``b = 0`` of
  the ReLU models, is dropped: see :func:`~wgf.discretisations.timesteppers.finite_difference_jacobian`),
  kept with its factorisation while the proposed step stays within ``reuse_ratio`` of the factorised one,
  for at most ``jacobian_age`` steps. The error norm is that of the measure,
  ``sum_k m_k (|err_eta_k| + |err_l_k|) / (atol + rtol sum_k m_k)`` (componentwise relative errors of the
  coordinates of unit vectors would ask a second-order method for absolute errors ``atol`` near a zero
  coordinate), and a step that raises F beyond round-off is rejected and halved, so F is nonincreasing at
  every accepted step (masses are positive by the log-mass state). Cost ``O((N (d+2))^3)`` per
  factorisation: for up to a few hundred atoms.
* ``step_control="energy"`` with a fixed tableau (``"ssprk2"``, ``"rk2"``, ``"rk4"``...): the steps are chosen
  by a sufficient-decrease test on F instead of a local-error estimate (see *Energy step control* below):
  long times past the kinks of ReLU models, where the error control of rk45 and ros2 stalls.

Energy step control. The flow dissipates ``D = -dF/dt = sum_k m_k (alpha J_k^2 + beta |grad_S J_k|^2)``
(``dF/dt = sum_k (dF/dm_k) m_k' + (dF/deta_k) . eta_k'`` with ``dF/dm_k = J_k`` and ``dF/deta_k = m_k grad_S
J_k``). From the proposed step ``h`` one step of the tableau gives ``y'``, accepted when

.. math::

    F(y') \le F(y) - c\, h\, D(y) + \mathrm{tol}, \qquad c = \text{sufficient\_decrease} \in (0, 1),

``tol`` the round-off allowance of the energy check (:func:`~wgf.discretisations.solver.energy_tolerance`);
the time then advances by ``h`` and the next trial is ``min(step_growth h, max_step)``; a rejected trial is
halved and retried (counted in ``rejected``). This is the line search of the networks' ``step_rule =
"adaptive"`` (one shared rule, :func:`~wgf.discretisations.solver.line_search_outcome`) applied to the
particles' Runge–Kutta step. F is nonincreasing (beyond round-off) at every accepted step by construction:
the test is that inequality with ``c h D >= 0``. Accuracy: every accepted step is a step of a p-th order
tableau of size ``h_k <= max_step`` and ``t_k = sum h_k``, so as ``max_step -> 0`` (from a first trial ``dt <=
max_step``) the trajectory converges to the flow, at first order in the largest step at least (order p
where the field is smooth enough; the test does not estimate the local error, so no tolerance bounds it at
a fixed ``max_step``). Why the steps pass the kinks: a step of size h changes F by ``-h D + O(h^2 L D)``,
L the curvature of F along the step, so the test accepts steps up to a multiple of ``(1 - c) / L`` and
rejects those beyond the tableau's stability limit (the stiff modes grow until F no longer decreases): the
step is limited by stability, not by local error, and a velocity that jumps where a particle crosses a
hyperplane ``eta . x_i = 0`` of the data costs an O(h) local error but no rejection as long as F
decreases. For the logistic loss the curvature of F decays like the loss, so the accepted steps grow like
t. ``advance(t_end)`` shortens the last step to land exactly on ``t_end`` and keeps the proposed step for
the next call; the proposed step, the last step, the time and the counters are part of the state
(bit-for-bit resume).

Every stage value is retracted onto the sphere (``eta <- eta/|eta|``) before J is evaluated there, and so
is the result. Evaluating the field at the retracted point is the same as applying the method to the
extension ``f(y) = f(y/|y|)``, a smooth field whose flow leaves the sphere invariant and coincides with the
original on it, followed by a projection: the retraction keeps the order of the method.

Smoothness. For ReLU models J is only C^{2,1} where two input weights are parallel and not differentiable
at the poles ``b = 0`` (DESIGN §2). Crossings of parallel directions cost local errors O(dt^4), which keeps
RK4's global order, but a particle passing close to a pole (a neuron with ``a^2 > |b|^2`` can shrink ``b``
toward 0) lowers a fixed step's observed order (to about 1.5 for RK4 in the tests' example); the adaptive
steppers respond by rejecting and shortening steps there.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from .._validate import check_bool, check_choice, check_real
from ..geometry.measure import Measure
from ..models.base import Model, QuadraticModel
from .solver import (LINE_SEARCH_HALVINGS, BlowUp, Solver, StepCallback, energy_increase, energy_tolerance,
                     line_search_outcome, line_search_parameters, line_search_trial, probe_step_count)
from .timesteppers import (STEPPERS, ExplicitRK, finite_difference_jacobian, get_stepper, next_step_size,
                           rk_step, rosenbrock_factor, rosenbrock_step)

__all__ = ["LagrangianSolver", "ADAPTIVE_STEPPERS", "LINEARLY_IMPLICIT_STEPPERS", "STEP_CONTROLS",
           "runge_kutta_steppers"]

#: Steppers run with error control (the embedded explicit pairs and the linearly implicit ROS2); every
#: other registered tableau runs with fixed steps.
ADAPTIVE_STEPPERS = ("rk45", "rk23", "ros2")

#: The linearly implicit (Rosenbrock) steppers the particles take, see *Linearly implicit stepping*.
LINEARLY_IMPLICIT_STEPPERS = ("ros2",)

#: How the steps are chosen: by the stepper (fixed steps, or its error control), or by the
#: sufficient-decrease test on F (module docstring, *Energy step control*).
STEP_CONTROLS = ("stepper", "energy")


def runge_kutta_steppers() -> list[str]:
    """Names of the registered explicit Runge–Kutta tableaux (the particle ODE takes no splitting scheme)."""
    return sorted(k for k, v in STEPPERS.items() if issubclass(v, ExplicitRK))

#: Relative tolerance (in units of dt) within which a requested t_end counts as a grid time.
_GRID_TOL = 1e-9


class LagrangianSolver(Solver):
    """Weighted particles following the characteristics of the WFR flow (see the module docstring).

    Parameters
    ----------
    model : Model
        Provides ``potential(points, measure) -> (J, grad_S J)`` and ``energy``.
    measure : Measure
        Initial atoms ``eta_k`` (N, d+1) and masses ``m_k`` (N,) (zero masses allowed).
    alpha, beta : float
        Reaction and transport coefficients, ``>= 0`` (a network is ``(4, 1)``).
    stepper : str
        ``"rk2"``, ``"rk4"`` (fixed steps; any fixed tableau of :data:`wgf.discretisations.timesteppers.STEPPERS` works) or
        ``"rk45"``, ``"rk23"`` (adaptive), ``"ros2"`` (adaptive, linearly implicit: long times).
    dt : float
        Fixed steps: the step (required). Adaptive: the first trial step (default: Hairer's starting-step
        heuristic, two evaluations of the field). ``step_control="energy"``: the first trial step (required).
    step_control : {"stepper", "energy"}
        ``"stepper"``: the stepper's own steps (fixed, or its error control). ``"energy"``: steps of a fixed
        explicit tableau chosen by the sufficient-decrease test on F (module docstring, *Energy step
        control*); not with the adaptive steppers (rk45, rk23, ros2), whose error control chooses the steps.
    step_growth, sufficient_decrease, max_step : float
        ``step_control="energy"`` only: the factor (> 1) by which the trial step grows after an accepted
        step, the constant ``c`` in (0, 1) of the test, and the largest trial step (> 0, default inf).
    rtol, atol : float
        Tolerances of the adaptive steppers (ignored by fixed steps).
    jacobian_age, reuse_ratio : int, float
        "ros2" only: the most steps a Jacobian is used for, and the factor within which the proposed step
        keeps the factorised one.
    check_energy : bool
        Fixed steps: check after every step that F did not increase beyond round-off (see Notes) and
        raise :class:`~wgf.discretisations.solver.BlowUp` if it did. Ignored by the adaptive steppers.

    Attributes
    ----------
    time, steps : float, int
        Current time and number of accepted steps.
    rejected : int
        Rejected adaptive steps.
    jacobians : int
        "ros2": Jacobians computed (each ``2 N (d+2)`` evaluations of the field, not counted in
        ``evaluations``).
    evaluations : int
        Evaluations of the field by the stages of the steps taken (the field at a new state, computed
        once for the energy check and the next step's first stage, counts once, as that stage).

    Notes
    -----
    *Energy check* (fixed steps). The flow decreases F, ``dF/dt = -sum_k m_k (alpha J_k^2 + beta |grad_S J_k|^2)``, and
    so does a fixed Runge–Kutta step that is small enough: in the coordinates ``(eta, l)``, where F is a
    smooth function, a step changes F by ``-h D (1 + O(h L))`` with D the dissipation above and L the
    curvature of F (the retraction adds ``O(h^2 |f|^2)``, of the same form), so F decreases while ``h L`` is
    below a constant of the method. A step that raises F by more than round-off (``(64 + N) eps scale``,
    :func:`wgf.discretisations.solver.energy_tolerance`) is therefore too large for the problem, and the solver stops there:
    :class:`~wgf.discretisations.solver.BlowUp` names F before and after, the step and the times, and the state stays the
    one before the step. Cost: for a :class:`~wgf.models.QuadraticModel`, ``F = m.(J + V)/2 + C`` comes
    from the field at the new state, which the next step's first stage needs anyway (it is kept for it),
    plus ``V`` at the particles (:meth:`QuadraticModel.linear_potential`, a potential of the m0 teacher
    atoms for the teacher–student model); for other models one :meth:`Model.energy` per step. Measured
    (RK4, N = 2562, per step): +8% for the teacher–student model, +15% for the empirical logistic model;
    ``check_energy=False`` removes it. The adaptive steppers are not checked: their error control accepts a
    local error up to the tolerance, which near convergence exceeds the decrease of F in a step, so F need
    not decrease step by step.
    """

    kind = "lagrangian"
    finite_state_is_valid = True  # masses exp(l_k) >= 0, points retracted onto the sphere

    def __init__(self, model: Model, measure: Measure, *, alpha: float = 4.0, beta: float = 1.0,
                 stepper: str = "rk4", dt: float | None = None, rtol: float = 1e-6, atol: float = 1e-9,
                 check_energy: bool = True, jacobian_age: int = 20, reuse_ratio: float = 1.5,
                 step_control: str = "stepper", step_growth: float = 1.25, sufficient_decrease: float = 0.5,
                 max_step: float = math.inf):
        if not isinstance(model, Model):
            raise ValueError(f"model must be a wgf Model, got {type(model).__name__}")
        if not isinstance(measure, Measure):
            raise ValueError(f"measure must be a wgf.Measure, got {type(measure).__name__}")
        model.check_measure(measure)
        if measure.size == 0:
            raise ValueError("measure must have at least one atom")
        self.model = model
        self.alpha = check_real("alpha", alpha, low=0.0)
        self.beta = check_real("beta", beta, low=0.0)
        self.stepper_name = check_choice("stepper", stepper,
                                         runge_kutta_steppers() + list(LINEARLY_IMPLICIT_STEPPERS))
        self._tableau = get_stepper(stepper)
        self.implicit = stepper in LINEARLY_IMPLICIT_STEPPERS
        self.jacobian_age = int(check_real("jacobian_age", jacobian_age, low=1.0))
        self.reuse_ratio = check_real("reuse_ratio", reuse_ratio, low=1.0)
        self.jacobians = 0          # Jacobians computed (ros2)
        self._jac_state: np.ndarray | None = None
        self._jac_dt = 0.0
        self._jac_age = 0
        self._lu = None
        self.adaptive = stepper in ADAPTIVE_STEPPERS
        self.rtol = check_real("rtol", rtol, low=0.0)
        self.atol = check_real("atol", atol, low=0.0)
        if self.adaptive and self.rtol == 0.0 and self.atol == 0.0:
            raise ValueError("rtol and atol cannot both be 0 for an adaptive stepper")
        self.step_control = check_choice("step_control", step_control, STEP_CONTROLS)
        self.energy_control = self.step_control == "energy"
        self.step_growth, self.sufficient_decrease, self.max_step = line_search_parameters(
            step_growth, sufficient_decrease, max_step)
        if self.energy_control and self.adaptive:
            raise ValueError(f"step_control='energy' needs a fixed explicit tableau (e.g. 'ssprk2', 'rk2', 'rk4'), "
                             f"got stepper={stepper!r}, which chooses its steps by its own error control")
        if dt is None:
            if self.energy_control:
                raise ValueError("dt (the first trial step) is required with step_control='energy'")
            if not self.adaptive:
                raise ValueError(f"dt is required for the fixed-step stepper {stepper!r}")
        else:
            dt = check_real("dt", dt, low=0.0, low_open=True)
        self.dt = dt  # the fixed step, or the adaptive initial step as given
        self.check_energy = check_bool("check_energy", check_energy)
        self._quadratic = isinstance(model, QuadraticModel)
        # the field at the current state: (y, rhs, J, (F, tol) or None), kept by the fixed-step energy check
        self._here: tuple | None = None
        # a model that is not quadratic gives F only: its round-off is measured against |F| and, where F
        # tends to 0 by cancellation (a square loss interpolating its data: F = mean (h - y)^2 / 2 is
        # computed from h and y of the size of the initial loss), against |F(nu_0)|
        self._energy_floor = 0.0
        if (self.check_energy or self.energy_control) and not self.adaptive and not self._quadratic:
            self._energy_floor = abs(float(model.energy(measure)))

        d1 = measure.dim + 1
        self._y = np.empty((measure.size, d1 + 1))
        self._y[:, :d1] = measure.points
        with np.errstate(divide="ignore"):
            self._y[:, d1] = np.log(measure.masses)
        self.time = 0.0
        self.steps = 0
        self.rejected = 0
        self.evaluations = 0
        self.last_step = 0.0    # step_control="energy": the last accepted step
        self._grid = 1          # fixed steps: index k of the next grid time k*dt
        self._offgrid = False   # fixed steps: True after a step shortened to land on t_end
        if self.adaptive:
            self._dt = dt if dt is not None else self._initial_step()
        elif self.energy_control:
            self._dt = min(dt, self.max_step)  # the proposed (next trial) step
        else:
            self._dt = dt

    # ------------------------------------------------------------------ state
    @property
    def points(self) -> np.ndarray:
        """Atom positions (N, d+1)."""
        return self._y[:, :-1]

    @property
    def masses(self) -> np.ndarray:
        """Atom masses ``exp(l_k)`` (N,)."""
        return np.exp(self._y[:, -1])

    @property
    def measure(self) -> Measure:
        return Measure(self._y[:, :-1].copy(), np.exp(self._y[:, -1]))

    @property
    def proposed_dt(self) -> float:
        """The next step size (fixed steps: dt; ``step_control="energy"``: the next trial step)."""
        return float(self._dt)

    # ------------------------------------------------------------------ the ODE
    def _field(self, t: float, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(dy/dt, J)`` at the state ``y``."""
        P = y[:, :-1]
        with np.errstate(over="ignore"):
            m = np.exp(y[:, -1])
        if not (np.all(np.isfinite(m)) and np.all(np.isfinite(P))):
            raise FloatingPointError(
                f"the Lagrangian solution blew up near t = {t:.6g} (masses overflow); reduce dt or the tolerances")
        nu = Measure(P, m)
        J, G = self.model.potential(P, nu)
        out = np.empty_like(y)
        out[:, :-1] = -self.beta * G
        out[:, -1] = -self.alpha * J
        return out, J

    def _rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        self.evaluations += 1
        if y is self._y and self._is_here():  # the first stage at the current state
            return self._here[1]
        return self._field(t, y)[0]

    def _is_here(self) -> bool:
        """Whether the kept field is that of the current state (compared by value: the state may have been
        changed in place, e.g. through :attr:`points`)."""
        return self._here is not None and np.array_equal(self._here[0], self._y)

    def _energy(self, y: np.ndarray, J: np.ndarray) -> tuple[float, float]:
        """F at the state ``y`` whose potential is ``J``, and its round-off allowance."""
        P = y[:, :-1]
        m = np.exp(y[:, -1])
        if self._quadratic:
            V = np.asarray(self.model.linear_potential(P), dtype=np.float64)
            C = float(self.model.energy_constant)
            F = 0.5 * float(m @ (J + V)) + C
            scale = abs(C) + float(m @ (np.abs(J) + np.abs(V)))
        else:
            F = float(self.model.energy(Measure(P, m)))
            scale = max(abs(F), self._energy_floor)
        return F, energy_tolerance(scale, y.shape[0])

    @staticmethod
    def _project(y: np.ndarray) -> np.ndarray:
        out = y.copy()
        P = out[:, :-1]
        P /= np.sqrt(np.einsum("ij,ij->i", P, P))[:, None]
        return out

    def _scaled(self, v: np.ndarray, y: np.ndarray, y2: np.ndarray | None = None) -> np.ndarray:
        """Componentwise ``v / (atol + rtol |y|)``, a log-mass component converted to the mass it implies
        (``m v_l / (atol + rtol m)``, 0 for a zero mass)."""
        yy = np.abs(y) if y2 is None else np.maximum(np.abs(y), np.abs(y2))
        out = np.empty_like(v)
        out[:, :-1] = v[:, :-1] / (self.atol + self.rtol * yy[:, :-1])
        lm = y[:, -1] if y2 is None else np.maximum(y[:, -1], y2[:, -1])
        m = np.exp(lm)
        with np.errstate(invalid="ignore"):
            out[:, -1] = np.where(m > 0, m * v[:, -1] / (self.atol + self.rtol * m), 0.0)
        return out

    def _initial_step(self) -> float:
        """Hairer–Nørsett–Wanner's starting step (Solving ODEs I, II.4): from the scaled norms of y, f(y) and
        of a finite-difference second derivative."""
        y0 = self._y
        f0 = self._rhs(0.0, y0)
        y0s = y0.copy()
        with np.errstate(invalid="ignore"):
            y0s[:, -1] = np.where(np.isfinite(y0[:, -1]), 1.0, 0.0)  # a mass is its own scale
        d0 = _rms(self._scaled(y0s, y0))
        d1 = _rms(self._scaled(f0, y0))
        h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
        y1 = self._project(y0 + h0 * f0)
        f1 = self._rhs(h0, y1)
        d2 = _rms(self._scaled(f1 - f0, y0)) / h0
        q = self._tableau.order
        h1 = max(1e-6, 1e-3 * h0) if max(d1, d2) <= 1e-15 else (0.01 / max(d1, d2)) ** (1.0 / q)
        return float(min(100.0 * h0, h1))

    # ------------------------------------------------------------------ stepping
    def _step(self, h: float):
        y_new, err, _ = rk_step(self._rhs, self.time, self._y, h, self._tableau, project=self._project)
        if not np.all(np.isfinite(y_new[:, :-1])) or np.any(np.isnan(y_new[:, -1])) or np.any(y_new[:, -1] == np.inf):
            raise FloatingPointError(
                f"the Lagrangian solution blew up at t = {self.time:.6g} (step {h:.3g}); reduce dt or the tolerances")
        return y_new, err

    def _state_here(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """``(y, rhs, J, F)`` at the current state, computed once and cached until the state moves."""
        if not self._is_here():
            rhs, J = self._field(self.time, self._y)
            self._here = (self._y.copy(), rhs, J, None)
        y0, rhs0, J0, E0 = self._here
        if E0 is None:
            E0 = self._energy(y0, J0)
            self._here = (y0, rhs0, J0, E0)
        return y0, rhs0, J0, E0

    def _checked_step(self, h: float, t_new: float) -> np.ndarray:
        """A fixed step of size ``h`` (to the time ``t_new``), with the energy check when enabled: raises
        :class:`BlowUp` (state unchanged) if F increased beyond round-off."""
        if not self.check_energy:
            return self._step(h)[0]
        y0, rhs0, J0, E0 = self._state_here()
        evaluations = self.evaluations
        try:
            y_new, _ = self._step(h)
            rhs1, J1 = self._field(t_new, y_new)  # the next step's first stage
        except FloatingPointError:
            self.evaluations = evaluations
            raise
        E1 = self._energy(y_new, J1)
        what = energy_increase(E0, E1)
        if what is not None:
            self.evaluations = evaluations  # the state stays the one before the step
            raise BlowUp(f"{what} in step {self.steps + 1} (t = {self.time:.6g} to {t_new:.6g}, {self.stepper_name} "
                         f"with dt = {self._dt:.6g}): the step is too large for this problem (a stable step "
                         f"decreases F); reduce dt or use an adaptive stepper (rk45)")
        self._here = (y_new.copy(), rhs1, J1, E1)
        return y_new

    def _advance_fixed(self) -> tuple[float, float] | None:
        """(h, new_time) of the next fixed step toward ``self._t_end`` (None when there)."""
        t_end = self._t_end
        dt = self._dt
        tg = self._grid * dt
        if tg <= t_end + _GRID_TOL * dt:
            on_end = abs(tg - t_end) <= _GRID_TOL * dt
            h = dt if not self._offgrid else tg - self.time
            t_new = t_end if on_end else tg
            self._y = self._checked_step(h, t_new)
            self.time = t_new
            self._grid += 1
            self._offgrid = False
        else:
            h = t_end - self.time
            self._y = self._checked_step(h, t_end)
            self.time = t_end
            self._offgrid = True
        return None

    def _advance_adaptive(self) -> None:
        remaining = self._t_end - self.time
        h = self._dt
        clipped = h >= remaining
        if clipped:
            h = remaining
        order = self._tableau.order
        while True:
            y_new, err = self._step(h)
            en = float(np.max(np.abs(self._scaled(err, self._y, y_new))))
            if not math.isfinite(en):
                en = math.inf
            if en <= 1.0:
                break
            self.rejected += 1
            h = next_step_size(h, en, order) if math.isfinite(en) else 0.2 * h
            clipped = False
            self._dt = h
            if h < 1e-14 * max(1.0, abs(self.time)):
                raise FloatingPointError(
                    f"step size underflow at t = {self.time:.6g}: the adaptive stepper cannot meet "
                    f"rtol={self.rtol:g}, atol={self.atol:g}")
        self._y = y_new
        if clipped:
            self.time = self._t_end
            # the step was shortened to land on t_end: the proposal made for a full step stands
        else:
            self.time = self.time + h
            self._dt = next_step_size(h, en, order)

    def _dissipation(self, y: np.ndarray, rhs: np.ndarray, J: np.ndarray) -> float:
        """``D = -dF/dt = sum_k m_k (alpha J_k^2 + beta |grad_S J_k|^2)`` at the state ``y`` with the field
        ``rhs`` (whose point part is ``-beta grad_S J``) and the potential ``J``."""
        m = np.exp(y[:, -1])
        D = self.alpha * float(m @ (J * J))
        if self.beta > 0.0:
            D += float(m @ np.einsum("ij,ij->i", rhs[:, :-1], rhs[:, :-1])) / self.beta
        return D

    def _advance_energy(self) -> None:
        """One accepted step of the energy step control toward ``self._t_end`` (module docstring); raises
        :class:`BlowUp` (state unchanged) after ``LINE_SEARCH_HALVINGS`` consecutive rejections."""
        y0, rhs0, J0, E0 = self._state_here()
        D = self._dissipation(y0, rhs0, J0)
        remaining = self._t_end - self.time
        for _ in range(LINE_SEARCH_HALVINGS + 1):
            h, last = line_search_trial(self._dt, remaining, _GRID_TOL)
            t_new = self._t_end if last else self.time + h
            after, new = (math.inf, 0.0), None
            try:
                y_new, _ = self._step(h)
                rhs1, J1 = self._field(t_new, y_new)  # the next step's first stage
                after = self._energy(y_new, J1)
                new = (y_new, rhs1, J1)
            except FloatingPointError:
                pass  # a blown-up trial fails the test
            accepted, self._dt = line_search_outcome(E0, after, h, self._dt, D, self.sufficient_decrease,
                                                     self.step_growth, self.max_step)
            if accepted:
                y_new, rhs1, J1 = new
                self._y = y_new
                self._here = (y_new.copy(), rhs1, J1, after)
                self.time = t_new
                self.last_step = h
                return
            self.rejected += 1
        raise BlowUp(f"step size underflow in step {self.steps + 1} at t = {self.time:.6g}: {LINE_SEARCH_HALVINGS} "
                     f"halvings of the trial step (now {self._dt:.3g}) found no sufficient decrease of "
                     f"F = {E0[0]:.12g}")

    # ------------------------------------------------------------------ linearly implicit stepping
    def _jacobian(self, y: np.ndarray) -> np.ndarray:
        """Finite-difference Jacobian (n, n), ``n = N (d+2)``, of the retracted field ``f(project(y))``."""
        f0 = self._field(self.time, self._project(y))[0]
        return finite_difference_jacobian(lambda t, z: self._field(t, z)[0], self.time, y, f0=f0,
                                          project=self._project, drop_kinks=True)

    def _measure_error(self, err: np.ndarray, y_new: np.ndarray) -> float:
        """The error norm of the linearly implicit stepper: ``sum_k m_k (|err_eta_k| + |err_l_k|)`` (to first
        order the error of the measure in the flat norm, a transport part and a mass part; an atom counts
        by its mass, ``m_k`` the larger of before and after) over ``atol + rtol sum_k m_k``."""
        with np.errstate(over="ignore", invalid="ignore"):
            m = np.exp(np.maximum(self._y[:, -1], y_new[:, -1]))
            e = np.sqrt(np.einsum("ij,ij->i", err[:, :-1], err[:, :-1])) + np.abs(err[:, -1])
            total = float(np.sum(np.where(m > 0, m * e, 0.0)))
        en = total / (self.atol + self.rtol * float(m.sum()))
        return en if math.isfinite(en) else math.inf

    def _rosenbrock_lu(self, h: float, keep: bool = True):
        if keep and self._lu is not None and self._jac_dt == h:
            return self._lu
        lu = rosenbrock_factor(self._jacobian(self._jac_state), h, self._tableau)
        if keep:
            self._lu, self._jac_dt = lu, h
        return lu

    def estimate_steps(self, t_end: float) -> float | None:
        """"ros2" and ``step_control="energy"``: the steps to ``t_end`` estimated by a probe to ``t + 1``
        (:func:`~wgf.discretisations.solver.probe_step_count`; the solver is left as it was): with ros2 the
        step is taken to grow in proportion to the time, with the energy control (explicit steps, which
        level off at a stability limit where the curvature of F does not decay) to stay the step proposed
        after the probe, an overestimate where the steps keep growing (the logistic loss). None for the
        other steppers."""
        if self.energy_control:
            return probe_step_count(self, t_end, lambda: self.proposed_dt, levels_off=True)
        if not self.implicit:
            return None
        return probe_step_count(self, t_end, lambda: self.proposed_dt)

    def _new_jacobian(self, h: float) -> None:
        self._jac_state = self._y.copy()
        self._jac_dt = h
        self._jac_age = 0
        self._lu = None
        self.jacobians += 1

    def _advance_rosenbrock(self) -> None:
        """One accepted ROS2 step toward ``self._t_end`` (see the class Notes)."""
        remaining = self._t_end - self.time
        h = self._dt
        if (self._jac_state is None or self._jac_age >= self.jacobian_age
                or not (self._jac_dt / self.reuse_ratio <= h <= self._jac_dt * self.reuse_ratio)):
            self._new_jacobian(h)
        else:
            h = self._jac_dt
        clipped = h >= remaining
        y0, rhs0, J0, E0 = self._state_here()
        order = self._tableau.order
        while True:
            step = remaining if clipped else h
            lu = self._rosenbrock_lu(step, keep=not clipped)
            self.evaluations += 1
            y_new, err = rosenbrock_step(self._rhs, self.time, self._y, step, lu, f0=rhs0,
                                         project=self._project, stepper=self._tableau)
            en, why = math.inf, "blow-up"
            if np.all(np.isfinite(y_new[:, :-1])) and not np.any(np.isnan(y_new[:, -1])) \
                    and not np.any(y_new[:, -1] == np.inf):
                en = self._measure_error(err, y_new)
                why = "error"
                if en <= 1.0:
                    rhs1, J1 = self._field(self.time + step, y_new)
                    E1 = self._energy(y_new, J1)
                    if energy_increase(E0, E1) is None:
                        break
                    why = "energy"
            self.rejected += 1
            h = next_step_size(step, en, order) if why == "error" and math.isfinite(en) else 0.5 * step
            clipped = False
            if h < 1e-14 * max(1.0, abs(self.time)):
                raise FloatingPointError(
                    f"step size underflow at t = {self.time:.6g} (last rejection: {why}): the ros2 stepper "
                    f"cannot meet rtol={self.rtol:g}, atol={self.atol:g}")
            self._new_jacobian(h)
        self._y = y_new
        self._here = (y_new.copy(), rhs1, J1, E1)
        self._jac_age += 1
        if clipped:
            self.time = self._t_end
        else:
            self.time = self.time + step
            self._dt = next_step_size(step, en, order)

    def _advance(self, t_end: float, callback: Optional[StepCallback] = None) -> None:
        """Advance to exactly ``t_end`` (see the module docstring for the step rules); ``callback(self)``
        after every accepted step may return True to stop there."""
        t_end = check_real("t_end", t_end)
        if t_end < self.time:
            raise ValueError(f"t_end = {t_end!r} is before the current time {self.time!r}")
        self._t_end = t_end
        while self.time < t_end:
            if self.energy_control:
                self._advance_energy()
            elif self.implicit:
                self._advance_rosenbrock()
            elif self.adaptive:
                self._advance_adaptive()
            else:
                self._advance_fixed()
            self.steps += 1
            if callback is not None and callback(self):
                break

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        return {
            "points": self._y[:, :-1].copy(),
            "log_masses": self._y[:, -1].copy(),
            "time": float(self.time),
            "steps": int(self.steps),
            "dt": float(self._dt),
            "grid_index": int(self._grid),
            "offgrid": int(self._offgrid),
            "rejected": int(self.rejected),
            "evaluations": int(self.evaluations),
            "stepper": self.stepper_name,
            **({"step_control": self.step_control, "last_step": float(self.last_step)} if self.energy_control else {}),
            **({"jacobian_state": self._jac_state.copy(), "jacobian_dt": float(self._jac_dt),
                "jacobian_age": int(self._jac_age), "jacobians": int(self.jacobians)}
               if self.implicit and self._jac_state is not None else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            P = np.asarray(state["points"], dtype=np.float64)
            L = np.asarray(state["log_masses"], dtype=np.float64)
            stepper = str(state["stepper"])
        except KeyError as exc:
            raise ValueError(f"state is missing the entry {exc.args[0]!r}") from None
        if P.shape != self._y[:, :-1].shape or L.shape != (P.shape[0],):
            raise ValueError(
                f"state has points of shape {P.shape} and log_masses {L.shape}, this solver has "
                f"{self._y[:, :-1].shape} and ({self._y.shape[0]},)")
        if stepper != self.stepper_name:
            raise ValueError(f"state was written by stepper {stepper!r}, this solver uses {self.stepper_name!r}")
        control = str(state.get("step_control", "stepper"))
        if control != self.step_control:
            raise ValueError(f"state was written with step_control {control!r}, this solver uses "
                             f"{self.step_control!r}")
        y = np.empty_like(self._y)
        y[:, :-1] = P
        y[:, -1] = L
        self._y = y
        self._here = None
        self.time = float(state["time"])
        self.steps = int(state["steps"])
        self._dt = float(state["dt"])
        self._grid = int(state["grid_index"])
        self._offgrid = bool(state["offgrid"])
        self.rejected = int(state["rejected"])
        self.evaluations = int(state["evaluations"])
        self.last_step = float(state.get("last_step", 0.0))
        if self.implicit:
            self._lu = None
            if "jacobian_state" in state:
                self._jac_state = np.array(state["jacobian_state"], dtype=np.float64)
                self._jac_dt = float(state["jacobian_dt"])
                self._jac_age = int(state["jacobian_age"])
                self.jacobians = int(state["jacobians"])
            else:
                self._jac_state = None

    # ------------------------------------------------------------------ output
    def diagnostics(self) -> dict[str, float]:
        """Energy, mass, Q, the (proposed) step size, rejected steps and field evaluations so far (and, with
        ``step_control="energy"``, the last accepted step)."""
        out = super().diagnostics()
        out.update({"dt": float(self._dt), "rejected": float(self.rejected),
                    "evaluations": float(self.evaluations)})
        if self.energy_control:
            out["last_step"] = float(self.last_step)
        return out

    def __repr__(self) -> str:
        return (f"LagrangianSolver(N={self._y.shape[0]}, d={self._y.shape[1] - 2}, alpha={self.alpha:g}, "
                f"beta={self.beta:g}, stepper={self.stepper_name!r}"
                + (", step_control='energy'" if self.energy_control else "") + f", t={self.time:.6g})")


def _rms(v: np.ndarray) -> float:
    return float(np.sqrt(np.mean(v * v))) if v.size else 0.0
