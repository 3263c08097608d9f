r"""Lazy (neural tangent kernel) training against mean-field training of a two-layer ReLU network.

Output scaling as rescaled targets. With the square loss ``R(f) = (1/2n) sum_i (f(x_i) - y_i)^2`` and a
network whose predictor is ``f = alpha h_nu``, ``h_nu = (1/m) sum_j a_j relu(b_j . x)``,

.. math::

    \frac{R(\alpha h_\nu)}{\alpha^2} = \frac1{2n} \sum_i \Big(h_\nu(x_i) - \frac{y_i}{\alpha}\Big)^2
    =: F_\alpha(\nu),

so training with output scale alpha is the mean-field trainer (:class:`wgf.NetworkTrainer`, method
"full", the m-scaled step ``w_j <- w_j - gamma m grad_{w_j} F_alpha``, ``t = k gamma``) on the empirical
model ``EmpiricalReLU(X, y / alpha, loss="square")`` (:func:`lazy_objective`), with the predictor read as
``alpha h_nu``. ``alpha = 1`` is the mean-field ``1/m`` output scaling; ``alpha = sqrt(m)`` is the NTK
scaling ``f = m^{-1/2} sum_j a_j relu(b_j . x)``. The step scaling is the same for both: ``gamma`` per unit
of ``t`` with the m-scaled gradient.

The predictor's dynamics. With ``phi(w, x) = a relu(b . x)``, ``grad_w phi = (relu(b.x), a relu'(b.x) x)``
and ``grad_{w_j} h_i = grad_w phi(w_j, x_i) / m``, the flow ``dw_j/dt = -m grad_{w_j} F_alpha =
-(1/n) sum_i (h_i - y_i/alpha) grad_w phi(w_j, x_i)`` moves the predictor ``f = alpha h`` by

.. math::

    \frac{df(x_k)}{dt} = -\frac1n \sum_i K_m(x_k, x_i)\,(f(x_i) - y_i), \qquad
    K_m(x, x') = \frac1m \sum_j \nabla_w\phi(w_j, x)\cdot\nabla_w\phi(w_j, x'),

the empirical tangent kernel (:func:`empirical_ntk`), independent of alpha. For i.i.d. ``b_j ~ N(0, I)``
and ``a_j`` with second moment ``E[a^2]``, ``K_m -> kappa_1 + E[a^2] (x . x') kappa_0``
(:func:`wgf.models.relu_kernel.ntk_kernel`) as m grows. Each neuron moves at speed
``|dw_j/dt| <= (1/n) sum_i |f_i - y_i| |grad phi_j| / alpha``: over a fixed time, in which the residual is
O(1), the displacement is O(1/alpha), i.e. O(1) for mean-field and O(m^{-1/2}) for the NTK scaling (so
``K_m`` hardly changes and the network follows the kernel flow, up to O(m^{-1/2}) from the fluctuation of
``K_m(0)`` around ``K`` and from its drift). In the lazy limit the residual ``r = f - y`` solves
``dr/dt = -(1/n) K r``, so ``r(t) = exp(-t K / n) r(0)`` (:func:`ntk_flow`) and its late-time decay rate is
``lambda_min(K)/n``; gradient descent with step gamma gives ``(I - gamma K / n)^k r(0)`` instead.
"""

from __future__ import annotations

import numpy as np

from .._validate import check_real
from ..models.empirical import EmpiricalReLU

__all__ = ["lazy_objective", "empirical_ntk", "ntk_flow", "rms_displacement"]


def lazy_objective(X, y, alpha: float, bias: bool = False) -> EmpiricalReLU:
    """The objective ``F_alpha = R(alpha h)/alpha^2``: ``EmpiricalReLU(X, y / alpha, loss="square")``.

    Train it with :class:`wgf.NetworkTrainer` and read the predictor as ``alpha * model.predict(nu)``.

    Parameters
    ----------
    X : array_like, shape (n, dx)
    y : array_like, shape (n,)
    alpha : float
        Output scale > 0 (1: mean field; sqrt(m): NTK scaling).
    bias : bool
        Append a bias feature to the inputs.
    """
    alpha = check_real("alpha", alpha, low=0.0, low_open=True)
    y = np.asarray(y, dtype=np.float64)
    return EmpiricalReLU(X, y / alpha, loss="square", bias=bias)


