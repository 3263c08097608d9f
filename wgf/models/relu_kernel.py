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
reference, so that both agree to round-off also at coincident directions. (The kernel evaluates
``acos c = pi/2 - asin c`` for ``|c| <= 1/2`` and all ``asin`` by one rational approximation, within 1 ulp
of ``np.arcsin``, so that the loop over atoms vectorises.)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .._parallel import serial_if_small
from .relu_kernel_planar import relu_potential_planar

__all__ = [
    "relu_kappa",
    "relu_kernel_matrix",
    "relu_potential",
    "relu_potential_direct",
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


#: Tile of atoms streamed by the compiled kernel, and evaluation points per parallel work item.
_TILE = 512
_BLOCK = 4

# Cephes' rational approximation of asin on |y| <= 0.625 (asin.c): asin y = y + y z P(z)/Q(z), z = y^2,
# within 1 ulp on [-0.5, 0.5] (tested against np.arcsin); unlike math.asin it vectorises.
_AS_P = (4.253011369004428248960e-3, -6.019598008014123785661e-1, 5.444622390564711410273e0,
         -1.626247967210700244449e1, 1.956261983317594739197e1, -8.198089802484824371615e0)
_AS_Q = (-1.474091372988853791896e1, 7.049610280856842141659e1, -1.471791292232726029859e2,
         1.395105614657485689735e2, -4.918853881490881290097e1)


@njit(cache=True, inline="always")
def _asin_small(y):  # pragma: no cover - compiled
    """``asin(y)`` for ``|y| <= 0.5`` (Cephes rational approximation, within 1 ulp)."""
    z = y * y
    num = ((((_AS_P[0] * z + _AS_P[1]) * z + _AS_P[2]) * z + _AS_P[3]) * z + _AS_P[4]) * z + _AS_P[5]
    den = ((((z + _AS_Q[0]) * z + _AS_Q[1]) * z + _AS_Q[2]) * z + _AS_Q[3]) * z + _AS_Q[4]
    return y + y * (z * num / den)


@njit(cache=True)
def _asin_small_array(y):  # pragma: no cover - compiled
    """:func:`_asin_small` elementwise (for the tests)."""
    out = np.empty_like(y)
    for i in range(y.shape[0]):
        out[i] = _asin_small(y[i])
    return out


@njit(cache=True, parallel=True, fastmath={"contract", "reassoc"})
def _relu_potential_kernel(UB, UT, w, with_grad, KW, SA, VA):  # pragma: no cover - compiled
    """Sums over atoms j for each evaluation direction u_p (row of UB, zero rows pad or mark poles):
    ``KW_p = sum_j w_j (sin t + (pi - t) cos t)``, ``SA_p = sum_j w_j sin t`` and
    ``VA_p = sum_j w_j (pi - t) v_j`` with t the angle between u_p and the atom direction v_j (column of UT).

    UB (N', k'), N' a multiple of _BLOCK; UT (k', M); w (M,). Parallel over blocks of points, streamed over
    tiles of atoms, vectorised over the atoms of a tile; each point's sums reduced tile after tile."""
    Np, kp = UB.shape
    M = UT.shape[1]
    half_pi = 0.5 * math.pi
    for blk in prange(Np // _BLOCK):
        cs = np.empty(_TILE)
        e2 = np.empty(_TILE)
        f = np.empty(_TILE)
        va = np.empty(kp)
        for p in range(blk * _BLOCK, (blk + 1) * _BLOCK):
            kw = 0.0
            sa = 0.0
            va[:] = 0.0
            for s0 in range(0, M, _TILE):
                S = min(_TILE, M - s0)
                ww = w[s0:s0 + S]
                # cos t_j = u . v_j
                for i in range(S):
                    cs[i] = 0.0
                for l in range(0, kp, 4):
                    x0 = UT[l][s0:s0 + S]
                    x1 = UT[l + 1][s0:s0 + S]
                    x2 = UT[l + 2][s0:s0 + S]
                    x3 = UT[l + 3][s0:s0 + S]
                    b0, b1, b2, b3 = UB[p, l], UB[p, l + 1], UB[p, l + 2], UB[p, l + 3]
                    for i in range(S):
                        cs[i] = cs[i] + b0 * x0[i] + b1 * x1[i] + b2 * x2[i] + b3 * x3[i]
                # |u - v_j|^2 (cos t >= 0) or |u + v_j|^2 (cos t < 0), summed from the differences
                for i in range(S):
                    e2[i] = 0.0
                for l in range(0, kp, 4):
                    x0 = UT[l][s0:s0 + S]
                    x1 = UT[l + 1][s0:s0 + S]
                    x2 = UT[l + 2][s0:s0 + S]
                    x3 = UT[l + 3][s0:s0 + S]
                    b0, b1, b2, b3 = UB[p, l], UB[p, l + 1], UB[p, l + 2], UB[p, l + 3]
                    for i in range(S):
                        sg = -1.0 if cs[i] >= 0.0 else 1.0
                        d0 = b0 + sg * x0[i]
                        d1 = b1 + sg * x1[i]
                        d2 = b2 + sg * x2[i]
                        d3 = b3 + sg * x3[i]
                        e2[i] = e2[i] + d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3
                # t = acos(c) = pi/2 - asin(c) for |c| <= 1/2, else 2 asin(|u -+ v|/2) (or pi minus it)
                for i in range(S):
                    c = min(1.0, max(-1.0, cs[i]))
                    mid = abs(c) <= 0.5
                    d = e2[i]
                    y = c if mid else min(1.0, 0.5 * math.sqrt(d))
                    s = math.sqrt(max(0.0, (1.0 - c * c) if mid else 0.25 * d * (4.0 - d)))
                    a = _asin_small(y)
                    t = (half_pi - a) if mid else ((2.0 * a) if c > 0.0 else (math.pi - 2.0 * a))
                    wi = ww[i]
                    kw += wi * (s + (math.pi - t) * c)
                    sa += wi * s
                    f[i] = wi * (math.pi - t)
                if with_grad:
                    for l in range(0, kp, 4):
                        x0 = UT[l][s0:s0 + S]
                        x1 = UT[l + 1][s0:s0 + S]
                        x2 = UT[l + 2][s0:s0 + S]
                        x3 = UT[l + 3][s0:s0 + S]
                        a0 = a1 = a2 = a3 = 0.0
                        for i in range(S):
                            fi = f[i]
                            a0 += fi * x0[i]
                            a1 += fi * x1[i]
                            a2 += fi * x2[i]
                            a3 += fi * x3[i]
                        va[l] += a0
                        va[l + 1] += a1
                        va[l + 2] += a2
                        va[l + 3] += a3
            KW[p] = kw
            SA[p] = sa
            if with_grad:
                for l in range(kp):
                    VA[p, l] = va[l]


def _unit_rows_padded(B: np.ndarray, rows: int, cols: int):
    """Norms (r,) and unit rows of B (r, k) in a zero (rows, cols) array (zero rows stay zero)."""
    nb, U = _split_unit(B)
    out = np.zeros((rows, cols))
    out[:U.shape[0], :U.shape[1]] = U
    return nb, out


def relu_potential(P: np.ndarray, Q: np.ndarray, c: np.ndarray, scale: float = 1.0, with_grad: bool = True):
    """Potential ``J(eta_i) = scale * sum_j c_j a_i a_j kappa(b_i, b_j)`` and its tangential gradient.

    For two-dimensional inputs (``d + 1 = 3``) the sums are computed exactly in ``O((N + M) log M)`` by
    :func:`wgf.models.relu_kernel_planar.relu_potential_planar`. Otherwise a Numba kernel, parallel over blocks
    of evaluation points and streamed over tiles of atoms (no (N, M) matrix is formed), vectorised over the atoms of a tile: the angle is computed branch-free with the
    same formulas as the NumPy reference (``asin`` by a rational approximation within 1 ulp). Each point's
    sums are reduced in a fixed order, so results do not depend on the number of threads.

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
    if P.ndim == 2 and P.shape[1] == 3:
        # two-dimensional inputs: the same sums, exactly, by sorted angular prefix sums in O((N+M) log M)
        return relu_potential_planar(P, Q, c, scale, with_grad)
    return relu_potential_direct(P, Q, c, scale, with_grad)


def relu_potential_direct(P: np.ndarray, Q: np.ndarray, c: np.ndarray, scale: float = 1.0,
                          with_grad: bool = True):
    """The direct ``O(N M)`` kernel behind :func:`relu_potential`, for any input dimension (used by it for
    ``d + 1 != 3``, and by the tests as the reference of the planar algorithm)."""
    P = np.ascontiguousarray(P, dtype=np.float64)
    Q = np.ascontiguousarray(Q, dtype=np.float64)
    c = np.ascontiguousarray(c, dtype=np.float64)
    N, k = P.shape[0], P.shape[1] - 1
    kp = -(-k // 4) * 4
    nb, UB = _unit_rows_padded(P[:, 1:], -(-N // _BLOCK) * _BLOCK, kp)
    nq, UQ = _unit_rows_padded(Q[:, 1:], Q.shape[0], kp)
    UT = np.ascontiguousarray(UQ.T)
    w = scale * c * Q[:, 0] * nq
    Np = UB.shape[0]
    KW = np.empty(Np)
    SA = np.empty(Np)
    VA = np.empty((Np, kp) if with_grad else (0, kp))
    with serial_if_small(4 * UB.size * UT.shape[1]):     # ~ 4 multiply-adds and an asin per pair and coordinate
        _relu_potential_kernel(UB, UT, w, bool(with_grad), KW, SA, VA)
    kw = KW[:N] / _TWO_PI
    a = P[:, 0]
    J = a * nb * kw
    if not with_grad:
        return J, None
    G = np.empty_like(P)
    G[:, 0] = nb * kw
    G[:, 1:] = a[:, None] * (VA[:N, :k] + SA[:N, None] * UB[:N, :k]) / _TWO_PI
    G[nb == 0] = 0.0
    G -= np.sum(G * P, axis=1, keepdims=True) * P
    return J, G
