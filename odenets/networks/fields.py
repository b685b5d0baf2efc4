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

import torch
from torch import Tensor, nn

from .._validate import check_int, unknown_name

__all__ = [
    "FIELDS",
    "BasicField",
    "BottleneckField",
    "MLPField",
    "PreActField",
    "ResidualField",
    "ShakeBranch",
    "conv_layer",
    "get_field",
    "norm_layer",
]


def conv_layer(dims: int, cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Module:
    """A bias-free ``kernel``-wide convolution (Conv1d for ``dims=1``, Conv2d for ``dims=2``)."""
    conv = {1: nn.Conv1d, 2: nn.Conv2d}[dims]
    return conv(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)


def norm_layer(dims: int, channels: int) -> nn.Module:
    """Batch normalisation over ``channels`` for ``dims`` spatial dimensions (0 = vectors)."""
    return {0: nn.BatchNorm1d, 1: nn.BatchNorm1d, 2: nn.BatchNorm2d}[dims](channels)


class ResidualField(nn.Module):
    """Abstract base: a learned residual function ``F(x)`` with the shared constructor."""

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

    def __init__(self, in_channels, out_channels=None, *, stride=1, dims=2):
        super().__init__(in_channels, out_channels, stride=stride, dims=dims)
        c_in, c_out = self.in_channels, self.out_channels
        self.conv1 = conv_layer(dims, c_in, c_out, 3, stride)
        self.bn1 = norm_layer(dims, c_out)
        self.conv2 = conv_layer(dims, c_out, c_out, 3)
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

    def __init__(self, in_channels, out_channels=None, *, stride=1, dims=2):
        super().__init__(in_channels, out_channels, stride=stride, dims=dims)
        c_in, c_out = self.in_channels, self.out_channels
        self.bn1 = norm_layer(dims, c_in)
        self.conv1 = conv_layer(dims, c_in, c_out, 3, stride)
        self.bn2 = norm_layer(dims, c_out)
        self.conv2 = conv_layer(dims, c_out, c_out, 3)
        self.zero_init_last()

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv2.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(torch.relu(self.bn2(self.conv1(torch.relu(self.bn1(x))))))


class BottleneckField(ResidualField):
    """conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1-BN with a 4x narrower middle; 3 layers."""

    layers = 3

    def __init__(self, in_channels, out_channels=None, *, stride=1, dims=2):
        super().__init__(in_channels, out_channels, stride=stride, dims=dims)
        c_in, c_out = self.in_channels, self.out_channels
        mid = max(1, c_out // 4)
        self.conv1 = conv_layer(dims, c_in, mid, 1)
        self.bn1 = norm_layer(dims, mid)
        self.conv2 = conv_layer(dims, mid, mid, 3, stride)
        self.bn2 = norm_layer(dims, mid)
        self.conv3 = conv_layer(dims, mid, c_out, 1)
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


FIELDS: dict[str, type[ResidualField]] = {
    "basic": BasicField,
    "preact": PreActField,
    "bottleneck": BottleneckField,
    "mlp": MLPField,
    "shake": ShakeBranch,
}


def get_field(name: str) -> type[ResidualField]:
    """The field class registered as ``name`` (see :data:`FIELDS`)."""
    if not isinstance(name, str):
        raise TypeError(f"field must be a name, one of {sorted(FIELDS)}; got {type(name).__name__}")
    try:
        return FIELDS[name]
    except KeyError:
        raise unknown_name("field", name, FIELDS) from None
