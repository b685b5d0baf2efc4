"""FractalNet (Larsson, Maire & Shakhnarovich, ICLR 2017): fractal blocks with a mean join and
drop-path, and the Runge–Kutta reading of the two-column fractal.

The fractal expansion rule, for ``C`` columns::

    f_1(z)     = conv(z)
    f_{C+1}(z) = join(f_C(f_C(z)), conv(z))

where ``conv`` is a conv3x3-dropout-BN-ReLU unit and ``join`` the element-wise **mean** of its
inputs (flattened: a join whose input is itself a join merges all their inputs, so the last
join of a block averages all ``C`` columns). Column ``c`` (``c = 0 .. C-1``) holds ``2^c``
units; the deepest path of a block has ``2^(C-1)`` of them, and ``B`` blocks give a network
``B * 2^(C-1)`` convolutions deep (20 for ``C = 3``, 40 for ``C = 4``, ``B = 5``).

**A block kind, not a field.** A field is the rate ``F`` of a step ``x + h F(x)``; the fractal
block has **no identity path** (``f_1(z) = conv(z)``, every signal passes a convolution and a
nonlinearity), so it is not any scheme's step and :class:`FractalNet` is its own network class
rather than a :class:`~odenets.SolverNet`. Read as a step it needs layers that carry the
identity, ``g(z) = z + (H/2) F(z)``: then the two-column fractal with the mean join is the
explicit Runge–Kutta method :data:`FRACTAL_RK` (order 1, see docs/fractalnet.md).

**Drop-path** (training only; one draw per mini-batch, as the authors' Caffe ``FractalJoin``):

* local: every join drops each of its inputs with probability ``p`` (at least one is kept: if
  all are dropped, one chosen uniformly survives) and averages the rest;
* global: one column is chosen for the whole network; every join keeps only that column's
  input, so the network is that column alone (only it is evaluated).

Each mini-batch is global with probability ``global_share``, local otherwise. Randomness comes
from the network's :class:`~odenets.networks.noise.NoiseSource` (``net.noise_source``),
dropout included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validate import check_int, check_number
from ..numerics.schemes import Scheme
from ..numerics.tableau import ButcherTableau
from .noise import NoiseSource

__all__ = ["FRACTAL_RK", "ConvUnit", "DropPath", "FractalBlock", "FractalNet", "fractal_depth"]


def _probability(name: str, p: Any, *, closed: bool = False) -> float:
    p = check_number(name, p)
    if not (0.0 <= p <= 1.0 if closed else 0.0 <= p < 1.0):
        interval = "[0, 1]" if closed else "[0, 1)"
        raise ValueError(f"{name} must be a probability in {interval}, got {p}")
    return p


@dataclass(frozen=True)
class DropPath:
    """Drop-path settings (Larsson et al. 2017, §3.1).

    Args:
        local: the probability that a join drops each of its inputs (at least one survives);
            15% in Larsson et al.'s CIFAR experiments.
        global_share: the probability that a mini-batch uses global drop-path (one column
            for the whole network) instead of local; the 50/50 mix follows Larsson et al.'s
            description as quoted by third-party implementations (not checked against the
            paper here: docs/fractalnet.md).
    """

    local: float = 0.15
    global_share: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "local", _probability("drop-path local", self.local))
        object.__setattr__(
            self,
            "global_share",
            _probability("drop-path global_share", self.global_share, closed=True),
        )


def _xavier(m: nn.Module) -> None:
    """Caffe's "xavier" filler, ``U(-sqrt(3 / fan_in), sqrt(3 / fan_in))``, and a zero bias."""
    nn.init.kaiming_uniform_(m.weight, a=1.0)
    nn.init.zeros_(m.bias)


# The random draws of a training forward. Each runs eagerly, also inside ``torch.compile``
# (a ``torch.Generator`` cannot be traced, and which join inputs survive is Python control
# flow): one graph break per draw, the arithmetic around it compiled.


