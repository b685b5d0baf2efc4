"""Noise models that turn a residual block into an Euler–Maruyama step (Lu et al. 2018, §3).

A noise model says, for the branch outputs ``F_i = h g_i`` of one block, what the drift
``a`` and the diffusion ``b`` of the block's SDE are, and how to draw the increment ``ΔW``
(mean 0, variance ``h``, per sample). The step itself is
:func:`odenets.numerics.steps.euler_maruyama`:

- :class:`ShakeShake`: ``x + η F1 + (1 - η) F2``, ``η ~ U(0, 1)`` per sample, is EM for
  ``dX = ½ (g1 + g2) dt + sqrt(h / 12) (g1 - g2) ⊙ dB`` (Gastaldi 2017);
- :class:`StochasticDepth`: ``x + β F``, ``β ~ Bernoulli(p)`` per sample (or per mini-batch),
  is EM for ``dX = p g dt + sqrt(h p (1 - p)) g ⊙ dB`` (Huang et al. 2016); with survivors
  rescaled in training (``x + β F / p``) the drift is ``g`` itself;
- :class:`GaussianNoise`: ``x + F + σ ΔB``, ``ΔB ~ N(0, h)`` elementwise, is EM for
  ``dX = g dt + σ dB`` (additive noise injection).

In evaluation the increment is ``None`` and the block is the Euler step of the drift (the
expected value of the training block): ``x + ½ (F1 + F2)``, ``x + p F``, ``x + F``.
Every draw takes an explicit ``torch.Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from .._validate import check_choice, check_int, check_number, unknown_name
from ..numerics.steps.stochastic import Increment

__all__ = [
    "NOISES",
    "SD_SCHEDULES",
    "GaussianNoise",
    "NoiseModel",
    "NoiseSource",
    "ShakeShake",
    "StochasticDepth",
    "get_noise",
    "linear_survival",
    "linspace_survival",
]


def linear_survival(blocks: int, last: float) -> list[float]:
    """Survival probabilities ``p_l = 1 - (l / L) (1 - p_L)``, ``l = 1..L`` (Huang et al. 2016).

    Decays linearly from (nearly) 1 at the input to ``last`` at the last block; with one
    block it is ``[last]``.
    """
    check_int("blocks", blocks, 1)
    _check_survival(last)
    return [1.0 - (index / blocks) * (1.0 - last) for index in range(1, blocks + 1)]


def linspace_survival(blocks: int, last: float) -> list[float]:
    """Survival probabilities ``p_i = 1 - (i / (L - 1)) (1 - p_L)``, ``i = 0..L-1``: death rates
    evenly spaced from 0 at the first block to ``1 - p_L`` at the last (Lu et al.'s LM-ResNet
    code; timm's ``drop_path_rate`` schedule). With one block it is ``[last]``.
    """
    check_int("blocks", blocks, 1)
    _check_survival(last)
    if blocks == 1:
        return [last]
    return [1.0 - (index / (blocks - 1)) * (1.0 - last) for index in range(blocks)]


def _check_survival(p: Any) -> float:
    p = check_number("survival probability", p)
    if not 0.0 < p <= 1.0:
        raise ValueError(
            f"survival probability must be in (0, 1] (the chance a block is kept; 0 would "
            f"remove it), got {p}"
        )
    return p


def _per_sample(values: Tensor, like: Tensor) -> Tensor:
    """Reshape a ``(batch,)`` draw to broadcast over ``like``'s non-batch dimensions."""
    return values.reshape(-1, *([1] * (like.ndim - 1))).to(like.device, like.dtype)


def _uniform(like: Tensor, generator: torch.Generator) -> Tensor:
    u = torch.rand(like.shape[0], generator=generator, device=generator.device)
    return _per_sample(u, like)


@dataclass(frozen=True)
class NoiseModel:
    """Abstract base of the noise models: one block's SDE view and its random draws.

    Subclasses set ``name`` and ``branches`` (residual functions per block) and implement
    :meth:`drift`, :meth:`diffusion` and :meth:`sample`.
    """

    name: ClassVar[str] = ""
    branches: ClassVar[int] = 1

    def for_blocks(self, count: int) -> list[NoiseModel]:
        """The model of each of ``count`` consecutive blocks (a schedule may vary along depth)."""
        return [self] * check_int("count", count, 1)

    def sample(
        self, like: Tensor, h: float, generator: torch.Generator
    ) -> tuple[Any, Increment | None]:
        """Draw this block's random variables, ``(raw, ΔW)``, for a step whose output has the
        shape of ``like`` (batch first); ``ΔW = None`` when the draw carries no noise."""
        raise NotImplementedError

    def kept_rows(self, raw: Any) -> Tensor | None:
        """Indices of the samples a training step changes (``None``: all of them); the others
        have zero drift and diffusion, so a block may skip them."""
        return None

    def branch_outputs(
        self, fields: Sequence[nn.Module], x: Tensor, raw: Any, out: Tensor | None = None
    ) -> list[Tensor]:
        """Evaluate the branches ``F_i(x)`` (a model may skip samples it does not need);
        ``out`` has the branches' output shape (``x``'s when ``None``)."""
        return [field(x) for field in fields]

    def drift(self, outputs: Sequence[Tensor], h: float) -> Tensor:
        """``a``: the expected update per unit step, ``E[step - x] / h``."""
        raise NotImplementedError

    def diffusion(self, outputs: Sequence[Tensor], h: float) -> Tensor:
        """``b``: the noise amplitude multiplying ``ΔW`` (variance ``h``)."""
        raise NotImplementedError

    def describe(self, h: float = 1.0) -> str:
        """The block's SDE in words, at step ``h``."""
        raise NotImplementedError


@dataclass(frozen=True)
class ShakeShake(NoiseModel):
    """Shake-shake regularisation (Gastaldi 2017) as Euler–Maruyama (Lu et al. 2018, §3.1).

    Two branches; training ``x + η F1 + (1 - η) F2`` with ``η ~ U(0, 1)`` per sample,
    evaluation ``x + ½ (F1 + F2)``. SDE: ``dX = ½ (g1 + g2) dt + sqrt(h / 12) (g1 - g2) dB``
    with ``F_i = h g_i``; the increment ``sqrt(12 h) (η - ½)`` has mean 0 and variance ``h``.

    Args:
        independent_backward: draw a second ``β ~ U(0, 1)`` per sample for the backward pass
            (gradients ``β`` and ``1 - β`` to the branches; Gastaldi's "Shake-Shake"), instead
            of backpropagating with the forward ``η`` ("Shake-Keep").
    """

    name: ClassVar[str] = "shake_shake"
    branches: ClassVar[int] = 2
    independent_backward: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.independent_backward, bool):
            raise TypeError(
                f"independent_backward must be a bool, got {self.independent_backward!r}"
            )

    def sample(self, like, h, generator):
        scale = math.sqrt(12.0 * h)
        eta = _uniform(like, generator)
        forward = (eta - 0.5) * scale
        backward = None
        if self.independent_backward:
            backward = (_uniform(like, generator) - 0.5) * scale
        return eta, Increment(forward, backward)

    def drift(self, outputs, h):
        first, second = outputs
        return (first + second) * (0.5 / h)

    def diffusion(self, outputs, h):
        first, second = outputs
        return (first - second) * (math.sqrt(h / 12.0) / h)

    def describe(self, h=1.0):
        return (
            f"shake-shake: dX = 1/2 (g1 + g2) dt + sqrt(h/12) (g1 - g2) dB, "
            f"sqrt(h/12) = {math.sqrt(h / 12.0):.4g} at h = {h:g}"
        )


