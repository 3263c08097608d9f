r"""Reference minimisers computed independently of any flow.

For a :class:`~wgf.models.base.QuadraticModel`, ``F(nu) = 1/2 <nu, K nu> + <nu, V> + C`` restricted to
measures supported on a fixed set of points ``p_1..p_n`` is the convex quadratic program

.. math::

    \min_{c \ge 0} \tfrac12 c^T K c + c^T V + C, \qquad K_{ij} = K(p_i, p_j),\ V_i = V(p_i),

whose gradient ``K c + V`` is the potential J at the points. Its KKT conditions are the discrete form of
the optimality conditions of the measure problem: ``J(p_i) >= 0`` everywhere and ``J(p_i) = 0`` where
``c_i > 0``. On a fine grid of positions this is the classical reference for sparse spike deconvolution
(BLASSO) and a check of where a flow converges.

Off the grid: :func:`merge_atoms` merges the few adjacent grid atoms that represent one spike, and
:func:`polish_atoms` then minimises F over the positions and weights of those atoms (a smooth problem in
finitely many variables), removing the grid's discretisation of the positions. Its optimality over all
measures is then checked by :func:`wgf.optimality_certificate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._parallel import blas_single_threaded
from ..geometry.measure import Measure
from ..models.base import QuadraticModel

__all__ = ["GridMinimiser", "grid_minimiser", "merge_atoms", "PolishedMinimiser", "polish_atoms", "SpikeMatch",
           "match_spikes"]


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
                   max_iter: int = 10_000, threshold: float = 0.0, dense: bool | None = None) -> GridMinimiser:
    """Minimise a quadratic model over nonnegative measures supported on ``points`` (n, d+1).

    Uses the Lawson–Hanson active-set method (the NNLS algorithm, written for ``1/2 c^T K c + c^T V``
    instead of a least-squares objective): grow the set of positive coefficients by the most negative
    potential, solve the equality-constrained problem ``K_SS c_S = -V_S`` on it, and step back to
    feasibility when a coefficient would turn negative. It terminates with an exact solution (to the
    linear solves' accuracy), which first-order methods do not reach on the ill-conditioned kernel
    matrices of these models. The solution is sparse, so the potential ``K c + V`` needs only the columns
    of the active set: with ``dense=True`` the (n, n) interaction matrix is formed once (n up to a few
    thousand); with ``dense=False`` the potential is the model's kernel applied to the active atoms
    (:meth:`QuadraticModel.apply_interaction`) and only ``K_SS`` is formed, so n may be 10^5 and more.
    ``dense=None`` forms the matrix when ``n <= 4096`` and the model's kernel is not cheaper than a dense
    product (:meth:`~wgf.models.base.Model.potential_cost`). Atoms with ``c_i <= threshold`` are dropped.
    """
    if not isinstance(model, QuadraticModel):
        raise ValueError(f"grid_minimiser needs a QuadraticModel, got {type(model).__name__}")
    if dense is not None and not isinstance(dense, bool):
        raise ValueError(f"dense must be True, False or None, got {dense!r}")
    P = model.check_points(points)
    n = len(P)
    V = model.linear_potential(P)
    C = model.energy_constant
    if dense is None:
        dense = n <= 4096 and model.potential_cost(n, n) >= float(n) * float(n)
    if dense:
        K = model.interaction(P, P)

        def potential(S, cS):
            return K[:, S] @ cS + V

        def block(S):
            return K[np.ix_(S, S)]
    else:
        def potential(S, cS):
            if len(S) == 0:
                return V.copy()
            return model.apply_interaction(P, P[S], cS) + V

        def block(S):
            return model.interaction(P[S], P[S])

    with blas_single_threaded():  # small dense solves: threads only add synchronisation
        c = _active_set_qp(potential, block, V, tol, max_iter)
    S = np.flatnonzero(c)
    J = potential(S, c[S])
    scale = max(c.max(), 1e-300)
    kkt = float(max(np.max(-J, initial=0.0), np.max(c * np.abs(J)) / scale))
    keep = c > threshold
    nu = Measure(P[keep], c[keep])
    # F = 1/2 c.(J + V) + C with J = K c + V
    return GridMinimiser(measure=nu, energy=float(0.5 * c[S] @ (J[S] + V[S]) + C), kkt_residual=kkt)


def _active_set_qp(potential, block, V: np.ndarray, tol: float, max_iter: int) -> np.ndarray:
    """Lawson–Hanson for ``min_{c >= 0} 1/2 c^T K c + c^T V`` (K symmetric positive semi-definite), with
    ``potential(S, c_S) = K[:, S] c_S + V`` and ``block(S) = K[S, S]``."""
    n = len(V)
    c = np.zeros(n)
    active = np.zeros(n, dtype=bool)  # the set where c may be positive
    gtol = tol * max(1.0, np.abs(V).max())
    for _ in range(max_iter):
        S = np.flatnonzero(c)
        w = -potential(S, c[S])  # minus the gradient: the potential with a sign flip
        cand = np.where(active, -np.inf, w)
        j = int(np.argmax(cand))
        if cand[j] <= gtol:
            break
        active[j] = True
        while True:
            S = np.flatnonzero(active)
            s = np.zeros(n)
            s[S] = np.linalg.lstsq(block(S), -V[S], rcond=None)[0]
            if np.all(s[S] > 0):
                c = s
                break
            neg = S[s[S] <= 0]
            ratios = c[neg] / (c[neg] - s[neg])
            k = int(np.argmin(ratios))
            c = c + ratios[k] * (s - c)
            c[neg[k]] = 0.0  # the blocking coefficient leaves (exactly, whatever the round-off)
            active &= c > 0
            c[~active] = 0.0
    return c


# ---------------------------------------------------------------------------------------------- atoms
def merge_atoms(measure: Measure, radius: float) -> Measure:
    """Merge atoms into clusters: single linkage, two atoms in one cluster when a chain of atoms each
    within geodesic distance ``radius`` of the next joins them. Each cluster becomes one atom of the
    cluster's mass at its mass-weighted extrinsic barycentre (``sum m_i x_i`` normalised). Atoms of zero
    mass are dropped. Turns a grid solution (a few adjacent cells per spike) into a spike train."""
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    if not isinstance(measure, Measure):
        raise ValueError(f"measure must be a wgf.Measure, got {type(measure).__name__}")
    r = float(radius)
    if not np.isfinite(r) or r < 0:
        raise ValueError(f"radius must be finite and >= 0, got {radius!r}")
    keep = measure.masses > 0
    P, m = measure.points[keep], measure.masses[keep]
    if len(m) == 0:
        return Measure(np.zeros((0, measure.dim + 1)), np.zeros(0))
    chord = 2.0 * np.sin(0.5 * min(r, np.pi))
    graph = cKDTree(P).sparse_distance_matrix(cKDTree(P), chord, output_type="coo_matrix")
    n, labels = connected_components(graph, directed=False)
    pts = np.zeros((n, P.shape[1]))
    np.add.at(pts, labels, m[:, None] * P)
    mass = np.bincount(labels, weights=m, minlength=n)
    return Measure(pts / np.linalg.norm(pts, axis=1, keepdims=True), mass)


@dataclass(frozen=True)
class PolishedMinimiser:
    """Result of :func:`polish_atoms`: the measure, F there, the largest ``|J|`` at its atoms (0 at a
    stationary point with positive weights) and the optimiser's message."""

    measure: Measure
    energy: float
    stationarity: float
    message: str


def polish_atoms(model, measure: Measure, tol: float = 1e-14, max_iter: int = 10_000) -> PolishedMinimiser:
    """Minimise F over the positions and weights of a fixed number of atoms, from ``measure``.

    ``F(sum_k w_k delta_{x_k})`` with ``x_k = z_k / |z_k|`` (``z_k`` in R^{d+1}, unconstrained) and
    ``w_k >= 0`` is minimised by L-BFGS-B. The gradient comes from the potential alone:
    ``dF/dw_k = J(x_k)`` and ``dF/dz_k = w_k grad_S J(x_k) / |z_k|`` (the derivative of ``z -> z/|z|`` is
    ``(I - x x^T)/|z|``). A local method: started from a grid minimiser on a fine grid whose atoms were
    merged (:func:`merge_atoms`), it removes the grid's discretisation error of the positions. Whether the
    result is a global minimiser is for :func:`wgf.optimality_certificate` to say.
    """
    from scipy.optimize import minimize

    model.check_measure(measure)
    k, D = measure.points.shape
    z0 = np.concatenate([measure.points.ravel(), measure.masses])

    def split(v):
        z = v[: k * D].reshape(k, D)
        nz = np.linalg.norm(z, axis=1)
        return z, nz, z / nz[:, None], v[k * D:]

    def fun(v):
        z, nz, x, w = split(v)
        nu = Measure(x, np.maximum(w, 0.0))
        J, G = model.potential(x, nu)
        grad = np.concatenate([(w[:, None] * G / nz[:, None]).ravel(), J])
        return model.energy(nu), grad

    bounds = [(None, None)] * (k * D) + [(0.0, None)] * k
    res = minimize(fun, z0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"ftol": tol, "gtol": tol, "maxiter": max_iter, "maxcor": 30})
    _, _, x, w = split(res.x)
    nu = Measure(x, np.maximum(w, 0.0))
    J, _ = model.potential(x, nu)
    stat = float(np.max(np.abs(J[w > 0]), initial=0.0))
    return PolishedMinimiser(nu, float(model.energy(nu)), stat, str(res.message))


