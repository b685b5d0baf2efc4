"""Störmer–Verlet steps (family ``verlet``): leapfrog on a partitioned state ``y = (u, v)``.

One step (the "position" form, a drift–kick–drift)::

    u_½ = u   + (h/2) f_u(t,       u,   v )        slot 0
    v1  = v   +  h    f_v(t + h/2, u_½, v )        slot 1
    u1  = u_½ + (h/2) f_u(t + h,   u_½, v1)        slot 0 again

Three evaluations of two fields. On separable systems ``u' = f(v), v' = g(u)`` it is the
symmetric composition of the two symplectic Euler half-steps: second order, time-reversible,
exactly invertible (:func:`verlet_inverse`), and symplectic when ``(f, g)`` is a Hamiltonian
field (Hairer, Lubich & Wanner, *Geometric Numerical Integration*, §I.1.4). On general
partitioned systems it is only first order, which the family declares (``order_on``).

Chang et al. (AAAI 2018) call the update of their Hamiltonian networks, ``Y' = Y + h F(Z)``,
``Z' = Z + h G(Y')``, the Verlet scheme: it is this leapfrog with ``Z`` on the half-step grid,
i.e. one ``coupled_euler`` step per layer (see docs/models.md).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..families import Family, register_family
from ..schemes import Scheme, register_scheme
from ._ops import axpy, shift
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

__all__ = ["verlet", "verlet_inverse"]


def verlet(f: StageField, t: Any, y: Tensor, h: Any, dim: int | None = None) -> Tensor:
    """One Störmer–Verlet step (drift–kick–drift) on ``y = (u, v)``."""
    dim = split_dim(y, dim)
    u, v = halves(y, dim)
    half = 0.5 * h
    if reads_half(f):  # separable: f_u reads v only, f_v reads u only
        u = axpy(u, half, f(0, t, v))
        v = axpy(v, h, f(1, shift(t, 0.5, h), u))
        return join(axpy(u, half, f(0, shift(t, 1.0, h), v)), v, dim)
    u = axpy(u, half, rate_of(f(0, t, y), 0, y, dim))
    v = axpy(v, h, rate_of(f(1, shift(t, 0.5, h), join(u, v, dim)), 1, y, dim))
    mid = join(u, v, dim)
    u = axpy(u, half, rate_of(f(0, shift(t, 1.0, h), mid), 0, y, dim))
    return join(u, v, dim)


def verlet_inverse(f: StageField, t: Any, y1: Tensor, h: Any, dim: int | None = None) -> Tensor:
    """Undo :func:`verlet` for a separable system (``f_u`` reads only ``v``, ``f_v`` only
    ``u``): the three sub-steps backwards, exact up to rounding."""
    dim = split_dim(y1, dim)
    u, v = halves(y1, dim)
    half = 0.5 * h
    if reads_half(f):
        u = axpy(u, -half, f(0, shift(t, 1.0, h), v))
        v = axpy(v, -h, f(1, shift(t, 0.5, h), u))
        return join(axpy(u, -half, f(0, t, v)), v, dim)
    u = axpy(u, -half, rate_of(f(0, shift(t, 1.0, h), y1), 0, y1, dim))
    v = axpy(v, -h, rate_of(f(1, shift(t, 0.5, h), join(u, v, dim)), 1, y1, dim))
    mid = join(u, v, dim)
    u = axpy(u, -half, rate_of(f(0, t, mid), 0, y1, dim))
    return join(u, v, dim)


register_family(
    Family(
        name="verlet",
        bind=partitioned_binder(verlet),
        check_options=partition_options,
        slots=2,
        invert=partitioned_binder(verlet_inverse),
        partitioned=True,
        order_on="separable",
        # a stage transition changes the resolution: the second drift of a Verlet step would
        # reuse the strided field in the new space, so transitions are symplectic Euler steps
        transition="coupled_euler",
        description="Störmer–Verlet (leapfrog) on (u, v): order 2, symplectic on separable systems",
    )
)

register_scheme(
    Scheme(
        name="verlet",
        family="verlet",
        order=2,
        stages=3,
        architecture="Hamiltonian / leapfrog reversible block (Chang et al. 2018): "
        "u + h/2 F(v), v + h G(u), u + h/2 F(v)",
        reference="Störmer 1907, Verlet 1967; as networks: Chang, Meng, Haber, Ruthotto, "
        "Begert, Holtham, AAAI 2018",
        options={"dim": None},
        description="drift–kick–drift on y = (u, v); order 2, time-reversible and exactly "
        "invertible on separable systems u' = f(v), v' = g(u)",
    )
)
