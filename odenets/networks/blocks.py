"""Network blocks that are literally steps of a scheme.

:class:`SchemeBlock` wraps learned residual function(s) ``F`` and applies one step of a
registered scheme through :func:`odenets.numerics.steps.prepare` — the same code ``odeint``
runs, so a block with tied weights and step ``h`` equals ``odeint(F, x, [0, h], scheme)[-1]``.
:class:`Transition` is the resolution-changing block between network stages and
:class:`SchemeStage` threads explicit step state (multistep history) through a stage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validate import check_number, check_options
from ..numerics.schemes import Scheme, get_scheme
from ..numerics.steps import History, field_slots, prepare, prepare_inverse
from ..numerics.steps.coupled import stage_input
from .fields import conv_layer, norm_layer
from .reversible import reversible_run

__all__ = [
    "SHORTCUTS",
    "ConvShortcut",
    "PadShortcut",
    "SchemeBlock",
    "SchemeStage",
    "Transition",
    "euler_start",
    "make_shortcut",
    "scheme_coefficients",
]


def scheme_coefficients(
    scheme: Scheme, learn: bool | None, params: Mapping[str, float] | None
) -> tuple[bool, nn.ParameterDict, dict[str, Any]]:
    """A block's scheme coefficients: ``(learn, learned, fixed)``.

    ``learn`` defaults to True when the scheme has free coefficients. Learned ones become
    scalar parameters initialised from ``params`` or drawn from the scheme's ``init`` range
    (``lm``: ``k ~ U(-0.1, 0)``, near the ResNet step); ``fixed`` holds the values used when
    nothing is learned.
    """
    fixed = scheme.resolve(params)
    learn = bool(scheme.parameters) if learn is None else bool(learn)
    if learn and not scheme.parameters:
        raise ValueError(f"scheme {scheme.name!r} has no coefficients to learn")
    learned = nn.ParameterDict()
    for name in scheme.parameters if learn else ():
        value = torch.empty(())
        if params is not None and name in params:
            value.fill_(float(params[name]))
        else:
            low, high = scheme.init.get(name, (fixed[name], fixed[name]))
            value.uniform_(low, high)
        learned[name] = nn.Parameter(value)
    return learn, learned, fixed


class SchemeBlock(nn.Module):
    """One step ``y = Phi_h(x)`` of ``scheme`` around learned residual function(s).

    Args:
        scheme: a registered scheme id or :class:`~odenets.Scheme`; its ``architecture`` says
            which network block this is (``euler``: the ResNet block ``x + F(x)``).
        fields: one module ``F`` used by every stage of the step (tied: the parameter count of
            a ResNet block, ``stages`` times the compute), or a sequence of ``scheme.stages``
            modules, one per stage (the discrete multi-path architectures).
        h: the step size multiplying ``F`` (``h = 1``: the usual residual block).
        learn: learn the scheme's free coefficients (``lm``: one scalar ``k`` per block).
            Defaults to True when the scheme has any.
        params: fixed values for the scheme's coefficients when not learned, or initial
            values when learned (default: the scheme's own for fixed, its ``init`` range for
            learned).
        options: non-learned step options of the scheme (``scheme.options``), e.g.
            ``{"solver": "series", "order": 2}`` for PolyNet-style implicit blocks; unknown
            names are a TypeError. With per-stage modules the number of modules is
            ``steps.field_slots(scheme, options)`` (implicit series: one per power of ``F``).

    Coupled schemes (``coupled_euler``): a single module is a field on the whole state (its
    own half of the result is used, as in ``odeint``); a sequence ``[F, G]`` is RevNet's pair of
    half-width fields, ``F`` reading ``x2`` and ``G`` reading ``y1``, and the block then has an
    exact :meth:`inverse`.
    """

    def __init__(
        self,
        scheme: str | Scheme,
        fields: nn.Module | Sequence[nn.Module],
        h: float = 1.0,
        *,
        learn: bool | None = None,
        params: Mapping[str, float] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.scheme = get_scheme(scheme)
        self.options = check_options(
            f"scheme {self.scheme.name!r} step", options, self.scheme.options
        )
        slots = field_slots(self.scheme, self.options)
        # coupled + one module per stage: RevNet's half-width fields (see the docstring)
        self._separable = False
        if isinstance(fields, nn.Module):
            self.fields = nn.ModuleList([fields])
            self._index = (0,) * slots
        elif isinstance(fields, Sequence) and all(isinstance(m, nn.Module) for m in fields):
            if len(fields) != slots:
                raise ValueError(
                    f"scheme {self.scheme.name!r} has {slots} stages: give one "
                    f"module for all of them or {slots} modules, got {len(fields)}"
                )
            self.fields = nn.ModuleList(fields)
            self._index = tuple(range(len(fields)))
            self._separable = self.scheme.family == "coupled"
        else:
            raise TypeError(
                f"fields must be an nn.Module or a sequence of them, got {type(fields).__name__}"
            )
        self.h = check_number("h", h, positive=True)
        self.learn, self.coefficients, fixed = scheme_coefficients(self.scheme, learn, params)
        self._stepper = None if self.learn else prepare(self.scheme, {**fixed, **self.options})

    @property
    def f_evals(self) -> int:
        """Nominal evaluations of a residual function per forward: the scheme's stages.

        Iterative implicit realizations (``picard``, ``solve``) and the ``series`` of order
        ``p`` evaluate more; :func:`odenets.count_field_calls` measures the real number."""
        return self.scheme.stages

    def _field(self, stage: int, t: Any, y: Tensor) -> Tensor:
        if self._separable:
            y = stage_input(stage, y, self.options.get("dim"))
        return self.fields[self._index[stage]](y)

    @property
    def reversible(self) -> bool:
        """Whether :meth:`inverse` is exact: a coupled scheme with half-width ``[F, G]``."""
        return self._separable

    def inverse(self, y: Tensor) -> Tensor:
        """The input ``x`` with ``self(x) == y`` (reversible blocks only; exact up to rounding
        in eval mode, and in training mode for the same batch)."""
        invert = prepare_inverse(self.scheme, self.options)  # non-reversible family: ValueError
        if not self._separable:
            raise ValueError(
                f"this {self.scheme.name!r} block has one field on the whole state, whose rate "
                "of x1 may depend on x1, so it has no exact inverse; build it with two "
                "half-width fields [F, G] (RevNet) to make it reversible"
            )
        return invert(self._field, 0.0, y, self.h)

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Advance ``x`` one step from explicit ``state`` (``None``: a fresh start)."""
        stepper = self._stepper or prepare(
            self.scheme, {**dict(self.coefficients.items()), **self.options}
        )
        return stepper(self._field, 0.0, x, self.h, state)

    def forward(self, x: Tensor) -> Tensor:
        return self.step(x)[0]

    def extra_repr(self) -> str:
        return f"scheme={self.scheme.name!r}, h={self.h:g}"


