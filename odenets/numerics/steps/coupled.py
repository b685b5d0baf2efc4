"""Partitioned Euler steps (family ``coupled``): symplectic Euler, the RevNet block.

On a state split into halves ``y = (u, v)`` (option ``dim``, see :mod:`._partition`)::

    u1 = u + h f_u(t, u, v)
    v1 = v + h f_v(t, u1, v)

Two evaluations per step (slot 0 gives ``f_u``, slot 1 ``f_v``); order 1. When ``f_u`` reads
only ``v`` and ``f_v`` only ``u`` (a separable system ``u' = F(v), v' = G(u)``) the step is
RevNet's reversible block (Gomez et al. 2017) ``y1 = x1 + F(x2), y2 = x2 + G(y1)`` and is
exactly invertible (:func:`coupled_inverse`).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..families import Family, register_family
from ..schemes import Scheme, register_scheme
from ._ops import axpy
from ._partition import (
    halves,
    join,
    partition_options,
    partitioned_binder,
    rate_of,
    reads_half,
    split_dim,
)
from .base import StageField

__all__ = ["coupled_euler", "coupled_inverse"]


def coupled_euler(f: StageField, t: Any, y: Tensor, h: Any, dim: int | None = None) -> Tensor:
    """One partitioned Euler step ``u1 = u + h f_u(u, v)``, ``v1 = v + h f_v(u1, v)``."""
    dim = split_dim(y, dim)
    u, v = halves(y, dim)
    if reads_half(f):  # separable: f_u reads v only, f_v reads u1 only
        u1 = axpy(u, h, f(0, t, v))
        return join(u1, axpy(v, h, f(1, t, u1)), dim)
    u1 = axpy(u, h, rate_of(f(0, t, y), 0, y, dim))
    v1 = axpy(v, h, rate_of(f(1, t, join(u1, v, dim)), 1, y, dim))
    return join(u1, v1, dim)


def coupled_inverse(f: StageField, t: Any, y1: Tensor, h: Any, dim: int | None = None) -> Tensor:
    """Undo :func:`coupled_euler` for a separable system: ``v = v1 - h f_v(u1)``,
    ``u = u1 - h f_u(v)`` (RevNet's reconstruction). Exact up to rounding only when ``f_u``
    reads only ``v`` and ``f_v`` only ``u``."""
    dim = split_dim(y1, dim)
    u1, v1 = halves(y1, dim)
    if reads_half(f):
        v = axpy(v1, -h, f(1, t, u1))
        return join(axpy(u1, -h, f(0, t, v)), v, dim)
    v = axpy(v1, -h, rate_of(f(1, t, y1), 1, y1, dim))
    u = axpy(u1, -h, rate_of(f(0, t, join(u1, v, dim)), 0, y1, dim))
    return join(u, v, dim)


register_family(
    Family(
        name="coupled",
        bind=partitioned_binder(coupled_euler),
        check_options=partition_options,
        slots=2,
        invert=partitioned_binder(coupled_inverse),
        partitioned=True,
        description="partitioned (symplectic) Euler on (u, v): RevNet",
    )
)

register_scheme(
    Scheme(
        name="coupled_euler",
        family="coupled",
        order=1,
        stages=2,
        architecture="RevNet (Gomez et al. 2017): y1 = x1 + F(x2), y2 = x2 + G(y1)",
        reference="symplectic Euler (de Vogelaere 1956); Gomez, Ren, Urtasun, Grosse, NeurIPS 2017",
        # dim: the split dimension of the state into halves (u, v); None: dim 1 (channels) for
        # states of rank >= 2, dim 0 for vectors.
        options={"dim": None},
        description="partitioned Euler on y = (u, v): u1 = u + h f_u(u, v), "
        "v1 = v + h f_v(u1, v); exactly invertible when f_u reads only v and f_v only u",
    )
)
