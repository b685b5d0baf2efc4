"""Implicit steps (family ``implicit``): backward Euler and the trapezoid rule.

A scheme of this family is a stiffly accurate tableau whose stages are explicit except the
last, which is implicit with diagonal coefficient ``theta``::

    k_i = f(t + c_i h, y + h sum_{j<i} a_ij k_j)        i < s-1  (explicit stages)
    r   = y + h sum_{j<s-1} a_{s-1,j} k_j
    y1  = r + theta h f(t + h, y1)                               (the implicit stage)

backward Euler is ``s = 1, theta = 1`` (``y1 = y + h f(y1)``); the trapezoid rule is
``s = 2, theta = 1/2`` (``y1 = y + h/2 (f(y) + f(y1))``). The implicit equation is realized in
one of three ways (the ``solver`` option):

* ``"series"``, ``order = p``: ``y1 = sum_{j=0}^{p} (theta h F)^j (r)``, the truncated Neumann
  series of ``(I - theta h F)^{-1}`` (exact for linear ``F``). For backward Euler with
  ``p = 2, h = 1`` it is PolyNet's PolyInception ``x + F(x) + F(F(x))``; with one module per
  power it is mpoly ``x + F(x) + G(F(x))``. Stage ``s - 1 + j`` is the ``j``-th power. For
  an affine ``F(y) = Ay + c`` with ``c != 0`` the powers ``(hF)^j`` add ``h c`` each, so the
  step drifts by ``(p - 1) h c`` more than backward Euler: the series is not consistent
  (order 0) for any ``F`` with ``F(0) != 0``.
* ``"picard"``, ``iterations = k``: ``k`` unrolled fixed-point iterations from ``y``; ``k = 2``
  is ``y + h F(y + h F(y))``, the consistent nonlinear counterpart of the series (an explicit
  two-stage method of order 1: not A-stable).
* ``"solve"``: iterate (Anderson-accelerated) to ``tol``; the gradient comes from the implicit
  function theorem (:func:`odenets.numerics.fixed_point.implicit_solve`), so memory does not
  grow with the iteration count. ``odeint`` uses this by default: it is the only realisation
  that is the implicit step itself, and so keeps its A-/L-stability on stiff problems.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from torch import Tensor

from ..._validate import check_choice, check_int
from ..families import Family, register_family
from ..fixed_point import SolveSettings, SolveStats, implicit_solve
from ..schemes import Scheme, register_scheme
from ..tableau import ButcherTableau
from ._ops import axpy, scale, shift
from .base import StageField

__all__ = ["IMPLICIT_OPTIONS", "SOLVERS", "implicit_options", "implicit_step"]

#: The realizations of an implicit step.
SOLVERS = ("series", "picard", "solve")


def implicit_options(scheme: Scheme, options: dict) -> dict:
    """Validate the step options of an implicit scheme (defaults already filled in)."""
    check_choice("solver", options["solver"], SOLVERS)
    check_int("order", options["order"], 1)
    check_int("iterations", options["iterations"], 1)
    settings = SolveSettings(
        tol=options["tol"],
        max_iter=options["max_iter"],
        anderson=options["anderson"],
        on_failure=options["on_failure"],
    )
    return {**options, "settings": settings}


def _theta(tableau: ButcherTableau, name: str) -> float:
    """The implicit coefficient of a tableau of the supported shape, else a ValueError."""
    s, a = tableau.stages, tableau.a
    explicit_head = all(a[i][j] == 0.0 for i in range(s - 1) for j in range(i, s))
    theta = a[-1][-1]
    if not explicit_head or theta == 0.0 or tuple(a[-1]) != tableau.b:
        raise ValueError(
            f"scheme {name!r}: the implicit family needs a stiffly accurate tableau (b equal "
            "to the last row of a) whose only implicit coefficient is the last diagonal one"
        )
    return theta


def implicit_step(
    tableau: ButcherTableau,
    options: dict,
    f: StageField,
    t: Any,
    y: Tensor,
    h: Any,
    stats: SolveStats | None = None,
) -> Tensor:
    """One implicit step of ``tableau`` realized as ``options["solver"]`` (see the module)."""
    s, a, c = tableau.stages, tableau.a, tableau.c
    theta_h = a[-1][-1] * h
    series = options["solver"] == "series"
    ks: list[Tensor] = []
    for i in range(s - 1):
        yi = y
        for j in range(i):
            yi = axpy(yi, a[i][j] * h, ks[j]) if a[i][j] != 0 else yi
        ks.append(f(i if series else 0, shift(t, c[i], h), yi))
    r = y
    for j in range(s - 1):
        r = axpy(r, a[-1][j] * h, ks[j]) if a[-1][j] != 0 else r
    t1 = shift(t, c[-1], h)
    if series:
        term, out = r, r
        for j in range(options["order"]):
            term = scale(theta_h, f(s - 1 + j, t1, term))
            out = out + term
        return out

    def g(z: Tensor) -> Tensor:
        return axpy(r, theta_h, f(0, t1, z))

    if options["solver"] == "picard":
        z = y
        for _ in range(options["iterations"]):
            z = g(z)
        return z
    return implicit_solve(
        g, y, options["settings"], stats, affine=(r, theta_h, lambda z: f(0, t1, z))
    )


def _step(tableau, options, f, t, y, h, state):
    return implicit_step(tableau, options, f, t, y, h), state


def _bind(scheme: Scheme, coefficients: dict, options: dict):
    return partial(_step, scheme.tableau, options)


def _check(scheme: Scheme) -> None:
    _theta(scheme.tableau, scheme.name)


def _slots(scheme: Scheme, options: dict) -> int:
    if options["solver"] == "series":
        return scheme.tableau.stages - 1 + options["order"]
    return 1


register_family(
    Family(
        name="implicit",
        bind=_bind,
        tableau=ButcherTableau,
        check=_check,
        check_options=implicit_options,
        slots=_slots,
        explicit=False,
        transition="euler",
        description="stiffly accurate implicit RK: series (PolyNet), Picard or IFT solve",
    )
)

#: Step options of the implicit family: the realization of the solve (see docs/implicit.md).
IMPLICIT_OPTIONS = {
    "solver": "solve",  # "series" (PolyNet), "picard" (k unrolled iterations), "solve"
    "order": 2,  # series: powers of (h F) kept in (I - h F)^{-1}
    "iterations": 2,  # picard: fixed-point iterations from y0
    "tol": None,  # solve: residual tolerance (None: by dtype, see fixed_point.default_tol)
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
        architecture="PolyNet (Zhang et al. 2017): x + F(x) + F(F(x)), the order-2 series "
        "realisation, is the Neumann series of backward Euler's (I - hF)^{-1} only for linear "
        "F; with F(0) != 0 (a bias, a BN shift) it is not consistent (y' = 1 - y: the error "
        "stays 0.63 as h -> 0). Consistent nonlinear forms: picard (x + hF(x + hF(x))), solve",
        reference="Euler 1768; as network blocks: Lu, Zhong, Li, Dong, ICML 2018 §2",
        tableau=ButcherTableau(a=[[1]], b=[1], c=[1]),
        options=IMPLICIT_OPTIONS,
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
        tableau=ButcherTableau(a=[[0, 0], [1 / 2, 1 / 2]], b=[1 / 2, 1 / 2], c=[0, 1]),
        options=IMPLICIT_OPTIONS,
        description="implicit trapezoid (Crank–Nicolson, Lobatto IIIA-2) y1 = y0 + h/2 "
        "(f(t0, y0) + f(t1, y1)); A-stable",
    )
)
