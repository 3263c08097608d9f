r"""Band-limited zonal kernels on S^1 and S^2 and the potential of a signed measure under them.

A zonal kernel depends on two points of the sphere through ``t = x . x'`` only. The kernels of sparse
spike deconvolution are polynomials in ``t`` written in the orthogonal family of the sphere:

* S^1, Chebyshev polynomials ``T_k(cos u) = cos(k u)`` (``u`` the angle between x and x'): the Dirichlet
  kernel of cutoff frequency ``fc``,

  .. math:: D_{f_c}(u) = \sum_{|k| \le f_c} e^{iku} = 1 + 2\sum_{k=1}^{f_c} \cos(ku)
            = T_0(t) + 2 \sum_{k=1}^{f_c} T_k(t),

  (this form has no ``0/0`` at ``u = 0``, unlike ``sin((2 fc + 1) u/2) / sin(u/2)``);
* S^2, Legendre polynomials: the reproducing kernel of the spherical harmonics of degree ``<= L``,

  .. math:: K_L(t) = \sum_{l=0}^{L} \frac{2l+1}{4\pi} P_l(t)
            = \sum_{l \le L} \sum_{|m| \le l} Y_{lm}(x) Y_{lm}(x')   \quad\text{(addition theorem)}.

With coefficients ``a_l`` (``K(t) = sum_l a_l Q_l(t)``, ``Q = T`` on S^1 and ``P`` on S^2) the potential
of a signed measure ``sum_j c_j delta_{x_j}`` and its tangential gradient are

.. math::

    J(x) = \sum_j c_j K(x\cdot x_j), \qquad
    \nabla_S J(x) = (I - x x^T) \sum_j c_j K'(x\cdot x_j)\, x_j .

The Numba kernel evaluates ``Q_l(t)`` by the three-term recurrence (``T_{l+1} = 2t T_l - T_{l-1}``,
``(l+1) P_{l+1} = (2l+1) t P_l - l P_{l-1}``, both stable on [-1, 1]) and ``K'`` as the series of the
derivative (coefficients from ``numpy.polynomial``'s ``chebder`` / ``legder``) in the same pass. The
NumPy reference takes another route to ``K'``: the recurrences of the derivatives themselves
(``T_k' = k U_{k-1}`` with ``U_{k+1} = 2t U_k - U_{k-1}``; ``P_{l+1}' = t P_l' + (l+1) P_l``).

Lipschitz bound. On the sphere ``|d/ds K(x(s) . x')| = |K'(t)| sqrt(1 - t^2)`` along a unit-speed
geodesic, and Bernstein's inequality for polynomials bounded by 1 on [-1, 1] gives
``sqrt(1 - t^2) |Q_l'(t)| <= l``. Hence ``|grad_S J| <= (sum_l l |a_l|) sum_j |c_j|``
(:func:`zonal_lipschitz_constant`); likewise the second derivative along geodesics is at most
``(sum_l l^2 |a_l|) sum_j |c_j|`` (:func:`zonal_curvature_constant`).

Measurement vectors. ``fourier_basis`` and ``real_spherical_harmonics`` give the real measurement
functions whose Gram matrix is the kernel: ``B(x) . B(x') = D_fc(u)`` on S^1 and ``= K_L(x . x')`` on S^2.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from numpy.polynomial import chebyshev as _cheb
from numpy.polynomial import legendre as _leg

__all__ = [
    "dirichlet_coefficients",
    "legendre_sum_coefficients",
    "derivative_coefficients",
    "zonal_profile",
    "zonal_potential",
    "zonal_potential_numpy",
    "zonal_kernel_matrix",
    "zonal_lipschitz_constant",
    "zonal_curvature_constant",
    "zonal_feature_derivative_norms",
    "fourier_basis",
    "real_spherical_harmonics",
    "n_measurements",
]

#: Polynomial family of the zonal kernels on S^d: 0 Chebyshev (d = 1), 1 Legendre (d = 2).
_FAMILY = {1: 0, 2: 1}


def _family(dim: int) -> int:
    try:
        return _FAMILY[dim]
    except KeyError:
        raise ValueError(f"zonal kernels are implemented on S^1 and S^2 only, got S^{dim}") from None


# ---------------------------------------------------------------------- coefficients
def dirichlet_coefficients(fc: int) -> np.ndarray:
    """Chebyshev coefficients of ``D_fc(u) = 1 + 2 sum_{k=1}^{fc} cos(k u)`` in ``t = cos u``:
    ``[1, 2, ..., 2]``, shape (fc+1,). ``D_fc(0) = 2 fc + 1``."""
    a = np.full(int(fc) + 1, 2.0)
    a[0] = 1.0
    return a


def legendre_sum_coefficients(L: int) -> np.ndarray:
    """Legendre coefficients ``(2l+1)/(4 pi)``, l = 0..L, of the reproducing kernel of the spherical
    harmonics of degree ``<= L`` on S^2; shape (L+1,). Its value at ``t = 1`` is ``(L+1)^2/(4 pi)``."""
    l = np.arange(int(L) + 1)
    return (2.0 * l + 1.0) / (4.0 * math.pi)


def derivative_coefficients(coef: np.ndarray, dim: int) -> np.ndarray:
    """Coefficients of ``K'(t)`` in the same family as ``coef`` (padded to the same length)."""
    coef = np.asarray(coef, dtype=np.float64)
    der = _cheb.chebder(coef) if _family(dim) == 0 else _leg.legder(coef)
    out = np.zeros_like(coef)
    out[: len(der)] = der
    return out


