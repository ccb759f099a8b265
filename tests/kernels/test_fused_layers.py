"""The fused kernels of issue #33 against the plain PyTorch expressions they replace, values
and gradients, on one thread and on two: the sparse product with its bias, the
reconstruction loss and the attention fusion."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from fastspami._kernels.attention import (
    attention_fusion,
    attention_fusion_torch,
    fused_attention_available,
)
from fastspami._kernels.fused import weighted_mse, weighted_mse_torch
from fastspami._kernels.propagate import fused_propagation_available
from fastspami.model.operators import SparseOperator
from fastspami.pp.graph import gcn_normalize, spatial_knn_graph, symmetrize

pytestmark = pytest.mark.skipif(
    not (fused_propagation_available() and fused_attention_available()),
    reason="Numba is not installed",
)


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def threads(request, row_block_splits):
    """Each test on one thread and on two, rows split over threads from one row up."""
    torch.set_num_threads(request.param)
    yield request.param
    if request.param == 2:
        assert row_block_splits, "the two-thread run never split its rows"


def _grads(fn, leaves, upstream):
    """fn's outputs (detached) and the gradients of ``sum(output * upstream)`` (over every
    output) with respect to the leaves."""
    for leaf in leaves:
        leaf.grad = None
    outputs = fn(*leaves)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    sum((o * u).sum() for o, u in zip(outputs, upstream, strict=True)).backward()
    return [o.detach() for o in outputs], [leaf.grad.clone() for leaf in leaves]


@pytest.fixture
def graph():
    rng = np.random.default_rng(0)
    knn = spatial_knn_graph(rng.uniform(size=(300, 2)), k=3)
    return knn, gcn_normalize(symmetrize(knn))


@pytest.mark.parametrize("symmetric", [True, False], ids=["gcn", "context"])
def test_sparse_product_with_bias_matches_scipy_and_torch(graph, threads, symmetric):
    """``Â x + b`` in one pass: forward bit for bit SciPy's product plus the bias, backward
    bit for bit ``Âᵀ g``; the bias's gradient, the column sums of g, correctly rounded."""
    knn, norm = graph
    matrix = norm if symmetric else knn
    op = SparseOperator(matrix, symmetric=symmetric)
    generator = torch.Generator().manual_seed(threads)
    x = torch.randn(300, 24, generator=generator, requires_grad=True)
    b = torch.randn(24, generator=generator, requires_grad=True)
    upstream = [torch.randn(300, 24, generator=generator) + 3.0]  # sums far from 0
    (fused,), fused_grads = _grads(op.add_bias, [x, b], upstream)
    assert x.grad_fn is None and op.add_bias(x, b).grad_fn.name() == "PropagateBiasBackward"
    (plain,), plain_grads = _grads(lambda x, b: op(x) + b, [x, b], upstream)
    assert torch.equal(fused, plain)
    assert torch.equal(fused_grads[0], plain_grads[0])
    exact = upstream[0].double().sum(0)
    error = (fused_grads[1].double() - exact).abs().numpy()
    assert (error <= np.spacing(exact.abs().numpy().astype(np.float32)) / 2).all()
    dense = torch.tensor(sp.csr_matrix(matrix).toarray(), dtype=torch.float32)
    torch.testing.assert_close(fused, dense @ x.detach() + b.detach())


@pytest.mark.parametrize("rows", [None, torch.tensor([0, 3, 4, 100, 299])], ids=["all", "tile"])
@pytest.mark.parametrize("weight", [1.0, 10.0])
def test_fused_reconstruction_loss_matches_torch(threads, rows, weight):
    """``weight * mse_loss`` over all spots or a tile's interior: value and gradient of
    torch's expression (no gradient outside the interior)."""
    generator = torch.Generator().manual_seed(1)
    r = torch.randn(300, 40, generator=generator, requires_grad=True)
    x = torch.randn(300, 40, generator=generator)
    (value,), (grad,) = _grads(lambda r: weighted_mse(r, x, weight, rows), [r], [1.0])
    assert r.grad_fn is None and weighted_mse(r, x, weight).grad_fn.name() == "_FusedMSEBackward"
    (expected,), (expected_grad,) = _grads(
        lambda r: weighted_mse_torch(r, x, weight, rows), [r], [1.0]
    )
    torch.testing.assert_close(value, expected, rtol=1e-6, atol=0)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-6, atol=1e-12)
    if rows is not None:
        outside = torch.ones(300, dtype=torch.bool)
        outside[rows] = False
        assert torch.all(grad[outside] == 0)


