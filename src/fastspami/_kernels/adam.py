"""Adam, written out: the update of ``torch.optim.Adam`` on the CPU, without its imports.

``torch.optim``'s optimizers import ``torch._dynamo`` (and with it sympy) in their first
``step``: about 70 MB of resident memory in a process that trains SpaMI, 10 % of its peak
at 9,216 spots. SpaMI needs plain Adam only (no AMSGrad, no weight decay by default), so
this class applies the same operations in the same order as torch's single-tensor Adam
(``_single_tensor_adam``, the CPU default): the parameters follow torch's to the last bit
(``tests/kernels/test_adam.py`` compares them).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class Adam:
    """Adam (Kingma & Ba 2015) with L2 weight decay added to the gradient, as torch's."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        # one count per parameter, as torch's state["step"]: it advances only on the steps
        # where that parameter has a gradient, and sets its bias corrections
        self.steps = [0] * len(self.params)
        self.exp_avg = [
            torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params
        ]
        self.exp_avg_sq = [
            torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params
        ]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop the gradients (``set_to_none``) or zero them."""
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def _step_size_and_correction(self, step: int) -> tuple[float, float]:
        """(lr / (1 - beta1^t), sqrt(1 - beta2^t)) at a parameter's step t, as torch's."""
        beta1, beta2 = self.betas
        return self.lr / (1 - beta1 ** float(step)), (1 - beta2 ** float(step)) ** 0.5

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient (the others keep their step)."""
        beta1, beta2 = self.betas
        for i, (p, exp_avg, exp_avg_sq) in enumerate(
            zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True)
        ):
            if p.grad is None:
                continue
            self.steps[i] += 1
            step_size, bias_correction2_sqrt = self._step_size_and_correction(self.steps[i])
            grad = p.grad if self.weight_decay == 0 else p.grad.add(p, alpha=self.weight_decay)
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
            p.addcdiv_(exp_avg, denom, value=-step_size)
