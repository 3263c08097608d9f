r"""Empirical risk of a ReLU network on a data set (square or logistic loss, optional bias feature).

A neuron ``eta = (a, b)`` on S^d acts on an input ``x`` (R^dx) as ``a relu(b . x~)`` with ``x~ = x`` (d = dx)
or, with a bias, ``x~ = [x; 1]`` (d = dx + 1). For samples ``(x_i, y_i)``, i = 1..n,

.. math::

    h_\nu(x) = \int a\,\mathrm{relu}(b\cdot\tilde x)\,d\nu(a, b), \qquad
    F(\nu) = \frac1n \sum_{i=1}^n \ell(h_\nu(x_i), y_i) + \lambda\,\nu(S^d),

    J(\eta\,|\,\nu) = \frac1n \sum_{i=1}^n \ell'(h_\nu(x_i), y_i)\; a\,\mathrm{relu}(b\cdot\tilde x_i) + \lambda,

with ``l(h, y) = (h - y)^2 / 2`` (square) or ``log(1 + exp(-y h))``, y in {-1, +1} (logistic). J is one
predictor pass followed by one potential pass of :mod:`wgf.models.relu_features`, both streamed over the samples:
no (points x samples) matrix is ever formed. grad J uses ``relu'(0) = 0``; J is not differentiable where
``b . x~_i = 0`` for some sample (a kink), nor, like every ReLU model, at the poles ``eta = (+-1, 0)``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from ..geometry.measure import Measure
from .base import Model
from .relu_features import (relu_features_potential, relu_features_potential_numpy, relu_features_predict,
                            relu_features_predict_numpy)

__all__ = ["EmpiricalReLU", "LOSSES", "loss_value", "loss_derivative"]

#: Loss functions of :class:`EmpiricalReLU`.
LOSSES = ("square", "logistic")


def loss_value(loss: str, h: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample loss ``l(h_i, y_i)``: ``(h - y)^2 / 2`` or ``log(1 + exp(-y h))`` (np.logaddexp, no
    overflow for any finite h)."""
    if loss == "square":
        return 0.5 * (h - y) ** 2
    return np.logaddexp(0.0, -y * h)


