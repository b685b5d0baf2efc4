"""Hamiltonian networks (Chang et al., AAAI 2018): the presets are the network of the authors'
TensorFlow code (a reference written here from the paper's update and the code's layout gives
the same logits after the weight mapping; the parameter counts equal that code's), the Verlet
variant is exactly the synchronous form of the same leapfrog, and the memory-saving backward
equals plain autograd."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _tf_reference import DT, Variables, batch_norm
from torch import nn

import odenets as on
from odenets.networks.reference_other import load_reference_state_dict


def conv(z, k_hwio):
    return F.conv2d(z, k_hwio.permute(3, 2, 0, 1), padding=1)


def adjoint(y, k_hwio, like):
    """K^T y, computed as the gradient of <K z, y> in z (no transposed-convolution call)."""
    with torch.enable_grad():
        z = torch.zeros_like(like, requires_grad=True)
        (grad,) = torch.autograd.grad((conv(z, k_hwio) * y).sum(), z)
    return grad


def inner(x, v, scope, c, no_bn1, h):
    """h K^T ReLU(BN2(K BN1(x))), one kernel K (c -> c) shared by K and K^T."""
    k = v(f"{scope}/w", (3, 3, c, c))
    z = x if no_bn1 else batch_norm(x, v, f"{scope}/sub1/bn1")
    return h * adjoint(F.relu(batch_norm(conv(z, k), v, f"{scope}/sub2/bn2")), k, x)


def reference_hamiltonian(x, v, filters, units, h=1.0, classes=10):
    """Chang et al.'s network: conv3x3-BN-ReLU stem; blocks Y' = Y + F(Z), Z' = Z - G(Y') on
    the channel halves; the first block of every stage runs at the previous width and its
    halves are then average-pooled (2x2) and zero-padded on both sides; BN-ReLU, mean, FC."""
    hid = F.relu(
        batch_norm(conv(x, v("init/init_conv/w", (3, 3, 3, filters[0]))), v, "init/init_bn")
    )
    for ss, n in enumerate(units):
        for ii in range(n):
            cin = filters[ss] if ii == 0 else filters[ss + 1]
            cout, stride = filters[ss + 1], ((1, 2, 2)[ss] if ii == 0 else 1)
            y, z = hid[:, : cin // 2], hid[:, cin // 2 :]
            y = y + inner(z, v, f"unit_{ss + 1}_{ii}/f", cin // 2, ss == ii == 0, h)
            z = z - inner(y, v, f"unit_{ss + 1}_{ii}/g", cin // 2, False, h)
            halves = []
            for t in (y, z):
                if stride > 1:
                    t = F.avg_pool2d(t, stride, stride)
                side = (cout - cin) // 4
                halves.append(F.pad(t, (0, 0, 0, 0, side, side)))
            hid = torch.cat(halves, 1)
    hid = F.relu(batch_norm(hid, v, "unit_last/final_bn")).mean((2, 3))
    return hid @ v("logit/w", (filters[-1], classes)) + v("logit/b", (classes,), "stat")


SMALL = {"depth": 26, "widths": (8, 16, 24)}  # two blocks per stage
FILTERS, UNITS = (8, 8, 16, 24), (2, 2, 2)


@pytest.mark.parametrize("h", [1.0, 0.3])
def test_logits_equal_after_the_weight_mapping(h):
    v = Variables()
    x = torch.randn(3, 3, 8, 8, dtype=DT)
    want = reference_hamiltonian(x, v, FILTERS, UNITS, h)
    state = {f"Model/{k}": t.numpy() for k, t in v.values.items()}
    net = load_reference_state_dict("hamiltonian_resnet74", state, dtype=DT, h=h, **SMALL)
    got = net.eval()(x)
    assert (got - want).abs().max() / want.abs().max() < 1e-8


@pytest.mark.parametrize(
    ("depth", "filters", "count"),
    [
        (38, (32, 32, 64, 112), 191_050),
        (74, (32, 32, 64, 112), 432_010),
        (110, (32, 32, 64, 128), 811_914),
        (218, (32, 32, 64, 128), 1_690_890),
    ],
)
def test_parameter_counts_equal_the_authors_code(depth, filters, count):
    """depth = 4 * blocks + 2 (K and K^T in F and in G per block, the stem and the FC)."""
    n = (depth - 2) // 12
    v = Variables()
    with torch.no_grad():
        reference_hamiltonian(torch.zeros(1, 3, 4, 4, dtype=DT), v, filters, (n, n, n))
    for prefix in ("hamiltonian_resnet", "hamiltonian_verlet_"):
        assert on.count_parameters(on.create_model(f"{prefix}{depth}")) == v.trainable() == count


def test_no_learned_downsampling():
    net = on.create_model("hamiltonian_resnet74")
    assert net.stages[0].transition is None and len(net.stages[0].blocks) == 6
    for stage, (old, new) in zip(net.stages[1:], ((32, 64), (64, 112)), strict=True):
        unit = stage.transition
        assert isinstance(unit, on.networks.stages.StepThenShortcut)
        assert sum(p.numel() for p in unit.shortcut.parameters()) == 0
        assert unit.block.fields[0].in_channels == old // 2  # the step runs at the old width
        assert len(stage.blocks) == 5 and stage.blocks[0].fields[0].in_channels == new // 2
    assert net.stages[0].blocks[0].fields[0].bn1.__class__ is nn.Identity  # no BN1 in the first F


def randomized_pair(seed=0, c=4):
    torch.manual_seed(seed)
    fields = [on.FIELDS["hamiltonian"](c // 2, slot=s).double() for s in (0, 1)]
    for f in fields:
        for p in f.parameters():
            nn.init.normal_(p, std=0.4)
    return [f.eval() for f in fields]


def test_verlet_variant_is_the_synchronous_leapfrog():
    """One block: Y1/2 = Y + h/2 F(Z), Z1 = Z - h G(Y1/2), Y1 = Y1/2 + h/2 F(Z1). Over n blocks
    with the same F, G: Verlet^n = D(h/2) o CE^n o D(-h/2), where CE is the authors' block and
    D(t) the drift Y += t F(Z): their Y lives on the half-step grid, Verlet's on the full one."""
    f, g = randomized_pair()
    h, n = 0.3, 5
    x = torch.randn(2, 4, 5, 5, dtype=DT)
    verlet = on.SchemeBlock("verlet", [f, g], h)
    coupled = on.SchemeBlock("coupled_euler", [f, g], h)
    y, z = x[:, :2], x[:, 2:]
    y_half = y + h / 2 * f(z)
    z1 = z + h * g(y_half)  # g already carries the minus sign of the Z rate
    torch.testing.assert_close(verlet(x), torch.cat((y_half + h / 2 * f(z1), z1), 1))

    def drift(state, t):
        return torch.cat((state[:, :2] + t * f(state[:, 2:]), state[:, 2:]), 1)

    a, b = x, drift(x, -h / 2)
    for _ in range(n):
        a, b = verlet(a), coupled(b)
    torch.testing.assert_close(a, drift(b, h / 2), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scheme", ["coupled_euler", "verlet"])
def test_blocks_invert_exactly(scheme):
    f, g = randomized_pair(1)
    block = on.SchemeBlock(scheme, [f, g], 0.7)
    x = torch.randn(3, 4, 6, 6, dtype=DT)
    torch.testing.assert_close(block.inverse(block(x)), x, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["hamiltonian_resnet74", "hamiltonian_verlet_74"])
def test_memory_saving_backward_equals_plain_autograd(name):
    grads = []
    for rb in (True, False):
        torch.manual_seed(0)
        net = on.create_model(name, reversible_backward=rb, **SMALL).double()
        for p in net.parameters():
            nn.init.normal_(p, std=0.3)
        x = torch.randn(2, 3, 8, 8, dtype=DT, generator=torch.Generator().manual_seed(1))
        net(x).square().sum().backward()
        grads.append([p.grad for p in net.parameters()])
        assert all(stage.reversible_backward for stage in net.stages) == rb
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_depth_rule_and_errors():
    assert on.networks.nets.valid_depths("hamiltonian", scheme="coupled_euler")[:4] == [
        14,
        26,
        38,
        50,
    ]
    with pytest.raises(ValueError, match="12n\\+2"):
        on.create_model("hamiltonian_resnet74", depth=40)
    with pytest.raises(ValueError, match="unknown transition 'before'"):
        on.create_model("hamiltonian_resnet74", transition="before")


def test_zero_start_keeps_a_gradient_and_the_presets_start_like_the_authors():
    """zero_init_last: F = 0 with K = 0 and BN2's shift 1 — the gradient still reaches K
    (zeroing BN2's scale and shift instead would stop it: ReLU'(0) = 0). The presets keep the
    authors' initialisation (BN scale 1, shift 0, random K), so F != 0 at the start."""
    f = on.FIELDS["hamiltonian"](4, slot=1)
    f.zero_init_last()
    x = torch.randn(2, 4, 5, 5)
    out = f(x)
    assert out.abs().max() == 0
    (out * torch.randn_like(out)).sum().backward()
    assert f.conv.weight.grad.abs().max() > 0
    net = on.create_model("hamiltonian_resnet38")
    field = net.blocks[1].fields[0]
    assert torch.equal(field.bn2.weight, torch.ones_like(field.bn2.weight))
    assert field.conv.weight.abs().max() > 0
    plain = on.SolverNet(
        "coupled_euler", depth=14, field="hamiltonian", transition="after", shortcut="avgpool_pad"
    )
    assert plain.blocks[0].fields[1].conv.weight.abs().max() == 0  # the library's zero start


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"norm": {"eps": -1.0}}, ValueError, "norm eps must be > 0"),
        ({"norm": {"decay": 0.9}}, TypeError, "unexpected option"),
        ({"norm": {"momentum": 2.0}}, ValueError, "momentum must be in"),
        ({"zero_init": "no"}, TypeError, "zero_init must be a bool"),
        ({"preact_first": 0}, TypeError, "preact_first must be a bool"),
        ({"field": "basic", "shortcut": "pad"}, ValueError, "drop_input_norm"),
    ],
)
def test_knob_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        on.create_model("hamiltonian_resnet38", **kwargs)


def test_after_transitions_serve_every_family():
    """transition='after': y = P(Phi_h(x)), the step at the old width; a multistep stage then
    starts fresh (its first block is an Euler step, with no learned k)."""
    torch.manual_seed(0)
    net = on.SolverNet(
        "euler", depth=14, widths=(4, 8, 8), transition="after", shortcut="avgpool_pad"
    ).eval()
    unit = net.stages[1].transition
    for p in unit.block.fields[0].parameters():
        nn.init.normal_(p)
    x = torch.randn(2, 4, 6, 6)
    y = x + unit.block.fields[0](x)
    want = F.pad(F.avg_pool2d(y, 2, 2), (0, 0, 0, 0, 2, 2))
    torch.testing.assert_close(unit(x), want)
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 10)
    lm = on.SolverNet("lm", depth=20, widths=(4, 8, 8), transition="after", shortcut="avgpool_pad")
    for stage in lm.stages[1:]:
        assert "k" not in stage.blocks[0].coefficients and "k" in stage.blocks[1].coefficients
