"""Scheme records and the registry every other layer reads from.

A :class:`Scheme` is metadata (name, family, order, stages, the architecture it reproduces, a
reference) plus its numbers. One vocabulary for a scheme's settings is used everywhere
(``prepare``, ``odeint``, ``sdeint``, ``SchemeBlock``, ``SolverNet``):

* ``tableau``: the fixed numbers (a :class:`~odenets.numerics.tableau.ButcherTableau`, a
  :class:`~odenets.numerics.tableau.MultistepCoefficients` or ``None``);
* ``coefficients``: numbers of the step a network block may learn (``lm``: ``k``;
  ``momentum``: ``gamma``), each a :class:`Coefficient` with a default, an admissible interval
  and the range a learned value starts in;
* ``options``: non-learned settings of the step's realisation (implicit: the solver; coupled:
  the split dimension).

The schemes themselves are registered by their family's module in
:mod:`odenets.numerics.steps`; registering one is the only edit needed for the integrator, the
network builder, the CLI listing, the order tests and the docs table to pick it up.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._validate import check_options, unknown_name
from .families import Family, get_family

__all__ = [
    "Coefficient",
    "Scheme",
    "get_scheme",
    "list_schemes",
    "register_scheme",
    "unregister_scheme",
]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


@dataclass(frozen=True)
class Coefficient:
    """One coefficient of a scheme's step that a network block may learn.

    Args:
        default: the value ``odeint`` and fixed blocks use when none is given.
        low, high: the admissible interval (``-inf``/``inf``: unbounded); a given value outside
            it is a ``ValueError`` naming the interval and why.
        closed: whether ``low`` and ``high`` themselves are admissible.
        init: the uniform range a learned value is drawn from in a network block (``None``:
            it starts at ``default``).
        learn: whether blocks learn it unless told otherwise (``SchemeBlock(learn=...)``).
        why: what the interval guarantees (shown in the error message).
    """

    default: float
    low: float = -math.inf
    high: float = math.inf
    closed: tuple[bool, bool] = (True, True)
    init: tuple[float, float] | None = None
    learn: bool = True
    why: str = ""

    def __post_init__(self) -> None:
        for key in ("default", "low", "high"):
            value = getattr(self, key)
            if not _is_number(value) or value != value:
                raise TypeError(f"Coefficient {key} must be a number, got {value!r}")
        if not self.low < self.high:
            raise ValueError(f"Coefficient needs low < high, got [{self.low}, {self.high}]")
        if self.init is not None:
            if len(self.init) != 2 or not all(_is_number(v) for v in self.init):
                raise TypeError(f"Coefficient init must be a pair of numbers, got {self.init!r}")
            for v in self.init:
                self.check("init bound", v)
        self.check("default", self.default)

    def interval(self) -> str:
        """The admissible interval in the usual notation, e.g. ``(-1, 1]``."""
        left = "[" if self.closed[0] and math.isfinite(self.low) else "("
        right = "]" if self.closed[1] and math.isfinite(self.high) else ")"
        return f"{left}{self.low:g}, {self.high:g}{right}"

    def admits(self, value: float) -> bool:
        """Whether the number ``value`` lies in the admissible interval."""
        above = value >= self.low if self.closed[0] else value > self.low
        below = value <= self.high if self.closed[1] else value < self.high
        return above and below and math.isfinite(value)

    def check(self, name: str, value: Any) -> Any:
        """Return ``value`` if it is admissible: a finite number in the interval, or a tensor
        (a learned value, checked by its parametrisation)."""
        if hasattr(value, "dtype") and hasattr(value, "shape"):  # a tensor
            return value
        if not _is_number(value):
            raise TypeError(f"coefficient {name} must be a number, got {type(value).__name__}")
        if not self.admits(float(value)):
            why = f" ({self.why})" if self.why else ""
            raise ValueError(f"coefficient {name} must lie in {self.interval()}{why}, got {value}")
        return value


@dataclass(frozen=True)
class Scheme:
    """One numerical scheme: its metadata and its numbers.

    Args:
        name: canonical lowercase id (the registry key).
        family: a registered family (:func:`odenets.numerics.families.list_families`); selects
            the step function and the capabilities.
        order: the declared convergence order (global error ``O(h^order)``) on the problems the
            family's ``order_on`` names; the test suite measures it for every scheme.
        stages: evaluations of the residual function per step.
        architecture: the network block this scheme reproduces, and how exactly.
        reference: where the scheme / architecture comes from.
        tableau: the fixed numbers, of the type the family declares.
        coefficients: learnable coefficients by name (see :class:`Coefficient`).
        tableau_of: for schemes whose numbers depend on their coefficients, maps coefficient
            values (floats or tensors) to them (multistep: ``(a, b)``).
        options: non-learned step options and their defaults.
        description: other names and remarks, shown by ``odenets list``.
        strong_order, weak_order: SDE schemes only: the strong and weak orders (``order`` is
            then the order with zero diffusion, on ODEs).
    """

    name: str
    family: str
    order: float
    stages: int
    architecture: str
    reference: str
    tableau: Any = None
    coefficients: dict[str, Coefficient] = field(default_factory=dict)
    tableau_of: Callable[..., Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    strong_order: float | None = None
    weak_order: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"scheme name must be a lowercase id like 'rk4' or 'backward_euler', "
                f"got {self.name!r}"
            )
        family = get_family(self.family)
        for key in ("order", "strong_order", "weak_order"):
            value = getattr(self, key)
            if key != "order" and value is None:
                continue
            if not (_is_number(value) and math.isfinite(value) and value > 0):
                raise ValueError(f"{key} must be a finite positive number, got {value!r}")
        if isinstance(self.stages, bool) or not isinstance(self.stages, int) or self.stages < 1:
            raise ValueError(f"stages must be a positive int, got {self.stages!r}")
        if family.tableau is not None and not isinstance(self.tableau, family.tableau):
            raise TypeError(
                f"scheme {self.name!r} of family {self.family!r} needs a tableau of type "
                f"{family.tableau.__name__}, got {type(self.tableau).__name__}"
            )
        if family.tableau is None and self.tableau is not None:
            raise TypeError(f"family {self.family!r} takes no tableau, got {self.tableau!r}")
        stages = getattr(self.tableau, "stages", None)
        if stages is not None and stages != self.stages:
            raise ValueError(
                f"scheme {self.name!r} declares {self.stages} stages but its tableau has {stages}"
            )
        for mapping in ("coefficients", "options"):
            if not isinstance(getattr(self, mapping), Mapping):
                raise TypeError(f"{mapping} must be a dict, got {getattr(self, mapping)!r}")
            object.__setattr__(self, mapping, dict(getattr(self, mapping)))
        for key, c in self.coefficients.items():
            if not isinstance(c, Coefficient):
                raise TypeError(f"coefficient {key!r} must be a Coefficient, got {c!r}")
        clash = sorted(set(self.options) & set(self.coefficients))
        if clash:
            raise ValueError(f"names {clash} are both coefficients and options of {self.name!r}")
        if self.tableau_of is not None and not callable(self.tableau_of):
            raise TypeError(f"tableau_of must be callable, got {self.tableau_of!r}")
        if family.check is not None:
            family.check(self)

    @property
    def capabilities(self) -> Family:
        """The family record: what a step of this scheme can do."""
        return get_family(self.family)

    @property
    def learnable(self) -> tuple[str, ...]:
        """Names of the coefficients a network block learns by default."""
        return tuple(k for k, c in self.coefficients.items() if c.learn)

    def resolve(
        self,
        coefficients: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(coefficients, options)`` with defaults filled in and given values checked.

        Unknown names are a ``TypeError`` that says which kind they would have to be.
        """
        given_c = check_options(
            f"scheme {self.name!r} coefficients", coefficients, self.coefficients
        )
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(f"scheme {self.name!r} options must be a dict, got {options!r}")
        misplaced = sorted(set(options or {}) & set(self.coefficients))
        if misplaced:
            raise TypeError(
                f"{misplaced} are coefficients of scheme {self.name!r}, not options: pass "
                f"coefficients={{...}}"
            )
        given_o = check_options(f"scheme {self.name!r}", options, self.options)
        values = {k: c.check(k, given_c.get(k, c.default)) for k, c in self.coefficients.items()}
        opts = {**self.options, **given_o}
        family = self.capabilities
        if family.check_options is not None:
            opts = family.check_options(self, opts)
        return values, opts

    def numbers(self, coefficients: Mapping[str, Any]) -> Any:
        """The step's numbers at these coefficient values (``tableau_of``), else ``tableau``."""
        if self.tableau_of is None:
            return self.tableau
        return self.tableau_of(**coefficients)


