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
* :func:`kernel_max_margin`: the hard-margin SVM in an RKHS, ``max_{||f||_H <= 1} min_i y_i f(x_i)``,
  through its dual ``max_{alpha >= 0} sum alpha - 1/2 alpha^T (yy^T o K) alpha`` whose optimum is
  ``1/gamma^2``. With ``K = Phi Phi^T / m`` for fixed random input weights it is the max margin of training
  the output layer only (normalised by ``||a||_2 / sqrt(m)``); with the closed-form arc-cosine kernel
  (:func:`f2_kernel`) it is its F2 (RKHS) limit.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog, minimize

from .measure import Measure
from .relu_kernel import relu_kappa
from .sphere import quasi_uniform_points

__all__ = [
    "cluster_classification_data",
    "add_bias",
    "normalised_margin",
    "f1_max_margin",
    "kernel_max_margin",
    "f2_kernel",
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
    F = np.asarray(features, dtype=np.float64)
    if isinstance(directions, (int, np.integer)):
        directions = quasi_uniform_points(int(directions), F.shape[1] - 1)
    U = np.asarray(directions, dtype=np.float64)
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


def kernel_max_margin(K: np.ndarray, y: np.ndarray, tol: float = 1e-12):
    """Hard-margin SVM in the RKHS of a positive semi-definite kernel matrix K (n, n).

    Solves the dual ``max_{alpha >= 0} sum alpha - 1/2 alpha^T Q alpha`` with ``Q = (y y^T) o K`` (L-BFGS-B
    with bounds); at the optimum ``||f||_H^2 = alpha^T Q alpha = sum alpha`` and the margin of ``f/||f||_H``
    is ``gamma = 1/sqrt(sum alpha)``. Returns ``(gamma, alpha)``; ``f(x) = sum_i alpha_i y_i k(x, x_i)``.
    """
    y = np.asarray(y, dtype=np.float64)
    Q = (y[:, None] * y[None, :]) * np.asarray(K, dtype=np.float64)

    def obj(a):
        Qa = Q @ a
        return 0.5 * a @ Qa - a.sum(), Qa - 1.0

    res = minimize(obj, np.zeros(len(y)), jac=True, method="L-BFGS-B",
                   bounds=[(0, None)] * len(y), options={"ftol": tol, "gtol": 1e-10, "maxiter": 20000})
    alpha = res.x
    # the margin is that of the normalised function, computed from the solution itself
    f = Q @ alpha  # y_i f(x_i)
    norm = np.sqrt(max(alpha @ f, 1e-300))
    return float(np.min(f) / norm), alpha


def f2_kernel(features: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """The F2 kernel of ReLU features with input weights uniform on the unit sphere of R^k:
    ``k(x, x') = E_b[relu(b . x) relu(b . x')] = kappa(x, x') / k`` with kappa the Gaussian arc-cosine
    kernel (:func:`wgf.relu_kernel.relu_kappa`). Shape (n, n')."""
    F = np.asarray(features, dtype=np.float64)
    G = F if other is None else np.asarray(other, dtype=np.float64)
    return relu_kappa(F, G) / F.shape[1]