class PadShortcut(nn.Module):
    """Parameter-free shortcut: subsample by ``stride`` and zero-pad the new channels (option A
    of He et al. 2016's CIFAR networks)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f"a padding shortcut cannot reduce channels ({in_channels} -> {out_channels})"
            )
        self.extra, self.stride = out_channels - in_channels, stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            index = (slice(None), slice(None)) + (slice(None, None, self.stride),) * (x.ndim - 2)
            x = x[index]
        if self.extra:
            x = F.pad(x, (0, 0) * (x.ndim - 2) + (0, self.extra))
        return x


class ConvShortcut(nn.Sequential):
    """Projection shortcut: 1x1 convolution with ``stride`` and BN (option B of He et al.)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2):
        super().__init__(
            conv_layer(dims, in_channels, out_channels, 1, stride), norm_layer(dims, out_channels)
        )


#: Shortcut kinds of the transitions between network stages.
SHORTCUTS = ("pad", "conv")


def make_shortcut(kind: str, cin: int, cout: int, stride: int, dims: int) -> nn.Module:
    """The shortcut ``P`` of a transition: ``"pad"`` (:class:`PadShortcut`) or ``"conv"``
    (:class:`ConvShortcut`; a bias-free linear map for vectors, ``dims=0``)."""
    if kind == "pad":
        return PadShortcut(cin, cout, stride)
    if dims == 0:
        return nn.Linear(cin, cout, bias=False)
    return ConvShortcut(cin, cout, stride, dims)


def euler_start(scheme: Scheme, index: int, transition: nn.Module | None) -> bool:
    """Whether step ``index`` of a stage starts with no history: the first step of a
    multistep stage without a transition is an Euler step, so its free coefficients would go
    unused (a network keeps them fixed there)."""
    return index == 0 and transition is None and scheme.family == "multistep"


class Transition(nn.Module):
    """The resolution-changing block between stages: ``y = P(x) + h F(x)``.

    ``P`` is the shortcut (subsample + pad, or a projection) and ``F`` a strided field. This
    is one Euler step taken in the new, projected space, so it returns the history
    ``(P(x), F(x))`` that a multistep stage continues from (the first step of a stage is an
    Euler step, as in the LM-ResNet reference code).
    """

    def __init__(self, field: nn.Module, shortcut: nn.Module, h: float = 1.0) -> None:
        super().__init__()
        self.field, self.shortcut = field, shortcut
        self.h = check_number("h", h, positive=True)
        self._euler = prepare("euler")

    def forward(self, x: Tensor) -> tuple[Tensor, History]:
        base, slope = self.shortcut(x), self.field(x)
        y, _ = self._euler(lambda i, t, _y: slope, 0.0, base, self.h, None)
        return y, History.after_step(base, slope)


class SchemeStage(nn.Module):
    """An optional :class:`Transition` followed by scheme blocks at one resolution.

    State (multistep history) is threaded from block to block and restarts here: after a
    transition it is the transition's Euler history, without one the first block starts fresh.

    With ``reversible_backward=True`` (reversible blocks only) the blocks after the transition
    run through :func:`odenets.networks.reversible.reversible_run`: backward recomputes their
    activations from the stage output instead of storing them.
    """

    def __init__(
        self,
        blocks: Sequence[SchemeBlock],
        transition: nn.Module | None = None,
        *,
        reversible_backward: bool = False,
    ):
        super().__init__()
        self.transition = transition
        self.blocks = nn.ModuleList(blocks)
        self.reversible_backward = bool(reversible_backward)
        if self.reversible_backward and not all(b.reversible for b in self.blocks):
            raise ValueError(
                "reversible_backward=True needs reversible blocks (a coupled scheme with "
                "half-width fields [F, G] per block)"
            )

    def forward(self, x: Tensor) -> Tensor:
        state = None
        if self.transition is not None:
            x, history = self.transition(x)
            # a multistep stage continues from the transition's Euler step
            multistep = len(self.blocks) and self.blocks[0].scheme.family == "multistep"
            state = history if multistep else None
        if self.reversible_backward:
            return reversible_run(self.blocks, x)
        for block in self.blocks:
            x, state = block.step(x, state)
        return x
