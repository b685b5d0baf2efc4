"""Every preset builds, runs forward/backward, has its record (reference parameter count
exactly), and speaks timm's model API."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import odenets as on
import odenets.networks
import odenets.numerics
from odenets.networks.catalog import MARK_END, MARK_START, models_table_markdown
from odenets.networks.model_registry import Preset

ROOT = Path(__file__).resolve().parents[1]

#: The ResNet lineage: every record complete (paper, scheme, block, a count or its reason).
LINEAGE = (
    on.list_models("resnet*")
    + on.list_models("preact_resnet*")
    + on.list_models("lm_resnet*")
    + on.list_models("momentum_resnet*")
    + ["stochastic_depth_resnet110", "polynet20", "mpolynet20"]
)


@pytest.mark.parametrize("name", on.list_models())
def test_preset_forward_backward(name):
    model = on.create_model(name)
    x = torch.randn(2, model.in_channels, *(8,) * model.dims)
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


@pytest.mark.parametrize("name", on.list_models())
def test_every_preset_has_a_record_and_its_reference_count(name):
    info = on.model_info(name)
    assert isinstance(info, on.ModelInfo) and info.name == name
    assert info.description and "\n" not in info.description
    with torch.device("meta"):  # counting needs the shapes only
        model = on.create_model(name)
    assert model.model_info is info and model.pretrained_cfg["name"] == name
    if info.params is not None:
        assert on.count_parameters(model) == info.params
    else:
        assert info.params_note  # why there is no reference count
    if info.scheme is not None:
        assert model.scheme.name == info.scheme


@pytest.mark.parametrize("name", LINEAGE)
def test_lineage_records_are_complete(name):
    info = on.model_info(name)
    assert info.paper and info.scheme in on.list_schemes()
    assert info.block in on.networks.model_info.BLOCK_KINDS
    assert info.params is not None or "no reference" in info.params_note
    assert info.cifar10_error is not None or info.error_source  # the error, or why none
    if info.variant_of is not None:
        assert info.variant_of in on.list_models()


def test_models_page_is_current():
    text = (ROOT / "docs" / "models.md").read_text(encoding="utf-8")
    table = text.split(MARK_START, 1)[1].split(MARK_END, 1)[0].strip()
    assert table == models_table_markdown(), (
        "run `python -m odenets.networks.catalog` to regenerate docs/models.md"
    )


def test_record_is_validated():
    with pytest.raises(ValueError, match="params_note must say why"):
        on.ModelInfo("x", "a net", params=None, params_note="")
    with pytest.raises(ValueError, match="needs error_source"):
        on.ModelInfo("x", "a net", params=10, cifar10_error=5.0)
    with pytest.raises(ValueError, match="must name its projection"):
        on.ModelInfo("x", "a net", params=10, block="projected")
    with pytest.raises(ValueError, match="unknown ModelInfo 'x' block 'exactly'"):
        on.ModelInfo("x", "a net", params=10, block="exactly")


# ------------------------------------------------------------------ timm's model API


def _narrow(name: str, **overrides) -> nn.Module:
    """The preset with two narrow units per stage (its layers and scheme kept): the
    interface checks below do not depend on depth or widths, and the full-size presets run
    in the test above."""
    with torch.device("meta"):
        full = on.create_model(name)
    if isinstance(full, on.SolverNet):
        widths = tuple(8 * 2 ** min(i, 1) for i in range(len(full.widths)))
        depth = on.valid_depths(full.field_name, len(widths), scheme=full.scheme)[1]
        small = {"widths": widths, "stem_width": widths[0], "depth": min(depth, full.depth)}
        return on.create_model(name, **small, **overrides)
    return on.create_model(name, widths=(4,) * len(full.widths), **overrides)


@pytest.mark.parametrize("name", on.list_models())
def test_timm_model_interface(name):
    model = _narrow(name, num_classes=7).eval()
    x = torch.randn(2, 3, 8, 8)
    features = model.forward_features(x)
    assert features.shape[:2] == (2, model.num_features) and features.ndim == 4
    pooled = model.forward_head(features, pre_logits=True)
    assert pooled.shape == (2, model.num_features)
    logits = model.forward_head(features)
    torch.testing.assert_close(logits, model(x))
    assert model.num_classes == 7 and logits.shape == (2, 7)
    assert isinstance(model.get_classifier(), nn.Linear)
    model.reset_classifier(3)
    assert model(x).shape == (2, 3) and model.num_classes == 3
    model.reset_classifier(0)
    torch.testing.assert_close(model(x), pooled)


def test_forward_features_is_after_the_final_norm():
    """timm's convention: the unpooled map after the final BN-ReLU of a pre-activation net,
    the last block's output (already rectified) of a post-activation one."""
    x = torch.randn(2, 3, 8, 8)
    pre = on.create_model("preact_resnet20").eval()
    raw = pre.stages(pre.stem(x))
    torch.testing.assert_close(pre.forward_features(x), torch.relu(pre.head_norm(raw)))
    post = on.create_model("resnet20").eval()
    torch.testing.assert_close(post.forward_features(x), post.stages(post.stem(x)))
    assert post.forward_features(x).min() >= 0


def test_list_models_patterns():
    resnets = ["resnet110", "resnet20", "resnet32", "resnet44", "resnet56"]
    assert on.list_models("resnet*") == resnets
    assert on.list_models(["lm_*_sd"]) == ["lm_resnet110_sd", "lm_resnet56_sd"]
    assert "lm_resnet56_sd" not in on.list_models("lm_*", exclude="*_sd")
    assert on.list_models("nothing*") == []
    with pytest.raises(TypeError, match="pattern must be a str"):
        on.list_models(3)


