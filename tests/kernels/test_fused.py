"""The fused CPU losses equal torch's expressions of them, values and gradients."""

import subprocess
import sys

import pytest
import torch

from fastspami._kernels.fused import (
    dgi_loss,
    dgi_loss_torch,
    fused_available,
    mean_cosine,
    mean_cosine_torch,
)

pytestmark = pytest.mark.skipif(not fused_available(), reason="Numba is not installed")


def _leaves(*shapes, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=generator).requires_grad_() for s in shapes]


def _value_and_grads(fn, leaves, weight):
    for leaf in leaves:
        leaf.grad = None
    value = fn(*leaves)
    (weight * value).backward()
    return value.detach(), [leaf.grad.clone() for leaf in leaves]


@pytest.mark.parametrize("rows", [None, torch.tensor([0, 3, 4, 7, 19])])
@pytest.mark.parametrize("weight", [1.0, 2.5])
def test_fused_dgi_loss_matches_torch(rows, weight):
    """Loss and the gradients of both projections, both contexts and the bias, over all
    spots or a tile's interior, scaled by the loss weight."""
    leaves = _leaves((20, 64), (20, 64), (20, 64), (20, 64), (1,))
    with torch.no_grad():
        leaves[2][5] = 0.0  # a spot whose context is zero: normalize's clamp

    value, grads = _value_and_grads(lambda *t: dgi_loss(*t, rows=rows), leaves, weight)
    expected, expected_grads = _value_and_grads(
        lambda *t: dgi_loss_torch(*t, rows=rows), leaves, weight
    )
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    regular = torch.arange(20) != 5
    for got, want in zip(
        grads[:2] + grads[3:], expected_grads[:2] + expected_grads[3:], strict=True
    ):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(grads[2][regular], expected_grads[2][regular], rtol=1e-4, atol=1e-6)
    # the zero context: gradient / eps as torch's clamp gives, huge and rounded differently
    torch.testing.assert_close(grads[2][5], expected_grads[2][5], rtol=0.05, atol=1e-6)
    if rows is not None:  # spots outside the interior get no gradient
        outside = torch.ones(20, dtype=torch.bool)
        outside[rows] = False
        assert torch.all(grads[0][outside] == 0)


def test_fused_dgi_loss_matches_torch_at_the_extremes():
    """Contexts along one axis (normalized entries of exactly +-1, the ends of the kernel's
    polynomial sigmoid) and scores of +-40 (a confident critic, where softplus and sigmoid
    saturate): the same loss and gradients as torch."""
    generator = torch.Generator().manual_seed(2)
    context = torch.zeros(16, 8)
    context[torch.arange(16), torch.arange(16) % 8] = torch.randn(16, generator=generator) * 5
    projected = torch.randn(16, 8, generator=generator) * 40
    leaves = [t.requires_grad_() for t in (projected, -projected, context, -context)]
    leaves.append(torch.zeros(1, requires_grad=True))
    value, grads = _value_and_grads(dgi_loss, leaves, 1.0)
    expected, expected_grads = _value_and_grads(dgi_loss_torch, leaves, 1.0)
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_fused_dgi_loss_of_an_uninformative_critic_is_four_log_two_halves():
    """All scores zero: each of the 4 N binary cross-entropies is log 2; two means of 2 N."""
    zeros = torch.zeros(30, 8)
    context = torch.randn(30, 8)
    loss = dgi_loss(zeros, zeros, context, context, torch.zeros(1))
    assert loss.item() == pytest.approx(2 * torch.log(torch.tensor(2.0)).item(), rel=1e-6)


@pytest.mark.parametrize("rows", [None, torch.tensor([1, 2, 10])])
def test_fused_mean_cosine_matches_torch(rows):
    leaves = _leaves((15, 64), (15, 64), seed=1)
    value, grads = _value_and_grads(lambda a, b: mean_cosine(a, b, rows), leaves, -3.0)
    expected, expected_grads = _value_and_grads(
        lambda a, b: mean_cosine_torch(a, b, rows), leaves, -3.0
    )
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_disabling_the_fused_kernels_runs_torch(monkeypatch):
    """SPAMI_FUSED=0 gives torch's own expression (the comparison baseline)."""
    monkeypatch.setenv("SPAMI_FUSED", "0")
    assert not fused_available()
    a, b = _leaves((6, 4), (6, 4))
    assert mean_cosine(a, b).grad_fn.name() != "_FusedMeanCosineBackward"


def test_fused_kernels_give_the_same_bits_on_one_thread_and_on_two(row_block_splits):
    """Rows split over threads: each row's result is computed alike, so the loss and the
    gradients do not depend on the thread count (the same seed gives the same model)."""
    leaves = _leaves(*[(301, 64)] * 4, (1,), seed=4)
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(_value_and_grads(dgi_loss, leaves, 1.0))
    finally:
        torch.set_num_threads(before)
    assert row_block_splits, "the two-thread run never split its rows"
    (value_1, grads_1), (value_2, grads_2) = results
    assert torch.equal(value_1, value_2)
    assert all(torch.equal(a, b) for a, b in zip(grads_1, grads_2, strict=True))


def _stdout_of_fresh_python(script: str) -> str:
    """What ``script`` prints in a new interpreter (which must exit cleanly)."""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_fused_kernels_never_start_numbas_threading_layer():
    """Row blocks run on SpaMI's own pool: Numba's OpenMP layer, beside torch's, slowed two
    1-thread jobs sharing two cores 40-fold. Checked in a fresh interpreter, 2 threads."""
    script = (
        "import torch, numba.np.ufunc.parallel as layer\n"
        "from fastspami._kernels.fused import dgi_loss, mean_cosine\n"
        "torch.set_num_threads(2)\n"
        "x = torch.randn(5000, 64, requires_grad=True)\n"
        "(dgi_loss(x, x, x, x, torch.zeros(1)) + mean_cosine(x, x)).backward()\n"
        "print(layer._is_initialized)\n"
    )
    assert _stdout_of_fresh_python(script).strip() == "False"


def test_a_second_process_loads_the_compiled_kernels_from_the_cache():
    """Compiled once, then loaded: a new process neither compiles again (seconds, and
    LLVM's memory on top of training's peak) nor appends another copy to the cache."""
    script = (
        "import torch\n"
        "from fastspami._kernels.fused import _kernels, dgi_loss, mean_cosine\n"
        "x = torch.randn(50, 8, requires_grad=True)\n"
        "(dgi_loss(x, x, x, x, torch.zeros(1)) + mean_cosine(x, x)).backward()\n"
        "print(sum(sum(k.stats.cache_misses.values()) for k in _kernels().values()),\n"
        "      sum(sum(k.stats.cache_hits.values()) for k in _kernels().values()))\n"
    )
    _stdout_of_fresh_python(script)  # compiles, or loads what an earlier run compiled
    misses, hits = map(int, _stdout_of_fresh_python(script).split())
    assert (misses, hits) == (0, 2)
