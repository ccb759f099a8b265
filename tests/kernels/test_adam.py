"""SpaMI's written-out Adam follows torch.optim.Adam exactly."""

import pytest
import torch

from fastspami._kernels.adam import Adam


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_matches_torch_adam_bit_for_bit(weight_decay):
    """Thirty steps on a small regression (one parameter without gradient): equal weights."""
    torch.manual_seed(0)
    x, y = torch.randn(64, 8), torch.randn(64, 3)
    models = [
        torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
        for _ in range(2)
    ]
    models[1].load_state_dict(models[0].state_dict())
    initial = models[0][0].weight.detach().clone()
    unused = [torch.nn.Parameter(torch.ones(2)) for _ in models]
    ours = Adam([*models[0].parameters(), unused[0]], lr=0.01, weight_decay=weight_decay)
    reference = torch.optim.Adam(
        [*models[1].parameters(), unused[1]], lr=0.01, weight_decay=weight_decay
    )
    for _ in range(30):
        for model, optimizer in zip(models, (ours, reference), strict=True):
            optimizer.zero_grad(set_to_none=True)
            ((model(x) - y) ** 2).mean().backward()
            optimizer.step()
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(unused[0], torch.ones(2))
    assert (models[0][0].weight - initial).abs().max() > 0.05  # it did train


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_a_parameter_without_gradient_on_some_steps_keeps_its_own_step_count(weight_decay):
    """A parameter used on every third step only (its gradient None on the others): torch
    counts its steps apart, for its bias corrections; so does ours, to the last bit."""
    torch.manual_seed(1)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    start = (torch.randn(4, 1), torch.randn(4, 1))
    pairs = [tuple(torch.nn.Parameter(t.clone()) for t in start) for _ in range(2)]
    ours = Adam(pairs[0], lr=0.01, weight_decay=weight_decay)
    reference = torch.optim.Adam(pairs[1], lr=0.01, weight_decay=weight_decay)
    for step in range(20):
        for (always, sometimes), optimizer in zip(pairs, (ours, reference), strict=True):
            optimizer.zero_grad(set_to_none=True)
            prediction = x @ always + (x @ sometimes if step % 3 == 2 else 0.0)
            ((prediction - y) ** 2).mean().backward()
            optimizer.step()
    assert ours.steps == [20, 6]
    for a, b in zip(pairs[0], pairs[1], strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(pairs[0][1], start[1])  # the intermittent parameter did move