@torch.compiler.disable
def _draw_dropout_mask(like: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """The keep mask of inverted dropout with probability ``p``, of the shape of ``like``."""
    keep = torch.rand(like.shape, generator=generator, device=generator.device) >= p
    return keep.to(like.device, like.dtype)


@torch.compiler.disable
def _draw_kept_inputs(n: int, p: float, generator: torch.Generator) -> list[bool]:
    """Local drop-path: which of a join's ``n`` inputs survive (each dropped with probability
    ``p``, at least one kept: one drawn uniformly when all were dropped)."""
    keep = (torch.rand(n, generator=generator, device=generator.device) >= p).tolist()
    if not any(keep):
        keep[int(torch.randint(n, (1,), generator=generator, device=generator.device))] = True
    return keep


@torch.compiler.disable
def _draw_plan(global_share: float, local: float, columns: int, generator: torch.Generator):
    """One forward's drop-path: ``("global", column)`` with probability ``global_share``
    (the column uniform), else ``("local", local)``."""
    g = generator
    if float(torch.rand((), generator=g, device=g.device)) < global_share:
        return ("global", int(torch.randint(columns, (1,), generator=g, device=g.device)))
    return ("local", local)


def _dropout(x: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """Inverted dropout (Caffe's and PyTorch's): zero each element with probability ``p``,
    scale the rest by ``1 / (1 - p)``; drawn from ``generator``."""
    return x * _draw_dropout_mask(x, p, generator) * (1.0 / (1.0 - p))


class ConvUnit(nn.Module):
    """conv3x3 (with bias) - dropout - BN (no learned scale or shift) - ReLU: one unit of the
    authors' Caffe FractalNet (``Convolution``, ``Dropout``, ``BatchNorm`` without a ``Scale``
    layer, ``ReLU``)."""

    def __init__(self, cin: int, cout: int, dropout: float = 0.0, dims: int = 2) -> None:
        super().__init__()
        conv = {1: nn.Conv1d, 2: nn.Conv2d}[dims]
        # initialised once, with Caffe's "xavier" filler: U(+-sqrt(3 / fan_in)), bias 0
        self.conv = nn.utils.skip_init(conv, cin, cout, 3, padding=1, bias=True)
        _xavier(self.conv)
        self.bn = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}[dims](cout, affine=False)
        self.dropout = dropout

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        x = self.conv(x)
        if self.training and self.dropout > 0 and generator is not None:
            x = _dropout(x, self.dropout, generator)
        return torch.relu(self.bn(x))

    def extra_repr(self) -> str:
        return f"dropout={self.dropout:g}"


class FractalBlock(nn.Module):
    """One fractal block of ``columns`` columns, ``cin -> cout`` channels, optionally ending in
    a 2x2 max-pool (stride 2, Caffe's ceil rounding).

    As in the authors' Caffe code, the pooling of a block is applied to every column before the
    block's last join (the paper notes the swap; the mean of the pooled columns is not the pool
    of their mean).

    Attributes:
        columns: ``columns[c][i]`` is the ``i``-th of the ``2^c`` units of column ``c``.
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        columns: int,
        *,
        dropout: float = 0.0,
        pool: bool = True,
        dims: int = 2,
    ) -> None:
        super().__init__()
        check_int("columns", columns, 1)
        if columns > 8:
            raise ValueError(f"columns must be <= 8 (2^(C-1) units deep), got {columns}")
        self.count, self.pool, self.dims = columns, bool(pool), dims
        self.columns = nn.ModuleList(
            nn.ModuleList(
                ConvUnit(cin if i == 0 else cout, cout, dropout, dims) for i in range(2**c)
            )
            for c in range(columns)
        )

    def _pool(self, x: Tensor) -> Tensor:
        if not self.pool:
            return x
        pool = F.max_pool2d if self.dims == 2 else F.max_pool1d
        return pool(x, 2, 2, ceil_mode=True)

    def column(self, c: int, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Column ``c`` alone (its ``2^c`` units, then the pooling): the block under global
        drop-path with column ``c`` selected."""
        for unit in self.columns[c]:
            x = unit(x, generator)
        return self._pool(x)

    def forward(
        self,
        x: Tensor,
        plan: tuple[str, Any] | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The block on ``x``. ``plan``: ``None`` (every join averages all its inputs),
        ``("local", p)`` (local drop-path with probability ``p``, drawn from ``generator``)
        or ``("global", c)`` (column ``c`` alone)."""
        if plan is not None and plan[0] == "global":
            return self.column(plan[1], x, generator)
        count = self.count
        steps = 2 ** (count - 1)
        last = [x] * count
        used = [0] * count
        for step in range(steps):
            # column c fires every 2^(C-1-c) steps; the columns firing together are the
            # deepest ones, and they are joined right after (the flattened expansion rule)
            fired = [c for c in range(count) if (step + 1) % 2 ** (count - 1 - c) == 0]
            for c in fired:
                last[c] = self.columns[c][used[c]](last[c], generator)
                used[c] += 1
            if step == steps - 1:
                for c in fired:
                    last[c] = self._pool(last[c])
            if len(fired) > 1:
                joined = self.join([last[c] for c in fired], plan, generator)
                for c in fired:
                    last[c] = joined
        return last[0]

    @staticmethod
    def join(
        inputs: Sequence[Tensor],
        plan: tuple[str, Any] | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The element-wise mean of ``inputs``; under local drop-path, of the survivors."""
        if plan is None:
            return sum(inputs[1:], inputs[0]) / len(inputs)
        keep = _draw_kept_inputs(len(inputs), plan[1], generator)
        kept = [t for t, k in zip(inputs, keep, strict=True) if k]
        return sum(kept[1:], kept[0]) / len(kept)


def fractal_depth(blocks: int, columns: int) -> int:
    """Convolutions on the deepest path: ``blocks * 2^(columns - 1)``."""
    return check_int("blocks", blocks, 1) * 2 ** (check_int("columns", columns, 1) - 1)


class FractalNet(nn.Module):
    """FractalNet for CIFAR (Larsson et al. 2017): fractal blocks, each ending in a 2x2
    max-pool, then (global average pooling and) a linear classifier. There is no stem: the
    first block's units read the image.

    Args:
        num_classes: outputs of the linear head.
        in_channels: channels of the input.
        widths: channels of each block (64-128-256-512-512 on CIFAR: five blocks take 32x32 to
            1x1, where the average pool is the identity).
        columns: columns ``C`` per block (3: 20 layers, 4: 40 layers with five blocks).
        dropout: dropout rate of the units of each block (one per block, or one for all);
            default ``0.1 * b`` for block ``b = 0, 1, ...``: 0, 0.1, 0.2, 0.3, 0.4 on CIFAR, as
            in Larsson et al.'s runs with dropout and the authors' generation script.
        drop_path: a :class:`DropPath` (local 15%, global for half of the mini-batches by
            default) or ``None`` for none.
        dims: 2 for images (Conv2d), 1 for sequences (Conv1d).
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        widths: Sequence[int] = (64, 128, 256, 512, 512),
        columns: int = 4,
        *,
        dropout: float | Sequence[float] | None = None,
        drop_path: DropPath | None = DropPath(),
        dims: int = 2,
    ) -> None:
        super().__init__()
        self.num_classes = check_int("num_classes", num_classes, 0)
        self.in_channels = check_int("in_channels", in_channels, 1)
        if dims not in (1, 2):
            raise ValueError(f"dims must be 1 (Conv1d) or 2 (Conv2d), got {dims!r}")
        if isinstance(widths, str) or not isinstance(widths, Sequence) or not widths:
            raise TypeError(f"widths must be a non-empty sequence of ints, got {widths!r}")
        widths = tuple(check_int("widths entry", w, 1) for w in widths)
        if dropout is None:
            dropout = tuple(round(0.1 * b, 10) for b in range(len(widths)))
        if isinstance(dropout, int | float):
            dropout = (dropout,) * len(widths)
        if not isinstance(dropout, Sequence) or len(dropout) != len(widths):
            raise ValueError(
                f"dropout must be one rate or one per block ({len(widths)}), got {dropout!r}"
            )
        dropout = tuple(_probability("dropout rate", p) for p in dropout)
        if drop_path is not None and not isinstance(drop_path, DropPath):
            raise TypeError(f"drop_path must be a DropPath or None, got {type(drop_path).__name__}")
        check_int("columns", columns, 1)
        self.dims, self.widths, self.columns = dims, widths, columns
        self.dropout, self.drop_path = dropout, drop_path
        self.depth = fractal_depth(len(widths), columns)
        self.noise_source = NoiseSource()
        cins = (in_channels, *widths[:-1])
        self.blocks = nn.ModuleList(
            FractalBlock(cin, cout, columns, dropout=p, dims=dims)
            for cin, cout, p in zip(cins, widths, dropout, strict=True)
        )
        #: channels of :meth:`forward_features` (the input of the classifier)
        self.num_features = widths[-1]
        self.fc = self._classifier(num_classes)

    def check_input(self, x: Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is ``(batch, in_channels, *spatial)``."""
        if not isinstance(x, Tensor):
            raise TypeError(f"input must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != self.dims + 2 or x.shape[1] != self.in_channels:
            layout = "(batch, channels, length)" if self.dims == 1 else "(batch, channels, H, W)"
            raise ValueError(
                f"FractalNet expects {layout} with {self.in_channels} channels, got shape "
                f"{tuple(x.shape)}"
            )

    def plan(self) -> tuple[str, Any] | None:
        """This forward pass's drop-path decision (training only): ``("global", column)`` or
        ``("local", p)``, drawn from :attr:`noise_source`; ``None`` in evaluation."""
        if not self.training or self.drop_path is None:
            return None
        drop = self.drop_path
        return _draw_plan(drop.global_share, drop.local, self.columns, self.noise_source.generator)

    # ------------------------------------------------------------------ timm interface

    def forward_features(self, x: Tensor, plan: tuple[str, Any] | None = None) -> Tensor:
        """The feature map after the last block, ``(batch, num_features, *spatial)``
        (``plan``: see :meth:`plan`; default drawn in training, none in evaluation)."""
        self.check_input(x)
        plan = self.plan() if plan is None else plan
        generator = self.noise_source.generator if self.training or plan else None
        for block in self.blocks:
            x = block(x, plan, generator)
        return x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pooling (the identity on the 1x1 map of a 32x32 input) and the
        classifier; ``pre_logits=True`` stops before it."""
        x = x.flatten(2).mean(-1)
        return x if pre_logits else self.fc(x)

    def features(self, x: Tensor, plan: tuple[str, Any] | None = None) -> Tensor:
        """The pooled features before the classifier (``plan`` as :meth:`forward_features`)."""
        return self.forward_head(self.forward_features(x, plan), pre_logits=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The classifier (a ``Linear``; ``Identity`` when ``num_classes == 0``)."""
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A fresh classifier with ``num_classes`` outputs (0: none); pooling is global
        average (``global_pool`` ``None`` or ``"avg"``)."""
        if global_pool not in (None, "avg"):
            raise ValueError(f"FractalNet pools by global average only, got {global_pool!r}")
        self.num_classes = check_int("num_classes", num_classes, 0)
        old = self.fc.weight if isinstance(self.fc, nn.Linear) else None
        self.fc = self._classifier(num_classes)
        if old is not None:
            self.fc.to(device=old.device, dtype=old.dtype)

    def _classifier(self, num_classes: int) -> nn.Module:
        if num_classes == 0:
            return nn.Identity()
        fc = nn.Linear(self.num_features, num_classes)
        _xavier(fc)
        return fc

    def extra_repr(self) -> str:
        return f"columns={self.columns}, depth={self.depth}, widths={self.widths}"


#: The two-column fractal read as a Runge–Kutta step. With layers that carry the identity,
#: ``g(z) = z + (H/2) F(z)`` on the long column (two of them) and ``z + H F_c(z)`` on the
#: short one, the mean join gives ``x + H [F_a(x)/4 + F_c(x)/2 + F_b(x + (H/2) F_a(x))/4]``:
#: the explicit RK method with ``c = (0, 0, 1/2)``, ``a31 = 1/2``, ``b = (1/4, 1/2, 1/4)``
#: (slots: F_a, F_c, F_b). With one field it is ``b = (3/4, 1/4)``, ``c2 = 1/2``: the average
#: of one Euler step of size H and two of size H/2 — consistent but first order (the order-2
#: condition ``sum b_i c_i = 1/2`` fails: 1/8). The extrapolating join ``2 long - short`` would
#: give the explicit midpoint rule (order 2). Not registered (it is a reading, not a preset's
#: scheme): pass it as ``scheme=FRACTAL_RK``.
FRACTAL_RK = Scheme(
    name="fractal_rk",
    family="explicit_rk",
    order=1,
    stages=3,
    architecture="two-column fractal block (Larsson et al. 2017) with identity-carrying "
    "layers and the mean join: x + H/4 F_a(x) + H/2 F_c(x) + H/4 F_b(x + H/2 F_a(x))",
    reference="Larsson, Maire, Shakhnarovich, ICLR 2017; read as RK as in Lu et al. 2018",
    tableau=ButcherTableau(a=[[], [0.0], [0.5, 0.0]], b=[0.25, 0.5, 0.25], c=[0.0, 0.0, 0.5]),
    description="average of one Euler step of size H and two of size H/2; order 1",
)
