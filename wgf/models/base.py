"""The interface every model implements: a functional F over nonnegative measures on S^d.

A model knows nothing of how ``nu`` is discretised: it sees a :class:`~wgf.geometry.measure.Measure` (points and
masses) and evaluation points, and returns the first variation (the potential) ``J(eta | nu)`` with its
tangential gradient, and the objective ``F(nu)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..geometry.measure import Measure, as_points

__all__ = ["Model", "QuadraticModel", "BACKENDS"]

#: Implementations of the kernels: the compiled one and the plain NumPy reference kept for tests.
BACKENDS = ("numba", "numpy")


class Model(ABC):
    """A convex objective ``F(nu) = R(h_nu) + lambda nu(S^d)`` over nonnegative measures on S^d.

    Subclasses set ``dim`` (d) and ``weight_decay`` (lambda) and implement ``_potential`` and
    :meth:`energy`.

    ``homogeneous_potential`` is True for two-layer ReLU models (``Psi(a, b) = a relu(b . x)``), whose
    potential is ``J(a, b) = lambda + a f(b)`` with ``f`` positively 1-homogeneous: J is then odd in ``a``
    about lambda and its minimum over S^d is a maximum over S^{d-1} (:mod:`wgf.analysis.certificate`).

    Optional, for online SGD (:class:`~wgf.discretisations.network.NetworkTrainer` with ``method="sgd"``): a model that
    samples fresh data has ``sample_inputs(n, rng)`` (inputs (n, dx)) and ``target(x)`` (outputs (n,)), and
    may add ``sample_training_block(n, rng)`` returning the same data already in the kernels' layout,
    ``(transpose_inputs(X), target(X))``, without parallel regions (see
    :meth:`~wgf.models.TeacherStudent.sample_training_block`).
    """

    dim: int
    weight_decay: float = 0.0
    homogeneous_potential: bool = False

    # ------------------------------------------------------------------ validation
    def check_measure(self, measure: Measure) -> Measure:
        if not isinstance(measure, Measure):
            raise ValueError(f"expected a wgf.Measure, got {type(measure).__name__}")
        if measure.dim != self.dim:
            raise ValueError(
                f"dimension mismatch: the measure lives on S^{measure.dim} but {type(self).__name__} "
                f"is a model on S^{self.dim}"
            )
        return measure

    def check_points(self, points) -> np.ndarray:
        return as_points(points, name="evaluation points", dim=self.dim)

    @staticmethod
    def check_backend(backend: str) -> str:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        return backend

    # ------------------------------------------------------------------ interface
    def potential(self, points, measure: Measure, backend: str = "numba"):
        """First variation ``J(eta | nu)`` and its tangential gradient at ``points``.

        Parameters
        ----------
        points : array_like, shape (N, d+1)
            Evaluation points on S^d.
        measure : Measure
            The measure ``nu`` (atoms on S^d).
        backend : {"numba", "numpy"}
            Compiled kernel or NumPy reference.

        Returns
        -------
        J : ndarray, shape (N,)
        gradJ : ndarray, shape (N, d+1)
            ``(I - eta eta^T) nabla J``, tangent to the sphere.
        """
        P = self.check_points(points)
        self.check_measure(measure)
        return self._potential(P, measure, self.check_backend(backend))

    @abstractmethod
    def _potential(self, points: np.ndarray, measure: Measure, backend: str):
        ...

    @abstractmethod
    def energy(self, measure: Measure) -> float:
        """The objective ``F(nu)``."""

    def potential_cost(self, n_points: int, n_atoms: int) -> float:
        """Rough number of kernel evaluations of one :meth:`potential` call with ``n_points`` evaluation
        points and ``n_atoms`` atoms; solvers compare it with ``n_points * n_atoms`` (a dense product) to
        decide whether precomputing an interaction matrix pays. Default: ``n_points * n_atoms``."""
        return float(n_points) * float(n_atoms)

    def predict(self, measure: Measure, x) -> np.ndarray:
        """The predictor ``h_nu`` at inputs ``x`` (models where it means something override this)."""
        raise NotImplementedError(f"{type(self).__name__} has no predictor")

    def distance(self, mu: Measure, nu: Measure) -> float:
        """Predictor distance ``||h_mu - h_nu||_F`` in the model's space of predictors."""
        raise NotImplementedError(f"{type(self).__name__} defines no predictor distance")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(d={self.dim}, weight_decay={self.weight_decay})"


class QuadraticModel(Model):
    """A model whose objective is quadratic in the measure:

    ``F(nu) = 1/2 <nu, K nu> + <nu, V> + C``, so ``J(eta | nu) = (K nu)(eta) + V(eta)``.

    Solvers on a fixed set of points may precompute ``K`` between them (:meth:`interaction`) and ``V``
    (:meth:`linear_potential`) instead of calling the kernels at every step.
    """

    @abstractmethod
    def interaction(self, P: np.ndarray, Q: np.ndarray) -> np.ndarray:
        """Interaction matrix ``K(eta_i, eta'_j)``, shape (N, M)."""

    def apply_interaction(self, P: np.ndarray, Q: np.ndarray, c: np.ndarray, block: int = 512) -> np.ndarray:
        """``(K c)(p_i) = sum_j K(p_i, q_j) c_j`` at points P (N, d+1) for atoms Q (M, d+1) and weights c (M,),
        shape (N,), without holding the (N, M) matrix: rows are formed ``block`` at a time. Models with a
        kernel that streams (or is faster) override this."""
        out = np.empty(len(P))
        for s in range(0, len(P), block):
            out[s:s + block] = self.interaction(P[s:s + block], Q) @ c
        return out

    @abstractmethod
    def linear_potential(self, points: np.ndarray) -> np.ndarray:
        """``V(eta)`` at points (N, d+1), weight decay included, shape (N,)."""

    @property
    @abstractmethod
    def energy_constant(self) -> float:
        """``C = F(0)``."""
