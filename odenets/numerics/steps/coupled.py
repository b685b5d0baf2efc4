"""Partitioned steps (family ``coupled``): symplectic Euler, the RevNet block.

The state is split into two halves ``y = (u, v)`` along one dimension (option ``dim``;
``None`` means dim 1 — channels — for states of rank >= 2 and dim 0 for vectors)::

    u1 = u + h f_u(t, u, v)
    v1 = v + h f_v(t, u1, v)

One step costs two evaluations (stage 0 gives ``f_u``, stage 1 ``f_v``); the order is 1. A stage
field ``f(stage, t, y)`` gets the whole current state and returns either the rate of the
whole state (its own half is taken, as for ``odeint`` with a full vector field) or only the
rate of its own half (network fields ``C/2 -> C/2``).

When ``f_u`` reads only ``v`` and ``f_v`` only ``u`` (a separable system
``u' = F(v), v' = G(u)``), the step is RevNet's reversible block (Gomez et al. 2017)
``y1 = x1 + F(x2), y2 = x2 + G(y1)`` and is exactly invertible: :func:`coupled_inverse`.
:func:`stage_input` is the half a separable stage reads.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..schemes import Scheme
from ._ops import axpy
from .base import StageField, Stepper, register_family, register_inverse

__all__ = ["coupled_euler", "coupled_inverse", "split_dim", "stage_input"]


def split_dim(y: Tensor, dim: int | None) -> int:
    """The (non-negative) dimension ``y`` is split along; its size must be even."""
    if dim is None:
        dim = 1 if y.ndim >= 2 else 0
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim must be an int or None, got {type(dim).__name__} {dim!r}")
    if not -y.ndim <= dim < y.ndim:
        raise ValueError(
            f"a coupled step splits the state along dim={dim}, but the state has shape "
            f"{tuple(y.shape)}; pass options={{'dim': ...}} with a valid dimension"
        )
    dim %= y.ndim
    if y.shape[dim] % 2:
        raise ValueError(
            f"a coupled step splits the state into two equal halves along dim {dim}, which "
            f"needs an even size, got shape {tuple(y.shape)}"
        )
    return dim


def _halves(y: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    n = y.shape[dim] // 2
    return y.narrow(dim, 0, n), y.narrow(dim, n, n)


def stage_input(stage: int, y: Tensor, dim: int | None = None) -> Tensor:
    """The half of ``y`` a separable stage reads: ``v`` for stage 0 (``F``), ``u`` for stage 1
    (``G``)."""
    u, v = _halves(y, split_dim(y, dim))
    return v if stage == 0 else u


def _rate(k: Tensor, part: int, y: Tensor, dim: int) -> Tensor:
    """The rate of half ``part`` from a stage value ``k`` of full or half shape."""
    if k.shape == y.shape:
        return _halves(k, dim)[part]
    half = list(y.shape)
    half[dim] //= 2
    if list(k.shape) != half:
        raise ValueError(
            f"a coupled stage must return the rate of the whole state {tuple(y.shape)} or of "
            f"its half {tuple(half)}, got {tuple(k.shape)}"
        )
    return k


def coupled_euler(f: StageField, t: Any, y: Tensor, h: Any, dim: int | None = None) -> Tensor:
    """One partitioned Euler step ``u1 = u + h f_u(u, v)``, ``v1 = v + h f_v(u1, v)``."""
    dim = split_dim(y, dim)
    u, v = _halves(y, dim)
    u1 = axpy(u, h, _rate(f(0, t, y), 0, y, dim))
    mid = torch.cat((u1, v), dim)
    v1 = axpy(v, h, _rate(f(1, t, mid), 1, y, dim))
    return torch.cat((u1, v1), dim)


def coupled_inverse(f: StageField, t: Any, y1: Tensor, h: Any, dim: int | None = None) -> Tensor:
    """Undo :func:`coupled_euler` for a separable system: ``v = v1 - h f_v(u1)``,
    ``u = u1 - h f_u(v)`` (RevNet's reconstruction). Exact up to rounding only when ``f_u``
    reads only ``v`` and ``f_v`` only ``u``."""
    dim = split_dim(y1, dim)
    u1, v1 = _halves(y1, dim)
    v = axpy(v1, -h, _rate(f(1, t, y1), 1, y1, dim))
    mid = torch.cat((u1, v), dim)
    u = axpy(u1, -h, _rate(f(0, t, mid), 0, y1, dim))
    return torch.cat((u, v), dim)


def _dim(scheme: Scheme, params: dict) -> int | None:
    _, options = scheme.split(params)
    dim = options["dim"]
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int)):
        raise TypeError(f"dim must be an int or None, got {type(dim).__name__} {dim!r}")
    return dim


@register_family("coupled")
def _bind(scheme: Scheme, params: dict) -> Stepper:
    dim = _dim(scheme, params)

    def step(f, t, y, h, state):
        return coupled_euler(f, t, y, h, dim), state

    return step


@register_inverse("coupled")
def _bind_inverse(scheme: Scheme, params: dict):
    dim = _dim(scheme, params)

    def inverse(f, t, y1, h):
        return coupled_inverse(f, t, y1, h, dim)

    return inverse
