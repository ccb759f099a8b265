"""SpaMI's written-out Adam follows torch.optim.Adam exactly."""

import pytest
import torch

from spami.adam import Adam


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
