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