def zonal_lipschitz_constant(coef: np.ndarray) -> float:
    """``sum_l l |a_l|`` >= ``sup_t sqrt(1 - t^2) |K'(t)|`` (Bernstein's inequality): the Lipschitz
    constant of ``x -> K(x . x')`` for the geodesic distance, in either family."""
    coef = np.asarray(coef, dtype=np.float64)
    return float(np.sum(np.arange(len(coef)) * np.abs(coef)))


def zonal_curvature_constant(coef: np.ndarray) -> float:
    """``sum_l l^2 |a_l|`` >= ``sup |d^2/ds^2 K(x(s) . x')|`` over unit-speed geodesics ``x(s)``.

    Along a great circle ``x(s) . x' = A cos s + B sin s``, so ``Q_l(x(s) . x')`` is a trigonometric
    polynomial of degree ``<= l`` bounded by 1, and Bernstein's inequality bounds its second derivative
    by ``l^2``. With it, ``min_{S^d} J >= min_i J(p_i) - (M2 / 2) r^2`` for points ``p_i`` of covering
    radius ``r`` and ``M2 = zonal_curvature_constant(coef) * sum_j |c_j|`` (expand J about its minimiser,
    where its gradient vanishes)."""
    coef = np.asarray(coef, dtype=np.float64)
    return float(np.sum(np.arange(len(coef)) ** 2 * np.abs(coef)))


def zonal_feature_derivative_norms(coef: np.ndarray, dim: int) -> tuple[float, float]:
    """``(|d phi/ds|, |d^2 phi/ds^2|)`` along unit-speed geodesics ``x(s)`` (the same at every point and in
    every direction), for any feature map ``phi`` of the zonal kernel, ``phi(x) . phi(x') = K(x . x')``.

    Along a great circle ``x(s) . x(s') = cos(s - s')``, so ``d/ds d/ds' [phi(x(s)) . phi(x(s'))]`` at
    ``s = s'`` equals ``-k2`` and ``d^2/ds^2 d^2/ds'^2`` equals ``k4``, where ``k2, k4`` are the second
    and fourth derivatives at 0 of ``k(u) = K(cos u)``. Expanding ``cos u - 1 = -u^2/2 + u^4/24 - ...`` in
    ``K(cos u) = K(1) + K'(1) (cos u - 1) + K''(1) (cos u - 1)^2 / 2 + ...`` gives ``-k2 = K'(1)`` and
    ``k4 = K'(1) + 3 K''(1)``, with ``K'(1) = sum_l a_l Q_l'(1)`` (likewise ``K''``). Hence
    ``|d phi/ds| = K'(1)^{1/2}`` and ``|d^2 phi/ds^2| = (K'(1) + 3 K''(1))^{1/2}`` (on S^1:
    ``(sum_l a_l l^2)^{1/2}`` and ``(sum_l a_l l^4)^{1/2}``). For a potential ``J = phi . r + const``,
    Cauchy–Schwarz bounds ``|grad_S J|`` and ``|(J o x)''|`` by ``|r|`` times these. Both radicands are
    squared norms, nonnegative for a positive semi-definite kernel (ValueError otherwise)."""
    coef = np.asarray(coef, dtype=np.float64)
    d1 = derivative_coefficients(coef, dim)
    d2 = derivative_coefficients(d1, dim)
    k1, k2 = float(d1.sum()), float(d2.sum())  # Q_l(1) = 1 in both families
    if k1 < 0 or k1 + 3.0 * k2 < 0:
        raise ValueError("the kernel is not positive semi-definite (K'(1) < 0 or K'(1) + 3 K''(1) < 0)")
    return math.sqrt(k1), math.sqrt(k1 + 3.0 * k2)


