"""The layers' dense products ``x @ w`` (forward and backward), through oneDNN on AMD CPUs.

torch's CPU ``mm`` calls MKL's sgemm, which takes its AVX-512 code only on Intel processors;
oneDNN's matmul, which torch also ships (``torch.ops.mkldnn._linear_pointwise``, the kernel
torch.compile uses for linear layers on the CPU), picks its code by the instruction set.
Measured on a 2-core AMD EPYC with AVX-512, 2 threads, 9,216 rows: (N, 64) x (64, 256)
1.9 -> 0.7 ms, (N, 256) x (256, 64) 1.8 -> 0.7 ms, the weight gradient (64, N) x (N, 256)
2.5 -> 1.8 ms. On a 2-core Intel Xeon with AVX-512 MKL was the faster (weight gradients
1.3-2x, most forward products 5-40 %), so Intel CPUs keep ``torch.mm``. On an AMD EPYC
with AVX2 only (Zen 3) oneDNN won the forward products (9,216 rows, (N, 256) x (256, 64)
4.7 -> 3.2 ms) but lost the weight gradients, whose transposed operand it must copy first
(:func:`weight_gradients_on_onednn`). Same fp32 arithmetic, results equal to rounding.

Where the op is missing or fails (another build, another dtype, CUDA), ``torch.mm`` runs.
``SPAMI_DENSE=torch`` or ``SPAMI_DENSE=onednn`` in the environment forces one of the two.
"""

from __future__ import annotations

import os
from functools import cache

import torch

from fastspami._kernels.fused import relu_backward_bias_sum_


@cache
def uses_onednn() -> bool:
    """Whether the layers' products run on oneDNN here: by ``SPAMI_DENSE`` (``torch`` or
    ``onednn``) when set, else where the kernel works and the CPU is not Intel's."""
    choice = _forced_kernel()
    if choice == "torch":
        return False
    if choice != "onednn" and cpu_vendor() in {"GenuineIntel", ""}:
        return False
    return onednn_available()


@cache
def weight_gradients_on_onednn() -> bool:
    """Whether the weight gradients ``Hᵀ G`` run on oneDNN too (where :func:`uses_onednn`).

    oneDNN's kernel takes contiguous operands, so ``Hᵀ`` is copied first (a transpose of an
    N x 64 array: 1.4 ms at 9,216 spots); MKL reads it transposed in place. Only where
    oneDNN has AVX-512 (which MKL does not use on AMD) does it win despite the copy: on an
    AMD EPYC with AVX-512, 2.5 -> 1.8 ms for (64, N) x (N, 256); on one with AVX2 only
    (Zen 3), MKL took 4.6 ms against oneDNN's 5.5 ms (256-wide: 3.6 against 5.3 ms).
    ``SPAMI_DENSE=onednn`` puts them on oneDNN everywhere.
    """
    if not uses_onednn():
        return False
    if _forced_kernel() == "onednn":
        return True
    return "avx512f" in cpu_info("flags").split()


def _forced_kernel() -> str:
    """``SPAMI_DENSE`` in lower case: 'torch', 'onednn', or '' (choose by the CPU)."""
    return os.environ.get("SPAMI_DENSE", "").lower()


def cpu_vendor() -> str:
    """The x86 CPU's vendor string (``GenuineIntel``, ``AuthenticAMD``); '' if unknown."""
    return cpu_info("vendor_id")


def cpu_info(field: str) -> str:
    """A field of /proc/cpuinfo for the first CPU (``model name``, ...); '' if unknown."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.split(":", 1)[0].strip() == field:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


@cache
def onednn_available() -> bool:
    """Whether torch's oneDNN linear kernel runs here and agrees with ``torch.mm``."""
    try:
        kernel = torch.ops.mkldnn._linear_pointwise
        if not torch.backends.mkldnn.is_available():
            return False
        a = torch.arange(12, dtype=torch.float32).reshape(3, 4)
        b = torch.arange(8, dtype=torch.float32).reshape(4, 2)
        return bool(torch.equal(kernel(a, b.T, None, "none", [None], ""), a @ b))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


