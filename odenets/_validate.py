"""Boundary checks shared by the public entry points: clear errors with expected / got / why."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["check_choice", "check_int", "check_number", "check_options", "closest", "unknown_name"]


def closest(name: str, valid: Iterable[str]) -> str | None:
    """The most similar valid name (ties broken by the longer common prefix), or None."""

    def score(candidate: str) -> tuple[float, int]:
        prefix = next(
            (i for i, (x, y) in enumerate(zip(name, candidate, strict=False)) if x != y),
            min(len(name), len(candidate)),
        )
        return difflib.SequenceMatcher(None, name, candidate).ratio(), prefix

    candidates = difflib.get_close_matches(name, list(valid), n=5, cutoff=0.5)
    return max(candidates, key=score) if candidates else None


def unknown_name(kind: str, name: object, valid: Iterable[str]) -> ValueError:
    """A ``ValueError`` for an unknown name that lists the valid ones and the closest match."""
    valid = sorted(valid)
    close = closest(str(name), valid)
    hint = f"; did you mean {close!r}?" if close else ""
    return ValueError(f"unknown {kind} {name!r}{hint} Valid: {', '.join(valid)}")


def check_choice(kind: str, value: object, valid: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``valid`` strings, else raise a helpful error."""
    valid = list(valid)
    if not isinstance(value, str):
        raise TypeError(f"{kind} must be a string, one of {valid}; got {type(value).__name__}")
    if value not in valid:
        raise unknown_name(kind, value, valid)
    return value


def check_int(name: str, value: object, minimum: int | None = None) -> int:
    """Return ``value`` as an ``int`` (bools rejected) that is at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_number(name: str, value: object, *, positive: bool = False) -> float:
    """Return ``value`` as a finite ``float`` (bools rejected); optionally require > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def check_options(where: str, given: Mapping[str, Any] | None, allowed: Iterable[str]) -> dict:
    """Reject keys of ``given`` that are not in ``allowed`` with a ``TypeError`` naming them."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise TypeError(f"{where} options must be a dict, got {type(given).__name__}")
    allowed = sorted(allowed)
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise TypeError(f"{where} got unexpected option(s) {unknown}; allowed: {allowed or 'none'}")
    return dict(given)
