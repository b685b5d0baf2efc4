"""Implicit family: backward Euler / trapezoid, the three realizations, IFT gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import odenets as on
import odenets.networks
import odenets.numerics
from odenets.numerics.fixed_point import (
    SolveSettings,
    SolveStats,
    implicit_solve,
    relative_residual,
)

DT = torch.float64


class Smooth(nn.Module):
    """Elementwise smooth field with |F'| <= 0.5 * scale."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(0.7 * scale, dtype=DT))
        self.b = nn.Parameter(torch.tensor(0.1, dtype=DT))

    def forward(self, y):
        return torch.tanh(self.w * y + self.b) - 0.2 * y


def mlp(width=4, std=0.4, seed=1):
    torch.manual_seed(seed)
    f = on.FIELDS["mlp"](width).double()
    for p in f.parameters():
        nn.init.normal_(p, std=std)
    return f


def order_on_linear(name, options=None, lam=-1.0, steps=(10, 20, 40, 80)):
    y0 = torch.ones(2, dtype=DT)
    errs = []
    for n in steps:
        t = torch.linspace(0, 1, n + 1, dtype=DT)
        out = on.odeint(lambda t, y: lam * y + torch.sin(t), y0, t, name, options=options)
        exact = _linear_exact(lam, 1.0)
        errs.append((out[-1, 0] - exact).abs().item())
    return -np.polyfit(np.log(steps), np.log(errs), 1)[0]


def _linear_exact(lam, t):
    # y' = lam y + sin t, y(0) = 1
    a = 1 / (lam**2 + 1)
    particular = -a * (lam * math.sin(t) + math.cos(t))
    c = 1 + a
    return c * math.exp(lam * t) + particular


@pytest.mark.parametrize(("name", "order"), [("backward_euler", 1), ("trapezoid", 2)])
@pytest.mark.parametrize("anderson", [0, 5])
def test_solve_order(name, order, anderson):
    measured = order_on_linear(name, {"solver": "solve", "anderson": anderson})
    assert measured == pytest.approx(order, abs=0.3)


def test_picard_with_one_iteration_is_first_order_only():
    """Picard k=1 on the trapezoid is an explicit order-1 method: the solve matters."""
    assert order_on_linear("trapezoid", {"solver": "picard", "iterations": 1}) < 1.3
    assert order_on_linear("trapezoid", {"solver": "picard", "iterations": 3}) > 1.7


def test_stiff_problem_backward_euler_tracks_euler_explodes():
    """y' = -50 (y - cos t), h = 0.1: h * 50 = 5 is far outside Euler's stability region."""
    t = torch.arange(0, 31, dtype=DT) * 0.1
    y0 = torch.ones(1, dtype=DT)

    def f(t, y):
        return -50 * (y - torch.cos(t))

    euler = on.odeint(f, y0, t, "euler")[:, 0]
    assert euler.abs().max() > 1e6
    for name in ("backward_euler", "trapezoid"):
        out = on.odeint(f, y0, t, name)[:, 0]
        assert (out - torch.cos(t)).abs().max() < 0.05, name


def test_solve_satisfies_the_implicit_equation():
    f = mlp()
    x = torch.randn(5, 4, dtype=DT)
    h, tol = 0.8, 1e-11
    block = on.SchemeBlock("backward_euler", f, h, options={"tol": tol, "anderson": 0})
    y = block(x)
    assert relative_residual(x + h * f(y), y) < 2 * tol
    # the trapezoid equation
    block = on.SchemeBlock("trapezoid", f, h, options={"tol": tol})
    y = block(x)
    assert relative_residual(x + h / 2 * (f(x) + f(y)), y) < 2 * tol