_REGISTRY: dict[str, Scheme] = {}


def register_scheme(scheme: Scheme, *, replace: bool = False) -> Scheme:
    """Add ``scheme`` to the registry. A duplicate id is a ``ValueError`` unless
    ``replace=True`` (an explicit replacement, e.g. re-running a notebook cell)."""
    if not isinstance(scheme, Scheme):
        raise TypeError(f"register_scheme expects a Scheme, got {type(scheme).__name__}")
    if scheme.name in _REGISTRY and not replace:
        raise ValueError(
            f"scheme {scheme.name!r} is already registered; ids must be unique (pass "
            "replace=True to replace it on purpose)"
        )
    _REGISTRY[scheme.name] = scheme
    return scheme


def unregister_scheme(name: str) -> Scheme:
    """Remove scheme ``name`` from the registry and return it."""
    return _REGISTRY.pop(get_scheme(name).name)


def get_scheme(name: str | Scheme) -> Scheme:
    """Look up a scheme by id (a :class:`Scheme` passes through)."""
    if isinstance(name, Scheme):
        return name
    if not isinstance(name, str):
        raise TypeError(f"scheme must be a name (str) or a Scheme, got {type(name).__name__}")
    try:
        return _REGISTRY[name]
    except KeyError:
        raise unknown_name("scheme", name, _REGISTRY) from None


def list_schemes(
    family: str | None = None, *, where: Callable[[Family], bool] | None = None
) -> list[str]:
    """Sorted ids of the registered schemes, optionally only those of one ``family`` or whose
    family's capabilities satisfy ``where`` (e.g. ``lambda f: f.invertible``)."""
    if family is not None:
        get_family(family)
    return sorted(
        n
        for n, s in _REGISTRY.items()
        if (family is None or s.family == family) and (where is None or where(s.capabilities))
    )
