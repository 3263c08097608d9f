r"""Distances between two solutions ``mu``, ``nu`` (measures on S^d) of one problem.

* :func:`predictor_distance`: ``||h_mu - h_nu||_F`` in the model's space of predictors (``model.distance``:
  for the population teacher–student model the exact K-norm ``<mu - nu, K(mu - nu)>^{1/2}``; otherwise a
  Monte-Carlo estimate over fresh inputs when the model can sample them).
* :func:`sup_potential_difference`: ``max_p |J(p|mu) - J(p|nu)|`` over a fixed set of points.
* :func:`energy_difference`: ``F(mu) - F(nu)``.
* :func:`hellinger_kantorovich` and :func:`wfr_distance`: the unbalanced optimal-transport distance of the
  conic geometry in which the flow is a gradient flow.

Hellinger–Kantorovich (Liero–Mielke–Savaré's static formulation). With the cost
``c(x, y) = -log cos^2(min(d(x, y), pi/2))`` (``d`` the geodesic distance, infinite beyond ``pi/2``),

.. math::

    HK^2(\mu, \nu) = \min_{\gamma \ge 0}\ \int c\, d\gamma + KL(\gamma_1 | \mu) + KL(\gamma_2 | \nu),
    \qquad KL(p | q) = \int p \log\frac{dp}{dq} - p + q ,

``gamma_1, gamma_2`` the marginals of the plan. Two Diracs give ``HK^2(a delta_x, b delta_y) = a + b -
2 sqrt(ab) cos(min(d, pi/2))`` (the optimal plan puts ``sqrt(ab) cos d`` on the pair), a pure mass change
``(sqrt a - sqrt b)^2``, and ``HK^2(mu, 0) = mu(S^d)``. For the flow with coefficients ``(alpha, beta)``
(DESIGN §4), ``WFR_{alpha,beta}^2 = (4/alpha) HK^2`` computed with the geodesic distance multiplied by
``sqrt(alpha / (4 beta))``: ``(4, 1)`` is HK itself; ``beta = 0`` (pure reaction) makes every two distinct
points infinitely far apart (the Hellinger distance ``(4/alpha) sum (sqrt a - sqrt b)^2`` plus unmatched
masses); ``alpha = 0`` (pure transport) is not an HK distance and is refused.

Computation, with POT (dense ``N x M`` costs: moderate sizes):

* ``epsilon > 0``: entropic regularisation ``+ epsilon KL(gamma | mu x nu)`` solved by POT's unbalanced
  Sinkhorn (``ot.unbalanced.sinkhorn_unbalanced``, ``reg_type="kl"``, ``reg_m = 1``). The objective is
  evaluated here with the full generalised KL (mass terms included; POT's own ``total_cost`` omits them),
  giving ``OT_eps``; with ``debias=True`` the reported value is the unbalanced Sinkhorn divergence
  (Séjourné, Feydy, Vialard, Trouvé, Peyré 2019)
  ``S_eps = OT_eps(mu, nu) - OT_eps(mu, mu)/2 - OT_eps(nu, nu)/2 + (eps/2)(mu(S) - nu(S))^2``.
  Both tend to ``HK^2`` as ``epsilon -> 0`` at first order in epsilon; the debiased value is far closer for
  measures with many atoms (the entropic bias ``eps KL(gamma|mu x nu)`` grows with their number), while
  for single Diracs of different masses the raw value happens to be closer. Also reported: ``primal``, the
  unregularised objective at the entropic plan, an upper bound on ``HK^2`` with a bias of order epsilon^2.
  Pairs at infinite cost get no mass (atoms with no partner within ``pi/2`` are removed before Sinkhorn and
  counted in the objective); an epsilon so small that a row of ``exp(-c/eps)`` underflows is refused.
* ``epsilon = 0``: the exact unregularised problem by POT's majorisation–minimisation solver
  (``ot.unbalanced.mm_unbalanced``, KL marginals), whose multiplicative update's fixed points are the
  optimality conditions ``c + log(gamma_1/mu) + log(gamma_2/nu) = 0`` on the support of the plan; it
  converges monotonically but only linearly (``max_iter`` bounds it).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from .._validate import check_bool, check_int, check_real
from ..geometry.measure import Measure
from ..geometry.sphere import geodesic_distance
from ..models.base import Model

__all__ = [
    "predictor_distance",
    "sup_potential_difference",
    "energy_difference",
    "hk_cost",
    "HKResult",
    "hellinger_kantorovich",
    "wfr_distance",
]

#: Largest ``N * M`` for the dense unbalanced transport problems (an (N, M) float64 matrix is 8 N M bytes).
MAX_PLAN_ENTRIES = 4_000_000


# ---------------------------------------------------------------------------------------------- predictors
def _check_pair(model: Model, mu: Measure, nu: Measure) -> None:
    if not isinstance(model, Model):
        raise ValueError(f"model must be a wgf Model, got {type(model).__name__}")
    for name, m in (("mu", mu), ("nu", nu)):
        if not isinstance(m, Measure):
            raise ValueError(f"{name} must be a wgf.Measure, got {type(m).__name__}")
        model.check_measure(m)


def predictor_distance(model: Model, mu: Measure, nu: Measure, *, n_samples: int = 100_000,
                       seed: int = 0) -> float:
    """``||h_mu - h_nu||`` in the model's space of predictors.

    Uses ``model.distance`` (exact for the population teacher–student model: the K-norm of ``mu - nu``;
    for an empirical model the norm on its data). A model without one but with ``sample_inputs`` and
    ``predict`` gets the Monte-Carlo estimate ``(mean_i (h_mu(x_i) - h_nu(x_i))^2)^{1/2}`` over
    ``n_samples`` fresh inputs (relative standard error about ``n_samples^{-1/2}``).
    """
    _check_pair(model, mu, nu)
    try:
        return float(model.distance(mu, nu))
    except NotImplementedError:
        pass
    if not (callable(getattr(model, "sample_inputs", None)) and callable(getattr(model, "predict", None))):
        raise ValueError(f"{type(model).__name__} has no predictor distance and cannot sample inputs")
    n = check_int("n_samples", n_samples, low=1)
    x = model.sample_inputs(n, np.random.default_rng(check_int("seed", seed, low=0)))
    diff = model.predict(mu, x) - model.predict(nu, x)
    return float(np.sqrt(np.mean(diff * diff)))


def sup_potential_difference(model: Model, mu: Measure, nu: Measure, points) -> float:
    """``max_k |J(p_k | mu) - J(p_k | nu)|`` over points (K, d+1) of S^d (e.g. the cells of a common grid)."""
    _check_pair(model, mu, nu)
    P = model.check_points(points)
    if P.shape[0] == 0:
        raise ValueError("points must contain at least one point")
    Jm, _ = model.potential(P, mu)
    Jn, _ = model.potential(P, nu)
    return float(np.max(np.abs(Jm - Jn)))


def energy_difference(model: Model, mu: Measure, nu: Measure) -> float:
    """``F(mu) - F(nu)`` (signed; take ``abs`` to compare two solutions)."""
    _check_pair(model, mu, nu)
    return float(model.energy(mu) - model.energy(nu))


# ---------------------------------------------------------------------------------------------- HK / WFR
def hk_cost(P: np.ndarray, Q: np.ndarray, length_scale: float = 1.0) -> np.ndarray:
    """``c(x, y) = -log cos^2(min(s d(x, y), pi/2))`` (N, M) for points P (N, d+1), Q (M, d+1), with the
    geodesic distance scaled by ``s = length_scale`` (``inf`` allowed: 0 at coincident points, infinite
    elsewhere); ``inf`` where ``s d >= pi/2``."""
    d = geodesic_distance(P[:, None, :], Q[None, :, :])
    with np.errstate(invalid="ignore", over="ignore"):
        sd = d * length_scale if math.isfinite(length_scale) else np.where(d == 0, 0.0, np.inf)
    out = np.full(d.shape, np.inf)
    near = sd < 0.5 * np.pi
    out[near] = -2.0 * np.log(np.cos(sd[near]))
    return out


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    """Generalised ``KL(p|q) = sum p log(p/q) - p + q`` (``0 log 0 = 0``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, p * np.log(p / q), 0.0)
    return float(np.sum(t - p + q))


