"""Shake-shake presets are Gastaldi's network: a reference-shaped net written here from the
paper's description (in the tensor names of hysts/pytorch_shake_shake) gives the same logits
after the weight mapping, the same Shake-Shake-Image training semantics (alpha per sample
forward, an independent beta per sample backward), and the same parameter counts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import odenets as on
from odenets.networks.reference_other import load_reference_state_dict, reference_to_state_dict

DT = torch.float64


class _Shake(torch.autograd.Function):
    """alpha * a + (1 - alpha) * b forward, beta / (1 - beta) backward."""

    @staticmethod
    def forward(ctx, a, b, alpha, beta):
        ctx.save_for_backward(beta)
        return alpha * a + (1 - alpha) * b

    @staticmethod
    def backward(ctx, grad):
        (beta,) = ctx.saved_tensors
        return grad * beta, grad * (1 - beta), None, None


class Branch(nn.Module):
    """ReLU-conv3x3-BN-ReLU-conv3x3-BN (the stride on the first conv)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(F.relu(x))))))


class Skip(nn.Module):
    """ReLU, then two 1x1 convs to C/2 on the subsampled and the one-pixel-shifted map, BN."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv2d(cin, cout // 2, 1, bias=False)
        self.conv2 = nn.Conv2d(cin, cout // 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = F.relu(x)
        s = self.stride
        first = x[:, :, ::s, ::s]
        shifted = torch.zeros_like(x)
        shifted[:, :, :-1, :-1] = x[:, :, 1:, 1:]
        second = shifted[:, :, ::s, ::s]
        return self.bn(torch.cat((self.conv1(first), self.conv2(second)), 1))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.residual_path1 = Branch(cin, cout, stride)
        self.residual_path2 = Branch(cin, cout, stride)
        self.shortcut = nn.Sequential()
        if cin != cout:
            self.shortcut.add_module("skip", Skip(cin, cout, stride))
        self.draws = None  # (alpha, beta) per sample, set by the test in training mode

    def forward(self, x):
        a, b = self.residual_path1(x), self.residual_path2(x)
        if self.training:
            alpha, beta = (d.view(-1, 1, 1, 1).to(x.dtype) for d in self.draws)
        else:
            alpha = beta = torch.tensor(0.5, dtype=x.dtype)
        return self.shortcut(x) + _Shake.apply(a, b, alpha, beta)


class ReferenceShakeShake(nn.Module):
    """Gastaldi's CIFAR network: conv3x3 -> 16 channels, BN; three stages of (depth-2)/6
    two-branch blocks at widths k, 2k, 4k (strides 1, 2, 2; the first block of each stage
    widens with the two-path shortcut); ReLU, global average pool, linear."""

    def __init__(self, depth=26, base=32, stem=16, classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv = nn.Conv2d(3, stem, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(stem)
        widths, cin = [base, 2 * base, 4 * base], stem
        for s, (w, stride) in enumerate(zip(widths, (1, 2, 2), strict=True)):
            stage = nn.Sequential()
            for b in range(n):
                stage.add_module(
                    f"block{b + 1}", Block(cin if b == 0 else w, w, stride if b == 0 else 1)
                )
            setattr(self, f"stage{s + 1}", stage)
            cin = w
        self.fc = nn.Linear(4 * base, classes)

    def blocks(self):
        return [b for s in (self.stage1, self.stage2, self.stage3) for b in s]

    def forward(self, x):
        x = self.stage3(self.stage2(self.stage1(self.bn(self.conv(x)))))
        return self.fc(F.relu(x).mean((2, 3)))


def randomize(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g, dtype=DT) + 0.5)
            elif t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g, dtype=DT) * 0.5)


SMALL = {"depth": 14, "widths": (4, 8, 16), "stem_width": 6}


def reference_and_ours():
    ref = ReferenceShakeShake(depth=14, base=4, stem=6).double()
    randomize(ref)
    ours = load_reference_state_dict("shake_shake26_2x32d", ref.state_dict(), dtype=DT, **SMALL)
    return ref, ours


def test_logits_equal_after_the_weight_mapping():
    ref, ours = reference_and_ours()
    x = torch.randn(3, 3, 8, 8, dtype=DT)
    want = ref.eval()(x)
    got = ours.eval()(x)
    assert torch.allclose(got, want, rtol=1e-8, atol=0)
    assert (got - want).abs().max() / want.abs().max() < 1e-12


def test_training_mode_is_shake_shake_image():
    """alpha and beta are drawn per sample and independently; the outputs and every gradient
    equal the reference's with those draws."""
    ref, ours = reference_and_ours()
    ref.train()
    ours.train()
    x = torch.randn(4, 3, 8, 8, dtype=DT)
    ours.noise_source.seed(7)
    g = torch.Generator().manual_seed(7)
    for block in ref.blocks():  # the same draws, in network order: alpha, then beta
        block.draws = (torch.rand(4, generator=g), torch.rand(4, generator=g))
    alphas = torch.stack([b.draws[0] for b in ref.blocks()])
    assert alphas.std(1).min() > 0  # per sample
    assert not torch.allclose(alphas, torch.stack([b.draws[1] for b in ref.blocks()]))
    want, got = ref(x), ours(x)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    want.square().sum().backward()
    got.square().sum().backward()
    grads = {k: p.grad for k, p in ref.named_parameters()}
    grads.update(ref.named_buffers())
    mapped = reference_to_state_dict(ours, grads, "hysts")
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, mapped[name], rtol=1e-9, atol=1e-12)


