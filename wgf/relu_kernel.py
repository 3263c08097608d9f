r"""The closed-form ReLU (arc-cosine) kernel and the potential of a measure under it.

For Gaussian inputs ``x ~ N(0, I_dx)`` and ``u, v`` in R^dx,

.. math::

    \kappa(u, v) = E[\mathrm{relu}(u\cdot x)\,\mathrm{relu}(v\cdot x)]
                 = \frac{|u||v|}{2\pi}\,\big(\sin t + (\pi - t)\cos t\big),\qquad t = \angle(u, v),

and for ``x`` uniform on S^{dx-1} the same divided by ``dx``. With neurons ``eta = (a, b)`` on S^dx the
interaction is ``K(eta, eta') = a a' kappa(b, b')`` and the potential of a signed measure
``sum_j c_j delta_{eta_j}`` is ``J(eta) = sum_j c_j K(eta, eta_j)``. Its Euclidean gradient is

.. math::

    \partial_a J = \sum_j c_j a_j \kappa(b, b_j), \qquad
    \nabla_b J = \frac{a}{2\pi} \sum_j c_j a_j \big((\pi - t_j) b_j + |b_j| \sin t_j \, b/|b|\big),

(``relu'(0) = 0``); it is projected on the tangent space of the sphere. At the poles ``b = 0`` J vanishes
and is not differentiable (J is 1-homogeneous in b); there the gradient is defined as 0.

The angle is computed as ``2 asin(|u - v|/2)`` near ``t = 0`` and ``pi - 2 asin(|u + v|/2)`` near
``t = pi`` (``arccos`` loses half the digits there), identically in the Numba kernel and the NumPy
reference, so that both agree to round-off also at coincident directions.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = [
    "relu_kappa",
    "relu_kernel_matrix",
    "relu_potential",
    "relu_potential_numpy",
    "relu_kappa0",
    "ntk_kernel",
]

_TWO_PI = 2.0 * math.pi


def _angle_numpy(U: np.ndarray, V: np.ndarray):
    """Angles t (N, M), sin t and cos t between unit rows of U (N, k) and V (M, k)."""
    c = np.clip(U @ V.T, -1.0, 1.0)
    t = np.arccos(c)
    s = np.sqrt(np.maximum(0.0, 1.0 - c * c))
    near = c > 0.5
    if np.any(near):
        ii, jj = np.nonzero(near)
        d2 = np.sum((U[ii] - V[jj]) ** 2, axis=1)
        t[ii, jj] = 2.0 * np.arcsin(np.minimum(1.0, 0.5 * np.sqrt(d2)))
        s[ii, jj] = 0.5 * np.sqrt(np.maximum(0.0, d2 * (4.0 - d2)))
    far = c < -0.5
    if np.any(far):
        ii, jj = np.nonzero(far)
        p2 = np.sum((U[ii] + V[jj]) ** 2, axis=1)
        t[ii, jj] = math.pi - 2.0 * np.arcsin(np.minimum(1.0, 0.5 * np.sqrt(p2)))
        s[ii, jj] = 0.5 * np.sqrt(np.maximum(0.0, p2 * (4.0 - p2)))
    return t, s, c


def _split_unit(B: np.ndarray):
    nb = np.linalg.norm(B, axis=1)
    U = np.zeros_like(B)
    nz = nb > 0
    U[nz] = B[nz] / nb[nz, None]
    return nb, U


def relu_kappa(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Gaussian-input arc-cosine kernel matrix ``kappa(u_i, v_j)``, shape (N, M), for U (N, k), V (M, k)."""
    nu, Uu = _split_unit(np.asarray(U, dtype=np.float64))
    nv, Vu = _split_unit(np.asarray(V, dtype=np.float64))
    t, s, c = _angle_numpy(Uu, Vu)
    return np.outer(nu, nv) * (s + (math.pi - t) * c) / _TWO_PI


