"""The stepper protocol and the three ways to bind a scheme: :func:`prepare` (the step),
:func:`prepare_inverse` (its exact inverse) and :func:`field_slots` (how many fields it reads).

Every caller goes through these; the family's capabilities (:mod:`odenets.numerics.families`)
say what a scheme can do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor

from ..schemes import Scheme, get_scheme, list_schemes

__all__ = ["Inverse", "StageField", "Stepper", "field_slots", "prepare", "prepare_inverse"]

#: ``f(slot, t, y) -> dy/dt``; ``slot`` says which residual field the step evaluates (the
#: Runge–Kutta stage, the power of an implicit series, the drift (0) or diffusion (1) of an
#: SDE step, the half of a partitioned state).
StageField = Callable[[int, Any, Tensor], Tensor]
#: ``step(f, t, y, h, state) -> (y_next, state)``
Stepper = Callable[[StageField, Any, Tensor, Any, Any], tuple[Tensor, Any]]
#: ``inverse(f, t, y1, h, state1) -> (y0, state0)``
Inverse = Callable[[StageField, Any, Tensor, Any, Any], tuple[Tensor, Any]]


def prepare(
    scheme: str | Scheme,
    coefficients: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> Stepper:
    """Bind ``scheme`` to a stepper ``step(f, t, y, h, state) -> (y_next, state)``.

    Args:
        scheme: a registered id or a :class:`~odenets.numerics.schemes.Scheme`.
        coefficients: coefficient values (numbers, or tensors for learned ones); defaults
            filled in, numbers checked against their admissible interval.
        options: step options (defaults filled in, values validated by the family).

    Bind once per trajectory; ``state`` starts as ``None`` and is whatever the family threads
    between steps (multistep history, momentum velocity, an SDE step's increment).
    """
    scheme = get_scheme(scheme)
    values, opts = scheme.resolve(coefficients, options)
    return scheme.capabilities.bind(scheme, values, opts)


def field_slots(scheme: str | Scheme, options: Mapping[str, Any] | None = None) -> int:
    """How many distinct residual fields ``f(slot, ...)`` a step of ``scheme`` reads with
    ``options`` — the number of modules a block with one field per slot needs."""
    scheme = get_scheme(scheme)
    _, opts = scheme.resolve(None, options)
    return scheme.capabilities.slot_count(scheme, opts)


def prepare_inverse(
    scheme: str | Scheme,
    coefficients: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> Callable:
    """Bind the exact inverse ``inverse(f, t, y1, h, state1) -> (y0, state0)`` of one step of
    ``scheme``. A scheme whose family declares none is a ``ValueError`` naming those that do."""
    scheme = get_scheme(scheme)
    family = scheme.capabilities
    if family.invert is None:
        reversible = list_schemes(where=lambda f: f.invertible)
        raise ValueError(
            f"scheme {scheme.name!r} ({scheme.family}) has no exact inverse: a step of it "
            f"cannot be undone from its output; reversible schemes: {reversible}"
        )
    values, opts = scheme.resolve(coefficients, options)
    return family.invert(scheme, values, opts)
