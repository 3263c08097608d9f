r"""A certificate of global optimality for convex objectives over nonnegative measures.

Derivation. F is convex on the cone of nonnegative measures and J = J(.|nu) is its first variation, so
for any nu and any minimiser nu*,

.. math::

    F(\nu) - F(\nu^*) \le \int J\, d(\nu - \nu^*) = \int J\,d\nu - \int J\,d\nu^*
                      \le \int J\,d\nu - \min\big(0, \min_{S^d} J\big)\, \nu^*(S^d).

(The first inequality is convexity along the segment ``nu + s (nu* - nu)``, s in [0, 1], whose derivative
at s = 0 is ``int J d(nu* - nu)``; the second uses ``nu* >= 0``.) The right-hand side is computable once
one has (i) a *guaranteed lower bound* on ``min J`` and (ii) a bound on the mass of some minimiser.

(i) Lower bounds on ``min J`` (``method``). Cover the sphere by cells ``C_i`` with generators ``p_i`` and
radii ``r_i`` (every point of ``C_i`` within geodesic distance ``r_i`` of ``p_i``,
:func:`wgf.geometry.sphere.covering_point_set`; S^1: n equispaced points, ``r_i = pi/n``).

* ``"lipschitz"``: if ``|grad_S J| <= L`` on the sphere (the model's ``potential_lipschitz``) then
  ``min_{C_i} J >= J(p_i) - L r_i``. The floor ``L r nu*(S^d)`` is first order in the covering radius.
* ``"curvature"``: if moreover ``|(J o gamma)''| <= M2`` along every unit-speed geodesic ``gamma`` (the
  model's ``potential_curvature``), Taylor's formula with integral remainder along the geodesic from
  ``p_i`` to ``x`` (length ``s <= r_i``) gives ``J(x) >= J(p_i) - s |grad_S J(p_i)| - M2 s^2 / 2``, so
  ``min_{C_i} J >= J(p_i) - |grad_S J(p_i)| r_i - M2 r_i^2 / 2`` (the larger of this and the Lipschitz
  bound is used per cell). Near a minimiser of J the gradient is itself ``O(M2 r)``, so the floor is
  second order: ``O(M2 r^2)``.
* ``"homogeneous"``: for two-layer ReLU models (``Psi(a, b) = a relu(b . x)``; the model declares
  ``homogeneous_potential = True``) ``J(a, b) = lambda + a f(b)`` with ``f`` positively 1-homogeneous, so on
  the unit sphere ``J = lambda + a |b| f(u)`` with ``u = b/|b|`` in S^{d-1}, and ``a |b|`` ranges over
  ``[-1/2, 1/2]``, the ends reached at ``|a| = |b| = 1/sqrt 2``. Hence ``J`` is odd in ``a`` about
  ``lambda`` and

  .. math:: \min_{S^d} J = \lambda - \max_{u \in S^{d-1}} |g(u)|, \qquad
            g(u) = J\big((1, u)/\sqrt2\big) - \lambda ,

  a problem on a sphere of one dimension less (for d = 1 two points: exact). The map ``u -> (1, u)/sqrt 2``
  shortens lengths by ``1/sqrt 2``, so ``g`` is ``L/sqrt 2``-Lipschitz and
  ``min J >= lambda - max_i (|g(u_i)| + L r_i / sqrt 2)`` over a covering ``(u_i, r_i)`` of S^{d-1}. With
  a covering of the circle (d = 2) a million points cost little, so the floor ``L r`` is negligible.
* ``"auto"``: ``"homogeneous"`` where the model declares it (d <= 3), else ``"curvature"`` where the
  model provides ``potential_curvature``, else ``"lipschitz"``.

Local refinement (``refine`` rounds, "lipschitz" and "curvature"): a cell whose lower bound is below
``min(0, smallest J evaluated)`` is replaced by children covering its ball ``B(p_i, r_i)``: on S^1, 8 points
of radius ``r_i/8``; on S^2, the images under the exponential map at ``p_i`` of a 4 x 4 square grid of
the tangent disc, of radius ``r_i/(2 sqrt 2)`` each (``exp_p`` does not increase distances within the ball
of radius pi). Cells whose bound is already above that value cannot lower the certificate and are kept,
so near the minimisers of J the radius shrinks geometrically at a cost of a few points per round.

A local optimisation from the best evaluation points only gives an *upper* bound on ``min J``; it is
reported beside the guaranteed one (``min_J_local``), never used in the certificate. The floating-point
error of the computed ``J`` values (of order ``N eps`` times the total variation of the kernel sums) is
not included; it is orders of magnitude below the floors reported in this package.

(ii) The mass of a minimiser (the model's ``minimiser_mass_bound``). For teacher–student the teacher
``nu*`` is a minimiser (F* = 0) of known mass. With weight decay lambda > 0 and a risk R >= 0,
``lambda nu*(S^d) <= F(nu*) <= F(nu)`` so ``nu*(S^d) <= F(nu)/lambda``. With neither (e.g. unregularised
logistic loss, which has no minimiser), no certificate exists.

Floor. Along a flow on a grid the certificate does not tend to 0: the limit ``nu_h`` minimises F only
over measures on the grid, and ``J(.|nu_h) >= 0`` holds at the grid points but dips below 0 between them,
so the bound tends to ``-min(0, min_{S^d} J(.|nu_h)) nu*(S^d)`` (plus the covering's own term above), a
floor that shrinks with the grid.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import numpy as np

from ..geometry.measure import Measure
from ..geometry.sphere import covering_point_set, exp_map, retract
from ..models.base import Model

__all__ = [
    "OptimalityCertificate",
    "optimality_certificate",
    "local_minimum_of_potential",
    "certificate_unavailable",
    "covering",
    "CERTIFICATE_METHODS",
]

#: Lower-bound methods for ``min J`` (see the module docstring).
CERTIFICATE_METHODS = ("auto", "lipschitz", "curvature", "homogeneous")


@dataclass(frozen=True)
class OptimalityCertificate:
    """Result of :func:`optimality_certificate`.

    Attributes
    ----------
    energy : F(nu).
    integral_J : int J dnu.
    min_J_grid : min of J over the evaluation points (an upper bound on min J).
    min_J_local : min J after local optimisation (an upper bound on min J, <= min_J_grid).
    min_J_lower : the guaranteed lower bound on min J.
    lipschitz : L, a bound on ``|grad_S J|`` over the sphere.
    covering_radius : max_i r_i of the covering used (of S^d, or of S^{d-1} for "homogeneous").
    minimiser_mass : the bound used for nu*(S^d).
    gap_bound : ``int J dnu - min(0, min_J_lower) * minimiser_mass`` >= F(nu) - F*.
    method : the lower-bound method used ("lipschitz", "curvature" or "homogeneous").
    curvature : M2 (the "curvature" method), else nan.
    n_points : number of covering points.
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
    method: str = "lipschitz"
    curvature: float = math.nan
    n_points: int = 0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@functools.lru_cache(maxsize=16)