def relu_kappa0(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``kappa_0(u, v) = E[relu'(g . u) relu'(g . v)] = (pi - t) / (2 pi)`` for ``g ~ N(0, I)``, t the angle
    between u and v (relu'(0) = 0); shape (N, M). Independent of the norms of u and v."""
    _, Uu = _split_unit(np.asarray(U, dtype=np.float64))
    _, Vu = _split_unit(np.asarray(V, dtype=np.float64))
    t, _, _ = _angle_numpy(Uu, Vu)
    return (math.pi - t) / _TWO_PI


def ntk_kernel(X: np.ndarray, Y: np.ndarray | None = None, second_moment_a: float = 1.0) -> np.ndarray:
    """Neural tangent kernel of ``f(x) = m^{-1/2} sum_j a_j relu(b_j . x)`` at a Gaussian initialisation
    ``b_j ~ N(0, I)`` with ``E[a^2] = second_moment_a``, in the infinite-width limit:

    ``K_NTK(x, x') = kappa_1(x, x') + E[a^2] (x . x') kappa_0(x, x')``

    (the first term from the output weights, the second from the input weights). Shape (n, n')."""
    X = np.asarray(X, dtype=np.float64)
    Y = X if Y is None else np.asarray(Y, dtype=np.float64)
    return relu_kappa(X, Y) + second_moment_a * (X @ Y.T) * relu_kappa0(X, Y)


def relu_kernel_matrix(P: np.ndarray, Q: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Interaction ``K(eta_i, eta'_j) = scale * a_i a'_j kappa(b_i, b'_j)``, shape (N, M), for neurons
    P (N, d+1) and Q (M, d+1) (first coordinate the output weight a)."""
    return scale * np.outer(P[:, 0], Q[:, 0]) * relu_kappa(P[:, 1:], Q[:, 1:])


def relu_potential_numpy(P: np.ndarray, Q: np.ndarray, c: np.ndarray, scale: float = 1.0):
    """NumPy reference of :func:`relu_potential` (materialises (N, M) matrices; for tests)."""
    P = np.asarray(P, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    nb, Ub = _split_unit(P[:, 1:])
    nq, Uq = _split_unit(Q[:, 1:])
    t, s, cos = _angle_numpy(Ub, Uq)
    w = scale * c * Q[:, 0] * nq                      # (M,)
    g = (s + (math.pi - t) * cos) / _TWO_PI           # kappa / (|b||b_j|)
    kw = g @ w                                        # (N,)
    J = P[:, 0] * nb * kw
    G = np.zeros_like(P)
    G[:, 0] = nb * kw
    vacc = ((math.pi - t) * w) @ Uq / _TWO_PI         # (N, k)
    sacc = (s * w).sum(axis=1) / _TWO_PI              # (N,)
    G[:, 1:] = P[:, 0:1] * (vacc + sacc[:, None] * Ub)
    pole = nb == 0
    G[pole] = 0.0
    G -= np.sum(G * P, axis=1, keepdims=True) * P
    return J, G


@njit(cache=True, parallel=True, fastmath=False)
def _relu_potential_kernel(P, Q, c, scale, with_grad, J, G):  # pragma: no cover - compiled
    N, D = P.shape
    M = Q.shape[0]
    k = D - 1
    Uq = np.zeros((M, k))
    w = np.empty(M)
    for j in range(M):
        nq = 0.0
        for l in range(k):
            nq += Q[j, l + 1] * Q[j, l + 1]
        nq = math.sqrt(nq)
        if nq > 0.0:
            for l in range(k):
                Uq[j, l] = Q[j, l + 1] / nq
        w[j] = scale * c[j] * Q[j, 0] * nq
    for i in prange(N):
        nb = 0.0
        for l in range(k):
            nb += P[i, l + 1] * P[i, l + 1]
        nb = math.sqrt(nb)
        if nb == 0.0:
            J[i] = 0.0
            if with_grad:
                for l in range(D):
                    G[i, l] = 0.0
            continue
        ub = np.empty(k)
        for l in range(k):
            ub[l] = P[i, l + 1] / nb
        vacc = np.zeros(k)
        kw = 0.0
        sacc = 0.0
        for j in range(M):
            wj = w[j]
            if wj == 0.0:
                continue
            cs = 0.0
            for l in range(k):
                cs += ub[l] * Uq[j, l]
            if cs > 1.0:
                cs = 1.0
            elif cs < -1.0:
                cs = -1.0
            if cs > 0.5:
                d2 = 0.0
                for l in range(k):
                    e = ub[l] - Uq[j, l]
                    d2 += e * e
                t = 2.0 * math.asin(min(1.0, 0.5 * math.sqrt(d2)))
                s = 0.5 * math.sqrt(max(0.0, d2 * (4.0 - d2)))
            elif cs < -0.5:
                p2 = 0.0
                for l in range(k):
                    e = ub[l] + Uq[j, l]
                    p2 += e * e
                t = math.pi - 2.0 * math.asin(min(1.0, 0.5 * math.sqrt(p2)))
                s = 0.5 * math.sqrt(max(0.0, p2 * (4.0 - p2)))
            else:
                t = math.acos(cs)
                s = math.sqrt(max(0.0, 1.0 - cs * cs))
            kw += wj * (s + (math.pi - t) * cs)
            if with_grad:
                f = wj * (math.pi - t)
                for l in range(k):
                    vacc[l] += f * Uq[j, l]
                sacc += wj * s
        a = P[i, 0]
        kw /= _TWO_PI
        J[i] = a * nb * kw
        if with_grad:
            G[i, 0] = nb * kw
            for l in range(k):
                G[i, l + 1] = a * (vacc[l] + sacc * ub[l]) / _TWO_PI
            dot = 0.0
            for l in range(D):
                dot += G[i, l] * P[i, l]
            for l in range(D):
                G[i, l] -= dot * P[i, l]


def relu_potential(P: np.ndarray, Q: np.ndarray, c: np.ndarray, scale: float = 1.0, with_grad: bool = True):
    """Potential ``J(eta_i) = scale * sum_j c_j a_i a_j kappa(b_i, b_j)`` and its tangential gradient.

    Numba kernel, parallel over evaluation points and streamed over atoms (no (N, M) matrix is formed).

    Parameters
    ----------
    P : ndarray, shape (N, d+1)
        Evaluation points on S^d, ``eta = (a, b)``.
    Q : ndarray, shape (M, d+1)
        Atoms of the signed measure.
    c : ndarray, shape (M,)
        Signed masses.
    scale : float
        1 for Gaussian inputs, ``1/dx`` for inputs uniform on the sphere.
    with_grad : bool
        Also compute the gradient (else the returned gradient is None).

    Returns
    -------
    J : ndarray, shape (N,)
    gradJ : ndarray, shape (N, d+1) or None
        Tangential gradient, 0 at the poles ``b = 0``.
    """
    P = np.ascontiguousarray(P, dtype=np.float64)
    Q = np.ascontiguousarray(Q, dtype=np.float64)
    c = np.ascontiguousarray(c, dtype=np.float64)
    J = np.empty(P.shape[0])
    G = np.empty(P.shape if with_grad else (0, P.shape[1]))
    _relu_potential_kernel(P, Q, c, float(scale), bool(with_grad), J, G)
    return J, (G if with_grad else None)
