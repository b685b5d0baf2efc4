"""``SolverNet``: a network built from a scheme name — stem, stages of scheme steps, head.

The layout follows the CIFAR ResNets of He et al. (2016): a 3x3 stem, ``len(widths)`` stages
separated by stride-2 transitions, global average pooling and a linear classifier. With
``depth = stages * layers * n + 2`` (``6n + 2`` for two-layer fields and three stages) every
stage holds ``n`` residual blocks: the transition plus ``n - 1`` scheme steps (the first
stage, which needs no transition, holds ``n`` steps).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validate import check_choice, check_int, check_number, check_options
from ..numerics.schemes import Scheme, get_scheme, list_schemes
from .blocks import SchemeBlock
from .fields import conv_layer, get_field, norm_layer
from .noise import NoiseModel, NoiseSource
from .retime import retime
from .shortcuts import list_shortcuts
from .stages import TIES, TRANSITIONS, StepThenShortcut, build_stages, units_per_stage

__all__ = [
    "HEADS",
    "NORM_OPTIONS",
    "PROJECTIONS",
    "PROJECT_AT",
    "STEMS",
    "TIES",
    "TRANSITIONS",
    "SolverNet",
    "count_field_calls",
    "count_parameters",
    "valid_depths",
]

#: Stems: "conv_bn_relu" (He et al. 2016a: conv3x3-BN-ReLU), "conv" (a bare conv3x3, as the
#: pre-activation networks whose first block normalises its input), "conv_bn" (conv3x3-BN:
#: shake-shake, whose branches and shortcuts start with a ReLU; Gastaldi 2017).
STEMS = ("conv_bn_relu", "conv", "conv_bn")
#: The deepest network SolverNet builds (the deepest published CIFAR nets have 1202 layers);
#: a larger depth is refused before anything is built. Raise it on purpose if you must.
MAX_DEPTH = 10_000
#: The most parameters SolverNet allocates (4 GiB of float32); a larger network is refused
#: before its weights are allocated (its size is counted on the meta device first).
MAX_PARAMETERS = 1_000_000_000
_PROBING = False
#: Heads before pooling: "bn_relu" (BN-ReLU: the final activation of a pre-activation net),
#: "pool" (pooling straight away: a post-activation net whose blocks end in ReLU), "relu"
#: (a ReLU without BN: shake-shake, whose blocks end in BN; Gastaldi 2017).
HEADS = ("bn_relu", "pool", "relu")
#: BatchNorm settings ``SolverNet(norm=...)`` accepts, with PyTorch's defaults. TensorFlow
#: reference code (RevNet, Hamiltonian nets) uses eps 1e-3 and decay 0.99 (momentum 0.01).
NORM_OPTIONS = {"eps": 1e-5, "momentum": 0.1}
#: Maps applied after every step: "relu" — He et al.'s post-activation ResNet is the Euler step
#: followed by a ReLU (a projection onto the positive cone), y = ReLU(x + F(x)).
PROJECTIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU}
#: Which steps the projection follows: "all" of them, or the stage "transitions" only (a
#: Momentum ResNet: He et al.'s blocks at the transitions, un-projected momentum steps).
PROJECT_AT = ("all", "transitions")


def _check_size(arguments: dict[str, Any]) -> None:
    """Refuse a network too large to build, before anything is allocated: a depth above
    :data:`MAX_DEPTH`, or more than :data:`MAX_PARAMETERS` parameters (counted by building the
    network on the meta device, which allocates no memory, when a cheap bound says it might
    be that large)."""
    global _PROBING
    depth, widths = arguments["depth"], arguments["widths"]
    if isinstance(depth, int) and not isinstance(depth, bool) and depth > MAX_DEPTH:
        raise ValueError(
            f"depth {depth} exceeds odenets.networks.nets.MAX_DEPTH = {MAX_DEPTH} (the deepest "
            "published CIFAR networks have 1202 layers); building it would take very long and "
            "exhaust memory. Raise MAX_DEPTH on purpose if you need it"
        )
    if _PROBING or not isinstance(depth, int) or isinstance(widths, str):
        return
    try:
        widest = max(int(w) for w in widths)
    except (TypeError, ValueError):
        return  # SolverNet's own checks say what is wrong
    if depth * 9 * widest**2 * 4 <= MAX_PARAMETERS:  # a generous bound on 3x3 fields: small
        return
    _PROBING = True
    try:
        with torch.device("meta"):
            count = count_parameters(SolverNet(**arguments))
    finally:
        _PROBING = False
    if count > MAX_PARAMETERS:
        raise ValueError(
            f"this network has {count:,} parameters ({4 * count / 2**30:.1f} GiB in float32), "
            f"more than odenets.networks.nets.MAX_PARAMETERS = {MAX_PARAMETERS:,}; check depth "
            f"{depth} and widths {tuple(widths)}, or raise MAX_PARAMETERS on purpose"
        )


def _stem(kind: str, cin: int, width: int, dims: int, vector: bool, bias: bool) -> nn.Module:
    """The layers before the first stage."""
    if vector:
        layers = [nn.Linear(cin, width, bias=bias)]
        norm_dims = 0
    else:
        layers = [conv_layer(dims, cin, width, bias=bias)]
        norm_dims = dims
    if kind in ("conv_bn_relu", "conv_bn"):
        layers.append(norm_layer(norm_dims, width))
    if kind == "conv_bn_relu":
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _check_norm(norm: Mapping[str, float] | None) -> dict[str, float]:
    settings = check_options("SolverNet norm", norm, NORM_OPTIONS)
    for key, value in settings.items():
        check_number(f"norm {key}", value, positive=True)
    if settings.get("momentum", 0.1) > 1:
        raise ValueError(
            f"norm momentum must be in (0, 1] (the weight of a new batch in the running "
            f"statistics), got {settings['momentum']}"
        )
    return settings


def _drop_first_input_norm(stages: Sequence[nn.Module]) -> None:
    """Make the first unit's start-point field skip its input normalisation."""
    first = stages[0].transition if stages[0].transition is not None else stages[0].blocks[0]
    block = first.block if isinstance(first, StepThenShortcut) else first
    field = block.fields[0]
    drop = getattr(field, "drop_input_norm", None)
    if not callable(drop):
        raise ValueError(
            "preact_first=False needs a field whose first layer normalises its input and "
            f"that can drop it (drop_input_norm(): preact_tf, preact_bottleneck_tf, "
            f"hamiltonian), got {type(field).__name__}"
        )
    drop()