def _objective(G: np.ndarray, M: np.ndarray, a: np.ndarray, b: np.ndarray, eps: float) -> tuple[float, float]:
    """(primal, entropic) objectives of the plan G: ``<G, M> + KL(G1|a) + KL(G^T1|b)`` and that plus
    ``eps KL(G | a b^T)``. Entries at infinite cost must carry no mass."""
    fin = np.isfinite(M)
    if np.any(G[~fin] > 0):
        raise FloatingPointError("the transport plan put mass on a pair at infinite cost")
    lin = float(np.sum(G[fin] * M[fin]))
    primal = lin + _kl(G.sum(axis=1), a) + _kl(G.sum(axis=0), b)
    if eps == 0.0:
        return primal, primal
    return primal, primal + eps * _kl(G, np.outer(a, b))


@dataclass(frozen=True)
class HKResult:
    """Result of :func:`hellinger_kantorovich` / :func:`wfr_distance`.

    Attributes
    ----------
    distance : float
        ``sqrt(max(squared, 0))``.
    squared : float
        The reported value of ``HK^2`` (or ``WFR^2``): exact (``epsilon = 0``), the Sinkhorn divergence
        ``S_eps`` (``debias``) or ``OT_eps``.
    epsilon : float
        Entropic regularisation used (0: exact solver).
    debiased : bool
    entropic : float
        ``OT_eps(mu, nu)`` (same scaling as ``squared``; equal to it when ``epsilon = 0``).
    primal : float
        Unregularised objective at the computed plan: an upper bound on the exact squared distance (up to
        the solver's convergence).
    iterations : int
        Iterations of the (mu, nu) solve.
    converged : bool
        Whether the solver met its tolerance within ``max_iter``.
    """

    distance: float
    squared: float
    epsilon: float
    debiased: bool
    entropic: float
    primal: float
    iterations: int
    converged: bool

    def __float__(self) -> float:
        return self.distance

    def as_dict(self) -> dict:
        return asdict(self)


