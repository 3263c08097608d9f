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
  dimension only).
* :func:`kernel_max_margin`: the hard-margin SVM in an RKHS, ``max_{||f||_H <= 1} min_i y_i f(x_i)``, solved
  exactly as a least-distance program by non-negative least squares. With the random-feature kernel
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

import numpy as np
from scipy.optimize import linprog, nnls

from ..geometry.measure import Measure
from ..geometry.sphere import quasi_uniform_points
from ..models.relu_kernel import relu_kappa

__all__ = [
    "cluster_classification_data",
    "add_bias",
    "normalised_margin",
    "f1_max_margin",
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


def f1_max_margin(features: np.ndarray, y: np.ndarray, directions: np.ndarray | int = 4096):
    """F1 (variation-norm) max margin over a finite set of unit input directions, by linear programming.

    Parameters
    ----------
    features : ndarray, shape (n, k)
        Inputs (bias column included).
    y : ndarray, shape (n,)
        Labels +-1.
    directions : ndarray (K, k) of unit vectors, or int
        The directions u_k, or their number (deterministic quasi-uniform points of S^{k-1}).

    Returns
    -------
    gamma : float
        ``max gamma s.t. y_i sum_k c_k relu(u_k . x_i) >= gamma, sum |c_k| <= 1`` (a lower bound of the
        F1 max margin, exact in the limit of dense directions).
    c : ndarray, shape (K,)
        Optimal signed weights.
    directions : ndarray, shape (K, k)
    """
    F, y = _labelled_features(features, y)
    if isinstance(directions, (int, np.integer)):
        if directions < 1:
            raise ValueError(f"directions must be a positive count or an array (K, {F.shape[1]}), got {directions}")
        directions = quasi_uniform_points(int(directions), F.shape[1] - 1)
    U = np.asarray(directions, dtype=np.float64)
    if U.ndim != 2 or U.shape[1] != F.shape[1] or U.shape[0] < 1:
        raise ValueError(f"directions must have shape (K, {F.shape[1]}), got {U.shape}")
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
    return float(res.x[-1]), c, U


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

    Returns ``(gamma, alpha)`` with ``f(x) = sum_i alpha_i y_i k(x, x_i)``, ``alpha >= 0`` (the dual
    variables); gamma is computed from this f itself, ``min_i y_i f(x_i) / ||f||_H``. When the data are
    not separable in the RKHS (the program is infeasible) returns ``(0.0, zeros)``.
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
        return 0.0, np.zeros(n)
    keep = ev > n * np.finfo(float).eps * ev[-1]
    Z = V[:, keep] * np.sqrt(ev[keep])  # rows z_i with z_i . z_j = Q_ij (up to the dropped part)
    r = Z.shape[1]
    E = np.vstack([Z.T, np.ones((1, n))])
    f = np.zeros(r + 1)
    f[-1] = 1.0
    u, _ = nnls(E, f, maxiter=100 * n)
    denom = 1.0 - u.sum()
    if denom <= 1e-12:  # zero residual: the origin is in the hull of the y_i z_i, no separating f
        return 0.0, np.zeros(n)
    alpha = u / denom
    fy = Q @ alpha  # y_i f(x_i)
    norm = np.sqrt(max(alpha @ fy, 1e-300))
    return float(np.min(fy) / norm), alpha


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
