r"""Teacher–student regression with the population square loss and ReLU neurons.

A neuron ``eta = (a, b)`` on S^dx is the function ``x -> a relu(b . x)``; the teacher is the measure
``nu* = sum_k |w_k|^2 delta_{w_k/|w_k|}`` of neurons ``w_k = (a_k, b_k)`` (``y(x) = sum_k a_k relu(b_k.x)``,
no 1/m0 factor). With ``x ~ N(0, I_dx)`` (or uniform on S^{dx-1})

.. math::

    F(\nu) = \tfrac12 E_x[(h_\nu(x) - y(x))^2] + \lambda\,\nu(S^{d})
           = \tfrac12 \langle \nu - \nu^*, K(\nu - \nu^*)\rangle + \lambda\,\nu(S^d),

with ``K(eta, eta') = a a' kappa(b, b')`` the closed-form kernel of :mod:`wgf.models.relu_kernel`, and
``J(eta | nu) = K(nu - nu*)(eta) + lambda``.
"""

from __future__ import annotations

import numpy as np

from ..geometry.measure import Measure
from ..geometry.normals import standard_normal, standard_normal_transposed
from .base import QuadraticModel
from .relu_features import predict_transposed, relu_features_predict, transpose_inputs, transposed_rows
from .relu_kernel import relu_kernel_matrix, relu_potential, relu_potential_numpy

__all__ = ["TeacherStudent", "INPUT_DISTRIBUTIONS"]

INPUT_DISTRIBUTIONS = ("gaussian", "sphere")


