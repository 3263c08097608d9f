"""Online SGD of :class:`wgf.discretisations.network.NetworkTrainer`: the mini-batch stream and its steps.

A mixin holding what the trainer does with ``method = "sgd"`` (the mathematics and the random-number
conventions are in :mod:`wgf.discretisations.network`'s docstring): mini-batches are drawn in blocks of
several batches (one ``model.sample_inputs`` call, or one ``model.sample_training_block`` call, whose
inputs go straight into the kernels' transposed layout), the next block optionally on a prefetch thread;
each step is the fused serial kernel (``wgf.discretisations.network_steps._sgd_fused``) for small
networks and the parallel kernel-layer sums (:mod:`wgf.models.relu_features`) for large ones, or a conic
step. :meth:`OnlineSGD.train_on` steps on given inputs instead (common random numbers across trainers).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from .._parallel import SERIAL_WORK, serial_if_small
from ..models import relu_features as _rf
from ..models.relu_features import relu_features_potential, relu_features_predict
from .network_steps import _gradient, _sgd_fused, _sums_update

__all__ = ["OnlineSGD"]

_POOL: ThreadPoolExecutor | None = None


def _prefetch_pool() -> ThreadPoolExecutor:
    """The thread that draws the next block of mini-batches while the current one is used (one per process:
    NumPy's generators release the GIL while they fill an array, and so does the fused step)."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wgf-prefetch")
    return _POOL


def _round4(x: int) -> int:
    return -(-x // 4) * 4


class OnlineSGD:
    """The online-SGD part of :class:`~wgf.discretisations.network.NetworkTrainer` (a mixin: it uses the
    trainer's weights ``_w``, generator ``_rng``, block state, ``_polar_split``, ``_conic_weights`` and
    ``_blown``)."""

    def batch_gradient(self, X, weights=None) -> np.ndarray:
        """``m grad_{w_j}`` of the mini-batch risk ``(1/2B) sum_i (h(x_i) - y_i)^2 + lambda nu(S^d)`` on inputs
        ``X`` (B, dx), shape (m, d+1): the SGD direction (an unbiased estimate of :meth:`population_gradient`
        for i.i.d. inputs)."""
        W = self._w if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
        X = np.asarray(X, dtype=np.float64)
        r, eta = self._polar_split(W)
        h = relu_features_predict(eta, r * r / W.shape[0], X)
        g = (h - np.asarray(self.model.target(X), dtype=np.float64)) / X.shape[0]
        J, G = relu_features_potential(eta, X, g)
        out = np.empty_like(W)
        _gradient(r, eta, J + self._lambda, G, out)
        return out

    def _draw_block(self):
        """``(generator state before, inputs X (rows, dx) or None, transposed inputs, teacher outputs or
        None)`` of the next block. With a model that has ``sample_training_block`` (it may run on the prefetch
        thread: no parallel region), one call of it gives the transposed inputs and the outputs; otherwise
        one ``model.sample_inputs`` call gives X and its transpose, and the outputs are left to the caller."""
        state = self._rng.bit_generator.state
        rows = self._blocks * self.batch_size
        if callable(getattr(self.model, "sample_training_block", None)):
            XT, y = self.model.sample_training_block(rows, self._rng)
            return state, None, XT, np.ascontiguousarray(y, dtype=np.float64)
        X = np.asarray(self.model.sample_inputs(rows, self._rng), dtype=np.float64)
        return state, X, _rf.transpose_inputs(X), None

    def _next_block(self) -> None:
        """Make the next block of mini-batches current (drawn now, or taken from the prefetch thread) with its
        teacher outputs; with the fused serial step and more than one Numba thread allowed, start drawing the
        block after it on the prefetch thread before computing these outputs, so that the draw overlaps
        both the outputs and the steps (the generator is used by one thread at a time, in order, so the
        stream is the same either way)."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._block_state, X, self._block_T, y = pending.result()
        else:
            self._block_state, X, self._block_T, y = self._draw_block()
        fused = self._fused()
        if fused and numba.get_num_threads() > 1:
            self._pending = _prefetch_pool().submit(self._draw_block)
        if y is None:
            # with the fused (serial) step, the teacher's outputs are computed serially too: a parallel
            # region per block costs more than it saves at these sizes on a busy machine
            with serial_if_small(0.0 if fused else SERIAL_WORK):
                y = np.ascontiguousarray(self.model.target(X), dtype=np.float64)
        self._block_y = y
        self._block_pos = 0

    def _drop_prefetch(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def train_on(self, X, y=None, transposed=None) -> None:
        """Online SGD steps on given inputs instead of the trainer's own stream: one step per consecutive
        mini-batch of ``X`` (n, dx), n a multiple of ``batch_size``, with targets ``y`` (n,) (default
        ``model.target(X)``). For common random numbers across trainers (the same inputs for several
        widths); ``transposed`` may pass ``wgf.models.relu_features.transpose_inputs(X)`` computed once for all of
        them. The trainer's own generator does not move, so :meth:`~wgf.discretisations.network.NetworkTrainer.state_dict` cannot replay such steps."""
        if self.method != "sgd":
            raise ValueError(f"train_on needs method='sgd', this trainer has method={self.method!r}")
        X = np.ascontiguousarray(X, dtype=np.float64)
        k = self._w.shape[1] - 1
        if X.ndim != 2 or X.shape[1] != k or X.shape[0] % self.batch_size:
            raise ValueError(f"X must have shape (n, {k}) with n a multiple of batch_size = {self.batch_size}, "
                             f"got {X.shape}")
        y = self.model.target(X) if y is None else y
        y = np.ascontiguousarray(y, dtype=np.float64)
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
        if transposed is None:
            XT = _rf.transpose_inputs(X)
        else:
            XT = np.ascontiguousarray(transposed, dtype=np.float64)
            if XT.shape != (_rf.transposed_rows(k), X.shape[0]):
                raise ValueError(f"transposed must be transpose_inputs(X), of shape ({_rf.transposed_rows(k)}, "
                                 f"{X.shape[0]}), got {XT.shape}")
        self._sgd_batches(XT, y, 0, X.shape[0] // self.batch_size)

    def _fused(self) -> bool:
        m, D = self._w.shape
        return 3 * _round4(m) * _round4(D - 1) * self.batch_size < SERIAL_WORK

    def _sgd_batches(self, XT, y, first: int, n: int) -> None:
        """``n`` SGD steps on the mini-batches ``first..first+n-1`` of transposed inputs ``XT`` with targets
        ``y``; raises FloatingPointError (weights unchanged since the last finite step) on a blow-up."""
        B = self.batch_size
        if self.conic:
            for s in range(first, first + n):
                self._conic_sgd_step(XT, y, s)
            return
        if self._fused():
            out = np.empty_like(self._w)
            with np.errstate(over="ignore", invalid="ignore"):
                done = _sgd_fused(self._w, XT, y, first, n, B, self.step_size, self._c, self._lambda,
                                  self.sequential, out)
            self._w = out
            self.steps += done
            if done < n:
                self._blown()
            return
        for s in range(first, first + n):
            W = self._w
            r, eta = self._polar_split(W)
            h, Z = _rf.features_transposed(eta, r * r / W.shape[0], XT, s * B, B)
            g = (h - y[s * B:(s + 1) * B]) / B
            SA, SB = _rf.reduce_transposed(Z, XT, g, s * B)
            W_new = np.empty_like(W)
            with np.errstate(over="ignore", invalid="ignore"):
                ok = _sums_update(W, r, SA, SB, self.step_size, self._c, self._lambda, self.sequential, W_new)
            if not ok:
                self._blown()
            self._w = W_new
            self.steps += 1

    def _conic_sgd_step(self, XT, y, s: int) -> None:
        """One conic step on mini-batch s of the block: J and grad_S J of the mini-batch risk
        ``(1/2B) sum_i (h(x_i) - y_i)^2`` (+ lambda) at the directions, from the kernel layer's sums."""
        B = self.batch_size
        W = self._w
        r, eta = self._polar_split(W)
        h, Z = _rf.features_transposed(eta, r * r / W.shape[0], XT, s * B, B)
        g = (h - y[s * B:(s + 1) * B]) / B
        SA, SB = _rf.reduce_transposed(Z, XT, g, s * B)
        J, G = np.empty(W.shape[0]), np.empty_like(W)
        _rf.finish_potential(eta, SA, SB, J, G)
        self._w = self._conic_weights(r, eta, J + self._lambda, G, self.step_size)
        self.steps += 1
