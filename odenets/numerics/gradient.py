"""The gradient flow ``F(x) = -grad f(x)`` of a known objective: the field of deep unfolding,
where every scheme step is an optimiser step (Euler: gradient descent)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["GradientField"]


class GradientField(nn.Module):
    """The gradient flow ``F(x) = -grad f(x)`` of a scalar objective ``f``.

    ``f`` maps a batch ``(batch, ...)`` to per-sample values ``(batch,)`` (or a scalar sum).
    The gradient is taken with autograd and keeps its graph while grad mode is on, so
    parameters of an unrolled optimiser built on it (step sizes) can be trained.
    """

    def __init__(self, f: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        if not callable(f):
            raise TypeError(f"f must be callable, got {type(f).__name__}")
        self.f = f

    def forward(self, x: Tensor) -> Tensor:
        keep_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            xg = x if x.requires_grad else x.detach().requires_grad_(True)
            value = self.f(xg)
            (grad,) = torch.autograd.grad(value.sum(), xg, create_graph=keep_graph)
        return -grad if keep_graph else -grad.detach()
