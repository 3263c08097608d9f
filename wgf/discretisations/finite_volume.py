r"""The semi-discrete finite-volume operator of the Wasserstein–Fisher–Rao flow on a :class:`~wgf.geometry.grid.Grid`.

For cell masses ``m_i`` (densities ``rho_i = m_i / |V_i|``) and the potential ``J_i = J(eta_i | nu)`` at the
generators, the scheme is

.. math::

    \frac{d m_i}{dt} = -\sum_{j \sim i} F_{ij} - \alpha J_i m_i, \qquad
    F_{ij} = \beta\, T_{ij}\, (J_i - J_j)\, \rho_{ij}, \qquad T_{ij} = l_{ij} / d_{ij},

with ``rho_ij`` the upwind face density: the value of the cell that mass leaves (``i`` if ``J_i > J_j``:
mass flows down J). ``F_ij = -F_ji`` exactly in floating point, so transport conserves mass to round-off and
``d(sum m)/dt = -alpha sum_i J_i m_i``.

* ``scheme="upwind"``: ``rho_ij = rho_upwind`` (first order).
* ``scheme="muscl"``: ``rho_ij`` is the upwind cell's linear reconstruction at the face centre ``x_f``,
  ``rho_i + phi_i g_i . log_{eta_i}(x_f)``, with ``g_i`` the inverse-distance-weighted least-squares
  gradient in the tangent plane at ``eta_i`` and ``phi_i`` in [0, 1] a Barth–Jespersen limiter that keeps
  every face value of cell i within ``[max(0, min_{j ~ i} rho_j, rho_i), min(max_{j~i} rho_j, 2 rho_i)]``
  (on S^1 this is the MC limiter, and the cap ``2 rho_i`` is implied).

The operator sees only the weighted graph, so it is the same on S^1, S^2 and the Voronoi grids of S^3
(:mod:`wgf.geometry.voronoi_s3`). The MUSCL reconstruction generalises unchanged: the least-squares
gradient lives in the d-dimensional tangent space at ``eta_i``, written in R^{d+1} (the ``eta_i eta_i^T``
term below only removes the normal direction), and needs neighbour offsets spanning it, which a bounded
Voronoi cell always has (its at least d + 1 faces have normals spanning the tangent space). Its measured
order on S^3 is in tests/discretisations/test_eulerian_s3.py and benchmarks/README.md.

**Positivity (CFL).** One forward-Euler step gives
``m_i' >= m_i (1 - dt (r_i + alpha max(J_i, 0)))`` with ``r_i = (sum_{J_i > J_j} F_ij) / m_i`` the outflow
rate (inflows are nonnegative because face values are), so masses stay positive, by a factor at least
``1 - cfl``, when ``dt <= cfl / max_i (r_i + alpha J_i^+)``. For upwind ``r_i = beta sum_j T_ij
(J_i - J_j)^+ / |V_i|``; with MUSCL the face values are at most ``2 rho_i``, so ``r_i`` is at most twice that.

**Energy dissipation.** ``sum_i J_i dm_i/dt = -alpha sum_i J_i^2 m_i - sum_edges beta T_ij (J_i - J_j)^2
rho_ij <= 0``: the semi-discrete flow decreases F (see :mod:`wgf.discretisations.eulerian` for the time step bound that
keeps this after time discretisation, which uses the edge sum ``Lambda_T`` computed here).

Each kernel is Numba-compiled, parallel over chunks of cells from ``PARALLEL_MIN_CELLS`` cells on (every
output a sequential sum over its neighbours in a fixed order, so results do not depend on the thread count), with a NumPy reference beside it for tests.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from ..geometry.grid import Grid

__all__ = ["SCHEMES", "FiniteVolumeOperator"]

SCHEMES = ("upwind", "muscl")


# ---------------------------------------------------------------------- Numba kernels
#: Below this many cells the kernels run on one thread (thread start-up would dominate).
PARALLEL_MIN_CELLS = 65536
_CHUNK = 1024


@njit(cache=True)
def _muscl_faces_range(rho, offsets, nbr, coef, coef_offsets, face, i0, i1):  # pragma: no cover - compiled
    for i in range(i0, i1):
        s0 = offsets[i]
        k = offsets[i + 1] - s0
        ri = rho[i]
        rmax = ri
        rmin = ri
        for a in range(k):
            rj = rho[nbr[s0 + a]]
            if rj > rmax:
                rmax = rj
            if rj < rmin:
                rmin = rj
        upper = min(rmax, 2.0 * ri)
        lower = max(rmin, 0.0)
        c0 = coef_offsets[i]
        phi = 1.0
        for f in range(k):
            delta = 0.0
            for a in range(k):
                delta += coef[c0 + f * k + a] * (rho[nbr[s0 + a]] - ri)
            face[s0 + f] = delta
            if delta > 0.0:
                lim = (upper - ri) / delta
                if lim < phi:
                    phi = lim
            elif delta < 0.0:
                lim = (lower - ri) / delta
                if lim < phi:
                    phi = lim
        if phi < 0.0:
            phi = 0.0
        for f in range(k):
            v = ri + phi * face[s0 + f]
            face[s0 + f] = min(max(v, lower), upper)


@njit(cache=True, parallel=True)
def _muscl_faces_parallel(rho, offsets, nbr, coef, coef_offsets, face):  # pragma: no cover - compiled
    n = rho.shape[0]
    nc = (n + _CHUNK - 1) // _CHUNK
    for c in prange(nc):
        _muscl_faces_range(rho, offsets, nbr, coef, coef_offsets, face, c * _CHUNK, min(n, (c + 1) * _CHUNK))


@njit(cache=True)
def _transport_range(J, rho, face, use_face, offsets, nbr, reverse, trans, d2k, beta,
                     div, outflow, lam, i0, i1):  # pragma: no cover - compiled
    for i in range(i0, i1):
        acc = 0.0
        out = 0.0
        lt = 0.0
        Ji = J[i]
        for s in range(offsets[i], offsets[i + 1]):
            j = nbr[s]
            dJ = Ji - J[j]
            if dJ > 0.0:
                rf = face[s] if use_face else rho[i]
                F = beta * trans[s] * dJ * rf
                out += F
                lt += beta * trans[s] * rf * d2k[s]
            elif dJ < 0.0:
                rf = face[reverse[s]] if use_face else rho[j]
                F = beta * trans[s] * dJ * rf
            else:
                F = 0.0
            acc += F
        div[i] = acc
        outflow[i] = out
        lam[i] = lt


@njit(cache=True, parallel=True)
def _transport_parallel(J, rho, face, use_face, offsets, nbr, reverse, trans, d2k, beta,
                        div, outflow, lam):  # pragma: no cover - compiled
    n = J.shape[0]
    nc = (n + _CHUNK - 1) // _CHUNK
    for c in prange(nc):
        _transport_range(J, rho, face, use_face, offsets, nbr, reverse, trans, d2k, beta, div, outflow, lam,
                         c * _CHUNK, min(n, (c + 1) * _CHUNK))


def _muscl_faces_kernel(rho, offsets, nbr, coef, coef_offsets, face):
    n = rho.shape[0]
    if n >= PARALLEL_MIN_CELLS:
        _muscl_faces_parallel(rho, offsets, nbr, coef, coef_offsets, face)
    else:
        _muscl_faces_range(rho, offsets, nbr, coef, coef_offsets, face, 0, n)


def _transport_kernel(J, rho, face, use_face, offsets, nbr, reverse, trans, d2k, beta, div, outflow, lam):
    n = J.shape[0]
    if n >= PARALLEL_MIN_CELLS:
        _transport_parallel(J, rho, face, use_face, offsets, nbr, reverse, trans, d2k, beta, div, outflow, lam)
    else:
        _transport_range(J, rho, face, use_face, offsets, nbr, reverse, trans, d2k, beta, div, outflow, lam, 0, n)


class FiniteVolumeOperator:
    """Upwind (optionally MUSCL) two-point flux plus reaction on a fixed :class:`~wgf.geometry.grid.Grid`.

    Parameters
    ----------
    grid : Grid
    alpha, beta : float
        Reaction and transport coefficients (both >= 0; the positivity bound assumes alpha >= 0).
    scheme : {"upwind", "muscl"}
    edge_curvature : ndarray, shape (E,), optional
        ``K_ii + K_jj - 2 K_ij`` per edge (>= 0 for a positive semi-definite interaction), for the
        transport part ``Lambda_T`` of the energy-stability bound; zeros if omitted.
    """

    def __init__(self, grid: Grid, alpha: float = 4.0, beta: float = 1.0, scheme: str = "upwind",
                 edge_curvature: np.ndarray | None = None):
        if not isinstance(grid, Grid):
            raise ValueError(f"grid must be a wgf.geometry.grid.Grid, got {type(grid).__name__}")
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
        self.grid = grid
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.scheme = scheme
        csr = grid.csr()
        self.offsets = csr["offsets"]
        self.neighbours = csr["neighbours"]
        self.reverse = csr["reverse"]
        self.slot_edge = csr["edge"]
        self.slot_source = np.repeat(np.arange(grid.size), np.diff(self.offsets))
        self.trans = np.ascontiguousarray(grid.transmissibilities[self.slot_edge])
        if edge_curvature is None:
            edge_curvature = np.zeros(grid.edges.shape[0])
        self.d2k = np.ascontiguousarray(np.asarray(edge_curvature, dtype=np.float64)[self.slot_edge])
        if scheme == "muscl":
            self._setup_muscl()
        self._face = np.empty(self.neighbours.shape[0])

    # ------------------------------------------------------------------ reconstruction geometry
    def _setup_muscl(self):
        """Per cell i with neighbours j_1..j_k (CSR order): ``coef[f, a]`` such that the unlimited face
        increment is ``delta_f = sum_a coef[f, a] (rho_{j_a} - rho_i)``: ``coef[f, a] = r_f^T G^{-1} w_a r_a``,
        ``r`` the tangent offsets (log map), ``w_a = 1/|r_a|^2``, ``G = sum_a w_a r_a r_a^T + eta_i eta_i^T``
        (the added ``eta eta^T`` makes G invertible without changing the tangent-plane solution)."""
        g = self.grid
        to_nb, to_face = g.tangent_offsets()
        deg = np.diff(self.offsets)
        coef_offsets = np.zeros(g.size + 1, dtype=np.int64)
        np.cumsum(deg**2, out=coef_offsets[1:])
        coef = np.empty(coef_offsets[-1])
        for k in np.unique(deg):
            cells = np.nonzero(deg == k)[0]
            slots = self.offsets[cells][:, None] + np.arange(k)[None, :]     # (c, k)
            R = to_nb[slots]                                                  # (c, k, D)
            Rf = to_face[slots]
            w = 1.0 / np.sum(R * R, axis=2)                                   # (c, k)
            p = g.points[cells]
            G = np.einsum("ca,cai,caj->cij", w, R, R) + p[:, :, None] * p[:, None, :]
            Ginv_wR = np.linalg.solve(G, (w[:, :, None] * R).transpose(0, 2, 1))   # (c, D, k)
            C = np.einsum("cfi,cia->cfa", Rf, Ginv_wR)                        # (c, k, k)
            idx = coef_offsets[cells][:, None] + np.arange(k * k)[None, :]
            coef[idx] = C.reshape(len(cells), k * k)
        self.coef = coef
        self.coef_offsets = coef_offsets
        # the same as one sparse matrix (2E x 2E), for the NumPy reference
        rows, cols, vals = [], [], []
        for k in np.unique(deg):
            cells = np.nonzero(deg == k)[0]
            base = self.offsets[cells]
            f = np.arange(k)
            rr = (base[:, None, None] + f[None, :, None]) + 0 * f[None, None, :]
            cc = (base[:, None, None] + f[None, None, :]) + 0 * f[None, :, None]
            idx = coef_offsets[cells][:, None, None] + f[None, :, None] * k + f[None, None, :]
            rows.append(rr.ravel())
            cols.append(cc.ravel())
            vals.append(coef[idx].ravel())
        n2 = self.neighbours.shape[0]
        self._coef_matrix = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                          shape=(n2, n2))

    # ------------------------------------------------------------------ face values
    def face_values(self, rho: np.ndarray, backend: str = "numba") -> np.ndarray:
        """MUSCL face densities, one per directed edge slot (2E,): cell i's value at its face with j."""
        if self.scheme != "muscl":
            return rho[self.slot_source]
        if backend == "numba":
            face = np.empty(self.neighbours.shape[0])
            _muscl_faces_kernel(rho, self.offsets, self.neighbours, self.coef, self.coef_offsets, face)
            return face
        src = self.slot_source
        diff = rho[self.neighbours] - rho[src]
        delta = self._coef_matrix @ diff
        starts = self.offsets[:-1]
        rmax = np.maximum(rho, np.maximum.reduceat(rho[self.neighbours], starts))
        rmin = np.minimum(rho, np.minimum.reduceat(rho[self.neighbours], starts))
        upper = np.minimum(rmax, 2.0 * rho)[src]
        lower = np.maximum(rmin, 0.0)[src]
        ri = rho[src]
        with np.errstate(divide="ignore", invalid="ignore"):
            lim = np.where(delta > 0, (upper - ri) / delta, np.where(delta < 0, (lower - ri) / delta, 1.0))
        phi = np.clip(np.minimum.reduceat(np.minimum(lim, 1.0), starts), 0.0, 1.0)     # (n,)
        return np.clip(ri + phi[src] * delta, lower, upper)

    # ------------------------------------------------------------------ the operator
    def transport(self, masses: np.ndarray, J: np.ndarray, backend: str = "numba"):
        """Transport part of the operator.

        Parameters
        ----------
        masses : ndarray, shape (n,)
        J : ndarray, shape (n,)
            Potential at the generators.
        backend : {"numba", "numpy"}

        Returns
        -------
        div : ndarray, shape (n,)
            Net outflow ``sum_j F_ij`` (so ``dm/dt = -div - alpha J m``).
        outflow : ndarray, shape (n,)
            ``sum_{J_i > J_j} F_ij >= 0``, the mass leaving cell i per unit time.
        lam_T : float
            ``Lambda_T = sum_edges beta T_ij rho_ij (K_ii + K_jj - 2 K_ij)``, the trace bound of the
            transport part of the energy-stability bound (0 without ``edge_curvature``).
        """
        rho = masses / self.grid.volumes
        n = rho.shape[0]
        if backend == "numba":
            use_face = self.scheme == "muscl"
            face = self.face_values(rho, "numba") if use_face else self._face
            div = np.empty(n)
            out = np.empty(n)
            lam = np.empty(n)
            _transport_kernel(J, rho, face, use_face, self.offsets, self.neighbours, self.reverse, self.trans,
                              self.d2k, self.beta, div, out, lam)
            return div, out, float(lam.sum())
        if backend != "numpy":
            raise ValueError(f"backend must be 'numba' or 'numpy', got {backend!r}")
        face = self.face_values(rho, "numpy")
        src, dst = self.slot_source, self.neighbours
        dJ = J[src] - J[dst]
        rf = np.where(dJ > 0, face, face[self.reverse])
        F = np.where(dJ != 0, self.beta * self.trans * dJ * rf, 0.0)
        div = np.bincount(src, weights=F, minlength=n)
        pos = dJ > 0
        out = np.bincount(src[pos], weights=F[pos], minlength=n)
        lam = float(np.sum(self.beta * self.trans[pos] * rf[pos] * self.d2k[pos]))
        return div, out, lam

    def rhs(self, masses: np.ndarray, J: np.ndarray, backend: str = "numba") -> np.ndarray:
        """``dm/dt = -div - alpha J m``, shape (n,)."""
        div, _, _ = self.transport(masses, J, backend)
        return -div - self.alpha * J * masses

    def forward_euler_bound(self, masses: np.ndarray, J: np.ndarray, outflow: np.ndarray,
                            reaction: bool = True) -> float:
        """The largest forward-Euler step keeping every mass nonnegative:
        ``1 / max_i (outflow_i / m_i + alpha max(J_i, 0))`` (the reaction term omitted with
        ``reaction=False``, for a transport substep); inf when nothing moves."""
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(masses > 0, outflow / masses, 0.0)
        if reaction:
            rate = rate + self.alpha * np.maximum(J, 0.0)
        r = float(rate.max()) if rate.size else 0.0
        return np.inf if r <= 0.0 else 1.0 / r
