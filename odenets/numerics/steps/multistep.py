"""Explicit linear multistep steps (family ``multistep``): AB2 and the LM-ResNet scheme.

The step threads its history (past states and slopes) as explicit state, restarts with a
forward Euler step when the history is shorter than it needs, and so wants a uniform grid.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

from torch import Tensor

from ..families import Family, register_family
from ..schemes import Coefficient, Scheme, register_scheme
from ..tableau import MultistepCoefficients
from ._ops import axpy, scale
from .base import StageField

__all__ = ["History", "lm_weights", "multistep"]


class History(NamedTuple):
    """Past points of a multistep method, newest first: ``ys = (y_{n-1}, ...)``,
    ``fs = (f_{n-1}, ...)``. An empty history means "start here" (an Euler step)."""

    ys: tuple[Tensor, ...] = ()
    fs: tuple[Tensor, ...] = ()


def multistep(
    a: tuple, b: tuple, f: StageField, t: Any, y: Tensor, h: Any, history: History | None
) -> tuple[Tensor, History]:
    """One explicit linear multistep step ``y_{n+1} = sum_j a_j y_{n-j} + h sum_j b_j f_{n-j}``.

    While the history is shorter than the method needs (the first step of a trajectory, or of a
    network stage after a resolution change) the step is forward Euler, as in the LM-ResNet
    reference implementation. One evaluation of ``f`` per step; ``a``, ``b`` may hold tensors
    (learned coefficients).
    """
    history = history or History()
    fy = f(0, t, y)
    keep = len(a) - 1
    if len(history.ys) < keep:
        y1 = axpy(y, h, fy)
    else:
        y1 = scale(a[0], y)
        for aj, yj in zip(a[1:], history.ys, strict=False):
            y1 = axpy(y1, aj, yj)
        slope = scale(b[0], fy)
        for bj, fj in zip(b[1:], history.fs, strict=False):
            slope = axpy(slope, bj, fj)
        y1 = axpy(y1, h, slope)
    return y1, History((y, *history.ys)[:keep], (fy, *history.fs)[:keep])


def _step(a: tuple, b: tuple, f: StageField, t: Any, y: Tensor, h: Any, state: Any):
    return multistep(a, b, f, t, y, h, state)


def _bind(scheme: Scheme, coefficients: dict, options: dict):
    numbers = scheme.numbers(coefficients)
    if isinstance(numbers, MultistepCoefficients):
        a, b = numbers.a, numbers.b
    else:
        a, b = numbers
        if all(isinstance(v, int | float) for v in coefficients.values()):
            MultistepCoefficients(a=a, b=b)  # plain numbers: consistency and zero-stability
    return partial(_step, tuple(a), tuple(b))


register_family(
    Family(
        name="multistep",
        bind=_bind,
        tableau=MultistepCoefficients,
        history=True,
        euler_start=True,
        noise="slope",
        description="explicit linear multistep: history as state, Euler start",
    )
)


def lm_weights(k: Any) -> tuple[tuple, tuple]:
    """LM-ResNet two-step weights: ``y_{n+1} = (1-k) y_n + k y_{n-1} + (1+k) h f(y_n)``.

    The factor ``(1 + k)`` makes the step consistent (order 1 for ``-1 < k <= 1``); at
    ``k = 0`` it is Euler (ResNet), at ``k = 1`` the second-order leapfrog step
    ``y_{n+1} = y_{n-1} + 2 h f(y_n)``. ``k`` may be a tensor (a learned coefficient).
    """
    return (1 - k, k), (1 + k, 0.0)


register_scheme(
    Scheme(
        name="ab2",
        family="multistep",
        order=2,
        stages=1,
        architecture="Adams–Bashforth two-step block",
        reference="Bashforth & Adams 1883",
        tableau=MultistepCoefficients(a=(1, 0), b=(3 / 2, -1 / 2)),
        description="y_{n+1} = y_n + h (3/2 f_n - 1/2 f_{n-1}); Euler start",
    )
)
register_scheme(
    Scheme(
        name="lm",
        family="multistep",
        order=1,
        stages=1,
        architecture="LM-ResNet (Lu et al. 2018), consistent form: F scaled by (1+k)",
        reference="Lu, Zhong, Li, Dong, ICML 2018 (arXiv 1710.10121)",
        tableau=MultistepCoefficients(*lm_weights(0.5)),
        tableau_of=lm_weights,
        # Blocks start near k = 0 (the ResNet step), as in the LM-ResNet reference code.
        coefficients={
            "k": Coefficient(
                0.5,
                low=-1.0,
                high=1.0,
                closed=(False, True),
                init=(-0.1, 0.0),
                why="consistent and zero-stable for -1 < k <= 1",
            )
        },
        description="(1-k) y_n + k y_{n-1} + (1+k) h f_n; order 2 at k = 1 (leapfrog); Euler start",
    )
)
