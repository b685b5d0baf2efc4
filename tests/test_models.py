"""Every preset builds, runs forward/backward, and matches published parameter counts."""

from __future__ import annotations

import pytest
import torch

import odenets as on
import odenets.networks
import odenets.numerics

# He et al. 2016, Table 6 (CIFAR-10 ResNets)
PUBLISHED = {
    "resnet20": 0.27e6,
    "resnet32": 0.46e6,
    "resnet44": 0.66e6,
    "resnet56": 0.85e6,
    "resnet110": 1.7e6,
}


@pytest.mark.parametrize("name", on.list_models())
def test_preset_forward_backward(name):
    model = on.create_model(name)
    x = torch.randn(2, model.in_channels, *(16,) * model.dims)
    # Training mode: noisy presets sample (stochastic depth may skip whole blocks, whose
    # parameters then get no gradient in this step), so only finiteness is required here.
    out = model(x)
    assert out.shape == (2, 10)
    out.square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    # Evaluation mode is the deterministic drift: every parameter takes part.
    model.zero_grad(set_to_none=True)
    model.eval()(x).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"


@pytest.mark.parametrize(("name", "published"), sorted(PUBLISHED.items()))
def test_resnet_parameter_counts(name, published):
    assert on.count_parameters(on.create_model(name)) == pytest.approx(published, rel=0.03)


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_lm_adds_one_scalar_per_lm_step(depth):
    resnet, lm = on.create_model(f"resnet{depth}"), on.create_model(f"lm_resnet{depth}")
    n = (depth - 2) // 6
    assert len(lm.blocks) == 3 * n - 2  # the two transitions are not scheme steps
    learned = [b for b in lm.blocks if "k" in b.coefficients]
    assert len(learned) == len(lm.blocks) - 1  # the first step starts without history (Euler)
    assert on.count_parameters(lm) - on.count_parameters(resnet) == len(learned)


def test_tie_options_change_parameters_not_outputs_shape():
    none = on.SolverNet("rk4", depth=8, tie="none")
    stages = on.SolverNet("rk4", depth=14, tie="stages")
    resnet = on.SolverNet("euler", depth=14)
    tied = on.SolverNet("rk4", depth=14, tie="all")
    assert on.count_parameters(stages) == on.count_parameters(resnet)
    assert on.count_parameters(tied) < on.count_parameters(resnet)
    # depth 8: one block per stage, only stage 1 holds a scheme step (4 fields untied)
    single = on.SolverNet("euler", depth=8)
    field = on.count_parameters(on.FIELDS["basic"](16))
    assert on.count_parameters(none) - on.count_parameters(single) == 3 * field


def test_f_evaluations_are_counted():
    x = torch.randn(1, 3, 8, 8)
    assert on.count_field_calls(on.create_model("resnet20"), x) == 9
    # rk4: 7 scheme steps x 4 stages + 2 transitions
    assert on.count_field_calls(on.create_model("rk4_resnet20"), x) == 30


def test_conv1d_and_mlp_networks():
    net1d = on.SolverNet("heun", depth=8, in_channels=2, dims=1, num_classes=5)
    assert net1d(torch.randn(3, 2, 40)).shape == (3, 5)
    mlp = on.SolverNet("lm", depth=14, in_channels=64, field="mlp", num_classes=10)
    assert mlp(torch.randn(3, 64)).shape == (3, 10)
    bottleneck = on.SolverNet("euler", depth=29, field="bottleneck", widths=(16, 32, 64))
    assert bottleneck(torch.randn(2, 3, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize(("field", "stride"), [(f, s) for f in on.list_fields() for s in (1, 2)])
def test_fresh_fields_are_zero(field, stride):
    """zero_init_last: every residual branch starts at F = 0, so every step is the identity.
    Fields that refuse a stride or a change of width (vector fields, Hamiltonian K^T K) say
    so with a ValueError and are checked at stride 1, same width."""
    spec = on.get_field(field)
    try:
        f, cout = spec.build(8, 16, stride=stride, dims=2), 16
    except ValueError:
        f, cout = spec.build(8, 8, stride=1, dims=2), 8
    x = torch.randn(3, 8) if spec.vector else torch.randn(3, 8, 6, 6)
    f.zero_init_last()
    out = f(x)
    assert out.shape[:2] == (3, cout)
    assert out.abs().max() == 0


def test_state_dict_round_trip():
    a, b = on.create_model("lm_resnet20"), on.create_model("lm_resnet20")
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(a.eval()(x), b.eval()(x))


def test_fixed_scheme_coefficients_reach_every_step():
    """learn=False with coefficients fixes k in every LM step; it equals learned k set to the
    same value."""

    def build(k, **kw):
        torch.manual_seed(3)
        net = on.SolverNet("lm", depth=14, coefficients={"k": k}, **kw).eval()
        for m in net.modules():  # non-trivial residual branches
            if isinstance(m, on.FIELDS["basic"]):
                torch.nn.init.constant_(m.bn2.weight, 0.5)
        return net

    fixed, learned, other = build(0.9, learn=False), build(0.9), build(0.1, learn=False)
    assert on.count_parameters(learned) - on.count_parameters(fixed) == 3  # the 3 LM steps
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(fixed(x), learned(x))
    assert not torch.allclose(other(x), fixed(x))


@pytest.mark.parametrize("tie", on.networks.nets.TIES)
@pytest.mark.parametrize("name", on.list_schemes())
def test_every_scheme_builds_a_trainable_network(name, tie):
    """SolverNet works for every registered scheme and tie option, in training and evaluation."""
    family = on.get_scheme(name).capabilities
    depth = on.valid_depths(scheme=name)[1]  # two residual units per stage
    noise = "stochastic_depth" if family.noise == "increment" else None
    net = on.SolverNet(name, depth=depth, in_channels=1, widths=(8, 16, 16), tie=tie, noise=noise)
    x = torch.randn(4, 1, 8, 8)
    net.train()(x).square().mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    out = net.eval()(x)
    assert out.shape == (4, 10) and torch.isfinite(out).all()
