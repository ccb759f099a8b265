"""SpaMI's two per-spot losses as fused CPU kernels (Numba): the Deep-Graph-Infomax loss
and the mean cosine similarity, each value and gradient in one pass over the rows.

In torch's eager mode each element-wise step (normalize, sigmoid, four critic scores,
their backward passes) reads and writes a whole (N, L) array: about 40 such passes
per modality for the DGI loss alone, a third of an epoch at 10^5 spots. The kernels compute
row by row, each row's 64 values held in cache. Measured at 99,856 spots, 2 threads,
L = 64: the DGI loss's forward and backward 135 -> 22 ms per modality; 7.4 -> 1.9 ms at
9,216 spots.

For the loops to vectorize, the kernels use Numba's ``error_model="numpy"`` (Python's model
checks every float division for zero, which keeps LLVM from vectorizing the loop) and the
contexts' sigmoids take exp from a Taylor polynomial (their arguments, entries of a unit
vector, lie in [-1, 1]; libm's exp is a scalar call). Measured on a 2-core AMD EPYC
(Zen 3, AVX2), one thread, 9,216 spots: the DGI kernel 11.2 -> 8.1 ms (error model) ->
4.5 ms (polynomial) -> 3.6 ms (one exp per score shared by its softplus and sigmoid,
the four logs as one).

A third computes the reconstruction loss (:func:`weighted_mse`), and a fourth serves the
GCN layers (:func:`relu_backward_bias_sum_`, used by
:func:`fastspami._kernels.dense.matmul_bias_relu`): the ReLU's backward and the bias's gradient in one
pass over an (N, 256) gradient instead of two.

Same mathematics, other rounding (float32 with reassociated sums). Rows are split into
blocks over torch's thread count on SpaMI's own thread pool (the kernels release the GIL);
each row's result does not depend on the split. On CUDA, for other dtypes, without Numba,
or with ``SPAMI_FUSED=0`` in the environment the torch expressions run
(:func:`dgi_loss_torch`, :func:`mean_cosine_torch`). A fused attention fusion was tried
and not kept: Numba's scalar ``tanh`` made it slower than torch's vectorized one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fastspami._kernels.csr import run_in_row_blocks

MIN_ROWS_TO_SPLIT = 2048  # below, one thread: handing out blocks costs more than it saves
# below (entries), torch's two vectorized passes are as fast as one in Numba (in cache)
MIN_ENTRIES_RELU_BACKWARD = 1 << 22
NORMALIZE_EPS = 1e-12  # F.normalize's default
COSINE_EPS = 1e-8  # F.cosine_similarity's default
# Taylor degree of exp on [-1, 1]: the sigmoid within 1.1e-7 of exact (float32's own: 8.5e-8)
EXP_DEGREE = 10


def compile_with_numba(compile_kernels: Callable[..., Any]) -> Any:
    """``compile_kernels(numba, cache)``'s result, cached on disk where a cache directory is
    writable (else compiled in every process); None without Numba."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba comes with scanpy
        return None
    try:
        return compile_kernels(numba, cache=True)
    except RuntimeError:  # no writable cache directory: compile in every process
        return compile_kernels(numba, cache=False)


@cache
def _kernels():
    """The compiled kernels (compiled on first use, cached on disk), or None without Numba."""
    return compile_with_numba(_compile)


def fused_available() -> bool:
    """Whether the fused CPU kernels run here (Numba present, not disabled)."""
    if os.environ.get("SPAMI_FUSED", "").lower() in {"0", "false", "no", "off"}:
        return False
    return _kernels() is not None


def _use_fused(*tensors: torch.Tensor) -> bool:
    return all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors) and (
        fused_available()
    )


