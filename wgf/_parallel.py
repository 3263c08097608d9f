"""When to run a parallel Numba kernel, or BLAS, on one thread.

A parallel region costs a fork and a join of the thread team: tens of microseconds on a quiet machine,
but up to a scheduler time slice (milliseconds) when the cores are oversubscribed and a worker thread is
descheduled. Kernels called many times on small inputs (certificates, local searches, small SGD batches)
therefore run on the calling thread alone. ``numba.set_num_threads(1)`` keeps the same compiled code, and
the kernels parallelise over outputs with sequential sums, so the results are bitwise the same.

OpenMP wait policy. Unless the environment says otherwise, wgf sets ``OMP_WAIT_POLICY=PASSIVE`` (before
any parallel region starts, when this module is imported): idle OpenMP workers then sleep instead of
spinning. With the default (active) policy the spinning workers of a process compete for the cores with
its own main thread and with every other process; on this project's shared 2-core machine under load
that made a parallel SGD step 9 times slower (42 ms against 4.8 ms at width 1000) and the 2-thread runs
slower than the 1-thread ones. A sleeping worker costs a wake-up (microseconds) per parallel region, which
the work thresholds below keep small against the region's work.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402  (after the wait policy)

__all__ = ["SERIAL_WORK", "serial_if_small", "blas_single_threaded"]

#: Below this many multiply-adds (about 0.2 ms on one core) a kernel runs on one thread.
SERIAL_WORK = 2e6


@contextmanager
def serial_if_small(work: float):
    """Context in which Numba's parallel kernels use one thread when ``work < SERIAL_WORK``."""
    before = numba.get_num_threads()
    if work >= SERIAL_WORK or before == 1:
        yield
        return
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


_BLAS_CONTROLLER = None


def blas_single_threaded():
    """Context in which the BLAS libraries loaded by NumPy/SciPy use one thread (threadpoolctl).

    Inside wgf's time loops the parallelism is Numba's; a threaded BLAS (OpenBLAS threads a dot product
    of more than ~10^4 entries) has to wake its sleeping threads for every small product, which costs a
    scheduler time slice on a busy machine: a level-5 grid step went from 100 ms to 8 ms with one BLAS
    thread. The thread pools are inspected once, on first use."""
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")
