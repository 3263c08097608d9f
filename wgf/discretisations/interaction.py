r"""The dense interaction of a quadratic model on a grid: ``K_ij = k(x_i, x_j)`` between cell generators.

For a :class:`~wgf.models.base.QuadraticModel` the potential on the grid is ``J = K m + linear`` with the
cells' masses ``m`` (n,), so the Eulerian solver needs the product ``K m`` at every stage
(:class:`DenseInteraction`: the matrix (n, n) stored once, in float64 or float32, its product by a
single-threaded Numba loop below :data:`BLAS_MIN_CELLS` cells and by BLAS ``dsymv`` above), the diagonal
and the edge curvatures of ``K`` (``_pairwise_interaction``, streamed when the matrix is not stored),
and a bound on the reaction's stiffness ``lambda_max(diag(m)^(1/2) K diag(m)^(1/2))`` at a reference state
(:func:`lanczos_lambda_bound`). :class:`~wgf.discretisations.eulerian.EulerianSolver` explains how they set
its energy-stability step bound.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from scipy.linalg.blas import dsymv as _dsymv

from ..models.base import QuadraticModel

__all__ = ["DenseInteraction", "lanczos_lambda_bound", "BLAS_MIN_CELLS"]


#: Below this many cells the float64 ``K m`` is a single-threaded Numba loop (multithreaded BLAS on small
#: matrices loses more to thread synchronisation than it gains, badly so on a busy machine).
BLAS_MIN_CELLS = 4096


@njit(cache=True, fastmath={"reassoc", "contract"})
def _matvec_rows(K, m, out, i0, i1):  # pragma: no cover - compiled
    """``out[i] = sum_j K[i, j] m[j]`` for ``i0 <= i < i1``, float64 accumulation. The sum may be reassociated
    so that it vectorises (2.3x faster with float64 storage, 4.3x with float32, at 2562 cells): each row's
    order is then fixed by the compiled loop, the same on every call and for every thread count."""
    for i in range(i0, i1):
        acc = 0.0
        for j in range(K.shape[1]):
            acc += np.float64(K[i, j]) * m[j]
        out[i] = acc


@njit(cache=True, parallel=True)
def _matvec_parallel(K, m, out):  # pragma: no cover - compiled
    n = K.shape[0]
    nc = (n + 255) // 256
    for c in prange(nc):
        _matvec_rows(K, m, out, c * 256, min(n, (c + 1) * 256))


def _matvec_kernel(K, m, out):
    """``out = K m`` with float64 accumulation (float32 or float64 storage), each row summed by one thread
    in the order of :func:`_matvec_rows`: the result does not depend on the thread count."""
    if K.shape[0] >= BLAS_MIN_CELLS:
        _matvec_parallel(K, m, out)
    else:
        _matvec_rows(K, m, out, 0, K.shape[0])


class DenseInteraction:
    """The precomputed symmetric interaction ``K_ij = K(eta_i, eta_j)`` on a fixed point set.

    Parameters
    ----------
    model : QuadraticModel
    points : ndarray, shape (n, d+1)
    dtype : {"float64", "float32"}
        Storage precision; products are always accumulated in float64. float64 uses BLAS for ``K m``.
    block : int
        Rows per call of ``model.interaction`` while building.
    """

    def __init__(self, model: QuadraticModel, points: np.ndarray, dtype: str = "float64", block: int = 512):
        n = points.shape[0]
        self.dtype = np.dtype(dtype)
        K = np.empty((n, n), dtype=self.dtype)
        # upper block triangle from the model (half the kernel evaluations), mirrored; the diagonal
        # blocks are symmetrised (round-off asymmetry of the model's formula)
        for s in range(0, n, block):
            rows = model.interaction(points[s:s + block], points[s:])
            d = rows[:, :block]
            rows[:, :block] = 0.5 * (d + d.T)
            K[s:s + block, s:] = rows
            K[s + block:, s:s + block] = rows[:, block:].T
        self.K = K
        self.diag = np.diagonal(K).astype(np.float64)

    @property
    def nbytes(self) -> int:
        return self.K.nbytes

    def matvec(self, m: np.ndarray) -> np.ndarray:
        """``K m`` in float64, shape (n,). float64 storage from ``BLAS_MIN_CELLS`` cells on: BLAS ``dsymv``
        (reads one triangle, half the memory traffic of a general matrix–vector product; deterministic
        for a fixed BLAS thread count, which bit-for-bit resume on one machine needs); otherwise a Numba
        kernel with float64 accumulation (parallel over rows from ``BLAS_MIN_CELLS`` cells on), independent
        of the thread count."""
        if self.dtype == np.float64 and m.shape[0] >= BLAS_MIN_CELLS:
            return _dsymv(1.0, self.K.T, m)      # K.T is the Fortran-ordered view of the symmetric K
        out = np.empty(m.shape[0])
        _matvec_kernel(self.K, m, out)
        return out

    def matvec_numpy(self, m: np.ndarray) -> np.ndarray:
        """Reference ``K m`` (float64 product of the stored matrix), for tests."""
        return self.K.astype(np.float64) @ m

    def edge_curvature(self, edges: np.ndarray) -> np.ndarray:
        i, j = edges[:, 0], edges[:, 1]
        return np.maximum(self.diag[i] + self.diag[j] - 2.0 * self.K[i, j].astype(np.float64), 0.0)


def lanczos_lambda_bound(matvec, masses: np.ndarray, diag: np.ndarray, steps: int = 12) -> float:
    """Guaranteed upper bound on ``lambda_max(A)``, ``A = M^{1/2} K M^{1/2}``, for a positive semi-definite K.

    ``k`` Lanczos steps (full reorthogonalisation, start ``sqrt(m)``) give Ritz values
    ``theta_1 >= ... >= theta_k`` with ``theta_i <= lambda_i`` (Cauchy interlacing), and every eigenvalue is
    >= 0, so ``lambda_1 = tr A - sum_{i >= 2} lambda_i <= tr A - sum_{i=2}^k max(theta_i, 0)`` with
    ``tr A = sum_i m_i K_ii``. Tight when the spectrum is dominated by a few eigenvalues (masses gathered
    in a few clusters). A relative margin of ``1e-12`` covers the round-off of the Ritz values.

    Parameters
    ----------
    matvec : callable ``v -> K v``
    masses, diag : ndarray, shape (n,)
        ``m`` and ``K_ii``.
    steps : int
    """
    m = np.maximum(masses, 0.0)
    trace = float(m @ diag)
    if trace <= 0.0:
        return 0.0
    s = np.sqrt(m)
    v = s / np.linalg.norm(s)
    V = np.zeros((steps, m.shape[0]))
    a_list, b_list = [], []
    for j in range(steps):
        V[j] = v
        w = s * matvec(s * v)
        a = float(v @ w)
        a_list.append(a)
        for _ in range(2):
            w -= V[:j + 1].T @ (V[:j + 1] @ w)
        b = float(np.linalg.norm(w))
        if j == steps - 1 or b <= 1e-13 * trace:
            break
        b_list.append(b)
        v = w / b
    k = len(a_list)
    T = np.diag(a_list) + np.diag(b_list[:k - 1], 1) + np.diag(b_list[:k - 1], -1)
    theta = np.sort(np.linalg.eigvalsh(T))[::-1]
    bound = trace - float(np.sum(np.maximum(theta[1:], 0.0)))
    bound = max(bound, float(theta[0])) * (1.0 + 1e-12) + 1e-15 * trace
    return min(bound, trace)


def _pairwise_interaction(model: QuadraticModel, points: np.ndarray, edges: np.ndarray, block: int = 256):
    """Diagonal ``K_ii`` (n,) and edge curvature ``K_ii + K_jj - 2 K_ij`` (E,) without storing K."""
    n = points.shape[0]
    diag = np.empty(n)
    for s in range(0, n, block):
        P = points[s:s + block]
        diag[s:s + block] = np.diagonal(model.interaction(P, P))
    kij = np.empty(edges.shape[0])
    order = np.argsort(edges[:, 0], kind="stable")
    for s in range(0, len(order), block):
        idx = order[s:s + block]
        rows = np.unique(edges[idx, 0])
        cols = np.unique(edges[idx, 1])
        Kb = model.interaction(points[rows], points[cols])
        kij[idx] = Kb[np.searchsorted(rows, edges[idx, 0]), np.searchsorted(cols, edges[idx, 1])]
    i, j = edges[:, 0], edges[:, 1]
    return diag, np.maximum(diag[i] + diag[j] - 2.0 * kij, 0.0)
