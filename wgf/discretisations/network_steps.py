r"""The compiled arithmetic of one network step, written once and shared by the full-gradient, the
parallel SGD and the fused SGD paths of :class:`wgf.discretisations.network.NetworkTrainer` (whose docstring
states the mathematics: the polar split of each neuron, the gradient through the potential, the plain and
the sequential (layer-by-layer) updates).

Each kernel writes into its ``out`` argument and returns whether every neuron stayed finite and nonzero
(a ``False`` return is the trainer's blow-up signal). Shapes: ``W`` (m, d+1) weights, ``r`` (m,) norms,
``eta`` (m, d+1) directions, ``J`` (m,) potential, ``G`` (m, d+1) tangential gradient; SGD: ``XT`` the
transposed inputs of :func:`wgf.models.relu_features.transpose_inputs`, ``y`` targets.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..models import relu_features as _rf

__all__: list[str] = []  # private kernels, imported by wgf.discretisations.network



@njit(cache=True)
def _polar(W, r, eta):  # pragma: no cover - compiled
    """``r_j = |w_j|``, ``eta_j = w_j / r_j`` (``e_0`` where ``r_j = 0``); False if some ``r_j`` is not finite."""
    m, D = W.shape
    ok = True
    for j in range(m):
        s = 0.0
        for l in range(D):
            s += W[j, l] * W[j, l]
        rj = math.sqrt(s)
        r[j] = rj
        if not math.isfinite(rj):
            ok = False
        if rj > 0.0:
            for l in range(D):
                eta[j, l] = W[j, l] / rj
        else:
            eta[j, 0] = 1.0
            for l in range(1, D):
                eta[j, l] = 0.0
    return ok


@njit(cache=True)
def _input_points(W, rho, u):  # pragma: no cover - compiled
    """``rho_j = |b_j|`` and the unit points ``u_j = (1, b_j/rho_j)/sqrt 2`` (``e_0`` where ``b_j = 0``)."""
    m, D = W.shape
    s2 = math.sqrt(2.0)
    for j in range(m):
        s = 0.0
        for l in range(1, D):
            s += W[j, l] * W[j, l]
        rj = math.sqrt(s)
        rho[j] = rj
        if rj > 0.0:
            u[j, 0] = 1.0 / s2
            for l in range(1, D):
                u[j, l] = W[j, l] / (s2 * rj)
        else:
            u[j, 0] = 1.0
            for l in range(1, D):
                u[j, l] = 0.0


@njit(cache=True)
def _gradient(r, eta, J, G, out):  # pragma: no cover - compiled
    """``out_j = r_j (2 J_j eta_j + G_j)``: ``m grad_{w_j}`` from the potential (module docstring)."""
    m, D = eta.shape
    for j in range(m):
        for l in range(D):
            out[j, l] = r[j] * (2.0 * J[j] * eta[j, l] + G[j, l])


@njit(cache=True)
def _plain_update(W, grad, gamma, c, out):  # pragma: no cover - compiled
    """``out = W - gamma (C grad)``, ``C = diag(c)``; False if the result is not finite."""
    m, D = W.shape
    ok = True
    for j in range(m):
        for l in range(D):
            v = W[j, l] - gamma * (c[l] * grad[j, l])
            out[j, l] = v
            if not math.isfinite(v):
                ok = False
    return ok


@njit(cache=True)
def _sequential_update(W, rho, u, j_u, G, gamma, ca, cb, lam, out):  # pragma: no cover - compiled
    """The Gauss–Seidel step from ``j(u)`` (without lambda) and ``grad_S J(u)`` at the points ``u``:
    ``phi = 2 j``, ``grad phi = sqrt 2 (G_b + 2 j u_b)``, ``a' = a - gamma c_a (rho phi + 2 lambda a)``,
    ``b' = b - gamma c_b (a' grad phi + 2 lambda b)``; False if the result is not finite."""
    m, D = W.shape
    s2 = math.sqrt(2.0)
    ok = True
    for j in range(m):
        a_new = W[j, 0] - (gamma * ca) * (rho[j] * (2.0 * j_u[j]) + 2.0 * lam * W[j, 0])
        out[j, 0] = a_new
        if not math.isfinite(a_new):
            ok = False
        for l in range(1, D):
            dphi = s2 * (G[j, l] + 2.0 * j_u[j] * u[j, l])
            v = W[j, l] - (gamma * cb) * (a_new * dphi + 2.0 * lam * W[j, l])
            out[j, l] = v
            if not math.isfinite(v):
                ok = False
    return ok


@njit(cache=True)
def _sums_update(W, r, SA, SB, gamma, c, lam, sequential, out):  # pragma: no cover - compiled
    """The SGD step from the kernel layer's raw sums at the neurons' own directions ``eta_j``:
    ``SA_j = sum_i g_i relu(eta_b . x_i)``, ``SB_j = sum_i g_i relu'(eta_b . x_i) x_i``. The mini-batch
    gradient is then ``m grad_a = r SA + 2 lambda a`` (``r SA = sum_i g_i relu(b . x_i)``) and
    ``m grad_b = a SB + 2 lambda b`` — the same vector as ``r (2 J eta + grad_S J)`` with ``J = a_eta SA``,
    by Euler's identity ``SB . eta_b = SA``. Plain: ``w' = w - gamma C grad``; sequential: the input layer
    uses the updated ``a'`` (``rho phi(b^) = r SA`` and ``grad phi(b^) = SB``). False if not finite."""
    m, D = W.shape
    ca = c[0]
    ok = True
    for j in range(m):
        a = W[j, 0]
        a_new = a - gamma * (ca * (r[j] * SA[j] + 2.0 * lam * a))
        out[j, 0] = a_new
        if not math.isfinite(a_new):
            ok = False
        a_used = a_new if sequential else a
        for l in range(1, D):
            v = W[j, l] - gamma * (c[l] * (a_used * SB[j, l - 1] + 2.0 * lam * W[j, l]))
            out[j, l] = v
            if not math.isfinite(v):
                ok = False
    return ok


