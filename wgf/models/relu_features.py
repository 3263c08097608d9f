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

Implementation. Both kernels are Numba-compiled and stream over tiles of ``_TILE`` samples, so no
(points x samples) matrix is ever formed: the largest temporaries are a few (tile,) vectors per thread
and a transposed copy of the inputs. The inputs are stored as ``XT`` (k', n), k' = k rounded up to a
multiple of 4 with zero rows (adding exact zeros changes no sum), so that the innermost loops run over
contiguous samples and vectorise, and each input row loaded serves four neurons (register blocking:
``b . x`` of four neurons for four coordinates per pass). The predictor is parallel over sample tiles, each
output ``h_i`` summing the neurons in their order; the potential is parallel over blocks of ``_BLOCK``
evaluation points, each point's sums over samples reduced tile after tile in a fixed order (within a
tile the compiler may vectorise the reduction: ``fastmath={"reassoc", "contract"}``). The order of every
sum therefore depends neither on the number of threads nor on the other points evaluated in the same
call: results are bitwise reproducible on a given machine (the last bits may differ between CPUs with
different vector widths). Calls with little work run on one thread (:mod:`wgf._parallel`), which gives the
same bits. At the benchmark size this runs at about the speed of BLAS matrix products of the same flop
count (benchmarks/README.md).

Layers. The arithmetic lives in serial Numba primitives: the pre-activations of four neurons over a tile
(``_z_quad``), the predictor's sum over neurons and the potential's reduction over samples, composed into
:func:`predict_tile` (one tile of samples) and :func:`potential_points` (a few points over a range of
samples), and :func:`finish_potential` (J and the tangential projection); the parallel kernels only
distribute them over tiles or blocks of points. Callers that fuse several steps into one compiled loop (the
SGD step of :class:`wgf.NetworkTrainer`) call the same primitives serially and get the same bits as the
parallel wrappers; :func:`features_tile` and :func:`reduce_features` keep the pre-activations of a
prediction for the potential at the same neurons, so that an SGD step computes them once. :func:`transpose_inputs`,
:func:`predict_transposed` and :func:`potential_transposed` take inputs already transposed (a block of
mini-batches is transposed once) and a range of samples.

:func:`relu_features_predict_numpy` and :func:`relu_features_potential_numpy` are the plain NumPy
references kept for the tests. Both paths agree to round-off (about 1e-15 relative), except where some
``b . x_i`` is within round-off of 0, where they may disagree on ``relu'``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._parallel import serial_if_small

__all__ = [
    "relu_features_predict",
    "transpose_inputs",
    "predict_transposed",
    "potential_transposed",
    "potential_sums_transposed",
    "features_transposed",
    "reduce_transposed",
    "relu_features_potential",
    "relu_features_predict_numpy",
    "relu_features_potential_numpy",
]

#: Samples per tile of the streamed loops (a (k', _TILE) slab of inputs stays in cache).
_TILE = 512
#: Evaluation points per parallel work item of the potential (a multiple of 4).
_BLOCK = 16


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


def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