def test_evaluation_uses_one_half():
    net = on.create_model("shake_shake26_2x32d", **SMALL).double().eval()
    block = net.blocks[0]
    x = torch.randn(2, 4, 6, 6, dtype=DT)
    f1, f2 = block.fields
    torch.testing.assert_close(block(x), x + 0.5 * (f1(x) + f2(x)), rtol=1e-12, atol=1e-12)
    assert net.blocks[0].noise.independent_backward


def test_parameter_counts_equal_the_reference():
    ref = ReferenceShakeShake(depth=26, base=32)
    ours = on.create_model("shake_shake26_2x32d")
    assert on.count_parameters(ours) == on.count_parameters(ref) == 2_923_162
    assert on.count_parameters(on.create_model("shake_shake26_2x96d")) == 26_192_922


def test_architecture_is_the_papers():
    net = on.create_model("shake_shake26_2x32d")
    assert net.stem_width == 16 and net.head_norm is None and net.head_kind == "relu"
    assert net.stages[0].transition is not None  # the first stage widens 16 -> 32
    assert all(type(s.transition.shortcut).__name__ == "TwoPathShortcut" for s in net.stages)
    assert len(net.blocks) + 3 == 12  # 4 blocks per stage, one of them the transition


def test_mapping_errors_name_the_problem():
    ref = ReferenceShakeShake(depth=14, base=4, stem=6).double()
    state = ref.state_dict()
    del state["fc.bias"]
    with pytest.raises(ValueError, match="missing in the reference: \\['fc.bias'\\]"):
        load_reference_state_dict("shake_shake26_2x32d", state, **SMALL)
    state = ref.state_dict()
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="not used by the model"):
        load_reference_state_dict("shake_shake26_2x32d", state, **SMALL)
    with pytest.raises(ValueError, match="wrong shapes"):
        load_reference_state_dict("shake_shake26_2x32d", ref.state_dict(), depth=14)


def test_two_path_shortcut_shifts_even_at_stride_one():
    from odenets.networks.shortcuts import TwoPathShortcut, make_shortcut

    sc = make_shortcut("two_path", 2, 4, 1, 2).eval()
    assert isinstance(sc, TwoPathShortcut) and sum(p.numel() for p in sc.parameters()) == 16
    with torch.no_grad():
        sc.conv_a.weight.zero_()
        sc.conv_b.weight.fill_(1.0)
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(1, 2, 1, 1)
    out = (sc(x) - sc.bn.bias.view(1, -1, 1, 1)) * (sc.bn.running_var + sc.bn.eps).sqrt().view(
        1, -1, 1, 1
    )
    shifted = torch.zeros(4, 4)
    shifted[:-1, :-1] = torch.arange(16.0).view(4, 4)[1:, 1:]
    torch.testing.assert_close(out[0, 2], 2 * shifted)  # path b reads pixel (i+1, j+1)
    with pytest.raises(ValueError, match="must be even"):
        make_shortcut("two_path", 2, 5, 2, 2)
    with pytest.raises(ValueError, match="feature maps"):
        make_shortcut("two_path", 2, 4, 1, 0)