def zonal_profile(t, coef: np.ndarray, dim: int):
    """NumPy reference of the kernel profile: ``K(t)`` and ``K'(t)`` for ``t`` in [-1, 1] (any shape),
    by the recurrences of ``Q_l`` and of ``Q_l'`` (see the module docstring)."""
    t = np.asarray(t, dtype=np.float64)
    coef = np.asarray(coef, dtype=np.float64)
    fam = _family(dim)
    n = len(coef)
    f = np.full(t.shape, coef[0])
    fp = np.zeros(t.shape)
    if n == 1:
        return f, fp
    q0, q1 = np.ones_like(t), t.copy()
    if fam == 0:
        u0, u1 = np.ones_like(t), 2.0 * t  # U_0, U_1 (T_k' = k U_{k-1})
        dq1 = np.ones_like(t)
    else:
        dq0, dq1 = np.zeros_like(t), np.ones_like(t)  # P_0', P_1'
    f = f + coef[1] * q1
    fp = fp + coef[1] * dq1
    for l in range(1, n - 1):
        if fam == 0:
            q2 = 2.0 * t * q1 - q0
            dq2 = (l + 1) * u1
            u0, u1 = u1, 2.0 * t * u1 - u0
        else:
            q2 = ((2 * l + 1) * t * q1 - l * q0) / (l + 1)
            dq2 = t * dq1 + (l + 1) * q1
            dq0, dq1 = dq1, dq2
        f = f + coef[l + 1] * q2
        fp = fp + coef[l + 1] * dq2
        q0, q1 = q1, q2
    return f, fp


# ---------------------------------------------------------------------- Numba kernels
@njit(cache=True)
def _series(t, family, a, b):  # pragma: no cover - compiled
    """``(sum_l a_l Q_l(t), sum_l b_l Q_l(t))`` by the forward three-term recurrence."""
    n = a.shape[0]
    f = a[0]
    g = b[0]
    if n == 1:
        return f, g
    q0 = 1.0
    q1 = t
    f += a[1] * q1
    g += b[1] * q1
    for l in range(1, n - 1):
        if family == 0:
            q2 = 2.0 * t * q1 - q0
        else:
            q2 = ((2 * l + 1) * t * q1 - l * q0) / (l + 1)
        f += a[l + 1] * q2
        g += b[l + 1] * q2
        q0 = q1
        q1 = q2
    return f, g


@njit(cache=True)
def _cosine(P, i, Q, j):  # pragma: no cover - compiled
    """``<P_i, Q_j>`` clamped to [-1, 1] (rounding can push unit vectors' products just outside)."""
    t = 0.0
    for k in range(P.shape[1]):
        t += P[i, k] * Q[j, k]
    return min(1.0, max(-1.0, t))


@njit(cache=True)
def _zonal_potential_row(i, P, Q, c, a, b, family, with_grad, J, G):  # pragma: no cover - compiled
    """J[i] and G[i] for evaluation point i (a sequential loop over the atoms)."""
    D = P.shape[1]
    M = Q.shape[0]
    acc = 0.0
    g = np.zeros(D)
    for j in range(M):
        cj = c[j]
        if cj == 0.0:
            continue
        t = _cosine(P, i, Q, j)
        f, fp = _series(t, family, a, b)
        acc += cj * f
        if with_grad:
            w = cj * fp
            for k in range(D):
                g[k] += w * Q[j, k]
    J[i] = acc
    if with_grad:
        dot = 0.0
        for k in range(D):
            dot += g[k] * P[i, k]
        for k in range(D):
            G[i, k] = g[k] - dot * P[i, k]