def _solve_pair(P, a, Q, b, length_scale, eps, max_iter, tol):
    """Solve the (possibly entropic) HK problem between atoms (P, a) and (Q, b) with positive masses.
    Returns (primal, entropic, iterations, converged)."""
    import ot  # POT

    N, M_ = len(a), len(b)
    if N == 0 or M_ == 0:
        # one side empty: the plan is 0 and HK^2 = total masses (entropic mass term m(a) m(b) = 0)
        return float(a.sum() + b.sum()), float(a.sum() + b.sum()), 0, True
    M = hk_cost(P, Q, length_scale)
    fin = np.isfinite(M)
    rows, cols = fin.any(axis=1), fin.any(axis=0)
    G = np.zeros((N, M_))
    if rows.any():
        Mr, ar, br = M[np.ix_(rows, cols)], a[rows], b[cols]
        if eps == 0.0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=RuntimeWarning)
                Gr, log = ot.unbalanced.mm_unbalanced(ar, br, Mr, 1.0, div="kl", numItermax=max_iter,
                                                      stopThr=tol, log=True)
            it = len(log["err"])
            converged = bool(log["err"][-1] < tol) if log["err"] else True
        else:
            # exp(-M/eps) * a b^T must not underflow on a whole row or column
            with np.errstate(divide="ignore"):
                L = -Mr / eps + np.log(ar)[:, None] + np.log(br)[None, :]
            worst = min(float(np.max(L, axis=1).min()), float(np.max(L, axis=0).min()))
            if worst < -700.0:
                raise ValueError(
                    f"epsilon = {eps:g} is too small for these measures: exp(-cost/epsilon) underflows for "
                    f"some atom (log-kernel {worst:.0f}); use a larger epsilon or epsilon=0 (exact solver)")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                Gr, log = ot.unbalanced.sinkhorn_unbalanced(
                    ar, br, np.where(np.isfinite(Mr), Mr, np.inf), eps, 1.0, method="sinkhorn",
                    reg_type="kl", numItermax=max_iter, stopThr=tol, log=True)
            bad = [w for w in caught if "Numerical errors" in str(w.message)]
            if bad:
                raise FloatingPointError(
                    f"POT's unbalanced Sinkhorn hit numerical errors at epsilon = {eps:g}; use a larger epsilon "
                    "or epsilon=0 (exact solver)")
            it = len(log["err"])
            converged = bool(log["err"][-1] < tol) if log["err"] else True
        Gr = np.where(np.isfinite(Mr), Gr, 0.0)
        G[np.ix_(rows, cols)] = Gr
    else:
        it, converged = 0, True
    primal, entropic = _objective(G, M, a, b, eps)
    return primal, entropic, it, converged


def _positive_atoms(m: Measure):
    keep = m.masses > 0
    return m.points[keep], m.masses[keep]


