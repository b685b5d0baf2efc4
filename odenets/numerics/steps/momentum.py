"""Momentum steps (family ``momentum``): the update of Momentum ResNets (Sander et al. 2021).

The step carries a velocity ``v`` (a rate, shape of ``y``) as explicit state::

    v1 = gamma v + (1 - gamma) f(t, y)
    y1 = y + h v1

from ``v = 0`` at the start of a trajectory (or of a network stage). With ``h = 1`` it is the
Momentum ResNet block ``v <- gamma v + (1 - gamma) F(x), x <- x + v``; ``gamma = 0`` is ResNet.
Eliminating ``v`` gives the two-step scheme
``y_{n+1} = (1 + gamma) y_n - gamma y_{n-1} + (1 - gamma) h f_n`` — the heavy ball, i.e. the
``lm`` scheme with ``k = -gamma`` — consistent and zero-stable for ``0 <= gamma < 1``: order 1.
For ``gamma > 0`` the step is exactly invertible from ``(y1, v1)``:
``y = y1 - h v1``, ``v = (v1 - (1 - gamma) f(t, y)) / gamma`` (:func:`momentum_inverse`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from torch import Tensor

from ..families import Family, register_family
from ..schemes import Coefficient, Scheme, register_scheme
from ._ops import axpy, scale
from .base import StageField

__all__ = ["momentum", "momentum_inverse"]


def momentum(
    gamma: Any, f: StageField, t: Any, y: Tensor, h: Any, v: Tensor | None
) -> tuple[Tensor, Tensor]:
    """One momentum step from velocity ``v`` (``None``: zero); returns ``(y1, v1)``."""
    slope = scale(1 - gamma, f(0, t, y))
    v1 = slope if v is None else axpy(slope, gamma, v)
    return axpy(y, h, v1), v1


def momentum_inverse(
    gamma: Any, f: StageField, t: Any, y1: Tensor, h: Any, v1: Tensor
) -> tuple[Tensor, Tensor]:
    """Undo :func:`momentum`: ``(y, v)`` from ``(y1, v1)``; needs ``gamma > 0``."""
    if v1 is None:
        raise ValueError("inverting a momentum step needs its velocity v1 (the step's state)")
    if _zero(gamma):
        raise ValueError(
            "a momentum step with gamma = 0 is a ResNet step: its input velocity is lost, so "
            "it cannot be inverted; use gamma > 0"
        )
    y = axpy(y1, -h, v1)
    v = (v1 - scale(1 - gamma, f(0, t, y))) / gamma
    return y, v


def _zero(gamma: Any) -> bool:
    return isinstance(gamma, int | float) and gamma == 0


def _step(gamma, f, t, y, h, state):
    return momentum(gamma, f, t, y, h, state)


def _inverse(gamma, f, t, y1, h, state):
    return momentum_inverse(gamma, f, t, y1, h, state)


def _bind(scheme: Scheme, coefficients: dict, options: dict):
    return partial(_step, coefficients["gamma"])


def _bind_inverse(scheme: Scheme, coefficients: dict, options: dict):
    return partial(_inverse, coefficients["gamma"])


register_family(
    Family(
        name="momentum",
        bind=_bind,
        invert=_bind_inverse,
        history=True,
        # Momentum ResNets keep their downsampling blocks ordinary residual blocks; the
        # velocity restarts at zero in every stage
        transition="euler",
        description="velocity form of the heavy ball: v <- gamma v + (1-gamma) f, y <- y + h v",
    )
)

register_scheme(
    Scheme(
        name="momentum",
        family="momentum",
        order=1,
        stages=1,
        architecture="Momentum ResNet (Sander et al. 2021): v <- gamma v + (1 - gamma) F(x), "
        "x <- x + v; gamma = 0 is ResNet",
        reference="Sander, Ablin, Blondel, Peyré, ICML 2021 (arXiv 2102.07870)",
        coefficients={
            "gamma": Coefficient(
                0.9,
                low=0.0,
                high=1.0,
                closed=(True, False),
                learn=False,
                why="consistent and zero-stable for 0 <= gamma < 1",
            )
        },
        description="two-step heavy ball in velocity form (lm with k = -gamma); exactly "
        "invertible for gamma > 0; velocity starts at 0",
    )
)