def _takes_bias(build: Callable[..., nn.Module]) -> bool:
    """Whether a field builder accepts the ``bias`` keyword (convolution biases)."""
    try:
        params = inspect.signature(build).parameters
    except (TypeError, ValueError):
        return False
    return "bias" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def valid_depths(
    field: str | Callable[..., nn.Module] = "basic",
    stages: int = 3,
    up_to: int = 200,
    scheme: str | Scheme = "euler",
) -> list[int]:
    """Depths that fit ``field`` with ``stages`` network stages for ``scheme``:
    ``stages * layers * n + 2`` (a partitioned scheme counts one field per slot per unit)."""
    scheme = get_scheme(scheme)
    family = scheme.capabilities
    fields = family.slot_count(scheme, scheme.options) if family.partitioned else 1
    per = stages * get_field(field).layers * fields
    return list(range(per + 2, up_to + 1, per))


def count_parameters(model: nn.Module) -> int:
    """Number of distinct trainable scalars (shared modules counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def count_field_calls(model: nn.Module, x: Tensor) -> int:
    """Evaluations of residual functions in one forward pass on ``x`` (evaluation mode),
    counted with hooks on every field module of every :class:`~odenets.SchemeBlock` (any
    ``nn.Module`` given as a field counts)."""
    calls = 0

    def hook(*_):
        nonlocal calls
        calls += 1

    fields = {
        id(f): f
        for block in model.modules()
        if isinstance(block, SchemeBlock)
        for f in block.fields
    }
    handles = [f.register_forward_hook(hook) for f in fields.values()]
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
            ``euler`` gives ResNet, ``lm`` LM-ResNet, ``heun`` a two-stage RK2 network,
            ``coupled_euler`` RevNet, ``momentum`` a Momentum ResNet.
        depth: weight layers, CIFAR convention (``6n + 2`` for two-layer fields; a
            partitioned scheme counts one field per slot per unit, RevNet-38: 3 units).
        num_classes: outputs of the linear head.
        in_channels: channels of the input (features for a vector field such as ``"mlp"``).
        widths: channels of each stage; each stage after the first halves the resolution.
        field: residual function ``F``: a registered name (:func:`odenets.list_fields`:
            ``basic``, ``preact``, ``bottleneck``, ``mlp``, ``shake``, ...) or a class /
            factory with the shared signature ``(in_channels, out_channels, *, stride, dims)``.
        dims: 2 for images ``(N, C, H, W)`` (Conv2d), 1 for sequences ``(N, C, L)`` (Conv1d).
        h: step size multiplying every ``F`` (1 for the classical residual blocks).
        tie: weight tying, one of :data:`TIES` (see :mod:`odenets.networks.stages`).
        shortcut: the transitions' shortcut kind (:func:`odenets.networks.shortcuts.
            list_shortcuts`): ``"pad"`` (parameter-free, He et al. option A: the new zero
            channels on both sides), ``"pad_end"``, ``"avgpool_pad"``, ``"avgpool_pad_end"``,
            ``"conv"`` (1x1 projection + BN), ``"preact_conv"`` (BN-ReLU-1x1 conv).
        learn: learn the scheme's coefficients (``lm``: one ``k`` per block); default: the
            scheme's choice (:attr:`~odenets.Scheme.learnable`).
        coefficients: fixed (or initial, when learned) values of the scheme's coefficients.
        options: the scheme's step options (:attr:`~odenets.Scheme.options`), e.g.
            ``{"solver": "series", "order": 2}`` for PolyNet blocks of ``backward_euler``.
        noise: ``"shake_shake"``, ``"stochastic_depth"``, ``"gaussian"`` or a
            :class:`~odenets.networks.noise.NoiseModel`: every residual unit becomes a noisy
            step (sampled in training, the drift in evaluation); needs a scheme that takes
            noise (``euler_maruyama``, or a multistep scheme such as ``lm``). Its random
            source is ``self.noise_source`` (``.seed(s)``).
        reversible_backward: recompute the activations of the blocks of each stage from the
            stage output in backward (:mod:`odenets.networks.reversible`) instead of storing
            them; needs an invertible scheme. Default: on for partitioned invertible schemes
            (RevNet, Hamiltonian nets), off otherwise.
        stem: one of :data:`STEMS` (``"conv_bn_relu"``, or a bare ``"conv"``).
        stem_width: channels of the stem (default ``widths[0]``; otherwise the first stage
            opens with a stride-1 transition to ``widths[0]``).
        head: one of :data:`HEADS`: ``"bn_relu"`` before pooling, ``"relu"``, or ``"pool"``
            directly.
        project: a map applied after every step (a key of :data:`PROJECTIONS`): ``"relu"``
            makes the Euler network He et al.'s post-activation ResNet, ``ReLU(x + F(x))``.
        transition: one of :data:`TRANSITIONS`: ``"step"`` (a step from the projected input,
            strided fields) or ``"after"`` (a step at the old width, then the shortcut: with
            ``shortcut="avgpool_pad"`` no learned downsampling, as in Chang et al. 2018).
        preact_first: False makes the first unit's start-point field skip its input
            normalisation (``drop_input_norm()``): the stem's BN-ReLU is its pre-activation, as
            in the RevNet and Hamiltonian reference code (``no_activation`` there).
        norm: BatchNorm settings for every normalisation layer (:data:`NORM_OPTIONS`:
            ``eps``, ``momentum``; default PyTorch's 1e-5 and 0.1).
        zero_init: start every field at ``F = 0`` (``zero_init_last``: each step starts as
            the identity); False keeps Kaiming convolutions and BatchNorm scale 1, shift 0,
            as the reference code of the Hamiltonian networks (whose field cannot start at
            zero as well as from a random kernel: docs/reversible.md).
        project_at: one of :data:`PROJECT_AT`: after ``"all"`` steps, or after the stage
            ``"transitions"`` only.
        conv_bias: the stem's and the fields' convolutions carry a bias (Huang et al.'s Torch
            code; a BN after each convolution cancels it, but it counts as parameters).
        drop_rate: dropout probability before the classifier (timm's ``drop_rate``).

    The timm model interface: :attr:`num_classes`, :attr:`num_features`,
    :meth:`forward_features` (the unpooled feature map after the final norm),
    :meth:`forward_head`, :meth:`get_classifier`, :meth:`reset_classifier`.
    """

    def __init__(
        self,
        scheme: str | Scheme = "euler",
        depth: int = 20,
        num_classes: int = 10,
        in_channels: int = 3,
        widths: Sequence[int] = (16, 32, 64),
        field: str | Callable[..., nn.Module] = "basic",
        dims: int = 2,
        h: float = 1.0,
        tie: str = "none",
        *,
        shortcut: str = "pad",
        learn: bool | None = None,
        coefficients: Mapping[str, float] | None = None,
        options: Mapping[str, Any] | None = None,
        noise: str | NoiseModel | None = None,
        reversible_backward: bool | None = None,
        stem: str = "conv_bn_relu",
        stem_width: int | None = None,
        head: str = "bn_relu",
        project: str | None = None,
        transition: str = "step",
        preact_first: bool = True,
        norm: Mapping[str, float] | None = None,
        zero_init: bool = True,
        project_at: str = "all",
        conv_bias: bool = False,
        drop_rate: float = 0.0,
    ) -> None:
        arguments = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        super().__init__()
        _check_size(arguments)
        self.scheme = get_scheme(scheme)
        family = self.scheme.capabilities
        spec = get_field(field)
        self.field_name = spec.name
        check_int("num_classes", num_classes, 0)
        self.in_channels = check_int("in_channels", in_channels, 1)
        if dims not in (1, 2):
            raise ValueError(f"dims must be 1 (Conv1d) or 2 (Conv2d), got {dims!r}")
        if isinstance(widths, str) or not isinstance(widths, Sequence) or not widths:
            raise TypeError(f"widths must be a non-empty sequence of ints, got {widths!r}")
        widths = tuple(check_int("widths entry", w, 1) for w in widths)
        check_number("h", h, positive=True)
        check_choice("tie", tie, TIES)
        check_choice("shortcut", shortcut, list_shortcuts())
        check_int("depth", depth, 1)
        self.scheme.resolve(coefficients, options)  # every given value checked, used or not
        if reversible_backward and not family.invertible:
            reversible = list_schemes(where=lambda f: f.invertible)
            raise ValueError(
                f"reversible_backward=True needs an invertible scheme ({', '.join(reversible)}), "
                f"got {self.scheme.name!r}, whose steps cannot be undone"
            )
        units = units_per_stage(self.scheme, depth, len(widths), spec.layers)
        self.depth, self.dims, self.h, self.tie, self.widths = depth, dims, float(h), tie, widths
        self.vector = spec.vector
        spatial = 0 if self.vector else dims
        #: stride of the transitions between stages (vectors have no resolution to halve)
        self.down_stride = 1 if self.vector else 2

        check_choice("stem", stem, STEMS)
        check_choice("head", head, HEADS)
        check_choice("transition", transition, TRANSITIONS)
        for key, flag in (("preact_first", preact_first), ("zero_init", zero_init)):
            if not isinstance(flag, bool):
                raise TypeError(f"{key} must be a bool, got {flag!r}")
        norm = _check_norm(norm)
        if project is not None:
            check_choice("project", project, PROJECTIONS)
        check_choice("project_at", project_at, PROJECT_AT)
        if not isinstance(conv_bias, bool):
            raise TypeError(f"conv_bias must be a bool, got {conv_bias!r}")
        if conv_bias and not _takes_bias(spec.build):
            raise ValueError(
                f"conv_bias=True needs a field whose convolutions can carry a bias (the "
                f"builder takes bias=...: basic, preact, bottleneck, shake); field "
                f"{spec.name!r} does not"
            )
        self.drop_rate = check_number("drop_rate", drop_rate)
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"drop_rate is a dropout probability in [0, 1), got {drop_rate!r}")
        self.stem_width = (
            widths[0] if stem_width is None else check_int("stem_width", stem_width, 1)
        )
        self.stem = _stem(stem, in_channels, self.stem_width, dims, self.vector, conv_bias)
        self.head_kind, self.project, self.project_at = head, project, project_at
        self.conv_bias = conv_bias

        def make_field(cin: int, cout: int, stride: int, slot: int | None) -> nn.Module:
            extra = {"slot": slot} if spec.slot_aware else {}
            if conv_bias:
                extra["bias"] = True
            return spec.build(cin, cout, stride=stride, dims=dims, **extra)

        self.noise_source = None if noise is None else NoiseSource()
        stages = build_stages(
            self.scheme,
            widths,
            units,
            make_field,
            stride=self.down_stride,
            shortcut=shortcut,
            spatial=spatial,
            h=h,
            tie=tie,
            learn=learn,
            coefficients=coefficients,
            options=options,
            noise=noise,
            source=self.noise_source,
            reversible_backward=reversible_backward,
            in_width=self.stem_width,
            project=None if project is None else PROJECTIONS[project],
            transition=transition,
            project_steps=project_at == "all",
        )
        if not preact_first:
            _drop_first_input_norm(stages)
        self.stages = nn.Sequential(*stages)
        self.head_norm = norm_layer(spatial, widths[-1]) if head == "bn_relu" else None
        #: channels of :meth:`forward_features` (the input of the classifier)
        self.num_features = widths[-1]
        self.num_classes = num_classes
        self.fc = self._classifier(num_classes)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
                for key, value in norm.items():
                    setattr(m, key, value)
        self._init_weights(zero_init)

    def _init_weights(self, zero_init: bool = True) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv1d | nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules() if zero_init else ():
            zero = getattr(m, "zero_init_last", None)
            if callable(zero):
                zero()

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
        if any(size < 1 for size in x.shape[2:]):
            raise ValueError(
                f"SolverNet expects a spatial size of at least 1 in every dimension, got input "
                f"shape {tuple(x.shape)}"
            )
        expected = self.stem[0].weight.dtype
        if not x.is_floating_point():
            raise TypeError(
                f"SolverNet takes a floating input ({expected}), got {x.dtype}: normalise raw "
                "images first (e.g. Dataset.prepare, or x.float() / 255)"
            )
        if x.dtype != expected and not torch.is_autocast_enabled(x.device.type):
            raise TypeError(
                f"SolverNet's parameters are {expected} but the input is {x.dtype}: convert the "
                f"input (x.to({expected})) or the model (model.to({x.dtype}))"
            )

    # ------------------------------------------------------------------ timm interface

    def forward_features(self, x: Tensor) -> Tensor:
        """The unpooled feature map after the last stage and the final norm (BN-ReLU for
        ``head="bn_relu"``): ``(batch, num_features, *spatial)`` (``(batch, num_features)``
        for vector fields)."""
        self.check_input(x)
        x = self.stages(self.stem(x))
        if self.head_norm is not None:
            x = torch.relu(self.head_norm(x))
        elif self.head_kind == "relu":
            x = torch.relu(x)
        return x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pooling of :meth:`forward_features`' output, dropout
        (``drop_rate``, training only) and the classifier; ``pre_logits=True`` stops before
        the classifier."""
        if not self.vector:
            x = x.flatten(2).mean(-1)
        if self.drop_rate:
            x = F.dropout(x, self.drop_rate, self.training)
        return x if pre_logits else self.fc(x)

    def features(self, x: Tensor) -> Tensor:
        """The pooled features before the classifier (no dropout)."""
        x = self.forward_features(x)
        return x if self.vector else x.flatten(2).mean(-1)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The classifier (a ``Linear``; ``Identity`` when ``num_classes == 0``)."""
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier by a fresh one with ``num_classes`` outputs (0: none, the
        model returns pooled features). Pooling is always global average (``global_pool``
        ``None`` or ``"avg"``)."""
        if global_pool not in (None, "avg"):
            raise ValueError(
                f"SolverNet pools by global average only: global_pool must be None or 'avg', "
                f"got {global_pool!r}"
            )
        self.num_classes = check_int("num_classes", num_classes, 0)
        device = self.fc.weight.device if isinstance(self.fc, nn.Linear) else None
        dtype = self.fc.weight.dtype if isinstance(self.fc, nn.Linear) else None
        self.fc = self._classifier(num_classes).to(device=device, dtype=dtype)

    def _classifier(self, num_classes: int) -> nn.Module:
        if num_classes == 0:
            return nn.Identity()
        return nn.Linear(self.num_features, num_classes)

    def extra_repr(self) -> str:
        return (
            f"scheme={self.scheme.name!r}, depth={self.depth}, field={self.field_name!r}, "
            f"dims={self.dims}, h={self.h:g}, tie={self.tie!r}"
        )