@njit(cache=True, parallel=True)
def _zonal_potential_kernel(P, Q, c, a, b, family, with_grad, J, G):  # pragma: no cover - compiled
    for i in prange(P.shape[0]):
        _zonal_potential_row(i, P, Q, c, a, b, family, with_grad, J, G)


@njit(cache=True)
def _zonal_potential_kernel_serial(P, Q, c, a, b, family, with_grad, J, G):  # pragma: no cover - compiled
    for i in range(P.shape[0]):
        _zonal_potential_row(i, P, Q, c, a, b, family, with_grad, J, G)


#: Below this many pair-terms (N M (degree+1)) the serial kernel is used: thread start-up would cost more
#: than the work. Each output is computed by the same sequential loop either way (bitwise identical).
SERIAL_WORK = 200_000


@njit(cache=True, parallel=True)
def _zonal_matrix_kernel(P, Q, a, family, out):  # pragma: no cover - compiled
    N, D = P.shape
    M = Q.shape[0]
    for i in prange(N):
        for j in range(M):
            t = _cosine(P, i, Q, j)
            f, _ = _series(t, family, a, a)
            out[i, j] = f


def _prepare(P, Q, coef):
    P = np.ascontiguousarray(P, dtype=np.float64)
    Q = np.ascontiguousarray(Q, dtype=np.float64)
    coef = np.ascontiguousarray(coef, dtype=np.float64)
    if P.ndim != 2 or Q.ndim != 2 or P.shape[1] != Q.shape[1]:
        raise ValueError(f"points must be (N, d+1) and (M, d+1) arrays of one d, got {P.shape} and {Q.shape}")
    if coef.ndim != 1 or coef.size < 1:
        raise ValueError(f"kernel coefficients must be a nonempty 1-d array, got shape {coef.shape}")
    return P, Q, coef, P.shape[1] - 1


def zonal_potential(P: np.ndarray, Q: np.ndarray, c: np.ndarray, coef: np.ndarray, with_grad: bool = True,
                    dcoef: np.ndarray | None = None):
    """Potential ``J(x_i) = sum_j c_j K(x_i . q_j)`` of a signed measure and its tangential gradient.

    Numba kernel, parallel over the evaluation points, streamed over the atoms (no (N, M) matrix).

    Parameters
    ----------
    P : ndarray, shape (N, d+1)
        Evaluation points on S^d, d = 1 or 2.
    Q : ndarray, shape (M, d+1)
        Atoms of the signed measure.
    c : ndarray, shape (M,)
        Signed masses.
    coef : ndarray, shape (n+1,)
        ``K(t) = sum_l coef[l] Q_l(t)``: Chebyshev on S^1, Legendre on S^2.
    with_grad : bool
        Also return ``(I - x x^T) sum_j c_j K'(x . q_j) q_j`` (else None).
    dcoef : ndarray, shape (n+1,), optional
        ``derivative_coefficients(coef, d)``, if the caller has it precomputed.

    Returns
    -------
    J : ndarray, shape (N,)
    gradJ : ndarray, shape (N, d+1) or None
    """
    P, Q, coef, dim = _prepare(P, Q, coef)
    c = np.ascontiguousarray(c, dtype=np.float64)
    if c.shape != (Q.shape[0],):
        raise ValueError(f"c must have shape ({Q.shape[0]},), got {c.shape}")
    fam = _family(dim)
    b = derivative_coefficients(coef, dim) if dcoef is None else np.ascontiguousarray(dcoef, dtype=np.float64)
    if b.shape != coef.shape:
        raise ValueError(f"dcoef must have the shape of coef {coef.shape}, got {b.shape}")
    J = np.empty(P.shape[0])
    G = np.empty(P.shape if with_grad else (0, P.shape[1]))
    kernel = (_zonal_potential_kernel_serial if P.shape[0] * Q.shape[0] * coef.size < SERIAL_WORK
              else _zonal_potential_kernel)
    kernel(P, Q, c, coef, b, fam, bool(with_grad), J, G)
    return J, (G if with_grad else None)


