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

__all__ = ["PROBLEMS", "KnownSolution", "convergence_study", "ode_order"]


@dataclass(frozen=True)
class KnownSolution:
    """An initial value problem ``y' = f(t, y)``, ``y(0) = exact(0)``, with its solution."""

    name: str
    description: str
    f: Callable[[Tensor, Tensor], Tensor]
    exact: Callable[[float], Tensor]


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
            "logistic",
            "y' = y (1 - y) from y(0) = 0.1 and 0.5 (two components)",
            _logistic_f,
            _logistic_exact,
        ),
    )
}


def ode_order(name: str) -> float:
    """The order a scheme shows on an ODE: its declared order (for an SDE scheme, the order
    with zero diffusion, which the registry declares as ``order``)."""
    return float(get_scheme(name).order)


def convergence_study(
    schemes: Sequence[str] | None = None,
    problem: str = "nonlinear",
    steps: Sequence[int] = (10, 20, 40, 80),
    t_end: float = 1.0,
) -> list[dict]:
    """Measure each scheme's global order on ``problem``.

    Args:
        schemes: registered scheme ids (default: all).
        problem: a key of :data:`PROBLEMS`.
        steps: step counts of the uniform grids on ``[0, t_end]`` (at least two, increasing).
        t_end: the final time.

    Returns:
        One dict per scheme: ``scheme``, ``family``, ``declared_order``, ``measured_order``
        (least-squares slope of ``log error`` against ``log h``), ``h`` and ``errors`` (max
        norm of the error at ``t_end``).
    """
    if problem not in PROBLEMS:
        raise unknown_name("problem", problem, PROBLEMS)
    spec = PROBLEMS[problem]
    names = list_schemes() if schemes is None else [get_scheme(s).name for s in schemes]
    steps = [check_int("steps entry", n, 1) for n in steps]
    if len(steps) < 2 or sorted(set(steps)) != steps:
        raise ValueError(f"steps must be at least two increasing step counts, got {steps}")
    t_end = check_number("t_end", t_end, positive=True)
    y0, exact = spec.exact(0.0), spec.exact(t_end)
    rows = []
    for name in names:
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
                "declared_order": ode_order(name),
                "measured_order": float(slope),
                "h": hs,
                "errors": errors,
            }
        )
    return rows
