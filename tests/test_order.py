"""Every registered scheme converges at its declared order (log-error slope within ±0.3),
measured on the problem class its family declares the order for (general or separable)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import nonlinear_exact, nonlinear_field, nonlinear_y0

import odenets as on
from odenets.numerics.convergence import PROBLEMS, problem_for
from odenets.numerics.tableau import ButcherTableau

STEPS = (40, 80, 160, 320)  # asymptotic for every scheme (momentum relaxes over ~10 steps)
T_END = 1.0


def ode_order(scheme: on.Scheme) -> float:
    """The order a scheme should show on a deterministic ODE (for SDE schemes: with no noise)."""
    return float(getattr(scheme, "ode_order", None) or scheme.order)


def measured_order(name: str, coefficients: dict | None = None, problem: str = "nonlinear"):
    if problem == "nonlinear":
        field, y0, exact = nonlinear_field, nonlinear_y0(), nonlinear_exact(T_END)
    else:
        spec = PROBLEMS[problem]
        field, y0, exact = spec.f, spec.exact(0.0), spec.exact(T_END)
    errors = []
    for n in STEPS:
        t = torch.linspace(0.0, T_END, n + 1, dtype=torch.float64)
        with torch.no_grad():  # values only
            out = on.odeint(field, y0, t, name, coefficients=coefficients)
        errors.append((out[-1] - exact).abs().max().item())
    slope, _ = np.polyfit(np.log(STEPS), np.log(errors), 1)
    return -slope


@pytest.mark.parametrize("name", on.list_schemes())
def test_declared_order_is_measured(name):
    scheme = on.get_scheme(name)
    problem = problem_for(name)
    assert PROBLEMS[problem].kind == scheme.capabilities.order_on
    assert measured_order(name, problem=problem) == pytest.approx(ode_order(scheme), abs=0.3)


@pytest.mark.parametrize("name", on.list_schemes(where=lambda f: f.order_on == "separable"))
def test_separable_only_orders_are_lower_on_general_problems(name):
    """A scheme whose order holds only on separable systems shows it is not general: on the
    coupled, non-separable problem it drops (Störmer–Verlet: 2 -> 1)."""
    assert measured_order(name) < ode_order(on.get_scheme(name)) - 0.5


@pytest.mark.parametrize(("k", "order"), [(0.0, 1.0), (-0.5, 1.0), (0.5, 1.0), (1.0, 2.0)])
def test_lm_order_depends_on_k(k, order):
    """LM-ResNet's scheme is consistent for every k in (-1, 1] and second order at k = 1."""
    assert measured_order("lm", {"k": k}) == pytest.approx(order, abs=0.3)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9])
def test_momentum_is_first_order_for_every_gamma(gamma):
    assert measured_order("momentum", {"gamma": gamma}) == pytest.approx(1.0, abs=0.3)


@pytest.mark.parametrize(
    "name", on.list_schemes(where=lambda f: f.explicit and f.tableau is ButcherTableau)
)
def test_tableau_satisfies_order_conditions(name):
    scheme = on.get_scheme(name)
    assert scheme.tableau.algebraic_order() == scheme.order


def test_order_test_can_fail():
    """A mislabelled scheme (Euler's tableau declared order 2) is caught by the measurement."""
    assert abs(measured_order("euler") - 2.0) > 0.3
