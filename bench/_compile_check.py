"""Compiled vs eager on the same network: seeded runs, relative errors, graph breaks.

The approach of tests/test_compile.py as measurements (numbers, not assertions), for
bench/bench_compile.py and bench/gpu.py: the compiled network is a deep copy of the eager one,
stochastic networks draw the same noise on both sides (their ``noise_source`` re-seeded before
each call), and errors are relative to the largest entry of the eager result.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from odenets.workflow.compiled import compile_settings  # the settings `train --compile` uses

__all__ = [
    "buffers_rel_error",
    "compile_settings",
    "grads_rel_error",
    "graph_breaks",
    "max_rel_error",
    "randomize_norms",
    "seeded_grads",
    "stochastic",
]


def randomize_norms(net: nn.Module, seed: int = 1) -> None:
    """Non-trivial residual branches: every affine norm gets a scale in [0.5, 1.5) and a shift
    in [-0.5, 0.5), and every all-zero weight matrix or kernel (a zero-initialised last layer)
    small random entries, normal with standard deviation ``0.1 / sqrt(fan_in)``. odenets starts
    each branch at F = 0 (its last norm or, pre-activation, its last convolution at zero),
    which would hide a wrong branch; with zero last convolutions (RevNet, pre-activation and
    LM-ResNets) the channels a shortcut pads with zeros also stay constant down a whole stage,
    which makes the gradients ill-conditioned (docs/benchmarks.md)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None:
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=gen) - 0.5)
        for p in net.parameters():
            if p.ndim > 1 and not p.any():
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) * (0.1 / fan_in**0.5))


def stochastic(net: nn.Module) -> bool:
    """Whether ``net`` draws noise in training (it has a ``noise_source``)."""
    return getattr(net, "noise_source", None) is not None


def seeded_grads(
    net: nn.Module, call: Callable[[Tensor], Tensor], x: Tensor, seed: int
) -> tuple[Tensor, list[Tensor | None]]:
    """``call(x)`` with ``net``'s noise source (if any) seeded, and the gradients of the mean
    square of the output by ``net``'s trainable parameters (``None`` where unused), through
    ``.backward()`` as in training; ``net``'s ``.grad`` are cleared before and after."""
    if stochastic(net):
        net.noise_source.seed(seed)
    params = [p for p in net.parameters() if p.requires_grad]
    for p in params:
        p.grad = None
    out = call(x)
    out.square().mean().backward()
    grads = [None if p.grad is None else p.grad.detach().clone() for p in params]
    for p in params:
        p.grad = None
    return out.detach(), grads


def max_rel_error(got: Tensor, want: Tensor, scale: float | None = None) -> float:
    """``max |got - want|`` over ``scale`` (default: ``max |want|``; at least 1e-12)."""
    if scale is None:
        scale = float(want.abs().max()) if want.numel() else 0.0
    if not got.numel():
        return 0.0
    return float((got.double() - want.double()).abs().max()) / max(scale, 1e-12)


def grads_rel_error(got: list[Tensor | None], want: list[Tensor | None]) -> float:
    """The largest gradient difference relative to the largest eager gradient entry (a
    gradient that is zero in exact arithmetic is rounding noise on both sides); ``inf`` when
    one side has a gradient and the other none."""
    present = [w for w in want if w is not None and w.numel()]
    scale = max((float(w.abs().max()) for w in present), default=0.0)
    worst = 0.0
    for g, w in zip(got, want, strict=True):
        if (g is None) != (w is None):
            return float("inf")
        if g is not None:
            worst = max(worst, max_rel_error(g, w, scale))
    return worst


def buffers_rel_error(got: nn.Module, want: nn.Module) -> float:
    """The largest relative difference of the floating-point buffers (batch-norm running
    statistics), each relative to its own largest eager entry."""
    worst = 0.0
    for c, b in zip(got.buffers(), want.buffers(), strict=True):
        if b.is_floating_point():
            worst = max(worst, max_rel_error(c, b))
    return worst


def graph_breaks(net: nn.Module, x: Tensor) -> tuple[int, list[str]]:
    """Number of graph breaks of one forward of ``net`` in its current mode and the break
    reasons (``torch._dynamo.explain``, under :func:`compile_settings`); resets dynamo before
    and after, dropping every compiled graph."""
    import torch._dynamo

    torch._dynamo.reset()
    try:
        with compile_settings():
            explanation = torch._dynamo.explain(net)(x)
    finally:
        torch._dynamo.reset()
    return explanation.graph_break_count, [str(b.reason) for b in explanation.break_reasons]
