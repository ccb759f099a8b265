"""SpaMI's network, as pure tensor code: encoders, discriminator, attention fusion, decoders.

Shapes: N spots, M modalities, d_m input features of modality m, latent size L (64).
Graph operators are :class:`SparseOperator` objects built once before training; no module
here reads files or builds graphs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from fastspami.model.operators import GraphOperators, SparseOperator

from fastspami._kernels.attention import attention_fusion
from fastspami._kernels.dense import matmul, matmul_bias_relu, relu_matmul
from fastspami._kernels.dropout import counter_dropout
from fastspami._kernels.precision import DTYPES as COMPUTE_DTYPES


class GCNLayer(nn.Module):
    """One graph convolution ``Â H W + b`` (bias added after propagation).

    ``compute_dtype`` is the dtype of the product ``H W`` (float32, or bfloat16 for mixed
    precision: the weight stays float32 and is rounded for each product); the sparse
    product and the bias stay float32. The hidden activation a widening layer hands to the
    next layer (``relu_output``) is kept in ``compute_dtype``.
    """

    def __init__(self, in_dim: int, out_dim: int, compute_dtype: torch.dtype = torch.float32):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim))
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.compute_dtype = compute_dtype
        nn.init.xavier_uniform_(self.weight)

    @property
    def widens(self) -> bool:
        """Whether the layer's output is wider than its input (then Â is applied first)."""
        return self.weight.shape[1] > self.weight.shape[0]

    def forward(
        self,
        x: torch.Tensor,
        propagate: SparseOperator,
        relu_input: bool = False,
        relu_output: bool = False,
    ) -> torch.Tensor:
        """``Â x W + b``; ``Â relu(x) W + b`` with ``relu_input`` (x is then overwritten);
        ``relu(Â x W + b)`` with ``relu_output`` (only for a layer that :attr:`widens`)."""
        # Multiply by W first when it shrinks the width: the sparse product is then cheaper,
        # and the bias is added by the product's own pass (SparseOperator.add_bias). Where
        # the layer widens the bias goes in place into the fresh product (no backward pass
        # needs it): one (N, out) allocation less per layer, the same numbers.
        dtype = self.compute_dtype
        if not self.widens:
            if relu_output:
                raise ValueError("relu_output needs a layer that widens its input")
            if relu_input:
                product = relu_matmul(x, self.weight, dtype)
            else:
                product = matmul(x, self.weight, dtype)
            return propagate.add_bias(product, self.bias)
        if relu_input:
            x = F.relu(x, inplace=True)
        if relu_output:  # product, bias and ReLU in one kernel
            return matmul_bias_relu(propagate(x), self.weight, self.bias, dtype)
        return matmul(propagate(x), self.weight, dtype).add_(self.bias)


class GCNStack(nn.Module):
    """``GCN2(relu(GCN1(dropout(x))))``: the shape of both encoders and decoders."""

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        dropout: float,
        compute_dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        self.first = GCNLayer(in_dim, hidden_dim, compute_dtype)
        self.second = GCNLayer(hidden_dim, out_dim, compute_dtype)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, propagate: SparseOperator) -> torch.Tensor:
        h = dropout(x, self.dropout, self.training)
        # the ReLU goes where it costs no pass of its own: into the first layer's product
        # when that layer widens (Â x first), else into the second layer's product
        if self.first.widens:
            return self.second(self.first(h, propagate, relu_output=True), propagate)
        return self.second(self.first(h, propagate), propagate, relu_input=True)


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout (keep with probability 1 - p, scale by 1 / (1 - p)), as ``F.dropout``.

    Float32 CPU tensors take their mask from a counter-based generator keyed by one draw of
    torch's (:mod:`fastspami._kernels.dropout`: parallel, and regenerated in the backward pass); other
    tensors (CUDA) from ``torch.rand`` (keep where u >= p).
    """
    if not training or p == 0.0:
        return x
    if p >= 1.0:
        return torch.zeros_like(x)
    if x.device.type == "cpu" and x.dtype == torch.float32:
        return counter_dropout(x, p)
    mask = torch.rand_like(x).ge_(p).mul_(1.0 / (1.0 - p))
    return mask.mul_(x) if not x.requires_grad else x * mask


class Discriminator(nn.Module):
    """Bilinear critic ``D(h, c) = hᵀ W c + b`` scoring (embedding, context) pairs.

    Initialized as ``nn.Bilinear(L, L, 1)`` with Xavier-uniform weights and zero bias (the
    reference's choice), but evaluated as ``((h W) * c).sum(1) + b`` inside the loss
    (:func:`fastspami._kernels.fused.dgi_loss`, from :meth:`project`): torch's bilinear kernel
    materializes (N, L, L) intermediates in its backward pass and was 70 % of an epoch.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(1, dim, dim))
        self.bias = nn.Parameter(torch.zeros(1))
        nn.init.xavier_uniform_(self.weight)

    def project(self, h: torch.Tensor) -> torch.Tensor:
        """``h W``: computed once per embedding, it serves every context it is scored with."""
        return matmul(h, self.weight[0])


