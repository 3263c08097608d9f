r"""Sparse spike deconvolution (BLASSO over nonnegative measures) on S^1 and S^2.

A nonnegative measure ``nu`` on S^d (d = 1, 2) is observed through a band-limited linear measurement
operator ``Phi: nu -> R^k``, ``Phi nu = int phi(x) dnu(x)``, with real measurement vectors

* S^1 (cutoff frequency ``fc``, k = 2 fc + 1): ``phi(x) = sqrt(s) [1, sqrt2 cos(j th), sqrt2 sin(j th)]``,
  j = 1..fc, at ``x = (cos th, sin th)``: the real form of the Fourier coefficients
  ``int e^{-ij th} dnu``, ``|j| <= fc`` (same Euclidean norm);
* S^2 (degree ``L``, k = (L+1)^2): ``phi(x) = sqrt(s) [Y_lm(x)]``, l <= L, the real orthonormal spherical
  harmonics (:func:`wgf.models.spike_kernels.real_spherical_harmonics`).

The data are ``y = Phi nu0 + e`` for a spike train ``nu0 = sum_k w_k delta_{x_k}`` (``w_k > 0``) and an
optional noise vector ``e``; the objective, with weight decay ``lambda > 0``, is

.. math::

    F(\nu) = \tfrac12 \|\Phi\nu - y\|^2 + \lambda\,\nu(S^d)
           = \tfrac12 \langle \nu, K\nu\rangle - \langle \nu, \Phi^* y\rangle + \lambda\,\nu(S^d)
             + \tfrac12 \|y\|^2,

with the zonal kernel ``K(x, x') = phi(x) . phi(x')``:

* S^1: ``K = s D_fc(th - th')``, ``D_fc(u) = sum_{|j| <= fc} e^{iju} = 1 + 2 sum_{j=1}^{fc} cos(ju)``;
* S^2: ``K = s sum_{l <= L} (2l+1)/(4 pi) P_l(x . x')`` (addition theorem).

The potential is ``J(eta | nu) = K(nu - nu0)(eta) - (Phi^* e)(eta) + lambda``.

Normalisation (``normalization=``):

* ``"fourier"`` (default): ``s = 1``. On S^1 the measurements are the plain Fourier coefficients and
  ``K = D_fc`` with ``K(x, x) = 2 fc + 1``: the kernel of Chizat's (2019) deconvolution experiments
  (``phi(u) = sum_{|k| <= fc} e^{iku}``, fc = 8, lambda = 0.3, m0 = 5 spikes). On S^2 the measurements are
  the coefficients in an L2-orthonormal basis and ``K(x, x) = (L+1)^2 / (4 pi)``.
* ``"unit"``: ``s = 1/(2 fc + 1)`` on S^1, ``s = 4 pi/(L+1)^2`` on S^2, so ``K(x, x) = 1``. Without
  noise the objective is ``s`` times the ``"fourier"`` one with ``lambda / s`` in place of ``lambda``:
  same minimisers for rescaled lambda, flow time scaled by ``s``. (Chizat's lambda = 0.3 with ``D_8`` is
  lambda = 0.3/17 here.)

An isolated spike of weight ``w`` is recovered with amplitude about ``w - lambda / K(x, x)``.

Noise. ``e`` lives in the real measurement representation: ``noise=sigma`` draws ``e ~ N(0, sigma^2 I_k)``
(each real coordinate; on S^1 the real and imaginary parts of ``e_hat(j)``, j > 0, then have variance
``sigma^2/2``); an array of shape (k,) is used as given. ``Phi^* e`` is a band-limited function; it is
represented exactly as ``K eps`` of a signed *noise measure* ``eps = sum_j a_j delta_{z_j}`` on the nodes
of a quadrature rule exact to degree 2 fc (2 fc + 1 equispaced points) or 2L (Gauss–Legendre in the polar
cosine times 2L + 1 azimuths): ``a_j = w_j (phi(z_j) . e) / kappa`` with ``K = kappa R``, R the reproducing
kernel of the band-limited functions in L2 of the sphere, so that ``Phi eps = e``. Then
``y = Phi(nu0 + eps)`` and every kernel sum is one zonal sum over ``nu - nu0 - eps``.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np

from ..geometry.measure import Measure, as_points
from ..geometry.sphere import geodesic_distance
from .base import QuadraticModel
from .spike_kernels import (derivative_coefficients, dirichlet_coefficients, fourier_basis, legendre_sum_coefficients,
                            n_measurements, real_spherical_harmonics, zonal_curvature_constant,
                            zonal_feature_derivative_norms, zonal_kernel_matrix, zonal_lipschitz_constant,
                            zonal_potential, zonal_potential_numpy)

__all__ = ["SpikeDeconvolution", "spike_train", "NORMALIZATIONS"]

NORMALIZATIONS = ("fourier", "unit")


class SpikeDeconvolution(QuadraticModel):
    """BLASSO with weight decay for a nonnegative spike train on S^1 or S^2 (see the module docstring).

    Parameters
    ----------
    positions : array_like, shape (m0, d+1)
        Spike positions ``x_k``, unit vectors, d = 1 or 2 (the model's sphere is taken from them).
    weights : array_like, shape (m0,)
        Spike weights ``w_k > 0``.
    degree : int
        Cutoff frequency ``fc >= 1`` on S^1; spherical-harmonic degree ``L >= 0`` on S^2.
    weight_decay : float
        ``lambda > 0``.
    normalization : {"fourier", "unit"}
        ``"fourier"``: ``K(x, x) = 2 fc + 1`` (S^1, the Dirichlet kernel ``D_fc``) or ``(L+1)^2/(4 pi)``
        (S^2); ``"unit"``: ``K(x, x) = 1``.
    noise : None, float or array_like of shape (k,)
        None: ``y = Phi nu0``. A float ``sigma >= 0``: ``e ~ N(0, sigma^2 I_k)`` drawn with ``rng``. An
        array: the noise vector ``e`` itself. ``k = 2 fc + 1`` (S^1) or ``(L+1)^2`` (S^2).
    rng : numpy Generator, int or None
        Random source for ``noise=sigma``.

    Attributes
    ----------
    dim : int
        d.
    degree, weight_decay, normalization
        As given.
    kernel_scale : float
        ``s`` (``K = s D_fc`` or ``s sum_l (2l+1)/(4 pi) P_l``).
    coefficients : ndarray, shape (degree+1,)
        ``K(t) = sum_l coefficients[l] Q_l(t)`` (Chebyshev on S^1, Legendre on S^2).
    kernel_peak : float
        ``K(x, x)``.
    spikes : Measure
        ``nu0``.
    noise_vector : ndarray, shape (k,)
        ``e`` (zeros without noise).
    measurements : ndarray, shape (k,)
        ``y = Phi nu0 + e``.
    noise_measure : tuple (points (n, d+1), weights (n,))
        The signed measure ``eps`` with ``Phi eps = e`` (empty without noise).
    """

    def __init__(self, positions, weights, degree, weight_decay, normalization: str = "fourier",
                 noise=None, rng=None):
        P = as_points(positions, name="spike positions")
        d = P.shape[1] - 1
        if d not in (1, 2):
            raise ValueError(
                f"SpikeDeconvolution is defined on S^1 and S^2 (spike positions of length 2 or 3), got "
                f"positions of length {d + 1} (S^{d})"
            )
        try:
            w = np.asarray(weights, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"weights must be a numeric array of shape (m0,): {exc}") from None
        if w.shape != (P.shape[0],):
            raise ValueError(f"weights must have shape ({P.shape[0]},) to match positions {P.shape}, got {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError("weights contain NaN or inf")
        if np.any(w <= 0):
            k = int(np.argmin(w))
            raise ValueError(f"spike weights must be positive: weights[{k}] = {w[k]:.6g}")
        name = "fc (the cutoff frequency on S^1)" if d == 1 else "L (the spherical-harmonic degree on S^2)"
        lowest = 1 if d == 1 else 0
        if isinstance(degree, bool) or not isinstance(degree, Integral) or degree < lowest:
            raise ValueError(f"degree = {degree!r}: {name} must be an integer >= {lowest}")
        degree = int(degree)
        try:
            lam = float(weight_decay)
        except (TypeError, ValueError):
            raise ValueError(f"weight_decay must be a float > 0, got {weight_decay!r}") from None
        if not np.isfinite(lam) or lam <= 0:
            raise ValueError(f"weight_decay (lambda) must be finite and > 0, got {weight_decay!r}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")

        self.dim = d
        self.degree = degree
        self.weight_decay = lam
        self.normalization = normalization
        if d == 1:
            base = dirichlet_coefficients(degree)
            kappa_per_s = 2.0 * math.pi  # D_fc = 2 pi x (reproducing kernel in L2(S^1, d theta))
        else:
            base = legendre_sum_coefficients(degree)
            kappa_per_s = 1.0
        peak = float(base.sum())  # Q_l(1) = 1
        self.kernel_scale = 1.0 if normalization == "fourier" else 1.0 / peak
        self.coefficients = self.kernel_scale * base
        self._dcoef = derivative_coefficients(self.coefficients, d)
        self.kernel_peak = float(self.coefficients.sum())
        self._kappa = self.kernel_scale * kappa_per_s
        self._lipschitz_kernel = zonal_lipschitz_constant(self.coefficients)
        self._curvature_kernel = zonal_curvature_constant(self.coefficients)
        self._feature_d1, self._feature_d2 = zonal_feature_derivative_norms(self.coefficients, d)
        self.n_measurements = n_measurements(d, degree)
        self.spikes = Measure(P, w)

        e = self._noise_vector(noise, rng)
        self.noise_vector = e
        zp, za = self._noise_atoms(e)
        self.noise_measure = (zp, za)
        # the source nu0 + eps as one signed measure: J = K(nu - source) + lambda
        self._source_points = np.ascontiguousarray(np.concatenate([P, zp]))
        self._source_weights = np.concatenate([w, za])
        self.measurements = self.observe(self.spikes) + e
        self._energy_constant = 0.5 * float(self.measurements @ self.measurements)

    # ------------------------------------------------------------------ construction helpers
    def _noise_vector(self, noise, rng) -> np.ndarray:
        k = self.n_measurements
        if noise is None:
            return np.zeros(k)
        if np.ndim(noise) == 0:
            try:
                sigma = float(noise)
            except (TypeError, ValueError):
                raise ValueError(f"noise must be None, a float sigma >= 0 or an array of shape ({k},), got {noise!r}") from None
            if not np.isfinite(sigma) or sigma < 0:
                raise ValueError(f"noise level sigma must be finite and >= 0, got {noise!r}")
            return sigma * np.random.default_rng(rng).standard_normal(k)
        try:
            e = np.array(noise, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"noise must be None, a float or an array of shape ({k},): {exc}") from None
        if e.shape != (k,):
            raise ValueError(
                f"noise vector must have shape ({k},) (the number of measurements on S^{self.dim} at degree "
                f"{self.degree}), got {e.shape}")
        if not np.all(np.isfinite(e)):
            raise ValueError("noise vector contains NaN or inf")
        return e

    def _noise_atoms(self, e: np.ndarray):
        """Quadrature nodes z_j and signed weights a_j with ``Phi(sum_j a_j delta_{z_j}) = e``."""
        d, n = self.dim, self.degree
        if not np.any(e):
            return np.zeros((0, d + 1)), np.zeros(0)
        if d == 1:
            m = 2 * n + 1  # the trapezoidal rule with m nodes is exact for trigonometric degree 2 fc
            th = 2.0 * math.pi * np.arange(m) / m
            z = np.stack([np.cos(th), np.sin(th)], axis=1)
            qw = np.full(m, 2.0 * math.pi / m)
        else:
            # Gauss–Legendre (n+1 nodes, exact to degree 2n+1) in cos(polar) x 2n+1 azimuths (exact to 2n)
            x, gw = np.polynomial.legendre.leggauss(n + 1)
            m_az = 2 * n + 1
            az = 2.0 * math.pi * np.arange(m_az) / m_az
            ct = np.repeat(x, m_az)
            st = np.sqrt(np.maximum(0.0, 1.0 - ct * ct))
            a = np.tile(az, n + 1)
            z = np.stack([st * np.cos(a), st * np.sin(a), ct], axis=1)
            qw = np.repeat(gw, m_az) * (2.0 * math.pi / m_az)
        g = self.measurement_vectors(z) @ e  # (Phi^* e)(z_j)
        return np.ascontiguousarray(z), qw * g / self._kappa

    # ------------------------------------------------------------------ measurements
    def measurement_vectors(self, points) -> np.ndarray:
        """``phi(x)`` at points (N, d+1): shape (N, k), with ``phi(x) . phi(x') = K(x, x')``."""
        P = self.check_points(points)
        B = fourier_basis(P, self.degree) if self.dim == 1 else real_spherical_harmonics(P, self.degree)
        return math.sqrt(self.kernel_scale) * B

    def observe(self, measure: Measure, chunk: int = 4096) -> np.ndarray:
        """``Phi nu = sum_i m_i phi(x_i)``, shape (k,) (the noise-free measurements of ``nu``)."""
        self.check_measure(measure)
        out = np.zeros(self.n_measurements)
        for s in range(0, measure.size, chunk):
            out += measure.masses[s:s + chunk] @ self.measurement_vectors(measure.points[s:s + chunk])
        return out

    # ------------------------------------------------------------------ quadratic structure
    def interaction(self, P, Q) -> np.ndarray:
        """``K(p_i, q_j)``, shape (N, M)."""
        return zonal_kernel_matrix(self.check_points(P), self.check_points(Q), self.coefficients)

    def linear_potential(self, points) -> np.ndarray:
        """``V = lambda - Phi^* y = lambda - K(nu0 + eps)`` at points (N, d+1), shape (N,)."""
        P = self.check_points(points)
        J, _ = zonal_potential(P, self._source_points, -self._source_weights, self.coefficients,
                               with_grad=False)
        return J + self.weight_decay

    @property
    def energy_constant(self) -> float:
        """``F(0) = ||y||^2 / 2``."""
        return self._energy_constant

    # ------------------------------------------------------------------ model interface
    def _signed_atoms(self, measure: Measure):
        Q = np.concatenate([measure.points, self._source_points])
        c = np.concatenate([measure.masses, -self._source_weights])
        return Q, c

    def _potential(self, points, measure, backend):
        Q, c = self._signed_atoms(measure)
        if backend == "numba":
            J, G = zonal_potential(points, Q, c, self.coefficients, dcoef=self._dcoef)
        else:
            J, G = zonal_potential_numpy(points, Q, c, self.coefficients)
        return J + self.weight_decay, G

    def energy(self, measure: Measure) -> float:
        """``F(nu) = ||Phi nu - y||^2 / 2 + lambda nu(S^d)``, from the measurement vectors (O(N k))."""
        r = self.observe(measure) - self.measurements
        return 0.5 * float(r @ r) + self.weight_decay * measure.total_mass

    def predict(self, measure: Measure, x) -> np.ndarray:
        """The low-pass filtered measure ``(K nu)(x) = sum_i m_i K(x, x_i)`` at points x (N, d+1): the
        measured signal in physical space (``predict(spikes, x)`` is the noise-free observation)."""
        self.check_measure(measure)
        J, _ = zonal_potential(self.check_points(x), measure.points, measure.masses, self.coefficients,
                               with_grad=False)
        return J

    def distance(self, mu: Measure, nu: Measure) -> float:
        """Predictor distance ``||Phi mu - Phi nu|| = <mu - nu, K (mu - nu)>^{1/2}``."""
        return float(np.linalg.norm(self.observe(mu) - self.observe(nu)))

    def _total_variation(self, measure: Measure) -> float:
        """``|nu - nu0 - eps|(S^d) <= nu(S^d) + sum_k w_k + sum_j |a_j|``."""
        return measure.total_mass + float(np.abs(self._source_weights).sum())

    def _residual_norm(self, measure: Measure) -> float:
        """``|Phi nu - y|`` plus a round-off allowance: each measurement ``sum_i m_i phi_k(x_i) - y_k`` is
        computed with an error of at most ``(N + 16) eps (sum_i m_i |phi_k(x_i)| + |y_k|)``, and
        ``|phi_k| <= K(x, x)^{1/2}``."""
        r = self.observe(measure) - self.measurements
        size = math.sqrt(self.kernel_peak) * measure.total_mass + np.abs(self.measurements)
        err = (measure.size + 16) * np.finfo(np.float64).eps * size
        return float(np.linalg.norm(r) + np.linalg.norm(err))

    def potential_lipschitz(self, measure: Measure) -> float:
        """A bound ``L >= sup |grad_S J(.|nu)|`` over the sphere, the smaller of
        ``(sum_l l |a_l|) |nu - nu0 - eps|(S^d)`` (Bernstein's inequality per atom,
        :func:`wgf.models.spike_kernels.zonal_lipschitz_constant`) and ``|Phi nu - y| K'(1)^{1/2}`` (``J = phi . r
        + lambda`` with ``r = Phi nu - y``, by Cauchy–Schwarz,
        :func:`wgf.models.spike_kernels.zonal_feature_derivative_norms`)."""
        self.check_measure(measure)
        return min(self._lipschitz_kernel * self._total_variation(measure),
                   self._feature_d1 * self._residual_norm(measure))

    def potential_curvature(self, measure: Measure) -> float:
        """A bound ``M2 >= |d^2/ds^2 J(x(s) | nu)|`` along every unit-speed geodesic ``x(s)``, the smaller
        of ``(sum_l l^2 |a_l|) |nu - nu0 - eps|(S^d)`` (Bernstein,
        :func:`wgf.models.spike_kernels.zonal_curvature_constant`) and ``|Phi nu - y| (K'(1) + 3 K''(1))^{1/2}``
        (Cauchy–Schwarz on ``J = phi . r + lambda``). Used by the second-order lower bound on ``min J`` of
        :func:`wgf.optimality_certificate`."""
        self.check_measure(measure)
        return min(self._curvature_kernel * self._total_variation(measure),
                   self._feature_d2 * self._residual_norm(measure))

    def minimiser_mass_bound(self, measure: Measure, energy: float | None = None) -> float:
        """``F(nu)/lambda`` >= the mass of every minimiser (``lambda nu*(S^d) <= F(nu*) <= F(nu)``)."""
        F = self.energy(measure) if energy is None else float(energy)
        return F / self.weight_decay

    def __repr__(self) -> str:
        name = "fc" if self.dim == 1 else "L"
        return (f"SpikeDeconvolution(d={self.dim}, {name}={self.degree}, m0={self.spikes.size}, "
                f"weight_decay={self.weight_decay}, normalization={self.normalization!r}, "
                f"noise={'yes' if np.any(self.noise_vector) else 'no'})")


def spike_train(m0: int, dim: int, min_separation: float, weight_range=(0.0, 1.0), rng=None) -> Measure:
    """Random spike train ``nu0 = sum_k w_k delta_{x_k}`` on S^1 or S^2 with a minimum separation.

    Positions are i.i.d. uniform conditioned on pairwise geodesic distances ``>= min_separation``;
    weights are uniform in ``(low, high]`` (positive even for ``low = 0``).

    S^1: sampled exactly, as gaps ``min_separation + (2 pi - m0 min_separation) * Dirichlet(1, ..., 1)``
    after a uniform random rotation. S^2: whole-set rejection sampling (ValueError if 10^4 draws fail).

    Chizat's (2019) S^1 experiments: fc = 8, lambda = 0.3, m0 = 5, weights uniform in (0, 1), no minimum
    separation. A separation of at least ``2 pi / (2 fc + 1)`` (the first zero of ``D_fc``; 0.37 rad for
    fc = 8) keeps spikes resolved by the kernel's main lobe.

    Parameters
    ----------
    m0 : int
        Number of spikes, >= 1.
    dim : int
        1 or 2.
    min_separation : float
        Minimum geodesic distance between spikes, in radians, >= 0.
    weight_range : (float, float)
        ``0 <= low < high``.
    rng : numpy Generator, int or None

    Returns
    -------
    Measure
    """
    if isinstance(m0, bool) or not isinstance(m0, Integral) or m0 < 1:
        raise ValueError(f"m0 (number of spikes) must be an integer >= 1, got {m0!r}")
    if dim not in (1, 2):
        raise ValueError(f"dim must be 1 (S^1) or 2 (S^2), got {dim!r}")
    sep = float(min_separation)
    if not np.isfinite(sep) or sep < 0:
        raise ValueError(f"min_separation must be finite and >= 0 (radians), got {min_separation!r}")
    try:
        low, high = (float(v) for v in weight_range)
    except (TypeError, ValueError):
        raise ValueError(f"weight_range must be a pair (low, high), got {weight_range!r}") from None
    if not (0.0 <= low < high < np.inf):
        raise ValueError(f"weight_range must satisfy 0 <= low < high < inf, got {weight_range!r}")
    rng = np.random.default_rng(rng)
    if dim == 1:
        if m0 * sep > 2.0 * math.pi:
            raise ValueError(f"{m0} spikes cannot be {sep} apart on the circle (m0 * min_separation > 2 pi)")
        gaps = sep + (2.0 * math.pi - m0 * sep) * rng.dirichlet(np.ones(m0))
        th = rng.uniform(0.0, 2.0 * math.pi) + np.concatenate([[0.0], np.cumsum(gaps[:-1])])
        pts = np.stack([np.cos(th), np.sin(th)], axis=1)
    else:
        if sep > math.pi:
            raise ValueError(f"min_separation must be <= pi on S^2, got {sep}")
        for _ in range(10_000):
            x = rng.standard_normal((m0, 3))
            pts = x / np.linalg.norm(x, axis=1, keepdims=True)
            if m0 == 1:
                break
            iu = np.triu_indices(m0, 1)
            if np.all(geodesic_distance(pts[iu[0]], pts[iu[1]]) >= sep):
                break
        else:
            raise ValueError(f"could not place {m0} spikes {sep} rad apart on S^2 in 10^4 draws; "
                             "lower min_separation")
    w = high - (high - low) * rng.random(m0)
    return Measure(pts, w)
