"""SpaMI's modules and losses on small tensors."""

from __future__ import annotations

import math
import platform
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from fastspami._kernels import csr
from fastspami._kernels import fused as fused_kernels
from fastspami._kernels.dense import (
    matmul,
    matmul_bias_relu,
    onednn_available,
    relu_matmul,
    uses_onednn,
    weight_gradients_on_onednn,
)
from fastspami.model.losses import contrastive_loss, cosine_loss
from fastspami.model.module import AttentionFusion, Discriminator, SpaMIModule
from fastspami.model.operators import SparseOperator
from fastspami.pp.graph import gcn_normalize, spatial_knn_graph, symmetrize


@pytest.fixture
def graph():
    rng = np.random.default_rng(0)
    knn = spatial_knn_graph(rng.uniform(size=(40, 2)), k=3)
    return knn, gcn_normalize(symmetrize(knn))


@pytest.mark.parametrize("backend", ["scipy", "torch"])
def test_sparse_operator_forward_and_gradient_match_dense(graph, monkeypatch, backend):
    """Both kernels (SciPy on the CPU; torch's sparse CSR, CUDA's, forced by SPAMI_SPARSE)
    give Â x and, backward, Âᵀ g, also for the non-symmetric context operator."""
    monkeypatch.setenv("SPAMI_SPARSE", "torch" if backend == "torch" else "")
    knn, norm = graph
    for matrix, symmetric in ((norm, True), (knn, False)):
        op = SparseOperator(matrix, symmetric=symmetric)
        assert op.backend == backend
        dense = torch.tensor(matrix.toarray())
        x = torch.randn(40, 5, requires_grad=True)
        (op(x) ** 2).sum().backward()
        grad_sparse = x.grad.clone()
        x.grad = None
        ((dense @ x) ** 2).sum().backward()
        torch.testing.assert_close(op(x.detach()), dense @ x.detach())
        torch.testing.assert_close(grad_sparse, x.grad)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_row_blocked_product_matches_scipy(graph, monkeypatch, threads):
    """The thread-split CSR product writes every row block: the same numbers as SciPy."""
    monkeypatch.setattr(csr, "MIN_ENTRIES_TO_SPLIT", 0)  # split even this small product
    knn, _ = graph
    matrix = sp.csr_matrix(knn, dtype=np.float32)
    x = np.random.default_rng(1).normal(size=(40, 7)).astype(np.float32)
    np.testing.assert_allclose(
        csr.RowBlockedCSR(matrix).matmul(x, threads), matrix @ x, rtol=1e-6, atol=1e-6
    )


def test_relu_then_gemm_matches_autograd_relu():
    """The fused ReLU -> product gives autograd's values and gradients."""
    torch.manual_seed(0)
    h = torch.randn(30, 16, requires_grad=True)
    w = torch.randn(16, 4, requires_grad=True)
    fused = relu_matmul(h * 1.0, w)
    fused.pow(2).sum().backward()
    grads = h.grad.clone(), w.grad.clone()
    h.grad, w.grad = None, None
    reference = torch.relu(h) @ w
    reference.pow(2).sum().backward()
    torch.testing.assert_close(fused, reference)
    torch.testing.assert_close(grads[0], h.grad)
    torch.testing.assert_close(grads[1], w.grad)


@pytest.mark.parametrize("dense", ["torch", "onednn"])
@pytest.mark.parametrize("numba_backward", [False, True])
def test_product_bias_relu_matches_autograd(
    monkeypatch, dense_kernel, row_block_splits, dense, numba_backward
):
    """relu(x W + b) in one kernel, its backward (ReLU mask and bias sum in one pass): the
    values and gradients of autograd's separate operations."""
    if dense == "onednn" and not onednn_available():
        pytest.skip("this torch build has no working oneDNN linear kernel")
    if numba_backward and not fused_kernels.fused_available():
        pytest.skip("Numba is not available")
    dense_kernel(dense)
    monkeypatch.setattr(
        fused_kernels, "MIN_ENTRIES_RELU_BACKWARD", 0 if numba_backward else 1 << 40
    )
    torch.manual_seed(0)
    x = torch.randn(300, 20, requires_grad=True)
    w = torch.randn(20, 64, requires_grad=True)
    b = torch.randn(64, requires_grad=True)
    upstream = torch.randn(300, 64)
    out = matmul_bias_relu(x, w, b)
    (out * upstream).sum().backward()
    grads = [t.grad.clone() for t in (x, w, b)]
    x.grad = w.grad = b.grad = None
    reference = torch.relu(x @ w + b)
    (reference * upstream).sum().backward()
    assert 0.2 < (out > 0).float().mean() < 0.8  # the mask matters
    assert bool(row_block_splits) == numba_backward  # Numba's pass ran in row blocks
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-4)
    for got, t in zip(grads, (x, w, b), strict=True):
        torch.testing.assert_close(got, t.grad, rtol=1e-5, atol=1e-3)