@dataclass(frozen=True)
class SpikeMatch:
    """Result of :func:`match_spikes` (k = number of reference spikes).

    Attributes
    ----------
    weights : ndarray, shape (k,)
        Mass of ``measure`` assigned to each spike.
    positions : ndarray, shape (k, d+1)
        Mass-weighted extrinsic barycentre of the atoms assigned to each spike (the spike's own position
        where none is assigned).
    position_error : ndarray, shape (k,)
        Geodesic distance from each barycentre to its spike (NaN where no mass is assigned).
    weight_error : ndarray, shape (k,)
        ``weights - spike weights``.
    stray_mass : float
        Mass of ``measure`` farther than ``radius`` from every spike.
    """

    weights: np.ndarray
    positions: np.ndarray
    position_error: np.ndarray
    weight_error: np.ndarray
    stray_mass: float


def match_spikes(measure: Measure, spikes: Measure, radius: float) -> SpikeMatch:
    """Compare a measure with a reference spike train: every atom of ``measure`` within geodesic distance
    ``radius`` of some spike is assigned to the nearest spike; per spike, the assigned mass and its
    barycentre give a weight error and a position error, and the mass assigned to no spike is reported.
    Choose ``radius`` below half the spikes' minimum separation so that the clusters do not overlap."""
    from ..geometry.sphere import geodesic_distance

    for name, m in (("measure", measure), ("spikes", spikes)):
        if not isinstance(m, Measure):
            raise ValueError(f"{name} must be a wgf.Measure, got {type(m).__name__}")
    if measure.dim != spikes.dim:
        raise ValueError(f"measure on S^{measure.dim} but spikes on S^{spikes.dim}")
    if spikes.size == 0:
        raise ValueError("spikes must have at least one atom")
    r = float(radius)
    if not np.isfinite(r) or r <= 0:
        raise ValueError(f"radius must be finite and > 0, got {radius!r}")
    dist = geodesic_distance(measure.points[:, None, :], spikes.points[None, :, :])  # (N, k)
    near = np.argmin(dist, axis=1)
    inside = dist[np.arange(measure.size), near] <= r
    k = spikes.size
    w = np.bincount(near[inside], weights=measure.masses[inside], minlength=k)
    acc = np.zeros((k, spikes.dim + 1))
    np.add.at(acc, near[inside], measure.masses[inside, None] * measure.points[inside])
    norm = np.linalg.norm(acc, axis=1)
    has = (w > 0) & (norm > 0)
    pos = spikes.points.copy()
    pos[has] = acc[has] / norm[has, None]
    err = np.full(k, np.nan)
    err[has] = geodesic_distance(pos[has], spikes.points[has])
    return SpikeMatch(w, pos, err, w - spikes.masses, float(measure.masses[~inside].sum()))
