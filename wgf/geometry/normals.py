"""Standard normal draws from a NumPy ``Generator`` by a compiled loop: the same numbers, faster.

Numba compiles ``Generator.standard_normal`` from the algorithm NumPy uses (the 256-layer ziggurat
on the generator's 64-bit stream) and calls the generator's own bit generator through its C interface,
so :func:`standard_normal` returns bit for bit what ``rng.standard_normal(shape)`` would, and leaves
``rng`` in the same state afterwards, for every NumPy bit generator (PCG64, PCG64DXSM, SFC64, MT19937,
Philox). It exists for speed: the online-SGD inputs of teacher–student are 10^4 normals per step and
NumPy's vectorised call costs about three times the compiled loop (see ``benchmarks/README.md``). The
compiled loop releases the GIL, so a prefetch thread can draw while another thread computes; like
NumPy's own call it holds the bit generator's lock meanwhile, so two threads drawing from one generator
cannot corrupt its state.

The NumPy reference is ``rng.standard_normal`` itself; ``tests/test_normals.py`` checks the two streams
agree exactly.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["standard_normal", "standard_normal_transposed"]


@njit(cache=True, nogil=True)
def _fill_standard_normal(rng, out):  # pragma: no cover - compiled
    """Fill the 1-D float64 array ``out`` with ``rng.standard_normal()``, one after the other."""
    for i in range(out.shape[0]):
        out[i] = rng.standard_normal()


@njit(cache=True, nogil=True)
def _fill_standard_normal_columns(rng, k, out):  # pragma: no cover - compiled
    """Fill the first ``k`` rows of ``out`` (rows, n) column by column, ``out[l, i]`` the ``(i k + l)``-th draw
    (the draws of ``(n, k)`` in C order, transposed), and zero its other rows."""
    rows, n = out.shape
    for i in range(n):
        for l in range(k):
            out[l, i] = rng.standard_normal()
    for l in range(k, rows):
        for i in range(n):
            out[l, i] = 0.0


def standard_normal(rng: np.random.Generator, shape: int | tuple[int, ...]) -> np.ndarray:
    """``rng.standard_normal(shape)`` (float64, C order), drawn by a compiled loop.

    Parameters
    ----------
    rng : numpy.random.Generator
        Advanced exactly as ``rng.standard_normal(shape)`` would advance it. Anything that is not a plain
        ``numpy.random.Generator`` (a subclass, a legacy ``RandomState``) is served by its own
        ``standard_normal``.
    shape : int or tuple of int

    Returns
    -------
    ndarray, float64, of the given shape
        The same numbers as ``rng.standard_normal(shape)``.
    """
    if type(rng) is not np.random.Generator:
        return np.asarray(rng.standard_normal(shape), dtype=np.float64)
    out = np.empty(shape, dtype=np.float64)
    if out.size:
        with rng.bit_generator.lock:
            _fill_standard_normal(rng, out.reshape(-1))
    return out


def standard_normal_transposed(rng: np.random.Generator, n: int, k: int, rows: int | None = None) -> np.ndarray:
    """``rng.standard_normal((n, k)).T`` written straight into a C-ordered ``(rows, n)`` array, ``rows >= k``,
    with zero rows below: the inputs' layout of :mod:`wgf.models.relu_features` (its ``transpose_inputs``), without
    drawing the ``(n, k)`` array and copying it.

    Parameters
    ----------
    rng : numpy.random.Generator
        Advanced exactly as ``rng.standard_normal((n, k))`` would advance it (other generators are served by
        their own ``standard_normal``, then transposed).
    n, k : int
        Number of draws of a ``k``-vector.
    rows : int, optional
        Rows of the result (default ``k``).

    Returns
    -------
    ndarray, float64, shape (rows, n)
        ``out[l, i]`` is entry ``(i, l)`` of ``rng.standard_normal((n, k))`` for ``l < k``; 0 for ``l >= k``.
    """
    rows = k if rows is None else rows
    if rows < k:
        raise ValueError(f"rows must be >= k = {k}, got {rows}")
    out = np.empty((rows, n), dtype=np.float64)
    if type(rng) is not np.random.Generator:
        out[:k] = np.asarray(rng.standard_normal((n, k)), dtype=np.float64).T
        out[k:] = 0.0
    elif out.size:
        with rng.bit_generator.lock:
            _fill_standard_normal_columns(rng, k, out)
    return out
