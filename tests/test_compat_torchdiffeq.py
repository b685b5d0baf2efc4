"""odeint called the way torchdiffeq users call theirs gives torchdiffeq's results.

Each test writes a call in the form of torchdiffeq's README (a module field ``func(t, y)``,
``method=``, ``options=dict(step_size=...)``, ``rtol``/``atol``, tuple states, the adjoint)
and runs it through both libraries in float64. Fixed-grid methods run on odenets' own steps
and agree with torchdiffeq to rounding; every other method is routed to torchdiffeq and agrees
exactly, values and gradients.
"""

from __future__ import annotations

import pytest
import torch
import torchdiffeq
from torch import nn
from torchdiffeq._impl.odeint import SOLVERS

import odenets as on
import odenets.numerics.odeint as odeint_module
from odenets.numerics.compat import TORCHDIFFEQ_FIXED, TORCHDIFFEQ_METHODS

DT = torch.float64


class ODEFunc(nn.Module):
    """A small time-dependent neural field, the shape of torchdiffeq's examples."""

    def __init__(self, dim: int = 3) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.net = nn.Sequential(nn.Linear(dim, 16), nn.Tanh(), nn.Linear(16, dim)).double()

    def forward(self, t, y):
        return self.net(y) * torch.cos(t) - 0.1 * y


