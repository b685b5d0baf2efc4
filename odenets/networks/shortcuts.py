"""Shortcuts ``P`` of the transitions between network stages, and their registry.

A shortcut maps the input of a stage transition to the new resolution and width; the
transition's step is taken from ``P(x)``. Every kind has one factory signature,
``factory(in_channels, out_channels, stride, dims) -> nn.Module`` (``dims`` 0 for feature
vectors, 1 or 2 for feature maps), so the stage builder is generic over them; register new
kinds with :func:`register_shortcut`.

Built-in kinds:

===================  ======================================================================
``pad``              subsample, zero channels on both sides (He et al. 2016a option A, as
                     akamaster/pytorch_resnet_cifar10)
``pad_end``          subsample, zero channels after the old ones (fb.resnet.torch; what
                     ``pad`` did in odenets 0.1.0)
``avgpool_pad``      2x2 average pooling, zero channels on both sides (RevNet's code)
``avgpool_pad_end``  2x2 average pooling, zero channels at the end (Huang et al. 2016)
``conv``             1x1 convolution + BN (option B)
``preact_conv``      BN-ReLU-1x1 convolution (Lu et al. 2018's LM-ResNet transitions)
``two_path``         shake-shake's two-path shortcut (Gastaldi 2017)
``project``          a bias-free 1x1 convolution without BN (RevNet-164's code)
===================  ======================================================================
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validate import check_choice, unknown_name
from .fields import conv_layer, norm_layer

__all__ = [
    "PAD_POOLS",
    "PAD_SIDES",
    "SHORTCUTS",
    "ConvShortcut",
    "HalvesShortcut",
    "PadShortcut",
    "PreActConvShortcut",
    "ProjectShortcut",
    "TwoPathShortcut",
    "list_shortcuts",
    "make_shortcut",
    "register_shortcut",
]


#: Where a padding shortcut puts the new channels, and how it subsamples.
PAD_SIDES = ("both", "end")
PAD_POOLS = ("stride", "avg")


class PadShortcut(nn.Module):
    """Parameter-free shortcut: subsample by ``stride`` and zero-pad the new channels (option A
    of He et al. 2016's CIFAR networks).

    Args:
        in_channels, out_channels: widths before and after (``out_channels >= in_channels``).
        stride: spatial subsampling factor.
        side: where the new zero channels go: ``"both"`` (half before, half after the old
            ones — akamaster/pytorch_resnet_cifar10's option A, ``planes // 4`` on each side,
            and RevNet's / the Hamiltonian nets' padding) or ``"end"`` (after them — Huang et
            al.'s stochastic-depth code, fb.resnet.torch).
        pool: how to subsample: ``"stride"`` (keep every ``stride``-th pixel, ``x[..., ::s,
            ::s]``) or ``"avg"`` (``stride x stride`` average pooling, as Huang et al.'s and
            RevNet's code).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        *,
        side: str = "both",
        pool: str = "stride",
    ):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f"a padding shortcut cannot reduce channels ({in_channels} -> {out_channels})"
            )
        check_choice("padding side", side, PAD_SIDES)
        check_choice("padding pool", pool, PAD_POOLS)
        self.extra, self.stride, self.side, self.pool = (
            out_channels - in_channels,
            stride,
            side,
            pool,
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            if self.pool == "avg":
                pool = {3: F.avg_pool1d, 4: F.avg_pool2d}[x.ndim]
                x = pool(x, self.stride, self.stride)
            else:
                index = (slice(None), slice(None)) + (slice(None, None, self.stride),) * (
                    x.ndim - 2
                )
                x = x[index]
        if self.extra:
            before = self.extra // 2 if self.side == "both" else 0
            x = F.pad(x, (0, 0) * (x.ndim - 2) + (before, self.extra - before))
        return x

    def extra_repr(self) -> str:
        return f"extra={self.extra}, stride={self.stride}, side={self.side!r}, pool={self.pool!r}"


class PreActConvShortcut(nn.Sequential):
    """Pre-activated projection shortcut: BN-ReLU-conv1x1 with ``stride`` (the ``Downsample``
    transition of Lu et al.'s LM-ResNet code, 2prime/LM-ResNet ``MResNet.py``)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dims: int = 2):
        super().__init__(
            norm_layer(dims, in_channels),
            nn.ReLU(),
            conv_layer(dims, in_channels, out_channels, 1, stride),
        )


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


def _padding(side: str, pool: str) -> Callable[[int, int, int, int], nn.Module]:
    def factory(cin: int, cout: int, stride: int, dims: int) -> nn.Module:
        return PadShortcut(cin, cout, stride, side=side, pool=pool)

    return factory


def _conv(cin: int, cout: int, stride: int, dims: int) -> nn.Module:
    if dims == 0:  # feature vectors: a bias-free linear map
        return nn.Linear(cin, cout, bias=False)
    return ConvShortcut(cin, cout, stride, dims)


def _preact_conv(cin: int, cout: int, stride: int, dims: int) -> nn.Module:
    if dims == 0:
        return nn.Sequential(norm_layer(0, cin), nn.ReLU(), nn.Linear(cin, cout, bias=False))
    return PreActConvShortcut(cin, cout, stride, dims)


# Option A as in the reference code of He et al.'s CIFAR ResNets: the new channels on both
# sides. (In odenets 0.1.0 "pad" put them at the end; that layout is "pad_end" — the state
# dict is the same, the outputs are not.)
register_shortcut("pad", _padding("both", "stride"))
register_shortcut("pad_end", _padding("end", "stride"))
register_shortcut("avgpool_pad", _padding("both", "avg"))
register_shortcut("avgpool_pad_end", _padding("end", "avg"))
register_shortcut("conv", _conv)
register_shortcut("preact_conv", _preact_conv)

#: The built-in shortcut kinds (see :func:`list_shortcuts` for every registered one).
SHORTCUTS = (
    "pad",
    "pad_end",
    "avgpool_pad",
    "avgpool_pad_end",
    "conv",
    "preact_conv",
    "two_path",
    "project",
)


# ---------------------------------------------------------------------------------------------
# Shortcuts of the reference networks of shake-shake (Gastaldi 2017) and RevNet-164 (Gomez et
# al. 2017); RevNet-38/110 and the Hamiltonian networks use "avgpool_pad".
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
register_shortcut("project", ProjectShortcut)
