"""Residual functions ``F`` — the learned right-hand sides that a scheme steps with.

Every field has the same constructor, ``Field(in_channels, out_channels=None, *, stride=1,
dims=2)``, so the network builder is generic over them, and every field's last layer starts at
zero (``zero_init_last``), so each residual branch — and hence each step — starts as the
identity map. ``layers`` is the number of weight layers a field contributes to the CIFAR depth
count (``depth = stages * layers * n + 2``).

The special case ``F = -grad f`` of a known objective (deep unfolding) is
:class:`odenets.numerics.gradient.GradientField`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch
from torch import Tensor, nn

from .._validate import check_int, unknown_name

__all__ = [
    "FIELDS",
    "BasicField",
    "BottleneckField",
    "FieldSpec",
    "HamiltonianField",
    "MLPField",
    "PreActBottleneckTFField",
    "PreActField",
    "PreActTFField",
    "ResidualField",
    "ShakeBranch",
    "TFSameConv1d",
    "TFSameConv2d",
    "conv_layer",
    "get_field",
    "list_fields",
    "norm_layer",
    "register_field",
    "tf_same_conv",
    "unregister_field",
]


def conv_layer(
    dims: int, cin: int, cout: int, kernel: int = 3, stride: int = 1, bias: bool = False
) -> nn.Module:
    """A ``kernel``-wide convolution (Conv1d for ``dims=1``, Conv2d for ``dims=2``), "same"
    padding, bias-free unless ``bias`` (every convolution here is followed by a BN, which
    cancels a bias; Huang et al.'s Torch code keeps them)."""
    conv = {1: nn.Conv1d, 2: nn.Conv2d}[dims]
    return conv(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=bias)


def norm_layer(dims: int, channels: int) -> nn.Module:
    """Batch normalisation over ``channels`` for ``dims`` spatial dimensions (0 = vectors)."""
    return {0: nn.BatchNorm1d, 1: nn.BatchNorm1d, 2: nn.BatchNorm2d}[dims](channels)


class ResidualField(nn.Module):
    """Abstract base: a learned residual function ``F(x)`` with the shared constructor.

    The convolutional fields also take ``bias`` (default False): their convolutions carry a
    bias (``SolverNet(conv_bias=True)``)."""

    layers: int = 2

    def __init__(
        self, in_channels: int, out_channels: int | None = None, *, stride: int = 1, dims: int = 2
    ) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.out_channels = check_int("out_channels", out_channels or in_channels, 1)
        self.stride = check_int("stride", stride, 1)
        if dims not in (1, 2):
            raise ValueError(f"dims must be 1 (Conv1d) or 2 (Conv2d), got {dims!r}")
        self.dims = dims

    def zero_init_last(self) -> None:
        """Zero the last layer's scale so ``F = 0`` and the step starts as the identity."""
        raise NotImplementedError


class BasicField(ResidualField):
    """conv3x3-BN-ReLU-conv3x3-BN, the CIFAR ResNet basic branch (He et al. 2016); 2 layers."""

    layers = 2

    def __init__(self, in_channels, out_channels=None, *, stride=1, dims=2, bias=False):
        super().__init__(in_channels, out_channels, stride=stride, dims=dims)
        c_in, c_out = self.in_channels, self.out_channels
        self.conv1 = conv_layer(dims, c_in, c_out, 3, stride, bias)
        self.bn1 = norm_layer(dims, c_out)
        self.conv2 = conv_layer(dims, c_out, c_out, 3, 1, bias)
        self.bn2 = norm_layer(dims, c_out)
        self.zero_init_last()

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))


class ShakeBranch(BasicField):
    """ReLU-conv3x3-BN-ReLU-conv3x3-BN, one branch of a shake-shake block (Gastaldi 2017): the
    basic branch with a leading ReLU; 2 layers. Field ``"shake"``."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(torch.relu(x))


class PreActField(ResidualField):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3, the pre-activation branch (He et al. 2016b); 2 layers."""

    layers = 2

    def __init__(self, in_channels, out_channels=None, *, stride=1, dims=2, bias=False):
        super().__init__(in_channels, out_channels, stride=stride, dims=dims)
        c_in, c_out = self.in_channels, self.out_channels
        self.bn1 = norm_layer(dims, c_in)
        self.conv1 = conv_layer(dims, c_in, c_out, 3, stride, bias)
        self.bn2 = norm_layer(dims, c_out)
        self.conv2 = conv_layer(dims, c_out, c_out, 3, 1, bias)
        self.zero_init_last()

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv2.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(torch.relu(self.bn2(self.conv1(torch.relu(self.bn1(x))))))