def _compile(numba, cache: bool):  # noqa: C901 - the kernels' bodies, compiled once
    f32 = np.float32
    njit = numba.njit(nogil=True, fastmath=True, error_model="numpy", cache=cache)
    # exp(-x) on [-1, 1] by its Taylor polynomial (Horner), highest degree first. A tuple
    # of constants, not a jitted helper: a closure over another dispatcher gets a new cache
    # key in every process, so the kernel would be compiled (and appended to the cache) anew.
    taylor = tuple(f32(1.0 / math.factorial(n)) for n in range(EXP_DEGREE, -1, -1))

    @njit
    def dgi(p, pc, c, cc, bias, rows, scale, eps, gp, gpc, gc, gcc, row_loss, row_db, lo, hi):
        width = p.shape[1]
        for i in range(lo, hi):
            r = rows[i]
            sq_c, sq_cc = f32(0.0), f32(0.0)
            for k in range(width):
                sq_c += c[r, k] * c[r, k]
                sq_cc += cc[r, k] * cc[r, k]
            norm_c, norm_cc = math.sqrt(sq_c), math.sqrt(sq_cc)
            m_c, m_cc = max(norm_c, eps), max(norm_cc, eps)
            inv_c, inv_cc = f32(1.0 / m_c), f32(1.0 / m_cc)
            s1, s2, s3, s4 = f32(0.0), f32(0.0), f32(0.0), f32(0.0)
            for k in range(width):  # contexts g = sigmoid(c / |c|), kept in the gradients
                # sigmoid of a unit vector's entry (|x| <= 1): a polynomial exp, which
                # vectorizes (libm's exp is a scalar call), within float32 rounding there
                x_g, x_h = c[r, k] * inv_c, cc[r, k] * inv_cc
                e_g, e_h = taylor[0], taylor[0]
                for coefficient in taylor[1:]:
                    e_g = e_g * -x_g + coefficient
                    e_h = e_h * -x_h + coefficient
                g = f32(1.0) / (f32(1.0) + e_g)
                h = f32(1.0) / (f32(1.0) + e_h)
                gc[r, k] = g
                gcc[r, k] = h
                s1 += p[r, k] * g
                s2 += pc[r, k] * g
                s3 += pc[r, k] * h
                s4 += p[r, k] * h
            s1, s2, s3, s4 = s1 + bias, s2 + bias, s3 + bias, s4 + bias
            # BCE with labels 1, 0, 1, 0: softplus(-s1) + softplus(s2) + softplus(-s3) +
            # softplus(s4), with softplus(x) = max(x, 0) + log(1 + e^-|x|), the four logs
            # as one (float64); the gradients are sigmoids from the same e^-|x|
            e1, e2 = math.exp(-abs(s1)), math.exp(-abs(s2))
            e3, e4 = math.exp(-abs(s3)), math.exp(-abs(s4))
            row_loss[i] = (
                max(-s1, 0.0)
                + max(s2, 0.0)
                + max(-s3, 0.0)
                + max(s4, 0.0)
                + math.log((1.0 + e1) * (1.0 + e2) * (1.0 + e3) * (1.0 + e4))
            )
            # sigmoid(s) = 1 / (1 + e) for s >= 0, e / (1 + e) below; sigmoid(s) - 1 as
            # -sigmoid(-s), without cancellation
            d1 = f32(-(e1 if s1 >= 0 else 1.0) / (1.0 + e1) * scale)
            d2 = f32((1.0 if s2 >= 0 else e2) / (1.0 + e2) * scale)
            d3 = f32(-(e3 if s3 >= 0 else 1.0) / (1.0 + e3) * scale)
            d4 = f32((1.0 if s4 >= 0 else e4) / (1.0 + e4) * scale)
            row_db[i] = d1 + d2 + d3 + d4
            dot_c, dot_cc = f32(0.0), f32(0.0)
            for k in range(width):  # scores' and sigmoids' backward
                g, h, a, b = gc[r, k], gcc[r, k], p[r, k], pc[r, k]
                gp[r, k] = d1 * g + d4 * h
                gpc[r, k] = d2 * g + d3 * h
                gu = (d1 * a + d2 * b) * g * (f32(1.0) - g)
                hu = (d3 * b + d4 * a) * h * (f32(1.0) - h)
                gc[r, k] = gu
                gcc[r, k] = hu
                dot_c += gu * c[r, k]
                dot_cc += hu * cc[r, k]
            # normalize's backward: (gu - u (u . gu)) / m for u = c / m; gu / eps if clamped
            f_c = f32(dot_c / (m_c * m_c)) if norm_c > eps else f32(0.0)
            f_cc = f32(dot_cc / (m_cc * m_cc)) if norm_cc > eps else f32(0.0)
            for k in range(width):
                gc[r, k] = (gc[r, k] - c[r, k] * f_c) * inv_c
                gcc[r, k] = (gcc[r, k] - cc[r, k] * f_cc) * inv_cc

    @njit
    def cosine(a, b, rows, scale, eps, ga, gb, row_cos, lo, hi):
        width = a.shape[1]
        for i in range(lo, hi):
            r = rows[i]
            aa, bb, ab = f32(0.0), f32(0.0), f32(0.0)
            for k in range(width):
                aa += a[r, k] * a[r, k]
                bb += b[r, k] * b[r, k]
                ab += a[r, k] * b[r, k]
            na, nb = max(math.sqrt(aa), eps), max(math.sqrt(bb), eps)
            cos = ab / (na * nb)
            row_cos[i] = cos
            inv = f32(scale / (na * nb))
            fa, fb = f32(scale * cos / (na * na)), f32(scale * cos / (nb * nb))
            for k in range(width):  # d cos / da = b / (|a||b|) - cos a / |a|^2
                ga[r, k] = b[r, k] * inv - a[r, k] * fa
                gb[r, k] = a[r, k] * inv - b[r, k] * fb

    @njit
    def relu_bias_backward(grad, act, col_sum, lo, hi):
        width = grad.shape[1]
        for i in range(lo, hi):
            for k in range(width):
                g = grad[i, k] if act[i, k] > 0 else f32(0.0)
                grad[i, k] = g
                col_sum[k] += g

    u16, u32 = np.uint16, np.uint32
    negative_zero, negative_inf = u16(0x8000), u16(0xFF80)  # NaNs lie above 0x7F80 and -inf

    @njit
    def relu_bias_backward_bf16(grad, act, col_sum, lo, hi):
        # bfloat16 as its bits (uint16): a value is <= 0 where its bits are 0 (+0) or lie
        # in [-0, -inf] (threshold_backward zeroes exactly those: it keeps NaNs' gradient);
        # its float32 value is the bits shifted up by 16
        width = grad.shape[1]
        bits = np.empty(width, dtype=u32)
        values = bits.view(np.float32)
        for i in range(lo, hi):
            for k in range(width):
                a = act[i, k]
                off = a == u16(0) or (a >= negative_zero and a <= negative_inf)
                g = u16(0) if off else grad[i, k]
                grad[i, k] = g
                bits[k] = u32(g) << u32(16)
            for k in range(width):
                col_sum[k] += values[k]

    @njit
    def squared_error(r, x, rows, scale, grad, row_sum, lo, hi):
        width = r.shape[1]
        for i in range(lo, hi):
            ri = rows[i]
            acc = f32(0.0)
            for k in range(width):
                d = r[ri, k] - x[ri, k]
                grad[ri, k] = d * scale
                acc += d * d
            row_sum[i] = acc

    return {
        "dgi": dgi,
        "cosine": cosine,
        "relu_bias_backward": relu_bias_backward,
        "relu_bias_backward_bf16": relu_bias_backward_bf16,
        "squared_error": squared_error,
    }


