"""A GCN layer's sparse product and its bias in one pass: ``Â x + b`` forward, and backward
``Âᵀ g`` with the bias's gradient (the column sums of g) read in the same pass.

Where a layer narrows (256 -> 64 and the decoders' last layers) it multiplies by W first
and propagates after, and adds the bias to the propagated rows. Done as SciPy's product
into a zeroed array, then ``add_`` of the bias, and backward SciPy's product and torch's
``sum(dim=0)`` of the incoming gradient, that is five passes over an (N, d) array besides
the product's own: the zero fill, the bias's read and write, and the column sum, which
torch computes as a strided reduction (5.4 ms for 99,856 x 64 on one thread against 1.1
ms for the bias's ``add_``). Here each output row is summed in registers from its
neighbours' rows (in the order of the row's indices, as SciPy's kernel: the same float32
sums, with the bias added last, so the forward values are bit for bit SciPy's plus the
bias) and written once, and the backward pass adds each incoming row to per-block float64
column sums while it is in cache (the rows of Â hold their diagonal). Rows are split into
blocks over torch's threads on SpaMI's pool, as the other fused kernels.

Runs on the CPU for float32 (Numba); elsewhere (CUDA, ``SPAMI_FUSED=0``, without Numba) the
operator's own product and torch's bias expressions run.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch

from fastspami._kernels.fused import compile_with_numba, fused_available, in_row_blocks


@cache
def _kernels():
    """The compiled kernels (cached on disk), or None without Numba."""
    return compile_with_numba(_compile)


def _compile(numba, cache: bool):
    # no fastmath: a contracted multiply-add (FMA) would round the sums differently from
    # SciPy's kernel, whose products the other layers still use
    njit = numba.njit(nogil=True, error_model="numpy", cache=cache)

    @njit
    def propagate_bias(indptr, indices, data, x, bias, out, lo, hi):
        width = x.shape[1]
        row = np.empty(width, dtype=np.float32)
        for i in range(lo, hi):
            row[:] = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                a, j = data[p], indices[p]
                for k in range(width):
                    row[k] += a * x[j, k]
            for k in range(width):
                out[i, k] = row[k] + bias[k]

    @njit
    def propagate_column_sums(indptr, indices, data, g, out, col_sum, lo, hi):
        width = g.shape[1]
        row = np.empty(width, dtype=np.float32)
        for i in range(lo, hi):
            row[:] = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                a, j = data[p], indices[p]
                for k in range(width):
                    row[k] += a * g[j, k]
            for k in range(width):
                out[i, k] = row[k]
                col_sum[k] += g[i, k]

    return {"forward": propagate_bias, "backward": propagate_column_sums}


def fused_propagation_available() -> bool:
    """Whether the kernels run here (Numba present, fused kernels not turned off)."""
    return fused_available() and _kernels() is not None


def _csr_arrays(matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """indptr, indices, data of a SciPy CSR matrix (int32 or int64 indices)."""
    return matrix.indptr, matrix.indices, matrix.data


def propagate_bias(matrix, x: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``matrix @ x + bias`` for a float32 SciPy CSR (N, M) matrix, a C-contiguous float32
    (M, d) array and a (d,) bias; a new (N, d) array."""
    kernel = _kernels()["forward"]
    out = np.empty((matrix.shape[0], x.shape[1]), dtype=np.float32)
    indptr, indices, data = _csr_arrays(matrix)
    in_row_blocks(lambda lo, hi: kernel(indptr, indices, data, x, bias, out, lo, hi), len(out))
    return out


def propagate_with_column_sums(matrix, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(matrix @ g, g.sum(axis=0))`` for a float32 SciPy CSR (N, N) matrix and a
    C-contiguous float32 (N, d) array: the product, and the column sums accumulated in
    float64 per row block (added in block order: deterministic) and rounded to float32."""
    kernel = _kernels()["backward"]
    n_rows, width = matrix.shape[0], g.shape[1]
    out = np.empty((n_rows, width), dtype=np.float32)
    indptr, indices, data = _csr_arrays(matrix)
    sums: dict[int, np.ndarray] = {}  # by the first row of each block

    def block(lo: int, hi: int) -> None:
        sums[lo] = np.zeros(width, dtype=np.float64)
        kernel(indptr, indices, data, g, out, sums[lo], lo, hi)

    in_row_blocks(block, n_rows)
    total = np.sum([sums[lo] for lo in sorted(sums)], axis=0)
    return out, total.astype(np.float32)


class PropagateBias(torch.autograd.Function):
    """``Â x + b`` for a float32 CPU x (N, d) and bias (d,), with ``Â`` and ``Âᵀ`` SciPy
    CSR float32 matrices (N, N): one pass forward, one backward (:mod:`this module
    <fastspami._kernels.propagate>`)."""

    @staticmethod
    def forward(ctx, x, bias, matrix, matrix_t):  # noqa: D102
        ctx.matrix_t = matrix_t
        x_np = x.detach().contiguous().numpy()
        return torch.from_numpy(propagate_bias(matrix, x_np, bias.detach().numpy()))

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        product, sums = propagate_with_column_sums(ctx.matrix_t, grad.contiguous().numpy())
        grad_x = torch.from_numpy(product) if ctx.needs_input_grad[0] else None
        grad_b = torch.from_numpy(sums) if ctx.needs_input_grad[1] else None
        return grad_x, grad_b, None, None
