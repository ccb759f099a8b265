"""Sparse (N, N) x dense (N, d) products on the CPU, split by rows over threads.

SciPy's CSR kernel runs on one thread; it releases the GIL, so row blocks of one product
run in parallel on a thread pool and write straight into their rows of one output.
Measured at 99,856 spots (4.3 non-zeros per row), 2 threads, width 64: 4.9 ms in one
SciPy call, 2.9 ms in two row blocks. Small products stay in one call: threads cost more
than they save there.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

try:  # SciPy's C++ kernel that accumulates Y += A X in place; public API fallback below
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - a SciPy that moved its private kernels
    _csr_matvecs = None

MIN_ENTRIES_TO_SPLIT = 1_000_000  # output entries (rows x width) below which one call wins

_pools: dict[int, ThreadPoolExecutor] = {}


def thread_pool(threads: int) -> ThreadPoolExecutor:
    """SpaMI's pool of ``threads`` worker threads (one per thread count, made once)."""
    if threads not in _pools:
        _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix="spami-csr")
    return _pools[threads]


def run_in_row_blocks(block: Callable[[int, int], object], n_rows: int, threads: int) -> None:
    """Call ``block(lo, hi)`` on ``threads`` contiguous row ranges covering [0, n_rows), in
    parallel on :func:`thread_pool`, and wait for all (re-raising the first error)."""
    bounds = np.linspace(0, n_rows, threads + 1).astype(np.int64)
    pool = thread_pool(threads)
    futures = [pool.submit(block, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    for future in futures:
        future.result()


@atexit.register
def _shutdown_pools() -> None:
    for pool in _pools.values():
        pool.shutdown(wait=False)


class RowBlockedCSR:
    """A float32 CSR matrix whose product with a dense float32 array runs on ``threads``."""

    def __init__(self, matrix: sp.csr_matrix):
        self.matrix = matrix
        self.shape = matrix.shape

    def matmul(self, x: np.ndarray, threads: int) -> np.ndarray:
        """``matrix @ x`` for a C-contiguous float32 (n_cols, d) array."""
        n_rows = self.shape[0]
        width = x.shape[1]
        if (
            threads < 2
            or _csr_matvecs is None
            or n_rows * width < MIN_ENTRIES_TO_SPLIT
            or x.dtype != self.matrix.dtype
            or not x.flags.c_contiguous
        ):
            return self.matrix @ x
        out = np.zeros((n_rows, width), dtype=np.float32)
        indptr, indices, data = self.matrix.indptr, self.matrix.indices, self.matrix.data
        flat_x = x.ravel()

        def block(lo: int, hi: int) -> None:
            start, stop = indptr[lo], indptr[hi]
            _csr_matvecs(
                hi - lo,
                self.shape[1],
                width,
                indptr[lo : hi + 1] - start,
                indices[start:stop],
                data[start:stop],
                flat_x,
                out[lo:hi].ravel(),  # a view: the rows lo:hi of a C-contiguous array
            )

        run_in_row_blocks(block, n_rows, threads)
        return out
