"""Shortcuts ``P`` of the transitions between network stages, and their registry.

A shortcut maps the input of a stage transition to the new resolution and width; the
transition's step is taken from ``P(x)``. Every kind has one factory signature,
``factory(in_channels, out_channels, stride, dims) -> nn.Module`` (``dims`` 0 for feature
vectors, 1 or 2 for feature maps), so the stage builder is generic over them; register new
kinds with :func:`register_shortcut`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validate import unknown_name
from .fields import conv_layer, norm_layer

__all__ = [
    "SHORTCUTS",
    "ConvShortcut",
    "HalvesShortcut",
    "PadShortcut",
    "PoolPadShortcut",
    "ProjectShortcut",
    "TwoPathShortcut",
    "list_shortcuts",
    "make_shortcut",
    "register_shortcut",
]


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


class HalvesShortcut(nn.Module):
    """The shortcut of a partitioned state: ``P1`` on the first half of the channels, ``P2``
    on the second (RevNet's transitions project ``x1`` and ``x2`` separately)."""

    def __init__(self, first: nn.Module, second: nn.Module) -> None:
        super().__init__()
        self.first, self.second = first, second

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[1] // 2
        return torch.cat((self.first(x[:, :n]), self.second(x[:, n:])), 1)


_SHORTCUTS: dict[str, Callable[[int, int, int, int], nn.Module]] = {}


def register_shortcut(
    name: str, factory: Callable[[int, int, int, int], nn.Module], *, replace: bool = False
) -> None:
    """Register a shortcut kind: ``factory(in_channels, out_channels, stride, dims)``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"shortcut name must be an identifier, got {name!r}")
    if not callable(factory):
        raise TypeError(f"shortcut factory must be callable, got {type(factory).__name__}")
    if name in _SHORTCUTS and not replace:
        raise ValueError(f"shortcut {name!r} is already registered; pass replace=True")
    _SHORTCUTS[name] = factory


def list_shortcuts() -> list[str]:
    """Sorted names of the registered shortcut kinds."""
    return sorted(_SHORTCUTS)


def make_shortcut(kind: str, cin: int, cout: int, stride: int, dims: int) -> nn.Module:
    """The shortcut ``P`` of a transition of the registered ``kind``."""
    try:
        factory = _SHORTCUTS[kind]
    except KeyError:
        raise unknown_name("shortcut", kind, _SHORTCUTS) from None
    return factory(cin, cout, stride, dims)


def _pad(cin: int, cout: int, stride: int, dims: int) -> nn.Module:
    return PadShortcut(cin, cout, stride)


def _conv(cin: int, cout: int, stride: int, dims: int) -> nn.Module:
    if dims == 0:  # feature vectors: a bias-free linear map
        return nn.Linear(cin, cout, bias=False)
    return ConvShortcut(cin, cout, stride, dims)


register_shortcut("pad", _pad)
register_shortcut("conv", _conv)

#: The built-in shortcut kinds (see :func:`list_shortcuts` for every registered one).
SHORTCUTS = ("pad", "conv")


# ---------------------------------------------------------------------------------------------
# Shortcuts of the reference networks of shake-shake (Gastaldi 2017), RevNet (Gomez et al.
# 2017) and the Hamiltonian networks (Chang et al. 2018).
# ---------------------------------------------------------------------------------------------


def _subsample(x: Tensor, stride: int) -> Tensor:
    """Every ``stride``-th position of every spatial dimension (a 1x1 average pool)."""
    if stride == 1:
        return x
    return x[(slice(None), slice(None)) + (slice(None, None, stride),) * (x.ndim - 2)]


class TwoPathShortcut(nn.Module):
    """Shake-shake's shortcut (Gastaldi 2017): ``BN(cat(conv_a(S(r)), conv_b(S(shift(r)))))``
    with ``r = ReLU(x)``, ``S`` the subsampling by ``stride`` (a 1x1 average pool), ``shift``
    the map moving every spatial index by one (``r[i + 1, j + 1]``, zero past the edge) so
    that the second path sees the pixels the first one skips, and ``conv_a``, ``conv_b``
    bias-free 1x1 convolutions to ``out_channels / 2`` each. The shift direction is the one of
    the PyTorch reference (hysts/pytorch_shake_shake); the author's Torch code shifts the
    other way (``r[i - 1, j - 1]``, zero padding at the top-left), which keeps the parameter
    count and changes which pixels the path reads. Applied at stride 1 too (the widening
    first stage), where it still shifts."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2):
        super().__init__()
        if dims not in (1, 2):
            raise ValueError(f"a two-path shortcut needs feature maps (dims 1 or 2), got {dims}")
        if out_channels % 2:
            raise ValueError(
                f"a two-path shortcut concatenates two halves: out_channels must be even, "
                f"got {out_channels}"
            )
        self.stride = stride
        self.conv_a = conv_layer(dims, in_channels, out_channels // 2, 1)
        self.conv_b = conv_layer(dims, in_channels, out_channels // 2, 1)
        self.bn = norm_layer(dims, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        r = torch.relu(x)
        shifted = F.pad(
            r[(slice(None), slice(None)) + (slice(1, None),) * (r.ndim - 2)], (0, 1) * (r.ndim - 2)
        )
        a = self.conv_a(_subsample(r, self.stride))
        b = self.conv_b(_subsample(shifted, self.stride))
        return self.bn(torch.cat((a, b), 1))


class PoolPadShortcut(nn.Module):
    """Parameter-free shortcut of the TensorFlow RevNet / Hamiltonian code: average pooling
    with a ``stride`` x ``stride`` window and stride (no padding), then zero channels added
    symmetrically, ``(out - in) / 2`` before and after the existing ones."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2):
        super().__init__()
        extra = out_channels - in_channels
        if extra < 0 or extra % 2:
            raise ValueError(
                "a pool-and-pad shortcut adds the same number of zero channels on both sides: "
                f"out_channels - in_channels must be even and >= 0, got {in_channels} -> "
                f"{out_channels}"
            )
        self.side, self.stride, self.dims = extra // 2, stride, dims

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1 and self.dims:
            pool = F.avg_pool2d if self.dims == 2 else F.avg_pool1d
            x = pool(x, self.stride, self.stride)
        if self.side:
            x = F.pad(x, (0, 0) * (x.ndim - 2) + (self.side, self.side))
        return x


class ProjectShortcut(nn.Module):
    """A bias-free 1x1 convolution with ``stride`` and no BatchNorm (RevNet-164's bottleneck
    projection); the identity when neither width nor resolution changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2):
        super().__init__()
        self.proj: nn.Module | None = None
        if stride > 1 or in_channels != out_channels:
            if dims == 0:
                self.proj = nn.Linear(in_channels, out_channels, bias=False)
            else:
                self.proj = conv_layer(dims, in_channels, out_channels, 1, stride)

    def forward(self, x: Tensor) -> Tensor:
        return x if self.proj is None else self.proj(x)


register_shortcut("two_path", TwoPathShortcut)
register_shortcut("pool_pad", PoolPadShortcut)
register_shortcut("project", ProjectShortcut)