def zonal_potential_numpy(P: np.ndarray, Q: np.ndarray, c: np.ndarray, coef: np.ndarray):
    """NumPy reference of :func:`zonal_potential` (forms (N, M) matrices; for tests)."""
    P, Q, coef, dim = _prepare(P, Q, coef)
    c = np.asarray(c, dtype=np.float64)
    t = np.clip(P @ Q.T, -1.0, 1.0)
    f, fp = zonal_profile(t, coef, dim)
    J = f @ c
    g = (fp * c) @ Q
    G = g - np.sum(g * P, axis=1, keepdims=True) * P
    return J, G


def zonal_kernel_matrix(P: np.ndarray, Q: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Kernel matrix ``K(p_i . q_j)``, shape (N, M) (Numba, parallel over rows)."""
    P, Q, coef, dim = _prepare(P, Q, coef)
    out = np.empty((P.shape[0], Q.shape[0]))
    _zonal_matrix_kernel(P, Q, coef, _family(dim), out)
    return out


# ---------------------------------------------------------------------- measurement vectors
def n_measurements(dim: int, degree: int) -> int:
    """Number of real measurements: ``2 fc + 1`` on S^1, ``(L + 1)^2`` on S^2."""
    _family(dim)
    return 2 * degree + 1 if dim == 1 else (degree + 1) ** 2


def fourier_basis(points: np.ndarray, fc: int) -> np.ndarray:
    """Real Fourier measurement vectors on S^1: ``[1, sqrt2 cos(k th), sqrt2 sin(k th)]_{k=1..fc}`` at
    ``x = (cos th, sin th)``; shape (N, 2 fc + 1), columns ordered ``1, cos th, sin th, cos 2th, ...``.

    Their Gram matrix is the Dirichlet kernel: ``B(x) . B(x') = D_fc(th - th')``, and for a measure
    ``||sum_i m_i B(x_i)||^2 = sum_{|k| <= fc} |nu_hat(k)|^2`` with ``nu_hat(k) = int e^{-ik th} dnu``."""
    P = np.asarray(points, dtype=np.float64)
    z = P[:, 0] + 1j * P[:, 1]
    out = np.empty((P.shape[0], 2 * fc + 1))
    out[:, 0] = 1.0
    zk = np.ones_like(z)
    for k in range(1, fc + 1):
        zk = zk * z
        out[:, 2 * k - 1] = math.sqrt(2.0) * zk.real
        out[:, 2 * k] = math.sqrt(2.0) * zk.imag
    return out


def _complex_sph_harm(l, m, polar, azimuth):
    """Complex orthonormal spherical harmonic ``Y_l^m`` (SciPy's convention, Condon–Shortley phase)."""
    try:
        from scipy.special import sph_harm_y
    except ImportError:  # SciPy < 1.15
        from scipy.special import sph_harm

        return sph_harm(m, l, azimuth, polar)
    return sph_harm_y(l, m, polar, azimuth)


def real_spherical_harmonics(points: np.ndarray, L: int) -> np.ndarray:
    """Real orthonormal spherical harmonics of degree ``<= L`` at points of S^2; shape (N, (L+1)^2).

    Columns ordered by l, then m = -l..l: ``Y_l0``, ``sqrt2 Re Y_l^m`` (m > 0), ``sqrt2 Im Y_l^{|m|}``
    (m < 0), from :mod:`scipy.special` with polar angle ``arccos x_2`` and azimuth ``atan2(x_1, x_0)``.
    By the addition theorem their Gram matrix is ``sum_l (2l+1)/(4 pi) P_l(x . x')``."""
    P = np.asarray(points, dtype=np.float64)
    polar = np.arccos(np.clip(P[:, 2], -1.0, 1.0))
    azimuth = np.mod(np.arctan2(P[:, 1], P[:, 0]), 2.0 * math.pi)
    out = np.empty((P.shape[0], (L + 1) ** 2))
    col = 0
    for l in range(L + 1):
        ms = np.arange(0, l + 1)
        Y = _complex_sph_harm(l, ms[None, :], polar[:, None], azimuth[:, None])  # (N, l+1)
        for m in range(-l, l + 1):
            if m == 0:
                out[:, col] = Y[:, 0].real
            elif m > 0:
                out[:, col] = math.sqrt(2.0) * Y[:, m].real
            else:
                out[:, col] = math.sqrt(2.0) * Y[:, -m].imag
            col += 1
    return out
