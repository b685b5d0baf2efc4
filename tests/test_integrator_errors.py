"""Every bad input to odeint / sdeint is one named TypeError or ValueError (expected / got /
the fix), and the implicit solve handles what it used to crash on: fields that ignore y,
half-precision states.

Each case here failed before (silent promotion, a raw torch/torchsde error, a silent wrong
answer, or an unhelpful message); the comment on a case says how.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchsde

import odenets as on
from odenets.numerics.fixed_point import default_tol

Y0 = torch.ones(2, 3)
T = [0.0, 0.25, 0.5, 0.75, 1.0]


def f(t, y):
    return -y


ODE_CASES = [
    # silent promotion to float64 before
    (
        {"f": lambda t, y: -y.double()},
        TypeError,
        r"must return y's dtype torch.float32, got torch.float64",
    ),
    ({"f": lambda t, y: -y.float(), "y0": Y0.double()}, TypeError, "y's dtype torch.float64"),
    # torchdiffeq's keyword was a TypeError (unexpected keyword); both together is ambiguous
    ({"scheme": "rk4", "method": "rk4"}, TypeError, "not both"),
    (
        {"method": "dopri"},
        ValueError,
        r"unknown torchdiffeq method 'dopri'; did you mean 'dopri[58]'",
    ),
    (
        {"method": "backward_euler"},
        ValueError,
        r"is an odenets scheme: pass scheme='backward_euler'",
    ),
    ({"method": 3}, TypeError, "method must be a name"),
    # "unknown scheme 'dopri5'" with no hint before
    ({"scheme": "dopri5"}, ValueError, r"torchdiffeq method.*pass method='dopri5'"),
    ({"scheme": "heun2"}, ValueError, r"same arithmetic as odenets scheme 'heun'"),
    ({"method": "dopri5", "backend": "odenets"}, ValueError, "cannot run with backend='odenets'"),
    (
        {"method": "euler", "backend": "odenets", "options": {"interp": "cubic"}},
        TypeError,
        r"\['interp'\] are not implemented by the odenets backend",
    ),
    # silently ran torchdiffeq's 3/8 rule before
    ({"scheme": "rk4", "backend": "torchdiffeq"}, ValueError, "Kutta's 3/8 rule"),
    # step_size was an unknown option before; now checked
    ({"options": {"step_size": 0}}, ValueError, r"options\['step_size'\] must be a positive"),
    ({"options": {"step_size": -0.1}}, ValueError, "must be a positive finite number"),
    ({"options": {"step_size": float("nan")}}, ValueError, "must be a positive finite number"),
    ({"options": {"step_size": "0.1"}}, TypeError, "must be a positive number, got str"),
    ({"options": {"step_size": True}}, TypeError, "must be a positive number, got bool"),
    ({"options": "step_size=0.1"}, TypeError, "options must be a dict, got str"),
    (
        {"scheme": "ab2", "t": [0.0, 0.3, 1.0], "options": {"step_size": 0.25}},
        ValueError,
        "after step_size refinement",
    ),
    # tolerances and flags were ignored before
    ({"rtol": "1e-3"}, TypeError, "rtol must be a non-negative number"),
    ({"atol": -1.0}, ValueError, "atol must be a non-negative finite number"),
    ({"adjoint": "yes"}, TypeError, "adjoint must be True or False"),
    # tuple states were refused with "y0 must be a torch.Tensor" before
    ({"y0": ()}, ValueError, "non-empty tuple"),
    ({"y0": (torch.ones(2), torch.ones(2, dtype=torch.float64))}, TypeError, "share one dtype"),
    ({"y0": [torch.ones(2), torch.ones(2)]}, TypeError, r"pass tuple\(y0\)"),
    (
        {"y0": (torch.ones(2), torch.ones(3))},
        TypeError,
        "must return a tuple of 2 tensors, got Tensor",
    ),
    ({"y0": (torch.ones(2),), "f": lambda t, y: (y[0], y[0])}, TypeError, "got tuple of length 2"),
    (
        {"y0": (torch.ones(2),), "f": lambda t, y: (y[0][:1],)},
        ValueError,
        r"f\[0\]\(t, y\) must return a tensor of the shape",
    ),
    ({"t": torch.tensor([0.0, 1.0j])}, TypeError, "t must hold real times"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), ODE_CASES)
def test_odeint_bad_input(kwargs, error, match):
    args = {"f": f, "y0": Y0, "t": T, **kwargs}
    if isinstance(args["y0"], tuple) and "f" not in kwargs:
        args["f"] = lambda t, y: -torch.cat([v.reshape(-1) for v in y])  # not a tuple
    with pytest.raises(error, match=match):
        on.odeint(**args)


def test_odeint_takes_numpy_grids():
    out = on.odeint(f, Y0, np.linspace(0, 1, 5), "euler")
    torch.testing.assert_close(out, on.odeint(f, Y0, torch.linspace(0, 1, 5), "euler"))


def drift(t, y):
    return -y


def diffusion(t, y):
    return 0.1 * torch.ones_like(y)


class Object:
    noise_type, sde_type = "diagonal", "ito"

    def f(self, t, y):
        return -y

    def g(self, t, y):
        return 0.1 * torch.ones_like(y)


def _object(**attrs):
    sde = Object()
    for k, v in attrs.items():
        setattr(sde, k, v)
    return sde


class NoSDEType:
    noise_type = "diagonal"

    def f(self, t, y):
        return -y

    def g(self, t, y):
        return y


def _bm(shape=(2, 3), dtype=torch.float32):
    return torchsde.BrownianInterval(t0=0.0, t1=1.0, size=shape, dtype=dtype, entropy=1)


SDE_CASES = [
    # silent promotion before
    ({"drift": lambda t, y: -y.double()}, TypeError, r"drift\(t, y\) must return y's dtype"),
    ({"diffusion": lambda t, y: y.double()}, TypeError, r"diffusion\(t, y\) must return y's dtype"),
    # new keywords, each checked
    ({"dt": 0}, ValueError, "dt must be a positive finite number"),
    ({"dt": "0.1"}, TypeError, "dt must be a positive number"),
    ({"seed": "1"}, TypeError, "seed must be an int"),
    ({"seed": -1}, ValueError, "seed must be >= 0"),
    (
        {"seed": 1, "generator": torch.Generator()},
        ValueError,
        r"at most one source of noise.*'generator', 'seed'",
    ),
    ({"bm": _bm(), "increments": torch.zeros(4, 2, 3)}, ValueError, "at most one source of noise"),
    ({"bm": torch.zeros(2, 3)}, TypeError, "bm must be a Brownian motion object"),
    ({"bm": _bm((2, 1))}, ValueError, r"bm must be of shape \(2, 3\) for diagonal noise"),
    ({"bm": _bm(dtype=torch.float64)}, TypeError, "bm must have y0's dtype torch.float32"),
    ({"method": "eular"}, ValueError, r"unknown torchsde method 'eular'; did you mean 'euler'"),
    ({"method": "euler", "scheme": "euler_maruyama"}, TypeError, "not both"),
    ({"method": "milstein", "backend": "odenets"}, ValueError, "cannot run with backend='odenets'"),
    ({"scheme": "milstein"}, ValueError, r"torchsde method.*pass method='milstein'"),
    # "needs an SDE scheme" before, without the way out
    ({"scheme": "euler"}, ValueError, r"same arithmetic as odenets scheme 'euler_maruyama'"),
    # the default scheme with the torchsde backend raised "unknown torchsde method" before;
    # now a Stratonovich method on the (Itô) functional form is named
    ({"method": "heun"}, ValueError, r"'heun' integrates stratonovich SDEs.*always Itô"),
    ({"t": T, "ts": T}, TypeError, "give t or ts"),
    (
        {"dt": 0.1, "increments": torch.zeros(4, 2, 3)},
        ValueError,
        r"\(steps, \*y0.shape\) = \(12, 2, 3\)",
    ),
    ({"diffusion": lambda t, y: y[:1]}, ValueError, "other noise types: pass an SDE object"),
    ({"drift": _object(), "diffusion": None, "y0": None}, TypeError, "needs the initial state y0"),
    (
        {"drift": _object(noise_type="scalr"), "diffusion": Y0, "y0": T, "t": None},
        ValueError,
        "did you mean 'scalar'",
    ),
    (
        {"drift": NoSDEType(), "diffusion": Y0, "y0": T, "t": None},
        ValueError,
        "needs the attribute sde_type",
    ),
    ({"drift": _object(g=None), "diffusion": Y0, "y0": T, "t": None}, ValueError, "has no g"),
    (
        {"drift": _object(), "diffusion": Y0, "y0": T, "t": 3.0},
        TypeError,
        "bm must be a Brownian motion",
    ),
    (
        {"drift": _object(), "diffusion": Y0, "y0": T, "t": None, "generator": 0.01},
        TypeError,
        "pass method= and dt= by keyword",
    ),
    (
        {
            "drift": _object(),
            "diffusion": Y0,
            "y0": T,
            "t": None,
            "adjoint": True,
            "backend": "torchsde",
        },
        TypeError,
        "SDE object to be a torch.nn.Module",
    ),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), SDE_CASES)
def test_sdeint_bad_input(kwargs, error, match):
    args = {"drift": drift, "diffusion": diffusion, "y0": Y0, "t": T, **kwargs}
    with pytest.raises(error, match=match):
        on.sdeint(**args)


def test_case_count():
    """Issue 11 asks for a case list; keep a count so that cases are not dropped silently."""
    assert len(ODE_CASES) + len(SDE_CASES) >= 50


# ---- implicit solves ---------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["backward_euler", "trapezoid"])
def test_a_field_that_ignores_y_gets_the_right_gradient(scheme):
    """Formerly "One of the differentiated Tensors appears to not have been used in the graph"
    in backward. y' = a cos(t): every step adds h * (its weights) a cos(t_k), so
    dy(T)/dy0 = 1 and dy(T)/da is the quadrature sum, checked against a hand-written loop."""
    a = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    y0 = torch.ones(3, dtype=torch.float64, requires_grad=True)
    t = torch.linspace(0, 1, 6, dtype=torch.float64)
    out = on.odeint(lambda t, y: a * torch.cos(t) * torch.ones_like(y), y0, t, scheme)
    g_y0, g_a = torch.autograd.grad(out[-1].sum(), [y0, a])
    y = y0
    for n in range(5):
        h, t0, t1 = t[n + 1] - t[n], t[n], t[n + 1]
        if scheme == "backward_euler":
            y = y + h * a * torch.cos(t1)
        else:
            y = y + h / 2 * a * (torch.cos(t0) + torch.cos(t1))
    h_y0, h_a = torch.autograd.grad(y.sum(), [y0, a])
    torch.testing.assert_close(out[-1], y, rtol=0, atol=1e-14)
    torch.testing.assert_close(g_y0, h_y0, rtol=0, atol=1e-14)
    torch.testing.assert_close(g_a, h_a, rtol=0, atol=1e-14)


def test_implicit_gradient_over_a_trajectory_equals_the_unrolled_iteration():
    """The adjoint differentiates only the field's term (not the trajectory behind it): the
    gradient over many steps equals backpropagation through 80 unrolled Picard iterations."""
    torch.manual_seed(0)
    w = torch.randn(4, 4, dtype=torch.float64) * 0.3
    w.requires_grad_(True)
    y0 = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    t = torch.linspace(0, 2, 21, dtype=torch.float64)

    def field(t, y):
        return torch.tanh(y @ w) - y

    def run(options):
        out = on.odeint(field, y0, t, "backward_euler", options=options)
        return torch.autograd.grad(out[-1].square().sum() + out[7].sum(), [y0, w])

    solve = run({"solver": "solve", "tol": 1e-13})
    unrolled = run({"solver": "picard", "iterations": 80})
    for a, b in zip(solve, unrolled, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_backward_euler_converges(dtype):
    """Formerly ConvergenceError (tol 1e-5 for every dtype but float64): y' = -y, h = 0.1."""
    y0 = torch.linspace(-3, 3, 64, dtype=torch.float64)
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    out = on.odeint(lambda t, y: -y, y0.to(dtype), t.to(dtype), "backward_euler")
    exact = y0 / 1.1**10  # backward Euler's own solution: y_{n+1} = y_n / (1 + h)
    error = ((out[-1].double() - exact).norm() / exact.norm()).item()
    assert error < 10 * torch.finfo(dtype).eps  # ten steps, each rounded to the dtype


def test_default_tolerances_follow_the_dtype():
    assert default_tol(torch.float64) == pytest.approx(1.2e-12, rel=0.05)
    assert default_tol(torch.float32) == pytest.approx(1.16e-5, rel=0.05)
    for dtype in (torch.float16, torch.bfloat16):  # 10-16 ulps
        assert 8 * torch.finfo(dtype).eps < default_tol(dtype) < 20 * torch.finfo(dtype).eps
    assert all(math.isfinite(default_tol(d)) for d in (torch.float16, torch.bfloat16))


def test_a_tolerance_below_the_rounding_floor_says_so():
    with pytest.raises(on.ConvergenceError, match="below the rounding floor of torch.bfloat16"):
        on.odeint(
            lambda t, y: -y,
            torch.linspace(-3, 3, 64).to(torch.bfloat16),
            [0.0, 0.1],
            "backward_euler",
            options={"tol": 1e-6, "max_iter": 20},
        )
