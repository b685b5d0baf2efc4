"""Explicit Runge–Kutta steps (family ``explicit_rk``): Euler, midpoint, Heun, RK4, ..."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..schemes import Scheme
from ..tableau import ButcherTableau
from ._ops import axpy, shift
from .base import StageField, Stepper, register_family

__all__ = ["explicit_rk"]


def explicit_rk(tableau: ButcherTableau, f: StageField, t: Any, y: Tensor, h: Any) -> Tensor:
    """One explicit Runge–Kutta step: ``k_i = f(i, t + c_i h, y + h sum_{j<i} a_ij k_j)``,
    ``y1 = y + h sum_i b_i k_i``. Order and stages are those of ``tableau``; with one stage
    and ``h = 1`` it is the ResNet update ``y + F(y)``."""
    a, b, c = tableau.a, tableau.b, tableau.c
    ks: list[Tensor] = []
    for i in range(tableau.stages):
        yi = y
        for j in range(i):
            if a[i][j] != 0:
                yi = axpy(yi, a[i][j] * h, ks[j])
        ks.append(f(i, shift(t, c[i], h), yi))
    y1 = y
    for i in range(tableau.stages):
        if b[i] != 0:
            y1 = axpy(y1, b[i] * h, ks[i])
    return y1


@register_family("explicit_rk")
def _bind(scheme: Scheme, params: dict) -> Stepper:
    scheme.resolve(params)
    tableau = scheme.coefficients

    def step(f, t, y, h, state):
        return explicit_rk(tableau, f, t, y, h), state

    return step
