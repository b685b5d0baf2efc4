"""Partitioned states ``y = (u, v)``: two equal halves along one dimension.

Shared by the partitioned families (``coupled``, ``verlet``): slot 0 is the rate of ``u``,
slot 1 the rate of ``v``. A stage field may return the rate of the whole state (its own half
is taken, as ``odeint`` with a full vector field does) or only the rate of its own half
(half-width network fields). For a separable system ``u' = f(v), v' = g(u)`` a half-width
field reads the *other* half: :func:`separable_input`.

A stage field with the attribute ``reads_half = True`` (:func:`reads_half`) declares itself
separable and is called with that half directly (slot 0 with ``v``, slot 1 with ``u``),
returning the rate of its own half: the same step without joining intermediate states into
one tensor only to split them again (RevNet blocks use this).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "halves",
    "join",
    "partition_options",
    "partitioned_binder",
    "rate_of",
    "reads_half",
    "separable_input",
    "split_dim",
]


def split_dim(y: Tensor, dim: int | None) -> int:
    """The (non-negative) dimension ``y`` is split along (``None``: dim 1, the channels, for
    states of rank >= 2 and dim 0 for vectors); its size must be even."""
    if dim is None:
        dim = 1 if y.ndim >= 2 else 0
    elif isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim must be an int or None, got {type(dim).__name__} {dim!r}")
    if not -y.ndim <= dim < y.ndim:
        raise ValueError(
            f"a partitioned step splits the state along dim={dim}, but the state has shape "
            f"{tuple(y.shape)}; pass options={{'dim': ...}} with a valid dimension"
        )
    dim %= y.ndim
    if y.shape[dim] % 2:
        raise ValueError(
            f"a partitioned step splits the state into two equal halves along dim {dim}, which "
            f"needs an even size, got shape {tuple(y.shape)}"
        )
    return dim


def halves(y: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """``(u, v)``: the two halves of ``y`` along ``dim`` (views)."""
    n = y.shape[dim] // 2
    return y.narrow(dim, 0, n), y.narrow(dim, n, n)


def join(u: Tensor, v: Tensor, dim: int) -> Tensor:
    """The state ``(u, v)`` as one tensor."""
    return torch.cat((u, v), dim)


def separable_input(slot: int, y: Tensor, dim: int | None = None) -> Tensor:
    """The half of ``y`` a separable slot reads: ``v`` for slot 0 (the rate of ``u``), ``u``
    for slot 1 (the rate of ``v``)."""
    dim = split_dim(y, dim)
    n = y.shape[dim] // 2
    return y.narrow(dim, n, n) if slot == 0 else y.narrow(dim, 0, n)


def reads_half(f: Callable) -> bool:
    """Whether stage field ``f`` is separable and takes the half of the state it reads (slot 0
    ``v``, slot 1 ``u``) instead of the whole state; see the module docstring."""
    return getattr(f, "reads_half", False)


def rate_of(k: Tensor, part: int, y: Tensor, dim: int) -> Tensor:
    """The rate of half ``part`` from a stage value ``k`` of full or half shape."""
    if k.shape == y.shape:
        n = k.shape[dim] // 2
        return k.narrow(dim, n * part, n)
    half = list(y.shape)
    half[dim] //= 2
    if list(k.shape) != half:
        raise ValueError(
            f"a partitioned stage must return the rate of the whole state {tuple(y.shape)} or "
            f"of its half {tuple(half)}, got {tuple(k.shape)}"
        )
    return k


def partition_options(scheme: Any, options: dict) -> dict:
    """Validate the ``dim`` option of a partitioned scheme."""
    dim = options["dim"]
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int)):
        raise TypeError(f"dim must be an int or None, got {type(dim).__name__} {dim!r}")
    return options


def _stateless(fn: Callable, dim: int | None, f: Callable, t: Any, y: Tensor, h: Any, state: Any):
    return fn(f, t, y, h, dim), state


def partitioned_binder(fn: Callable) -> Callable:
    """The binder of a stateless partitioned map ``fn(f, t, y, h, dim) -> y1`` (a step or its
    inverse): ``bind(scheme, coefficients, options) -> step(f, t, y, h, state)``; binder and
    step are partials of module functions, so a block holding them pickles."""
    return partial(_bind_stateless, fn)


def _bind_stateless(fn: Callable, scheme: Any, coefficients: dict, options: dict) -> Callable:
    return partial(_stateless, fn, options["dim"])
