"""The family registry: what each kind of scheme step can do, declared once.

A *family* is one step function (its *binder* turns a scheme and its settings into a
stepper) plus the capabilities every caller asks about instead of the family's name:

==================  ===========================================================================
``tableau``         the type of :attr:`Scheme.tableau` (``ButcherTableau``,
                    ``MultistepCoefficients`` or ``None``)
``slots``           distinct residual fields ``f(slot, t, y)`` one step reads (default: the
                    scheme's ``stages``; a function of the scheme and its options otherwise)
``invert``          the binder of an exact inverse (``None``: the step cannot be undone)
``history``         the step threads state from step to step (multistep history, momentum
                    velocity): it needs a uniform grid and restarts at a stage transition
``euler_start``     from an empty state the step is forward Euler (its coefficients unused)
``noise``           ``"increment"``: the step consumes a Brownian increment as its state (an
                    SDE step whose slots are the drift and the diffusion); ``"slope"``: noise
                    enters a network block through the random slope ``a + b ΔW / h``;
                    ``None``: deterministic only
``partitioned``     the state is two halves ``(u, v)``; slot 0 is the rate of ``u``, slot 1
                    that of ``v``, and half-width fields read the other half (RevNet)
``order_on``        the problems on which the declared order holds: ``"general"`` or
                    ``"separable"`` (``u' = f(v), v' = g(u)`` only)
``explicit``        no solve inside the step (what unrolled optimisers need)
``transition``      the scheme a network's stage transition takes (``None``: this scheme)
==================  ===========================================================================

Each family registers itself, with its schemes, in its own module under
:mod:`odenets.numerics.steps`; :func:`register_family` works the same for a family defined
outside the package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._validate import unknown_name

if TYPE_CHECKING:
    from .schemes import Scheme

__all__ = [
    "NOISE_KINDS",
    "ORDER_CLASSES",
    "Family",
    "get_family",
    "list_families",
    "register_family",
    "unregister_family",
]

#: How noise can enter a family's step (see the module docstring).
NOISE_KINDS = (None, "increment", "slope")
#: Problem classes on which a declared order holds.
ORDER_CLASSES = ("general", "separable")


@dataclass(frozen=True)
class Family:
    """One family of scheme steps and its declared capabilities (see the module docstring).

    Args:
        name: lowercase id, the value of :attr:`Scheme.family`.
        bind: ``bind(scheme, coefficients, options) -> step`` with
            ``step(f, t, y, h, state) -> (y_next, state)``; ``coefficients`` are the scheme's
            coefficient values (floats or tensors, all present), ``options`` its options
            (validated, defaults filled in). The step must be picklable (a module-level
            function or a ``functools.partial`` of one).
        tableau: the type :attr:`Scheme.tableau` must have (``None``: no tableau).
        check: ``check(scheme)`` raises if a scheme's numbers do not fit the family (e.g. an
            implicit tableau registered as explicit).
        check_options: ``check_options(scheme, options) -> options`` validates option values
            (defaults already filled in) and may add derived entries.
        slots: field slots per step: an int, a function ``slots(scheme, options)``, or ``None``
            for the scheme's ``stages``.
        invert: ``invert(scheme, coefficients, options) -> inverse`` with
            ``inverse(f, t, y1, h, state1) -> (y0, state0)``; ``None``: not invertible.
        history, euler_start, noise, partitioned, order_on, explicit, transition: the
            capabilities of the module docstring.
        description: one line for listings.
    """

    name: str
    bind: Callable[..., Callable]
    tableau: type | None = None
    check: Callable[[Scheme], None] | None = None
    check_options: Callable[[Scheme, dict], dict] | None = None
    slots: int | Callable[[Scheme, dict], int] | None = None
    invert: Callable[..., Callable] | None = None
    history: bool = False
    euler_start: bool = False
    noise: str | None = None
    partitioned: bool = False
    order_on: str = "general"
    explicit: bool = True
    transition: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"family name must be a lowercase identifier, got {self.name!r}")
        if not callable(self.bind):
            raise TypeError(f"family {self.name!r}: bind must be callable, got {self.bind!r}")
        for key in ("check", "check_options", "invert"):
            value = getattr(self, key)
            if value is not None and not callable(value):
                raise TypeError(f"family {self.name!r}: {key} must be callable or None")
        fixed_slots = self.slots is not None and not callable(self.slots)
        if fixed_slots and (
            isinstance(self.slots, bool) or not isinstance(self.slots, int) or self.slots < 1
        ):
            raise ValueError(
                f"family {self.name!r}: slots must be a positive int, a function or None, "
                f"got {self.slots!r}"
            )
        if self.noise not in NOISE_KINDS:
            raise ValueError(
                f"family {self.name!r}: noise must be one of {NOISE_KINDS}, got {self.noise!r}"
            )
        if self.order_on not in ORDER_CLASSES:
            raise unknown_name(f"family {self.name!r} order_on", self.order_on, ORDER_CLASSES)

    @property
    def invertible(self) -> bool:
        """Whether a step of this family has an exact inverse."""
        return self.invert is not None

    def slot_count(self, scheme: Scheme, options: dict[str, Any]) -> int:
        """Distinct field slots one step of ``scheme`` reads with ``options``."""
        if self.slots is None:
            return scheme.stages
        return self.slots(scheme, options) if callable(self.slots) else self.slots


_FAMILIES: dict[str, Family] = {}


def register_family(family: Family, *, replace: bool = False) -> Family:
    """Add ``family`` to the registry. An existing name is a ``ValueError`` unless
    ``replace=True`` (re-running a notebook cell that defines a family)."""
    if not isinstance(family, Family):
        raise TypeError(f"register_family expects a Family, got {type(family).__name__}")
    if family.name in _FAMILIES and not replace:
        raise ValueError(
            f"family {family.name!r} is already registered; pass replace=True to replace it"
        )
    _FAMILIES[family.name] = family
    return family


def unregister_family(name: str) -> Family:
    """Remove a family and return it (unregister its schemes first: see
    :func:`odenets.numerics.schemes.unregister_scheme`)."""
    return _FAMILIES.pop(get_family(name).name)


def get_family(name: str) -> Family:
    """The registered family ``name``; unknown names list the valid ones."""
    if not isinstance(name, str):
        raise TypeError(f"family must be a name (str), got {type(name).__name__}")
    try:
        return _FAMILIES[name]
    except KeyError:
        raise unknown_name("scheme family", name, _FAMILIES) from None


def list_families() -> list[str]:
    """Sorted names of the registered families."""
    return sorted(_FAMILIES)
