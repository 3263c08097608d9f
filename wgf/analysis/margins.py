r"""Implicit bias of the logistic loss: margins of the flow and independent max-margin references.

For unregularised logistic loss the flow diverges in mass while its *direction* converges to a max-margin
classifier (Chizat & Bach 2020; the ICM review §5). With neurons ``eta = (a, b)`` on S^d,
``h_nu(x) = int a relu(b . x~) dnu`` (``x~ = [x; 1]`` with a bias coordinate) is linear in nu, so margins are
normalised by a size of nu. Writing ``a relu(b . x) = |a||b| sign(a) relu(b/|b| . x)``,

.. math::

    \frac{\min_i y_i h_\nu(x_i)}{\int |a||b|\,d\nu} \le \gamma_{F_1}
    := \max_{\|f\|_{F_1} \le 1} \min_i y_i f(x_i),

with ``||f||_{F_1}`` the variation norm (total variation of the signed measure on input directions), and
since ``|a||b| <= 1/2`` on the sphere the *mass*-normalised margin tends to at most ``gamma_F1 / 2``.
:func:`normalised_margin` returns both normalisations.

References computed independently of the flow:

* :func:`f1_max_margin`: the F1 max margin restricted to a finite set of directions ``u_k`` (a fine grid of
  the sphere of input directions, bias included), a linear program solved with HiGHS:
  ``max gamma  s.t.  y_i sum_k c_k relu(u_k . x~_i) >= gamma,  sum_k |c_k| <= 1``. Restricting to sampled
  directions can only lower the optimum, so it is a lower bound, tight as the grid is refined (in low
  dimension only). Beside it, a certified *upper* bound from the LP's dual weights ``lambda`` (weak
  duality over all directions): ``gamma_F1 <= max_{|u|=1} |sum_i lambda_i y_i relu(u . x~_i)|``, the maximum
  found by :func:`max_abs_relu_sum` (exact on S^1, a branch and bound with certified cap bounds on S^2);
  optional cutting-plane rounds add the directions where that function exceeds the LP value and narrow
  the bracket.
* :func:`kernel_max_margin`: the hard-margin SVM in an RKHS, ``max_{||f||_H <= 1} min_i y_i f(x_i)``, solved
  exactly as a least-distance program by non-negative least squares, with the dual bound
  ``sqrt(lambda^T Q lambda)`` beside it (the bracket closes to round-off). With the random-feature kernel
  (:func:`random_feature_kernel`) of fixed input weights it is the max margin of training the output layer
  only (the margin normalised by ``||a||_2 / sqrt(m)``, :func:`output_layer_margin`); with the closed-form
  arc-cosine kernel (:func:`f2_kernel`) it is its F2 (RKHS) limit.

Why the mass-normalised margin tends to *half* the F1 margin (gradient flow with alpha = 4 beta, i.e. a
network trained with equal layer steps). The margin inequality above gives ``by_mass <= gamma_F1 / 2``
with equality only if ``|a| = |b|`` nu-almost everywhere, since ``2|a||b| = |a|^2 + |b|^2 - (|a| - |b|)^2``.
Per neuron the flow conserves ``c_j = a_j^2 - |b_j|^2`` (for the measure: ``m_k (eta_0^2 - |eta_{1:}|^2)`` per
atom), so ``(|a_j| - |b_j|)^2 = c_j^2 / (|a_j| + |b_j|)^2 <= |c_j|`` stays bounded while the mass diverges
(``log t`` for the logistic loss), and

.. math::

    0 \le \nu(S^d) - 2\int |a||b|\,d\nu = \frac1m \sum_j (|a_j| - |b_j|)^2 \le \frac1m \sum_j |c_j|
    = \int |\eta_0^2 - |\eta_{1:}|^2|\, d\nu_0 \le \nu_0(S^d).

Hence ``int |a||b| dnu / nu(S^d) = 1/2 - O(nu_0(S^d) / nu_t(S^d)) -> 1/2`` and ``by_mass = by_ab * (that
ratio)``: the two normalisations of :func:`normalised_margin` agree up to a factor 2 asymptotically, and if
the direction converges to an F1 max-margin classifier (Chizat & Bach 2020, infinite width, full support),
``by_ab -> gamma_F1`` and ``by_mass -> gamma_F1 / 2``. A balanced start (``|a_j| = |b_j|``, every ``c_j = 0``)
gives ``by_mass = by_ab / 2`` at all times along the flow (gradient descent conserves ``c_j`` only up to
``O(step^2)`` per step). The deviation ``O(1/mass) = O(1/log t)`` is of the same order as the convergence
of the direction, so both are reported.

Random features (output layer only, ``layer_steps = (1, 0)``). With input weights frozen,
``h(x) = (1/m) sum_j a_j relu(b_j . x~) = theta . phi(x)`` with ``theta = a / sqrt(m)`` and
``phi_j(x) = relu(b_j . x~) / sqrt(m)``, and the m-scaled step on ``a`` is plain gradient descent on the
linear model in ``theta`` with the same step; its direction tends to the L2 max-margin ``theta`` (Soudry et
al. 2018), so ``min_i y_i h(x_i) / ||theta||_2 = min_i y_i h(x_i) sqrt(m) / ||a||_2`` tends to the SVM margin
of the kernel ``K_m = Phi Phi^T = (1/m) sum_j relu(b_j . x~) relu(b_j . x~')``, which tends to the F2 kernel as
``m -> infinity`` when the ``b_j`` are uniform on the unit sphere.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange
from scipy.optimize import linprog, nnls

from .._parallel import serial_if_small
from ..geometry.measure import Measure
from ..geometry.sphere import quasi_uniform_points
from ..models.relu_kernel import relu_kappa
from .certificate import _children, covering

__all__ = [
    "cluster_classification_data",
    "add_bias",
    "normalised_margin",
    "f1_max_margin",
    "F1MaxMargin",
    "KernelMaxMargin",
    "max_abs_relu_sum",
    "ReluSumMaximum",
    "kernel_max_margin",
    "f2_kernel",
    "random_feature_kernel",
    "output_layer_margin",
]


def cluster_classification_data(n: int, d: int = 2, k: int = 4, seed: int = 0):
    """The Chizat–Bach two-class data set on ``[-1/2, 1/2]^d``.

    The first two coordinates follow a mixture of ``k^2`` uniform distributions on disks of radius
    ``1/(3k - 1)`` centred on a ``k x k`` grid of step ``3/(3k - 1)``; the other ``d - 2`` coordinates are
    uniform on ``[-1/2, 1/2]``; each cluster gets a random label in {-1, +1} (both labels present).

    Returns
    -------
    X : ndarray, shape (n, d)
    y : ndarray, shape (n,), entries +-1
    """
    if d < 2 or k < 2 or n < 2:
        raise ValueError(f"need d >= 2, k >= 2 and n >= 2, got d={d}, k={k}, n={n}")
    rng = np.random.default_rng(seed)
    r = 1.0 / (3 * k - 1)
    centres_1d = -0.5 + r + 3 * r * np.arange(k)
    cx, cy = np.meshgrid(centres_1d, centres_1d, indexing="ij")
    centres = np.column_stack([cx.ravel(), cy.ravel()])
    labels = rng.choice([-1.0, 1.0], size=k * k)
    while np.all(labels == labels[0]):
        labels = rng.choice([-1.0, 1.0], size=k * k)
    cl = rng.integers(0, k * k, size=n)
    rad = r * np.sqrt(rng.random(n))
    ang = 2 * np.pi * rng.random(n)
    X = np.empty((n, d))
    X[:, 0] = centres[cl, 0] + rad * np.cos(ang)
    X[:, 1] = centres[cl, 1] + rad * np.sin(ang)
    if d > 2:
        X[:, 2:] = rng.uniform(-0.5, 0.5, size=(n, d - 2))
    return X, labels[cl]


def add_bias(X: np.ndarray) -> np.ndarray:
    """``[x; 1]`` for each row, shape (n, dx+1)."""
    X = np.asarray(X, dtype=np.float64)
    return np.column_stack([X, np.ones(len(X))])


def normalised_margin(measure: Measure, features: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Margins of ``h_nu(x) = int a relu(b . x) dnu`` on features (n, k) = inputs with the bias column.

    Returns ``{"margin", "by_mass", "by_ab"}``: the raw margin ``min_i y_i h(x_i)``, it divided by the mass
    ``nu(S^d)``, and divided by ``int |a||b| dnu`` (comparable to the F1 max margin).
    """
    P = measure.points
    h = np.maximum(features @ P[:, 1:].T, 0.0) @ (measure.masses * P[:, 0])
    raw = float(np.min(y * h))
    ab = float(measure.masses @ (np.abs(P[:, 0]) * np.linalg.norm(P[:, 1:], axis=1)))
    return {"margin": raw, "by_mass": raw / measure.total_mass, "by_ab": raw / ab}


