"""Memory-saving backward through a run of reversible blocks (RevNet, Gomez et al. 2017).

:func:`reversible_run` applies reversible :class:`~odenets.SchemeBlock` s (coupled schemes
with half-width ``[F, G]``) one after another and keeps only the **output** of the run for
backward. Backward walks the blocks in reverse: each block reconstructs its input with
:meth:`~odenets.SchemeBlock.inverse`, recomputes its forward with autograd on, and
back-propagates through that one block. Saved activations are therefore one state per run,
whatever the number of blocks, at the price of recomputation (one inverse and one forward per
block: four extra field evaluations per coupled step).

Buffers (BatchNorm running statistics) are snapshot before the reconstruction and restored
after it, so recomputation never updates them a second time. In training mode BatchNorm
normalises with the statistics of the reconstructed batch — the same batch as in forward — so
the recomputed activations equal the original ones up to rounding.

Randomness inside a field (dropout, noise) would differ between forward and recomputation;
fields of reversible runs must be deterministic. Double backward is not supported.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = ["frozen_buffers", "reversible_run"]


@contextmanager
def frozen_buffers(module: nn.Module):
    """Restore every buffer of ``module`` (BatchNorm running stats, counters) on exit."""
    saved = [(b, b.detach().clone()) for b in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)


class _ReversibleRun(torch.autograd.Function):
    """Forward: the blocks without autograd, saving only the output. Backward: per block,
    reconstruct the input, recompute with autograd, back-propagate (see the module)."""

    @staticmethod
    def forward(ctx, x, blocks, params, *flat_params):
        # ``params`` (the same tensors as ``flat_params``) are parameters, not activations:
        # kept as an attribute they are not counted by saved_tensors_hooks.
        ctx.blocks, ctx.params = blocks, params
        for block in blocks:
            x = block(x)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y):
        (y,) = ctx.saved_tensors
        index = {id(p): i for i, p in enumerate(ctx.params)}
        grads: list[Tensor | None] = [None] * len(ctx.params)
        for block in reversed(ctx.blocks):
            own = [p for p in block.parameters() if p.requires_grad]
            with frozen_buffers(block):
                with torch.no_grad():
                    x = block.inverse(y)
                with torch.enable_grad():
                    xd = x.detach().requires_grad_(True)
                    found = torch.autograd.grad(block(xd), [xd, *own], grad_y, allow_unused=True)
            grad_y = found[0]
            for p, g in zip(own, found[1:], strict=True):
                if g is not None:
                    i = index[id(p)]
                    grads[i] = g if grads[i] is None else grads[i] + g
            y = x
        return (grad_y, None, None, *grads)


def reversible_run(blocks: Sequence[nn.Module], x: Tensor) -> Tensor:
    """``blocks[-1](...blocks[0](x))`` with the O(1)-memory backward described above.

    Every block must be reversible (``block.reversible``; a ``ValueError`` otherwise). Without
    autograd (no grad mode, or nothing needs a gradient) it is the plain loop.
    """
    blocks = tuple(blocks)
    for block in blocks:
        if not getattr(block, "reversible", False):
            raise ValueError(
                "reversible_run needs reversible blocks (coupled schemes with half-width "
                f"fields [F, G]), got {type(block).__name__} {block.extra_repr()!r}"
            )
    params: list[Tensor] = []
    seen: set[int] = set()
    for block in blocks:
        for p in block.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    if not blocks or not torch.is_grad_enabled() or not (x.requires_grad or params):
        for block in blocks:
            x = block(x)
        return x
    return _ReversibleRun.apply(x, blocks, params, *params)
