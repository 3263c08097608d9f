"""Time steppers, registered by name, shared by every solver of wgf.

Each stepper is a small class whose coefficients are class attributes (Dedalus's habit), so that tests
can parametrise over :data:`STEPPERS`. Two families:

* explicit Runge–Kutta tableaux (:class:`ExplicitRK`): one routine, :func:`rk_step`, applies any of them
  to a flat state vector; solvers on a manifold pass a ``project`` callback (e.g. normalising particle
  positions back onto the sphere after every stage: Runge–Kutta with retraction, which keeps the order of
  the method). The strong-stability-preserving ones (``ssp_coefficient > 0``: "euler", "ssprk2",
  "ssprk3") are convex combinations of forward-Euler steps (Shu–Osher form), so any convex property
  that every forward-Euler substep keeps for ``dt <= dt_FE`` (positivity, a decreasing convex energy)
  holds for the RK step when ``dt <= ssp_coefficient * dt_FE``.
* operator splitting (:class:`StrangSplitting`, "strang") of ``dy/dt = T(y) - r(y) y`` (a transport part
  ``T`` and a reaction with rate ``r``): half a transport step, an exponential reaction step, half a
  transport step.
* linearly implicit (:class:`Rosenbrock2`, "ros2"): a Rosenbrock W-method with an embedded error
  estimate, for stiff problems and long times; it needs a matrix ``A`` (the Jacobian, or any
  approximation: :func:`finite_difference_jacobian`), factorised by :func:`rosenbrock_factor` and applied
  by :func:`rosenbrock_step`.

Every stepper has ``step(system, t, y, dt)``; the *system* provides ``rhs(t, y)`` (the whole right-hand
side, for Runge–Kutta and Rosenbrock), ``transport_rhs(t, y)`` / ``reaction_rate(t, y)`` (for the
splitting) and optionally ``jacobian(t, y)`` (for Rosenbrock; finite differences otherwise).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["STEPPERS", "register_stepper", "Stepper", "ExplicitRK", "StrangSplitting", "Rosenbrock2", "rk_step",
           "rosenbrock_factor", "rosenbrock_step", "finite_difference_jacobian",
           "get_stepper", "next_step_size"]

#: The registry of time steppers by name (filled by :func:`register_stepper`).
STEPPERS: dict[str, type["Stepper"]] = {}


def register_stepper(cls):
    """Class decorator adding a :class:`Stepper` subclass to :data:`STEPPERS` under ``cls.name``."""
    STEPPERS[cls.name] = cls
    return cls


def get_stepper(name: str) -> type["Stepper"]:
    """The stepper class registered as ``name``; ValueError listing the choices otherwise."""
    try:
        return STEPPERS[name]
    except KeyError:
        raise ValueError(f"unknown time stepper {name!r}; choose one of {sorted(STEPPERS)}") from None


class Stepper:
    """Base class of the registered time steppers.

    Attributes
    ----------
    name : str
    order : int
        Classical order p.
    ssp_coefficient : float
        Strong-stability-preserving coefficient C: a forward-Euler-stable convex property holds for
        ``dt <= C dt_FE``; 0 where the method is not SSP.
    """

    name: str = ""
    order: int = 0
    ssp_coefficient: float = 0.0

    @classmethod
    def step(cls, system, t: float, y: np.ndarray, dt: float) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class ExplicitRK(Stepper):
    """Butcher tableau ``(A, b, c)`` of an explicit Runge–Kutta method.

    Attributes
    ----------
    name : str
    order : int
        Classical order p.
    A : ndarray, shape (s, s)
        Strictly lower-triangular stage matrix.
    b : ndarray, shape (s,)
        Weights of the solution.
    c : ndarray, shape (s,)
        Nodes, ``c = A @ 1``.
    b_embedded : ndarray, shape (s,) or None
        Weights of an embedded solution of order ``order - 1`` (error estimate ``dt (b - b_embedded) . k``).
    ssp_coefficient : float
        Strong-stability-preserving coefficient C: a forward-Euler-stable property (positivity) holds for
        ``dt <= C dt_FE``; 0 where the method is not SSP.
    """

    name: str = ""
    order: int = 0
    A: np.ndarray
    b: np.ndarray
    c: np.ndarray
    b_embedded: np.ndarray | None = None
    ssp_coefficient: float = 0.0

    @classmethod
    def stages(cls) -> int:
        return len(cls.b)

    @classmethod
    def step(cls, system, t: float, y: np.ndarray, dt: float) -> np.ndarray:
        """One step of ``dy/dt = system.rhs(t, y)``."""
        return rk_step(system.rhs, t, y, dt, cls)[0]


@register_stepper
class ForwardEuler(ExplicitRK):
    name = "euler"
    order = 1
    A = np.array([[0.0]])
    b = np.array([1.0])
    c = np.array([0.0])
    ssp_coefficient = 1.0


@register_stepper
class SSPRK2(ExplicitRK):
    """Heun's method, the optimal two-stage SSP scheme (Shu–Osher)."""

    name = "ssprk2"
    order = 2
    A = np.array([[0.0, 0.0], [1.0, 0.0]])
    b = np.array([0.5, 0.5])
    c = np.array([0.0, 1.0])
    b_embedded = np.array([1.0, 0.0])
    ssp_coefficient = 1.0


