"""Explicit linear multistep steps (family ``multistep``): AB2 and the LM-ResNet scheme."""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor

from ..schemes import Scheme
from ._ops import axpy, scale
from .base import StageField, Stepper, register_family

__all__ = ["History", "multistep"]


class History(NamedTuple):
    """Past points of a multistep method, newest first: ``ys = (y_{n-1}, ...)``,
    ``fs = (f_{n-1}, ...)``. An empty history means "start here" (an Euler step)."""

    ys: tuple[Tensor, ...] = ()
    fs: tuple[Tensor, ...] = ()

    @classmethod
    def after_step(cls, y_prev: Tensor, f_prev: Tensor) -> History:
        """The history left by one step from ``y_prev`` with slope ``f_prev`` (e.g. a network's
        downsampling transition ``y = P(x) + h f`` seen as an Euler step from ``P(x)``)."""
        return cls((y_prev,), (f_prev,))


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


@register_family("multistep")
def _bind(scheme: Scheme, params: dict) -> Stepper:
    a, b = scheme.multistep_weights(params)

    def step(f, t, y, h, state):
        return multistep(a, b, f, t, y, h, state)

    return step
