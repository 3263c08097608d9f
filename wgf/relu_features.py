r"""Streamed sums of ReLU features over samples: the kernel layer of empirical risks and of SGD.

A neuron ``eta = (a, b)`` (first coordinate the output weight) acts on an input ``x`` (bias coordinate
included when the model uses one) as ``a relu(b . x)``. Two sums over samples cover every empirical model
and every network step of wgf:

.. math::

    h_i = \sum_j c_j\, a_j\, \mathrm{relu}(b_j \cdot x_i)
    \qquad\text{(predictor of the measure } \textstyle\sum_j c_j \delta_{\eta_j}\text{ at the samples)},

    J(\eta_k) = \sum_i g_i\, a_k\, \mathrm{relu}(b_k \cdot x_i)
    \qquad\text{(potential of per-sample weights } g_i\text{, e.g. } g_i = \ell'(h_i, y_i)/n),

with the Euclidean gradient of the second,
``d_a J = sum_i g_i relu(b . x_i)`` and ``grad_b J = a sum_i g_i relu'(b . x_i) x_i`` (``relu'(0) = 0``),
projected on the tangent space of the sphere at ``eta``.

Both kernels are Numba-compiled, parallel over their outputs (samples for the predictor, evaluation points
for the potential) with a sequential inner loop, so no (points x samples) matrix is ever formed and the
results are bitwise independent of the number of threads. :func:`relu_features_predict_numpy` and
:func:`relu_features_potential_numpy` are the plain NumPy references kept for the tests.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = [
    "relu_features_predict",
    "relu_features_potential",
    "relu_features_predict_numpy",
    "relu_features_potential_numpy",
]


def _as_f64(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def _check_shapes(P: np.ndarray, X: np.ndarray, weights: np.ndarray, n_weights: int, what: str) -> None:
    if P.ndim != 2 or P.shape[1] < 2:
        raise ValueError(f"neurons must have shape (N, k+1) with k >= 1, got {P.shape}")
    if X.ndim != 2 or X.shape[1] != P.shape[1] - 1:
        raise ValueError(
            f"inputs must have shape (n, {P.shape[1] - 1}) to match neurons of length {P.shape[1]}, got {X.shape}"
        )
    if weights.shape != (n_weights,):
        raise ValueError(f"{what} must have shape ({n_weights},), got {weights.shape}")


# ---------------------------------------------------------------------------------------------- kernels
@njit(cache=True, parallel=True)
def _predict_kernel(P, c, X, out):  # pragma: no cover - compiled
    M, D = P.shape
    n = X.shape[0]
    k = D - 1
    for i in prange(n):
        acc = 0.0
        for j in range(M):
            w = c[j] * P[j, 0]
            if w == 0.0:
                continue
            z = 0.0
            for l in range(k):
                z += P[j, l + 1] * X[i, l]
            if z > 0.0:
                acc += w * z
        out[i] = acc


@njit(cache=True, parallel=True)
def _potential_kernel(P, X, g, with_grad, J, G):  # pragma: no cover - compiled
    N, D = P.shape
    n = X.shape[0]
    k = D - 1
    for p in prange(N):
        sa = 0.0                      # sum_i g_i relu(b . x_i)
        sb = np.zeros(k)              # sum_i g_i relu'(b . x_i) x_i
        for i in range(n):
            gi = g[i]
            if gi == 0.0:
                continue
            z = 0.0
            for l in range(k):
                z += P[p, l + 1] * X[i, l]
            if z > 0.0:
                sa += gi * z
                if with_grad:
                    for l in range(k):
                        sb[l] += gi * X[i, l]
        a = P[p, 0]
        J[p] = a * sa
        if with_grad:
            G[p, 0] = sa
            for l in range(k):
                G[p, l + 1] = a * sb[l]
            dot = 0.0
            for l in range(D):
                dot += G[p, l] * P[p, l]
            for l in range(D):
                G[p, l] -= dot * P[p, l]


# ---------------------------------------------------------------------------------------------- wrappers
def relu_features_predict(P: np.ndarray, c: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Predictor ``h_i = sum_j c_j a_j relu(b_j . x_i)`` of the signed measure ``sum_j c_j delta_{eta_j}``.

    Parameters
    ----------
    P : ndarray, shape (M, k+1)
        Neurons ``eta_j = (a_j, b_j)`` (on the sphere for a measure; any vectors work).
    c : ndarray, shape (M,)
        Coefficients (masses, or signed masses).
    X : ndarray, shape (n, k)
        Inputs (with the bias coordinate appended when the model uses one).

    Returns
    -------
    h : ndarray, shape (n,)
    """
    P, c, X = _as_f64(P), _as_f64(c), _as_f64(X)
    _check_shapes(P, X, c, P.shape[0], "coefficients")
    out = np.empty(X.shape[0])
    _predict_kernel(P, c, X, out)
    return out


