"""Scheme records and the registry every other layer reads from.

A :class:`Scheme` is metadata (name, family, order, stages, the architecture it reproduces, a
reference) plus its numbers (a :class:`~odenets.numerics.tableau.ButcherTableau` or
:class:`~odenets.numerics.tableau.MultistepCoefficients`). Registering a scheme is the only edit
needed for the integrator, the network builder, the CLI listing, the order tests and the docs table
to pick it up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .._validate import check_options, unknown_name
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
#: function in :mod:`odenets.numerics.steps`.
FAMILIES: dict[str, type | None] = {
    "explicit_rk": ButcherTableau,
    "multistep": MultistepCoefficients,
    # Backward Euler / trapezoid (odenets.numerics.steps.implicit): a stiffly accurate tableau whose
    # last stage is the one implicit stage.
    "implicit": ButcherTableau,
    # Partitioned (symplectic) Euler / RevNet (odenets.numerics.steps.coupled): no coefficients.
    "coupled": None,
    # Euler–Maruyama (odenets.numerics.steps.stochastic): no coefficients, the noise is an argument.
    "stochastic": None,
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
        strong_order, weak_order: for SDE schemes (family ``stochastic``) the strong and weak
            orders, measured on geometric Brownian motion by the test suite; ``order`` is then
            the order with zero diffusion (an ODE). ``None`` for ODE schemes.
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
    # SDE schemes only (None for ODE schemes): strong / weak convergence order. For these
    # ``order`` is the order on ODEs (zero diffusion), which the ODE order test measures.
    strong_order: float | None = None
    weak_order: float | None = None
    # Non-learned step options and their defaults (implicit: the solver realization; coupled:
    # the split dimension). They travel in the same dict as the coefficients to
    # ``steps.prepare`` / ``odeint(options=...)``; see :meth:`split`.
    options: Mapping[str, Any] = field(default_factory=dict)

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
        if (
            isinstance(self.coefficients, ButcherTableau)
            and self.coefficients.stages != self.stages
        ):
            raise ValueError(
                f"scheme {self.name!r} declares {self.stages} stages but its tableau has "
                f"{self.coefficients.stages}"
            )
        if isinstance(self.stages, bool) or not isinstance(self.stages, int) or self.stages < 1:
            raise ValueError(f"stages must be a positive int, got {self.stages!r}")
        if not (isinstance(self.order, int | float) and self.order > 0):
            raise ValueError(f"order must be a positive number, got {self.order!r}")
        for key in ("strong_order", "weak_order"):
            value = getattr(self, key)
            if value is not None and not (isinstance(value, int | float) and value > 0):
                raise ValueError(f"{key} must be None or a positive number, got {value!r}")
        if bool(self.parameters) != (self.weights is not None):
            raise ValueError("parameters and weights go together: give both or neither")
        check_options(f"scheme {self.name!r} init", self.init, self.parameters)
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))
        object.__setattr__(self, "init", MappingProxyType(dict(self.init)))
        if not isinstance(self.options, Mapping):
            raise TypeError(f"options must be a mapping, got {type(self.options).__name__}")
        clash = sorted(set(self.options) & set(self.parameters))
        if clash:
            raise ValueError(f"names {clash} are both coefficients and options of {self.name!r}")
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def split(self, given: Mapping[str, Any] | None = None) -> tuple[dict, dict]:
        """Split one dict of settings into ``(coefficients, options)``.

        Coefficients are the learnable ``parameters`` (overrides only, not defaults); options
        are the non-learned step settings, returned with the scheme's defaults filled in.
        Unknown names are a ``TypeError`` listing both kinds.
        """
        given = check_options(f"scheme {self.name!r}", given, (*self.parameters, *self.options))
        coefficients = {k: v for k, v in given.items() if k in self.parameters}
        options = {**self.options, **{k: v for k, v in given.items() if k in self.options}}
        return coefficients, options

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
_rk(
    "midpoint",
    2,
    [[], [1 / 2]],
    [0, 1],
    [0, 1 / 2],
    _RK2_ARCH,
    "Runge 1895",
    "explicit midpoint, torchdiffeq 'midpoint'",
)
_rk(
    "heun",
    2,
    [[], [1]],
    [1 / 2, 1 / 2],
    [0, 1],
    _RK2_ARCH,
    "Heun 1900",
    "explicit trapezoid, torchdiffeq 'heun2'",
)
_rk(
    "ralston",
    2,
    [[], [2 / 3]],
    [1 / 4, 3 / 4],
    [0, 2 / 3],
    _RK2_ARCH,
    "Ralston 1962",
    "minimum-error-bound two-stage RK2",
)
_rk(
    "heun3",
    3,
    [[], [1 / 3], [0, 2 / 3]],
    [1 / 4, 0, 3 / 4],
    [0, 1 / 3, 2 / 3],
    _RKNET,
    "Heun 1900",
    "Heun's third-order method, torchdiffeq 'heun3'",
)
_rk(
    "rk4",
    4,
    [[], [1 / 2], [0, 1 / 2], [0, 0, 1]],
    [1 / 6, 1 / 3, 1 / 3, 1 / 6],
    [0, 1 / 2, 1 / 2, 1],
    _RKNET,
    "Kutta 1901",
    "classical fourth-order Runge–Kutta",
)
_rk(
    "rk38",
    4,
    [[], [1 / 3], [-1 / 3, 1], [1, -1, 1]],
    [1 / 8, 3 / 8, 3 / 8, 1 / 8],
    [0, 1 / 3, 2 / 3, 1],
    _RKNET,
    "Kutta 1901",
    "3/8 rule, torchdiffeq 'rk4'",
)

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

register_scheme(
    Scheme(
        name="euler_maruyama",
        family="stochastic",
        order=1,
        stages=1,
        architecture="shake-shake (Gastaldi 2017) and stochastic depth (Huang et al. 2016) blocks",
        reference="Maruyama 1955; as network blocks: Lu, Zhong, Li, Dong, ICML 2018 §3",
        strong_order=0.5,
        weak_order=1,
        description="y + h a(t, y) + b(t, y) ⊙ ΔW; strong order 0.5, weak order 1; "
        "without noise it is forward Euler (order 1 on ODEs)",
    )
)

# --- implicit and coupled schemes (numerics.steps.implicit, numerics.steps.coupled) ----------
#: Step options of the implicit family: the realization of the solve (see docs/implicit.md).
_IMPLICIT_OPTIONS = {
    "solver": "solve",  # "series" (PolyNet), "picard" (k unrolled iterations), "solve"
    "order": 2,  # series: powers of (h F) kept in (I - h F)^{-1}
    "iterations": 2,  # picard: fixed-point iterations from y0
    "tol": None,  # solve: residual tolerance (None: 1e-12 in float64, 1e-5 in float32)
    "max_iter": 100,  # solve: iteration budget, forward and adjoint
    "anderson": 5,  # solve: Anderson memory (0: plain fixed-point iteration)
    "on_failure": "raise",  # solve: "raise" ConvergenceError or "warn" ConvergenceWarning
}

register_scheme(
    Scheme(
        name="backward_euler",
        family="implicit",
        order=1,
        stages=1,
        architecture="PolyNet (Zhang et al. 2017): x + F(x) + F(F(x)) is the series of "
        "(I - hF)^{-1} truncated at order 2",
        reference="Euler 1768; as network blocks: Lu, Zhong, Li, Dong, ICML 2018 §2",
        coefficients=ButcherTableau(a=[[1]], b=[1], c=[1]),
        options=_IMPLICIT_OPTIONS,
        description="implicit Euler y1 = y0 + h f(t1, y1); A- and L-stable; realizations "
        "series / picard / solve (IFT gradient)",
    )
)
register_scheme(
    Scheme(
        name="trapezoid",
        family="implicit",
        order=2,
        stages=2,
        architecture="Crank–Nicolson block: x + h/2 F(x) followed by the series of "
        "(I - h/2 F)^{-1}",
        reference="Crank & Nicolson 1947",
        coefficients=ButcherTableau(a=[[0, 0], [1 / 2, 1 / 2]], b=[1 / 2, 1 / 2], c=[0, 1]),
        options=_IMPLICIT_OPTIONS,
        description="implicit trapezoid (Crank–Nicolson, Lobatto IIIA-2) y1 = y0 + h/2 "
        "(f(t0, y0) + f(t1, y1)); A-stable",
    )
)
register_scheme(
    Scheme(
        name="coupled_euler",
        family="coupled",
        order=1,
        stages=2,
        architecture="RevNet (Gomez et al. 2017): y1 = x1 + F(x2), y2 = x2 + G(y1)",
        reference="symplectic Euler (de Vogelaere 1956); Gomez, Ren, Urtasun, Grosse, NeurIPS 2017",
        # dim: the split dimension of the state into halves (x1, x2); None: dim 1
        # (channels) for states of rank >= 2, dim 0 for vectors.
        options={"dim": None},
        description="partitioned Euler on y = (u, v): u1 = u + h f_u(u, v), "
        "v1 = v + h f_v(u1, v); exactly invertible when f_u reads only v and f_v only u",
    )
)