def _labelled_features(features, y, name="features"):
    """Validated ``(F (n, k), y (n,))``: finite, labels in {-1, +1}."""
    try:
        F = np.asarray(features, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} and y must be numeric arrays: {exc}") from None
    if F.ndim != 2 or F.shape[0] < 1 or F.shape[1] < 1:
        raise ValueError(f"{name} must have shape (n, k) with n, k >= 1, got {F.shape}")
    if y.shape != (F.shape[0],):
        raise ValueError(f"y must have shape ({F.shape[0]},) to match {name}, got {y.shape}")
    if not np.all(np.isfinite(F)):
        raise ValueError(f"{name} contains NaN or inf")
    if not np.all(np.abs(y) == 1.0):
        raise ValueError(f"y must hold labels in {{-1, +1}}, got {y[np.abs(y) != 1.0][0]!r}")
    return F, y


class F1MaxMargin(tuple):
    """Result of :func:`f1_max_margin`: the tuple ``(gamma, c, directions)`` of earlier versions (so
    ``gamma, c, U = f1_max_margin(...)`` and ``f1_max_margin(...)[0]`` still work) with the bracket as
    attributes.

    Attributes
    ----------
    gamma : float
        The LP optimum on the given directions (``self[0]``).
    c : ndarray, shape (K,)
        Optimal signed weights of the directions.
    directions : ndarray, shape (K, k)
    lower : float
        ``min_i y_i f(x_i) / ||c||_1`` of the LP's own ``f = sum_k c_k relu(u_k . x)``, recomputed: a
        certified lower bound of the F1 max margin (equal to ``gamma`` up to the LP solver's tolerance).
    upper : float
        ``max_{|u| = 1} |sum_i lambda_i y_i relu(u . x_i)|`` for the LP's dual weights ``lambda``, from the
        global search of :func:`max_abs_relu_sum` (its certified upper end): a certified upper bound of
        the F1 max margin (``inf`` where no certified search exists, k >= 4).
    dual : ndarray, shape (n,)
        ``lambda`` (>= 0, sum 1).
    argmax : ndarray, shape (k,)
        A direction where the search found its largest ``|g|`` (a candidate direction to add to the LP).
    certified : bool
        Whether ``upper`` comes from a search with a bounded error (k <= 3).
    """

    def __new__(cls, gamma, c, directions, *, lower, upper, dual, argmax, certified):
        self = super().__new__(cls, (gamma, c, directions))
        self.lower, self.upper, self.dual, self.argmax, self.certified = lower, upper, dual, argmax, certified
        return self

    gamma = property(lambda self: self[0])
    c = property(lambda self: self[1])
    directions = property(lambda self: self[2])

    @property
    def bracket(self) -> tuple[float, float]:
        """``(lower, upper)``: the F1 max margin lies in this interval."""
        return (self.lower, self.upper)

    def __repr__(self) -> str:
        return (f"F1MaxMargin(gamma={self.gamma:.10g}, bracket=[{self.lower:.10g}, {self.upper:.10g}], "
                f"directions={len(self.directions)})")