def test_fused_relu_backward_sums_in_float64_and_zeroes_in_place():
    """The Numba pass gives threshold_backward's gradient bit for bit and the column sums
    of a large gradient correctly rounded (accumulated in float64)."""
    if not fused_kernels.fused_available():
        pytest.skip("Numba is not available")
    rng = np.random.default_rng(0)
    n = (1 << 22) // 64  # just at the size where the fused pass takes over
    act = torch.from_numpy(np.maximum(rng.standard_normal((n, 64), dtype=np.float32), 0))
    grad = torch.from_numpy(rng.standard_normal((n, 64), dtype=np.float32) + 10.0)
    expected_grad = torch.where(act > 0, grad, torch.zeros(()))
    exact = expected_grad.double().sum(0)
    sums = fused_kernels.relu_backward_bias_sum_(grad, act)
    assert torch.equal(grad, expected_grad)
    assert sums.dtype == torch.float32 and sums.shape == (64,)
    error = (sums.double() - exact).abs().numpy()
    half_ulp = np.spacing(exact.abs().numpy().astype(np.float32)) / 2
    assert (error <= half_ulp).all()  # correctly rounded: float32 can do no better


@pytest.mark.parametrize(
    ("width_in", "hidden", "width_out"), [(8, 16, 4), (8, 16, 40), (24, 16, 4)]
)
def test_gcn_stack_matches_dense_reference(graph, width_in, hidden, width_out):
    """Â relu(Â x W1 + b1) W2 + b2 and its gradients, whichever layers widen (and so where
    the ReLU is fused)."""
    from fastspami.model.module import GCNStack

    _, norm = graph
    torch.manual_seed(0)
    stack = GCNStack(width_in, hidden, width_out, dropout=0.0)
    with torch.no_grad():
        for layer in (stack.first, stack.second):
            layer.bias.normal_()
    x = torch.randn(40, width_in, requires_grad=True)
    upstream = torch.randn(40, width_out)
    (stack(x, SparseOperator(norm, symmetric=True)) * upstream).sum().backward()
    params = [x, stack.first.weight, stack.first.bias, stack.second.weight, stack.second.bias]
    grads = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    a = torch.tensor(norm.toarray(), dtype=torch.float32)
    hidden_act = torch.relu(a @ x @ stack.first.weight + stack.first.bias)
    reference = a @ hidden_act @ stack.second.weight + stack.second.bias
    (reference * upstream).sum().backward()
    torch.testing.assert_close(stack(x.detach(), SparseOperator(norm, symmetric=True)), reference)
    for got, p in zip(grads, params, strict=True):
        torch.testing.assert_close(got, p.grad, rtol=1e-4, atol=1e-4)


def test_relu_output_only_on_a_widening_layer(graph):
    """The fused bias + ReLU needs Â applied first: a shrinking layer refuses it."""
    from fastspami.model.module import GCNLayer

    _, norm = graph
    with pytest.raises(ValueError, match="widens"):
        GCNLayer(16, 8)(torch.randn(40, 16), SparseOperator(norm, symmetric=True), relu_output=True)


@pytest.fixture
def force_onednn(dense_kernel):
    """The layers' products on oneDNN whatever the CPU (skip where torch lacks it)."""
    if not onednn_available():
        pytest.skip("this torch build has no working oneDNN linear kernel")
    dense_kernel("onednn")