def relu_features_potential(P: np.ndarray, X: np.ndarray, g: np.ndarray, with_grad: bool = True):
    """Potential ``J(eta_p) = sum_i g_i a_p relu(b_p . x_i)`` of per-sample weights and its tangential
    gradient at the points ``eta_p``.

    Parameters
    ----------
    P : ndarray, shape (N, k+1)
        Evaluation points ``eta_p = (a_p, b_p)`` on the sphere S^k.
    X : ndarray, shape (n, k)
        Inputs.
    g : ndarray, shape (n,)
        Per-sample weights (e.g. ``loss'(h_i, y_i) / n``).
    with_grad : bool
        Also return the gradient.

    Returns
    -------
    J : ndarray, shape (N,)
    gradJ : ndarray, shape (N, k+1) or None
        ``(I - eta eta^T) nabla J`` with ``relu'(0) = 0``.
    """
    P, X, g = _as_f64(P), _as_f64(X), _as_f64(g)
    _check_shapes(P, X, g, X.shape[0], "sample weights")
    J = np.empty(P.shape[0])
    G = np.empty(P.shape if with_grad else (0, P.shape[1]))
    _potential_kernel(P, X, g, bool(with_grad), J, G)
    return J, (G if with_grad else None)


# ---------------------------------------------------------------------------------------------- references
def relu_features_predict_numpy(P: np.ndarray, c: np.ndarray, X: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """NumPy reference of :func:`relu_features_predict` (forms (chunk, M) blocks of features)."""
    P, c, X = _as_f64(P), _as_f64(c), _as_f64(X)
    _check_shapes(P, X, c, P.shape[0], "coefficients")
    w = c * P[:, 0]
    out = np.empty(X.shape[0])
    for s in range(0, X.shape[0], chunk):
        out[s:s + chunk] = np.maximum(X[s:s + chunk] @ P[:, 1:].T, 0.0) @ w
    return out


def relu_features_potential_numpy(P: np.ndarray, X: np.ndarray, g: np.ndarray, with_grad: bool = True,
                                  chunk: int = 2048):
    """NumPy reference of :func:`relu_features_potential` (forms (chunk, n) blocks of features)."""
    P, X, g = _as_f64(P), _as_f64(X), _as_f64(g)
    _check_shapes(P, X, g, X.shape[0], "sample weights")
    N = P.shape[0]
    J = np.empty(N)
    G = np.empty(P.shape) if with_grad else None
    for s in range(0, N, chunk):
        Z = P[s:s + chunk, 1:] @ X.T                      # (chunk, n)
        sa = np.maximum(Z, 0.0) @ g
        a = P[s:s + chunk, 0]
        J[s:s + chunk] = a * sa
        if with_grad:
            G[s:s + chunk, 0] = sa
            G[s:s + chunk, 1:] = a[:, None] * (((Z > 0.0) * g) @ X)
    if with_grad:
        G -= np.sum(G * P, axis=1, keepdims=True) * P
    return J, G
