"""The counter-based dropout: its masks, their probability, their gradient, their seed."""

import numpy as np
import pytest
import torch

from fastspami._kernels.dropout import counter_dropout, keep_threshold, mask_bits
from fastspami._kernels.fused import fused_available
from fastspami.model.module import dropout


def _expected(x: torch.Tensor, p: float, key: int) -> np.ndarray:
    """The mask computed from its definition in NumPy, applied to x."""
    keep = mask_bits(key, x.numel()) >= keep_threshold(p)
    scaled = x.numpy().ravel() * np.float32(1.0 / (1.0 - p))
    return np.where(keep, scaled, np.float32(0.0)).reshape(x.shape)


@pytest.mark.parametrize("shape", [(5, 3), (3001, 37)])  # one block; blocks over threads
@pytest.mark.parametrize("threads", [1, 2])
def test_masks_follow_the_definition_whatever_the_thread_count(shape, threads):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        out = counter_dropout(x, 0.15, key=123456789)
    finally:
        torch.set_num_threads(previous)
    np.testing.assert_array_equal(out.numpy(), _expected(x, 0.15, 123456789))


@pytest.mark.skipif(not fused_available(), reason="Numba is not installed")
def test_numba_kernel_and_numpy_fallback_give_the_same_masks(monkeypatch):
    x = torch.randn(400, 70)
    compiled = counter_dropout(x, 0.3, key=2**61 + 7)
    monkeypatch.setenv("SPAMI_FUSED", "0")
    fallback = counter_dropout(x, 0.3, key=2**61 + 7)
    torch.testing.assert_close(compiled, fallback, rtol=0, atol=0)


@pytest.mark.parametrize("p", [0.15, 0.5, 0.9])
def test_keeps_one_minus_p_and_preserves_the_mean(p):
    out = counter_dropout(torch.ones(200_000, 5), p, key=42)
    kept = (out != 0).double().mean().item()
    sd = (p * (1 - p) / out.numel()) ** 0.5
    assert abs(kept - (1 - p)) < 5 * sd
    assert out.mean().item() == pytest.approx(1.0, abs=5 * sd / (1 - p))
    assert set(np.unique(out.numpy())) == {0.0, np.float32(1.0 / (1.0 - p))}


def test_masks_of_neighbouring_entries_and_keys_are_independent():
    """No visible correlation between an entry's bit and its neighbour's, or between the
    masks of consecutive keys (what a weak counter hash would show)."""
    n = 400_000
    bits = (mask_bits(7, n) >= keep_threshold(0.5)).astype(float)
    other = (mask_bits(8, n) >= keep_threshold(0.5)).astype(float)
    limit = 5 / n**0.5  # five standard errors of a correlation of independent bits
    assert abs(np.corrcoef(bits[:-1], bits[1:])[0, 1]) < limit
    assert abs(np.corrcoef(bits, other)[0, 1]) < limit


def test_gradient_is_the_same_mask():
    x = torch.randn(50, 8, requires_grad=True)
    out = counter_dropout(x, 0.25, key=99)
    upstream = torch.randn(50, 8)
    out.backward(upstream)
    mask = torch.from_numpy(_expected(torch.ones(50, 8), 0.25, 99))
    torch.testing.assert_close(out.detach(), x.detach() * mask)
    torch.testing.assert_close(x.grad, upstream * mask)


def test_torch_seed_fixes_the_masks_and_the_key_changes_per_call():
    x = torch.ones(1000, 4)
    torch.manual_seed(3)
    first, second = dropout(x, 0.15, True), dropout(x, 0.15, True)
    torch.manual_seed(3)
    assert torch.equal(dropout(x, 0.15, True), first)
    assert not torch.equal(first, second)
    assert dropout(x, 0.15, training=False) is x


def test_probability_outside_the_open_interval_is_refused():
    with pytest.raises(ValueError, match="dropout probability must lie in"):
        counter_dropout(torch.ones(3), 1.0, key=0)