#: Stochastic-depth survival schedules (see :class:`StochasticDepth`).
SD_SCHEDULES = ("linear", "linspace", "constant")


@dataclass(frozen=True)
class StochasticDepth(NoiseModel):
    """Stochastic depth (Huang et al. 2016) as Euler–Maruyama (Lu et al. 2018, §3.1).

    Training ``x + β c F`` with ``β ~ Bernoulli(p)``, evaluation ``x + p c F``, where the
    branch scale ``c`` is 1 (``rescale="test"``, Huang et al.: evaluation scales by ``p``) or
    ``1 / p`` (``rescale="train"``, "inverted" stochastic depth: the survivors are rescaled
    in training and evaluation is ``x + F``, as in Lu et al.'s LM-ResNet code and timm's
    DropPath). SDE: ``dX = p c g dt + c sqrt(h p (1 - p)) g dB``; the increment
    ``(β - p) sqrt(h / (p (1 - p)))`` has mean 0 and variance ``h``.

    Args:
        survival: the survival probability ``p`` in (0, 1]: of the last block for the
            ``"linear"`` and ``"linspace"`` schedules (``p_L``), of every block for
            ``"constant"``.
        schedule: ``"linear"``: ``p_l = 1 - (l / L)(1 - p_L)``, ``l = 1..L`` (Huang et al.'s
            code, ``lin_decay``); ``"linspace"``: ``p_i = 1 - (i / (L - 1))(1 - p_L)``,
            ``i = 0..L-1`` — the first block always kept (Lu et al.'s code, death rate
            ``i / (n - 1) (1 - p_L)``; timm's ``drop_path_rate`` schedule); ``"constant"``.
        per: ``"sample"`` (one gate per sample, Lu et al.'s SDE reading; torchvision's
            ``mode="row"``) or ``"batch"`` (one gate per block and mini-batch, as in Huang
            et al.'s and Lu et al.'s code).
        rescale: ``"test"`` or ``"train"`` (see above).
        compute: where ``F`` is evaluated in training: ``"kept"`` — only on the rows that
            are kept (a block dropped for the whole batch is skipped outright, as in Huang et
            al.'s code; per sample, BatchNorm inside ``F`` then normalises over the kept
            rows only), so training costs about the mean survival of the full compute;
            ``"all"`` — on the whole batch, then masked (torchvision's
            ``stochastic_depth``: BatchNorm sees every row and its running statistics are
            updated at every step).
    """

    name: ClassVar[str] = "stochastic_depth"
    branches: ClassVar[int] = 1
    survival: float = 0.5
    schedule: str = "linear"
    per: str = "sample"
    rescale: str = "test"
    compute: str = "kept"

    def __post_init__(self) -> None:
        object.__setattr__(self, "survival", _check_survival(self.survival))
        check_choice("stochastic depth schedule", self.schedule, SD_SCHEDULES)
        check_choice("stochastic depth per", self.per, ("sample", "batch"))
        check_choice("stochastic depth rescale", self.rescale, ("test", "train"))
        check_choice("stochastic depth compute", self.compute, ("kept", "all"))

    def for_blocks(self, count):
        if self.schedule == "constant":
            return super().for_blocks(count)
        schedule = linear_survival if self.schedule == "linear" else linspace_survival
        return [
            replace(self, survival=p, schedule="constant") for p in schedule(count, self.survival)
        ]

    def _p(self) -> float:
        if self.schedule != "constant":
            raise ValueError(
                f"a {self.schedule!r} stochastic-depth schedule describes a stack of blocks; "
                "use for_blocks(L) to get each block's own survival probability"
            )
        return self.survival

    def _scale(self) -> float:
        """The branch scale ``c``: ``1 / p`` when survivors are rescaled in training."""
        return 1.0 / self._p() if self.rescale == "train" else 1.0

    def sample(self, like, h, generator):
        p = self._p()
        if p == 1.0:  # always kept: no noise (the step is the Euler step of the drift)
            return None, None
        size = like.shape[0] if self.per == "sample" else 1
        keep = torch.rand(size, generator=generator, device=generator.device) < p
        gate = _per_sample(keep.expand(like.shape[0]), like)
        return keep, Increment((gate - p) * math.sqrt(h / (p * (1.0 - p))))

    def kept_rows(self, raw):
        if raw is None or self.compute == "all":
            return None
        if raw.numel() == 1:  # per="batch": the whole block is kept or dropped
            return None if bool(raw) else raw.new_zeros(0, dtype=torch.long)
        if bool(raw.all()):
            return None
        return raw.nonzero().squeeze(1)

    def branch_outputs(self, fields, x, raw, out=None):
        (field,) = fields
        keep = raw
        if raw is None or self.compute == "all" or bool(keep.all()):
            return [field(x)]
        if keep.numel() == 1 or not bool(keep.any()):  # whole block dropped: skip F
            return [(x if out is None else out).new_zeros(()).expand_as(x if out is None else out)]
        index = keep.nonzero().squeeze(1).to(x.device)
        kept = field(x.index_select(0, index))
        full = kept.new_zeros((x.shape[0], *kept.shape[1:]))
        return [full.index_copy(0, index, kept)]

    def drift(self, outputs, h):
        (out,) = outputs
        if self.rescale == "train":  # p c / h = 1 / h
            return out if h == 1.0 else out / h
        # p c / h = p / h; p is not compared with anything, so that under torch.compile one
        # graph serves every block of a survival schedule (p a graph input, not a constant)
        return out * (self._p() / h)

    def diffusion(self, outputs, h):
        (out,) = outputs
        p = self._p()
        return out * (self._scale() * math.sqrt(h * p * (1.0 - p)) / h)

    def describe(self, h=1.0):
        p = self.survival
        c = "" if self.rescale == "test" else " (survivors rescaled by 1/p in training)"
        return (
            f"stochastic depth (p = {p:.4g}){c}: dX = p c g dt + c sqrt(h p (1-p)) g dB, "
            f"sqrt(h p (1-p)) = {math.sqrt(h * p * (1 - p)):.4g} at h = {h:g}"
        )