class KernelMaxMargin(tuple):
    """Result of :func:`kernel_max_margin`: the tuple ``(gamma, alpha)`` of earlier versions with the dual
    bound as an attribute.

    Attributes
    ----------
    gamma : float
        ``min_i y_i f(x_i) / ||f||_H`` of the returned ``f``: a lower bound of the kernel max margin.
    alpha : ndarray, shape (n,)
    upper : float
        ``||sum_i lambda_i y_i k(x_i, .)||_H = sqrt(lambda^T Q lambda)`` with ``lambda = alpha / sum alpha``:
        by weak duality (``min_i y_i f(x_i) <= sum_i lambda_i y_i f(x_i) = <f, sum_i lambda_i y_i k(x_i, .)>``,
        then Cauchy–Schwarz) an upper bound of the max margin for any ``lambda`` in the simplex.
    """

    def __new__(cls, gamma, alpha, *, upper):
        self = super().__new__(cls, (gamma, alpha))
        self.upper = upper
        return self

    gamma = property(lambda self: self[0])
    alpha = property(lambda self: self[1])
    lower = property(lambda self: self[0])

    @property
    def bracket(self) -> tuple[float, float]:
        return (self.gamma, self.upper)

    def __repr__(self) -> str:
        return f"KernelMaxMargin(gamma={self.gamma:.10g}, upper={self.upper:.10g})"


class ReluSumMaximum(NamedTuple):
    """Result of :func:`max_abs_relu_sum`: ``value <= max |g| <= upper`` (equal on S^1, where the
    maximum is exact up to round-off)."""

    upper: float
    value: float
    argmax: np.ndarray
    evaluations: int
    certified: bool
    #: (p, k) evaluated directions with ``|g| > above``, largest first (at most ``max_peaks``)
    peaks: np.ndarray