def test_create_model_timm_keywords():
    model = on.create_model("resnet20", num_classes=4, in_chans=1, drop_rate=0.5)
    assert model.in_channels == 1 and model.num_classes == 4 and model.drop_rate == 0.5
    x = torch.randn(8, 1, 8, 8)
    model.eval()
    torch.testing.assert_close(model(x), model(x))  # dropout only in training
    model.train()
    features = model.forward_head(model.forward_features(x), pre_logits=True)
    assert (features == 0).any()  # the dropout before the classifier
    with pytest.raises(TypeError, match="in_chans .* or in_channels, not both"):
        on.create_model("resnet20", in_chans=1, in_channels=1)
    with pytest.raises(ValueError, match="drop_rate is a dropout probability"):
        on.create_model("resnet20", drop_rate=1.5)


def test_drop_path_rate_sets_stochastic_depth_where_the_preset_has_it():
    model = on.create_model("lm_resnet56_sd", drop_path_rate=0.3)
    survival = [b.noise.survival for s in model.stages for b in s.blocks]
    assert min(survival) == pytest.approx(0.7)  # the last block: 1 - drop_path_rate
    assert on.create_model("stochastic_depth_resnet110", drop_path_rate=0.1).blocks[-1].noise
    assert on.create_model("resnet20", drop_path_rate=0.0)  # 0: nothing to set, accepted
    with pytest.raises(ValueError, match="has no stochastic depth for drop_path_rate=0.2"):
        on.create_model("resnet20", drop_path_rate=0.2)
    with pytest.raises(ValueError, match=r"death rate of the last block, in \[0, 1\)"):
        on.create_model("lm_resnet56_sd", drop_path_rate=1.0)


def test_pretrained_true_is_refused_and_a_path_loads(tmp_path):
    with pytest.raises(ValueError, match="no pretrained weights are published for 'resnet20'"):
        on.create_model("resnet20", pretrained=True)
    source = on.create_model("lm_resnet20")
    for m in source.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight)
    plain, wrapped = tmp_path / "sd.pt", tmp_path / "ckpt.pt"
    torch.save(source.state_dict(), plain)
    torch.save({"format": "odenets-checkpoint-1", "model": source.state_dict()}, wrapped)
    x = torch.randn(2, 3, 8, 8)
    for path in (plain, wrapped, str(plain)):
        loaded = on.create_model("lm_resnet20", pretrained=path)
        torch.testing.assert_close(loaded.eval()(x), source.eval()(x))


def test_pretrained_that_does_not_fit_names_the_keys(tmp_path):
    path = tmp_path / "other.pt"
    torch.save(on.create_model("resnet20").state_dict(), path)
    with pytest.raises(ValueError, match=r"does not fit lm_resnet20: .*missing keys: .*head_norm"):
        on.create_model("lm_resnet20", pretrained=path)
    with pytest.raises(ValueError, match="mis-shaped keys: fc.bias"):
        on.create_model("resnet20", pretrained=path, num_classes=5)
    with pytest.raises(ValueError, match="not found"):
        on.create_model("resnet20", pretrained=tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        on.create_model("resnet20", pretrained=tmp_path / "junk.pt")


def test_register_model_takes_a_record_and_defaults_one():
    info = on.ModelInfo("tiny_test_net", "a tiny net", params_note="a test preset")

    @on.register_model(info=info)
    def tiny_test_net(**kw):
        """A tiny net."""
        return on.SolverNet("euler", depth=8, **kw)

    def tiny_plain_net(**kw):
        """A plain one."""
        return on.SolverNet("euler", depth=8, **kw)

    on.register_model(tiny_plain_net)
    try:
        assert on.model_info("tiny_test_net") is info
        assert on.model_info("tiny_plain_net").description == "A plain one."
        with pytest.raises(ValueError, match="takes no drop_path_rate"):
            on.create_model("tiny_plain_net", drop_path_rate=0.1)
        with pytest.raises(ValueError, match="differs from the preset name"):
            on.register_model(Preset("other_net", "another net", {}), info=info)
        with pytest.raises(ValueError, match="needs an identifier __name__"):
            on.register_model(lambda: None)
    finally:
        on.networks.presets.unregister_model("tiny_test_net")
        on.networks.presets.unregister_model("tiny_plain_net")


# ------------------------------------------------------------------ network building


def test_lm_adds_one_scalar_per_lm_step():
    for depth in (20, 110):
        lm = on.create_model(f"lm_resnet{depth}")
        euler = on.create_model(f"lm_resnet{depth}", scheme="euler", options=None)
        n = (depth - 2) // 6
        assert len(lm.blocks) == 3 * n - 2  # the two transitions are not scheme steps
        learned = [b for b in lm.blocks if "k" in b.coefficients]
        assert len(learned) == len(lm.blocks) - 1  # the first step has no history (Euler)
        assert on.count_parameters(lm) - on.count_parameters(euler) == len(learned)


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
    assert mlp.forward_features(torch.randn(3, 64)).shape == (3, mlp.num_features)
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


def test_conv_bias_reaches_the_stem_and_every_field():
    plain, biased = on.SolverNet("euler", depth=8), on.SolverNet("euler", depth=8, conv_bias=True)
    convs = [m for m in biased.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None for c in convs)
    assert on.count_parameters(biased) - on.count_parameters(plain) == sum(
        c.out_channels for c in convs
    )
    with pytest.raises(ValueError, match="conv_bias=True needs a field"):
        on.SolverNet("euler", depth=8, field="hamiltonian", conv_bias=True)


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


def test_presets_are_recipes():
    fn = on.networks.model_registry._MODELS["resnet20"]
    assert isinstance(fn, Preset) and fn.recipe["project"] == "relu"
