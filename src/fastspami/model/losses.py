"""SpaMI's losses: Deep-Graph-Infomax contrast per modality, the cosine correspondence
between modalities, and the weighted total of the spec (reconstruction as MSE)."""

from __future__ import annotations

import torch

from fastspami._kernels.fused import dgi_loss, mean_cosine, weighted_mse
from fastspami.model.module import Discriminator, SpaMIModule
from fastspami.model.operators import GraphOperators, SparseOperator

# (contrastive weight per modality, reconstruction weight per modality, cosine weight)
LossWeights = tuple[list[float], list[float], float]


def contrastive_loss(
    discriminator: Discriminator,
    z: torch.Tensor,
    z_corrupt: torch.Tensor,
    context_op: SparseOperator,
    rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """Deep-Graph-Infomax loss of one modality (sum of the two BCE terms of the spec).

    ``rows`` restricts the loss to some spots (a tile's interior); contexts still use all.
    The element-wise part runs fused on the CPU (:func:`fastspami._kernels.fused.dgi_loss`).
    """
    # each embedding's h W serves both of its scores: two (N, L) x (L, L) products, not four
    return dgi_loss(
        discriminator.project(z),
        discriminator.project(z_corrupt),
        context_op(z),
        context_op(z_corrupt),
        discriminator.bias,
        rows,
    )


def cosine_loss(embeddings: list[torch.Tensor], rows: torch.Tensor | None = None) -> torch.Tensor:
    """``1 - mean_i cos(Z_a,i, Z_b,i)`` averaged over all modality pairs (a < b), over the
    spots ``rows`` (None = all)."""
    terms = [
        1.0 - mean_cosine(embeddings[a], embeddings[b], rows)
        for a in range(len(embeddings))
        for b in range(a + 1, len(embeddings))
    ]
    return torch.stack(terms).mean()


def loss_terms(
    module: SpaMIModule,
    xs: list[torch.Tensor],
    xs_corrupt: list[torch.Tensor],
    ops: GraphOperators,
    weights: LossWeights,
    rows: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The weighted loss terms of the spec on the given spots (``rows``; None = all)."""
    w_csl, w_rec, w_cos = weights
    z = module.encode(xs, ops.gcn)
    fused, _ = module.fuse(z)
    recon = module.decode(fused, ops.gcn)

    zero = fused.new_zeros(())
    csl = zero
    if any(w != 0 for w in w_csl):  # the ablation without it skips the corrupted pass
        z_corrupt = module.encode(xs_corrupt, ops.gcn)
        csl = sum(
            w * contrastive_loss(d, zm, zc, ops.context, rows)
            for w, d, zm, zc in zip(w_csl, module.discriminators, z, z_corrupt, strict=True)
            if w != 0
        )
    rec = sum(weighted_mse(r, x, w, rows) for w, r, x in zip(w_rec, recon, xs, strict=True))
    cos = w_cos * cosine_loss(z, rows) if (w_cos != 0 and len(z) > 1) else zero
    return {"total": csl + rec + cos, "contrastive": csl, "reconstruction": rec, "cosine": cos}
