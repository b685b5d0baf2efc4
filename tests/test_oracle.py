"""odeint agrees with torchdiffeq (fixed grid to 1e-10; adaptive/adjoint through the backend)."""

from __future__ import annotations

import pytest
import torch
import torchdiffeq
from conftest import nonlinear_exact, nonlinear_field, nonlinear_y0

import odenets as on

# our id -> torchdiffeq's fixed-grid method with the same tableau
TORCHDIFFEQ = {
    "euler": "euler",
    "midpoint": "midpoint",
    "heun": "heun2",
    "heun3": "heun3",
    "rk38": "rk4",  # torchdiffeq's "rk4" is Kutta's 3/8 rule
}


def field_with_time(t, y):
    return torch.sin(3 * t) * torch.tanh(y) - 0.3 * y * y.mean(-1, keepdim=True) + t


@pytest.mark.parametrize(("ours", "theirs"), sorted(TORCHDIFFEQ.items()))
def test_fixed_grid_matches_torchdiffeq(ours, theirs):
    y0 = torch.randn(5, 3, dtype=torch.float64)
    t = torch.tensor([0.0, 0.1, 0.25, 0.3, 0.7, 1.0], dtype=torch.float64)  # non-uniform grid
    expected = torchdiffeq.odeint(field_with_time, y0, t, method=theirs)
    got = on.odeint(field_with_time, y0, t, ours)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)


def test_rk4_is_not_torchdiffeqs_rk4():
    """Classical RK4 and the 3/8 rule differ at O(h^5): our rk4 must not equal theirs."""
    y0 = torch.randn(5, 3, dtype=torch.float64)
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    diff = on.odeint(field_with_time, y0, t, "rk4") - torchdiffeq.odeint(
        field_with_time, y0, t, method="rk4"
    )
    assert diff.abs().max() > 1e-9


def test_decreasing_grid_matches_torchdiffeq():
    y0 = torch.randn(4, dtype=torch.float64)
    t = torch.linspace(1.0, 0.0, 7, dtype=torch.float64)
    expected = torchdiffeq.odeint(field_with_time, y0, t, method="rk4")
    torch.testing.assert_close(
        on.odeint(field_with_time, y0, t, "rk38"), expected, rtol=0, atol=1e-10
    )


def test_gradients_match_torchdiffeq():
    y0 = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    t = torch.linspace(0, 1, 9, dtype=torch.float64)
    (g_ours,) = torch.autograd.grad(on.odeint(field_with_time, y0, t, "heun3")[-1].sum(), y0)
    (g_ref,) = torch.autograd.grad(
        torchdiffeq.odeint(field_with_time, y0, t, method="heun3")[-1].sum(), y0
    )
    torch.testing.assert_close(g_ours, g_ref, rtol=0, atol=1e-10)


def test_dopri5_backend_reaches_the_exact_solution():
    t = torch.linspace(0, 1, 3, dtype=torch.float64)
    out = on.odeint(
        nonlinear_field, nonlinear_y0(), t, "dopri5", backend="torchdiffeq", rtol=1e-10, atol=1e-12
    )
    torch.testing.assert_close(out[-1], nonlinear_exact(1.0), rtol=0, atol=1e-8)


class Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 3).double()

    def forward(self, t, y):
        return torch.tanh(self.lin(y))


def test_adjoint_gradients_equal_backprop():
    func = Linear()
    y0 = torch.randn(4, 3, dtype=torch.float64)
    t = torch.linspace(0, 1, 4, dtype=torch.float64)
    kw = dict(backend="torchdiffeq", rtol=1e-10, atol=1e-10)
    plain = torch.autograd.grad(
        on.odeint(func, y0, t, "dopri5", **kw)[-1].sum(), list(func.parameters())
    )
    adj = torch.autograd.grad(
        on.odeint(func, y0, t, "dopri5", adjoint=True, **kw)[-1].sum(), list(func.parameters())
    )
    for a, b in zip(plain, adj, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