def _rows_array(rows: torch.Tensor | None, n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64) if rows is None else rows.cpu().numpy().astype(np.int64)


def _gradient_arrays(count: int, shape: tuple[int, int], rows) -> list[np.ndarray]:
    """Outputs of a kernel; zeros where it writes only some rows."""
    alloc = np.empty if rows is None else np.zeros
    return [alloc(shape, dtype=np.float32) for _ in range(count)]


def in_row_blocks(
    block: Callable[[int, int], object], n_rows: int, min_rows: int | None = None
) -> None:
    """Call ``block(lo, hi)`` on rows [0, n_rows), split into blocks over torch's threads
    (on SpaMI's own pool: Numba's OpenMP runtime, beside torch's, spun two 1-thread jobs
    sharing two cores 40 times slower), or once on all rows when fewer than ``min_rows``
    (default :data:`MIN_ROWS_TO_SPLIT`, read at each call so that tests can lower it)."""
    if min_rows is None:
        min_rows = MIN_ROWS_TO_SPLIT
    threads = torch.get_num_threads()
    if threads < 2 or n_rows < min_rows:
        block(0, n_rows)
    else:
        run_in_row_blocks(block, n_rows, threads)


def _over_rows(name: str, n_rows: int, *args) -> None:
    """Run kernel ``name`` on rows [0, n_rows) in :func:`in_row_blocks`. Every row's
    result is the same either way."""
    kernel = _kernels()[name]
    in_row_blocks(lambda lo, hi: kernel(*args, lo, hi), n_rows)


def _scaled(grads: tuple[torch.Tensor, ...], grad_output: torch.Tensor):
    factor = float(grad_output)
    return grads if factor == 1.0 else tuple(g.mul_(factor) for g in grads)


