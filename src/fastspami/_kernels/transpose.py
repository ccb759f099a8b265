"""A transposed copy of a tall float32 matrix, in cache-sized tiles over SpaMI's threads.

oneDNN's linear kernel takes its left operand contiguous, so the weight gradients ``Hᵀ G``
that :func:`fastspami._kernels.dense.mm` sends to oneDNN first copy ``Hᵀ`` (or ``Gᵀ``), an
(N, d) matrix read by columns: twelve such copies per training epoch. torch's copy of a
transposed view took, at 99,856 rows on the shared 2-core AMD EPYC of session 17
(AVX512-BF16; other jobs running), 2 threads: 15 / 14 / 37 ms for d = 50 / 64 / 100;
tiles of 64 rows x 16 columns, each written as 16 runs of 64 floats, took 3.4 / 4.4 /
11.4 ms. The same values (a copy).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch

from fastspami._kernels.fused import compile_with_numba, fused_available, in_row_blocks

TILE_ROWS, TILE_COLUMNS = 64, 16
MIN_ENTRIES = 1 << 16  # below, torch's copy (in cache) is as fast


@cache
def _kernel():
    """The compiled kernel (cached on disk), or None without Numba."""
    return compile_with_numba(_compile)


def _compile(numba, cache: bool):
    @numba.njit(nogil=True, error_model="numpy", cache=cache)
    def transpose_rows(x, out, lo, hi):
        # out[:, lo:hi] = x[lo:hi].T, tile by tile
        width = x.shape[1]
        for i0 in range(lo, hi, TILE_ROWS):
            i1 = min(i0 + TILE_ROWS, hi)
            for k0 in range(0, width, TILE_COLUMNS):
                for k in range(k0, min(k0 + TILE_COLUMNS, width)):
                    for i in range(i0, i1):
                        out[k, i] = x[i, k]

    return transpose_rows


def contiguous(t: torch.Tensor) -> torch.Tensor:
    """``t.contiguous()`` for a 2-D tensor; a transposed view of a large C-contiguous float32
    CPU matrix is copied by the tiled kernel (the same values)."""
    if (
        t.is_contiguous()
        or t.dim() != 2
        or t.dtype != torch.float32
        or t.device.type != "cpu"
        or t.requires_grad
        or not t.T.is_contiguous()
        or t.numel() < MIN_ENTRIES
        or not fused_available()
        or _kernel() is None
    ):
        return t.contiguous()
    source = t.T.numpy()  # (n, d), C-contiguous
    out = np.empty(t.shape, dtype=np.float32)  # (d, n)
    kernel = _kernel()
    in_row_blocks(lambda lo, hi: kernel(source, out, lo, hi), source.shape[0])
    return torch.from_numpy(out)
