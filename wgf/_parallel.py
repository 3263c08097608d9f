"""When to run a parallel Numba kernel, or BLAS, on one thread.

A parallel region costs a fork and a join of the thread team: tens of microseconds on a quiet machine,
but up to a scheduler time slice (milliseconds) when the cores are oversubscribed and a worker thread is
descheduled. Kernels called many times on small inputs (certificates, local searches, small SGD batches)
therefore run on the calling thread alone. ``numba.set_num_threads(1)`` keeps the same compiled code, and
the kernels parallelise over outputs with sequential sums, so the results are bitwise the same.
"""

from __future__ import annotations

from contextlib import contextmanager

import numba

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
