"""Scheme records and the registry every other layer reads from.

A :class:`Scheme` is metadata (name, family, order, stages, the architecture it reproduces, a
reference) plus its numbers (a :class:`~odenets.tableau.ButcherTableau` or
:class:`~odenets.tableau.MultistepCoefficients`). Registering a scheme is the only edit needed
for the integrator, the network builder, the CLI listing, the order tests and the docs table
to pick it up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ._validate import check_options, unknown_name
from .tableau import ButcherTableau, MultistepCoefficients

__all__ = [
    "FAMILIES",
    "Scheme",
    "get_scheme",
    "list_schemes",
    "lm_weights",
    "register_scheme",
]

#: Scheme families and what the coefficients of each are. A family's arithmetic is one
#: function in :mod:`odenets.steps`.
FAMILIES: dict[str, type | None] = {
    "explicit_rk": ButcherTableau,
    "multistep": MultistepCoefficients,
}

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Scheme:
    """One numerical scheme: its metadata and the numbers its step function uses.

    Args:
        name: canonical lowercase id (the registry key).
        family: one of :data:`FAMILIES`; selects the step function.
        order: the declared convergence order (global error ``O(h^order)``); the test suite
            measures it for every registered scheme.
        stages: evaluations of the residual function ``F`` per step.
        architecture: the network block this scheme reproduces.
        reference: where the scheme / architecture comes from.
        coefficients: the scheme's numbers (tableau or multistep coefficients).
        parameters: default values of the coefficients a network block may learn (``lm``:
            ``{"k": ...}``). Empty for fixed schemes.
        weights: for parametrised schemes, maps ``parameters`` (floats or tensors) to the
            numbers the step function uses; for ``multistep`` a pair ``(a, b)``.
        init: for each learnable parameter, the uniform range a network block draws its
            initial value from (default: the parameter's value).
        description: other names and remarks, shown by ``odenets list``.
    """

    name: str
    family: str
    order: float
    stages: int
    architecture: str
    reference: str
    coefficients: ButcherTableau | MultistepCoefficients | None = None
    parameters: Mapping[str, float] = field(default_factory=dict)
    weights: Callable[..., Any] | None = None
    init: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"scheme name must be a lowercase id like 'rk4' or 'backward_euler', "
                f"got {self.name!r}"
            )
        if self.family not in FAMILIES:
            raise unknown_name("scheme family", self.family, FAMILIES)
        expected = FAMILIES[self.family]
        if expected is not None and not isinstance(self.coefficients, expected):
            raise TypeError(
                f"scheme {self.name!r} of family {self.family!r} needs coefficients of type "
                f"{expected.__name__}, got {type(self.coefficients).__name__}"
            )
        if isinstance(self.coefficients, ButcherTableau):
            if self.coefficients.stages != self.stages:
                raise ValueError(
                    f"scheme {self.name!r} declares {self.stages} stages but its tableau has "
                    f"{self.coefficients.stages}"
                )
        if isinstance(self.stages, bool) or not isinstance(self.stages, int) or self.stages < 1:
            raise ValueError(f"stages must be a positive int, got {self.stages!r}")
        if not (isinstance(self.order, int | float) and self.order > 0):
            raise ValueError(f"order must be a positive number, got {self.order!r}")
        if bool(self.parameters) != (self.weights is not None):
            raise ValueError("parameters and weights go together: give both or neither")
        check_options(f"scheme {self.name!r} init", self.init, self.parameters)
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))
        object.__setattr__(self, "init", MappingProxyType(dict(self.init)))

    def resolve(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The scheme's parameters with ``overrides`` applied; unknown names are a TypeError."""
        given = check_options(f"scheme {self.name!r}", overrides, self.parameters)
        return {**self.parameters, **given}

    def multistep_weights(self, params: Mapping[str, Any] | None = None) -> tuple[tuple, tuple]:
        """``(a, b)`` of a multistep scheme, evaluated at ``params`` (floats or tensors)."""
        if self.family != "multistep":
            raise ValueError(f"scheme {self.name!r} is {self.family!r}, not a multistep scheme")
        if self.weights is None:
            check_options(f"scheme {self.name!r}", params, ())
            return self.coefficients.a, self.coefficients.b
        resolved = self.resolve(params)
        a, b = self.weights(**resolved)
        if all(isinstance(v, int | float) for v in resolved.values()):
            MultistepCoefficients(a=a, b=b)  # plain numbers: check consistency and stability
        return a, b

    @property
    def learnable(self) -> tuple[str, ...]:
        """Names of the coefficients a network block may learn."""
        return tuple(self.parameters)


_REGISTRY: dict[str, Scheme] = {}


def register_scheme(scheme: Scheme) -> Scheme:
    """Add ``scheme`` to the registry. A duplicate id is a ``ValueError``."""
    if not isinstance(scheme, Scheme):
        raise TypeError(f"register_scheme expects a Scheme, got {type(scheme).__name__}")
    if scheme.name in _REGISTRY:
        raise ValueError(f"scheme {scheme.name!r} is already registered; ids must be unique")
    _REGISTRY[scheme.name] = scheme
    return scheme


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


def list_schemes(family: str | None = None) -> list[str]:
    """Sorted ids of the registered schemes, optionally only those of one ``family``."""
    if family is not None and family not in FAMILIES:
        raise unknown_name("scheme family", family, FAMILIES)
    return sorted(n for n, s in _REGISTRY.items() if family is None or s.family == family)


def lm_weights(k: Any) -> tuple[tuple, tuple]:
    """LM-ResNet two-step weights: ``y_{n+1} = (1-k) y_n + k y_{n-1} + (1+k) h f(y_n)``.

    The factor ``(1 + k)`` makes the step consistent (order 1 for ``-1 < k <= 1``); at
    ``k = 0`` it is Euler (ResNet), at ``k = 1`` the second-order leapfrog step
    ``y_{n+1} = y_{n-1} + 2 h f(y_n)``. ``k`` may be a tensor (a learned coefficient).
    """
    return (1 - k, k), (1 + k, 0.0)


def _rk(name, order, a, b, c, architecture, reference, description=""):
    tableau = ButcherTableau(a=a, b=b, c=c)
    return register_scheme(
        Scheme(
            name=name,
            family="explicit_rk",
            order=order,
            stages=tableau.stages,
            architecture=architecture,
            reference=reference,
            coefficients=tableau,
            description=description,
        )
    )


_RK2_ARCH = "FractalNet-style two-path block (Larsson et al. 2017)"
_RKNET = "RK-Net (Queiruga et al. 2020)"

_rk("euler", 1, [[]], [1], [0], "ResNet (He et al. 2016)", "Euler 1768", "forward Euler")
_rk("midpoint", 2, [[], [1 / 2]], [0, 1], [0, 1 / 2], _RK2_ARCH, "Runge 1895",
    "explicit midpoint, torchdiffeq 'midpoint'")
_rk("heun", 2, [[], [1]], [1 / 2, 1 / 2], [0, 1], _RK2_ARCH, "Heun 1900",
    "explicit trapezoid, torchdiffeq 'heun2'")
_rk("ralston", 2, [[], [2 / 3]], [1 / 4, 3 / 4], [0, 2 / 3], _RK2_ARCH, "Ralston 1962",
    "minimum-error-bound two-stage RK2")
_rk("heun3", 3, [[], [1 / 3], [0, 2 / 3]], [1 / 4, 0, 3 / 4], [0, 1 / 3, 2 / 3], _RKNET,
    "Heun 1900", "Heun's third-order method, torchdiffeq 'heun3'")
_rk("rk4", 4, [[], [1 / 2], [0, 1 / 2], [0, 0, 1]], [1 / 6, 1 / 3, 1 / 3, 1 / 6],
    [0, 1 / 2, 1 / 2, 1], _RKNET, "Kutta 1901", "classical fourth-order Runge–Kutta")
_rk("rk38", 4, [[], [1 / 3], [-1 / 3, 1], [1, -1, 1]], [1 / 8, 3 / 8, 3 / 8, 1 / 8],
    [0, 1 / 3, 2 / 3, 1], _RKNET, "Kutta 1901", "3/8 rule, torchdiffeq 'rk4'")

register_scheme(
    Scheme(
        name="ab2",
        family="multistep",
        order=2,
        stages=1,
        architecture="Adams–Bashforth two-step block",
        reference="Bashforth & Adams 1883",
        coefficients=MultistepCoefficients(a=(1, 0), b=(3 / 2, -1 / 2)),
        description="y_{n+1} = y_n + h (3/2 f_n - 1/2 f_{n-1}); Euler start",
    )
)
register_scheme(
    Scheme(
        name="lm",
        family="multistep",
        order=1,
        stages=1,
        architecture="LM-ResNet (Lu et al. 2018)",
        reference="Lu, Zhong, Li, Dong, ICML 2018 (arXiv 1710.10121)",
        coefficients=MultistepCoefficients(*lm_weights(0.5)),
        parameters={"k": 0.5},
        weights=lm_weights,
        # Blocks start near k = 0 (the ResNet step), as in the LM-ResNet reference code.
        init={"k": (-0.1, 0.0)},
        description="(1-k) y_n + k y_{n-1} + (1+k) h f_n; order 2 at k = 1 (leapfrog); Euler start",
    )
)