@register_stepper
class SSPRK3(ExplicitRK):
    """The three-stage third-order SSP scheme of Shu and Osher."""

    name = "ssprk3"
    order = 3
    A = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.25, 0.25, 0.0]])
    b = np.array([1 / 6, 1 / 6, 2 / 3])
    c = np.array([0.0, 1.0, 0.5])
    ssp_coefficient = 1.0


@register_stepper
class Midpoint(ExplicitRK):
    """Explicit midpoint rule (second order)."""

    name = "rk2"
    order = 2
    A = np.array([[0.0, 0.0], [0.5, 0.0]])
    b = np.array([0.0, 1.0])
    c = np.array([0.0, 0.5])


@register_stepper
class ClassicalRK4(ExplicitRK):
    name = "rk4"
    order = 4
    A = np.array([[0, 0, 0, 0], [0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 1.0, 0]], dtype=float)
    b = np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6])
    c = np.array([0.0, 0.5, 0.5, 1.0])


@register_stepper
class BogackiShampine(ExplicitRK):
    """Bogacki–Shampine 3(2) embedded pair (the FSAL property is not exploited)."""

    name = "rk23"
    order = 3
    A = np.array([[0, 0, 0, 0], [0.5, 0, 0, 0], [0, 0.75, 0, 0], [2 / 9, 1 / 3, 4 / 9, 0]], dtype=float)
    b = np.array([2 / 9, 1 / 3, 4 / 9, 0.0])
    c = np.array([0.0, 0.5, 0.75, 1.0])
    b_embedded = np.array([7 / 24, 1 / 4, 1 / 3, 1 / 8])


@register_stepper
class DormandPrince(ExplicitRK):
    """Dormand–Prince 5(4) embedded pair."""

    name = "rk45"
    order = 5
    A = np.array(
        [
            [0, 0, 0, 0, 0, 0, 0],
            [1 / 5, 0, 0, 0, 0, 0, 0],
            [3 / 40, 9 / 40, 0, 0, 0, 0, 0],
            [44 / 45, -56 / 15, 32 / 9, 0, 0, 0, 0],
            [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0, 0, 0],
            [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0, 0],
            [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0],
        ],
        dtype=float,
    )
    b = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0])
    c = np.array([0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1], dtype=float)
    b_embedded = np.array([5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40])


