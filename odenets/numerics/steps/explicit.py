"""Explicit Runge–Kutta steps (family ``explicit_rk``): Euler, midpoint, Heun, Ralston, Heun3,
RK4 and the 3/8 rule. One Butcher tableau each; the step is :func:`explicit_rk`."""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any

from torch import Tensor

from ..families import Family, register_family
from ..schemes import Scheme, register_scheme
from ..tableau import ButcherTableau
from ._ops import axpy, shift
from .base import StageField

__all__ = ["explicit_rk"]


def explicit_rk(tableau: ButcherTableau, f: StageField, t: Any, y: Tensor, h: Any) -> Tensor:
    """One explicit Runge–Kutta step: ``k_i = f(i, t + c_i h, y + h sum_{j<i} a_ij k_j)``,
    ``y1 = y + h sum_i b_i k_i``. Order and stages are those of ``tableau``; with one stage
    and ``h = 1`` it is the ResNet update ``y + F(y)``."""
    return _run(_plan(tableau), f, t, y, h)


_PLANS: dict[ButcherTableau, tuple[tuple, tuple]] = {}


def _plan(tableau: ButcherTableau) -> tuple[tuple, tuple]:
    """The tableau's nonzero entries, read once per tableau: per stage
    ``(c_i, ((j, a_ij), ...))``, and the nonzero weights ``((i, b_i), ...)`` — so a step
    loops over nothing else."""
    try:
        plan = _PLANS.get(tableau)
    except TypeError:  # an unhashable tableau (numbers that are tensors): no cache
        plan = None
    if plan is not None:
        return plan
    stages = tuple(
        (tableau.c[i], tuple((j, tableau.a[i][j]) for j in range(i) if tableau.a[i][j] != 0))
        for i in range(tableau.stages)
    )
    weights = tuple((i, b) for i, b in enumerate(tableau.b) if b != 0)
    if len(_PLANS) < 1024:  # registered tableaux are few
        with contextlib.suppress(TypeError):
            _PLANS[tableau] = (stages, weights)
    return stages, weights


def _run(plan: tuple[tuple, tuple], f: StageField, t: Any, y: Tensor, h: Any) -> Tensor:
    stages, weights = plan
    ks: list[Tensor] = []
    for i, (c, row) in enumerate(stages):
        yi = y
        for j, a in row:
            yi = axpy(yi, a * h, ks[j])
        ks.append(f(i, shift(t, c, h), yi))
    y1 = y
    for i, b in weights:
        y1 = axpy(y1, b * h, ks[i])
    return y1


def _step(plan: tuple[tuple, tuple], f: StageField, t: Any, y: Tensor, h: Any, state: Any):
    return _run(plan, f, t, y, h), state


def _bind(scheme: Scheme, coefficients: dict, options: dict):
    return partial(_step, _plan(scheme.numbers(coefficients)))


def _check(scheme: Scheme) -> None:
    if not scheme.tableau.explicit:
        raise ValueError(
            f"scheme {scheme.name!r}: family 'explicit_rk' needs a strictly lower-triangular "
            "tableau (each stage uses only earlier ones); this one has a nonzero diagonal or "
            "upper entry, i.e. it is implicit — register it with an implicit family"
        )


register_family(
    Family(
        name="explicit_rk",
        bind=_bind,
        tableau=ButcherTableau,
        check=_check,
        transition="euler",
        description="explicit Runge–Kutta: one tableau, stages evaluated in turn",
    )
)


def _rk(name, order, a, b, c, architecture, reference, description=""):
    tableau = ButcherTableau(a=a, b=b, c=c)
    register_scheme(
        Scheme(
            name=name,
            family="explicit_rk",
            order=order,
            stages=tableau.stages,
            architecture=architecture,
            reference=reference,
            tableau=tableau,
            description=description,
        )
    )


_RK2_ARCH = "RK2 two-stage block: two residual functions per step (Lu et al. 2018 §2)"
_RKNET = "RK-Net (Queiruga et al. 2020)"

_rk("euler", 1, [[]], [1], [0], "ResNet (He et al. 2016)", "Euler 1768", "forward Euler")
_rk(
    "midpoint",
    2,
    [[], [1 / 2]],
    [0, 1],
    [0, 1 / 2],
    _RK2_ARCH,
    "Runge 1895",
    "explicit midpoint, torchdiffeq 'midpoint'",
)
_rk(
    "heun",
    2,
    [[], [1]],
    [1 / 2, 1 / 2],
    [0, 1],
    _RK2_ARCH,
    "Heun 1900",
    "explicit trapezoid, torchdiffeq 'heun2'",
)
_rk(
    "ralston",
    2,
    [[], [2 / 3]],
    [1 / 4, 3 / 4],
    [0, 2 / 3],
    _RK2_ARCH,
    "Ralston 1962",
    "minimum-error-bound two-stage RK2",
)
_rk(
    "heun3",
    3,
    [[], [1 / 3], [0, 2 / 3]],
    [1 / 4, 0, 3 / 4],
    [0, 1 / 3, 2 / 3],
    _RKNET,
    "Heun 1900",
    "Heun's third-order method, torchdiffeq 'heun3'",
)
_rk(
    "rk4",
    4,
    [[], [1 / 2], [0, 1 / 2], [0, 0, 1]],
    [1 / 6, 1 / 3, 1 / 3, 1 / 6],
    [0, 1 / 2, 1 / 2, 1],
    _RKNET,
    "Kutta 1901",
    "classical fourth-order Runge–Kutta",
)
_rk(
    "rk38",
    4,
    [[], [1 / 3], [-1 / 3, 1], [1, -1, 1]],
    [1 / 8, 3 / 8, 3 / 8, 1 / 8],
    [0, 1 / 3, 2 / 3, 1],
    _RKNET,
    "Kutta 1901",
    "3/8 rule, torchdiffeq 'rk4'",
)
