"""Convergence studies: measure every scheme's order side by side on a known solution.

:func:`convergence_study` integrates a problem with a closed-form solution on grids of
``n = 10, 20, 40, ...`` steps and fits the slope of ``log(error)`` against ``log(h)``; the
slope is the measured global order, to set beside the order the registry declares.
``odenets orders`` prints the table and can plot the errors (:mod:`odenets.workflow.plots`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .._validate import check_int, check_number, unknown_name
from .odeint import odeint
from .schemes import get_scheme, list_schemes

__all__ = ["PROBLEMS", "KnownSolution", "convergence_study", "ode_order", "problem_for"]


@dataclass(frozen=True)
class KnownSolution:
    """An initial value problem ``y' = f(t, y)``, ``y(0) = exact(0)``, with its solution."""

    name: str
    description: str
    f: Callable[[Tensor, Tensor], Tensor]
    exact: Callable[[float], Tensor]
    #: "general", or "separable": the state is two halves (u, v) with u' = f(v), v' = g(u),
    #: the class on which partitioned schemes such as Störmer–Verlet keep their order
    kind: str = "general"


def _nonlinear_f(t: Tensor, y: Tensor) -> Tensor:
    u, v, q, p = y.unbind(-1)
    return torch.stack((-2 * t * u**2, v * torch.cos(t), p, -q), dim=-1)


def _nonlinear_exact(t: float) -> Tensor:
    return torch.tensor(
        [
            1 / (1 + t**2),
            math.exp(math.sin(t)),
            math.cos(t) + 0.5 * math.sin(t),
            -math.sin(t) + 0.5 * math.cos(t),
        ],
        dtype=torch.float64,
    )


def _logistic_f(t: Tensor, y: Tensor) -> Tensor:
    return y * (1 - y)


def _logistic_exact(t: float) -> Tensor:
    return torch.tensor(
        [1 / (1 + (1 / y0 - 1) * math.exp(-t)) for y0 in (0.1, 0.5)], dtype=torch.float64
    )


def _separable_f(t: Tensor, y: Tensor) -> Tensor:
    u1, u2, u3, v1, v2, v3 = y.unbind(-1)
    return torch.stack((v1, v2, torch.cos(v3), -u1, 2 * u2**3, torch.ones_like(u3)), dim=-1)


def _separable_exact(t: float) -> Tensor:
    return torch.tensor(
        [math.cos(t), 1 / (2 - t), math.sin(t), -math.sin(t), 1 / (2 - t) ** 2, t],
        dtype=torch.float64,
    )


#: Problems with closed-form solutions (float64).
PROBLEMS: dict[str, KnownSolution] = {
    p.name: p
    for p in (
        KnownSolution(
            "nonlinear",
            "u' = -2tu^2, v' = v cos t, (q, p)' = (p, -q): time-dependent, nonlinear, coupled",
            _nonlinear_f,
            _nonlinear_exact,
        ),
        KnownSolution(
            "separable",
            "u = (u1, u2, u3), v = (v1, v2, v3): u' = (v1, v2, cos v3), v' = (-u1, 2 u2^3, 1): "
            "separable, nonlinear (u2 = 1/(2 - t))",
            _separable_f,
            _separable_exact,
            kind="separable",
        ),
        KnownSolution(
            "logistic",
            "y' = y (1 - y) from y(0) = 0.1 and 0.5 (two components)",
            _logistic_f,
            _logistic_exact,
        ),
    )
}


def problem_for(name: str) -> str:
    """The problem a scheme's declared order is measured on: one of the class its family's
    ``order_on`` names (``nonlinear`` for general schemes, ``separable`` for those whose order
    holds on separable systems only)."""
    kind = get_scheme(name).capabilities.order_on
    return (
        "nonlinear"
        if kind == "general"
        else next(p.name for p in PROBLEMS.values() if p.kind == kind)
    )


def ode_order(name: str) -> float:
    """The order a scheme shows on an ODE: its declared order (for an SDE scheme, the order
    with zero diffusion, which the registry declares as ``order``)."""
    return float(get_scheme(name).order)


def convergence_study(
    schemes: Sequence[str] | None = None,
    problem: str | None = None,
    steps: Sequence[int] = (40, 80, 160, 320),
    t_end: float = 1.0,
) -> list[dict]:
    """Measure each scheme's global order on ``problem``.

    Args:
        schemes: registered scheme ids (default: all).
        problem: a key of :data:`PROBLEMS`, or ``None``: each scheme on the problem class its
            order is declared for (:func:`problem_for`).
        steps: step counts of the uniform grids on ``[0, t_end]`` (at least two, increasing).
        t_end: the final time.

    Returns:
        One dict per scheme: ``scheme``, ``family``, ``declared_order``, ``measured_order``
        (least-squares slope of ``log error`` against ``log h``), ``h`` and ``errors`` (max
        norm of the error at ``t_end``).
    """
    if problem is not None and problem not in PROBLEMS:
        raise unknown_name("problem", problem, PROBLEMS)
    names = list_schemes() if schemes is None else [get_scheme(s).name for s in schemes]
    steps = [check_int("steps entry", n, 1) for n in steps]
    if len(steps) < 2 or sorted(set(steps)) != steps:
        raise ValueError(f"steps must be at least two increasing step counts, got {steps}")
    t_end = check_number("t_end", t_end, positive=True)
    rows = []
    for name in names:
        spec = PROBLEMS[problem or problem_for(name)]
        y0, exact = spec.exact(0.0), spec.exact(t_end)
        errors = []
        for n in steps:
            t = torch.linspace(0.0, t_end, n + 1, dtype=torch.float64)
            out = odeint(spec.f, y0, t, name)
            errors.append(float((out[-1] - exact).abs().max()))
        hs = [t_end / n for n in steps]
        slope = np.polyfit(np.log(hs), np.log(np.maximum(errors, 1e-300)), 1)[0]
        rows.append(
            {
                "scheme": name,
                "family": get_scheme(name).family,
                "problem": spec.name,
                "declared_order": ode_order(name),
                "measured_order": float(slope),
                "h": hs,
                "errors": errors,
            }
        )
    return rows