def _cached_covering(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    if d == 0:
        pts, radii = np.array([[1.0], [-1.0]]), np.zeros(2)
    else:
        pts, radii = covering_point_set(n, d)
    pts = np.ascontiguousarray(pts, dtype=np.float64)
    radii = np.ascontiguousarray(radii, dtype=np.float64)
    pts.setflags(write=False)
    radii.setflags(write=False)
    return pts, radii


def covering(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`wgf.geometry.sphere.covering_point_set` ``(points (n', d+1), radii (n',))``, cached (read-only arrays;
    the Voronoi construction on S^2 costs seconds for 10^5 points). ``d = 0``: the two points of S^0 with
    radius 0."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n_points (covering size) must be an integer >= 2, got {n!r}")
    return _cached_covering(int(n), int(d))


#: Children per refined cell: 8 on S^1 (radius r/8), 4 x 4 on S^2 (radius sqrt2 r/4).
_REFINE_CHILDREN = {1: 8, 2: 16}


def _children(points: np.ndarray, radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points and radii covering the geodesic balls ``B(p_i, r_i)`` (see the module docstring).

    S^1: 8 points at angular offsets ``(j + 1/2) r/4 - r`` with radius ``r/8``. S^2: the square grid of
    spacing ``r/2`` on ``[-r, r]^2`` in the tangent plane at ``p``, mapped by the exponential map, radius
    ``r/(2 sqrt2)`` (half the diagonal of a grid square): every ``x`` in the ball is ``exp_p(w)`` with
    ``|w| <= r``, within ``|w - u| <= r/(2 sqrt2)`` of a grid point ``u``, and ``exp_p`` is
    distance-nonincreasing on the ball of radius pi (its differential is the identity radially and
    ``sin|u|/|u| <= 1`` across)."""
    d = points.shape[1] - 1
    k = 8 if d == 1 else 4
    off = ((np.arange(k) + 0.5) * (2.0 / k) - 1.0)  # offsets in units of r
    if d == 1:
        th = np.arctan2(points[:, 1], points[:, 0])[:, None] + off[None, :] * radii[:, None]
        cp = np.stack([np.cos(th), np.sin(th)], axis=-1).reshape(-1, 2)
        return cp, np.repeat(radii / k, k)
    e = np.eye(3)[np.argmin(np.abs(points), axis=1)]
    t1 = e - np.sum(e * points, axis=1, keepdims=True) * points
    t1 /= np.linalg.norm(t1, axis=1, keepdims=True)
    t2 = np.cross(points, t1)
    a, b = np.meshgrid(off, off, indexing="ij")
    a, b = a.ravel(), b.ravel()
    w = radii[:, None, None] * (a[None, :, None] * t1[:, None, :] + b[None, :, None] * t2[:, None, :])
    p = np.repeat(points, k * k, axis=0)
    cp = exp_map(p, w.reshape(-1, 3))
    return cp, np.repeat(radii * (math.sqrt(2.0) / k), k * k)


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


def _resolve_method(model: Model, method: str) -> str:
    """The concrete method for ``model`` (ValueError naming the reason when it does not apply)."""
    if method not in CERTIFICATE_METHODS:
        raise ValueError(f"method must be one of {CERTIFICATE_METHODS}, got {method!r}")
    d = model.dim
    homogeneous = bool(getattr(model, "homogeneous_potential", False))
    curvature = hasattr(model, "potential_curvature")
    if method == "auto":
        if homogeneous and d <= 3:
            return "homogeneous"
        if d > 2:
            raise ValueError(f"the model lives on S^{d}: a certified covering exists on S^1 and S^2 only (and "
                             "on S^3 for two-layer ReLU models, whose minimum of J is a maximum over S^2)")
        method = "curvature" if curvature else "lipschitz"
    if method == "homogeneous":
        if not homogeneous:
            raise ValueError(f"method 'homogeneous' needs a potential J = lambda + a f(b) with f 1-homogeneous "
                             f"(two-layer ReLU models); {type(model).__name__} does not declare one")
        if d > 3:
            raise ValueError(f"method 'homogeneous' covers S^(d-1) and needs d <= 3, but the model is on S^{d} "
                             "(a certified covering exists on S^1 and S^2 only)")
        return method
    if d > 2:
        raise ValueError(f"method {method!r} needs a certified covering of S^{d}, available on S^1 and S^2 only")
    if method == "curvature" and not curvature:
        raise ValueError(f"method 'curvature' needs a bound on the second derivative of J; "
                         f"{type(model).__name__} provides none (potential_curvature)")
    return method


def certificate_unavailable(model: Model, method: str = "auto") -> str | None:
    """Why no optimality certificate can be computed for ``model`` (a sentence), or None if it can.

    Checks the lower-bound method (dimension, the model's Lipschitz / curvature bounds) and whether the
    model bounds a minimiser's mass (e.g. unregularised logistic loss: no minimiser exists)."""
    if not hasattr(model, "potential_lipschitz"):
        return f"{type(model).__name__} provides no Lipschitz bound on its potential (potential_lipschitz)"
    try:
        _resolve_method(model, method)
    except ValueError as exc:
        return str(exc)
    if not hasattr(model, "minimiser_mass_bound"):
        return f"{type(model).__name__} gives no bound on a minimiser's mass (minimiser_mass_bound)"
    probe = Measure(np.eye(model.dim + 1)[:1], np.zeros(1))
    try:
        bound = model.minimiser_mass_bound(probe, energy=1.0)
    except (ValueError, TypeError, ArithmeticError) as exc:  # pragma: no cover - model bug
        return f"{type(model).__name__}.minimiser_mass_bound failed: {exc}"
    if bound is None or not np.isfinite(bound):
        return (f"{type(model).__name__} bounds no minimiser's mass (without weight decay the logistic loss "
                "has no minimiser, and a square-loss minimiser's mass is not bounded a priori)")
    return None


def optimality_certificate(
    model: Model,
    measure: Measure,
    n_points: int = 4096,
    minimiser_mass: float | None = None,
    local_starts: int = 8,
    method: str = "auto",
    refine: int = 0,
    refine_budget: int = 65536,
) -> OptimalityCertificate:
    """Bound ``F(nu) - F*`` from above (see the module docstring).

    Parameters
    ----------
    model : Model
        Must provide ``potential_lipschitz(measure)``, a bound on ``|grad_S J(.|nu)|``; for
        ``method="curvature"`` also ``potential_curvature(measure)``, a bound on the second derivative of
        J along unit-speed geodesics; for ``"homogeneous"`` the attribute ``homogeneous_potential``.
    measure : Measure
    n_points : int
        Size of the covering point set (of S^d, or of S^{d-1} for "homogeneous"); a finer covering lowers
        the covering's part of the floor.
    minimiser_mass : float, optional
        A bound on the mass of some minimiser. Defaults to the model's ``minimiser_mass_bound(measure)``
        (teacher–student: the teacher's mass when lambda = 0; with weight decay: F(nu)/lambda).
    local_starts : int
        Number of best evaluation points refined by local optimisation (for ``min_J_local``; 0: none).
    method : {"auto", "lipschitz", "curvature", "homogeneous"}
    refine : int
        Rounds of local refinement ("lipschitz" and "curvature"): the cells whose lower bound is below
        ``min(0, smallest J evaluated)`` are replaced by children of smaller radius (see the module
        docstring), at most ``refine_budget`` new points per round, the lowest cells first.
    refine_budget : int

    Returns
    -------
    OptimalityCertificate

    Raises
    ------
    ValueError
        If the model or the dimension admits no certificate (the message says why).
    """
    model.check_measure(measure)
    for name, v, lo in (("local_starts", local_starts, 0), ("refine", refine, 0), ("refine_budget", refine_budget, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not hasattr(model, "potential_lipschitz"):
        raise ValueError(f"{type(model).__name__} provides no Lipschitz bound on its potential")
    method = _resolve_method(model, method)
    F = model.energy(measure)
    if minimiser_mass is None:
        if not hasattr(model, "minimiser_mass_bound"):
            raise ValueError(f"{type(model).__name__} gives no bound on a minimiser's mass: pass minimiser_mass")
        minimiser_mass = model.minimiser_mass_bound(measure, energy=F)
    if minimiser_mass is None or not np.isfinite(minimiser_mass):
        raise ValueError("no bound on the mass of a minimiser is available (a certificate does not exist)")
    L = float(model.potential_lipschitz(measure))
    d = model.dim
    curv = math.nan
    if method == "homogeneous":
        u, radii = covering(n_points, d - 1)
        q = np.empty((len(u), d + 1))
        q[:, 0] = 1.0
        q[:, 1:] = u
        q *= 1.0 / math.sqrt(2.0)
        lam = float(model.weight_decay)
        Jq, _ = model.potential(q, measure)
        g = Jq - lam
        lower = lam - float(np.max(np.abs(g) + L * radii / math.sqrt(2.0)))
        # the smaller of J((+1, u)/sqrt2) and J((-1, u)/sqrt2) = lambda -+ g: the evaluation points
        grid_vals = lam - np.abs(g)
        pts = q.copy()
        pts[:, 0] = np.where(g > 0, -1.0, 1.0) / math.sqrt(2.0)
    else:
        pts, radii = covering(n_points, d)
        if method == "curvature":
            curv = float(model.potential_curvature(measure))

        def bounds(P, r):
            Jp, Gp = model.potential(P, measure)
            cell = Jp - L * r
            if method == "curvature":
                cell = np.maximum(cell, Jp - np.linalg.norm(Gp, axis=1) * r - 0.5 * curv * r * r)
            return Jp, cell

        Jp, cell = bounds(pts, radii)
        grid_vals, seen_pts = [Jp], [pts]
        n_eval = len(pts)
        for _ in range(refine):
            upper = min(0.0, min(float(v.min()) for v in grid_vals))
            sel = np.flatnonzero(cell < upper)
            if sel.size == 0:
                break
            per = _REFINE_CHILDREN[d]
            if sel.size * per > refine_budget:  # refine the lowest cells within the budget
                sel = sel[np.argsort(cell[sel], kind="stable")[: max(1, refine_budget // per)]]
            cp, cr = _children(pts[sel], radii[sel])
            cJ, ccell = bounds(cp, cr)
            keep = np.ones(len(pts), dtype=bool)
            keep[sel] = False
            pts = np.concatenate([pts[keep], cp])
            radii = np.concatenate([radii[keep], cr])
            cell = np.concatenate([cell[keep], ccell])
            grid_vals.append(cJ)
            seen_pts.append(cp)
            n_eval += len(cp)
        lower = float(np.min(cell))
        grid_vals = np.concatenate(grid_vals)
        pts = np.concatenate(seen_pts)
    Jnu, _ = model.potential(measure.points, measure) if measure.size else (np.zeros(0), None)
    integral = measure.integrate(Jnu)
    min_grid = float(grid_vals.min())
    min_local = min_grid
    if local_starts > 0:
        best = np.argsort(grid_vals, kind="stable")[:local_starts]
        _, Jloc = local_minimum_of_potential(model, measure, pts[best])
        min_local = float(min(Jloc.min(), min_grid))
    gap = integral - min(0.0, lower) * float(minimiser_mass)
    return OptimalityCertificate(
        energy=float(F),
        integral_J=float(integral),
        min_J_grid=min_grid,
        min_J_local=min_local,
        min_J_lower=lower,
        lipschitz=L,
        covering_radius=float(radii.max()),
        minimiser_mass=float(minimiser_mass),
        gap_bound=float(gap),
        method=method,
        curvature=curv,
        n_points=int(n_eval if method != "homogeneous" else len(radii)),
    )