@register_stepper
class StrangSplitting(Stepper):
    r"""Strang splitting of ``dy/dt = T(y) - r(y) * y`` (second order).

    ``y -> S_T(dt/2) -> S_R(dt) -> S_T(dt/2)``, where

    * ``S_T`` is one step of the transport part with SSP RK2 (Heun), so that each transport substep is
      second order and keeps positivity for ``dt/2 <= dt_FE`` of the transport part alone;
    * ``S_R`` is the exponential midpoint step of the reaction ``dy/dt = -r(y) y``:
      ``y* = y exp(-dt/2 r(y))``, ``y' = y exp(-dt r(y*))``. The exact reaction flow is
      ``y exp(-int_0^dt r(y(s)) ds)``; the midpoint value ``r(y*) = r(y(dt/2)) + O(dt^2)`` makes the step
      second order, whereas the frozen-rate step ``y exp(-dt r(y))`` (exponential Euler) is only first
      order. It keeps positivity for every ``dt``.

    Both substeps are second order and the composition is symmetric, so the scheme is second order.
    ``ssp_coefficient = 2``: positivity for ``dt <= 2 dt_FE`` of the transport part (the reaction is
    exact-exponential).
    """

    name = "strang"
    order = 2
    ssp_coefficient = 2.0

    @staticmethod
    def transport_step(system, t: float, y: np.ndarray, dt: float) -> np.ndarray:
        k1 = system.transport_rhs(t, y)
        y1 = y + dt * k1
        k2 = system.transport_rhs(t + dt, y1)
        return 0.5 * y + 0.5 * (y1 + dt * k2)

    @staticmethod
    def reaction_step(system, t: float, y: np.ndarray, dt: float) -> np.ndarray:
        r0 = system.reaction_rate(t, y)
        y_half = y * np.exp(-0.5 * dt * r0)
        r_half = system.reaction_rate(t + 0.5 * dt, y_half)
        return y * np.exp(-dt * r_half)

    @classmethod
    def step(cls, system, t: float, y: np.ndarray, dt: float) -> np.ndarray:
        y = cls.transport_step(system, t, y, 0.5 * dt)
        y = cls.reaction_step(system, t, y, dt)
        return cls.transport_step(system, t + 0.5 * dt, y, 0.5 * dt)


def rk_step(
    f: Callable[[float, np.ndarray], np.ndarray],
    t: float,
    y: np.ndarray,
    dt: float,
    stepper: type[ExplicitRK],
    project: Callable[[np.ndarray], np.ndarray] | None = None,
):
    """One step of ``dy/dt = f(t, y)`` with an explicit Runge–Kutta tableau.

    Parameters
    ----------
    f : callable ``f(t, y) -> dy/dt``, arrays of the shape of ``y``
    t, dt : float
    y : ndarray
        State (any shape).
    stepper : ExplicitRK subclass
    project : callable, optional
        Applied to every stage value and to the result (a retraction onto a manifold).

    Returns
    -------
    y_new : ndarray
    error : ndarray or None
        ``dt * sum_i (b_i - b_embedded_i) k_i`` for embedded pairs, else None.
    k : list of ndarray
        The stage derivatives, for solvers that accumulate stage sums (mass balance).
    """
    if not (isinstance(stepper, type) and issubclass(stepper, ExplicitRK)):
        raise ValueError(f"rk_step needs an explicit Runge-Kutta tableau, got {stepper!r}")
    A, b = stepper.A, stepper.b
    k: list[np.ndarray] = []
    for i in range(len(b)):
        yi = y
        for j in range(i):
            if A[i, j] != 0.0:
                yi = yi + (dt * A[i, j]) * k[j]
        if project is not None and i > 0:
            yi = project(yi)
        k.append(f(t + stepper.c[i] * dt, yi))
    y_new = y
    for i in range(len(b)):
        if b[i] != 0.0:
            y_new = y_new + (dt * b[i]) * k[i]
    if project is not None:
        y_new = project(y_new)
    err = None
    if stepper.b_embedded is not None:
        db = b - stepper.b_embedded
        err = sum((dt * db[i]) * k[i] for i in range(len(b)) if db[i] != 0.0)
    return y_new, err, k


def next_step_size(dt: float, error_norm: float, order: int, safety: float = 0.9,
                   min_factor: float = 0.2, max_factor: float = 5.0) -> float:
    """Standard step-size controller: ``dt * safety * error_norm^(-1/order)``, clipped to
    ``[min_factor, max_factor] * dt``; ``error_norm`` is the error scaled by the tolerances (accept <= 1)."""
    if error_norm == 0.0:
        return dt * max_factor
    factor = safety * error_norm ** (-1.0 / order)
    return dt * min(max_factor, max(min_factor, factor))


