"""Discrete nonnegative measures on the sphere: ``nu = sum_k m_k delta_{eta_k}``.

All three discretisations of wgf (grid cells, Lagrangian particles, network neurons) are represented by
a :class:`Measure`, so the kernel layer only ever sees points and masses.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Measure", "UNIT_NORM_TOL"]

#: Tolerance on ``| |eta| - 1 |`` accepted for a point of the sphere.
UNIT_NORM_TOL = 1e-8


def as_points(points, name: str = "points", dim: int | None = None) -> np.ndarray:
    """Validate an array of points of S^d: shape (N, d+1), finite, unit norm within ``UNIT_NORM_TOL``."""
    try:
        p = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array of shape (N, d+1): {exc}") from None
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"{name} must have shape (N, d+1) with d >= 1, got shape {p.shape}")
    if dim is not None and p.shape[1] != dim + 1:
        raise ValueError(
            f"{name} live in R^{p.shape[1]} (S^{p.shape[1] - 1}) but the model is on S^{dim} "
            f"(points of length {dim + 1})"
        )
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} contain NaN or inf")
    err = np.abs(np.linalg.norm(p, axis=1) - 1.0)
    if p.shape[0] and err.max() > UNIT_NORM_TOL:
        k = int(err.argmax())
        raise ValueError(
            f"{name} must be unit vectors: row {k} has norm {np.linalg.norm(p[k]):.12g} "
            f"(tolerance {UNIT_NORM_TOL:g}); normalise them with wgf.geometry.sphere.normalize"
        )
    return np.ascontiguousarray(p)


class Measure:
    """A finite nonnegative discrete measure ``nu = sum_k m_k delta_{eta_k}`` on S^d.

    Parameters
    ----------
    points : array_like, shape (N, d+1)
        Atom locations, unit vectors (checked to ``UNIT_NORM_TOL``).
    masses : array_like, shape (N,)
        Finite nonnegative masses ``m_k``.

    Notes
    -----
    A two-layer network ``h(x) = (1/m) sum_j Psi(w_j)(x)`` with a positively 2-homogeneous ``Psi`` is the
    measure ``(1/m) sum_j |w_j|^2 delta_{w_j / |w_j|}`` (:meth:`from_weights`).
    """

    __slots__ = ("points", "masses")

    def __init__(self, points, masses):
        p = as_points(points)
        try:
            m = np.asarray(masses, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"masses must be a numeric array of shape (N,): {exc}") from None
        if m.ndim != 1 or m.shape[0] != p.shape[0]:
            raise ValueError(f"masses must have shape ({p.shape[0]},) to match points {p.shape}, got {m.shape}")
        if not np.all(np.isfinite(m)):
            raise ValueError("masses contain NaN or inf")
        if np.any(m < 0):
            k = int(np.argmin(m))
            raise ValueError(f"masses must be nonnegative: masses[{k}] = {m[k]:.6g}")
        self.points = p
        self.masses = np.ascontiguousarray(m)

    # ------------------------------------------------------------------ properties
    @property
    def dim(self) -> int:
        """Dimension d of the sphere S^d."""
        return self.points.shape[1] - 1

    @property
    def size(self) -> int:
        """Number of atoms N."""
        return self.points.shape[0]

    @property
    def total_mass(self) -> float:
        """``nu(S^d) = sum_k m_k``."""
        return float(self.masses.sum())

    def integrate(self, values: np.ndarray) -> float:
        """``int f dnu = sum_k m_k f(eta_k)`` for values (N,) of f at the atoms."""
        return float(np.dot(self.masses, values))

    def balance(self) -> float:
        """``Q(nu) = int (eta_0^2 - |eta_{1:}|^2) dnu``: for a network, ``(1/m) sum_j a_j^2 - |b_j|^2``.

        Conserved by the flow when alpha = 4 beta (each neuron's ``a^2 - |b|^2`` is constant under
        gradient flow); its drift on a grid is an error indicator."""
        p = self.points
        return float(self.masses @ (2.0 * p[:, 0] ** 2 - 1.0))

    def copy(self) -> "Measure":
        return Measure(self.points.copy(), self.masses.copy())

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"Measure(N={self.size}, d={self.dim}, mass={self.total_mass:.6g})"

    # ------------------------------------------------------------------ networks
    @classmethod
    def from_weights(cls, weights, scale: float | None = None) -> "Measure":
        """Measure of a 2-homogeneous network with neurons ``w_j`` (m, d+1):
        ``nu = scale * sum_j |w_j|^2 delta_{w_j/|w_j|}``, ``scale = 1/m`` by default (mean-field scaling);
        use ``scale=1`` for a teacher ``y = sum_k a_k relu(b_k . x)``. Zero neurons get mass 0."""
        try:
            w = np.asarray(weights, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"weights must be a numeric array of shape (m, d+1): {exc}") from None
        if w.ndim != 2 or w.shape[1] < 2:
            raise ValueError(f"weights must have shape (m, d+1) with d >= 1, got {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError("weights contain NaN or inf")
        if scale is None:
            scale = 1.0 / max(w.shape[0], 1)
        r = np.linalg.norm(w, axis=1)
        pts = np.zeros_like(w)
        pts[:, 0] = 1.0
        nz = r > 0
        pts[nz] = w[nz] / r[nz, None]
        return cls(pts, scale * r**2)

    def to_weights(self, m: int | None = None) -> np.ndarray:
        """Inverse of :meth:`from_weights` with ``scale = 1/m``: neurons ``w_j = sqrt(m m_j) eta_j``,
        shape (N, d+1). ``m`` defaults to N."""
        m = self.size if m is None else m
        return np.sqrt(m * self.masses)[:, None] * self.points