@dataclass(frozen=True)
class GaussianNoise(NoiseModel):
    """Gaussian noise injection: training ``x + F + σ ΔB``, ``ΔB ~ N(0, h)`` per element;
    evaluation ``x + F``. Euler–Maruyama for the additive-noise SDE ``dX = g dt + σ dB``.

    Args:
        sigma: the noise level ``σ`` (>= 0), per unit time.
    """

    name: ClassVar[str] = "gaussian"
    branches: ClassVar[int] = 1
    sigma: float = 0.1

    def __post_init__(self) -> None:
        sigma = check_number("sigma", self.sigma)
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0 (a noise amplitude), got {sigma}")
        object.__setattr__(self, "sigma", sigma)

    def sample(self, like, h, generator):
        z = torch.randn(like.shape, generator=generator, device=generator.device)
        return None, Increment(z.to(like.device, like.dtype) * math.sqrt(h))

    def drift(self, outputs, h):
        (out,) = outputs
        return out if h == 1.0 else out / h

    def diffusion(self, outputs, h):
        (out,) = outputs
        return torch.full_like(out, self.sigma)

    def describe(self, h=1.0):
        return f"gaussian: dX = g dt + sigma dB, sigma = {self.sigma:g}"


#: Noise model names for ``SolverNet(noise=...)`` and their classes (default settings).
NOISES: dict[str, type[NoiseModel]] = {
    "shake_shake": ShakeShake,
    "stochastic_depth": StochasticDepth,
    "gaussian": GaussianNoise,
}


def get_noise(noise: str | NoiseModel) -> NoiseModel:
    """A noise model from its name (default settings) or a :class:`NoiseModel` (returned)."""
    if isinstance(noise, NoiseModel):
        if type(noise) is NoiseModel:
            raise TypeError("NoiseModel is abstract; use ShakeShake, StochasticDepth, ...")
        return noise
    if not isinstance(noise, str):
        raise TypeError(
            f"noise must be a name, one of {sorted(NOISES)}, or a NoiseModel; "
            f"got {type(noise).__name__}"
        )
    if noise not in NOISES:
        raise unknown_name("noise", noise, NOISES)
    return NOISES[noise]()


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

    def __getstate__(self) -> dict:
        # torch.Generator does not pickle: keep its device and state (models deep-copy,
        # pickle and work under EMA / SWA)
        return {"device": str(self._generator.device), "state": self._generator.get_state()}

    def __setstate__(self, state: dict) -> None:
        generator = torch.Generator(device=state["device"])
        generator.set_state(state["state"])
        self._generator = generator

    def __repr__(self) -> str:
        return f"NoiseSource(device={self._generator.device})"
