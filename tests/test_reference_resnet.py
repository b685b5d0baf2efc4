"""The ResNet-lineage presets are the published networks.

Each reference network below is written here from its paper's description (and the layer
facts of the authors' code, named as that code names its state dict, so that the mapping of
``odenets.networks.reference`` is exercised): He et al.'s option-A ResNet, the pre-activation
(literal Euler) variant, Lu et al.'s LM-ResNet with and without stochastic depth, Huang et
al.'s stochastic-depth ResNet and Momentum ResNets on He's layout. For each: the same
parameter count, and after copying the weights across the same logits in float64 — in
evaluation mode with random BatchNorm statistics, and in training mode (batch statistics,
the same random gates, the same running statistics afterwards).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import odenets as on
from odenets.networks.noise import linear_survival, linspace_survival
from odenets.networks.reference import convert_reference_state_dict, load_reference_state_dict

WIDTHS = (16, 32, 64)


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial weights everywhere: BN affine parameters and running statistics too."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.3 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
            elif isinstance(m, nn.Conv2d | nn.Linear):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / math.sqrt(fan_in))
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    return model


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def copy_in_order(src: nn.Module, dst: nn.Module) -> None:
    """Copy ``src``'s state into ``dst`` entry by entry: the two networks must hold the same
    tensors (shapes) in the same order — the same layers in the same order."""
    a, b = list(src.state_dict().values()), dst.state_dict()
    assert len(a) == len(b), (len(a), len(b))
    for value, (key, target) in zip(a, b.items(), strict=True):
        assert value.shape == target.shape, (key, value.shape, target.shape)
    dst.load_state_dict(dict(zip(b, a, strict=True)))


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def bn_stats(model: nn.Module) -> list[torch.Tensor]:
    return [
        t
        for m in model.modules()
        if isinstance(m, nn.BatchNorm2d)
        for t in (m.running_mean, m.running_var)
    ]


# ------------------------------------------------------------------ He et al. 2016a


class OptionA(nn.Module):
    """Option A: keep every second pixel, zero channels half before, half after."""

    def __init__(self, extra: int) -> None:
        super().__init__()
        self.extra = extra

    def forward(self, x):
        x = x[:, :, ::2, ::2]
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


class PostActUnit(nn.Module):
    """relu(BN(conv(relu(BN(conv x)))) + shortcut(x)): the 2016a unit, ReLU after the sum."""

    def __init__(self, cin: int, cout: int, stride: int, bias: bool = False, pool=None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=bias)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=bias)
        self.bn2 = nn.BatchNorm2d(cout)
        changes = stride != 1 or cin != cout
        self.shortcut = (pool or OptionA)(cout - cin) if changes else nn.Identity()

    def branch(self, x):
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def forward(self, x):
        return F.relu(self.branch(x) + self.shortcut(x))


class HeResNet(nn.Module):
    """The CIFAR ResNet of He et al. 2016a (§4.2): conv3x3-BN-ReLU, three stages of n units
    at widths 16/32/64 (stride 2 at the start of stages 2 and 3), global average pool, FC.
    State-dict names as akamaster/pytorch_resnet_cifar10's resnet.py."""

    def __init__(self, n: int, unit=PostActUnit, **unit_kwargs) -> None:
        super().__init__()
        bias = unit_kwargs.get("bias", False)
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=bias)
        self.bn1 = nn.BatchNorm2d(16)
        cin = 16
        for s, width in enumerate(WIDTHS):
            units = []
            for j in range(n):
                units.append(unit(cin, width, 2 if (s and not j) else 1, **unit_kwargs))
                cin = width
            setattr(self, f"layer{s + 1}", nn.Sequential(*units))
        self.linear = nn.Linear(64, 10)

    def stem(self, x):
        return F.relu(self.bn1(self.conv1(x)))

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.linear(x.mean((2, 3)))


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_he_resnet_parameter_counts_are_the_reference_counts(depth):
    ours = on.create_model(f"resnet{depth}")
    ref = HeResNet((depth - 2) // 6)
    assert on.count_parameters(ours) == n_params(ref) == on.model_info(f"resnet{depth}").params


@pytest.mark.parametrize("depth", [20, 56])
def test_he_resnet_equals_the_reference_after_the_weight_mapping(depth):
    ref = randomize(HeResNet((depth - 2) // 6)).double()
    ours = load_reference_state_dict(on.create_model(f"resnet{depth}").double(), ref.state_dict())
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    assert relative(ours.eval()(x), ref.eval()(x)) <= 1e-12
    # training mode: batch statistics, and the same running statistics afterwards
    out_ours, out_ref = ours.train()(x), ref.train()(x)
    assert relative(out_ours, out_ref) <= 1e-12
    for a, b in zip(bn_stats(ours), bn_stats(ref), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_option_a_pads_on_both_sides():
    """The new channels of an option-A shortcut are zero on both sides of the old ones (the
    reference layout); "pad_end" keeps the earlier layout."""
    x = torch.randn(2, 4, 6, 6)
    both = on.networks.shortcuts.make_shortcut("pad", 4, 8, 2, 2)(x)
    end = on.networks.shortcuts.make_shortcut("pad_end", 4, 8, 2, 2)(x)
    torch.testing.assert_close(both[:, 2:6], x[:, :, ::2, ::2])
    assert both[:, :2].abs().max() == 0 and both[:, 6:].abs().max() == 0
    torch.testing.assert_close(end[:, :4], x[:, :, ::2, ::2])
    pooled = on.networks.shortcuts.make_shortcut("avgpool_pad_end", 4, 8, 2, 2)(x)
    torch.testing.assert_close(pooled[:, :4], F.avg_pool2d(x, 2))


def test_mapping_names_the_keys_that_do_not_fit():
    state = HeResNet(3).state_dict()
    del state["layer2.1.conv1.weight"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing layer2\.1\.conv1\.weight.*unexpected extra"):
        convert_reference_state_dict("resnet20", state)
    with pytest.raises(ValueError, match="has no reference format"):
        convert_reference_state_dict("preact_resnet20", state)


def test_mapping_accepts_a_checkpoint_dict_with_module_prefixes_and_old_bn_buffers():
    """akamaster's published files: {"state_dict": {"module.conv1.weight", ...}} saved
    without num_batches_tracked."""
    ref = randomize(HeResNet(3))
    state = {
        f"module.{k}": v for k, v in ref.state_dict().items() if "num_batches_tracked" not in k
    }
    ours = load_reference_state_dict("resnet20", {"state_dict": state, "best_prec1": 91.0})
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(ours.eval()(x), ref.eval()(x), rtol=1e-5, atol=1e-5)


def test_create_model_loads_the_authors_file_directly(tmp_path):
    ref = randomize(HeResNet(3))
    path = tmp_path / "resnet20-authors.th"
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}}, path)
    ours = on.create_model("resnet20", pretrained=path)
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(ours.eval()(x), ref.eval()(x), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ He et al. 2016b


class PreActUnit(nn.Module):
    """x + conv(relu(BN(conv(relu(BN x))))): the full pre-activation unit; option-A shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = OptionA(cout - cin) if (stride != 1 or cin != cout) else nn.Identity()

    def forward(self, x):
        branch = self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x))))))
        return self.shortcut(x) + branch


class PreActResNet(nn.Module):
    """He et al. 2016b's unit in the 2016a CIFAR layout: a bare conv3x3, three stages of
    pre-activation units, the final BN-ReLU, global average pool, FC."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        units, cin = [], 16
        for s, width in enumerate(WIDTHS):
            for j in range(n):
                units.append(PreActUnit(cin, width, 2 if (s and not j) else 1))
                cin = width
        self.units = nn.Sequential(*units)
        self.bn = nn.BatchNorm2d(64)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.units(self.conv1(x))))
        return self.fc(x.mean((2, 3)))


@pytest.mark.parametrize("depth", [20, 110])
def test_preact_resnet_is_the_literal_euler_network(depth):
    n = (depth - 2) // 6
    ref = randomize(PreActResNet(n)).double()
    ours = on.create_model(f"preact_resnet{depth}").double()
    reference = on.model_info(f"preact_resnet{depth}").params
    assert on.count_parameters(ours) == n_params(ref) == reference
    copy_in_order(ref, ours)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    assert relative(ours.eval()(x), ref.eval()(x)) <= 1e-12
    assert relative(ours.train()(x), ref.train()(x)) <= 1e-12
    # every block is exactly x + F(x): no projection anywhere
    assert all(b.project is None for b in ours.blocks)


# ------------------------------------------------------------------ Lu et al. 2018


class LMUnit(nn.Module):
    """The pre-activation residual function BN-ReLU-conv3x3-BN-ReLU-conv3x3 (no shortcut)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)

    def forward(self, x):
        return self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x))))))


class Projection(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 2) -> None:
        super().__init__()
        self.downsample = nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, cout, 1, stride, bias=False)
        )

    def forward(self, x):
        return self.downsample(x)


class LMResNet(nn.Module):
    """LM-ResNet (Lu et al. 2018): u_{n+1} = (1 - k_n) u_n + k_n u_{n-1} + F_n(u_n), the first
    unit of each stage an Euler step (from the projected input after a resolution change,
    which is then u_{n-1}); a bare conv stem, BN-ReLU-conv1x1 projections, head BN-ReLU.

    Laid out and named like the authors' ``MResNet``: it also holds the layers their forward
    never uses (``bn1``, the bottleneck-only ``downsample1``), and one ``ks = 1 - k`` per unit.
    ``gates`` (training only) makes it the stochastic LM-ResNet: unit i dropped or kept, a
    kept F divided by its survival probability ``p_i = 1 - i/(L-1) (1 - p_L)``."""

    def __init__(self, n: int, p_last: float | None = None) -> None:
        super().__init__()
        self.n = n
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.ks = nn.ParameterList(
            [nn.Parameter(torch.empty(1).uniform_(1.0, 1.1)) for _ in range(3 * n)]
        )
        units, cin = [], 16
        for s, width in enumerate(WIDTHS):
            for j in range(n):
                units.append(LMUnit(cin, width, 2 if (s and not j) else 1))
                cin = width
        self.blocks = nn.ModuleList(units)
        self.downsample1 = Projection(16, 64, 1)
        self.downsample21 = Projection(16, 32)
        self.downsample31 = Projection(32, 64)
        self.bn = nn.BatchNorm2d(64)
        self.fc = nn.Linear(64, 10)
        self.survival = None if p_last is None else linspace_survival(3 * n, p_last)

    def residual(self, i, x, gates):
        if not self.training or gates is None:
            return self.blocks[i](x)
        if not gates[i]:
            return None  # dropped: F is not evaluated
        return self.blocks[i](x) / self.survival[i]

    def forward(self, x, gates=None):
        u = self.conv1(x)
        f = self.residual(0, u, gates)
        prev, u = u, u if f is None else u + f
        for i in range(1, 3 * self.n):
            stage, j = divmod(i, self.n)
            f = self.residual(i, u, gates)
            if j == 0:  # resolution change: Euler from the projection, which becomes u_{n-1}
                p = (self.downsample21 if stage == 1 else self.downsample31)(u)
                prev, u = p, p if f is None else p + f
            else:
                k = 1 - self.ks[i]
                step = (1 - k) * u + k * prev
                prev, u = u, step if f is None else step + f
        return self.fc(F.relu(self.bn(u)).mean((2, 3)))


UNUSED = 32 + 1056 + 3  # bn1, downsample1, the ks of the three stage-opening units


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_lm_resnet_parameter_counts(depth):
    ref = LMResNet((depth - 2) // 6)
    ours = on.create_model(f"lm_resnet{depth}")
    assert on.count_parameters(ours) == n_params(ref) - UNUSED
    assert on.count_parameters(ours) == on.model_info(f"lm_resnet{depth}").params
    assert on.model_info(f"lm_resnet{depth}").params_note.count("1,091")


@pytest.mark.parametrize("depth", [20, 56])
def test_lm_resnet_equals_the_authors_update_after_the_mapping(depth):
    ref = randomize(LMResNet((depth - 2) // 6)).double()
    with torch.no_grad():  # k far from 0, and one outside (-1, 1]: the paper form is free
        for i, ks in enumerate(ref.ks):
            ks.fill_(0.4 + 0.05 * i if i != 4 else -0.8)  # k = 1 - ks = 1.8 for unit 4
    ours = load_reference_state_dict(
        on.create_model(f"lm_resnet{depth}").double(), ref.state_dict()
    )
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    assert relative(ours.eval()(x), ref.eval()(x)) <= 1e-12
    assert relative(ours.train()(x), ref.train()(x)) <= 1e-12
    # learned k is stored as it is (no parametrisation in the paper form): k = 1.8 kept
    ks = [b.coefficients.resolved()["k"].item() for b in ours.blocks if "k" in b.coefficients]
    assert max(ks) == pytest.approx(1.8)


def replicated_gates(survival: list[float], seed: int) -> list[bool]:
    """The gates a stochastic preset draws from NoiseSource(seed): in network order, one
    uniform per unit whose survival is below 1."""
    g = torch.Generator().manual_seed(seed)
    return [p == 1.0 or bool(torch.rand(1, generator=g) < p) for p in survival]


@pytest.mark.parametrize(("depth", "p_last"), [(56, 0.8), (110, 0.5)])
def test_stochastic_lm_resnet_has_the_authors_rule(depth, p_last):
    """Death rate i/(L-1) (1 - p_L), one draw per unit per forward, survivors divided by
    their survival in training, no scaling at test time; dropped units skip F (BN running
    statistics untouched)."""
    name = f"lm_resnet{depth}_sd"
    n = (depth - 2) // 6
    ref = randomize(LMResNet(n, p_last)).double()
    ours = load_reference_state_dict(on.create_model(name).double(), ref.state_dict())
    assert on.count_parameters(ours) == on.model_info(name).params
    survival = [b.noise.survival for b in _units(ours)]
    assert survival == pytest.approx(linspace_survival(3 * n, p_last))
    assert survival[0] == 1.0 and survival[-1] == pytest.approx(p_last)
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    assert relative(ours.eval()(x), ref.eval()(x)) <= 1e-12  # no test-time scaling
    for seed in (0, 1):
        gates = replicated_gates(survival, seed)
        assert not all(gates)
        ours.noise_source.seed(seed)
        assert relative(ours.train()(x), ref.train()(x, gates)) <= 1e-12
    # the running statistics afterwards (the reference's, mapped onto the preset's names)
    mapped, state = convert_reference_state_dict(name, ref.state_dict()), ours.state_dict()
    for key in [k for k in mapped if "running" in k]:
        torch.testing.assert_close(state[key], mapped[key], rtol=1e-12, atol=1e-12)


def _units(model) -> list[on.SchemeBlock]:
    """Every residual unit (transitions included) in network order."""
    out = []
    for stage in model.stages:
        if stage.transition is not None:
            out.append(stage.transition)
        out.extend(stage.blocks)
    return out


# ------------------------------------------------------------------ Huang et al. 2016


class PadEndPool(nn.Module):
    """2x2 average pooling, then the new zero channels after the old ones."""

    def __init__(self, extra: int) -> None:
        super().__init__()
        self.extra = extra

    def forward(self, x):
        return F.pad(F.avg_pool2d(x, 2), (0, 0, 0, 0, 0, self.extra))


class HuangUnit(PostActUnit):
    """ReLU(skip(x) + b F(x)) in training with b the unit's gate, ReLU(skip(x) + p F(x)) in
    evaluation; convolutions with biases (Huang et al.'s Torch model)."""

    def __init__(self, cin, cout, stride, bias=True, pool=PadEndPool):
        super().__init__(cin, cout, stride, bias, pool)
        self.survival, self.gate = 1.0, True

    def forward(self, x):
        skip = self.shortcut(x)
        if self.training:
            return F.relu(skip + self.branch(x)) if self.gate else F.relu(skip)
        return F.relu(skip + self.survival * self.branch(x))


def test_stochastic_depth_resnet110_is_huangs_network():
    ref = randomize(HeResNet(18, unit=HuangUnit, bias=True)).double()
    units = [u for layer in (ref.layer1, ref.layer2, ref.layer3) for u in layer]
    survival = linear_survival(len(units), 0.5)  # 1 - l/L (1 - p_L), l = 1..L
    for unit, p in zip(units, survival, strict=True):
        unit.survival = p
    ours = on.create_model("stochastic_depth_resnet110").double()
    assert on.count_parameters(ours) == n_params(ref) == 1_732_010
    copy_in_order(ref, ours)
    assert [b.noise.survival for b in _units(ours)] == pytest.approx(survival)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    assert relative(ours.eval()(x), ref.eval()(x)) <= 1e-12
    ours.noise_source.seed(3)
    for unit, gate in zip(units, replicated_gates(survival, 3), strict=True):
        unit.gate = gate
    assert not all(u.gate for u in units)
    assert relative(ours.train()(x), ref.train()(x)) <= 1e-12


# ------------------------------------------------------------------ Sander et al. 2021


class MomentumHeResNet(HeResNet):
    """He's ResNet whose units after the first of each stage are momentum steps
    v <- gamma v + (1 - gamma) F(x), x <- x + v (no ReLU), v = 0 at the start of a stage; the
    first unit of stages 2 and 3 is He's downsampling unit."""

    def __init__(self, n: int, gamma: float = 0.9) -> None:
        super().__init__(n)
        self.gamma = gamma

    def forward(self, x):
        x = self.stem(x)
        for s, layer in enumerate((self.layer1, self.layer2, self.layer3)):
            v = torch.zeros_like(x)
            for j, unit in enumerate(layer):
                if s and not j:
                    x = unit(x)
                    v = torch.zeros_like(x)
                else:
                    v = self.gamma * v + (1 - self.gamma) * unit.branch(x)
                    x = x + v
        return self.linear(x.mean((2, 3)))


@pytest.mark.parametrize("depth", [20, 56])
def test_momentum_resnet_is_hes_layout_with_momentum_steps(depth):
    ref = randomize(MomentumHeResNet((depth - 2) // 6)).double()
    ours = on.create_model(f"momentum_resnet{depth}").double()
    assert (
        on.count_parameters(ours)
        == n_params(ref)
        == on.count_parameters(on.create_model(f"resnet{depth}"))
    )
    copy_in_order(ref, ours)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    assert relative(ours.eval()(x), ref.eval()(x)) <= 1e-12
    assert relative(ours.train()(x), ref.train()(x)) <= 1e-12
