"""The stepper protocol and the family table that :func:`prepare` dispatches on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from ..schemes import Scheme, get_scheme

__all__ = [
    "StageField",
    "Stepper",
    "field_slots",
    "prepare",
    "prepare_inverse",
    "register_family",
    "register_inverse",
    "register_slots",
]

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


# --- optional per-family capabilities: field slots and exact inverses ----------------------

_SLOTS: dict[str, Callable[[Scheme, dict], int]] = {}
_INVERSES: dict[str, Callable[[Scheme, dict], Callable]] = {}


def register_slots(family: str) -> Callable:
    """Register ``slots(scheme, options) -> int`` for a family whose number of distinct stage
    indices depends on its options (implicit series: one per power of ``h F``)."""

    def deco(fn: Callable[[Scheme, dict], int]) -> Callable[[Scheme, dict], int]:
        _SLOTS[family] = fn
        return fn

    return deco


def field_slots(scheme: str | Scheme, params: dict | None = None) -> int:
    """How many distinct stage indices ``f(stage, ...)`` a step of ``scheme`` uses with
    ``params`` — the number of modules a block with one field per stage needs. Defaults to
    ``scheme.stages``."""
    scheme = get_scheme(scheme)
    slots = _SLOTS.get(scheme.family)
    return scheme.stages if slots is None else slots(scheme, dict(params or {}))


def register_inverse(family: str) -> Callable:
    """Register the binder of an exactly invertible family:
    ``bind(scheme, params) -> inverse(f, t, y1, h) -> y0``."""

    def deco(fn: Callable[[Scheme, dict], Callable]) -> Callable[[Scheme, dict], Callable]:
        _INVERSES[family] = fn
        return fn

    return deco


def prepare_inverse(scheme: str | Scheme, params: dict | None = None) -> Callable:
    """Bind the exact inverse ``inverse(f, t, y1, h) -> y0`` of one step of ``scheme``. A
    family without one is a ``ValueError`` naming the reversible schemes."""
    scheme = get_scheme(scheme)
    try:
        bind = _INVERSES[scheme.family]
    except KeyError:
        from ..schemes import list_schemes

        reversible = [n for n in list_schemes() if get_scheme(n).family in _INVERSES]
        raise ValueError(
            f"scheme {scheme.name!r} ({scheme.family}) has no exact inverse: a step of it "
            f"cannot be undone from its output; reversible schemes: {reversible}"
        ) from None
    return bind(scheme, dict(params or {}))
