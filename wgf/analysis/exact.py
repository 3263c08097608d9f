r"""Exact solution of the Wasserstein–Fisher–Rao flow for the linear potential ``J(eta) = -<e, eta>``.

The PDE ``d/dt rho = -alpha J rho + beta div_S(rho grad_S J)`` on S^d with the potential
``J(eta) = -<e, eta>`` of :class:`wgf.models.LinearPotential` (independent of ``nu``) is a linear transport
equation with a source, solved by characteristics.

**Characteristics.** The velocity is ``v = -beta grad_S J = beta (e - <e, eta> eta)``. With ``phi`` the
angle between ``eta`` and ``e`` (``cos phi = <e, eta>``), ``d/dt cos phi = <e, v> = beta sin^2 phi``, i.e.
``phi' = -beta sin phi``, whose solution is

.. math:: \tan(\phi_t/2) = \tan(\phi_0/2)\, k_t, \qquad k_t = e^{-\beta t},

and a point moves along the great circle through ``e`` (its azimuth ``omega`` around ``e`` is fixed).

**Transport Jacobian.** In the coordinates ``(phi, omega)`` the area element of S^d is
``sin^{d-1} phi dphi domega``, so the Jacobian of ``eta_0 -> eta_t`` is
``(sin phi_t / sin phi_0)^{d-1} dphi_t/dphi_0``. With ``u = tan(phi_0/2)``,
``sin phi = 2 tan(phi/2) / (1 + tan^2(phi/2))`` gives ``sin phi_t / sin phi_0 = k (1 + u^2)/(1 + k^2 u^2)``
and differentiating the characteristic gives ``dphi_t/dphi_0 = k cos^2(phi_t/2)/cos^2(phi_0/2)``
``= k (1 + u^2)/(1 + k^2 u^2)``, the same factor, so

.. math:: \mathrm{Jac}_t = \Big(\frac{k(1+u^2)}{1+k^2u^2}\Big)^d = \Big(\frac{k\,c_t}{c_0}\Big)^d,
          \qquad c = \cos^2(\phi/2) = \frac{1 + \cos\phi}{2}.

**Reaction factor.** Along a characteristic ``d/dt log rho = -alpha J - div v`` and the transport part is
the Jacobian, so ``rho_t(eta_t) = rho_0(eta_0) exp(-alpha int_0^t J(eta_s) ds) / Jac_t``. With
``w = u^2 e^{-2 beta s}``, ``cos phi_s = (1 - w)/(1 + w)`` and ``ds = -dw / (2 beta w)``:

.. math:: \int_0^t \cos\phi_s\,ds = -\frac{1}{2\beta}\Big[\ln w - 2\ln(1+w)\Big]_{u^2}^{k^2u^2}
          = t + \frac1\beta \ln\frac{1 + k^2u^2}{1+u^2} = t + \frac1\beta \ln\frac{c_0}{c_t}.

(Checks: ``t`` at ``phi_0 = 0``, ``-t`` at ``phi_0 = pi``.) Hence, for the point ``eta`` at angle
``phi_t`` and its foot ``eta_0`` at angle ``phi_0``,

.. math:: \rho_t(\eta) = \rho_0(\eta_0)\; e^{\alpha t} \Big(\frac{c_0}{c_t}\Big)^{\alpha/\beta}
          \Big(\frac{c_0}{k\,c_t}\Big)^{d}, \qquad \frac{c_0}{c_t} = \frac{k^2}{k^2 c_t + 1 - c_t},

the last form (from ``u^2 = (1 - c_t)/(c_t k^2)``) being finite everywhere, also at the antipode
``-e`` (``c_t = 0``), where ``rho_t = rho_0 e^{-alpha t} e^{-d beta t}``. With ``beta = 0`` (pure reaction)
the solution is ``rho_0(eta) exp(alpha t <e, eta>)``.

The solution sharpens around ``e`` like ``e^{-beta t}`` (the mass within angle ``phi`` of ``e`` comes from
within ``phi e^{beta t}``), so grid convergence tests use moderate times (T = 0.5).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..geometry.measure import as_points
from ..geometry.sphere import sphere_area

__all__ = ["linear_characteristics", "linear_flow_density", "linear_flow_masses"]


def _check(direction, t, alpha, beta, dim=None):
    e = np.asarray(direction, dtype=np.float64)
    if e.ndim != 1 or e.shape[0] < 2 or not np.all(np.isfinite(e)) or np.linalg.norm(e) == 0:
        raise ValueError(f"direction must be a finite nonzero vector of length d+1, got {direction!r}")
    if dim is not None and e.shape[0] != dim + 1:
        raise ValueError(f"direction has length {e.shape[0]} but the points live in R^{dim + 1}")
    for name, v in (("t", t), ("alpha", alpha), ("beta", beta)):
        if not np.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v}")
    if t < 0:
        raise ValueError(f"t must be >= 0, got {t}")
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    return e / np.linalg.norm(e)


def _rotate(points, e, cos_new):
    """Points at angle ``arccos(cos_new)`` from ``e`` on the great half-circle from ``e`` through each point."""
    c = points @ e
    w = points - c[:, None] * e[None, :]
    nw = np.linalg.norm(w, axis=1)
    ok = nw > 1e-300
    w[ok] /= nw[ok, None]
    s_new = np.sqrt(np.maximum(0.0, 1.0 - cos_new**2))
    out = cos_new[:, None] * e[None, :] + s_new[:, None] * w
    out[~ok] = points[~ok]
    return out


def linear_characteristics(points, t: float, direction, beta: float = 1.0) -> np.ndarray:
    """Positions at time t of the characteristics started at ``points`` (N, d+1):
    ``tan(phi_t/2) = tan(phi_0/2) e^{-beta t}``; returns (N, d+1)."""
    P = as_points(points)
    e = _check(direction, t, 0.0, beta, P.shape[1] - 1)
    k = np.exp(-beta * t)
    c0 = 0.5 * (1.0 + P @ e)                       # cos^2(phi_0/2)
    ct = c0 / (c0 + k * k * (1.0 - c0))             # tan^2(phi_t/2) = k^2 tan^2(phi_0/2)
    return _rotate(P, e, 2.0 * ct - 1.0)


def linear_flow_density(points, t: float, direction, alpha: float = 4.0, beta: float = 1.0,
                        rho0: Callable[[np.ndarray], np.ndarray] | float | None = None) -> np.ndarray:
    """Exact density ``rho_t`` at ``points`` (N, d+1), shape (N,).

    ``rho0`` is the initial density: a callable of points (N, d+1) -> (N,), a constant, or None for the
    uniform probability density ``1/|S^d|``.
    """
    P = as_points(points)
    d = P.shape[1] - 1
    e = _check(direction, t, alpha, beta, d)
    if rho0 is None:
        rho0 = 1.0 / sphere_area(d)
    if beta == 0.0:
        base = rho0(P) if callable(rho0) else np.full(P.shape[0], float(rho0))
        return base * np.exp(alpha * t * (P @ e))
    k = np.exp(-beta * t)
    ct = 0.5 * (1.0 + P @ e)
    ratio = k * k / (k * k * ct + 1.0 - ct)         # c_0 / c_t
    c0 = ratio * ct
    if callable(rho0):
        base = np.asarray(rho0(_rotate(P, e, 2.0 * c0 - 1.0)), dtype=np.float64)
    else:
        base = np.full(P.shape[0], float(rho0))
    return base * np.exp(alpha * t + (alpha / beta) * np.log(ratio)) * (ratio / k) ** d


def linear_flow_masses(grid, t: float, direction, alpha: float = 4.0, beta: float = 1.0,
                       rho0=None, order: int = 4) -> np.ndarray:
    """Exact cell masses ``int_{V_i} rho_t`` on a :class:`wgf.geometry.grid.Grid` (cell quadrature of
    :func:`linear_flow_density` with ``order`` Gauss points per direction), shape (n,)."""
    return grid.integrate(lambda p: linear_flow_density(p, t, direction, alpha, beta, rho0), order)
