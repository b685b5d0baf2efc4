"""The stepper protocol and the family table that :func:`prepare` dispatches on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from ..schemes import Scheme, get_scheme

__all__ = ["StageField", "Stepper", "prepare", "register_family"]

#: ``f(stage, t, y) -> dy/dt``; ``stage`` indexes the evaluation within one step.
StageField = Callable[[int, Any, Tensor], Tensor]
#: ``step(f, t, y, h, state) -> (y_next, state)``
Stepper = Callable[[StageField, Any, Tensor, Any, Any], tuple[Tensor, Any]]

_FAMILIES: dict[str, Callable[[Scheme, dict], Stepper]] = {}


def register_family(family: str) -> Callable:
    """Register the function that binds a scheme of ``family`` (and its parameters) to a
    stepper. One per family; the family's module calls it at import."""

    def deco(fn: Callable[[Scheme, dict], Stepper]) -> Callable[[Scheme, dict], Stepper]:
        if family in _FAMILIES:
            raise ValueError(f"family {family!r} already has a step function")
        _FAMILIES[family] = fn
        return fn

    return deco


def prepare(scheme: str | Scheme, params: dict | None = None) -> Stepper:
    """Bind ``scheme`` (with coefficient ``params``, e.g. ``{"k": k}`` for ``lm``) to a stepper
    ``step(f, t, y, h, state) -> (y_next, state)``. Bind once per trajectory; ``state`` starts
    as ``None`` and is whatever the family threads between steps (multistep: its history)."""
    scheme = get_scheme(scheme)
    try:
        bind = _FAMILIES[scheme.family]
    except KeyError:
        raise ValueError(
            f"scheme {scheme.name!r} belongs to family {scheme.family!r}, which has no step "
            f"function; families with one: {sorted(_FAMILIES)}"
        ) from None
    return bind(scheme, dict(params or {}))
