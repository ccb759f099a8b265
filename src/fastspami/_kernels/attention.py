"""SpaMI's attention fusion over modalities, its element-wise part fused on the CPU (Numba).

For each spot i and modality m, with the modality embeddings stacked as S (N, M, L):

    h_im = tanh(S_im W),   s_im = h_im . u,   alpha_i = softmax_m(s_i),   z_i = sum_m alpha_im S_im

In torch's eager mode every step after the product ``S W`` is a pass over an (N, M, L)
array, forward and backward: tanh and its backward, ``h u`` as a one-column product and its
two gradients, ``alpha * S``, its sum over modalities, and that product's backward (about
nine passes over 51 MB at 99,856 spots and two modalities). Here the product ``S W`` and its
two gradients run as the layers' products (:func:`fastspami._kernels.dense.mm`), tanh as
NumPy's vectorized kernel in place on the product (in chunks of rows that the Numba pass
then reads from cache; NumPy's float32 tanh is within 1.4 ulp of the exact value and took
4.8 ms for 12.8 million entries on one thread where torch's took 57 ms), and the rest in
one Numba pass over the rows forward (scores, softmax, weighted sum) and one backward (the scores' and tanh's
gradients, and ``u``'s gradient summed in float64 per row block), the direct part of S's
gradient (``alpha grad``) added in place into the product's input gradient. A fully fused
kernel with Numba's own tanh was tried in an earlier session and was slower: Numba calls
libm's scalar ``tanhf``.

Same mathematics, other rounding (float32 sums in another order). On CUDA, for other
dtypes, without Numba or with ``SPAMI_FUSED=0`` the torch expressions run
(:func:`attention_fusion_torch`).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import torch

from fastspami._kernels.dense import mm
from fastspami._kernels.fused import compile_with_numba, fused_available, in_row_blocks

CHUNK_ROWS = 1024  # spots per tanh call: 2 modalities x 64 x 4 bytes x 1024 = 512 KB, in L2


@cache
def _kernels():
    """The compiled kernels (cached on disk), or None without Numba."""
    return compile_with_numba(_compile)


def _compile(numba, cache: bool):
    f32 = np.float32
    njit = numba.njit(nogil=True, fastmath=True, error_model="numpy", cache=cache)

    @njit
    def forward(h, s, u, fused, alpha, lo, hi):
        n_mod, width = s.shape[1], s.shape[2]
        for i in range(lo, hi):
            top = -np.inf
            for m in range(n_mod):
                score = f32(0.0)
                for k in range(width):
                    score += h[i, m, k] * u[k]
                alpha[i, m] = score
                top = max(top, score)
            total = f32(0.0)
            for m in range(n_mod):
                e = f32(math.exp(alpha[i, m] - top))
                alpha[i, m] = e
                total += e
            for m in range(n_mod):
                alpha[i, m] = alpha[i, m] / total
            for k in range(width):  # the weighted sum, modality by modality (vectorized)
                fused[i, k] = alpha[i, 0] * s[i, 0, k]
            for m in range(1, n_mod):
                for k in range(width):
                    fused[i, k] += alpha[i, m] * s[i, m, k]

    @njit
    def backward(h, s, u, alpha, grad, grad_alpha, grad_p, grad_u, lo, hi):
        n_mod, width = s.shape[1], s.shape[2]
        g_alpha = np.empty(n_mod, dtype=np.float32)
        for i in range(lo, hi):
            dot = f32(0.0)
            for m in range(n_mod):  # d loss / d alpha_im = grad_i . S_im (+ alpha's own)
                acc = grad_alpha[i, m]
                for k in range(width):
                    acc += grad[i, k] * s[i, m, k]
                g_alpha[m] = acc
                dot += alpha[i, m] * acc
            for m in range(n_mod):  # softmax's backward, then the score's and tanh's
                g_score = alpha[i, m] * (g_alpha[m] - dot)
                for k in range(width):
                    hk = h[i, m, k]
                    grad_p[i, m, k] = g_score * u[k] * (f32(1.0) - hk * hk)
                    grad_u[k] += g_score * hk

    return {"forward": forward, "backward": backward}


def fused_attention_available() -> bool:
    """Whether the fused kernels run here (Numba present, fused kernels not turned off)."""
    return fused_available() and _kernels() is not None


class _FusedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, u, *embeddings):  # noqa: D102
        stacked = torch.stack([z.detach() for z in embeddings], dim=1)  # (N, M, L)
        n, n_mod, width = stacked.shape
        hidden = mm(stacked.view(n * n_mod, width), w.detach()).view(n, n_mod, width)
        fused = torch.empty(n, width)
        alpha = torch.empty(n, n_mod)
        kernel = _kernels()["forward"]
        h = hidden.numpy()
        arrays = (h, stacked.numpy(), u.detach().reshape(-1).numpy())
        outputs = (fused.numpy(), alpha.numpy())

        def block(lo: int, hi: int) -> None:
            for start in range(lo, hi, CHUNK_ROWS):  # tanh'd rows read again from cache
                stop = min(start + CHUNK_ROWS, hi)
                np.tanh(h[start:stop], out=h[start:stop])
                kernel(*arrays, *outputs, start, stop)

        in_row_blocks(block, n)
        ctx.save_for_backward(stacked, hidden, alpha, w, u)
        return fused, alpha

    @staticmethod
    def backward(ctx, grad, grad_alpha):  # noqa: D102
        stacked, hidden, alpha, w, u = ctx.saved_tensors
        alpha = alpha.detach()  # an output of forward: saved with its autograd history
        n, n_mod, width = stacked.shape
        grad_p = torch.empty(n, n_mod, width)
        kernel = _kernels()["backward"]
        grad = grad.contiguous()
        grad_alpha = grad_alpha.contiguous()
        arrays = (hidden.numpy(), stacked.numpy(), u.detach().reshape(-1).numpy())
        sums: dict[int, np.ndarray] = {}  # u's gradient, by the first row of each block

        def block(lo: int, hi: int) -> None:
            sums[lo] = np.zeros(width, dtype=np.float64)
            kernel(*arrays, alpha.numpy(), grad.numpy(), grad_alpha.numpy(), grad_p.numpy(),
                   sums[lo], lo, hi)  # fmt: skip

        in_row_blocks(block, n)
        grad_u = np.sum([sums[lo] for lo in sorted(sums)], axis=0).astype(np.float32)
        flat_p = grad_p.view(n * n_mod, width)
        grad_w = mm(stacked.view(n * n_mod, width).T, flat_p)
        grad_stacked = mm(flat_p, w.T).view(n, n_mod, width)
        grad_stacked.addcmul_(alpha.unsqueeze(-1), grad.unsqueeze(1))  # the weighted sum's
        grad_u_t = torch.from_numpy(grad_u).view_as(u)
        return (grad_w, grad_u_t, *grad_stacked.unbind(dim=1))


def attention_fusion(
    embeddings: list[torch.Tensor], w: torch.Tensor, u: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The attention-weighted sum of M >= 2 modality embeddings (each (N, L)) with the
    projection ``w`` (L, L) and the score vector ``u`` (L, 1): the fused embedding (N, L)
    and the weights alpha (N, M), rows summing to 1."""
    tensors = [*embeddings, w, u]
    if fused_attention_available() and all(
        t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors
    ):
        return _FusedAttention.apply(w, u, *embeddings)
    return attention_fusion_torch(embeddings, w, u)


def attention_fusion_torch(
    embeddings: list[torch.Tensor], w: torch.Tensor, u: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`attention_fusion` in torch's operations (any device)."""
    from fastspami._kernels.dense import matmul

    stacked = torch.stack(embeddings, dim=1)  # (N, M, L)
    n, m, dim = stacked.shape
    hidden = torch.tanh(matmul(stacked.reshape(n * m, dim), w))
    scores = (hidden * u.reshape(1, dim)).sum(dim=1).reshape(n, m)  # (N, M)
    alpha = torch.softmax(scores, dim=1)
    return (alpha.unsqueeze(-1) * stacked).sum(dim=1), alpha