def loss_derivative(loss: str, h: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample derivative ``dl/dh (h_i, y_i)``: ``h - y`` or ``-y sigmoid(-y h)`` (scipy's expit,
    stable for any finite h)."""
    if loss == "square":
        return h - y
    return -y * expit(-y * h)


class EmpiricalReLU(Model):
    """Empirical risk of a two-layer ReLU network, ``F(nu) = (1/n) sum_i l(h_nu(x_i), y_i) + lambda nu(S^d)``.

    Parameters
    ----------
    X : array_like, shape (n, dx)
        Training inputs (finite).
    y : array_like, shape (n,)
        Targets (finite); labels in {-1, +1} for the logistic loss.
    loss : {"square", "logistic"}
        ``(h - y)^2 / 2`` or ``log(1 + exp(-y h))``.
    bias : bool
        Append the constant feature 1 to every input (``x~ = [x; 1]``), so that the sphere is S^(dx+1).
    weight_decay : float
        lambda >= 0, adds ``lambda nu(S^d)`` to F (``lambda`` to J).

    Attributes
    ----------
    dim : int
        d = dx (+1 with a bias); neurons ``eta = (a, b)`` live on S^d in R^(d+1).
    dx : int
        Input dimension.
    n : int
        Number of samples.
    features : ndarray, shape (n, d)
        ``x~_i``, the inputs with the bias column when there is one.

    Notes
    -----
    :meth:`predict`, :meth:`risk`, :meth:`classification_error` and :meth:`distance` evaluate on the
    training inputs by default and on any other inputs when given (test risk, test error).
    """

    homogeneous_potential = True  # J(a, b) = lambda + a f(b), f 1-homogeneous (see wgf.analysis.certificate)

    def __init__(self, X, y, loss: str = "square", bias: bool = False, weight_decay: float = 0.0):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if not isinstance(bias, (bool, np.bool_)):
            raise ValueError(f"bias must be True or False, got {bias!r}")
        try:
            weight_decay = float(weight_decay)
        except (TypeError, ValueError):
            raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}") from None
        if not np.isfinite(weight_decay) or weight_decay < 0:
            raise ValueError(f"weight_decay must be finite and >= 0, got {weight_decay}")
        X = self._as_inputs(X, "X", dx=None)
        if X.shape[0] < 1:
            raise ValueError(f"X must hold at least one sample, got shape {X.shape}")
        y = self._as_targets(y, X.shape[0], loss, "y")
        self.loss = loss
        self.bias = bool(bias)
        self.weight_decay = weight_decay
        self.X = X
        self.y = y
        self.n, self.dx = X.shape
        self.dim = self.dx + int(self.bias)
        self.features = self.featurize(X)

    # ------------------------------------------------------------------ validation
    @staticmethod
    def _as_inputs(x, name: str, dx: int | None) -> np.ndarray:
        try:
            x = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be a numeric array of shape (n, dx): {exc}") from None
        want = "(n, dx)" if dx is None else f"(n, {dx})"
        if x.ndim != 2 or x.shape[1] < 1 or (dx is not None and x.shape[1] != dx):
            raise ValueError(f"{name} must have shape {want}, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            bad = np.argwhere(~np.isfinite(x))[0]
            raise ValueError(f"{name} contains NaN or inf (first at row {bad[0]}, column {bad[1]})")
        return np.ascontiguousarray(x)

    @staticmethod
    def _as_targets(y, n: int, loss: str, name: str) -> np.ndarray:
        try:
            y = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be a numeric array of shape ({n},): {exc}") from None
        if y.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},) to match the inputs, got shape {y.shape}")
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{name} contains NaN or inf (first at index {int(np.argmin(np.isfinite(y)))})")
        if loss == "logistic" and not np.all(np.abs(y) == 1.0):
            k = int(np.argmax(np.abs(y) != 1.0))
            raise ValueError(f"the logistic loss needs labels {name} in {{-1, +1}}, got {name}[{k}] = {y[k]:g}")
        return np.ascontiguousarray(y)

    def featurize(self, x) -> np.ndarray:
        """Inputs (m, dx) as features ``x~`` (m, d): ``[x; 1]`` with a bias, else ``x``."""
        x = self._as_inputs(x, "inputs", self.dx)
        if self.bias:
            return np.column_stack([x, np.ones(x.shape[0])])
        return x

    def _data(self, X, y):
        """Features and targets: the training set when X is None, else validated ``(X, y)``."""
        if X is None:
            if y is not None:
                raise ValueError("targets y were given without inputs X")
            return self.features, self.y
        F = self.featurize(X)
        if y is None:
            raise ValueError("inputs X were given without targets y")
        return F, self._as_targets(y, F.shape[0], self.loss, "y")

    # ------------------------------------------------------------------ predictor
    def _predict_features(self, measure: Measure, F: np.ndarray, backend: str = "numba") -> np.ndarray:
        fn = relu_features_predict if backend == "numba" else relu_features_predict_numpy
        return fn(measure.points, measure.masses, F)

    def predict(self, measure: Measure, x=None) -> np.ndarray:
        """``h_nu(x) = int a relu(b . x~) dnu`` at inputs x (m, dx) (default: the training inputs); (m,)."""
        self.check_measure(measure)
        F = self.features if x is None else self.featurize(x)
        return self._predict_features(measure, F)

    def risk(self, measure: Measure, X=None, y=None) -> float:
        """Mean loss ``(1/m) sum_i l(h_nu(x_i), y_i)`` (no weight decay) on the training set, or on ``(X, y)``
        (a test risk)."""
        self.check_measure(measure)
        F, t = self._data(X, y)
        return float(np.mean(loss_value(self.loss, self._predict_features(measure, F), t)))

    def classification_error(self, measure: Measure, X=None, y=None) -> float:
        """Fraction of samples with ``y_i h_nu(x_i) <= 0`` (labels +-1; a zero prediction counts as an
        error), on the training set or on ``(X, y)``."""
        self.check_measure(measure)
        F, t = self._data(X, y)
        if not np.all(np.abs(t) == 1.0):
            raise ValueError("classification_error needs labels in {-1, +1}")
        return float(np.mean(t * self._predict_features(measure, F) <= 0.0))

    def distance(self, mu: Measure, nu: Measure, x=None) -> float:
        """Empirical L2 distance of the predictors, ``sqrt((1/m) sum_i (h_mu(x_i) - h_nu(x_i))^2)``, on the
        training inputs (default) or on inputs x (m, dx)."""
        self.check_measure(mu)
        self.check_measure(nu)
        F = self.features if x is None else self.featurize(x)
        diff = self._predict_features(mu, F) - self._predict_features(nu, F)
        return float(np.sqrt(np.mean(diff**2))) if diff.size else 0.0

    # ------------------------------------------------------------------ model interface
    def sample_weights(self, measure: Measure, backend: str = "numba") -> np.ndarray:
        """``g_i = l'(h_nu(x_i), y_i) / n``, the per-sample weights of the potential; shape (n,)."""
        h = self._predict_features(measure, self.features, backend)
        return loss_derivative(self.loss, h, self.y) / self.n

    def _potential(self, points, measure, backend):
        g = self.sample_weights(measure, backend)
        fn = relu_features_potential if backend == "numba" else relu_features_potential_numpy
        J, G = fn(points, self.features, g)
        return J + self.weight_decay, G

    def energy(self, measure: Measure) -> float:
        """``F(nu) = (1/n) sum_i l(h_nu(x_i), y_i) + lambda nu(S^d)``."""
        return self.risk(measure) + self.weight_decay * measure.total_mass

    def potential_lipschitz(self, measure: Measure) -> float:
        """A bound ``L >= sup |grad_S J(.|nu)|`` over the sphere: ``(1/n) sum_i |l'(h_i, y_i)| |x~_i|``.

        With ``g_i = l'_i / n`` and ``f(b) = sum_i g_i relu(b . x~_i)``, J = a f(b) + lambda has Euclidean
        gradient ``(f(b), a grad f(b))`` where ``|f(b)| <= |b| S`` and ``|grad f| <= S``,
        ``S = sum_i |g_i| |x~_i|``; so its norm is at most ``sqrt(b^2 + a^2) S = S`` on the sphere, and the
        tangential part is shorter still. J is continuous and piecewise smooth, hence S-Lipschitz along
        geodesics (kinks included)."""
        self.check_measure(measure)
        g = self.sample_weights(measure)
        return float(np.sum(np.abs(g) * np.linalg.norm(self.features, axis=1)))

    def minimiser_mass_bound(self, measure: Measure, energy: float | None = None) -> float | None:
        """Bound on the mass of a minimiser: ``F(nu)/lambda`` with weight decay (both losses are >= 0, so
        ``lambda nu*(S^d) <= F(nu*) <= F(nu)``). Without weight decay there is none: the logistic loss
        has no minimiser on separable data (F -> 0 only as the mass -> infinity), and a square-loss
        minimiser's mass is not bounded a priori; returns None (no certificate exists)."""
        if self.weight_decay == 0.0:
            return None
        F = self.energy(measure) if energy is None else energy
        return F / self.weight_decay

    def __repr__(self) -> str:
        return (f"EmpiricalReLU(n={self.n}, dx={self.dx}, loss={self.loss!r}, bias={self.bias}, "
                f"weight_decay={self.weight_decay})")