# ---------------------------------------------------------------------- linearly implicit (Rosenbrock)
def finite_difference_jacobian(f: Callable[[float, np.ndarray], np.ndarray], t: float, y: np.ndarray,
                               f0: np.ndarray | None = None,
                               project: Callable[[np.ndarray], np.ndarray] | None = None,
                               drop_kinks: bool = False, kink_tolerance: float = 0.1) -> np.ndarray:
    """Finite-difference Jacobian ``A_ij ~ d f_i / d y_j`` of ``f(t, y)`` over the flattened state.

    Parameters
    ----------
    f : callable ``f(t, y) -> dy/dt`` (arrays of the shape of ``y``)
    t : float
    y : ndarray, any shape, size n
    f0 : ndarray, optional
        ``f(t, y)`` when already known.
    project : callable, optional
        Applied to every perturbed state before ``f`` (a retraction: the Jacobian is then that of
        ``f(project(y))``, the field extended off the manifold).
    drop_kinks : bool
        Central differences, and a column whose forward and backward differences differ by more than
        ``kink_tolerance`` times their size is set to 0: ``f`` is not differentiable there at the scale of
        the increment (for the ReLU models, an atom at a pole ``b = 0``, where ``grad J`` depends on the
        direction of ``b``, has one-sided differences of size ``1 / increment`` and opposite signs). A
        Rosenbrock W-method keeps its order with any matrix (see :class:`Rosenbrock2`); such a column,
        kept, would put eigenvalues of size ``1e7`` into it. Costs ``2n`` evaluations instead of ``n``.

    Returns
    -------
    A : ndarray, shape (n, n)
        Column j from the increment ``h_j = sqrt(eps) max(1, |y_j|)``. Columns of nonfinite components (a
        log-mass ``-inf``) are 0.
    """
    y = np.asarray(y, dtype=np.float64)
    if f0 is None:
        f0 = f(t, y if project is None else project(y))
    f0 = np.asarray(f0).reshape(-1)
    flat = y.reshape(-1)
    n = flat.size
    A = np.zeros((n, n))
    base = np.sqrt(np.finfo(np.float64).eps)

    def shifted(j, h):
        yp = flat.copy()
        yp[j] += h
        yp = yp.reshape(y.shape)
        if project is not None:
            yp = project(yp)
        return np.asarray(f(t, yp)).reshape(-1)

    for j in range(n):
        if not np.isfinite(flat[j]):
            continue
        h = base * max(1.0, abs(flat[j]))
        forward = (shifted(j, h) - f0) / h
        if not drop_kinks:
            A[:, j] = forward
            continue
        backward = (f0 - shifted(j, -h)) / h
        size = max(float(np.abs(forward).max()), float(np.abs(backward).max()))
        if float(np.abs(forward - backward).max()) <= kink_tolerance * size:
            A[:, j] = 0.5 * (forward + backward)
    return A


@register_stepper
class Rosenbrock2(Stepper):
    r"""ROS2, the two-stage second-order Rosenbrock W-method of Verwer, Spee, Blom and Hundsdorfer
    (SIAM J. Sci. Comput. 20, 1999), with an embedded first-order solution (name ``"ros2"``).

    For ``dy/dt = f(y)`` and a matrix ``A`` (ideally the Jacobian ``f'(y_n)``), with ``W = I - gamma dt A``,

    .. math::

        W k_1 = f(y_n), \qquad W k_2 = f(y_n + dt\,k_1) - 2 k_1, \qquad
        y_{n+1} = y_n + \tfrac32 dt\,k_1 + \tfrac12 dt\,k_2, \qquad \gamma = 1 + 1/\sqrt2 .

    *Order.* Second order for **any** matrix ``A`` (a W-method: the order conditions do not involve ``A``),
    so the Jacobian may be approximate, frozen over several steps or partly dropped without losing the
    order. The embedded solution ``y_n + dt k_1`` (linearly implicit Euler with ``gamma``) is first order:
    the error estimate ``y_{n+1} - (y_n + dt k_1) = dt (k_1 + k_2)/2`` is ``O(dt^2)``, the local error of
    the first-order solution, and the step is accepted on the second-order one (local extrapolation).

    *Stability.* With ``A`` the exact Jacobian, on ``y' = lambda y`` the step multiplies by
    ``R(z) = (1 + (1 - 2 gamma) z + (gamma^2 - 2 gamma + 1/2) z^2) / (1 - gamma z)^2`` (``z = lambda dt``);
    ``gamma = 1 + 1/sqrt(2)`` makes the ``z^2`` coefficient vanish, ``R(z) = (1 - (1 + sqrt 2) z) /
    (1 - gamma z)^2``: A- and L-stable (``R(-inf) = 0``), and ``0 < R(z) <= 1`` for every real ``z <= 0``.
    Hence, linearised about a state, a gradient flow ``delta' = -H delta`` (``H`` self-adjoint and
    positive semi-definite in the metric of the flow, such as ``alpha M K`` for the reaction of the
    WFR flow, similar to ``alpha M^{1/2} K M^{1/2}``) has its quadratic energy nonincreasing and its
    decay modes kept positive at **every** ``dt``: no step bound, unlike the explicit steppers whose
    forward-Euler bound ``2 / (alpha Lambda_R)`` does not grow as the flow settles. Beyond the
    linearisation nothing is unconditional: the solvers that use ROS2 check positivity and the decrease
    of F after every step and reject (halve) a step that fails either check.

    ``ssp_coefficient = 0``: no a-priori positivity bound (positivity is checked after each step).
    """

    name = "ros2"
    order = 2
    embedded_order = 1
    gamma = 1.0 + 1.0 / np.sqrt(2.0)
    weights = np.array([1.5, 0.5])             # of dt k_1, dt k_2 in y_{n+1}
    weights_embedded = np.array([1.0, 0.0])    # the first-order solution y_n + dt k_1
    ssp_coefficient = 0.0
    linearly_implicit = True

    @classmethod
    def step(cls, system, t: float, y: np.ndarray, dt: float) -> np.ndarray:
        """One step of ``dy/dt = system.rhs(t, y)``, with ``A = system.jacobian(t, y)`` where the system
        has one and a finite-difference Jacobian otherwise."""
        if hasattr(system, "jacobian"):
            A = system.jacobian(t, y)
        else:
            A = finite_difference_jacobian(system.rhs, t, y)
        return rosenbrock_step(system.rhs, t, y, dt, rosenbrock_factor(A, dt, cls), stepper=cls)[0]