class TeacherStudent(QuadraticModel):
    """Population square loss of a ReLU student against a ReLU teacher.

    Parameters
    ----------
    teacher : array_like, shape (m0, dx+1)
        Teacher neurons ``w_k = (a_k, b_k)``, not normalised; ``y(x) = sum_k a_k relu(b_k . x)``.
    inputs : {"gaussian", "sphere"}
        ``x ~ N(0, I_dx)`` or ``x`` uniform on S^{dx-1} (the kernel is then divided by dx).
    weight_decay : float
        lambda >= 0, adds ``lambda nu(S^d)`` to F (``lambda`` to J).

    Attributes
    ----------
    dim : int
        d = dx; the sphere is S^dx in R^{dx+1}.
    teacher_measure : Measure
        ``nu*``.
    """

    homogeneous_potential = True  # J(a, b) = lambda + a f(b), f 1-homogeneous (see wgf.analysis.certificate)

    def __init__(self, teacher, inputs: str = "gaussian", weight_decay: float = 0.0):
        try:
            w = np.asarray(teacher, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"teacher must be a numeric array of shape (m0, dx+1): {exc}") from None
        if w.ndim != 2 or w.shape[1] < 2 or w.shape[0] < 1:
            raise ValueError(f"teacher must have shape (m0, dx+1) with m0 >= 1 and dx >= 1, got {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError("teacher contains NaN or inf")
        if inputs not in INPUT_DISTRIBUTIONS:
            raise ValueError(f"inputs must be one of {INPUT_DISTRIBUTIONS}, got {inputs!r}")
        weight_decay = float(weight_decay)
        if not np.isfinite(weight_decay) or weight_decay < 0:
            raise ValueError(f"weight_decay must be finite and >= 0, got {weight_decay}")
        self.teacher = w
        self.inputs = inputs
        self.weight_decay = weight_decay
        self.dim = w.shape[1] - 1
        self.dx = self.dim
        self.scale = 1.0 if inputs == "gaussian" else 1.0 / self.dx
        self.teacher_measure = Measure.from_weights(w, scale=1.0)
        T = self.teacher_measure
        self._teacher_energy = 0.5 * float(T.masses @ self.interaction(T.points, T.points) @ T.masses)

    # ------------------------------------------------------------------ quadratic structure
    def interaction(self, P, Q):
        return relu_kernel_matrix(np.asarray(P, float), np.asarray(Q, float), self.scale)

    def apply_interaction(self, P, Q, c, block: int = 512):
        """``K c`` at points P by the streamed kernel (``block`` is unused)."""
        return relu_potential(np.asarray(P, float), np.asarray(Q, float), np.asarray(c, float), self.scale,
                              with_grad=False)[0]

    def potential_cost(self, n_points: int, n_atoms: int) -> float:
        """Two-dimensional inputs: ``O((N + M) log M)`` (sorted angular sums, :mod:`wgf.models.relu_kernel_planar`);
        otherwise ``N M``."""
        m = n_atoms + len(self.teacher)
        if self.dim == 2:
            return float(n_points + m) * float(np.log2(m + 2.0))
        return float(n_points) * float(m)

    def linear_potential(self, points):
        T = self.teacher_measure
        J, _ = relu_potential(points, T.points, -T.masses, self.scale, with_grad=False)
        return J + self.weight_decay

    @property
    def energy_constant(self) -> float:
        return self._teacher_energy

    # ------------------------------------------------------------------ model interface
    def _signed_atoms(self, measure: Measure):
        T = self.teacher_measure
        Q = np.concatenate([measure.points, T.points])
        c = np.concatenate([measure.masses, -T.masses])
        return Q, c

    def _potential(self, points, measure, backend):
        Q, c = self._signed_atoms(measure)
        if backend == "numba":
            J, G = relu_potential(points, Q, c, self.scale)
        else:
            J, G = relu_potential_numpy(points, Q, c, self.scale)
        return J + self.weight_decay, G

    def energy(self, measure: Measure) -> float:
        """``F(nu) = 1/2 <nu - nu*, K (nu - nu*)> + lambda nu(S^d)``."""
        self.check_measure(measure)
        Q, c = self._signed_atoms(measure)
        Kc, _ = relu_potential(Q, Q, c, self.scale, with_grad=False)
        return 0.5 * float(c @ Kc) + self.weight_decay * measure.total_mass

    def potential_lipschitz(self, measure: Measure) -> float:
        """A bound ``L >= sup |grad_S J(.|nu)|`` on the sphere: the smaller of two.

        (i) Kernel bound: ``scale * sum_j |c_j| |a_j| |b_j| / 2`` over the atoms of ``nu - nu*``, since per
        atom ``|d_a K| <= |b| |a'||b'|/2`` (``kappa <= |b||b'|/2``) and ``|grad_b K| <= |a| |a'||b'|/2``
        (``(pi - t) + sin t <= pi``), so ``|grad K| <= |a'||b'|/2``. It does not shrink as nu -> nu*.

        (ii) Residual bound: ``sqrt(scale * R(nu))`` with ``R = F - lambda nu(S^d) = E[r^2]/2`` the risk of
        the residual ``r = h_nu - y``. Indeed ``J(a, b) - lambda = a f(b)`` with
        ``f(b) = E[relu(b.x) r(x)]`` and ``grad f(b) = E[1{b.x > 0} x r(x)]``; by Cauchy–Schwarz and the
        symmetry ``x -> -x`` of the input law, ``|f(b)| <= |b| (E relu(u.x)^2)^{1/2} ||r||`` and
        ``|v . grad f| <= (E[1{b.x>0} (v.x)^2])^{1/2} ||r||`` with both second moments ``= scale/2``
        (``E (v.x)^2`` is 1 for Gaussian inputs, ``1/dx`` on the sphere), so the Euclidean gradient
        ``(f(b), a grad f(b))`` has norm at most ``(a^2 + |b|^2)^{1/2} ||r|| (scale/2)^{1/2}``, i.e.
        ``sqrt(scale R)`` on the unit sphere, and the tangential gradient is shorter still (J is
        Lipschitz across the kinks and the poles, where it is not differentiable). This bound tends to 0
        with R. R is computed by cancellation, so a round-off allowance ``(2N + 16) eps scale S^2 / 2``
        (the error bound of the sums ``c . K c``, ``S = sum_j |c_j||a_j||b_j|``) is added to it.
        """
        self.check_measure(measure)
        Q, c = self._signed_atoms(measure)
        S = float(np.sum(np.abs(c) * np.abs(Q[:, 0]) * np.linalg.norm(Q[:, 1:], axis=1)))
        kernel_bound = 0.5 * self.scale * S
        risk = self.energy(measure) - self.weight_decay * measure.total_mass
        roundoff = (2 * len(c) + 16) * np.finfo(np.float64).eps * 0.5 * self.scale * S * S
        residual_bound = float(np.sqrt(self.scale * (max(risk, 0.0) + roundoff)))
        return min(kernel_bound, residual_bound)

    def minimiser_mass_bound(self, measure: Measure, energy: float | None = None) -> float:
        """Bound on the mass of some minimiser: the teacher's mass when lambda = 0 (nu* minimises, F* = 0);
        ``F(nu)/lambda`` with weight decay (R >= 0)."""
        if self.weight_decay == 0.0:
            return self.teacher_measure.total_mass
        F = self.energy(measure) if energy is None else energy
        return F / self.weight_decay

    def predict(self, measure: Measure, x) -> np.ndarray:
        """Predictor ``h_nu(x) = sum_j m_j a_j relu(b_j . x)`` at inputs x (n, dx); returns (n,).

        Streamed over the inputs by :func:`wgf.models.relu_features.relu_features_predict`."""
        self.check_measure(measure)
        try:
            x = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"inputs must be a numeric array of shape (n, {self.dx}): {exc}") from None
        if x.ndim != 2 or x.shape[1] != self.dx:
            raise ValueError(f"inputs must have shape (n, {self.dx}), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("inputs contain NaN or inf")
        return relu_features_predict(measure.points, measure.masses, x)

    def target(self, x) -> np.ndarray:
        """Teacher output ``y(x) = sum_k a_k relu(b_k . x)`` at inputs x (n, dx)."""
        return self.predict(self.teacher_measure, x)

    def sample_inputs(self, n: int, rng=None) -> np.ndarray:
        """``n`` inputs from the input distribution, shape (n, dx)."""
        rng = np.random.default_rng(rng)
        x = standard_normal(rng, (n, self.dx))
        if self.inputs == "sphere":
            x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x

    def sample_training_block(self, n: int, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` fresh inputs in the layout of :mod:`wgf.models.relu_features`, with the teacher's outputs.

        The same numbers as ``X = sample_inputs(n, rng)`` followed by ``transpose_inputs(X)`` and
        ``target(X)``, and ``rng`` left in the same state, but Gaussian inputs are drawn straight into the
        transposed layout and the outputs are computed on the calling thread without a parallel region, so
        that a trainer can prepare its next block of mini-batches on a worker thread.

        Returns
        -------
        XT : ndarray, shape (dx', n)
            The inputs as columns, dx' = dx rounded up to a multiple of 4 with zero rows.
        y : ndarray, shape (n,)
            Teacher outputs ``y(x_i)``.
        """
        rng = np.random.default_rng(rng)
        if self.inputs == "gaussian":
            XT = standard_normal_transposed(rng, n, self.dx, transposed_rows(self.dx))
        else:
            XT = transpose_inputs(self.sample_inputs(n, rng))
        teacher = self.teacher_measure
        return XT, predict_transposed(teacher.points, teacher.masses, XT, serial=True)

    def distance(self, mu: Measure, nu: Measure) -> float:
        """Exact predictor distance ``||h_mu - h_nu||_{L2(inputs)} = <mu - nu, K(mu - nu)>^{1/2}``."""
        self.check_measure(mu)
        self.check_measure(nu)
        Q = np.concatenate([mu.points, nu.points])
        c = np.concatenate([mu.masses, -nu.masses])
        # K mu and K nu evaluated separately, then subtracted: for nu == mu the two are bit-identical, so
        # the distance is exactly 0 (one sum over the signed masses would leave round-off of either sign)
        K_mu, _ = relu_potential(Q, mu.points, mu.masses, self.scale, with_grad=False)
        K_nu, _ = relu_potential(Q, nu.points, nu.masses, self.scale, with_grad=False)
        return float(np.sqrt(max(0.0, c @ (K_mu - K_nu))))