def _relu_sum(F: np.ndarray, w: np.ndarray, U: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """``g(u) = sum_i w_i relu(u . x_i)`` at the rows of U (N, k), shape (N,); (chunk, n) blocks at a time."""
    out = np.empty(len(U))
    for s in range(0, len(U), chunk):
        out[s:s + chunk] = np.maximum(U[s:s + chunk] @ F.T, 0.0) @ w
    return out


def _circle_candidates(F: np.ndarray, w: np.ndarray):
    """Directions (p, 2) among which ``|g|`` takes its maximum over S^1, and ``|g|`` there (p,) (k = 2):
    between consecutive kinks (``u . x_i = 0``) g is
    the linear function ``v_S . u`` (S the samples active on the arc), whose extremes over the arc are at its
    ends or at ``+-v_S / |v_S|`` where that lies inside; all these candidates are evaluated."""
    phi = np.arctan2(F[:, 1], F[:, 0])
    kinks = np.sort(np.mod(np.concatenate([phi + 0.5 * np.pi, phi - 0.5 * np.pi]), 2.0 * np.pi))
    a = kinks
    b = np.concatenate([kinks[1:], kinks[:1] + 2.0 * np.pi])
    mid = 0.5 * (a + b)
    active = (np.column_stack([np.cos(mid), np.sin(mid)]) @ F.T) > 0.0  # (arcs, n)
    V = active.astype(np.float64) @ (w[:, None] * F)  # g = V_arc . u on the arc
    psi = np.arctan2(V[:, 1], V[:, 0])
    angles = [kinks]
    for shift in (0.0, np.pi):  # the maximiser and the minimiser of the linear function
        ang = psi + shift
        angles.append(ang[np.mod(ang - a, 2.0 * np.pi) <= (b - a)])
    th = np.concatenate(angles)
    C = np.column_stack([np.cos(th), np.sin(th)])
    return C, np.abs(_relu_sum(F, w, C))


@njit(cache=True, parallel=True)
def _cap_bounds_kernel(F, nF, w, P, R, out):  # pragma: no cover - compiled
    """The loop of :func:`cap_upper_bounds`: one cap per iteration, samples summed in order."""
    N, k = P.shape
    n = F.shape[0]
    half_pi = 0.5 * math.pi
    for c in prange(N):
        r = R[c]
        v = np.zeros(k)
        reach_pos = 0.0
        reach_neg = 0.0
        for i in range(n):
            d = 0.0
            for l in range(k):
                d += P[c, l] * F[i, l]
            s = math.acos(min(1.0, max(-1.0, d / nF[i])))
            if s + r <= half_pi:
                for l in range(k):
                    v[l] += w[i] * F[i, l]
            elif s - r < half_pi:
                reach = nF[i] * math.cos(max(0.0, s - r))
                if w[i] > 0.0:
                    reach_pos += w[i] * reach
                else:
                    reach_neg -= w[i] * reach
        nv = 0.0
        dv = 0.0
        for l in range(k):
            nv += v[l] * v[l]
            dv += v[l] * P[c, l]
        nv = math.sqrt(nv)
        ang = math.acos(min(1.0, max(-1.0, dv / nv))) if nv > 0.0 else half_pi
        up = nv * math.cos(max(0.0, ang - r)) + reach_pos
        down = nv * math.cos(max(0.0, (math.pi - ang) - r)) + reach_neg
        out[c] = max(up, down)


def cap_upper_bounds(F: np.ndarray, nF: np.ndarray, w: np.ndarray, P: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Upper bounds of ``|g|``, ``g(u) = sum_i w_i relu(u . x_i)``, on the caps ``B(p, r)`` (centres P (N, k),
    geodesic radii R (N,)), shape (N,); F (n, k) the ``x_i`` and nF (n,) their norms (nonzero).

    A sample at angle ``s_i`` from p is active on the whole cap if ``s_i + r <= pi/2``, inactive if
    ``s_i - r >= pi/2``, otherwise its kink crosses the cap. On the cap ``g = v_A . u + sum_crossing``, the
    linear part's maximum over the cap is exactly ``|v_A| cos(max(0, angle(v_A, p) - r))`` (its minimum the
    same with ``pi - angle``), and a crossing term ``w_i relu(u . x_i)`` lies between 0 and
    ``w_i |x_i| cos(max(0, s_i - r))``. Compiled loop (parallel over caps);
    :func:`cap_upper_bounds_numpy` is its reference."""
    out = np.empty(P.shape[0])
    args = [np.ascontiguousarray(a, dtype=np.float64) for a in (F, nF, w, P, R)]
    with serial_if_small(P.shape[0] * F.shape[0] * F.shape[1]):
        _cap_bounds_kernel(*args, out)
    return out


def cap_upper_bounds_numpy(F: np.ndarray, nF: np.ndarray, w: np.ndarray, P: np.ndarray, R: np.ndarray) -> np.ndarray:
    """NumPy reference of :func:`cap_upper_bounds` (same arguments and bound; forms (N, n) arrays), for tests."""
    s = np.arccos(np.clip((P @ F.T) / nF, -1.0, 1.0))  # (N, n)
    r = R[:, None]
    act = s + r <= 0.5 * np.pi
    cross = ~act & (s - r < 0.5 * np.pi)
    VA = act.astype(np.float64) @ (w[:, None] * F)  # (N, k)
    nV = np.linalg.norm(VA, axis=1)
    cosv = np.sum(VA * P, axis=1) / np.where(nV > 0.0, nV, 1.0)
    ang = np.arccos(np.clip(cosv, -1.0, 1.0))
    reach = np.where(cross, nF[None, :] * np.cos(np.maximum(0.0, s - r)), 0.0)  # max of relu(u . x_i)
    up = nV * np.cos(np.maximum(0.0, ang - R)) + reach @ np.maximum(w, 0.0)
    down = nV * np.cos(np.maximum(0.0, (np.pi - ang) - R)) + reach @ np.maximum(-w, 0.0)
    return np.maximum(up, down)


def max_abs_relu_sum(features: np.ndarray, weights: np.ndarray, *, rtol: float = 1e-4,
                     max_evaluations: int = 2_000_000, start: int = 512, above: float = math.inf,
                     max_peaks: int = 0) -> ReluSumMaximum:
    r"""Certified ``max_{u in S^{k-1}} |g(u)|`` of ``g(u) = sum_i w_i relu(u . x_i)``.

    Parameters
    ----------
    features : ndarray, shape (n, k)
        The ``x_i``.
    weights : ndarray, shape (n,)
        The ``w_i`` (e.g. ``lambda_i y_i``).
    rtol : float
        k = 3: stop when the certified upper bound is within ``rtol`` (relative) of the best value found.
    max_evaluations : int
        k = 3: stop refining after this many evaluations of g (the bound returned is still certified,
        only looser).
    start : int
        k = 3: size of the initial covering.
    above, max_peaks : float, int
        Also return up to ``max_peaks`` of the evaluated directions where ``|g| > above``, largest first
        (the columns a cutting-plane round adds to the F1 LP).

    Returns
    -------
    ReluSumMaximum
        ``(upper, value, argmax, evaluations, certified, peaks)`` with
        ``value = |g(argmax)| <= max |g| <= upper``.

    Notes
    -----
    * k = 1: ``S^0 = {-1, 1}``, exact.
    * k = 2: exact (``_circle_candidates``: g is piecewise linear in u between the kinks).
    * k = 3: branch and bound on geodesic caps, from the certified covering of
      :func:`wgf.analysis.certificate.covering` and its refinement
      ``wgf.analysis.certificate._children``; each cap's
      bound (:func:`cap_upper_bounds`) is exact for the part of g that is linear on the cap and adds, for
      each kink crossing the cap, the largest value its term can take there, so caps away from the kinks are
      bounded to second order in their radius and caps on a kink to first order. Caps whose bound is below the
      best value found (times ``1 + rtol``) are dropped, the others refined. The bounds carry a slack of
      ``16 eps sum |w_i||x_i|`` for round-off.
    * k >= 4: no certified search: ``upper = inf``, ``certified = False``, and ``value`` from
      quasi-uniform points.
    """
    try:
        F = np.asarray(features, dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"features and weights must be numeric arrays: {exc}") from None
    if F.ndim != 2 or F.shape[1] < 1 or w.shape != (F.shape[0],):
        raise ValueError(f"features must have shape (n, k) and weights (n,), got {F.shape} and {w.shape}")
    if not (np.all(np.isfinite(F)) and np.all(np.isfinite(w))):
        raise ValueError("features and weights must be finite")
    if not (rtol >= 0.0 and max_evaluations >= 1 and start >= 2):
        raise ValueError(f"need rtol >= 0, max_evaluations >= 1 and start >= 2, got {rtol}, {max_evaluations}, "
                         f"{start}")
    n, k = F.shape
    keep = np.any(F != 0.0, axis=1) & (w != 0.0)
    F, w = F[keep], w[keep]
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def peaks():
        """The best direction above ``above`` in each cell of the initial covering, largest first."""
        if not found or max_peaks <= 0:
            return np.empty((0, k))
        P, v, a = (np.concatenate(z) for z in zip(*found))
        order = np.argsort(-v, kind="stable")
        _, first = np.unique(a[order], return_index=True)
        return P[order[np.sort(first)][:max_peaks]]

    def collect(P, g, cell):
        if max_peaks > 0:
            sel = g > above
            found.append((P[sel], g[sel], cell[sel]))

    if len(w) == 0:
        u = np.zeros(k)
        u[0] = 1.0
        return ReluSumMaximum(0.0, 0.0, u, 0, True, np.empty((0, k)))
    if k == 1:
        C = np.array([[1.0], [-1.0]])
        v = np.abs(_relu_sum(F, w, C))
        i = int(np.argmax(v))
        collect(C, v, np.arange(2))
        return ReluSumMaximum(float(v[i]), float(v[i]), C[i], 2, True, peaks())
    if k == 2:
        C, v = _circle_candidates(F, w)
        collect(C, v, np.arange(len(C)))
        i = int(np.argmax(v))
        return ReluSumMaximum(float(v[i]), float(v[i]), C[i], len(C), True, peaks())
    if k > 3:
        U = quasi_uniform_points(max(start, 4096), k - 1)
        v = np.abs(_relu_sum(F, w, U))
        collect(U, v, np.arange(len(U)))
        i = int(np.argmax(v))
        return ReluSumMaximum(math.inf, float(v[i]), U[i], len(U), False, peaks())
    nF = np.linalg.norm(F, axis=1)
    P, R = covering(start, k - 1)
    slack = 16.0 * np.finfo(np.float64).eps * float(np.abs(w) @ nF)
    cell = np.arange(len(P))  # the initial cell each cap descends from
    best, arg, evaluations = -math.inf, P[0], 0
    while True:
        g = np.abs(_relu_sum(F, w, P))
        evaluations += len(P)
        collect(P, g, cell)
        i = int(np.argmax(g))
        if g[i] > best:
            best, arg = float(g[i]), P[i].copy()
        ub = np.maximum(cap_upper_bounds(F, nF, w, P, R) + slack, g)
        upper = float(ub.max())
        threshold = best * (1.0 + rtol)
        if upper <= threshold or evaluations >= max_evaluations:
            return ReluSumMaximum(max(upper, best), best, arg, evaluations, True, peaks())
        sel = ub > threshold
        P, R = _children(P[sel], R[sel])
        cell = np.repeat(cell[sel], len(P) // max(1, int(sel.sum())))


def _f1_lp(F: np.ndarray, y: np.ndarray, U: np.ndarray):
    """The F1 LP on the directions U (K, k): ``(gamma, c (K,), lower, lambda (n,))`` (see
    :func:`f1_max_margin`)."""
    Phi = np.maximum(F @ U.T, 0.0)  # (n, K)
    n, K = Phi.shape
    # variables [c+ (K), c- (K), gamma]; maximise gamma
    cost = np.zeros(2 * K + 1)
    cost[-1] = -1.0
    yPhi = y[:, None] * Phi
    A_ub = np.vstack([np.hstack([-yPhi, yPhi, np.ones((n, 1))]), np.hstack([np.ones(2 * K), [0.0]])[None, :]])
    b_ub = np.concatenate([np.zeros(n), [1.0]])
    bounds = [(0, None)] * (2 * K) + [(None, None)]
    res = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if not res.success:
        raise RuntimeError(f"F1 max-margin linear program failed: {res.message}")
    c = res.x[:K] - res.x[K:2 * K]
    l1 = float(np.abs(c).sum())
    lower = float(np.min(yPhi @ c)) / l1 if l1 > 0.0 else 0.0
    # the multipliers of the margin constraints (<= 0 for a minimisation with <= rows): lambda >= 0, sum 1
    lam = np.maximum(-np.asarray(res.ineqlin.marginals[:n], dtype=np.float64), 0.0)
    if lam.sum() > 0.0:
        lam = lam / lam.sum()
    return float(res.x[-1]), c, lower, lam


def f1_max_margin(features: np.ndarray, y: np.ndarray, directions: np.ndarray | int = 4096, *,
                  certify: bool = True, exchange: int = 0, exchange_size: int = 400, rtol: float = 1e-4,
                  max_evaluations: int = 2_000_000) -> F1MaxMargin:
    r"""F1 (variation-norm) max margin over a finite set of unit input directions, by linear programming,
    with a certified bracket of the max margin over all directions.

    Parameters
    ----------
    features : ndarray, shape (n, k)
        Inputs (bias column included).
    y : ndarray, shape (n,)
        Labels +-1.
    directions : ndarray (K, k) of unit vectors, or int
        The directions u_k, or their number (deterministic quasi-uniform points of S^{k-1}).
    certify : bool
        Also compute the certified upper bound (:func:`max_abs_relu_sum` of the dual weights); False leaves
        ``upper = inf``.
    exchange : int
        Cutting-plane rounds (``certify=True`` only): after each LP, add up to ``exchange_size`` of the
        directions where the search found ``|g_lambda| > gamma`` (the dual constraints the LP's directions
        missed) and solve again; stops early when the bracket's relative width is below ``rtol``. 0: the
        LP on ``directions`` only.
    exchange_size : int
        Directions added per round.
    rtol, max_evaluations : float, int
        Passed to :func:`max_abs_relu_sum` (k = 3).

    Returns
    -------
    F1MaxMargin
        The tuple ``(gamma, c, directions)``: ``gamma = max gamma s.t. y_i sum_k c_k relu(u_k . x_i) >= gamma,
        sum |c_k| <= 1`` (a lower bound of the F1 max margin, exact in the limit of dense directions), the
        optimal signed weights c (K,) and the directions (K, k) (including those added by ``exchange``
        rounds); and the bracket ``lower <= gamma_F1 <= upper`` as attributes (see :class:`F1MaxMargin`).

    Notes
    -----
    The upper bound is weak duality for the problem over all directions. For any ``lambda`` in the simplex
    and any ``f = int relu(u . x) dmu(u)`` with total variation ``|mu| <= 1``,

    .. math::

        \min_i y_i f(x_i) \le \sum_i \lambda_i y_i f(x_i) = \int g_\lambda\, d\mu
        \le \max_{|u| = 1} |g_\lambda(u)|, \qquad g_\lambda(u) = \sum_i \lambda_i y_i\,
        \mathrm{relu}(u \cdot x_i),

    and the LP's own dual weights (its constraints' multipliers) make the maximum over the LP's directions
    equal to ``gamma``: the bracket's width is how much ``|g_lambda|`` rises between those directions. Both
    ends tend to the F1 max margin as the directions are refined; the exchange rounds refine them where it
    matters (column generation).
    """
    F, y = _labelled_features(features, y)
    if isinstance(directions, (int, np.integer)):
        if directions < 1:
            raise ValueError(f"directions must be a positive count or an array (K, {F.shape[1]}), got {directions}")
        directions = quasi_uniform_points(int(directions), F.shape[1] - 1)
    U = np.asarray(directions, dtype=np.float64)
    if U.ndim != 2 or U.shape[1] != F.shape[1] or U.shape[0] < 1:
        raise ValueError(f"directions must have shape (K, {F.shape[1]}), got {U.shape}")
    for name, v in (("exchange", exchange), ("exchange_size", exchange_size)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
    rounds = 0
    while True:
        gamma, c, lower, lam = _f1_lp(F, y, U)
        if not certify:
            return F1MaxMargin(gamma, c, U, lower=lower, upper=math.inf, dual=lam,
                               argmax=U[int(np.argmax(np.abs((lam * y) @ np.maximum(F @ U.T, 0.0))))],
                               certified=False)
        top = max_abs_relu_sum(F, lam * y, rtol=rtol, max_evaluations=max_evaluations, above=gamma,
                               max_peaks=exchange_size if rounds < exchange else 0)
        done = rounds >= exchange or len(top.peaks) == 0 or top.upper - lower <= rtol * abs(lower)
        if done:
            return F1MaxMargin(gamma, c, U, lower=lower, upper=top.upper, dual=lam, argmax=top.argmax,
                               certified=top.certified)
        U = np.concatenate([U, top.peaks])
        rounds += 1


def kernel_max_margin(K: np.ndarray, y: np.ndarray):
    """Hard-margin SVM in the RKHS of a positive semi-definite kernel matrix K (n, n).

    ``gamma = max_{||f||_H <= 1} min_i y_i f(x_i)``. With ``Q = (y y^T) o K = Z Z^T`` (Z from the
    eigendecomposition of Q, eigenvalues below ``n eps lambda_max`` dropped) this is the least-distance
    program ``min |theta|^2 s.t. Z theta >= 1`` (``gamma = 1/|theta|``), solved exactly by Lawson and
    Hanson's reduction to non-negative least squares (Solving Least Squares Problems, ch. 23):
    ``u = argmin_{u >= 0} |[Z^T; 1^T] u - e_{r+1}|``, ``theta = Z^T u / (1 - sum u)``. The active-set NNLS
    (scipy.optimize.nnls) is exact up to round-off however ill-conditioned K is, unlike a first-order or
    quasi-Newton solve of the dual (kernel matrices of smooth kernels on clustered data have eigenvalues
    down to 1e-9 of the largest).

    Returns ``(gamma, alpha)`` (a :class:`KernelMaxMargin`) with ``f(x) = sum_i alpha_i y_i k(x, x_i)``,
    ``alpha >= 0`` (the dual variables); gamma is computed from this f itself, ``min_i y_i f(x_i) / ||f||_H``,
    a lower bound, and the attribute ``upper`` is the dual bound ``sqrt(lambda^T Q lambda)``,
    ``lambda = alpha / sum alpha``, so ``gamma <= max margin <= upper`` (equal up to round-off at the
    exact solution). When the data are not separable in the RKHS (the program is infeasible) returns
    ``(0.0, zeros)`` with ``upper`` from the NNLS weights (about 0).
    """
    try:
        K = np.asarray(K, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"K and y must be numeric arrays: {exc}") from None
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] < 1:
        raise ValueError(f"K must be a square (n, n) matrix, got shape {K.shape}")
    if y.shape != (K.shape[0],):
        raise ValueError(f"y must have shape ({K.shape[0]},) to match K, got {y.shape}")
    if not (np.all(np.isfinite(K)) and np.all(np.isfinite(y))):
        raise ValueError("K and y must be finite")
    if not np.all(np.abs(y) == 1.0):
        raise ValueError("y must hold labels in {-1, +1}")
    n = len(y)
    Q = (y[:, None] * y[None, :]) * (0.5 * (K + K.T))
    ev, V = np.linalg.eigh(Q)
    if ev[-1] <= 0:
        return KernelMaxMargin(0.0, np.zeros(n), upper=0.0)
    keep = ev > n * np.finfo(float).eps * ev[-1]
    Z = V[:, keep] * np.sqrt(ev[keep])  # rows z_i with z_i . z_j = Q_ij (up to the dropped part)
    r = Z.shape[1]
    E = np.vstack([Z.T, np.ones((1, n))])
    f = np.zeros(r + 1)
    f[-1] = 1.0
    u, _ = nnls(E, f, maxiter=100 * n)
    denom = 1.0 - u.sum()
    if denom <= 1e-12:  # zero residual: the origin is in the hull of the y_i z_i, no separating f
        lam = u / u.sum()
        return KernelMaxMargin(0.0, np.zeros(n), upper=float(np.sqrt(max(lam @ (Q @ lam), 0.0))))
    alpha = u / denom
    fy = Q @ alpha  # y_i f(x_i)
    norm = np.sqrt(max(alpha @ fy, 1e-300))
    lam = alpha / alpha.sum()
    upper = float(np.sqrt(max(lam @ (Q @ lam), 0.0)))
    return KernelMaxMargin(float(np.min(fy) / norm), alpha, upper=upper)


def f2_kernel(features: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """The F2 kernel of ReLU features with input weights uniform on the unit sphere of R^k:
    ``k(x, x') = E_b[relu(b . x) relu(b . x')] = kappa(x, x') / k`` with kappa the Gaussian arc-cosine
    kernel (:func:`wgf.models.relu_kernel.relu_kappa`). Shape (n, n')."""
    F = np.asarray(features, dtype=np.float64)
    G = F if other is None else np.asarray(other, dtype=np.float64)
    return relu_kappa(F, G) / F.shape[1]


def _split_weights(weights, k):
    try:
        W = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"weights must be a numeric array of shape (m, {k + 1}): {exc}") from None
    if W.ndim != 2 or W.shape[0] < 1 or W.shape[1] != k + 1:
        raise ValueError(f"weights must have shape (m, {k + 1}) (neurons (a_j, b_j) for features of "
                         f"dimension {k}), got {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError("weights contain NaN or inf")
    return W


def random_feature_kernel(weights: np.ndarray, features: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """Kernel of the frozen input layer: ``K_m(x, x') = (1/m) sum_j relu(b_j . x) relu(b_j . x')``.

    Parameters
    ----------
    weights : ndarray, shape (m, k+1)
        Neurons ``(a_j, b_j)``; only the input weights ``b_j`` are used.
    features : ndarray, shape (n, k)
    other : ndarray, shape (n', k), optional

    Returns
    -------
    ndarray, shape (n, n')
        ``Phi Phi'^T`` with ``Phi_ij = relu(b_j . x_i) / sqrt(m)``.
    """
    F = np.asarray(features, dtype=np.float64)
    W = _split_weights(weights, F.shape[1])
    G = F if other is None else np.asarray(other, dtype=np.float64)
    m = W.shape[0]
    Phi = np.maximum(F @ W[:, 1:].T, 0.0)
    Psi = Phi if other is None else np.maximum(G @ W[:, 1:].T, 0.0)
    return Phi @ Psi.T / m


def output_layer_margin(weights: np.ndarray, features: np.ndarray, y: np.ndarray) -> float:
    """Margin of ``h(x) = (1/m) sum_j a_j relu(b_j . x)`` normalised as the random-feature max margin:
    ``min_i y_i h(x_i) / (||a||_2 / sqrt(m))`` (see the module docstring; directly comparable with
    :func:`kernel_max_margin` of :func:`random_feature_kernel` for the same input weights).

    Parameters
    ----------
    weights : ndarray, shape (m, k+1)
    features : ndarray, shape (n, k)
    y : ndarray, shape (n,)
    """
    F, y = _labelled_features(features, y)
    W = _split_weights(weights, F.shape[1])
    m = W.shape[0]
    na = float(np.linalg.norm(W[:, 0]))
    if na == 0.0:
        raise ValueError("the output weights are all zero: the normalised margin is undefined")
    h = np.maximum(F @ W[:, 1:].T, 0.0) @ W[:, 0] / m
    return float(np.min(y * h) * np.sqrt(m) / na)