class _FusedDGI(torch.autograd.Function):
    @staticmethod
    def forward(ctx, p, pc, c, cc, bias, rows):  # noqa: D102
        arrays = [t.detach().contiguous().numpy() for t in (p, pc, c, cc)]
        rows_np = _rows_array(rows, p.shape[0])
        grads = _gradient_arrays(4, tuple(p.shape), rows)
        row_loss = np.empty(len(rows_np), dtype=np.float32)
        row_db = np.empty(len(rows_np), dtype=np.float32)
        scale = 1.0 / (2 * len(rows_np))
        _over_rows("dgi", len(rows_np), *arrays, float(bias), rows_np, scale, NORMALIZE_EPS,
                   *grads, row_loss, row_db)  # fmt: skip
        ctx.grads = tuple(torch.from_numpy(g) for g in grads) + (
            torch.tensor([row_db.sum(dtype=np.float64)], dtype=bias.dtype),
        )
        return torch.tensor(row_loss.sum(dtype=np.float64) * scale, dtype=p.dtype)

    @staticmethod
    def backward(ctx, grad_output):  # noqa: D102
        grads, ctx.grads = _scaled(ctx.grads, grad_output), None
        return (*grads, None)


class _FusedMeanCosine(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, rows):  # noqa: D102
        arrays = [t.detach().contiguous().numpy() for t in (a, b)]
        rows_np = _rows_array(rows, a.shape[0])
        grads = _gradient_arrays(2, tuple(a.shape), rows)
        row_cos = np.empty(len(rows_np), dtype=np.float32)
        scale = 1.0 / len(rows_np)
        _over_rows("cosine", len(rows_np), *arrays, rows_np, scale, COSINE_EPS, *grads, row_cos)
        ctx.grads = tuple(torch.from_numpy(g) for g in grads)
        return torch.tensor(row_cos.sum(dtype=np.float64) * scale, dtype=a.dtype)

    @staticmethod
    def backward(ctx, grad_output):  # noqa: D102
        grads, ctx.grads = _scaled(ctx.grads, grad_output), None
        return (*grads, None)