@pytest.mark.parametrize(
    ("width_in", "width_out", "input_grad"),
    [(50, 256, False), (50, 256, True), (256, 50, True), (64, 64, True)],
)
def test_dense_matmul_matches_torch_values_and_gradients(
    force_onednn, width_in, width_out, input_grad
):
    """The layers' products (on oneDNN, the weight gradient in either order) equal torch's
    mm and its gradients."""
    assert uses_onednn()
    torch.manual_seed(0)
    x = torch.randn(500, width_in, requires_grad=input_grad)
    w = torch.randn(width_in, width_out, requires_grad=True)
    upstream = torch.randn(500, width_out)
    out = matmul(x, w)
    (out * upstream).sum().backward()
    grads = (x.grad.clone() if input_grad else None), w.grad.clone()
    x.grad, w.grad = None, None
    reference = x @ w
    (reference * upstream).sum().backward()
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(grads[1], w.grad, rtol=1e-5, atol=1e-3)
    if input_grad:
        torch.testing.assert_close(grads[0], x.grad, rtol=1e-5, atol=1e-4)
    else:
        assert x.grad is None


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="torch's x86-64 Linux wheels ship oneDNN; other builds may not",
)
def test_onednn_products_are_used_on_amd_and_not_on_intel(monkeypatch):
    """oneDNN where MKL lacks its AVX-512 path (AMD), MKL on Intel; SPAMI_DENSE overrides."""
    assert onednn_available()  # torch's x86-64 Linux wheels ship it
    monkeypatch.delenv("SPAMI_DENSE", raising=False)
    choices = {}
    for vendor, env in [("AuthenticAMD", None), ("GenuineIntel", None), ("AuthenticAMD", "torch"),
                        ("GenuineIntel", "onednn")]:  # fmt: skip
        monkeypatch.setattr("fastspami._kernels.dense.cpu_vendor", lambda v=vendor: v)
        if env:
            monkeypatch.setenv("SPAMI_DENSE", env)
        uses_onednn.cache_clear()
        choices[(vendor, env)] = uses_onednn()
    uses_onednn.cache_clear()
    assert choices == {
        ("AuthenticAMD", None): True,
        ("GenuineIntel", None): False,
        ("AuthenticAMD", "torch"): False,
        ("GenuineIntel", "onednn"): True,
    }


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="torch's x86-64 Linux wheels ship oneDNN; other builds may not",
)
def test_weight_gradients_go_to_onednn_only_with_avx512(monkeypatch):
    """oneDNN's weight gradients need a transposed copy: on AMD they stay on oneDNN only
    with AVX-512 (which MKL does not use there); SPAMI_DENSE=onednn puts them there anyway."""
    monkeypatch.delenv("SPAMI_DENSE", raising=False)
    choices = {}
    for vendor, flags, env in [("AuthenticAMD", "fma avx2 avx512f avx512bw", None),
                               ("AuthenticAMD", "fma avx2", None),
                               ("AuthenticAMD", "fma avx2", "onednn"),
                               ("GenuineIntel", "fma avx2 avx512f", None)]:  # fmt: skip
        fields = {"vendor_id": vendor, "flags": flags}
        monkeypatch.setattr(
            "fastspami._kernels.dense.cpu_info", lambda field, f=fields: f.get(field, "")
        )
        monkeypatch.setenv("SPAMI_DENSE", env or "")
        uses_onednn.cache_clear()
        weight_gradients_on_onednn.cache_clear()
        choices[(vendor, flags, env)] = (uses_onednn(), weight_gradients_on_onednn())
    uses_onednn.cache_clear()
    weight_gradients_on_onednn.cache_clear()
    assert list(choices.values()) == [(True, True), (True, False), (True, True), (False, False)]


def test_attention_weights_sum_to_one_per_spot():
    torch.manual_seed(0)
    fusion = AttentionFusion(8)
    z = [torch.randn(30, 8) for _ in range(3)]
    fused, alpha = fusion(z)
    assert fused.shape == (30, 8) and alpha.shape == (30, 3)
    torch.testing.assert_close(alpha.sum(dim=1), torch.ones(30))
    assert torch.all(alpha > 0)


def test_cosine_loss_is_zero_for_equal_and_two_for_opposite_embeddings():
    z = torch.randn(20, 4)
    assert cosine_loss([z, z]).item() == pytest.approx(0.0, abs=1e-6)
    assert cosine_loss([z, -z]).item() == pytest.approx(2.0, abs=1e-6)
    assert cosine_loss([z, z, -z]).item() == pytest.approx(4.0 / 3.0, abs=1e-6)


def test_contrastive_loss_of_an_uninformative_critic_is_two_log_two(graph):
    knn, _ = graph
    critic = Discriminator(4)
    with torch.no_grad():
        critic.weight.zero_()
    z = torch.randn(40, 4)
    loss = contrastive_loss(critic, z, z[torch.randperm(40)], SparseOperator(knn))
    assert loss.item() == pytest.approx(2 * math.log(2), rel=1e-6)


def test_module_shapes_for_attention_concat_and_single_modality(graph):
    _, norm = graph
    op = SparseOperator(norm, symmetric=True)
    xs = [torch.randn(40, 10), torch.randn(40, 6)]
    for fusion, width in (("attention", 16), ("concat", 32)):
        module = SpaMIModule([10, 6], hidden_dim=12, latent_dim=16, fusion=fusion)
        z = module.encode(xs, op)
        fused, alpha = module.fuse(z)
        assert fused.shape == (40, width)
        assert (alpha is None) == (fusion == "concat")
        assert [r.shape for r in module.decode(fused, op)] == [(40, 10), (40, 6)]
    single = SpaMIModule([10], hidden_dim=12, latent_dim=16)
    fused, alpha = single.fuse(single.encode(xs[:1], op))
    assert fused.shape == (40, 16) and alpha is None


def test_mean_fusion_weights_every_modality_equally(graph):
    _, norm = graph
    op = SpaMIModule([10, 6, 4], hidden_dim=12, latent_dim=16, fusion="mean")
    z = op.encode([torch.randn(40, d) for d in (10, 6, 4)], SparseOperator(norm, symmetric=True))
    fused, alpha = op.fuse(z)
    torch.testing.assert_close(fused, (z[0] + z[1] + z[2]) / 3)
    torch.testing.assert_close(alpha, torch.full((40, 3), 1 / 3))
    with pytest.raises(ValueError, match="mean"):
        SpaMIModule([10, 6], fusion="sum")
