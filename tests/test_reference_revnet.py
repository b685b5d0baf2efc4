"""RevNet presets are Gomez et al.'s networks: a reference written here from the paper's
description, with its variables named and laid out as the authors' TensorFlow code stores them
(HWIO kernels, TensorFlow "SAME" padding, BatchNorm eps 1e-3), gives the same logits after the
weight mapping; the parameter counts equal the reference's; the memory-saving backward equals
plain autograd."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _tf_reference import DT, Variables, batch_norm

import odenets as on
from odenets.networks.reference_other import load_reference_state_dict


def same_conv(x, w_hwio, stride):
    """TensorFlow conv2d, padding "SAME": ceil(n / s) outputs, the odd padding pixel at the end."""
    k = w_hwio.shape[0]
    pads = []
    for n in (x.shape[3], x.shape[2]):
        total = max((-(-n // stride) - 1) * stride + k - n, 0)
        pads += [total // 2, total - total // 2]
    return F.conv2d(F.pad(x, pads), w_hwio.permute(3, 2, 0, 1), stride=stride)


def residual_inner(x, v, scope, cin, cout, stride, no_activation, bottleneck):
    """Pre-activation F: [BN-ReLU]-conv3x3(stride)-BN-ReLU-conv3x3, or the bottleneck
    [BN-ReLU]-conv1x1(stride, cout/4)-BN-ReLU-conv3x3-BN-ReLU-conv1x1(cout)."""
    if bottleneck:
        sizes = [(1, cin, cout // 4, stride), (3, cout // 4, cout // 4, 1), (1, cout // 4, cout, 1)]
    else:
        sizes = [(3, cin, cout, stride), (3, cout, cout, 1)]
    for n, (k, a, b, s) in enumerate(sizes, 1):
        if n > 1 or not no_activation:
            x = F.relu(batch_norm(x, v, f"{scope}/sub{n}/bn{n}"))
        x = same_conv(x, v(f"{scope}/sub{n}/conv{n}/w", (k, k, a, b)), s)
    return x


def downsample(x, v, scope, cin, cout, stride, bottleneck):
    if bottleneck:  # a 1x1 projection when the shape changes
        if stride > 1 or cin != cout:
            x = same_conv(x, v(f"{scope}/project/w", (1, 1, cin, cout)), stride)
        return x
    if stride > 1:  # 2x2 average pool, no padding; then zero channels on both sides
        x = F.avg_pool2d(x, stride, stride)
    if cin < cout:
        x = F.pad(x, (0, 0, 0, 0, (cout - cin) // 2, (cout - cin) // 2))
    return x


def reference_revnet(x, v, filters, units, bottleneck=False, classes=10):
    """Gomez et al.'s CIFAR RevNet: conv3x3-BN-ReLU stem; per stage, units of
    y1 = x1 + F(x2), y2 = x2 + G(y1) on the channel halves (the first unit of a stage changes
    width and resolution: strided F, downsampled x1, x2); final BN-ReLU, mean, linear."""
    filters = [filters[0]] + [f * (4 if bottleneck else 1) for f in filters[1:]]
    h = F.relu(
        batch_norm(same_conv(x, v("init/init_conv/w", (3, 3, 3, filters[0])), 1), v, "init/init_bn")
    )
    for ss, n in enumerate(units):
        for ii in range(n):
            cin = filters[ss] if ii == 0 else filters[ss + 1]
            cout, stride = filters[ss + 1], ((1, 2, 2)[ss] if ii == 0 else 1)
            scope = f"unit_{ss + 1}_{ii}"
            x1, x2 = h[:, : cin // 2], h[:, cin // 2 :]
            f = residual_inner(
                x2, v, f"{scope}/f", cin // 2, cout // 2, stride, ss == ii == 0, bottleneck
            )
            y1 = f + downsample(
                x1, v, f"{scope}/x1_bottleneck", cin // 2, cout // 2, stride, bottleneck
            )
            g = residual_inner(y1, v, f"{scope}/g", cout // 2, cout // 2, 1, False, bottleneck)
            y2 = g + downsample(
                x2, v, f"{scope}/x2_bottleneck", cin // 2, cout // 2, stride, bottleneck
            )
            h = torch.cat((y1, y2), 1)
    h = F.relu(batch_norm(h, v, "unit_last/final_bn")).mean((2, 3))
    return h @ v("logit/w", (filters[-1], classes)) + v("logit/b", (classes,), "stat")


CASES = {
    # preset: (small overrides, reference filters, units per stage, bottleneck)
    "revnet38": (
        {"depth": 26, "widths": (8, 16, 24), "stem_width": 8},
        (8, 8, 16, 24),
        (2, 2, 2),
        False,
    ),
    "revnet110": (
        {"depth": 26, "widths": (8, 16, 24), "stem_width": 8},
        (8, 8, 16, 24),
        (2, 2, 2),
        False,
    ),
    "revnet164": (
        {"depth": 38, "widths": (32, 64, 128), "stem_width": 8},
        (8, 8, 16, 32),
        (2, 2, 2),
        True,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("size", [8, 12])
def test_logits_equal_after_the_weight_mapping(name, size):
    overrides, filters, units, bottleneck = CASES[name]
    v = Variables(weight_scale=0.3)
    x = torch.randn(3, 3, size, size, dtype=DT)
    want = reference_revnet(x, v, filters, units, bottleneck)
    state = {f"Model/{k}": t.permute(*range(t.ndim)).numpy() for k, t in v.values.items()}
    state["Model/global_step"] = 0  # checkpoints also hold counters and optimizer slots
    net = load_reference_state_dict(name, state, dtype=DT, **overrides).eval()
    got = net(x)
    assert (got - want).abs().max() / want.abs().max() < 1e-8


@pytest.mark.parametrize(
    ("name", "filters", "units", "bottleneck", "count"),
    [
        ("revnet38", (32, 32, 64, 112), (3, 3, 3), False, 464_890),
        ("revnet110", (32, 32, 64, 128), (9, 9, 9), False, 1_729_194),
        ("revnet164", (32, 32, 64, 128), (9, 9, 9), True, 1_748_778),
    ],
)
def test_parameter_counts_equal_the_reference(name, filters, units, bottleneck, count):
    v = Variables(weight_scale=0.3)
    with torch.no_grad():
        reference_revnet(torch.zeros(1, 3, 8, 8, dtype=DT), v, filters, units, bottleneck)
    assert on.count_parameters(on.create_model(name)) == v.trainable() == count


def test_the_strided_conv_pads_like_tensorflow():
    """At stride 2 on an even size TensorFlow pads (0, 1), PyTorch's padding=1 (1, 1): the
    transition's strided F samples other pixels, so the two nets differ unless padded alike."""
    net = on.create_model("revnet38")
    conv = net.stages[1].transition.fields[0].conv1
    assert isinstance(conv, on.networks.fields.TFSameConv2d)
    x = torch.randn(1, conv.in_channels, 8, 8)
    plain = F.conv2d(x, conv.weight, stride=2, padding=1)
    assert conv(x).shape == plain.shape and not torch.allclose(conv(x), plain)
    torch.testing.assert_close(conv(x), F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, stride=2))


@pytest.mark.parametrize("name", sorted(CASES))
def test_memory_saving_backward_equals_plain_autograd(name):
    overrides = CASES[name][0]
    grads = []
    for rb in (True, False):
        torch.manual_seed(0)
        net = on.create_model(name, reversible_backward=rb, **overrides).double()
        for p in net.parameters():  # non-zero last layers, so every F and G matters
            torch.nn.init.normal_(p, std=0.3)
        x = torch.randn(2, 3, 8, 8, dtype=DT, generator=torch.Generator().manual_seed(1))
        net(x).square().sum().backward()
        grads.append([p.grad for p in net.parameters()])
        if rb:
            assert all(stage.reversible_backward for stage in net.stages)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)