def rosenbrock_factor(A: np.ndarray, dt: float, stepper: type[Rosenbrock2] = Rosenbrock2):
    """LU factorisation of ``W = I - gamma dt A`` (n, n), for :func:`rosenbrock_step`; a solver may keep it
    over several steps of the same ``dt`` (a W-method keeps its order with a Jacobian from an earlier
    state)."""
    from scipy.linalg import lu_factor

    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"the Jacobian must be a square matrix, got shape {A.shape}")
    W = np.eye(A.shape[0]) - (stepper.gamma * dt) * A
    return lu_factor(W, check_finite=False)


def rosenbrock_step(f: Callable[[float, np.ndarray], np.ndarray], t: float, y: np.ndarray, dt: float,
                    lu, f0: np.ndarray | None = None,
                    project: Callable[[np.ndarray], np.ndarray] | None = None,
                    stepper: type[Rosenbrock2] = Rosenbrock2):
    """One ROS2 step (:class:`Rosenbrock2`) of ``dy/dt = f(t, y)``.

    Parameters
    ----------
    f : callable ``f(t, y) -> dy/dt``
    t, dt : float
    y : ndarray, any shape, size n
    lu : tuple
        :func:`rosenbrock_factor` of the Jacobian (or any approximation of it, over the flattened state)
        for this ``dt``.
    f0 : ndarray, optional
        ``f(t, y)`` when already known.
    project : callable, optional
        Retraction applied to the stage value and to the result (as in :func:`rk_step`).

    Returns
    -------
    y_new : ndarray, shape of ``y``
        The second-order solution.
    error : ndarray, shape of ``y``
        ``dt (k_1 + k_2) / 2``, the difference to the embedded first-order solution ``y + dt k_1``: the
        local error estimate (of the first-order solution).
    """
    from scipy.linalg import lu_solve

    shape = y.shape
    if lu[0].shape[0] != y.size:
        raise ValueError(f"the factorised matrix has order {lu[0].shape[0]}, the state has {y.size} entries")
    if f0 is None:
        f0 = f(t, y)
    k1 = lu_solve(lu, np.asarray(f0).reshape(-1), check_finite=False)
    y1 = y + dt * k1.reshape(shape)
    if project is not None:
        y1 = project(y1)
    f1 = np.asarray(f(t + dt, y1)).reshape(-1)
    k2 = lu_solve(lu, f1 - 2.0 * k1, check_finite=False)
    w = stepper.weights
    y_new = y + (dt * w[0]) * k1.reshape(shape) + (dt * w[1]) * k2.reshape(shape)
    if project is not None:
        y_new = project(y_new)
    err = (0.5 * dt) * (k1 + k2).reshape(shape)
    return y_new, err
