"""``SolverNet``: a network built from a scheme name — stem, stages of scheme steps, head.

The layout follows the CIFAR ResNets of He et al. (2016): a 3x3 stem, ``len(widths)`` stages
separated by stride-2 transitions, global average pooling and a linear classifier. With
``depth = stages * layers * n + 2`` (``6n + 2`` for two-layer fields and three stages) every
stage holds ``n`` residual blocks: the transition plus ``n - 1`` scheme steps (the first
stage, which needs no transition, holds ``n`` steps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._validate import check_choice, check_int, check_number
from ..numerics.schemes import Scheme, get_scheme
from ..numerics.steps import field_slots
from .blocks import SHORTCUTS, SchemeBlock, SchemeStage, Transition, euler_start, make_shortcut
from .fields import MLPField, ResidualField, conv_layer, get_field, norm_layer
from .noise import NoiseModel
from .retime import retime
from .revnet import coupled_stages
from .stochastic_blocks import stochastic_stages

__all__ = ["TIES", "SolverNet", "count_field_calls", "count_parameters", "valid_depths"]

#: Weight tying: "none" — every stage of every step has its own F (discrete architectures);
#: "stages" — one F per step shared by its RK stages; "all" — one F per network stage, a
#: weight-tied, continuous-in-depth model.
TIES = ("none", "stages", "all")


def valid_depths(field: str = "basic", stages: int = 3, up_to: int = 200) -> list[int]:
    """Depths that fit ``field`` with ``stages`` network stages: ``stages * layers * n + 2``."""
    per = stages * get_field(field).layers
    return list(range(per + 2, up_to + 1, per))


def count_parameters(model: nn.Module) -> int:
    """Number of distinct trainable scalars (shared modules counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def count_field_calls(model: nn.Module, x: Tensor) -> int:
    """Evaluations of residual functions in one forward pass on ``x``, counted with hooks."""
    calls = 0

    def hook(*_):
        nonlocal calls
        calls += 1

    handles = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, ResidualField)
    ]
    was_training = model.training
    try:
        model.eval()
        model(x)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return calls


