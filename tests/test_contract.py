"""The one-definition contract: a SchemeBlock is exactly one odeint step of its scheme."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import odenets as on
from odenets.networks.shortcuts import PadShortcut


class Smooth(nn.Module):
    """A small smooth field that works on any shape (elementwise, with learned scalars)."""

    def __init__(self, scale: float = 0.7):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(scale, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(0.1, dtype=torch.float64))

    def forward(self, y):
        return torch.tanh(self.w * y + self.b) - 0.2 * y


def as_ode(field):
    return lambda t, y: field(y)


@pytest.mark.parametrize("name", on.list_schemes())
@pytest.mark.parametrize("h", [1.0, 0.3])
def test_block_equals_one_odeint_step(name, h):
    field = Smooth()
    block = on.SchemeBlock(name, field, h, learn=False).eval()
    x = torch.randn(2, 4, 3, 3, dtype=torch.float64)
    expected = on.odeint(as_ode(field), x, [0.0, h], name)[-1]
    torch.testing.assert_close(block(x), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", on.list_schemes())
def test_tied_stage_equals_odeint_trajectory(name):
    """Blocks threading their state through a stage reproduce odeint over n steps."""
    field, h, n = Smooth(), 0.25, 5
    stage = on.SchemeStage([on.SchemeBlock(name, field, h, learn=False) for _ in range(n)]).eval()
    x = torch.randn(3, 4, dtype=torch.float64)
    expected = on.odeint(as_ode(field), x, torch.arange(n + 1, dtype=torch.float64) * h, name)
    torch.testing.assert_close(stage(x), expected[-1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", on.list_schemes(where=lambda f: f.noise == "increment"))
@pytest.mark.parametrize("h", [1.0, 0.3])
def test_sde_block_equals_one_sdeint_step(name, h):
    """An SDE block's fields are its drift and diffusion slots and the increment is its state:
    one step equals sdeint over [0, h] with the same increment."""
    drift, diffusion = Smooth(0.6), Smooth(-0.4)
    block = on.SchemeBlock(name, [drift, diffusion], h, learn=False)
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    dw = torch.randn(1, *x.shape, dtype=torch.float64) * h**0.5
    expected = on.sdeint(as_ode(drift), as_ode(diffusion), x, [0.0, h], name, increments=dw)
    y, state = block.step(x, dw[0])
    torch.testing.assert_close(y, expected[-1], rtol=0, atol=1e-12)
    assert state is None  # the increment is consumed


def test_euler_block_is_the_resnet_update():
    field = on.FIELDS["basic"](4, dims=2).double()
    nn.init.normal_(field.bn2.weight)  # undo zero init so F is not trivially 0
    block = on.SchemeBlock("euler", field).eval()
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(block(x), x + field(x), rtol=0, atol=0)


def test_lm_stage_is_the_lm_resnet_recursion():
    """x1 = x0 + F1(x0) (Euler start), x_{n+1} = (1-k_n) x_n + k_n x_{n-1} + (1+k_n) F_n(x_n)."""
    fields = [Smooth(0.5 + 0.1 * i) for i in range(4)]
    blocks = [on.SchemeBlock("lm", f) for f in fields]
    assert all(-0.1 <= b.coefficients["k"].item() <= 0.0 for b in blocks)  # starts near ResNet
    stage = on.SchemeStage(blocks)
    x = torch.randn(3, 2, dtype=torch.float64)
    prev, cur = x, x + fields[0](x)
    for block, f in zip(blocks[1:], fields[1:], strict=True):
        k = block.coefficients["k"]
        prev, cur = cur, (1 - k) * cur + k * prev + (1 + k) * f(cur)
    torch.testing.assert_close(stage(x), cur, rtol=0, atol=1e-12)


def test_lm_history_continues_from_a_transition():
    """After a transition y1 = P(x) + G(x) the first LM step uses y_{n-1} = P(x)."""
    g, f = nn.Linear(2, 4).double(), Smooth(0.4)
    shortcut = PadShortcut(2, 4, stride=1)
    block = on.SchemeBlock("lm", f)
    stage = on.SchemeStage([block], on.Transition("lm", g, shortcut))
    x = torch.randn(3, 2, dtype=torch.float64)
    px = shortcut(x)
    y1 = px + g(x)
    k = block.coefficients["k"]
    expected = (1 - k) * y1 + k * px + (1 + k) * f(y1)
    torch.testing.assert_close(stage(x), expected, rtol=0, atol=1e-12)


def test_untied_rk_block_uses_one_field_per_stage():
    f1, f2 = Smooth(0.3), Smooth(1.1)
    block = on.SchemeBlock("heun", [f1, f2])
    x = torch.randn(4, 3, dtype=torch.float64)
    k1 = f1(x)
    expected = x + 0.5 * (k1 + f2(x + k1))  # x + (F1(x) + F2(x + F1(x))) / 2
    torch.testing.assert_close(block(x), expected, rtol=0, atol=1e-12)
