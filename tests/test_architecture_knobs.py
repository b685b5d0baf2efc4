"""SolverNet's architecture knobs: stems, heads, a projection after each step, a widening
first stage, and the shortcut registry."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import odenets as on
from odenets.networks.shortcuts import list_shortcuts, make_shortcut, register_shortcut


def test_projection_is_applied_after_every_step():
    """project='relu': every block computes ReLU(x + F(x)) (He et al.'s post-activation)."""
    torch.manual_seed(0)
    net = on.SolverNet("euler", depth=8, widths=(4, 8, 8), head="pool", project="relu").eval()
    for m in net.modules():
        if isinstance(m, on.networks.fields.BasicField):
            nn.init.normal_(m.bn2.weight)
    block = net.stages[0].blocks[0]
    x = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(block(x), torch.relu(x + block.fields[0](x)))
    assert not block.reversible
    assert net.head_norm is None


def test_heads_and_stems_change_the_parameter_count_as_they_should():
    base = on.count_parameters(on.SolverNet("euler", depth=8))
    # no head BatchNorm: 2 * 64 fewer; a bare stem: 2 * 16 fewer
    assert on.count_parameters(on.SolverNet("euler", depth=8, head="pool")) == base - 128
    assert on.count_parameters(on.SolverNet("euler", depth=8, stem="conv")) == base - 32


def test_a_narrower_stem_opens_the_first_stage_with_a_transition():
    net = on.SolverNet("euler", depth=8, stem_width=16, widths=(32, 64, 64), shortcut="conv")
    assert net.stages[0].transition is not None
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 10)
    assert net.stages[0].transition.shortcut[0].stride == (1, 1)  # the resolution is kept


def test_shortcut_registry():
    assert {"pad", "conv"} <= set(list_shortcuts())
    with pytest.raises(ValueError, match="did you mean 'conv'"):
        make_shortcut("cnv", 4, 8, 2, 2)
    with pytest.raises(ValueError, match="already registered"):
        register_shortcut("pad", lambda *a: nn.Identity())
    with pytest.raises(ValueError, match="unknown stem 'bare'"):
        on.SolverNet("euler", depth=8, stem="bare")
    with pytest.raises(ValueError, match="unknown project 'gelu'"):
        on.SolverNet("euler", depth=8, project="gelu")