def _on_onednn(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether the product of a and b runs on oneDNN: float32 on the CPU, where
    :func:`uses_onednn`."""
    return (
        a.device.type == "cpu"
        and a.dtype == torch.float32
        and b.dtype == torch.float32
        and uses_onednn()
    )


def mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for 2-D tensors, without autograd; oneDNN for float32 on the CPU where
    :func:`uses_onednn`. bfloat16 operands go to ``torch.mm`` (oneDNN's bfloat16 matmul on
    the CPU, which reads transposed operands in place; cuBLAS on CUDA), accumulated in
    float32 and rounded to bfloat16."""
    if not _on_onednn(a, b):
        return a @ b
    # The kernel computes p @ qᵀ for q of shape (out, in), parallel over the rows of p.
    (m, k), n = a.shape, b.shape[1]
    if k > max(m, n):  # a weight gradient Hᵀ G: the spots are summed over
        # torch's kernel where MKL wins (see weight_gradients_on_onednn) and for a square
        # output; else rows first where they are fewer: (Gᵀ H)ᵀ when H is the wider (the
        # other order was 4x slower at 10^5 spots).
        if m == n or not weight_gradients_on_onednn():
            return a @ b
        if m > n:
            return _linear(b.T, a).T
    return _linear(a, b.T)


def _linear(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(p, q, None, "none", [None], "")


def mm_bias_relu(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``relu(a @ b + bias)`` without autograd, in a's and b's dtype: one oneDNN kernel (bias
    and ReLU applied to each output tile while it is in cache, bit for bit the separate
    operations) where :func:`mm` runs on oneDNN, or for bfloat16 on a CPU with oneDNN (unless
    ``SPAMI_DENSE=torch``); else ``a @ b`` then the bias and the ReLU in place (CUDA's
    path)."""
    if _on_onednn(a, b) or (
        a.dtype == torch.bfloat16
        and a.device.type == "cpu"
        and _forced_kernel() != "torch"
        and onednn_available()
    ):
        return torch.ops.mkldnn._linear_pointwise(a, b.T, bias, "relu", [None], "")
    return mm(a, b).add_(bias).relu_()


def _cast(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """t in ``dtype`` (t itself when it has it already)."""
    return t if t.dtype == dtype else t.to(dtype)


class _Matmul(torch.autograd.Function):
    """``x @ w`` whose three products (forward, both gradients) go through :func:`mm` in
    ``dtype``; the result and the gradients come back in w's and x's dtypes."""

    @staticmethod
    def forward(ctx, x, w, dtype):  # noqa: D102
        xc, wc = _cast(x.detach(), dtype), _cast(w.detach(), dtype)
        ctx.save_for_backward(xc, wc)
        ctx.dtypes = x.dtype, w.dtype
        return _cast(mm(xc, wc), w.dtype)

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        x, w = ctx.saved_tensors
        x_dtype, w_dtype = ctx.dtypes
        grad = _cast(grad, w.dtype)
        grad_x = _cast(mm(grad, w.T), x_dtype) if ctx.needs_input_grad[0] else None
        grad_w = _cast(mm(x.T, grad), w_dtype) if ctx.needs_input_grad[1] else None
        return grad_x, grad_w, None


class _ReluMatmul(torch.autograd.Function):
    """``relu(h) @ w``, the ReLU applied in place to h (a fresh pre-activation nothing else
    reads), and in the backward pass applied in place to the fresh gradient ``g wᵀ``; the
    products in ``dtype``, the result in w's dtype.

    The same numbers as ``F.relu(h, inplace=True) @ w``; autograd's ReLU node would allocate
    another (N, hidden) gradient: 14 % of an epoch at 100,000 spots went there.
    """

    @staticmethod
    def forward(ctx, h, w, dtype):  # noqa: D102
        a = h.detach().relu_()  # h's only consumer is this product: overwriting it is safe
        ac, wc = _cast(a, dtype), _cast(w.detach(), dtype)
        ctx.save_for_backward(ac, wc)
        ctx.dtypes = h.dtype, w.dtype
        return _cast(mm(ac, wc), w.dtype)

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        a, w = ctx.saved_tensors
        h_dtype, w_dtype = ctx.dtypes
        grad = _cast(grad, w.dtype)
        grad_a = mm(grad, w.T)
        # the ReLU's backward, written into grad_a itself: zero where the unit was off
        torch.ops.aten.threshold_backward.grad_input(grad_a, a, 0.0, grad_input=grad_a)
        return _cast(grad_a, h_dtype), _cast(mm(a.T, grad), w_dtype), None


class _MatmulBiasRelu(torch.autograd.Function):
    """``relu(x @ w + b)``: the product, bias and ReLU in one pass forward
    (:func:`mm_bias_relu`); backward, the ReLU's mask and the bias's gradient (a column sum)
    in one pass over the incoming gradient (:func:`fastspami._kernels.fused.relu_backward_bias_sum_`).
    The products run in ``dtype``, and the result stays in it (its consumer is the next
    layer's product, in the same dtype); the gradients come back in x's, w's and b's dtypes.

    At 99,856 spots a separate bias addition, ReLU, ReLU backward and column sum each read
    and wrote an (N, 256) array: about 15 ms per layer, six such layers per epoch.
    """

    @staticmethod
    def forward(ctx, x, w, b, dtype):  # noqa: D102
        xc, wc = _cast(x.detach(), dtype), _cast(w.detach(), dtype)
        a = mm_bias_relu(xc, wc, b.detach())
        ctx.save_for_backward(xc, wc, a)
        ctx.dtypes = x.dtype, w.dtype
        return a

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        x, w, a = ctx.saved_tensors
        x_dtype, w_dtype = ctx.dtypes
        # grad is the fresh gradient of a from its one consumer (the next layer's product):
        # the ReLU's backward overwrites it with the pre-activation's gradient
        grad = _cast(grad, a.dtype)
        grad_b = relu_backward_bias_sum_(grad, a)
        grad_x = _cast(mm(grad, w.T), x_dtype) if ctx.needs_input_grad[0] else None
        return grad_x, _cast(mm(x.T, grad), w_dtype), grad_b, None


def matmul(x: torch.Tensor, w: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``x @ w`` with autograd, for (N, a) x (a, b) tensors, the products in ``dtype``
    (default w's: float32) and the result in w's dtype."""
    return _Matmul.apply(x, w, dtype or w.dtype)


def matmul_bias_relu(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """``relu(x @ w + b)`` with autograd, for (N, a) x (a, b) tensors and a bias (b,), in
    ``dtype`` (default w's; the result too); the result must have one consumer that does not
    modify it (its gradient is overwritten)."""
    return _MatmulBiasRelu.apply(x, w, b, dtype or w.dtype)


def relu_matmul(h: torch.Tensor, w: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``relu(h) @ w`` with autograd, the product in ``dtype`` (default w's) and the result
    in w's dtype; h is overwritten by its ReLU (pass a fresh tensor)."""
    return _ReluMatmul.apply(h, w, dtype or w.dtype)
