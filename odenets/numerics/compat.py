"""torchdiffeq's and torchsde's method names, and which of them odenets runs itself.

Two vocabularies, one rule each:

* ``scheme=`` names an odenets scheme (:func:`odenets.list_schemes`). With the torchdiffeq /
  torchsde backend it runs that library's solver with the *same arithmetic* (an error if it
  has none); a name odenets does not have is passed on as the library's own method name.
* ``method=`` names a torchdiffeq (``odeint``) or torchsde (``sdeint``) method, meaning
  exactly what it means there. When odenets has a scheme with the same arithmetic it runs on
  odenets (unless ``backend=`` says otherwise); every other method is routed to the library
  automatically — adaptive solvers, Adams, Milstein, SRK, Stratonovich methods.

The one trap this guards: torchdiffeq's ``"rk4"`` is Kutta's 3/8 rule (``rk4_alt_step_func``
in ``torchdiffeq/_impl/rk_common.py``), odenets' ``"rk4"`` is the classical RK4. So
``method="rk4"`` runs odenets ``"rk38"``, and ``scheme="rk4", backend="torchdiffeq"`` is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._validate import closest

__all__ = [
    "TORCHDIFFEQ_FIXED",
    "TORCHDIFFEQ_METHODS",
    "TORCHDIFFEQ_ONLY",
    "TORCHSDE_METHODS",
    "TORCHSDE_ONLY",
    "TORCHSDE_SAME",
    "TORCHSDE_SDE_TYPES",
    "Route",
    "check_sde_type",
    "route_ode",
    "route_sde",
]

#: torchdiffeq fixed-grid method -> the odenets scheme with the same tableau and arithmetic.
TORCHDIFFEQ_FIXED = {
    "euler": "euler",
    "midpoint": "midpoint",
    "rk4": "rk38",  # torchdiffeq's rk4 is the 3/8 rule
    "heun2": "heun",
    "heun3": "heun3",
}
#: torchdiffeq methods odenets does not reproduce (adaptive RK, Adams, SciPy): run there.
TORCHDIFFEQ_ONLY = (
    "adaptive_heun",
    "bosh3",
    "dopri5",
    "dopri8",
    "explicit_adams",
    "fehlberg2",
    "fixed_adams",
    "implicit_adams",
    "scipy_solver",
)
TORCHDIFFEQ_METHODS = tuple(sorted({*TORCHDIFFEQ_FIXED, *TORCHDIFFEQ_ONLY}))
#: torchdiffeq options of its fixed-grid solvers that odenets reproduces.
FIXED_GRID_OPTIONS = ("step_size",)

#: torchsde method -> the odenets SDE scheme with the same arithmetic (Itô).
TORCHSDE_SAME = {"euler": "euler_maruyama"}
#: torchsde methods odenets does not reproduce: run there.
TORCHSDE_ONLY = (
    "adjoint_reversible_heun",
    "euler_heun",
    "heun",
    "log_ode",
    "midpoint",
    "milstein",
    "reversible_heun",
    "srk",
)
TORCHSDE_METHODS = tuple(sorted({*TORCHSDE_SAME, *TORCHSDE_ONLY}))
#: The SDE types each torchsde method integrates (``torchsde/_core/methods``).
TORCHSDE_SDE_TYPES = {
    "euler": ("ito",),
    "milstein": ("ito", "stratonovich"),
    "srk": ("ito",),
    **{m: ("stratonovich",) for m in TORCHSDE_ONLY if m not in ("milstein", "srk")},
}


def check_sde_type(method: str, sde_type: str) -> None:
    """A torchsde method must integrate the SDE's type (Itô or Stratonovich)."""
    types = TORCHSDE_SDE_TYPES.get(method, (sde_type,))
    if sde_type not in types:
        fitting = sorted(m for m, ts in TORCHSDE_SDE_TYPES.items() if sde_type in ts)
        origin = " (the drift/diffusion form is always Itô)" if sde_type == "ito" else ""
        raise ValueError(
            f"torchsde method {method!r} integrates {' or '.join(types)} SDEs, but the SDE is "
            f"{sde_type}{origin}; methods for {sde_type} SDEs: {', '.join(fitting)}"
        )


@dataclass(frozen=True)
class Route:
    """Where a call runs: ``backend`` (``"odenets"``, ``"torchdiffeq"`` or ``"torchsde"``) and
    the name there (an odenets scheme id, or the library's method name)."""

    backend: str
    name: str


def _unknown_method(library: str, name: str, valid: tuple, ours: list[str]) -> ValueError:
    close = closest(name, valid)
    hint = f"; did you mean {close!r}?" if close else ""
    also = ""
    if name in ours:
        also = f" ({name!r} is an odenets scheme: pass scheme={name!r})"
    return ValueError(
        f"unknown {library} method {name!r}{hint}{also} method= takes {library}'s names: "
        f"{', '.join(valid)}"
    )