def hellinger_kantorovich(mu: Measure, nu: Measure, *, epsilon: float = 1e-2, debias: bool = True,
                          length_scale: float = 1.0, max_iter: int = 100_000, tol: float = 1e-12) -> HKResult:
    """Hellinger–Kantorovich distance between two measures on S^d (see the module docstring).

    Parameters
    ----------
    mu, nu : Measure
        On the same sphere; atoms of zero mass are ignored. ``N * M <= MAX_PLAN_ENTRIES``.
    epsilon : float
        Entropic regularisation ``>= 0`` (0: the exact solver).
    debias : bool
        Report the Sinkhorn divergence ``S_eps`` (two more Sinkhorn solves) instead of ``OT_eps``.
    length_scale : float
        Multiplies the geodesic distance in the cost (``> 0``, ``inf`` allowed); 1 for HK itself.
    max_iter, tol : int, float
        Iteration cap and stopping threshold of the POT solver (``stopThr``).

    Returns
    -------
    HKResult
    """
    for name, m in (("mu", mu), ("nu", nu)):
        if not isinstance(m, Measure):
            raise ValueError(f"{name} must be a wgf.Measure, got {type(m).__name__}")
    if mu.dim != nu.dim:
        raise ValueError(f"mu lives on S^{mu.dim} and nu on S^{nu.dim}: they must share a sphere")
    eps = check_real("epsilon", epsilon, low=0.0)
    debias = check_bool("debias", debias)
    s = check_real("length_scale", length_scale, low=0.0, low_open=True, allow_inf=True)
    max_iter = check_int("max_iter", max_iter, low=1)
    tol = check_real("tol", tol, low=0.0, low_open=True)
    P, a = _positive_atoms(mu)
    Q, b = _positive_atoms(nu)
    for name, (x, y) in (("mu x nu", (a, b)), ("mu x mu", (a, a)), ("nu x nu", (b, b))):
        if len(x) * len(y) > MAX_PLAN_ENTRIES and (name == "mu x nu" or (debias and eps > 0)):
            raise ValueError(
                f"the {name} transport problem has {len(x)} x {len(y)} entries, more than "
                f"MAX_PLAN_ENTRIES = {MAX_PLAN_ENTRIES}; coarsen the measures first")
    primal, entropic, it, conv = _solve_pair(P, a, Q, b, s, eps, max_iter, tol)
    squared = entropic
    if eps > 0 and debias:
        _, e_aa, _, c1 = _solve_pair(P, a, P, a, s, eps, max_iter, tol)
        _, e_bb, _, c2 = _solve_pair(Q, b, Q, b, s, eps, max_iter, tol)
        squared = entropic - 0.5 * e_aa - 0.5 * e_bb + 0.5 * eps * (a.sum() - b.sum()) ** 2
        conv = conv and c1 and c2
    return HKResult(distance=math.sqrt(max(squared, 0.0)), squared=float(squared), epsilon=eps,
                    debiased=bool(debias and eps > 0), entropic=float(entropic), primal=float(primal),
                    iterations=int(it), converged=bool(conv))


def wfr_distance(mu: Measure, nu: Measure, alpha: float = 4.0, beta: float = 1.0, *, epsilon: float = 1e-2,
                 debias: bool = True, max_iter: int = 100_000, tol: float = 1e-12) -> HKResult:
    """Wasserstein–Fisher–Rao distance of the flow with coefficients ``(alpha, beta)``:
    ``WFR^2 = (4/alpha) HK^2`` with the geodesic distance scaled by ``sqrt(alpha / (4 beta))``
    (``alpha > 0``, ``beta >= 0``; ``(4, 1)`` is :func:`hellinger_kantorovich`). All values of the result
    (squared, entropic, primal) carry the factor ``4/alpha``."""
    alpha = check_real("alpha", alpha, low=0.0, low_open=True)
    beta = check_real("beta", beta, low=0.0)
    s = math.inf if beta == 0.0 else math.sqrt(alpha / (4.0 * beta))
    r = hellinger_kantorovich(mu, nu, epsilon=epsilon, debias=debias, length_scale=s, max_iter=max_iter, tol=tol)
    f = 4.0 / alpha
    sq = f * r.squared
    return HKResult(distance=math.sqrt(max(sq, 0.0)), squared=sq, epsilon=r.epsilon, debiased=r.debiased,
                    entropic=f * r.entropic, primal=f * r.primal, iterations=r.iterations, converged=r.converged)