@pytest.mark.parametrize("n_modalities", [2, 3])
def test_fused_attention_matches_torch(threads, n_modalities):
    """The attention fusion (tanh projection, scores, softmax, weighted sum) and its
    backward, also through the weights alpha: torch's values and gradients to rounding."""
    generator = torch.Generator().manual_seed(n_modalities)
    z = [torch.randn(300, 16, generator=generator, requires_grad=True) for _ in range(n_modalities)]
    w = (torch.randn(16, 16, generator=generator) / 4).requires_grad_()
    u = (torch.randn(16, 1, generator=generator) / 2).requires_grad_()
    upstream = [torch.randn(300, 16, generator=generator), torch.randn(300, n_modalities)]

    def run(fn):
        return _grads(lambda w, u, *z: fn(list(z), w, u), [w, u, *z], upstream)

    (fused, alpha), grads = run(attention_fusion)
    (want_fused, want_alpha), want_grads = run(attention_fusion_torch)
    assert alpha.std() > 0.1 and alpha.max() < 0.999  # weights that vary, not saturated
    torch.testing.assert_close(alpha.sum(1), torch.ones(300))
    torch.testing.assert_close(fused, want_fused, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(alpha, want_alpha, rtol=1e-5, atol=1e-6)
    for got, want in zip(grads, want_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_fused_layers_give_the_same_bits_on_one_thread_and_on_two(graph, row_block_splits):
    """Rows split over threads give each row the same arithmetic: the same model for the
    same seed, whatever the thread count."""
    _, norm = graph
    op = SparseOperator(norm, symmetric=True)
    generator = torch.Generator().manual_seed(5)
    z = [torch.randn(300, 16, generator=generator, requires_grad=True) for _ in range(2)]
    w = torch.randn(16, 16, generator=generator, requires_grad=True)
    u = torch.randn(16, 1, generator=generator, requires_grad=True)
    b = torch.randn(16, generator=generator, requires_grad=True)
    x = torch.randn(300, 16, generator=generator)

    def epoch_like(w, u, b, *z):
        fused, alpha = attention_fusion(list(z), w, u)
        return weighted_mse(op.add_bias(fused, b), x, 10.0), alpha

    upstream = [torch.tensor(1.0), torch.randn(300, 2, generator=generator)]
    before = torch.get_num_threads()
    results = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            results.append(_grads(epoch_like, [w, u, b, *z], upstream))
    finally:
        torch.set_num_threads(before)
    assert row_block_splits, "the two-thread run never split its rows"
    (values_1, grads_1), (values_2, grads_2) = results
    assert all(
        torch.equal(a, b) for a, b in zip(values_1 + grads_1, values_2 + grads_2, strict=True)
    )


def test_bf16_relu_backward_and_bias_sum_match_torch(threads, monkeypatch):
    """Mixed precision's ReLU backward and bias gradient, read as bfloat16's bits: the
    gradient zeroed where torch's threshold_backward zeroes it (also at -0, +0, NaN and
    +inf activations) and its column sums correctly rounded to float32."""
    import fastspami._kernels.fused as fused_kernels

    monkeypatch.setattr(fused_kernels, "MIN_ENTRIES_RELU_BACKWARD", 0)
    generator = torch.Generator().manual_seed(threads)
    act = torch.relu(torch.randn(300, 32, generator=generator)).bfloat16()
    act[0, :4] = torch.tensor([float("nan"), float("inf"), -0.0, 0.0])
    grad = (torch.randn(300, 32, generator=generator) + 2.0).bfloat16()
    expected = grad.clone()
    torch.ops.aten.threshold_backward.grad_input(expected, act, 0.0, grad_input=expected)
    exact = expected.double().sum(0)
    sums = fused_kernels.relu_backward_bias_sum_(grad, act)
    assert torch.equal(grad, expected) and sums.dtype == torch.float32
    half_ulp = np.spacing(exact.abs().numpy().astype(np.float32)) / 2
    assert ((sums.double() - exact).abs().numpy() <= half_ulp).all()