def _check_name(kind: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{kind} must be a name (str), got {type(value).__name__} {value!r}")
    return value


def route_ode(
    scheme: object, method: object, backend: str | None, options: dict, ours: list[str]
) -> Route:
    """Decide where an ``odeint`` call runs (see the module docstring).

    Args:
        scheme: the ``scheme=`` argument (a name, a :class:`Scheme`, or ``None``).
        method: the ``method=`` argument (a torchdiffeq name or ``None``).
        backend: ``None`` (decide), ``"odenets"`` or ``"torchdiffeq"``.
        options: the ``options=`` dict (torchdiffeq options other than ``step_size`` need
            torchdiffeq).
        ours: the registered odenets scheme ids.
    """
    if scheme is not None and method is not None:
        raise TypeError(
            "give scheme= (an odenets scheme) or method= (torchdiffeq's name for it), not both"
        )
    if method is not None:
        method = _check_name("method", method)
        if method not in TORCHDIFFEQ_METHODS:
            raise _unknown_method("torchdiffeq", method, TORCHDIFFEQ_METHODS, ours)
        extra = sorted(set(options) - set(FIXED_GRID_OPTIONS))
        same = TORCHDIFFEQ_FIXED.get(method)
        if backend == "torchdiffeq" or (backend is None and (same is None or extra)):
            return Route("torchdiffeq", method)
        if same is None:
            raise ValueError(
                f"torchdiffeq method {method!r} has no odenets scheme with the same arithmetic, "
                f"so it cannot run with backend='odenets'; leave backend unset (or pass "
                f"backend='torchdiffeq') to run it on torchdiffeq. Methods odenets runs itself: "
                f"{', '.join(f'{k} (= {v})' for k, v in TORCHDIFFEQ_FIXED.items())}"
            )
        if extra:
            raise TypeError(
                f"torchdiffeq option(s) {extra} are not implemented by the odenets backend "
                f"(it takes {list(FIXED_GRID_OPTIONS)} and the scheme's own options); leave "
                "backend unset or pass backend='torchdiffeq' to use them"
            )
        return Route("odenets", same)
    name = getattr(scheme, "name", scheme)
    if backend == "torchdiffeq":
        if name is None:  # torchdiffeq's own default
            return Route("torchdiffeq", "dopri5")
        name = _check_name("scheme", name)
        if name in TORCHDIFFEQ_ONLY:
            return Route("torchdiffeq", name)
        theirs = {v: k for k, v in TORCHDIFFEQ_FIXED.items()}.get(name)
        if theirs is not None:
            return Route("torchdiffeq", theirs)
        if name == "rk4":
            raise ValueError(
                "scheme='rk4' is odenets' classical RK4, which torchdiffeq does not have: "
                "torchdiffeq's 'rk4' is Kutta's 3/8 rule (odenets 'rk38'). Pass method='rk4' "
                "for torchdiffeq's, or drop backend='torchdiffeq' for the classical RK4"
            )
        if name in ours:
            raise ValueError(
                f"odenets scheme {name!r} has no torchdiffeq counterpart; drop "
                "backend='torchdiffeq' to run it on odenets. torchdiffeq methods: "
                f"{', '.join(TORCHDIFFEQ_METHODS)}"
            )
        raise _unknown_method("torchdiffeq", name, TORCHDIFFEQ_METHODS, ours)
    if isinstance(name, str) and name not in ours and name in TORCHDIFFEQ_METHODS:
        raise _foreign_scheme("torchdiffeq", name, TORCHDIFFEQ_FIXED.get(name), "scheme")
    return Route("odenets", scheme if scheme is not None else "rk4")


def _foreign_scheme(library: str, name: str, same: str | None, what: str) -> ValueError:
    """``scheme=name`` names a method of ``library`` (torchdiffeq or torchsde), not an odenets
    scheme (``same``: the odenets scheme with the same arithmetic, if any)."""
    also = f" (the same arithmetic as odenets scheme {same!r})" if same else ""
    return ValueError(
        f"{name!r} is a {library} method{also}, not an odenets {what}: pass "
        f"method={name!r} (it runs on {'odenets' if same else library}), or "
        f"scheme={name!r}, backend='{library}'"
    )


def route_sde(scheme: object, method: object, backend: str | None, ours: list[str]) -> Route:
    """Decide where an ``sdeint`` call runs (``ours``: the odenets SDE scheme ids)."""
    if scheme is not None and method is not None:
        raise TypeError(
            "give scheme= (an odenets SDE scheme) or method= (torchsde's name for it), not both"
        )
    if method is not None:
        method = _check_name("method", method)
        if method not in TORCHSDE_METHODS:
            raise _unknown_method("torchsde", method, TORCHSDE_METHODS, ours)
        same = TORCHSDE_SAME.get(method)
        if backend == "torchsde" or (backend is None and same is None):
            return Route("torchsde", method)
        if same is None:
            raise ValueError(
                f"torchsde method {method!r} has no odenets scheme with the same arithmetic, "
                "so it cannot run with backend='odenets'; leave backend unset (or pass "
                "backend='torchsde') to run it on torchsde. Methods odenets runs itself: "
                f"{', '.join(f'{k} (= {v})' for k, v in TORCHSDE_SAME.items())}"
            )
        return Route("odenets", same)
    name = getattr(scheme, "name", scheme)
    if backend == "torchsde":
        name = _check_name("scheme", name if name is not None else "euler_maruyama")
        theirs = {v: k for k, v in TORCHSDE_SAME.items()}.get(name)
        if theirs is not None:
            return Route("torchsde", theirs)
        if name in TORCHSDE_METHODS:
            return Route("torchsde", name)
        raise _unknown_method("torchsde", name, TORCHSDE_METHODS, ours)
    if isinstance(name, str) and name not in ours and name in TORCHSDE_METHODS:
        raise _foreign_scheme("torchsde", name, TORCHSDE_SAME.get(name), "SDE scheme")
    return Route("odenets", scheme if scheme is not None else "euler_maruyama")