def _padded(A: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``A`` (r, c) copied into a zero array of shape (rows, cols), rows >= r, cols >= c."""
    out = np.zeros((rows, cols))
    out[:A.shape[0], :A.shape[1]] = A
    return out


# ---------------------------------------------------------------------------------------------- primitives
@njit(cache=True, fastmath={"contract"})
def _z_quad(B, j, XT, s0, S, z0, z1, z2, z3):  # pragma: no cover - compiled
    """``z_q[i] = B_{j+q} . x_{s0+i}`` for the four rows j..j+3 and ``i < S``, four coordinates per pass
    (each loaded input row serves four neurons)."""
    kp = B.shape[1]
    for i in range(S):
        z0[i] = 0.0
        z1[i] = 0.0
        z2[i] = 0.0
        z3[i] = 0.0
    for l in range(0, kp, 4):
        x0 = XT[l][s0:s0 + S]
        x1 = XT[l + 1][s0:s0 + S]
        x2 = XT[l + 2][s0:s0 + S]
        x3 = XT[l + 3][s0:s0 + S]
        b00, b01, b02, b03 = B[j, l], B[j, l + 1], B[j, l + 2], B[j, l + 3]
        b10, b11, b12, b13 = B[j + 1, l], B[j + 1, l + 1], B[j + 1, l + 2], B[j + 1, l + 3]
        b20, b21, b22, b23 = B[j + 2, l], B[j + 2, l + 1], B[j + 2, l + 2], B[j + 2, l + 3]
        b30, b31, b32, b33 = B[j + 3, l], B[j + 3, l + 1], B[j + 3, l + 2], B[j + 3, l + 3]
        for i in range(S):
            xa = x0[i]
            xb = x1[i]
            xc = x2[i]
            xd = x3[i]
            z0[i] = z0[i] + b00 * xa + b01 * xb + b02 * xc + b03 * xd
            z1[i] = z1[i] + b10 * xa + b11 * xb + b12 * xc + b13 * xd
            z2[i] = z2[i] + b20 * xa + b21 * xb + b22 * xc + b23 * xd
            z3[i] = z3[i] + b30 * xa + b31 * xb + b32 * xc + b33 * xd


@njit(cache=True, fastmath={"contract"})
def _relu_sum_quad(w0, w1, w2, w3, z0, z1, z2, z3, h, S):  # pragma: no cover - compiled
    """``h[i] += sum_q w_q relu(z_q[i])`` (the four neurons in their order)."""
    for i in range(S):
        v0 = z0[i]
        v1 = z1[i]
        v2 = z2[i]
        v3 = z3[i]
        r0 = v0 if v0 > 0.0 else 0.0
        r1 = v1 if v1 > 0.0 else 0.0
        r2 = v2 if v2 > 0.0 else 0.0
        r3 = v3 if v3 > 0.0 else 0.0
        h[i] = h[i] + w0 * r0 + w1 * r1 + w2 * r2 + w3 * r3


@njit(cache=True, fastmath={"contract", "reassoc"})
def _reduce_quad(z0, z1, z2, z3, gg, XT, s0, S, with_grad, sa, sb, q):  # pragma: no cover - compiled
    """From ``z_q = b_q . x_i`` (four rows, ``i < S``, samples ``s0 + i``) and weights ``gg`` (S,):
    ``sa[q+r] += sum_i g_i relu(z_r[i])`` and (with_grad) ``sb[q+r, :] += sum_i g_i relu'(z_r[i]) x_i``; the
    z arrays are overwritten by ``g_i relu'(z_r[i])``. Within the tile the sums may be vectorised."""
    kp = XT.shape[0]
    # u_i = g_i relu'(z_i) (kept in place of z), and sum_i u_i z_i = sum_i g_i relu(z_i)
    c0 = 0.0
    c1 = 0.0
    c2 = 0.0
    c3 = 0.0
    for i in range(S):
        gi = gg[i]
        v0 = z0[i]
        v1 = z1[i]
        v2 = z2[i]
        v3 = z3[i]
        u0 = gi if v0 > 0.0 else 0.0
        u1 = gi if v1 > 0.0 else 0.0
        u2 = gi if v2 > 0.0 else 0.0
        u3 = gi if v3 > 0.0 else 0.0
        c0 += u0 * v0
        c1 += u1 * v1
        c2 += u2 * v2
        c3 += u3 * v3
        z0[i] = u0
        z1[i] = u1
        z2[i] = u2
        z3[i] = u3
    sa[q] += c0
    sa[q + 1] += c1
    sa[q + 2] += c2
    sa[q + 3] += c3
    if with_grad:
        for l in range(0, kp, 4):
            x0 = XT[l][s0:s0 + S]
            x1 = XT[l + 1][s0:s0 + S]
            x2 = XT[l + 2][s0:s0 + S]
            x3 = XT[l + 3][s0:s0 + S]
            a00 = a01 = a02 = a03 = 0.0
            a10 = a11 = a12 = a13 = 0.0
            a20 = a21 = a22 = a23 = 0.0
            a30 = a31 = a32 = a33 = 0.0
            for i in range(S):
                xa = x0[i]
                xb = x1[i]
                xc = x2[i]
                xd = x3[i]
                u0 = z0[i]
                u1 = z1[i]
                u2 = z2[i]
                u3 = z3[i]
                a00 += u0 * xa
                a01 += u0 * xb
                a02 += u0 * xc
                a03 += u0 * xd
                a10 += u1 * xa
                a11 += u1 * xb
                a12 += u1 * xc
                a13 += u1 * xd
                a20 += u2 * xa
                a21 += u2 * xb
                a22 += u2 * xc
                a23 += u2 * xd
                a30 += u3 * xa
                a31 += u3 * xb
                a32 += u3 * xc
                a33 += u3 * xd
            sb[q, l] += a00
            sb[q, l + 1] += a01
            sb[q, l + 2] += a02
            sb[q, l + 3] += a03
            sb[q + 1, l] += a10
            sb[q + 1, l + 1] += a11
            sb[q + 1, l + 2] += a12
            sb[q + 1, l + 3] += a13
            sb[q + 2, l] += a20
            sb[q + 2, l + 1] += a21
            sb[q + 2, l + 2] += a22
            sb[q + 2, l + 3] += a23
            sb[q + 3, l] += a30
            sb[q + 3, l + 1] += a31
            sb[q + 3, l + 2] += a32
            sb[q + 3, l + 3] += a33


@njit(cache=True)
def predict_tile(B, w, XT, s0, S, out, o0):  # pragma: no cover - compiled
    """Serial primitive: ``out[o0 + i] = sum_j w_j relu(B_j . x_{s0+i})`` for ``i < S`` (S <= _TILE), with
    B (M', k') (M' a multiple of 4; zero rows with w_j = 0 pad), w (M',), XT (k', n). The neurons are summed
    in their order, four at a time."""
    Mp = B.shape[0]
    h = np.zeros(S)
    z0 = np.empty(S)
    z1 = np.empty(S)
    z2 = np.empty(S)
    z3 = np.empty(S)
    for j in range(0, Mp, 4):
        _z_quad(B, j, XT, s0, S, z0, z1, z2, z3)
        _relu_sum_quad(w[j], w[j + 1], w[j + 2], w[j + 3], z0, z1, z2, z3, h, S)
    for i in range(S):
        out[o0 + i] = h[i]


@njit(cache=True)
def features_tile(B, w, XT, s0, S, Z, zo, out, o0):  # pragma: no cover - compiled
    """:func:`predict_tile` that also keeps the pre-activations: ``Z[j, zo + i] = B_j . x_{s0+i}`` (Z has
    the rows of B), for :func:`reduce_features` after the per-sample weights are known (the same bits as
    :func:`potential_points` on the rows of B, without computing them twice)."""
    Mp = B.shape[0]
    h = np.zeros(S)
    for j in range(0, Mp, 4):
        z0 = Z[j, zo:zo + S]
        z1 = Z[j + 1, zo:zo + S]
        z2 = Z[j + 2, zo:zo + S]
        z3 = Z[j + 3, zo:zo + S]
        _z_quad(B, j, XT, s0, S, z0, z1, z2, z3)
        _relu_sum_quad(w[j], w[j + 1], w[j + 2], w[j + 3], z0, z1, z2, z3, h, S)
    for i in range(S):
        out[o0 + i] = h[i]


@njit(cache=True)
def potential_points(B, XT, g, s_first, p0, nq, with_grad, SA, SB):  # pragma: no cover - compiled
    """Serial primitive: for the points ``p0 .. p0+nq-1`` (nq a multiple of 4, rows of B (N', k')),
    ``SA_p = sum_i g_i relu(B_p . x_i)`` and (with_grad) ``SB_p = sum_i g_i relu'(B_p . x_i) x_i`` (k',) over
    the samples ``x_i = XT[:, s_first + i]``, ``i < len(g)``; the sums are reduced tile after tile of
    ``_TILE`` samples, in a fixed order that depends neither on the other points nor on the thread."""
    kp = B.shape[1]
    n = g.shape[0]
    sa = np.zeros(nq)
    sb = np.zeros((nq, kp))
    z0 = np.empty(_TILE)
    z1 = np.empty(_TILE)
    z2 = np.empty(_TILE)
    z3 = np.empty(_TILE)
    for t0 in range(0, n, _TILE):
        S = min(_TILE, n - t0)
        s0 = s_first + t0
        gg = g[t0:t0 + S]
        for q in range(0, nq, 4):
            _z_quad(B, p0 + q, XT, s0, S, z0, z1, z2, z3)
            _reduce_quad(z0, z1, z2, z3, gg, XT, s0, S, with_grad, sa, sb, q)
    for q in range(nq):
        SA[p0 + q] = sa[q]
        if with_grad:
            for l in range(kp):
                SB[p0 + q, l] = sb[q, l]


@njit(cache=True)
def reduce_features(Z, XT, g, s_first, with_grad, SA, SB):  # pragma: no cover - compiled
    """:func:`potential_points` for every row from pre-activations kept by :func:`features_tile`:
    ``Z[j, i] = B_j . x_{s_first+i}`` (M', n), ``i < len(g)``, M' a multiple of 4 (Z is overwritten)."""
    Mp, kp = Z.shape[0], XT.shape[0]
    n = g.shape[0]
    sa = np.zeros(Mp)
    sb = np.zeros((Mp, kp))
    for t0 in range(0, n, _TILE):
        S = min(_TILE, n - t0)
        gg = g[t0:t0 + S]
        for q in range(0, Mp, 4):
            _reduce_quad(Z[q, t0:t0 + S], Z[q + 1, t0:t0 + S], Z[q + 2, t0:t0 + S], Z[q + 3, t0:t0 + S], gg, XT,
                         s_first + t0, S, with_grad, sa, sb, q)
    for q in range(Mp):
        SA[q] = sa[q]
        if with_grad:
            for l in range(kp):
                SB[q, l] = sb[q, l]


@njit(cache=True)
def finish_potential(P, SA, SB, J, G):  # pragma: no cover - compiled
    """``J_p = a_p SA_p`` and ``G_p = (I - eta_p eta_p^T) (SA_p, a_p SB_p[:k])`` for P (N, k+1), SA (N' >= N,),
    SB (N', k' >= k) (with_grad); G (0, .) skips the gradient. Sequential sums: the same bits in every
    caller."""
    N, D = P.shape
    for p in range(N):
        a = P[p, 0]
        J[p] = a * SA[p]
    if G.shape[0] == 0:
        return
    for p in range(N):
        a = P[p, 0]
        G[p, 0] = SA[p]
        for l in range(1, D):
            G[p, l] = a * SB[p, l - 1]
        s = 0.0
        for l in range(D):
            s += G[p, l] * P[p, l]
        for l in range(D):
            G[p, l] -= s * P[p, l]


@njit(cache=True)
def pad_rows(P, rows, cols, out):  # pragma: no cover - compiled
    """``out`` (rows, cols) = the input weights ``P[:, 1:]`` (N, k) padded with zeros (rows >= N, cols >= k)."""
    N, D = P.shape
    for p in range(rows):
        for l in range(cols):
            out[p, l] = P[p, l + 1] if (p < N and l < D - 1) else 0.0


# ---------------------------------------------------------------------------------------------- kernels
@njit(cache=True, parallel=True)
def _predict_kernel(B, w, XT, s_first, n, out):  # pragma: no cover - compiled
    """``out_i = sum_j w_j relu(B_j . x_{s_first+i})``, i < n: :func:`predict_tile` in parallel over tiles."""
    ntiles = (n + _TILE - 1) // _TILE
    for t in prange(ntiles):
        s0 = t * _TILE
        predict_tile(B, w, XT, s_first + s0, min(_TILE, n - s0), out, s0)


@njit(cache=True, nogil=True)
def _predict_serial(B, w, XT, s_first, n, out):  # pragma: no cover - compiled
    """:func:`_predict_kernel` on one thread, releasing the GIL (the same tiles, the same bits): for worker
    threads, which must not launch parallel regions of their own."""
    for s0 in range(0, n, _TILE):
        predict_tile(B, w, XT, s_first + s0, min(_TILE, n - s0), out, s0)


@njit(cache=True, parallel=True)
def _potential_kernel(B, XT, g, s_first, with_grad, SA, SB):  # pragma: no cover - compiled
    """:func:`potential_points` in parallel over blocks of ``_BLOCK`` points (B has N' = a multiple of
    ``_BLOCK`` rows)."""
    nblocks = B.shape[0] // _BLOCK
    for blk in prange(nblocks):
        potential_points(B, XT, g, s_first, blk * _BLOCK, _BLOCK, with_grad, SA, SB)


@njit(cache=True, parallel=True)
def _features_kernel(B, XT, s_first, n, Z):  # pragma: no cover - compiled
    """``Z[j, i] = B_j . x_{s_first+i}`` for ``i < n``, in parallel over quads of rows."""
    for t in prange(B.shape[0] // 4):
        j = 4 * t
        _z_quad(B, j, XT, s_first, n, Z[j, :n], Z[j + 1, :n], Z[j + 2, :n], Z[j + 3, :n])


@njit(cache=True)
def _sum_features(Z, w, n, out):  # pragma: no cover - compiled
    """``out_i = sum_j w_j relu(Z[j, i])``, the neurons in their order (as in :func:`features_tile`)."""
    for i in range(n):
        out[i] = 0.0
    for j in range(0, Z.shape[0], 4):
        _relu_sum_quad(w[j], w[j + 1], w[j + 2], w[j + 3], Z[j, :n], Z[j + 1, :n], Z[j + 2, :n], Z[j + 3, :n],
                       out, n)


@njit(cache=True, parallel=True)
def _reduce_kernel(Z, XT, g, s_first, with_grad, SA, SB):  # pragma: no cover - compiled
    """:func:`reduce_features` in parallel over quads of rows (each quad's sums in the same order)."""
    kp = XT.shape[0]
    n = g.shape[0]
    for t in prange(Z.shape[0] // 4):
        q = 4 * t
        sa = np.zeros(4)
        sb = np.zeros((4, kp))
        for t0 in range(0, n, _TILE):
            S = min(_TILE, n - t0)
            _reduce_quad(Z[q, t0:t0 + S], Z[q + 1, t0:t0 + S], Z[q + 2, t0:t0 + S], Z[q + 3, t0:t0 + S],
                         g[t0:t0 + S], XT, s_first + t0, S, with_grad, sa, sb, 0)
        for r in range(4):
            SA[q + r] = sa[r]
            if with_grad:
                for l in range(kp):
                    SB[q + r, l] = sb[r, l]


# ---------------------------------------------------------------------------------------------- wrappers
def transposed_rows(k: int) -> int:
    """Rows k' of the transposed inputs for k input coordinates: k rounded up to a multiple of 4 (the
    kernels take four coordinates per pass)."""
    return _round_up(k, 4)


def transpose_inputs(X: np.ndarray) -> np.ndarray:
    """Inputs (n, k) as ``XT`` (k', n), k' = :func:`transposed_rows` (k) with zero rows: the layout of the
    kernels (a trainer transposes a block of mini-batches once and passes sample ranges)."""
    X = _as_f64(X)
    return _padded(X.T, transposed_rows(X.shape[1]), X.shape[0])


def predict_transposed(P: np.ndarray, c: np.ndarray, XT: np.ndarray, s_first: int = 0,
                       n: int | None = None, serial: bool = False) -> np.ndarray:
    """:func:`relu_features_predict` on the samples ``s_first .. s_first+n-1`` of transposed inputs ``XT``
    (:func:`transpose_inputs`); no validation (internal layer). ``serial=True`` runs on the calling thread
    only, without a parallel region (safe on a worker thread; the same bits)."""
    n = XT.shape[1] - s_first if n is None else n
    rows = _round_up(P.shape[0], 4)
    B = np.empty((rows, XT.shape[0]))
    pad_rows(P, rows, XT.shape[0], B)
    w = np.zeros(rows)
    w[:P.shape[0]] = c * P[:, 0]
    out = np.empty(n)
    if serial:
        _predict_serial(B, w, XT, s_first, n, out)
        return out
    with serial_if_small(B.size * n):
        _predict_kernel(B, w, XT, s_first, n, out)
    return out


def potential_transposed(P: np.ndarray, XT: np.ndarray, g: np.ndarray, s_first: int = 0, with_grad: bool = True):
    """:func:`relu_features_potential` on the samples ``s_first .. s_first+len(g)-1`` of transposed inputs
    ``XT``; no validation (internal layer)."""
    N = P.shape[0]
    rows = _round_up(N, _BLOCK)
    B = np.empty((rows, XT.shape[0]))
    pad_rows(P, rows, XT.shape[0], B)
    SA = np.empty(rows)
    SB = np.empty(B.shape if with_grad else (0, B.shape[1]))
    with serial_if_small(2 * B.size * g.shape[0]):
        _potential_kernel(B, XT, g, s_first, bool(with_grad), SA, SB)
    J = np.empty(N)
    G = np.empty(P.shape if with_grad else (0, P.shape[1]))
    finish_potential(P, SA, SB, J, G)
    return J, (G if with_grad else None)


def potential_sums_transposed(P: np.ndarray, XT: np.ndarray, g: np.ndarray, s_first: int = 0):
    """The raw sums behind :func:`potential_transposed`: ``SA_p = sum_i g_i relu(b_p . x_i)`` (N,) and
    ``SB_p = sum_i g_i relu'(b_p . x_i) x_i`` (N, k') at the input weights ``b_p = P[p, 1:]`` (any vectors),
    over the samples ``s_first .. s_first+len(g)-1`` of ``XT``; no validation (internal layer)."""
    N = P.shape[0]
    rows = _round_up(N, _BLOCK)
    B = np.empty((rows, XT.shape[0]))
    pad_rows(P, rows, XT.shape[0], B)
    SA = np.empty(rows)
    SB = np.empty(B.shape)
    with serial_if_small(2 * B.size * g.shape[0]):
        _potential_kernel(B, XT, g, s_first, True, SA, SB)
    return SA[:N], SB[:N]


def features_transposed(P: np.ndarray, c: np.ndarray, XT: np.ndarray, s_first: int, n: int):
    """Predictor ``h`` (n,) of ``sum_j c_j delta_{P_j}`` on the samples ``s_first .. s_first+n-1`` (a
    mini-batch) of ``XT`` and the pre-activations ``Z`` (M', n) (M' = M rounded up to 4), for
    :func:`reduce_transposed`: the parallel counterpart of :func:`features_tile` (same bits); no validation."""
    rows = _round_up(P.shape[0], 4)
    B = np.empty((rows, XT.shape[0]))
    pad_rows(P, rows, XT.shape[0], B)
    w = np.zeros(rows)
    w[:P.shape[0]] = c * P[:, 0]
    Z = np.empty((rows, n))
    with serial_if_small(B.size * n):
        _features_kernel(B, XT, s_first, n, Z)
    h = np.empty(n)
    _sum_features(Z, w, n, h)
    return h, Z


def reduce_transposed(Z: np.ndarray, XT: np.ndarray, g: np.ndarray, s_first: int):
    """The raw sums ``SA`` (M',), ``SB`` (M', k') of :func:`potential_sums_transposed` at the rows whose
    pre-activations ``Z`` (from :func:`features_transposed`) holds: the parallel counterpart of
    :func:`reduce_features` (same bits; Z is overwritten); no validation."""
    SA = np.empty(Z.shape[0])
    SB = np.empty((Z.shape[0], XT.shape[0]))
    with serial_if_small(Z.size * XT.shape[0]):
        _reduce_kernel(Z, XT, g, s_first, True, SA, SB)
    return SA, SB


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
    return predict_transposed(P, c, transpose_inputs(X))


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
    return potential_transposed(P, transpose_inputs(X), g, 0, with_grad)


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