class BottleneckField(ResidualField):
    """conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1-BN with a 4x narrower middle; 3 layers."""

    layers = 3

    def __init__(self, in_channels, out_channels=None, *, stride=1, dims=2, bias=False):
        super().__init__(in_channels, out_channels, stride=stride, dims=dims)
        c_in, c_out = self.in_channels, self.out_channels
        mid = max(1, c_out // 4)
        self.conv1 = conv_layer(dims, c_in, mid, 1, 1, bias)
        self.bn1 = norm_layer(dims, mid)
        self.conv2 = conv_layer(dims, mid, mid, 3, stride, bias)
        self.bn2 = norm_layer(dims, mid)
        self.conv3 = conv_layer(dims, mid, c_out, 1, 1, bias)
        self.bn3 = norm_layer(dims, c_out)
        self.zero_init_last()

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.bn3(self.conv3(x))


class MLPField(ResidualField):
    """Linear-ReLU-Linear on feature vectors ``(batch, features)``; 2 layers.

    ``dims`` is accepted for the shared signature and ignored; ``stride`` must be 1.
    """

    layers = 2
    vector = True

    def __init__(self, in_channels, out_channels=None, *, stride=1, dims=2):
        super().__init__(in_channels, out_channels, stride=stride, dims=dims)
        if self.stride != 1:
            raise ValueError(f"an MLP field has no spatial stride, got stride={stride}")
        self.fc1 = nn.Linear(self.in_channels, self.out_channels)
        self.fc2 = nn.Linear(self.out_channels, self.out_channels)
        self.zero_init_last()

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


class HamiltonianField(ResidualField):
    """``F(z) = ± K^T σ(BN2(K BN1(z)))``: the antisymmetric field of the Hamiltonian networks
    of Chang et al. (AAAI 2018), ``K`` a 3x3 convolution and ``K^T`` its adjoint (a transposed
    convolution sharing ``K``'s weights); the second BN's shift is the bias ``b``. As the rate
    of ``v`` (slot 1 of a partitioned step) the sign is negative:
    ``u' = K1^T σ(K1 v + b1)``, ``v' = -K2^T σ(K2 u + b2)``. Two weight layers (``K``, ``K^T``
    share one kernel). ``stride`` is not supported (the networks of Chang et al. downsample
    by pooling between stages)."""

    layers = 2
    slot_aware = True

    def __init__(self, in_channels, out_channels=None, *, stride=1, dims=2, slot=0):
        super().__init__(in_channels, out_channels, stride=stride, dims=dims)
        if self.stride != 1 or self.out_channels != self.in_channels:
            raise ValueError(
                "a Hamiltonian field maps a state half to a rate of the same shape (K^T K): "
                f"stride 1 and out_channels == in_channels, got stride={stride}, "
                f"{in_channels} -> {self.out_channels}"
            )
        if slot is None:
            raise ValueError(
                "a Hamiltonian field has a sign per slot (+ for u, - for v): it cannot be "
                "shared by both slots of a step; use tie='none'"
            )
        self.sign = -1.0 if slot == 1 else 1.0
        c = self.in_channels
        self.bn1 = norm_layer(dims, c)
        self.conv = conv_layer(dims, c, c, 3)
        self.bn2 = norm_layer(dims, c)
        self._transpose = {
            1: torch.nn.functional.conv_transpose1d,
            2: torch.nn.functional.conv_transpose2d,
        }[dims]

    def zero_init_last(self) -> None:
        """Start at ``F = 0`` with a live gradient: ``K = 0`` and BN2's shift 1 (BN2 then
        outputs 1, ReLU passes it, ``K^T`` of it is 0, and the gradient reaches ``K`` through
        ``K^T``). Zeroing BN2's scale and shift instead would stop every gradient
        (``ReLU'(0) = 0``): the field would stay 0 for ever. Since ``K`` and ``K^T`` share one
        kernel there is no zero start as good as a random ``K``: the Hamiltonian presets keep
        the authors' initialisation (``SolverNet(zero_init=False)``; docs/reversible.md)."""
        nn.init.zeros_(self.conv.weight)
        nn.init.ones_(self.bn2.bias)

    def drop_input_norm(self) -> None:
        """Skip ``BN1``: ``F(z) = ± K^T σ(BN2(K z))`` (the first block of Chang et al.'s
        networks, whose input the stem has just normalised)."""
        self.bn1 = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        kz = torch.relu(self.bn2(self.conv(self.bn1(x))))
        out = self._transpose(kz, self.conv.weight, padding=self.conv.padding)
        return out if self.sign > 0 else -out


class _TFSamePadding:
    """Pads the input as TensorFlow's ``"SAME"`` before the convolution (see
    :func:`tf_same_conv`)."""

    def forward(self, x: Tensor) -> Tensor:
        pads: list[int] = []
        for n, k, s in reversed(list(zip(x.shape[2:], self.kernel_size, self.stride, strict=True))):
            out = -(-n // s)
            total = max((out - 1) * s + k - n, 0)
            pads += [total // 2, total - total // 2]
        return self._conv_forward(torch.nn.functional.pad(x, pads), self.weight, self.bias)


class TFSameConv1d(_TFSamePadding, nn.Conv1d):
    """``nn.Conv1d`` (no padding of its own) padded as TensorFlow's ``"SAME"``."""


class TFSameConv2d(_TFSamePadding, nn.Conv2d):
    """``nn.Conv2d`` (no padding of its own) padded as TensorFlow's ``"SAME"``."""


def tf_same_conv(dims: int, cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Module:
    """A bias-free convolution padded as TensorFlow's ``"SAME"``: the output has
    ``ceil(n / stride)`` positions and the total padding ``max((out - 1) stride + k - n, 0)``
    is split with the odd pixel at the end (bottom / right). At stride 2 on an even size a 3x3
    kernel is padded ``(0, 1)``, not ``(1, 1)`` as a PyTorch ``padding=1`` convolution, so the
    sampled positions differ by one pixel. Where the two agree (stride 1 with an odd kernel, or
    a 1x1 kernel) this is :func:`conv_layer`, otherwise a :class:`TFSameConv2d` /
    :class:`TFSameConv1d` (an ``nn.Conv2d`` / ``nn.Conv1d``: same weight, same init)."""
    if (stride == 1 and kernel % 2) or kernel == 1:
        return conv_layer(dims, cin, cout, kernel, stride)
    conv = {1: TFSameConv1d, 2: TFSameConv2d}[dims]
    return conv(cin, cout, kernel, stride=stride, padding=0, bias=False)


class PreActTFField(PreActField):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3 padded as TensorFlow's ``"SAME"``: the pre-activation
    branch of the TensorFlow RevNet code (Gomez et al. 2017, renmengye/revnet-public), whose
    strided conv pads only at the end (:func:`tf_same_conv`). Field ``"preact_tf"``; 2 layers.
    BatchNorm settings (eps 1e-3 in that code) are the network's (``SolverNet(norm=...)``)."""

    def __init__(self, in_channels, out_channels=None, *, stride=1, dims=2):
        super().__init__(in_channels, out_channels, stride=stride, dims=dims)
        self.conv1 = tf_same_conv(dims, self.in_channels, self.out_channels, 3, self.stride)
        self.zero_init_last()

    def drop_input_norm(self) -> None:
        """Start with the convolution (the reference's ``no_activation`` first unit)."""
        self.bn1 = None

    def forward(self, x: Tensor) -> Tensor:
        if self.bn1 is not None:
            x = torch.relu(self.bn1(x))
        return self.conv2(torch.relu(self.bn2(self.conv1(x))))


class PreActBottleneckTFField(ResidualField):
    """BN-ReLU-conv1x1(stride)-BN-ReLU-conv3x3-BN-ReLU-conv1x1 with a 4x narrower middle: the
    pre-activation bottleneck of the TensorFlow ResNet / RevNet code (RevNet-164, Gomez et al.
    2017), with the stride on the first 1x1 convolution. Field ``"preact_bottleneck_tf"``;
    3 layers."""

    layers = 3

    def __init__(self, in_channels, out_channels=None, *, stride=1, dims=2):
        super().__init__(in_channels, out_channels, stride=stride, dims=dims)
        c_in, c_out = self.in_channels, self.out_channels
        mid = max(1, c_out // 4)
        self.bn1 = norm_layer(dims, c_in)
        self.conv1 = conv_layer(dims, c_in, mid, 1, self.stride)
        self.bn2 = norm_layer(dims, mid)
        self.conv2 = conv_layer(dims, mid, mid, 3)
        self.bn3 = norm_layer(dims, mid)
        self.conv3 = conv_layer(dims, mid, c_out, 1)
        self.zero_init_last()

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv3.weight)

    def drop_input_norm(self) -> None:
        """Start with the convolution (the reference's ``no_activation`` first unit)."""
        self.bn1 = None

    def forward(self, x: Tensor) -> Tensor:
        if self.bn1 is not None:
            x = torch.relu(self.bn1(x))
        x = torch.relu(self.bn2(self.conv1(x)))
        x = torch.relu(self.bn3(self.conv2(x)))
        return self.conv3(x)


@dataclass(frozen=True)
class FieldSpec:
    """A registered residual field: how to build it and what it is.

    Args:
        name: the registry key (``SolverNet(field=name)``).
        build: a class or factory with the shared signature
            ``build(in_channels, out_channels=None, *, stride=1, dims=2) -> nn.Module``.
        layers: weight layers one field counts towards the CIFAR depth
            (``depth = stages * layers * n + 2``).
        vector: the field acts on feature vectors ``(batch, features)`` (the network then has
            a linear stem, no spatial resolution and no strides), not on feature maps.
        slot_aware: the builder takes a ``slot`` keyword: which field slot of the step the
            module fills (``None`` when one module serves several), e.g. a Hamiltonian field
            that gives ``-K^T σ(K u)`` as the rate of ``v``.
        description: one line for listings.
    """

    name: str
    build: Callable[..., nn.Module]
    layers: int = 2
    vector: bool = False
    description: str = ""
    slot_aware: bool = False

    def __post_init__(self) -> None:
        if not callable(self.build):
            raise TypeError(f"field {self.name!r}: build must be a class or a callable")
        check_int(f"field {self.name!r} layers", self.layers, 1)
        if not isinstance(self.vector, bool):
            raise TypeError(f"field {self.name!r}: vector must be a bool, got {self.vector!r}")


_FIELDS: dict[str, FieldSpec] = {}
_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
#: Read-only live view: field name -> its builder (see :func:`register_field`).
FIELDS: Mapping[str, Callable[..., nn.Module]] = MappingProxyType(_BUILDERS)


def _spec_of(name: str, build: Callable, layers: int | None, vector: bool | None, doc: str):
    layers = getattr(build, "layers", 2) if layers is None else layers
    vector = getattr(build, "vector", False) if vector is None else vector
    doc = doc or ((getattr(build, "__doc__", None) or "").strip().splitlines() or [""])[0]
    return FieldSpec(name, build, layers, vector, doc, bool(getattr(build, "slot_aware", False)))


def register_field(
    name: str,
    build: Callable[..., nn.Module],
    *,
    layers: int | None = None,
    vector: bool | None = None,
    description: str = "",
    replace: bool = False,
) -> FieldSpec:
    """Register a residual field under ``name``: a class or a factory with the shared
    signature ``build(in_channels, out_channels=None, *, stride=1, dims=2)``.

    ``layers`` and ``vector`` default to the builder's attributes of those names (2 and
    False). A duplicate name is a ``ValueError`` unless ``replace=True``. A field whose module
    has a ``zero_init_last()`` method is started at zero by ``SolverNet``.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"field name must be an identifier like 'basic', got {name!r}")
    if name in _FIELDS and not replace:
        raise ValueError(f"field {name!r} is already registered; pass replace=True to replace it")
    spec = _spec_of(name, build, layers, vector, description)
    _FIELDS[name] = spec
    _BUILDERS[name] = spec.build
    return spec


def unregister_field(name: str) -> FieldSpec:
    """Remove field ``name`` from the registry and return it."""
    spec = _FIELDS.pop(get_field(name).name)
    del _BUILDERS[spec.name]
    return spec


def get_field(field: str | Callable[..., nn.Module] | FieldSpec) -> FieldSpec:
    """The :class:`FieldSpec` of a registered name, or of an unregistered class / factory
    (``layers``/``vector`` read from its attributes)."""
    if isinstance(field, FieldSpec):
        return field
    if isinstance(field, str):
        try:
            return _FIELDS[field]
        except KeyError:
            raise unknown_name("field", field, _FIELDS) from None
    if callable(field):
        return _spec_of(getattr(field, "__name__", "field"), field, None, None, "")
    raise TypeError(
        f"field must be a registered name ({', '.join(list_fields())}), a class or a factory; "
        f"got {type(field).__name__}"
    )


def list_fields() -> list[str]:
    """Sorted names of the registered fields."""
    return sorted(_FIELDS)


register_field("basic", BasicField)
register_field("preact", PreActField)
register_field("bottleneck", BottleneckField)
register_field("mlp", MLPField, vector=True)
register_field("shake", ShakeBranch)
register_field("hamiltonian", HamiltonianField)
register_field("preact_tf", PreActTFField)
register_field("preact_bottleneck_tf", PreActBottleneckTFField)
