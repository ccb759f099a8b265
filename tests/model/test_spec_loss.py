"""SpaMI's training loss against an independent, dense transcription of docs/reference/model_spec.md.

The reference below is written from the spec alone (brute-force kNN, dense N x N graphs,
float64, no project code but the parameter values): a change to the graph, the encoder,
the DGI loss, the fusion, the decoders or the loss weights makes the two disagree.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import fastspami._kernels.csr
import fastspami._kernels.fused
from fastspami._kernels.dense import onednn_available
from fastspami.model.losses import loss_terms
from fastspami.model.module import forward_outputs
from fastspami.model.operators import GraphOperators
from fastspami.model.presets import get_preset
from fastspami.model.train import build_module

N_SPOTS, K, DIMS = 40, 3, (12, 7)
WEIGHTS = (1.0, 2.0, 10.0, 25.0, 3.0)  # w1..w5, all different: a swapped weight shows
TERMS = ("contrastive", "reconstruction", "cosine", "total")


# ---------------------------------------------------------------- the spec, densely


def knn_mask(coords: np.ndarray, k: int) -> np.ndarray:
    """A_knn (N, N): row i has ones at the k nearest other spots (Euclidean)."""
    distance = np.linalg.norm(coords[:, None, :] - coords[None, :, :], axis=2)
    np.fill_diagonal(distance, np.inf)
    mask = np.zeros_like(distance)
    for i, row in enumerate(distance):
        mask[i, np.argsort(row)[:k]] = 1.0
    return mask


def gcn_propagator(knn: np.ndarray) -> torch.Tensor:
    """Â = D^-1/2 (A + I) D^-1/2 with A = A_knn OR A_knnᵀ."""
    a_plus_i = np.maximum(knn, knn.T) + np.eye(len(knn))
    inv_sqrt_degree = 1.0 / np.sqrt(a_plus_i.sum(axis=1))
    return torch.tensor(inv_sqrt_degree[:, None] * a_plus_i * inv_sqrt_degree[None, :])


class SpecSpaMI:
    """The spec's forward pass and loss on float64 copies of a module's parameters."""

    def __init__(self, params: dict[str, torch.Tensor], coords: np.ndarray, k: int):
        self.p = params
        knn = knn_mask(coords, k)
        self.a_hat = gcn_propagator(knn)
        self.context_mask = torch.tensor(knn + np.eye(len(knn)))  # {i} ∪ kNN(i)

    def gcn(self, h: torch.Tensor, layer: str) -> torch.Tensor:
        return self.a_hat @ h @ self.p[f"{layer}.weight"] + self.p[f"{layer}.bias"]

    def two_layers(self, h: torch.Tensor, stack: str) -> torch.Tensor:
        return self.gcn(torch.relu(self.gcn(h, f"{stack}.first")), f"{stack}.second")

    def context(self, z: torch.Tensor) -> torch.Tensor:
        mean = (self.context_mask @ z) / self.context_mask.sum(dim=1, keepdim=True)
        return torch.sigmoid(mean / mean.norm(dim=1, keepdim=True))

    def critic(self, m: int, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        w = self.p[f"discriminators.{m}.weight"][0]
        return torch.einsum("ni,ij,nj->n", h, w, c) + self.p[f"discriminators.{m}.bias"]

    def contrastive(self, m: int, z: torch.Tensor, z_corrupt: torch.Tensor) -> torch.Tensor:
        g, g_corrupt = self.context(z), self.context(z_corrupt)
        first = bce(self.critic(m, z, g), self.critic(m, z_corrupt, g))
        second = bce(self.critic(m, z_corrupt, g_corrupt), self.critic(m, z, g_corrupt))
        return first + second

    def fuse(self, z: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        e = torch.stack(z, dim=1)  # N x M x L
        scores = (torch.tanh(e @ self.p["attention.w_omega"]) @ self.p["attention.u_omega"])[..., 0]
        alpha = torch.softmax(scores, dim=1)
        return (alpha[..., None] * e).sum(dim=1), alpha

    def forward(self, xs: list[torch.Tensor]) -> dict[str, list[torch.Tensor] | torch.Tensor]:
        z = [self.two_layers(x, f"encoders.{m}") for m, x in enumerate(xs)]
        fused, alpha = self.fuse(z)
        recon = [self.two_layers(fused, f"decoders.{m}") for m in range(len(xs))]
        return {"z": z, "fused": fused, "alpha": alpha, "recon": recon}

    def loss(self, xs, xs_corrupt, weights) -> dict[str, torch.Tensor]:
        w1, w2, w3, w4, w5 = weights
        out = self.forward(xs)
        z, recon = out["z"], out["recon"]
        zc = [self.two_layers(x, f"encoders.{m}") for m, x in enumerate(xs_corrupt)]
        csl = w1 * self.contrastive(0, z[0], zc[0]) + w2 * self.contrastive(1, z[1], zc[1])
        rec = w3 * ((recon[0] - xs[0]) ** 2).mean() + w4 * ((recon[1] - xs[1]) ** 2).mean()
        cos = w5 * (1.0 - cosine(z[0], z[1]).mean())
        return {"contrastive": csl, "reconstruction": rec, "cosine": cos, "total": csl + rec + cos}


def bce(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of logits [positive, negative] with labels [1, 0]."""
    losses = torch.cat(
        [-torch.log(torch.sigmoid(positive)), -torch.log(1 - torch.sigmoid(negative))]
    )
    return losses.mean()


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine similarity."""
    return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1))


# ---------------------------------------------------------------- the comparison


@pytest.fixture
def setup():
    """A random layout and features, a module with random non-zero biases, a permutation."""
    rng = np.random.default_rng(7)
    coords = rng.uniform(0, 10, size=(N_SPOTS, 2))
    xs = [torch.tensor(rng.normal(size=(N_SPOTS, d)), dtype=torch.float32) for d in DIMS]
    config = get_preset("simulated").with_overrides(k=K, weights=WEIGHTS, dropout=0.0)
    torch.manual_seed(3)
    module = build_module(list(DIMS), config)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.uniform_(-0.5, 0.5)
    perm = torch.randperm(N_SPOTS)
    return coords, xs, [x[perm] for x in xs], config, module


def project_terms(coords, xs, xs_corrupt, config, module):
    """The project's loss terms and every parameter's gradient of the total."""
    ops = GraphOperators.from_coordinates(coords, config.k, torch.device("cpu"))
    module.train()
    module.zero_grad(set_to_none=True)
    terms = loss_terms(module, xs, xs_corrupt, ops, config.loss_weights(2))
    terms["total"].backward()
    grads = {name: p.grad for name, p in module.named_parameters()}
    return {t: terms[t].detach() for t in TERMS}, grads


def spec_terms(coords, xs, xs_corrupt, module):
    """The reference's loss terms and gradients (float64) on the module's parameters."""
    params = {
        name: p.detach().double().clone().requires_grad_(True)
        for name, p in module.named_parameters()
    }
    spec = SpecSpaMI(params, coords, K)
    terms = spec.loss([x.double() for x in xs], [x.double() for x in xs_corrupt], WEIGHTS)
    terms["total"].backward()
    missing = [name for name, p in params.items() if p.grad is None]
    assert not missing, f"parameters the spec's loss does not use: {missing}"
    return {t: terms[t].detach() for t in TERMS}, {n: p.grad for n, p in params.items()}


def assert_matches_spec(setup) -> None:
    coords, xs, xs_corrupt, config, module = setup
    got, got_grads = project_terms(coords, xs, xs_corrupt, config, module)
    want, want_grads = spec_terms(coords, xs, xs_corrupt, module)
    for term in TERMS:
        torch.testing.assert_close(got[term].double(), want[term], rtol=1e-6, atol=0.0)
    for name, want_grad in want_grads.items():
        assert got_grads[name] is not None, f"{name} gets no gradient"
        scale = float(want_grad.abs().max())
        torch.testing.assert_close(
            got_grads[name].double(), want_grad, rtol=1e-5, atol=1e-6 * scale, msg=name
        )


KERNELS = ["torch"] + (["onednn"] if onednn_available() else [])


@pytest.mark.parametrize("dense", KERNELS)
def test_loss_and_gradients_follow_the_spec(setup, dense_kernel, dense):
    """CPU path: SciPy sparse products, the fused Numba DGI and cosine kernels."""
    dense_kernel(dense)
    assert_matches_spec(setup)


def test_loss_and_gradients_follow_the_spec_in_torchs_kernels(setup, monkeypatch, dense_kernel):
    """CUDA's path, run on the CPU: torch sparse products and torch's element-wise losses."""
    monkeypatch.setenv("SPAMI_SPARSE", "torch")
    monkeypatch.setenv("SPAMI_FUSED", "0")
    dense_kernel("torch")
    assert_matches_spec(setup)


def test_loss_and_gradients_follow_the_spec_split_over_threads(setup, monkeypatch):
    """Every fused kernel and sparse product split into row blocks on two threads."""
    blocks = []

    def counting(run):
        @functools.wraps(run)
        def wrapper(block, n_rows, threads):
            blocks.append(n_rows)
            return run(block, n_rows, threads)

        return wrapper

    monkeypatch.setattr(
        fastspami._kernels.fused,
        "run_in_row_blocks",
        counting(fastspami._kernels.fused.run_in_row_blocks),
    )
    monkeypatch.setattr(
        fastspami._kernels.csr,
        "run_in_row_blocks",
        counting(fastspami._kernels.csr.run_in_row_blocks),
    )
    # in_row_blocks's threshold is a default argument: bound here, not through the constant
    monkeypatch.setattr(
        fastspami._kernels.fused,
        "in_row_blocks",
        functools.partial(fastspami._kernels.fused.in_row_blocks, min_rows=1),
    )
    monkeypatch.setattr(fastspami._kernels.fused, "MIN_ENTRIES_RELU_BACKWARD", 0)
    monkeypatch.setattr(fastspami._kernels.csr, "MIN_ENTRIES_TO_SPLIT", 0)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert_matches_spec(setup)
    finally:
        torch.set_num_threads(before)
    assert len(blocks) > 10  # the DGI, cosine, ReLU-backward kernels and sparse products


def test_eval_outputs_are_the_specs_embedding_attention_and_reconstructions(setup):
    coords, xs, _, config, module = setup
    ops = GraphOperators.from_coordinates(coords, config.k, torch.device("cpu"))
    got = forward_outputs(module, xs, ops)
    params = {name: p.detach().double() for name, p in module.named_parameters()}
    want = SpecSpaMI(params, coords, K).forward([x.double() for x in xs])
    close = functools.partial(torch.testing.assert_close, rtol=1e-4, atol=1e-5)
    close(got["embedding"].double(), want["fused"])
    close(got["attention"].double(), want["alpha"])
    for m in range(2):
        close(got["modality_embeddings"][m].double(), want["z"][m])
        close(got["reconstructions"][m].double(), want["recon"][m])
