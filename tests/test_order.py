"""Every registered scheme converges at its declared order (log-error slope within ±0.3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import nonlinear_exact, nonlinear_field, nonlinear_y0

import odenets as on

STEPS = (10, 20, 40, 80)
T_END = 1.0


def ode_order(scheme: on.Scheme) -> float:
    """The order a scheme should show on a deterministic ODE (for SDE schemes: with no noise)."""
    return float(getattr(scheme, "ode_order", None) or scheme.order)


def measured_order(name: str, options: dict | None = None) -> float:
    y0, exact = nonlinear_y0(), nonlinear_exact(T_END)
    errors = []
    for n in STEPS:
        t = torch.linspace(0.0, T_END, n + 1, dtype=torch.float64)
        out = on.odeint(nonlinear_field, y0, t, name, options=options)
        errors.append((out[-1] - exact).abs().max().item())
    slope, _ = np.polyfit(np.log(STEPS), np.log(errors), 1)
    return -slope


@pytest.mark.parametrize("name", on.list_schemes())
def test_declared_order_is_measured(name):
    scheme = on.get_scheme(name)
    assert measured_order(name) == pytest.approx(ode_order(scheme), abs=0.3)


@pytest.mark.parametrize(("k", "order"), [(0.0, 1.0), (-0.5, 1.0), (0.5, 1.0), (1.0, 2.0)])
def test_lm_order_depends_on_k(k, order):
    """LM-ResNet's scheme is consistent for every k in (-1, 1] and second order at k = 1."""
    assert measured_order("lm", {"k": k}) == pytest.approx(order, abs=0.3)


@pytest.mark.parametrize("name", on.list_schemes("explicit_rk"))
def test_tableau_satisfies_order_conditions(name):
    scheme = on.get_scheme(name)
    assert scheme.coefficients.algebraic_order() == scheme.order


def test_order_test_can_fail():
    """A mislabelled scheme (Euler's tableau declared order 2) is caught by the measurement."""
    assert abs(measured_order("euler") - 2.0) > 0.3