@njit(cache=True, nogil=True)
def _sgd_fused(W, XT, y, first, nsteps, bs, gamma, c, lam, sequential, out):  # pragma: no cover - compiled
    """Up to ``nsteps`` online SGD steps from ``W`` (m, D) on the mini-batches ``first, first+1, ...`` of a
    block (inputs ``XT`` (k', n) transposed, teacher outputs ``y`` (n,)), serially, with the kernel layer's
    primitives: the pre-activations ``b_j . x_i`` are computed once per step, for the prediction and for the
    gradient. ``out`` receives the last finite weights; returns the number of steps taken (fewer than
    ``nsteps`` when a step produced non-finite weights)."""
    m, D = W.shape
    kp = XT.shape[0]
    mp = ((m + 3) // 4) * 4
    tile = 512
    Bn = np.empty((mp, kp))
    wv = np.zeros(mp)
    r = np.empty(m)
    eta = np.empty((m, D))
    Z = np.empty((mp, bs))
    h = np.empty(bs)
    g = np.empty(bs)
    SA = np.empty(mp)
    SB = np.empty((mp, kp))
    cur = W.copy()
    nxt = np.empty_like(W)
    done = 0
    for s in range(nsteps):
        s0 = (first + s) * bs
        if not _polar(cur, r, eta):
            break
        _rf.pad_rows(eta, mp, kp, Bn)
        for j in range(m):
            wv[j] = (r[j] * r[j] / m) * eta[j, 0]
        for t0 in range(0, bs, tile):
            S = min(tile, bs - t0)
            _rf.features_tile(Bn, wv, XT, s0 + t0, S, Z, t0, h, t0)
        for i in range(bs):
            g[i] = (h[i] - y[s0 + i]) / bs
        _rf.reduce_features(Z, XT, g, s0, True, SA, SB)
        if not _sums_update(cur, r, SA, SB, gamma, c, lam, sequential, nxt):
            break
        cur, nxt = nxt, cur
        done += 1
    out[:, :] = cur
    return done