def empirical_ntk(weights, X, Y=None, block: int = 4096) -> np.ndarray:
    """Tangent kernel ``K_m(x, x') = (1/m) sum_j [relu(b_j.x) relu(b_j.x') + a_j^2 relu'(b_j.x) relu'(b_j.x')
    x.x']`` of the neurons ``w_j = (a_j, b_j)`` (``relu'(0) = 0``), streamed over blocks of neurons.

    Parameters
    ----------
    weights : array_like, shape (m, k+1)
    X : array_like, shape (n, k)
        Inputs (features: with the bias column if the model uses one).
    Y : array_like, shape (n', k), optional
        Second inputs (default X).
    block : int
        Neurons per block (memory ``O((n + n') block)``).

    Returns
    -------
    ndarray, shape (n, n')
    """
    W = np.asarray(weights, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    Y = X if Y is None else np.asarray(Y, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] < 1 or X.ndim != 2 or W.shape[1] != X.shape[1] + 1 or Y.ndim != 2 \
            or Y.shape[1] != X.shape[1]:
        raise ValueError(f"weights must have shape (m, k+1) and X, Y shape (n, k); got weights {W.shape}, "
                         f"X {X.shape}, Y {Y.shape}")
    if not (np.all(np.isfinite(W)) and np.all(np.isfinite(X)) and np.all(np.isfinite(Y))):
        raise ValueError("weights and inputs must be finite")
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block must be a positive integer, got {block!r}")
    m = W.shape[0]
    K1 = np.zeros((X.shape[0], Y.shape[0]))
    K0 = np.zeros_like(K1)
    for s in range(0, m, block):
        a, B = W[s:s + block, 0], W[s:s + block, 1:]
        ZX, ZY = X @ B.T, Y @ B.T
        K1 += np.maximum(ZX, 0.0) @ np.maximum(ZY, 0.0).T
        K0 += ((ZX > 0) * (a * a)) @ (ZY > 0).T.astype(np.float64)
    return (K1 + K0 * (X @ Y.T)) / m


def ntk_flow(K, r0, times, n: int | None = None, step: float | None = None) -> np.ndarray:
    """Residuals of the kernel gradient flow ``dr/dt = -(1/n) K r`` at ``times``, from the eigendecomposition
    ``K = V diag(lambda) V^T``: ``r(t) = V exp(-t lambda / n) V^T r0``; or, with ``step = gamma``, of gradient
    descent on the linearised model, ``r_k = (I - gamma K / n)^k r0`` at ``k = round(t / gamma)``.

    Parameters
    ----------
    K : array_like, shape (n, n)
        Symmetric positive semi-definite kernel matrix on the training inputs.
    r0 : array_like, shape (n,)
        Initial residual ``f(0) - y``.
    times : array_like, shape (T,)
        Times >= 0.
    n : int, optional
        The 1/n of the empirical risk (default: ``len(r0)``).
    step : float, optional
        Gradient-descent step (None: the exact flow).

    Returns
    -------
    ndarray, shape (T, n)
    """
    K = np.asarray(K, dtype=np.float64)
    r0 = np.asarray(r0, dtype=np.float64)
    t = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if K.ndim != 2 or K.shape[0] != K.shape[1] or r0.shape != (K.shape[0],):
        raise ValueError(f"K must be (n, n) and r0 (n,), got {K.shape} and {r0.shape}")
    if not (np.all(np.isfinite(K)) and np.all(np.isfinite(r0)) and np.all(np.isfinite(t))) or np.any(t < 0):
        raise ValueError("K, r0 must be finite and times finite and >= 0")
    n = len(r0) if n is None else int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    lam, V = np.linalg.eigh(0.5 * (K + K.T))
    c = V.T @ r0
    if step is None:
        decay = np.exp(-np.outer(t, lam) / n)
    else:
        gamma = check_real("step", step, low=0.0, low_open=True)
        k = np.rint(t / gamma)
        decay = np.power((1.0 - gamma * lam / n)[None, :], k[:, None])
    return (decay * c) @ V.T


def rms_displacement(weights, initial) -> float:
    """Per-neuron RMS displacement ``sqrt((1/m) sum_j |w_j - w_j(0)|^2)`` of weights (m, d+1)."""
    W = np.asarray(weights, dtype=np.float64)
    W0 = np.asarray(initial, dtype=np.float64)
    if W.shape != W0.shape or W.ndim != 2:
        raise ValueError(f"weights and initial must have the same shape (m, d+1), got {W.shape} and {W0.shape}")
    return float(np.sqrt(np.mean(np.sum((W - W0) ** 2, axis=1))))
