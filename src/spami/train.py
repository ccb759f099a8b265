"""SpaMI's training loop: seeding, device and threads, the weighted loss, progress, outputs."""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from spami.errors import InputDataError, TrainingDivergedError
from spami.graph import gcn_normalize, local_context_operator, spatial_knn_graph, symmetrize
from spami.model import SparseOperator, SpaMIModule, contrastive_loss, cosine_loss
from spami.presets import SpaMIConfig

log = logging.getLogger(__name__)

LOSS_TERMS = ("total", "contrastive", "reconstruction", "cosine")


@dataclass
class TrainedSpaMI:
    """Outputs of a trained model, in eval mode (dropout off), as NumPy arrays.

    embedding (N, L) or (N, M L) for concat fusion; modality_embeddings M x (N, L);
    attention (N, M) or None; reconstructions M x (N, d_m); history: per-epoch loss terms.
    """

    embedding: np.ndarray
    modality_embeddings: list[np.ndarray]
    attention: np.ndarray | None
    reconstructions: list[np.ndarray]
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_run: int = 0
    module: SpaMIModule | None = None


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)


def resolve_device(device: str) -> torch.device:
    """'cuda' when asked for and available (else a warning and CPU); 'cpu' otherwise."""
    if device.startswith("cuda"):
        if torch.cuda.is_available():
            return torch.device(device)
        log.warning("CUDA was asked for but is not available; training on the CPU.")
    return torch.device("cpu")


@dataclass
class GraphOperators:
    """The three sparse operators one training run needs, built once."""

    gcn: SparseOperator
    context: SparseOperator

    @classmethod
    def from_coordinates(cls, coords: np.ndarray, k: int, device: torch.device) -> GraphOperators:
        knn = spatial_knn_graph(coords, k)
        gcn = SparseOperator(gcn_normalize(symmetrize(knn)), device, symmetric=True)
        context = SparseOperator(local_context_operator(knn), device)
        return cls(gcn=gcn, context=context)


def fit_spami(
    features: list[np.ndarray],
    coords: np.ndarray,
    config: SpaMIConfig,
    *,
    seed: int = 0,
    device: str = "cpu",
    threads: int | None = None,
    progress: bool = True,
) -> TrainedSpaMI:
    """Train SpaMI on M preprocessed feature matrices (each (N, d_m)) and (N, 2) coordinates."""
    n_spots = len(coords)
    for m, x in enumerate(features):
        if x.shape[0] != n_spots:
            raise InputDataError(
                f"Modality {m} has {x.shape[0]} spots but there are {n_spots} coordinates; "
                "every modality must hold the same spots in the same order."
            )
    if threads:
        torch.set_num_threads(int(threads))
    seed_everything(seed)
    dev = resolve_device(device)
    ops = GraphOperators.from_coordinates(coords, config.k, dev)
    xs = [torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32), device=dev) for x in features]
    module = SpaMIModule(
        [x.shape[1] for x in xs],
        hidden_dim=config.hidden_dim,
        latent_dim=config.latent_dim,
        dropout=config.dropout,
        fusion=config.fusion,
    ).to(dev)
    w_csl, w_rec, w_cos = config.loss_weights(len(xs))
    optimizer = torch.optim.Adam(module.parameters(), lr=config.lr, weight_decay=0.0)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    history: dict[str, list[float]] = {name: [] for name in LOSS_TERMS}
    best, stale, epoch = float("inf"), 0, 0

    module.train()
    bar = tqdm(range(config.epochs), desc="SpaMI", disable=not progress, mininterval=1.0)
    for epoch in bar:
        perm = torch.randperm(n_spots, generator=generator).to(dev)
        terms = _loss_terms(module, xs, perm, ops, w_csl, w_rec, w_cos)
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        optimizer.step()
        values = {name: float(t.detach()) for name, t in terms.items()}
        if not np.isfinite(values["total"]):
            detail = ", ".join(f"{n}={v:.4g}" for n, v in values.items())
            raise TrainingDivergedError(
                f"SpaMI's loss became non-finite at epoch {epoch + 1} ({detail}). "
                f"Lower the learning rate (now {config.lr:g}, e.g. --lr {config.lr / 10:g}) "
                "or check the input for extreme values."
            )
        for name, v in values.items():
            history[name].append(v)
        if progress and epoch % 50 == 0:
            bar.set_postfix(loss=f"{values['total']:.4f}")
        if config.early_stopping:
            if values["total"] < best - config.min_delta * max(abs(best), 1.0):
                best, stale = values["total"], 0
            else:
                stale += 1
                if stale >= config.patience:
                    log.info("Early stop at epoch %d: loss plateau", epoch + 1)
                    break
    bar.close()
    return _read_outputs(module, xs, ops, history, epochs_run=epoch + 1)


def _loss_terms(module, xs, perm, ops, w_csl, w_rec, w_cos) -> dict[str, torch.Tensor]:
    z = module.encode(xs, ops.gcn)
    fused, _ = module.fuse(z)
    recon = module.decode(fused, ops.gcn)
    zero = fused.new_zeros(())
    csl = zero
    if any(w != 0 for w in w_csl):  # the ablation without it skips the corrupted pass
        z_corrupt = module.encode([x[perm] for x in xs], ops.gcn)
        csl = sum(
            w * contrastive_loss(d, zm, zc, ops.context)
            for w, d, zm, zc in zip(w_csl, module.discriminators, z, z_corrupt, strict=True)
            if w != 0
        )
    rec = sum(
        w * torch.nn.functional.mse_loss(r, x) for w, r, x in zip(w_rec, recon, xs, strict=True)
    )
    cos = w_cos * cosine_loss(z) if (w_cos != 0 and len(z) > 1) else zero
    return {"total": csl + rec + cos, "contrastive": csl, "reconstruction": rec, "cosine": cos}


@torch.no_grad()
def _read_outputs(module, xs, ops, history, epochs_run) -> TrainedSpaMI:
    module.eval()
    z = module.encode(xs, ops.gcn)
    fused, alpha = module.fuse(z)
    recon = module.decode(fused, ops.gcn)
    return TrainedSpaMI(
        embedding=fused.cpu().numpy(),
        modality_embeddings=[t.cpu().numpy() for t in z],
        attention=None if alpha is None else alpha.cpu().numpy(),
        reconstructions=[t.cpu().numpy() for t in recon],
        history=history,
        epochs_run=epochs_run,
        module=module,
    )