class AttentionFusion(nn.Module):
    """Per-spot softmax attention over modalities: (N, M, L) -> (N, L) and weights (N, M)."""

    def __init__(self, dim: int):
        super().__init__()
        self.w_omega = nn.Parameter(torch.empty(dim, dim))
        self.u_omega = nn.Parameter(torch.empty(dim, 1))
        nn.init.xavier_uniform_(self.w_omega)
        nn.init.xavier_uniform_(self.u_omega)

    def forward(self, embeddings: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``alpha = softmax_m(tanh(Z_m W) u)``, ``Z = sum_m alpha_m Z_m``: (N, L), (N, M)
        (fused on the CPU: :mod:`fastspami._kernels.attention`)."""
        return attention_fusion(embeddings, self.w_omega, self.u_omega)


class SpaMIModule(nn.Module):
    """The full network for M >= 1 modalities.

    fusion='attention' (the paper), 'concat' (ablation: Z = [Z_1, ..., Z_M], decoders take
    M * L inputs) or 'mean' (fixed equal weights, Z = mean of the Z_m: every modality
    counts alike). With one modality there is nothing to fuse: Z = Z_1.

    ``precision`` 'bf16' runs the GCN layers' dense products in bfloat16 (mixed precision:
    float32 weights, optimizer state, sparse products, attention, critic and losses; see
    :class:`GCNLayer`); 'float32' (the default) runs everything in float32.
    """

    def __init__(
        self,
        input_dims: list[int],
        hidden_dim: int = 256,
        latent_dim: int = 64,
        dropout: float = 0.15,
        fusion: str = "attention",
        precision: str = "float32",
    ):
        super().__init__()
        if fusion not in {"attention", "concat", "mean"}:
            raise ValueError(f"fusion must be 'attention', 'concat' or 'mean', got {fusion!r}")
        if precision not in COMPUTE_DTYPES:
            raise ValueError(f"precision must be one of {list(COMPUTE_DTYPES)}, got {precision!r}")
        self.n_modalities = len(input_dims)
        self.fusion = fusion
        self.precision = precision
        dtype = COMPUTE_DTYPES[precision]
        self.encoders = nn.ModuleList(
            GCNStack(d, hidden_dim, latent_dim, dropout, dtype) for d in input_dims
        )
        self.discriminators = nn.ModuleList(Discriminator(latent_dim) for _ in input_dims)
        self.attention = AttentionFusion(latent_dim) if self.n_modalities > 1 else None
        fused_dim = latent_dim * self.n_modalities if fusion == "concat" else latent_dim
        self.decoders = nn.ModuleList(
            GCNStack(fused_dim, hidden_dim, d, dropout, dtype) for d in input_dims
        )

    def encode(self, features: list[torch.Tensor], gcn_op: SparseOperator) -> list[torch.Tensor]:
        """Per-modality embeddings Z_m, each (N, L)."""
        return [enc(x, gcn_op) for enc, x in zip(self.encoders, features, strict=True)]

    def fuse(self, embeddings: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Integrated embedding Z and attention weights (N, M) (None without attention)."""
        if self.n_modalities == 1:
            return embeddings[0], None
        if self.fusion == "concat":
            return torch.cat(embeddings, dim=1), None
        if self.fusion == "mean":
            stacked = torch.stack(embeddings, dim=1)
            weights = torch.full(stacked.shape[:2], 1.0 / self.n_modalities, device=stacked.device)
            return stacked.mean(dim=1), weights
        return self.attention(embeddings)

    def decode(self, fused: torch.Tensor, gcn_op: SparseOperator) -> list[torch.Tensor]:
        """Reconstructions R_m, each (N, d_m)."""
        return [dec(fused, gcn_op) for dec in self.decoders]


@torch.no_grad()
def forward_outputs(
    module: SpaMIModule, xs: list[torch.Tensor], ops: GraphOperators
) -> dict[str, list[torch.Tensor]]:
    """Eval-mode tensors: fused embedding, per-modality embeddings, attention, reconstructions."""
    module.eval()
    z = module.encode(xs, ops.gcn)
    fused, alpha = module.fuse(z)
    recon = module.decode(fused, ops.gcn)
    return {
        "embedding": fused,
        "modality_embeddings": z,
        "attention": alpha,
        "reconstructions": recon,
    }


def read_outputs(module: SpaMIModule, xs: list[torch.Tensor], ops: GraphOperators) -> dict:
    """forward_outputs as NumPy arrays (attention None without fusion weights)."""
    out = forward_outputs(module, xs, ops)
    return {
        "embedding": out["embedding"].cpu().numpy(),
        "modality_embeddings": [t.cpu().numpy() for t in out["modality_embeddings"]],
        "attention": None if out["attention"] is None else out["attention"].cpu().numpy(),
        "reconstructions": [t.cpu().numpy() for t in out["reconstructions"]],
    }
