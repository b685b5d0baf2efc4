"""Memory-saving backward through a run of reversible blocks (RevNet, Gomez et al. 2017;
Momentum ResNets, Sander et al. 2021).

:func:`reversible_run` applies reversible :class:`~odenets.SchemeBlock` s one after another,
threading their step state (a momentum velocity; nothing for RevNet), and keeps only the
**output** of the run for backward. Backward walks the blocks in reverse: each block
reconstructs its input (and input state) with :meth:`~odenets.SchemeBlock.inverse_step`,
recomputes its forward with autograd on, and back-propagates through that one block. Saved
activations are therefore one state per run, whatever the number of blocks, at the price of
recomputation (one inverse and one forward per block).

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
from typing import Any

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


def _tensor_or_none(state: Any) -> Tensor | None:
    if state is None or isinstance(state, Tensor):
        return state
    raise TypeError(
        "reversible_run threads a state that is None or one tensor (a velocity), got "
        f"{type(state).__name__}"
    )


class _ReversibleRun(torch.autograd.Function):
    """Forward: the blocks without autograd, saving only the output and its state.
    Backward: per block, reconstruct the input, recompute with autograd, back-propagate."""

    @staticmethod
    def forward(ctx, x, state, blocks, params, *flat_params):
        # ``params`` (the same tensors as ``flat_params``) are parameters, not activations:
        # kept as an attribute they are not counted by saved_tensors_hooks.
        ctx.blocks, ctx.params, ctx.first_state = blocks, params, state
        # backward runs outside the caller's autocast: it recomputes under the forward's one
        device = x.device.type
        ctx.autocast = (device, torch.is_autocast_enabled(device), torch.get_autocast_dtype(device))
        for block in blocks:
            x, state = block.step(x, state)
        state = _tensor_or_none(state)
        ctx.has_state = state is not None
        ctx.save_for_backward(x, *([state] if state is not None else []))
        return x

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y):
        y, *rest = ctx.saved_tensors
        state = rest[0] if ctx.has_state else None
        grad_state = None
        index = {id(p): i for i, p in enumerate(ctx.params)}
        grads: list[Tensor | None] = [None] * len(ctx.params)
        device, enabled, dtype = ctx.autocast
        with torch.autocast(device, dtype=dtype, enabled=enabled):
            for n in range(len(ctx.blocks) - 1, -1, -1):
                block = ctx.blocks[n]
                own = [p for p in block.parameters() if p.requires_grad]
                with frozen_buffers(block):
                    with torch.no_grad():
                        x, state_in = block.inverse_step(y, state)
                    if n == 0:  # the run's input state is known exactly
                        state_in = ctx.first_state
                    with torch.enable_grad():
                        xd = x.detach().requires_grad_(True)
                        sd = None if state_in is None else state_in.detach().requires_grad_(True)
                        out, out_state = block.step(xd, sd)
                        outputs, grads_out = [out], [grad_y]
                        if grad_state is not None and out_state is not None:
                            outputs.append(out_state)
                            grads_out.append(grad_state)
                        inputs = [xd, *([sd] if sd is not None else []), *own]
                        found = torch.autograd.grad(outputs, inputs, grads_out, allow_unused=True)
                grad_y = found[0]
                grad_state = found[1] if sd is not None else None
                for p, g in zip(own, found[1 + (sd is not None) :], strict=True):
                    if g is not None:
                        i = index[id(p)]
                        grads[i] = g if grads[i] is None else grads[i] + g
                y, state = x, state_in
        return (grad_y, grad_state, None, None, *grads)


def reversible_run(blocks: Sequence[nn.Module], x: Tensor, state: Any = None) -> Tensor:
    """``blocks[-1](...blocks[0](x))`` (threading ``state``) with the O(1)-memory backward.

    Every block must be reversible (``block.reversible``; a ``ValueError`` otherwise). Without
    autograd (no grad mode, or nothing needs a gradient) it is the plain loop. Returns the
    output of the last block (its state is dropped: a network stage ends there).
    """
    blocks = tuple(blocks)
    for block in blocks:
        if not getattr(block, "reversible", False):
            raise ValueError(
                "reversible_run needs reversible blocks (an invertible scheme; partitioned "
                f"ones with half-width fields [F, G]), got {type(block).__name__} "
                f"{block.extra_repr()!r}"
            )
    params: list[Tensor] = []
    seen: set[int] = set()
    for block in blocks:
        for p in block.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    state = _tensor_or_none(state)
    needs = x.requires_grad or (state is not None and state.requires_grad) or params
    if not blocks or not torch.is_grad_enabled() or not needs:
        for block in blocks:
            x, state = block.step(x, state)
        return x
    if torch.compiler.is_compiling() and not torch._dynamo.config.trace_autograd_ops:
        # dynamo can trace the custom backward (its torch.autograd.grad) only with this
        # option; without it the run is one eager call, whose blocks are not compiled one by
        # one (which took minutes and gained nothing), see docs/benchmarks.md
        return _eager_run(x, state, blocks, params)
    return _ReversibleRun.apply(x, state, blocks, params, *params)


@torch.compiler.disable
def _eager_run(x: Tensor, state: Tensor | None, blocks: tuple, params: list) -> Tensor:
    """:class:`_ReversibleRun` outside ``torch.compile`` (a graph break)."""
    return _ReversibleRun.apply(x, state, blocks, params, *params)
