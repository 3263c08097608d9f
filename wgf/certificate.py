r"""A certificate of global optimality for convex objectives over nonnegative measures.

Derivation. F is convex on the cone of nonnegative measures and J = J(.|nu) is its first variation, so
for any nu and any minimiser nu*,

.. math::

    F(\nu) - F(\nu^*) \le \int J\, d(\nu - \nu^*) = \int J\,d\nu - \int J\,d\nu^*
                      \le \int J\,d\nu - \min\big(0, \min_{S^d} J\big)\, \nu^*(S^d).

The right-hand side is computable once one has (i) a *guaranteed lower bound* on ``min J`` and (ii) a
bound on the mass of some minimiser:

* (i) Cover S^d by cells ``C_i`` of generators ``p_i`` and radii ``r_i`` (every point of ``C_i`` within
  geodesic distance ``r_i`` of ``p_i``, :func:`wgf.sphere.covering_point_set`). If ``|grad_S J| <= L`` on
  the sphere then ``min_{C_i} J >= J(p_i) - L r_i``, hence ``min J >= min_i (J(p_i) - L r_i)``. A local
  optimisation from the best generators only gives an *upper* bound on ``min J``; it is reported beside
  the guaranteed one, never used in the certificate.
* (ii) For teacher–student, the teacher ``nu*`` is a minimiser (F* = 0) of known mass. With weight decay
  lambda > 0 and a risk R >= 0, ``lambda nu*(S^d) <= F(nu*) <= F(nu)`` so ``nu*(S^d) <= F(nu)/lambda``.
  With neither (e.g. unregularised logistic loss, which has no minimiser), no certificate exists.

Because ``L r`` does not vanish, along a converging flow the bound falls to a floor of order
``L max_i r_i nu*(S^d)`` that shrinks with the covering, not to 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .measure import Measure
from .models.base import Model
from .sphere import covering_point_set, retract

__all__ = ["OptimalityCertificate", "optimality_certificate", "local_minimum_of_potential"]


@dataclass(frozen=True)
class OptimalityCertificate:
    """Result of :func:`optimality_certificate` (all floats).

    Attributes
    ----------
    energy : F(nu).
    integral_J : int J dnu.
    min_J_grid : min over the covering generators of J.
    min_J_local : min J after local optimisation (an upper bound on min J).
    min_J_lower : guaranteed lower bound ``min_i J(p_i) - L r_i``.
    lipschitz : L, a bound on |grad_S J| over the sphere.
    covering_radius : max_i r_i.
    minimiser_mass : the bound used for nu*(S^d).
    gap_bound : ``int J dnu - min(0, min_J_lower) * minimiser_mass`` >= F(nu) - F*.
    """

    energy: float
    integral_J: float
    min_J_grid: float
    min_J_local: float
    min_J_lower: float
    lipschitz: float
    covering_radius: float
    minimiser_mass: float
    gap_bound: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def local_minimum_of_potential(model: Model, measure: Measure, starts: np.ndarray, iterations: int = 60):
    """Riemannian gradient descent with Armijo backtracking on ``eta -> J(eta | nu)`` from ``starts``
    (k, d+1); returns the points (k, d+1) and values (k,) reached (never above the starting values)."""
    x = np.array(starts, dtype=np.float64)
    J, G = model.potential(x, measure)
    step = np.full(len(x), 1.0)
    for _ in range(iterations):
        g2 = np.sum(G * G, axis=1)
        if np.all(g2 < 1e-28):
            break
        for _ in range(30):
            trial = retract(x, -step[:, None] * G)
            Jt, Gt = model.potential(trial, measure)
            ok = Jt <= J - 1e-4 * step * g2
            x[ok], J[ok], G[ok] = trial[ok], Jt[ok], Gt[ok]
            step[ok] *= 2.0
            step[~ok] *= 0.5
            if np.all(ok | (step < 1e-12)):
                break
    return x, J


def optimality_certificate(
    model: Model,
    measure: Measure,
    n_points: int = 4096,
    minimiser_mass: float | None = None,
    local_starts: int = 8,
) -> OptimalityCertificate:
    """Bound ``F(nu) - F*`` from above for a model on S^1 or S^2 (see the module docstring).

    Parameters
    ----------
    model : Model
        Must provide ``potential_lipschitz(measure)``, a bound on ``|grad_S J(.|nu)|``.
    measure : Measure
    n_points : int
        Size of the covering point set (a finer covering lowers the floor ``L r nu*(S^d)``).
    minimiser_mass : float, optional
        A bound on the mass of some minimiser. Defaults to the model's ``minimiser_mass_bound(measure)``
        (teacher–student: the teacher's mass when lambda = 0; with weight decay: F(nu)/lambda).
    local_starts : int
        Number of best generators refined by local optimisation (for ``min_J_local``).

    Returns
    -------
    OptimalityCertificate
    """
    model.check_measure(measure)
    if not hasattr(model, "potential_lipschitz"):
        raise ValueError(f"{type(model).__name__} provides no Lipschitz bound on its potential")
    F = model.energy(measure)
    if minimiser_mass is None:
        if not hasattr(model, "minimiser_mass_bound"):
            raise ValueError(f"{type(model).__name__} gives no bound on a minimiser's mass: pass minimiser_mass")
        minimiser_mass = model.minimiser_mass_bound(measure, energy=F)
    if minimiser_mass is None or not np.isfinite(minimiser_mass):
        raise ValueError("no bound on the mass of a minimiser is available (a certificate does not exist)")
    pts, radii = covering_point_set(n_points, model.dim)
    J, _ = model.potential(pts, measure)
    L = float(model.potential_lipschitz(measure))
    Jnu, _ = model.potential(measure.points, measure) if measure.size else (np.zeros(0), None)
    integral = measure.integrate(Jnu)
    best = np.argsort(J)[:local_starts]
    _, Jloc = local_minimum_of_potential(model, measure, pts[best])
    lower = float(np.min(J - L * radii))
    gap = integral - min(0.0, lower) * float(minimiser_mass)
    return OptimalityCertificate(
        energy=F,
        integral_J=integral,
        min_J_grid=float(J.min()),
        min_J_local=float(min(Jloc.min(), J.min())),
        min_J_lower=lower,
        lipschitz=L,
        covering_radius=float(radii.max()),
        minimiser_mass=float(minimiser_mass),
        gap_bound=float(gap),
    )
