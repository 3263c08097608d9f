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

Every stepper has ``step(system, t, y, dt)``; the *system* provides ``rhs(t, y)`` (the whole right-hand
side, for Runge–Kutta) and ``transport_rhs(t, y)`` / ``reaction_rate(t, y)`` (for the splitting).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["STEPPERS", "register_stepper", "Stepper", "ExplicitRK", "StrangSplitting", "rk_step",
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
