"""Euler–Maruyama steps (family ``stochastic``): SDE integration and noisy network blocks.

One step of the Itô SDE ``dX = a(t, X) dt + b(t, X) ⊙ dW`` (diagonal noise) is

    ``y1 = y + h a(t, y) + b(t, y) ⊙ ΔW``,   ``E[ΔW] = 0``, ``Var[ΔW] = h``,

with ``a = f(0, t, y)`` (drift) and ``b = f(1, t, y)`` (diffusion). Strong order 1/2, weak
order 1 (Kloeden & Platen 1992, §10.2 and §14.1); with no increment (``ΔW = None``, an ODE, or
a network in evaluation mode) it is forward Euler on the drift, order 1.

The increment need not be Gaussian: any ``ΔW`` with mean 0 and variance ``h`` keeps weak
order 1. Shake-shake (``ΔW = sqrt(12 h) (η - 1/2)``, ``η ~ U(0, 1)``) and stochastic depth
(``ΔW = (β - p) sqrt(h / (p (1 - p)))``, ``β ~ Bernoulli(p)``) are such steps (Lu et al. 2018,
§3). An :class:`Increment` may carry a second value used only by the backward pass, which
gives Gastaldi's "shake-shake" variant with an independent backward coefficient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..families import Family, register_family
from ..schemes import Scheme, register_scheme
from ._ops import axpy
from .base import StageField

__all__ = ["Increment", "NoiseDraw", "diffuse", "euler_maruyama", "noisy_slope"]


class Increment(NamedTuple):
    """A Brownian-type increment ``ΔW`` for one step.

    Attributes:
        forward: the value of ``ΔW`` (broadcast against the diffusion ``b``).
        backward: if given, gradients flow through ``b ⊙ ΔW`` as if ``ΔW`` were this value
            (Gastaldi's shake-shake "shake" backward pass); ``None``: ordinary autograd.
    """

    forward: Tensor
    backward: Tensor | None = None


#: A noise source for one step: ``draw(t, y, h) -> ΔW``.
NoiseDraw = Callable[[Any, Tensor, Any], "Tensor | Increment"]


class _Shake(torch.autograd.Function):
    """``b * forward`` whose gradient with respect to ``b`` is ``grad * backward``."""

    @staticmethod
    def forward(ctx, b: Tensor, forward: Tensor, backward: Tensor) -> Tensor:
        ctx.save_for_backward(backward)
        ctx.shape = b.shape
        return b * forward

    @staticmethod
    def backward(ctx, grad: Tensor):
        (backward,) = ctx.saved_tensors
        return (grad * backward).sum_to_size(ctx.shape), None, None


def diffuse(b: Tensor, dw: Tensor | Increment) -> Tensor:
    """The noise term ``b ⊙ ΔW`` (with the increment's own backward value, if it has one)."""
    if isinstance(dw, Increment):
        if dw.backward is None:
            return b * dw.forward
        return _Shake.apply(b, dw.forward, dw.backward)
    return b * dw


def noisy_slope(a: Tensor, b: Tensor, dw: Tensor | Increment | None, h: Any) -> Tensor:
    """The random slope ``a + b ⊙ ΔW / h`` whose Euler step is the Euler–Maruyama step.

    Schemes of other families (the ``lm`` multistep scheme) take noise through it: the
    stochastic LM-ResNet of Lu et al. (2018, §3.2) is the multistep step on this slope.
    """
    if dw is None:
        return a
    return a + diffuse(b, dw) / h


def euler_maruyama(
    f: StageField, t: Any, y: Tensor, h: Any, dw: Tensor | Increment | None
) -> Tensor:
    """One Euler–Maruyama step ``y + h f(0, t, y) + f(1, t, y) ⊙ ΔW``.

    Strong order 1/2, weak order 1; one drift and (with noise) one diffusion evaluation.
    ``dw = None`` is forward Euler on the drift (the diffusion is not evaluated).
    """
    y1 = axpy(y, h, f(0, t, y))
    if dw is None:
        return y1
    b = f(1, t, y)
    if isinstance(dw, Increment) and dw.backward is None:
        dw = dw.forward
    if isinstance(dw, Tensor):
        return torch.addcmul(y1, b, dw)  # y1 + b * dW in one fused kernel
    return y1 + diffuse(b, dw)


def _step(f, t, y, h, state):
    # state: None (no noise), this step's increment (consumed), or a source drawing one.
    if state is None or isinstance(state, Tensor | Increment):
        return euler_maruyama(f, t, y, h, state), None
    if callable(state):
        return euler_maruyama(f, t, y, h, state(t, y, h)), state
    raise TypeError(
        f"an Euler–Maruyama step takes as state None, an increment (Tensor or Increment) "
        f"or a noise source draw(t, y, h), got {type(state).__name__}"
    )


def _bind(scheme: Scheme, coefficients: dict, options: dict):
    return _step


register_family(
    Family(
        name="stochastic",
        bind=_bind,
        slots=2,  # the drift (slot 0) and the diffusion (slot 1)
        noise="increment",
        description="Euler–Maruyama: drift and diffusion slots, the Brownian increment as state",
    )
)

register_scheme(
    Scheme(
        name="euler_maruyama",
        family="stochastic",
        order=1,
        stages=1,
        architecture="shake-shake (Gastaldi 2017) and stochastic depth (Huang et al. 2016) blocks",
        reference="Maruyama 1955; as network blocks: Lu, Zhong, Li, Dong, ICML 2018 §3",
        strong_order=0.5,
        weak_order=1,
        description="y + h a(t, y) + b(t, y) ⊙ ΔW; strong order 0.5, weak order 1; "
        "without noise it is forward Euler (order 1 on ODEs)",
    )
)