def dgi_loss(
    projected: torch.Tensor,
    projected_corrupt: torch.Tensor,
    context: torch.Tensor,
    context_corrupt: torch.Tensor,
    bias: torch.Tensor,
    rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """Deep-Graph-Infomax loss from the critic's projections ``h W`` of the embedding and
    its corruption and the raw (un-normalized) neighbourhood means of both.

    The contexts are ``g = sigmoid(normalize(context))``; the critic scores ``D(h, g) =
    (h W) . g + b`` pair the embedding with its own context (label 1) and the corruption
    with it (label 0), and likewise with the corrupted context: the mean BCE of each set
    of 2 N scores, summed. ``rows`` restricts the loss to those spots (a tile's interior).
    """
    tensors = (projected, projected_corrupt, context, context_corrupt, bias)
    if _use_fused(*tensors):
        return _FusedDGI.apply(*tensors, rows)
    return dgi_loss_torch(*tensors, rows)


def dgi_loss_torch(
    projected: torch.Tensor,
    projected_corrupt: torch.Tensor,
    context: torch.Tensor,
    context_corrupt: torch.Tensor,
    bias: torch.Tensor,
    rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """:func:`dgi_loss` in torch's element-wise operations (any device)."""
    g = torch.sigmoid(F.normalize(context, p=2, dim=1, eps=NORMALIZE_EPS))
    g_corrupt = torch.sigmoid(F.normalize(context_corrupt, p=2, dim=1, eps=NORMALIZE_EPS))
    zw, zw_corrupt = projected, projected_corrupt
    if rows is not None:
        zw, zw_corrupt, g, g_corrupt = zw[rows], zw_corrupt[rows], g[rows], g_corrupt[rows]

    def score(h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return (h * c).sum(dim=1) + bias

    labels = torch.cat([torch.ones_like(zw[:, 0]), torch.zeros_like(zw[:, 0])])
    logits = torch.cat([score(zw, g), score(zw_corrupt, g)])
    logits_corrupt = torch.cat([score(zw_corrupt, g_corrupt), score(zw, g_corrupt)])
    return F.binary_cross_entropy_with_logits(logits, labels) + F.binary_cross_entropy_with_logits(
        logits_corrupt, labels
    )


def relu_backward_bias_sum_(grad: torch.Tensor, activation: torch.Tensor) -> torch.Tensor:
    """The backward pass of ``relu(h + bias)`` given its output: ``grad`` (N, d) is set to
    zero in place where ``activation`` is not positive (``threshold_backward``), and its
    column sums, the bias's gradient (d,), are returned in float32. Fused: one pass over the
    rows, sums kept in float64 per row block (torch sums in float32: results equal to
    rounding). For bfloat16 (mixed precision) the pass reads their bits (torch's
    ``sum(dtype=float32)`` would first copy the whole gradient into float32)."""
    bf16 = grad.dtype == torch.bfloat16 and activation.dtype == torch.bfloat16
    if not (
        (_use_fused(grad, activation) or (bf16 and grad.device.type == "cpu" and fused_available()))
        and grad.numel() >= MIN_ENTRIES_RELU_BACKWARD
        and grad.is_contiguous()
        and activation.is_contiguous()
    ):
        torch.ops.aten.threshold_backward.grad_input(grad, activation, 0.0, grad_input=grad)
        if grad.dtype == torch.float32:
            return grad.sum(dim=0)
        return grad.sum(dim=0, dtype=torch.float32)  # bfloat16's sums accumulated in float32
    if bf16:  # NumPy has no bfloat16: the kernel reads the bits
        kernel = _kernels()["relu_bias_backward_bf16"]
        g, a = (t.detach().view(torch.int16).numpy().view(np.uint16) for t in (grad, activation))
    else:
        kernel = _kernels()["relu_bias_backward"]
        g, a = grad.detach().numpy(), activation.detach().numpy()
    n_rows, width = g.shape
    sums: dict[int, np.ndarray] = {}  # by the first row of each block

    def block(lo: int, hi: int) -> None:
        sums[lo] = np.zeros(width, dtype=np.float64)
        kernel(g, a, sums[lo], lo, hi)

    in_row_blocks(block, n_rows)
    total = np.sum([sums[lo] for lo in sorted(sums)], axis=0)  # a fixed order: deterministic
    return torch.from_numpy(total.astype(np.float32))


class _FusedMSE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, r, x, weight, rows):  # noqa: D102
        r_np, x_np = (t.detach().contiguous().numpy() for t in (r, x))
        rows_np = _rows_array(rows, r.shape[0])
        (grad,) = _gradient_arrays(1, tuple(r.shape), rows)
        row_sum = np.empty(len(rows_np), dtype=np.float32)
        numel = len(rows_np) * r.shape[1]
        scale = np.float32(2.0 * weight / numel)
        _over_rows("squared_error", len(rows_np), r_np, x_np, rows_np, scale, grad, row_sum)
        ctx.grads = (torch.from_numpy(grad),)
        return torch.tensor(row_sum.sum(dtype=np.float64) / numel * weight, dtype=r.dtype)

    @staticmethod
    def backward(ctx, grad_output):  # noqa: D102
        (grad,), ctx.grads = _scaled(ctx.grads, grad_output), None
        return grad, None, None, None


def weighted_mse(
    reconstruction: torch.Tensor,
    target: torch.Tensor,
    weight: float,
    rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """``weight * mean((reconstruction - target)^2)`` over the spots ``rows`` (None = all)
    and every feature; the target needs no gradient.

    On the CPU one pass computes the value and the reconstruction's gradient, the weight
    included (torch's ``mse_loss`` reads both arrays three times and writes two more: its
    difference and the gradient). Equal to torch's to rounding: the gradient is the
    difference times ``2 weight / numel`` (torch multiplies by the two apart), the value
    is summed per row in float32 and over rows in float64 (torch: a float32 reduction).
    """
    if _use_fused(reconstruction, target) and not target.requires_grad:
        return _FusedMSE.apply(reconstruction, target, float(weight), rows)
    return weighted_mse_torch(reconstruction, target, weight, rows)


def weighted_mse_torch(
    reconstruction: torch.Tensor,
    target: torch.Tensor,
    weight: float,
    rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """:func:`weighted_mse` with ``F.mse_loss`` (any device)."""
    if rows is not None:
        reconstruction, target = reconstruction[rows], target[rows]
    return weight * F.mse_loss(reconstruction, target)


def mean_cosine(a: torch.Tensor, b: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over spots (``rows``; None = all) of the cosine similarity of the rows of a and b."""
    if _use_fused(a, b):
        return _FusedMeanCosine.apply(a, b, rows)
    return mean_cosine_torch(a, b, rows)


def mean_cosine_torch(
    a: torch.Tensor, b: torch.Tensor, rows: torch.Tensor | None = None
) -> torch.Tensor:
    """:func:`mean_cosine` with ``F.cosine_similarity`` (any device)."""
    if rows is not None:
        a, b = a[rows], b[rows]
    return F.cosine_similarity(a, b, dim=1, eps=COSINE_EPS).mean()