def _values_and_grads(solve, func, y0, t):
    y0 = y0.clone().requires_grad_(True)
    out = solve(y0)
    loss = out[-1].square().sum() + out[len(t) // 2].sin().sum()
    grads = torch.autograd.grad(loss, [y0, *func.parameters()])
    return out.detach(), grads


def _assert_same(a, b, atol):
    (va, ga), (vb, gb) = a, b
    torch.testing.assert_close(va, vb, rtol=0, atol=atol)
    for x, y in zip(ga, gb, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=atol)


@pytest.fixture
def on_odenets_only(monkeypatch):
    """Fail if the call is handed to torchdiffeq (proves a method ran on odenets' steps)."""

    def refuse(*args, **kwargs):
        raise AssertionError("this call was expected to run on odenets, not torchdiffeq")

    monkeypatch.setattr(odeint_module, "_torchdiffeq", refuse)


def test_the_name_tables_cover_torchdiffeq_exactly():
    assert set(TORCHDIFFEQ_METHODS) == set(SOLVERS)
    assert TORCHDIFFEQ_FIXED["rk4"] == "rk38"  # torchdiffeq's rk4 is Kutta's 3/8 rule


@pytest.mark.parametrize("method", sorted(TORCHDIFFEQ_FIXED))
def test_fixed_grid_methods_run_on_odenets_and_match(method, on_odenets_only):
    func = ODEFunc()
    y0 = torch.randn(4, 3, dtype=DT)
    t = torch.tensor([0.0, 0.1, 0.25, 0.3, 0.7, 1.0], dtype=DT)  # non-uniform
    ours = _values_and_grads(lambda y: on.odeint(func, y, t, method=method), func, y0, t)
    theirs = _values_and_grads(lambda y: torchdiffeq.odeint(func, y, t, method=method), func, y0, t)
    _assert_same(ours, theirs, atol=1e-12)


@pytest.mark.parametrize("method", ["euler", "rk4", "heun3"])
def test_step_size_matches_torchdiffeqs_fixed_grid(method, on_odenets_only):
    func = ODEFunc()
    y0 = torch.randn(2, 3, dtype=DT)
    for t, h in (
        (torch.linspace(0, 1, 9, dtype=DT), 1 / 32),  # dyadic: identical step times
        (torch.linspace(0, 1, 11, dtype=DT), 0.025),  # step times equal up to rounding
    ):
        ours = _values_and_grads(
            lambda y, t=t, h=h: on.odeint(func, y, t, method=method, options=dict(step_size=h)),
            func,
            y0,
            t,
        )
        theirs = _values_and_grads(
            lambda y, t=t, h=h: torchdiffeq.odeint(
                func, y, t, method=method, options=dict(step_size=h)
            ),
            func,
            y0,
            t,
        )
        _assert_same(ours, theirs, atol=1e-12)


def test_step_size_lands_on_the_output_times():
    """Where torchdiffeq interpolates between its own steps, odenets splits each interval
    into ceil(dt / step_size) equal steps: the result is the plain walk on that fine grid."""
    func = ODEFunc()
    y0 = torch.randn(2, 3, dtype=DT)
    t = torch.tensor([0.0, 0.3, 1.0], dtype=DT)
    out = on.odeint(func, y0, t, method="rk4", options={"step_size": 0.25})
    fine = torch.cat(
        [torch.linspace(0, 0.3, 3, dtype=DT), torch.linspace(0.3, 1.0, 4, dtype=DT)[1:]]
    )
    walked = on.odeint(func, y0, fine, "rk38")
    torch.testing.assert_close(out, walked[[0, 2, 5]], rtol=0, atol=1e-14)
    assert out.shape == (3, 2, 3)
    interpolated = torchdiffeq.odeint(func, y0, t, method="rk4", options={"step_size": 0.25})
    assert (interpolated[1] - out[1]).abs().max() > 1e-6  # torchdiffeq's linear interpolation


@pytest.mark.parametrize("method", ["dopri5", "bosh3", "adaptive_heun", "fehlberg2", "dopri8"])
def test_adaptive_methods_are_routed_to_torchdiffeq(method):
    func = ODEFunc()
    y0 = torch.randn(3, 3, dtype=DT)
    t = torch.linspace(0, 2, 5, dtype=DT)
    kw = dict(method=method, rtol=1e-4, atol=1e-5)
    ours = _values_and_grads(lambda y: on.odeint(func, y, t, **kw), func, y0, t)
    theirs = _values_and_grads(lambda y: torchdiffeq.odeint(func, y, t, **kw), func, y0, t)
    _assert_same(ours, theirs, atol=0)


@pytest.mark.parametrize("method", ["explicit_adams", "implicit_adams"])
def test_adams_methods_are_routed_to_torchdiffeq(method):
    func = ODEFunc()
    y0 = torch.randn(3, 3, dtype=DT)
    t = torch.linspace(0, 1, 5, dtype=DT)
    kw = dict(method=method, options=dict(step_size=0.05))
    ours = _values_and_grads(lambda y: on.odeint(func, y, t, **kw), func, y0, t)
    theirs = _values_and_grads(lambda y: torchdiffeq.odeint(func, y, t, **kw), func, y0, t)
    _assert_same(ours, theirs, atol=0)


def test_torchdiffeq_only_options_route_a_fixed_method_there():
    func = ODEFunc()
    y0 = torch.randn(3, 3, dtype=DT)
    t = torch.tensor([0.0, 0.3, 1.0], dtype=DT)
    kw = dict(method="midpoint", options=dict(step_size=0.25, interp="cubic"))
    torch.testing.assert_close(
        on.odeint(func, y0, t, **kw), torchdiffeq.odeint(func, y0, t, **kw), rtol=0, atol=0
    )


def test_adjoint_call():
    func = ODEFunc()
    y0 = torch.randn(3, 3, dtype=DT)
    t = torch.linspace(0, 1, 4, dtype=DT)
    kw = dict(method="dopri5", rtol=1e-9, atol=1e-10)
    ours = _values_and_grads(lambda y: on.odeint(func, y, t, adjoint=True, **kw), func, y0, t)
    theirs = _values_and_grads(lambda y: torchdiffeq.odeint_adjoint(func, y, t, **kw), func, y0, t)
    _assert_same(ours, theirs, atol=0)


class Oscillator(nn.Module):
    """A tuple state (position, velocity) with a learned damping."""

    def __init__(self) -> None:
        super().__init__()
        self.damping = nn.Parameter(torch.tensor(0.3, dtype=DT))

    def forward(self, t, state):
        x, v = state
        return v, -x - self.damping * v


@pytest.mark.parametrize(
    ("method", "options", "atol"),
    [("rk4", None, 1e-12), ("euler", {"step_size": 1 / 64}, 1e-12), ("dopri5", None, 0)],
)
def test_tuple_states(method, options, atol):
    func = Oscillator()
    x0, v0 = torch.randn(2, 2, dtype=DT), torch.randn(2, 2, dtype=DT)
    t = torch.linspace(0, 1, 5, dtype=DT)

    def run(odeint):
        x = x0.clone().requires_grad_(True)
        xs, vs = odeint(func, (x, v0), t, method=method, options=options)
        loss = xs[-1].square().sum() + vs[2].sum()
        return (xs.detach(), vs.detach()), torch.autograd.grad(loss, [x, func.damping])

    (ours, g_ours), (theirs, g_theirs) = run(on.odeint), run(torchdiffeq.odeint)
    assert isinstance(ours, tuple) and ours[0].shape == (5, 2, 2)
    for a, b in zip((*ours, *g_ours), (*theirs, *g_theirs), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=atol)


def test_method_rk4_is_the_3_8_rule_and_scheme_rk4_is_classical():
    func = ODEFunc()
    y0 = torch.randn(2, 3, dtype=DT)
    t = torch.linspace(0, 1, 5, dtype=DT)
    torch.testing.assert_close(
        on.odeint(func, y0, t, method="rk4"), on.odeint(func, y0, t, "rk38"), rtol=0, atol=0
    )
    assert (on.odeint(func, y0, t, "rk4") - on.odeint(func, y0, t, method="rk4")).abs().max() > 0
    # an odenets scheme name with the torchdiffeq backend runs torchdiffeq's same arithmetic
    torch.testing.assert_close(
        on.odeint(func, y0, t, "heun", backend="torchdiffeq"),
        torchdiffeq.odeint(func, y0, t, method="heun2"),
        rtol=0,
        atol=0,
    )
    with pytest.raises(ValueError, match="torchdiffeq's 'rk4' is Kutta's 3/8 rule"):
        on.odeint(func, y0, t, "rk4", backend="torchdiffeq")


def test_the_default_call_stays_odenets_rk4():
    """torchdiffeq defaults to dopri5; odenets to its classical RK4 on the given grid."""
    func = ODEFunc()
    y0 = torch.randn(2, 3, dtype=DT)
    t = torch.linspace(0, 1, 5, dtype=DT)
    torch.testing.assert_close(on.odeint(func, y0, t), on.odeint(func, y0, t, "rk4"))


def test_the_torchdiffeq_backend_without_a_name_is_torchdiffeqs_default():
    func = ODEFunc()
    y0 = torch.randn(2, 3, dtype=DT)
    t = torch.linspace(0, 1, 3, dtype=DT)
    torch.testing.assert_close(
        on.odeint(func, y0, t, backend="torchdiffeq"), torchdiffeq.odeint(func, y0, t)
    )
