r"""A linear objective: ``F(nu) = int V dnu`` with ``V(eta) = -<e, eta>``.

The first variation does not depend on ``nu``: ``J(eta) = V(eta) = -<e, eta>`` and its tangential
gradient is ``grad_S J = -(I - eta eta^T) e``. Mass flows towards ``e`` along great circles and grows
where ``<e, eta> > 0``; the flow has the closed-form solution of :mod:`wgf.analysis.exact`, which makes this model
the exact-solution test case of the grid solver (and, with beta = 0, of the pure reaction flow).

It is a :class:`~wgf.models.base.QuadraticModel` with zero interaction ``K = 0``.
"""

from __future__ import annotations

import numpy as np

from ..geometry.measure import Measure
from .base import QuadraticModel

__all__ = ["LinearPotential"]


class LinearPotential(QuadraticModel):
    """``F(nu) = -int <e, eta> dnu(eta)`` on S^d.

    Parameters
    ----------
    direction : array_like, shape (d+1,)
        The vector ``e`` (normalised to a unit vector; must be nonzero), d >= 1.
    """

    def __init__(self, direction):
        try:
            e = np.asarray(direction, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"direction must be a numeric vector of length d+1: {exc}") from None
        if e.ndim != 1 or e.shape[0] < 2:
            raise ValueError(f"direction must be a vector of length d+1 >= 2, got shape {e.shape}")
        nrm = float(np.linalg.norm(e))
        if not np.isfinite(nrm) or nrm == 0.0:
            raise ValueError(f"direction must be finite and nonzero, got {direction!r}")
        self.direction = e / nrm
        self.dim = e.shape[0] - 1
        self.weight_decay = 0.0

    # ------------------------------------------------------------------ quadratic structure
    def interaction(self, P, Q):
        return np.zeros((np.shape(P)[0], np.shape(Q)[0]))

    def apply_interaction(self, P, Q, c, block: int = 512):
        """``K c = 0`` (K = 0), shape (N,), without forming zero blocks of K."""
        return np.zeros(np.shape(P)[0])

    def linear_potential(self, points):
        return -np.asarray(points, dtype=np.float64) @ self.direction

    @property
    def energy_constant(self) -> float:
        return 0.0

    # ------------------------------------------------------------------ model interface
    def _potential(self, points, measure, backend):
        J = -points @ self.direction
        G = -(self.direction[None, :] + J[:, None] * points)   # -(e - <e, eta> eta)
        return J, G

    def energy(self, measure: Measure) -> float:
        self.check_measure(measure)
        return float(measure.masses @ self.linear_potential(measure.points))

    def __repr__(self) -> str:
        return f"LinearPotential(direction={self.direction.tolist()})"
