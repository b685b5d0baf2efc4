"""float64 gradcheck through tiny blocks of each family and through odeint."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import odenets as on
import odenets.numerics.steps


def tiny_mlp(width=3):
    torch.manual_seed(1)
    return on.FIELDS["mlp"](width).double().apply(_randomize)


def _randomize(m):
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, std=0.5)
        nn.init.normal_(m.bias, std=0.1)


def representative_schemes():
    """One scheme per family (the first registered id of each), so new families are covered."""
    seen = {}
    for name in on.list_schemes():
        seen.setdefault(on.get_scheme(name).family, name)
    return sorted(seen.values())


@pytest.mark.parametrize("name", representative_schemes())
def test_block_gradcheck(name):
    scheme = on.get_scheme(name)
    block = on.SchemeBlock(name, tiny_mlp(4), 0.5).double().eval()
    x = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    params = [p for p in block.parameters() if p.requires_grad]
    assert torch.autograd.gradcheck(lambda x, *p: block(x), (x, *params)), scheme.family


def test_lm_stage_gradcheck_includes_learned_k():
    blocks = [on.SchemeBlock("lm", tiny_mlp(3), 0.5).double() for _ in range(3)]
    stage = on.SchemeStage(blocks)
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    ks = [b.coefficients["k"] for b in blocks]
    assert torch.autograd.gradcheck(lambda x, *k: stage(x), (x, *ks))


def _f(t, y):
    return torch.sin(t) * torch.tanh(y) - y**3 / 3


def test_odeint_gradcheck_wrt_state_and_grid():
    y0 = torch.randn(3, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 0.2, 0.5, 0.6], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda y0, t: on.odeint(_f, y0, t, "rk4"), (y0, t))


def test_multistep_odeint_gradcheck_wrt_state():
    y0 = torch.randn(3, dtype=torch.float64, requires_grad=True)
    t = torch.linspace(0, 0.6, 5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda y0: on.odeint(_f, y0, t, "ab2"), (y0,))


def test_learned_step_size_is_differentiable():
    """A tensor h (deep unfolding's learned step) flows through the stepper."""
    stepper = on.numerics.steps.prepare("heun")
    y = torch.randn(3, dtype=torch.float64)
    h = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)

    def one_step(h):
        return stepper(lambda i, t, y: -(y**2), 0.0, y, h, None)[0]

    assert torch.autograd.gradcheck(one_step, (h,))