class SolverNet(nn.Module):
    """A classifier whose residual stages are trajectories of a numerical scheme.

    Args:
        scheme: the scheme every residual step uses (see :func:`odenets.list_schemes`):
            ``euler`` gives ResNet, ``lm`` LM-ResNet, ``heun`` a two-path RK2 network.
        depth: weight layers, CIFAR convention (``6n + 2`` for two-layer fields).
        num_classes: outputs of the linear head.
        in_channels: channels of the input (features for ``field="mlp"``).
        widths: channels of each stage; each stage after the first halves the resolution.
        field: residual function ``F``: ``basic``, ``preact``, ``bottleneck`` or ``mlp``.
        dims: 2 for images ``(N, C, H, W)`` (Conv2d), 1 for sequences ``(N, C, L)`` (Conv1d).
        h: step size multiplying every ``F`` (1 for the classical residual blocks).
        tie: weight tying, one of :data:`TIES`.
        shortcut: ``"pad"`` (parameter-free, He et al. option A) or ``"conv"`` (1x1
            projection) for the transitions.
        learn: learn the scheme's free coefficients (``lm``: one ``k`` per block); default
            True when the scheme has any.
        params: fixed (or initial, when learned) values of the scheme's coefficients.
        options: non-learned step options of the scheme (``scheme.options``), e.g.
            ``{"solver": "series", "order": 2}`` for PolyNet blocks of ``backward_euler``.
        reversible_backward: coupled schemes only (default True for them): recompute the
            activations of the reversible blocks from their outputs in backward
            (:mod:`odenets.networks.reversible`) instead of storing them. Coupled networks split the
            channels into halves; every block holds half-width fields ``[F, G]`` and counts
            ``2 * layers`` towards ``depth`` (RevNet-38: 3 units per stage), transitions
            are :class:`~odenets.networks.revnet.CoupledTransition` s.
        noise: ``"shake_shake"``, ``"stochastic_depth"``, ``"gaussian"`` or a
            :class:`~odenets.networks.noise.NoiseModel`: every residual unit becomes an
            Euler–Maruyama step (:mod:`odenets.networks.stochastic_blocks`), sampled in
            training, the drift in evaluation; needs ``scheme="euler_maruyama"`` (or a
            multistep scheme such as ``lm``). Its random source is ``self.noise_source``
            (``.seed(s)``).
    """

    def __init__(
        self,
        scheme: str | Scheme = "euler",
        depth: int = 20,
        num_classes: int = 10,
        in_channels: int = 3,
        widths: Sequence[int] = (16, 32, 64),
        field: str = "basic",
        dims: int = 2,
        h: float = 1.0,
        tie: str = "none",
        *,
        shortcut: str = "pad",
        learn: bool | None = None,
        params: Mapping[str, float] | None = None,
        noise: str | NoiseModel | None = None,
        options: Mapping[str, Any] | None = None,
        reversible_backward: bool | None = None,
    ) -> None:
        super().__init__()
        self.scheme = get_scheme(scheme)
        field_cls = get_field(field)
        self.field_name = field
        check_int("num_classes", num_classes, 1)
        self.in_channels = check_int("in_channels", in_channels, 1)
        if dims not in (1, 2):
            raise ValueError(f"dims must be 1 (Conv1d) or 2 (Conv2d), got {dims!r}")
        if isinstance(widths, str) or not isinstance(widths, Sequence) or not widths:
            raise TypeError(f"widths must be a non-empty sequence of ints, got {widths!r}")
        widths = tuple(check_int("widths entry", w, 1) for w in widths)
        check_number("h", h, positive=True)
        check_choice("tie", tie, TIES)
        check_choice("shortcut", shortcut, SHORTCUTS)
        check_int("depth", depth, 1)
        coupled = self.scheme.family == "coupled"  # a RevNet unit holds two fields
        if reversible_backward and not coupled:
            raise ValueError(
                f"reversible_backward=True needs a coupled scheme (e.g. 'coupled_euler'), "
                f"got {self.scheme.name!r}, whose steps cannot be undone"
            )
        per = len(widths) * field_cls.layers * (2 if coupled else 1)
        if depth < per + 2 or (depth - 2) % per:
            fits = ", ".join(map(str, range(per + 2, 111, per)))
            raise ValueError(
                f"depth {depth} does not fit field {field!r} with {len(widths)} stages: depth "
                f"must be {per}n+2, e.g. {fits}"
            )
        self.depth, self.dims, self.h, self.tie, self.widths = depth, dims, float(h), tie, widths
        self.vector = field_cls is MLPField
        n = (depth - 2) // per
        spatial = 0 if self.vector else dims
        #: stride of the transitions between stages (vectors have no resolution to halve)
        self.down_stride = 1 if self.vector else 2

        if self.vector:
            self.stem = nn.Sequential(
                nn.Linear(in_channels, widths[0], bias=False), norm_layer(0, widths[0]), nn.ReLU()
            )
        else:
            self.stem = nn.Sequential(
                conv_layer(dims, in_channels, widths[0]), norm_layer(dims, widths[0]), nn.ReLU()
            )

        def make_field(cin, cout, stride=1):
            return field_cls(cin, cout, stride=stride, dims=dims)

        def make_transition_shortcut(cin, cout):
            return make_shortcut(shortcut, cin, cout, self.down_stride, spatial)

        self.noise_source = None
        if noise is not None:  # noisy blocks, see odenets.networks.stochastic_blocks
            stages, self.noise_source = stochastic_stages(
                self, noise, make_field, make_transition_shortcut, n, learn, params
            )
        elif coupled:  # RevNet units, see odenets.networks.revnet
            stages = coupled_stages(
                self.scheme,
                widths,
                n,
                make_field,
                make_transition_shortcut,
                self.down_stride,
                tie=tie,
                h=h,
                options=options,
                reversible_backward=reversible_backward is not False,
            )
        else:
            stages = self._scheme_stages(
                make_field, make_transition_shortcut, n, learn, params, options
            )
        self.stages = nn.Sequential(*stages)
        self.head_norm = norm_layer(spatial, widths[-1])
        self.fc = nn.Linear(widths[-1], num_classes)
        self._init_weights()

    def _scheme_stages(self, make_field, make_shortcut, n, learn, params, options) -> list:
        """Stages of :class:`SchemeBlock` steps: a transition (not in the first stage) followed
        by scheme steps, ``n`` residual units per stage."""
        widths, tie, h = self.widths, self.tie, self.h
        slots = field_slots(self.scheme, options)
        stages = []
        for i, width in enumerate(widths):
            transition = None
            if i > 0:
                prev = widths[i - 1]
                transition = Transition(
                    make_field(prev, width, self.down_stride), make_shortcut(prev, width), h
                )
            shared = make_field(width, width) if tie == "all" else None
            blocks = []
            for j in range(n - (transition is not None)):
                fixed = euler_start(self.scheme, j, transition)  # no history: k unused
                if tie == "all":
                    fields = shared
                elif tie == "stages" or slots == 1:
                    fields = make_field(width, width)
                else:
                    fields = [make_field(width, width) for _ in range(slots)]
                blocks.append(
                    SchemeBlock(
                        self.scheme,
                        fields,
                        h,
                        learn=False if fixed else learn,
                        params=None if fixed else params,
                        options=options,
                    )
                )
            stages.append(SchemeStage(blocks, transition))
        return stages

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv1d | nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():
            if isinstance(m, ResidualField):
                m.zero_init_last()

    @property
    def blocks(self) -> list[SchemeBlock]:
        """All scheme blocks, in order (transitions excluded)."""
        return [b for stage in self.stages for b in stage.blocks]

    def retimed(self, scheme: str | Scheme | None = None, steps: int | None = None) -> SolverNet:
        """For ``tie="all"`` nets: a view sharing every parameter whose stages integrate their
        tied ``F`` with ``scheme`` in ``steps`` steps over the same stage time (scheme transfer,
        Queiruga et al. 2020); see :func:`odenets.networks.retime.retime`."""
        return retime(self, scheme, steps)

    def check_input(self, x: Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is ``(batch, in_channels, *spatial)``."""
        if not isinstance(x, Tensor):
            raise TypeError(f"input must be a torch.Tensor, got {type(x).__name__}")
        rank = 2 if self.vector else self.dims + 2
        layout = (
            "(batch, features)"
            if self.vector
            else (
                "(batch, channels, length)"
                if self.dims == 1
                else "(batch, channels, height, width)"
            )
        )
        if x.ndim != rank:
            raise ValueError(
                f"SolverNet expects input of rank {rank} {layout}, got shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"SolverNet expects {self.in_channels} input channels, got {x.shape[1]} "
                f"(input shape {tuple(x.shape)})"
            )

    def features(self, x: Tensor) -> Tensor:
        """The pooled features before the classifier."""
        self.check_input(x)
        x = torch.relu(self.head_norm(self.stages(self.stem(x))))
        return x if self.vector else x.flatten(2).mean(-1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))

    def extra_repr(self) -> str:
        return (
            f"scheme={self.scheme.name!r}, depth={self.depth}, field={self.field_name!r}, "
            f"dims={self.dims}, h={self.h:g}, tie={self.tie!r}"
        )