def test_ift_gradient_equals_unrolled_autograd():
    f = mlp()
    x = torch.randn(3, 4, dtype=DT, requires_grad=True)
    solve = on.SchemeBlock("backward_euler", f, 0.7)
    unrolled = on.SchemeBlock(
        "backward_euler", f, 0.7, options={"solver": "picard", "iterations": 120}
    )
    params = [x, *f.parameters()]
    g_ift = torch.autograd.grad(solve(x).sin().sum(), params)
    g_unr = torch.autograd.grad(unrolled(x).sin().sum(), params)
    for a, b in zip(g_ift, g_unr, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", ["backward_euler", "trapezoid"])
def test_ift_gradcheck(name):
    f = mlp(3, std=0.3)
    block = on.SchemeBlock(name, f, 0.5)
    x = torch.randn(2, 3, dtype=DT, requires_grad=True)
    params = list(f.parameters())
    assert torch.autograd.gradcheck(lambda x, *p: block(x), (x, *params))


def test_ift_gradient_wrt_a_tensor_step_size():
    f = mlp(3)
    y = torch.randn(2, 3, dtype=DT)
    stepper = on.numerics.steps.prepare("backward_euler")
    h = torch.tensor(0.4, dtype=DT, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda h: stepper(lambda i, t, z: f(z), 0.0, y, h, None)[0], (h,)
    )


def test_series_order_2_h_1_is_polynet():
    f = mlp()
    x = torch.randn(3, 4, dtype=DT)
    block = on.SchemeBlock("backward_euler", f, options={"solver": "series", "order": 2})
    torch.testing.assert_close(block(x), x + f(x) + f(f(x)), rtol=0, atol=0)


def test_series_with_distinct_fields_is_mpoly():
    f, g = mlp(seed=1), mlp(seed=2)
    x = torch.randn(3, 4, dtype=DT)
    block = on.SchemeBlock("backward_euler", [f, g], options={"solver": "series", "order": 2})
    torch.testing.assert_close(block(x), x + f(x) + g(f(x)), rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="2 field slot"):
        on.SchemeBlock("backward_euler", [f, g, f], options={"solver": "series", "order": 2})


def test_trapezoid_series_is_the_neumann_series_of_the_trapezoid_rule():
    """For linear F the series of (I - h/2 A)^{-1} (I + h/2 A) converges to the exact solve."""
    a = torch.randn(4, 4, dtype=DT) * 0.3
    lin = nn.Linear(4, 4, bias=False).double()
    lin.weight.data.copy_(a)
    x, h = torch.randn(2, 4, dtype=DT), 0.5
    eye = torch.eye(4, dtype=DT)
    exact = torch.linalg.solve(eye - h / 2 * a, (eye + h / 2 * a) @ x.T).T
    series = on.SchemeBlock("trapezoid", lin, h, options={"solver": "series", "order": 30})
    torch.testing.assert_close(series(x), exact, rtol=1e-12, atol=1e-12)
    one = on.SchemeBlock("trapezoid", lin, h, options={"solver": "series", "order": 1})
    r = x + h / 2 * lin(x)
    torch.testing.assert_close(one(x), r + h / 2 * lin(r), rtol=0, atol=1e-15)


def test_nonconvergence_raises_with_residual_and_count():
    f = nn.Linear(4, 4, bias=False).double()  # F = 2.5 I: h Lip(F) = 2.5, iteration diverges
    nn.init.eye_(f.weight).data.mul_(2.5)
    x = torch.randn(3, 4, dtype=DT)
    block = on.SchemeBlock("backward_euler", f, 1.0, options={"anderson": 0, "max_iter": 30})
    with pytest.raises(on.ConvergenceError, match=r"relative residual .* after 30 iterations"):
        block(x)
    warn = on.SchemeBlock(
        "backward_euler", f, 1.0, options={"anderson": 0, "max_iter": 30, "on_failure": "warn"}
    )
    with pytest.warns(on.ConvergenceWarning, match="did not converge"):
        warn(x)


def test_bad_options_are_clear_errors():
    f = Smooth()
    with pytest.raises(TypeError, match="unexpected option"):
        on.SchemeBlock("backward_euler", f, options={"solvr": "solve"})
    with pytest.raises(ValueError, match="did you mean 'series'"):
        on.SchemeBlock("backward_euler", f, options={"solver": "serie"})
    with pytest.raises(TypeError, match="tol must be a number"):
        on.SchemeBlock("backward_euler", f, options={"tol": "small"})
    with pytest.raises(TypeError, match="unexpected option"):
        on.odeint(
            lambda t, y: -y,
            torch.ones(2),
            [0.0, 0.1],
            "trapezoid",
            options={"iterations": 2, "k": 1.0},
        )


def test_anderson_needs_fewer_iterations():
    """A slowly contracting linear map (eigenvalues in [-0.95, 0.95])."""
    q, _ = torch.linalg.qr(torch.randn(60, 60, dtype=DT))
    a = q @ torch.diag(torch.linspace(-0.95, 0.95, 60, dtype=DT)) @ q.T
    x = torch.randn(60, dtype=DT)
    counts = {}
    for m in (0, 5):
        stats = SolveStats()
        y = implicit_solve(
            lambda z: x + a @ z, x, SolveSettings(tol=1e-10, anderson=m, max_iter=1000), stats
        )
        counts[m] = stats.iterations
        exact = torch.linalg.solve(torch.eye(60, dtype=DT) - a, x)
        torch.testing.assert_close(y, exact, rtol=1e-8, atol=1e-8)
    assert counts[5] < counts[0] / 2


def test_polynet20_preset():
    # the same count as the Euler net of its layout (resnet20's blocks plus a head BN)
    polynet, resnet = on.create_model("polynet20"), on.SolverNet("euler", depth=20)
    assert on.count_parameters(polynet) == on.count_parameters(resnet)
    x = torch.randn(1, 3, 8, 8)
    # 7 blocks x 2 powers of F + 2 transitions
    assert on.count_field_calls(polynet, x) == 16


def test_contraction_helpers():
    lin = nn.Linear(6, 6).double()
    x = torch.randn(1, 6, dtype=DT)
    exact = torch.linalg.matrix_norm(lin.weight.detach(), 2).item()
    assert on.lipschitz_estimate(
        lin, x, generator=torch.Generator().manual_seed(0)
    ) == pytest.approx(exact, rel=1e-3)
    f = mlp(6, std=2.0)
    h = 1.0
    plain = on.SchemeBlock("backward_euler", f, h, options={"anderson": 0, "max_iter": 50})
    xs = torch.randn(4, 6, dtype=DT)
    assert h * on.lipschitz_estimate(f, xs) > 1
    with pytest.raises(on.ConvergenceError):
        plain(xs)
    on.spectral_normalize(f, h, margin=0.8)
    for _ in range(30):  # let the spectral-norm power iteration settle
        f(xs)
    f.eval()
    assert h * on.lipschitz_estimate(f, xs) <= 0.8 + 1e-6
    plain(xs)  # now converges
    with pytest.raises(ValueError, match="normalization layers"):
        on.spectral_normalize(on.FIELDS["basic"](4), 1.0)


@pytest.mark.parametrize("scheme", ["backward_euler", "trapezoid"])
def test_solve_output_needs_no_grad_when_nothing_does(scheme):
    """With nothing requiring gradients the IFT machinery stays out of the way (.numpy())."""
    y0 = torch.ones(3, dtype=torch.float64)
    out = on.odeint(lambda t, y: -y, y0, [0.0, 0.1, 0.2], scheme)
    assert not out.requires_grad
    out.numpy()
    y1 = y0.clone().requires_grad_(True)
    assert on.odeint(lambda t, y: -y, y1, [0.0, 0.1, 0.2], scheme).requires_grad


@pytest.mark.parametrize("memory", [0, 5])
def test_host_and_device_anderson_take_the_same_iterates(memory, monkeypatch):
    """Small CPU states iterate in NumPy, the rest with tensors: the same algorithm."""
    from odenets.numerics import fixed_point

    q, _ = torch.linalg.qr(torch.randn(40, 40, dtype=DT))
    a = q @ torch.diag(torch.linspace(-0.9, 0.9, 40, dtype=DT)) @ q.T
    x = torch.randn(40, dtype=DT)
    runs = {}
    for limit in (4096, 0):  # host, then device
        monkeypatch.setattr(fixed_point, "HOST_MAX_NUMEL", limit)
        runs[limit] = fixed_point.anderson_iterate(lambda z: x + a @ z, x, 1e-11, 300, memory)
    (_, g_h, n_h, r_h), (_, g_d, n_d, r_d) = runs[4096], runs[0]
    assert n_h == n_d and r_h <= 1e-11 and r_d <= 1e-11
    torch.testing.assert_close(g_h, g_d, rtol=1e-9, atol=1e-10)
