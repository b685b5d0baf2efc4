"""Noisy residual blocks: Euler–Maruyama steps of the block SDEs of Lu et al. (2018, §3).

:class:`StochasticBlock` wraps the branch(es) of a block and a
:class:`~odenets.networks.noise.NoiseModel`; in training it draws ``ΔW`` from the network's
:class:`NoiseSource` and takes one step through :func:`odenets.numerics.steps.prepare` (the
``euler_maruyama`` stepper, or the ``lm`` multistep stepper on the noisy slope — the
stochastic LM-ResNet of Lu et al.), in evaluation it steps with the drift alone.
:class:`StochasticTransition` is the same step between network stages, and
:func:`stochastic_stages` builds the stages of a ``SolverNet(noise=...)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._validate import check_int, check_number
from ..numerics.schemes import Scheme, get_scheme, list_schemes
from ..numerics.steps import History, prepare
from ..numerics.steps.stochastic import Increment, noisy_slope
from .blocks import SchemeStage, euler_start, scheme_coefficients
from .noise import NoiseModel, get_noise

__all__ = [
    "NoiseSource",
    "StochasticBlock",
    "StochasticTransition",
    "noise_schemes",
    "stochastic_stages",
]

#: Families whose step can take a noise increment: Euler–Maruyama itself, and the multistep
#: schemes through the noisy slope ``a + b ΔW / h``.
NOISY_FAMILIES = ("stochastic", "multistep")


def noise_schemes() -> list[str]:
    """Registered schemes that accept ``noise=``."""
    return sorted(n for f in NOISY_FAMILIES for n in list_schemes(f))


def _check_noisy_scheme(scheme: Scheme) -> None:
    if scheme.family not in NOISY_FAMILIES:
        raise ValueError(
            f"scheme {scheme.name!r} (family {scheme.family!r}) cannot take noise: a noisy block "
            f"is an Euler–Maruyama step (or a multistep step on the noisy slope); use one of "
            f"{noise_schemes()}, e.g. 'euler_maruyama' for a noisy ResNet"
        )


class NoiseSource:
    """The explicit random state of a stochastic network: one ``torch.Generator`` that all its
    noisy blocks draw from, in order. Re-seeding reproduces the same forward pass.

    Args:
        seed: initial seed of a fresh CPU generator.
        generator: use this generator instead (e.g. on the GPU); excludes ``seed``.
    """

    def __init__(self, seed: int = 0, generator: torch.Generator | None = None) -> None:
        if generator is None:
            generator = torch.Generator().manual_seed(check_int("seed", seed, 0))
        self.generator = generator

    @property
    def generator(self) -> torch.Generator:
        return self._generator

    @generator.setter
    def generator(self, generator: torch.Generator) -> None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        self._generator = generator

    def seed(self, seed: int) -> NoiseSource:
        """Reset the generator to ``seed``; returns ``self``."""
        self._generator.manual_seed(check_int("seed", seed, 0))
        return self

    def __repr__(self) -> str:
        return f"NoiseSource(device={self._generator.device})"


class _NoisyStep(nn.Module):
    """Shared machinery: branches + noise model + the draw-and-step logic."""

    def __init__(
        self, branches: Sequence[nn.Module], noise: NoiseModel, h: float, source: NoiseSource
    ) -> None:
        super().__init__()
        self.noise = get_noise(noise)
        if (
            isinstance(branches, nn.Module)
            or not isinstance(branches, Sequence)
            or not all(isinstance(m, nn.Module) for m in branches)
        ):
            raise TypeError(
                f"fields must be a sequence of nn.Modules, got {type(branches).__name__}"
            )
        if len(branches) != self.noise.branches:
            raise ValueError(
                f"noise {self.noise.name!r} needs {self.noise.branches} residual branch(es) per "
                f"block, got {len(branches)}"
            )
        self.fields = nn.ModuleList(branches)
        self.h = check_number("h", h, positive=True)
        if not isinstance(source, NoiseSource):
            raise TypeError(f"source must be a NoiseSource, got {type(source).__name__}")
        self.source = source

    def _terms(self, x: Tensor, out: Tensor) -> tuple[Tensor, Tensor | None, Any]:
        """``(a, b, ΔW)`` at ``x`` (``out``: a tensor of the step's output shape); ``b`` and
        ``ΔW`` are ``None`` in evaluation mode."""
        if not self.training:
            outputs = self.noise.branch_outputs(self.fields, x, None)
            return self.noise.drift(outputs, self.h), None, None
        raw, dw = self.noise.sample(out, self.h, self.source.generator)
        outputs = self.noise.branch_outputs(self.fields, x, raw, out)
        drift = self.noise.drift(outputs, self.h)
        if dw is None:
            return drift, None, None
        return drift, self.noise.diffusion(outputs, self.h), dw

    def _em(self, stepper, x: Tensor, base: Tensor) -> Tensor:
        """One Euler–Maruyama step from ``base`` with the branches evaluated at ``x``.

        Samples the noise model leaves out of a training step (stochastic depth's dropped
        samples, where ``a = b = 0``) are copied through unchanged and their branches are
        never evaluated; the step runs on the remaining rows only.
        """
        raw, dw = (None, None)
        if self.training:
            raw, dw = self.noise.sample(base, self.h, self.source.generator)
        rows = None if dw is None else self.noise.kept_rows(raw)
        rows = None if rows is None else rows.to(base.device)
        if rows is not None and rows.numel() < base.shape[0]:
            if rows.numel() == 0:
                return base
            same = x is base
            full, base = base, base.index_select(0, rows)
            x = base if same else x.index_select(0, rows)
            dw = Increment(*(None if v is None else v.index_select(0, rows) for v in dw))
            raw = None
        outputs = self.noise.branch_outputs(self.fields, x, raw, base)
        a = self.noise.drift(outputs, self.h)
        b = None if dw is None else self.noise.diffusion(outputs, self.h)
        y, _ = stepper(lambda i, t, _y: a if i == 0 else b, 0.0, base, self.h, dw)
        return y if rows is None or rows.numel() == full.shape[0] else full.index_copy(0, rows, y)

    def sde(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The drift ``a(x)`` and diffusion ``b(x)`` of this block's SDE at ``x``: training is
        ``x + h a + b ⊙ ΔW`` with ``E[ΔW] = 0``, ``Var[ΔW] = h``; evaluation ``x + h a``.
        (Shake-shake: ``a = ½(g1 + g2)``, ``b = sqrt(h/12)(g1 - g2)`` with ``g_i = F_i / h``.)"""
        outputs = self.noise.branch_outputs(self.fields, x, None)
        return self.noise.drift(outputs, self.h), self.noise.diffusion(outputs, self.h)

    def describe(self) -> str:
        """The block's SDE in words."""
        return self.noise.describe(self.h)

    def extra_repr(self) -> str:
        return f"noise={self.noise!r}, h={self.h:g}"


class StochasticBlock(_NoisyStep):
    """One noisy step ``x -> x + h a(x) + b(x) ⊙ ΔW`` around learned branches.

    With ``scheme="euler_maruyama"`` this is shake-shake / stochastic depth / noise injection
    as an Euler–Maruyama step (Lu et al. 2018, §3.1); with ``scheme="lm"`` the LM multistep
    step on the slope ``a + b ΔW / h``, the stochastic LM-ResNet (Lu et al. 2018, §3.2).
    Training draws ``ΔW`` from ``source``; evaluation uses the drift (``ΔW = None``).

    Args:
        scheme: a scheme that takes noise (see :func:`noise_schemes`).
        fields: the block's branches, ``noise.branches`` modules (2 for shake-shake).
        noise: a noise model or its name.
        h: the step size.
        source: the network's random source.
        learn: learn the scheme's free coefficients (``lm``: ``k``); default True if it has any.
        params: fixed (or initial, when learned) coefficient values.
    """

    def __init__(
        self,
        scheme: str | Scheme,
        fields: Sequence[nn.Module],
        noise: str | NoiseModel,
        h: float = 1.0,
        *,
        source: NoiseSource,
        learn: bool | None = None,
        params: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(fields, noise, h, source)
        self.scheme = get_scheme(scheme)
        _check_noisy_scheme(self.scheme)
        self.learn, self.coefficients, fixed = scheme_coefficients(self.scheme, learn, params)
        self._stepper = None if self.learn else prepare(self.scheme, fixed)

    @property
    def f_evals(self) -> int:
        """Residual-branch evaluations per forward (in evaluation mode)."""
        return self.noise.branches

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Advance ``x`` one (noisy, in training) step from explicit ``state``."""
        stepper = self._stepper or prepare(self.scheme, dict(self.coefficients.items()))
        if self.scheme.family == "stochastic":
            return self._em(stepper, x, x), None
        a, b, dw = self._terms(x, x)
        slope = noisy_slope(a, b, dw, self.h)
        return stepper(lambda i, t, _y: slope, 0.0, x, self.h, state)

    def forward(self, x: Tensor) -> Tensor:
        return self.step(x)[0]

    def extra_repr(self) -> str:
        return f"scheme={self.scheme.name!r}, " + super().extra_repr()


class StochasticTransition(_NoisyStep):
    """The resolution-changing noisy block ``y = P(x) + h a(x) + b(x) ⊙ ΔW`` (strided branches),
    one Euler–Maruyama step taken from the shortcut ``P(x)``. Returns the Euler history
    ``(P(x), slope)`` a multistep stage continues from, like :class:`~odenets.Transition`
    (``None`` with ``history=False``, which lets stochastic depth skip dropped samples)."""

    def __init__(
        self,
        fields: Sequence[nn.Module],
        shortcut: nn.Module,
        noise: str | NoiseModel,
        h: float = 1.0,
        *,
        source: NoiseSource,
        history: bool = True,
    ) -> None:
        super().__init__(fields, noise, h, source)
        self.shortcut = shortcut
        self.history = bool(history)
        self._step = prepare("euler_maruyama")

    def forward(self, x: Tensor) -> tuple[Tensor, History | None]:
        base = self.shortcut(x)
        if not self.history:  # followed by Euler–Maruyama blocks: no history needed
            return self._em(self._step, x, base), None
        a, b, dw = self._terms(x, base)
        y, _ = self._step(lambda i, t, _y: a if i == 0 else b, 0.0, base, self.h, dw)
        return y, History.after_step(base, noisy_slope(a, b, dw, self.h))


def stochastic_stages(
    net: nn.Module,
    noise: str | NoiseModel,
    make_field,
    make_shortcut,
    n: int,
    learn: bool | None,
    params: Mapping[str, float] | None,
) -> tuple[list[SchemeStage], NoiseSource]:
    """The stages of a noisy :class:`~odenets.SolverNet` and their shared noise source.

    Every residual unit is noisy, transitions included; a depth schedule (stochastic depth)
    runs over all of them, ``L = stages * n`` units (54 for ResNet-110, as in Huang et al.).
    Reads ``scheme, widths, h, tie, vector, dims`` from ``net``.
    """
    _check_noisy_scheme(net.scheme)
    model = get_noise(noise)
    source = NoiseSource()
    widths, h, tie = net.widths, net.h, net.tie
    per_unit = iter(model.for_blocks(len(widths) * n))
    stages = []
    for i, width in enumerate(widths):
        transition = None
        if i > 0:
            prev, stride = widths[i - 1], net.down_stride
            branches = [make_field(prev, width, stride) for _ in range(model.branches)]
            transition = StochasticTransition(
                branches,
                make_shortcut(prev, width),
                next(per_unit),
                h,
                source=source,
                history=net.scheme.family == "multistep",
            )
        shared = [make_field(width, width) for _ in range(model.branches)] if tie == "all" else None
        blocks = []
        for j in range(n - (transition is not None)):
            fields = shared or [make_field(width, width) for _ in range(model.branches)]
            first = euler_start(net.scheme, j, transition)  # no history: k unused
            blocks.append(
                StochasticBlock(
                    net.scheme,
                    fields,
                    next(per_unit),
                    h,
                    source=source,
                    learn=False if first else learn,
                    params=None if first else params,
                )
            )
        stages.append(SchemeStage(blocks, transition))
    return stages, source
