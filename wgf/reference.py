r"""Reference minimisers computed independently of any flow.

For a :class:`~wgf.models.base.QuadraticModel`, ``F(nu) = 1/2 <nu, K nu> + <nu, V> + C`` restricted to
measures supported on a fixed set of points ``p_1..p_n`` is the convex quadratic program

.. math::

    \min_{c \ge 0} \tfrac12 c^T K c + c^T V + C, \qquad K_{ij} = K(p_i, p_j),\ V_i = V(p_i),

whose gradient ``K c + V`` is the potential J at the points. Its KKT conditions are the discrete form of
the optimality conditions of the measure problem: ``J(p_i) >= 0`` everywhere and ``J(p_i) = 0`` where
``c_i > 0``. On a fine grid of positions this is the classical reference for sparse spike deconvolution
(BLASSO) and a check of where a flow converges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .measure import Measure
from .models.base import QuadraticModel

__all__ = ["GridMinimiser", "grid_minimiser"]


@dataclass(frozen=True)
class GridMinimiser:
    """Solution of :func:`grid_minimiser`.

    Attributes
    ----------
    measure : Measure
        ``sum_i c_i delta_{p_i}`` (atoms with c_i = 0 dropped).
    energy : float
        F at the solution.
    kkt_residual : float
        ``max_i max(-J_i, c_i |J_i| / max(c))``, zero at an exact solution.
    """

    measure: Measure
    energy: float
    kkt_residual: float


def grid_minimiser(model: QuadraticModel, points: np.ndarray, tol: float = 1e-12,
                   max_iter: int = 10_000, threshold: float = 0.0) -> GridMinimiser:
    """Minimise a quadratic model over nonnegative measures supported on ``points`` (n, d+1).

    Uses the Lawson–Hanson active-set method (the NNLS algorithm, written for ``1/2 c^T K c + c^T V``
    instead of a least-squares objective): grow the set of positive coefficients by the most negative
    potential, solve the equality-constrained problem ``K_SS c_S = -V_S`` on it, and step back to
    feasibility when a coefficient would turn negative. It terminates with an exact solution (to the
    linear solves' accuracy), which first-order methods do not reach on the ill-conditioned kernel
    matrices of these models. ``n`` up to a few thousand (the (n, n) interaction matrix is formed).
    Atoms with ``c_i <= threshold`` are dropped.
    """
    if not isinstance(model, QuadraticModel):
        raise ValueError(f"grid_minimiser needs a QuadraticModel, got {type(model).__name__}")
    P = model.check_points(points)
    K = model.interaction(P, P)
    V = model.linear_potential(P)
    C = model.energy_constant

    c = _active_set_qp(K, V, tol, max_iter)
    J = K @ c + V
    scale = max(c.max(), 1e-300)
    kkt = float(max(np.max(-J, initial=0.0), np.max(c * np.abs(J)) / scale))
    keep = c > threshold
    nu = Measure(P[keep], c[keep])
    return GridMinimiser(measure=nu, energy=float(0.5 * c @ (K @ c) + c @ V + C), kkt_residual=kkt)


def _active_set_qp(K: np.ndarray, V: np.ndarray, tol: float, max_iter: int) -> np.ndarray:
    """Lawson–Hanson for ``min_{c >= 0} 1/2 c^T K c + c^T V`` (K symmetric positive semi-definite)."""
    n = len(V)
    c = np.zeros(n)
    active = np.zeros(n, dtype=bool)  # the set where c may be positive
    gtol = tol * max(1.0, np.abs(V).max())
    for _ in range(max_iter):
        w = -(K @ c + V)  # minus the gradient: the potential with a sign flip
        cand = np.where(active, -np.inf, w)
        j = int(np.argmax(cand))
        if cand[j] <= gtol:
            break
        active[j] = True
        while True:
            S = np.flatnonzero(active)
            s = np.zeros(n)
            s[S] = np.linalg.lstsq(K[np.ix_(S, S)], -V[S], rcond=None)[0]
            if np.all(s[S] > 0):
                c = s
                break
            neg = S[s[S] <= 0]
            step = np.min(c[neg] / (c[neg] - s[neg]))
            c = c + step * (s - c)
            active &= c > 0
            c[~active] = 0.0
    return c
