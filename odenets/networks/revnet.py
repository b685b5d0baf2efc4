"""The downsampling transition of a coupled (RevNet) network.

RevNet keeps its resolution-changing units ordinary, non-reversible blocks (Gomez et al.
2017, §4): they discard information (stride 2), so their activations are stored as usual.
:class:`CoupledTransition` is the coupled step taken from the projected halves::

    y1 = P(x1) + h F(x2)          F: C_in/2 -> C_out/2, strided
    y2 = P(x2) + h G(y1)          G: C_out/2 -> C_out/2

i.e. one ``coupled_euler`` step (through :func:`odenets.numerics.steps.prepare`) from
``(P(x1), P(x2))`` whose first rate is ``F`` of the unprojected ``x2`` — the coupled analogue
of :class:`odenets.networks.blocks.Transition`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .._validate import check_number
from ..numerics.steps import prepare
from ..numerics.steps.coupled import split_dim, stage_input

__all__ = ["CoupledTransition", "coupled_stages"]


class CoupledTransition(nn.Module):
    """``(x1, x2) -> (P(x1) + h F(x2), P(x2) + h G(y1))``, halves along dim 1.

    Args:
        fields: ``[F, G]``: ``F`` maps half the input channels to half the output channels
            (with the stride), ``G`` maps half the output channels to themselves.
        shortcuts: ``[P1, P2]``, the projections of the two input halves (one module may be
            given twice when it has no parameters).
        h: the step size.
    """

    def __init__(
        self, fields: Sequence[nn.Module], shortcuts: Sequence[nn.Module], h: float = 1.0
    ) -> None:
        super().__init__()
        if len(fields) != 2 or len(shortcuts) != 2:
            raise ValueError(
                f"a coupled transition needs fields [F, G] and shortcuts [P1, P2], got "
                f"{len(fields)} fields and {len(shortcuts)} shortcuts"
            )
        self.fields = nn.ModuleList(fields)
        self.shortcuts = nn.ModuleList(shortcuts)
        self.h = check_number("h", h, positive=True)
        self._step = prepare("coupled_euler")

    def forward(self, x: Tensor) -> tuple[Tensor, None]:
        dim = split_dim(x, 1)
        n = x.shape[dim] // 2
        x1, x2 = x.narrow(dim, 0, n), x.narrow(dim, n, n)
        base = torch.cat((self.shortcuts[0](x1), self.shortcuts[1](x2)), dim)
        slope = self.fields[0](x2)

        def field(stage: int, t, y: Tensor) -> Tensor:
            return slope if stage == 0 else self.fields[1](stage_input(1, y, dim))

        y, _ = self._step(field, 0.0, base, self.h, None)
        return y, None


def coupled_stages(
    scheme,
    widths: Sequence[int],
    units: int,
    make_field,
    make_shortcut,
    stride: int,
    *,
    tie: str = "none",
    h: float = 1.0,
    options=None,
    reversible_backward: bool = True,
) -> list:
    """The stages of a coupled (RevNet) :class:`~odenets.SolverNet`: per stage an optional
    :class:`CoupledTransition` and ``units`` (``units - 1`` after a transition) reversible
    coupled blocks with half-width fields ``[F, G]`` (``tie="stages"``/``"all"``: one module
    for both, per block / per stage)."""
    from .blocks import SchemeBlock, SchemeStage

    for w in widths:
        if w % 2:
            raise ValueError(
                f"a coupled scheme splits the channels into two halves, so every width must "
                f"be even, got widths {tuple(widths)}"
            )
    stages = []
    for i, width in enumerate(widths):
        half = width // 2
        transition = None
        if i > 0:
            prev = widths[i - 1] // 2
            shortcuts = [make_shortcut(prev, half) for _ in range(2)]
            transition = CoupledTransition(
                [make_field(prev, half, stride), make_field(half, half)], shortcuts, h
            )
        shared = make_field(half, half) if tie == "all" else None
        blocks = []
        for _ in range(units - (transition is not None)):
            if tie == "all":
                fields = [shared, shared]
            elif tie == "stages":
                one = make_field(half, half)
                fields = [one, one]
            else:
                fields = [make_field(half, half), make_field(half, half)]
            blocks.append(SchemeBlock(scheme, fields, h, options=options))
        stages.append(SchemeStage(blocks, transition, reversible_backward=reversible_backward))
    return stages
