r"""Implicit bias along a run: where the normalised predictor of a classification flow stands against the
max-margin classifiers it is expected to approach.

For the unregularised logistic loss the mass of nu_t grows without bound and the predictor's *direction*
``h_nu / int |a||b| dnu`` is what converges: to an F1 max-margin classifier for the mean-field flow
(Chizat & Bach 2020), to the F2 (RKHS) one when only the output layer is trained. This module turns the
references of :mod:`wgf.analysis.margins` into the quantities a run is compared with:

* :class:`MaxMarginReferences` (built by :func:`max_margin_references`): the F1 max margin as the linear
  program on a finite set of input directions (a lower bound of the true value, see
  :func:`~wgf.analysis.margins.f1_max_margin`), its signed weights and their support, and the F2 max margin
  (exact SVM with the arc-cosine kernel); each as a predictor of unit norm, so that its margin on the
  data is the reference value;
* :func:`normalised_predictor`: ``h_nu(x) / int |a||b| dnu`` on any inputs (margin ``<= gamma_F1``);
* :func:`support_share`: the share of ``int |a||b| dnu`` carried by neurons within an angle of an F1
  support direction with the same output sign, i.e. how much of the weight sits where the F1 solution
  puts its own.

Neurons are ``eta = (a, b)`` with ``a`` the output weight and ``b`` the input weights (bias included);
input directions are ``b / |b|`` on the unit sphere of the feature space.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry.measure import Measure
from .margins import f1_max_margin, f2_kernel, kernel_max_margin

__all__ = ["MaxMarginReferences", "max_margin_references", "normalised_predictor", "support_share"]


@dataclass(frozen=True)
class MaxMarginReferences:
    """The F1 and F2 max-margin classifiers of one labelled data set.

    Attributes
    ----------
    features : ndarray, shape (n, k)
        Training inputs with the bias column (the model's ``features``).
    y : ndarray, shape (n,)
        Labels +-1.
    f1 : float
        F1 max margin of the LP on ``f1_directions`` (a lower bound of the F1 max margin).
    f1_weights : ndarray, shape (K,)
        The LP's signed weights ``c_k`` (``sum |c_k| <= 1``).
    f1_directions : ndarray, shape (K, k)
        Its unit input directions ``u_k``.
    f2 : float
        F2 max margin (hard-margin SVM with the kernel of :func:`~wgf.analysis.margins.f2_kernel`); 0 when
        the data are not separable in that RKHS.
    f2_dual : ndarray, shape (n,)
        SVM dual weights ``alpha_i >= 0``, scaled so that ``f(x) = sum_i alpha_i y_i k(x, x_i)`` has unit
        RKHS norm.
    """

    features: np.ndarray
    y: np.ndarray
    f1: float
    f1_weights: np.ndarray
    f1_directions: np.ndarray
    f2: float
    f2_dual: np.ndarray

    def f1_predictor(self, features: np.ndarray) -> np.ndarray:
        """``f(x) = sum_k c_k relu(u_k . x)`` at features (p, k) -> (p,); its margin on the data is ``f1``."""
        return np.maximum(np.asarray(features, dtype=np.float64) @ self.f1_directions.T, 0.0) @ self.f1_weights

    def f2_predictor(self, features: np.ndarray) -> np.ndarray:
        """The unit-norm F2 max-margin predictor at features (p, k) -> (p,); its margin is ``f2``."""
        return f2_kernel(np.asarray(features, dtype=np.float64), self.features) @ (self.f2_dual * self.y)

    def f1_support(self, relative: float = 1e-3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Directions (s, k), signs (s,) and weights ``|c_k|`` (s,) of the LP solution, keeping the weights
        above ``relative`` times the largest (an LP vertex has at most n + 1 nonzero weights)."""
        c = self.f1_weights
        keep = np.abs(c) > relative * np.max(np.abs(c)) if np.any(c) else np.zeros(len(c), bool)
        return self.f1_directions[keep], np.sign(c[keep]), np.abs(c[keep])


def max_margin_references(features: np.ndarray, y: np.ndarray,
                          directions: np.ndarray | int = 4096) -> MaxMarginReferences:
    """The F1 (LP on ``directions``) and F2 (exact SVM) max-margin classifiers of ``(features, y)``.

    Parameters
    ----------
    features : ndarray, shape (n, k)
        Inputs with the bias column.
    y : ndarray, shape (n,)
        Labels +-1.
    directions : ndarray (K, k) or int
        The LP's input directions, or their number (quasi-uniform on S^(k-1)).
    """
    F = np.asarray(features, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    g1, c, U = f1_max_margin(F, y, directions)
    K = f2_kernel(F)
    g2, alpha = kernel_max_margin(K, y)
    Q = (y[:, None] * y[None, :]) * K
    norm = float(np.sqrt(max(alpha @ Q @ alpha, 0.0)))
    dual = alpha / norm if norm > 0 else np.zeros_like(alpha)
    return MaxMarginReferences(F, y, g1, c, U, g2, dual)


def _ab(measure: Measure) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per atom: ``|a||b|`` weights times the mass (N,), the sign of a (N,), and ``b`` (N, k)."""
    P = measure.points
    a, B = P[:, 0], P[:, 1:]
    return measure.masses * np.abs(a) * np.linalg.norm(B, axis=1), np.sign(a), B


def normalised_predictor(measure: Measure, features: np.ndarray) -> np.ndarray:
    """``h_nu(x) / int |a||b| dnu`` at features (p, k) -> (p,), ``h_nu(x) = int a relu(b . x) dnu``.

    Its margin ``min_i y_i h(x_i)`` on the training data is ``normalised_margin(...)["by_ab"]`` and at most
    the F1 max margin. Raises ``ValueError`` for a measure with ``int |a||b| dnu = 0``."""
    w, _, B = _ab(measure)
    total = float(w.sum())
    if not total > 0:
        raise ValueError("the measure has int |a||b| dnu = 0: its predictor is 0 and cannot be normalised")
    h = np.maximum(np.asarray(features, dtype=np.float64) @ B.T, 0.0) @ (measure.masses * measure.points[:, 0])
    return h / total


def support_share(measure: Measure, directions: np.ndarray, signs: np.ndarray, angle: float) -> float:
    """Share of ``int |a||b| dnu`` within ``angle`` (radians) of a support direction of the same sign.

    An atom ``eta = (a, b)`` counts when ``sign(a) = s_k`` and the angle between ``b/|b|`` and ``u_k`` is at
    most ``angle`` for some ``k``.

    Parameters
    ----------
    measure : Measure
        Atoms on S^d, ``d + 1 = 1 + k``.
    directions : ndarray, shape (s, k)
        Unit input directions ``u_k`` (e.g. :meth:`MaxMarginReferences.f1_support`).
    signs : ndarray, shape (s,)
        Output signs ``s_k`` in {-1, +1}.
    angle : float
        Half-angle of the cones, in (0, pi].

    Returns
    -------
    float in [0, 1]; NaN when ``int |a||b| dnu = 0``.
    """
    if not 0 < angle <= np.pi:
        raise ValueError(f"angle must be in (0, pi], got {angle!r}")
    U = np.asarray(directions, dtype=np.float64)
    s = np.asarray(signs, dtype=np.float64)
    w, sa, B = _ab(measure)
    if U.ndim != 2 or U.shape[1] != B.shape[1] or s.shape != (U.shape[0],):
        raise ValueError(f"directions must have shape (s, {B.shape[1]}) and signs (s,), got {U.shape} and {s.shape}")
    total = float(w.sum())
    if not total > 0:
        return float("nan")
    nb = np.linalg.norm(B, axis=1)
    V = np.divide(B, nb[:, None], out=np.zeros_like(B), where=nb[:, None] > 0)
    cos_min = np.cos(angle)
    near = np.zeros(len(w), dtype=bool)
    for u, sk in zip(U, s):  # s is small (the LP's support): one pass per direction, no (N, s) matrix
        near |= (sa == sk) & (V @ u >= cos_min - 1e-12)
    return float(w[near].sum() / total)
