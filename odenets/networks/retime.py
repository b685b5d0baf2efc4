"""Scheme transfer for weight-tied networks (Queiruga et al. 2020, "Continuous-in-depth
neural networks").

A ``tie="all"`` :class:`~odenets.SolverNet` learns one residual function ``F`` per network
stage and integrates it over that stage's time ``T = steps * h``. If the net really learned an
ODE, integrating the same ``F`` with another scheme or step count (same ``T``) should give
about the same accuracy; a net that only works with its training scheme has learned a
discrete map. :func:`retime` builds such a re-timed view (sharing every parameter);
:func:`odenets.workflow.transfer.transfer` tabulates test accuracy over schemes x step counts.
"""

from __future__ import annotations

import copy

from torch import nn

from .._validate import check_int
from ..numerics.schemes import Scheme, get_scheme
from .blocks import SchemeBlock
from .stages import SchemeStage

__all__ = ["check_tied", "retime", "stage_steps"]


def check_tied(net: nn.Module) -> None:
    """Raise unless ``net`` is a weight-tied (``tie="all"``) SolverNet of plain scheme steps."""
    if not isinstance(net, nn.Module) or not hasattr(net, "tie") or not hasattr(net, "stages"):
        raise TypeError(f"expected a SolverNet, got {type(net).__name__}")
    if net.tie != "all":
        raise ValueError(
            f"re-timing needs a weight-tied net (tie='all': one F per stage), got tie={net.tie!r}; "
            "with untied steps there is no single F to integrate with another scheme"
        )
    if getattr(net, "noise_source", None) is not None or not all(
        isinstance(stage, SchemeStage) and all(isinstance(b, SchemeBlock) for b in stage.blocks)
        for stage in net.stages
    ):
        raise ValueError(
            "re-timing supports nets of plain scheme steps (no noise, no coupled units)"
        )
    if not any(len(stage.blocks) for stage in net.stages):
        raise ValueError(
            "the net has no weight-tied steps to re-time (every stage is only a "
            "transition); use a larger depth"
        )


def stage_steps(net: nn.Module) -> list[int]:
    """Scheme steps in each network stage (transitions excluded)."""
    return [len(stage.blocks) for stage in net.stages]


def retime(
    net: nn.Module, scheme: str | Scheme | None = None, steps: int | None = None
) -> nn.Module:
    """A view of the weight-tied ``net`` whose stages take ``steps`` steps of ``scheme``.

    Each stage keeps its total time ``T = sum of its step sizes``; the new step is
    ``T / steps``. Every module (stem, transitions, the tied ``F`` of each stage, head) is
    shared with ``net``, so training the view trains ``net``. Learned scheme coefficients
    (``lm``'s ``k``) are not carried to a different scheme or step count: the view uses the
    scheme's default coefficients. ``scheme=None`` keeps the net's scheme, ``steps=None`` its
    step counts; when nothing changes the result is ``net`` itself.
    """
    check_tied(net)
    target = net.scheme if scheme is None else get_scheme(scheme)
    if steps is not None:
        check_int("steps", steps, 1)
    if target.name == net.scheme.name and (
        steps is None or all(n in (0, steps) for n in stage_steps(net))
    ):
        return net
    stages = []
    for stage in net.stages:
        if not len(stage.blocks):
            stages.append(stage)
            continue
        shared = stage.blocks[0].fields[0]
        total = sum(block.h for block in stage.blocks)
        m = steps or len(stage.blocks)
        try:
            blocks = [SchemeBlock(target, shared, total / m, learn=False) for _ in range(m)]
        except (TypeError, ValueError) as err:
            raise ValueError(f"cannot step one tied F with scheme {target.name!r}: {err}") from None
        stages.append(SchemeStage(blocks, stage.transition))
    view = copy.copy(net)
    view._parameters = dict(net._parameters)
    view._buffers = dict(net._buffers)
    view._modules = dict(net._modules)
    view.stages = nn.Sequential(*stages)
    view.scheme = target
    return view
