"""Noisy blocks as Euler–Maruyama steps: moments, evaluation = drift, reproducibility,
stochastic depth that skips work, shake-shake's backward coefficient, presets, bad input."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

import odenets as on
import odenets.networks
import odenets.numerics
from odenets.networks.noise import linear_survival

N = 20000  # samples for the moment tests (one input row repeated)


class Counting(nn.Module):
    """A fixed linear field that records the batch sizes it is evaluated on."""

    def __init__(self, d: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(d, d, generator=g, dtype=torch.float64) / d**0.5)
        self.b = nn.Parameter(torch.randn(d, generator=g, dtype=torch.float64))
        self.seen: list[int] = []

    def forward(self, x):
        self.seen.append(x.shape[0])
        return torch.tanh(x @ self.w.T + self.b)


def block(noise, branches=None, h=1.0, seed=0, scheme="euler_maruyama", **kw):
    noise = on.networks.noise.get_noise(noise)
    fields = branches or [Counting(3, seed=10 + i) for i in range(noise.branches)]
    return on.StochasticBlock(scheme, fields, noise, h, source=on.NoiseSource(seed), **kw)


def repeated(d=3):
    row = torch.tensor([[0.3, -1.2, 0.8]], dtype=torch.float64)[:, :d]
    return row.expand(N, d).contiguous(), row


def check_moments(out, x_row, mean, var, rtol_var):
    sample_mean, sample_var = out.mean(0), out.var(0)
    se = (var / N).sqrt()
    assert ((sample_mean - (x_row[0] + mean)).abs() <= 5 * se + 1e-12).all()
    torch.testing.assert_close(sample_var, var, rtol=rtol_var, atol=1e-12)


@pytest.mark.parametrize("h", [1.0, 0.25])
def test_shake_shake_moments_are_drift_and_diffusion(h):
    b = block("shake_shake", h=h).train()
    x, row = repeated()
    f1, f2 = (f(row)[0] for f in b.fields)
    with torch.no_grad():
        out = b(x)
    check_moments(out, row, 0.5 * (f1 + f2), (f1 - f2) ** 2 / 12, rtol_var=0.05)
    # the same in SDE terms: mean x + h a, variance b^2 h, b = sqrt(h/12) (g1 - g2)
    a, diff = b.sde(row)
    torch.testing.assert_close(h * a[0], 0.5 * (f1 + f2))
    torch.testing.assert_close(diff[0], math.sqrt(h / 12) * (f1 - f2) / h)
    assert "sqrt(h/12)" in b.describe()


@pytest.mark.parametrize("p", [0.3, 0.8])
def test_stochastic_depth_moments(p):
    b = block(on.StochasticDepth(p, schedule="constant")).train()
    x, row = repeated()
    f = b.fields[0](row)[0]
    with torch.no_grad():
        out = b(x)
    check_moments(out, row, p * f, p * (1 - p) * f**2, rtol_var=0.05)
    a, diff = b.sde(row)
    torch.testing.assert_close(a[0], p * f)
    torch.testing.assert_close(diff[0], math.sqrt(p * (1 - p)) * f)


def test_gaussian_noise_moments():
    b = block(on.GaussianNoise(sigma=0.3), h=0.5).train()
    x, row = repeated()
    f = b.fields[0](row)[0]
    with torch.no_grad():
        out = b(x)
    check_moments(out, row, f, torch.full_like(f, 0.09 * 0.5), rtol_var=0.05)


def test_shake_shake_samples_one_coefficient_per_sample():
    """Each output is x + eta F1 + (1 - eta) F2 with one eta in [0, 1] per sample."""
    b = block("shake_shake").train()
    x = torch.randn(64, 3, dtype=torch.float64)
    f1, f2 = (f(x) for f in b.fields)
    eta = (b(x) - x - f2) / (f1 - f2)
    assert (eta.std(1) < 1e-8).all()
    assert (eta >= 0).all() and (eta <= 1).all() and eta.std() > 0.1


@pytest.mark.parametrize(
    ("noise", "expected"),
    [
        ("shake_shake", lambda fs, x: x + 0.5 * (fs[0](x) + fs[1](x))),
        (on.StochasticDepth(0.6, schedule="constant"), lambda fs, x: x + 0.6 * fs[0](x)),
        ("gaussian", lambda fs, x: x + fs[0](x)),
    ],
)
def test_evaluation_is_deterministic_and_the_drift(noise, expected):
    b = block(noise, h=0.5).eval()
    x = torch.randn(8, 3, dtype=torch.float64)
    torch.testing.assert_close(b(x), expected(b.fields, x), rtol=0, atol=1e-12)
    torch.testing.assert_close(b(x), x + 0.5 * b.sde(x)[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(b(x), b(x), rtol=0, atol=0)


@pytest.mark.parametrize("noise", ["shake_shake", "stochastic_depth", "gaussian"])
def test_training_is_reproducible_from_the_seed(noise):
    model = on.SolverNet(
        "euler_maruyama", depth=10, widths=(4, 8), in_channels=2, field="mlp", noise=noise
    )
    for m in model.modules():  # undo zero init so the noise is visible
        if isinstance(m, on.networks.fields.MLPField):
            nn.init.normal_(m.fc2.weight)
    x = torch.randn(16, 2)
    first = model(x)
    model.noise_source.seed(0)
    torch.testing.assert_close(model(x), first, rtol=0, atol=0)
    assert (model(x) - first).abs().max() > 1e-4  # the next draw differs
    model.noise_source.seed(0)
    torch.testing.assert_close(model(x), first, rtol=0, atol=0)


def test_stochastic_depth_skips_dropped_samples():
    p = 0.5
    b = block(on.StochasticDepth(p, schedule="constant")).train()
    field = b.fields[0]
    x = torch.randn(400, 3, dtype=torch.float64)
    out = b(x)
    kept = (out - x).abs().sum(1) > 0
    assert field.seen == [int(kept.sum())] and 150 < field.seen[0] < 250
    torch.testing.assert_close(out[kept], x[kept] + field(x[kept]), rtol=0, atol=1e-12)
    torch.testing.assert_close(out[~kept], x[~kept], rtol=0, atol=0)


def test_stochastic_depth_per_batch_skips_the_block():
    b = block(on.StochasticDepth(0.5, schedule="constant", per="batch")).train()
    x = torch.randn(10, 3, dtype=torch.float64)
    outs = [b(x) for _ in range(40)]
    dropped = [torch.equal(o, x) for o in outs]
    assert 5 < sum(dropped) < 35
    assert b.fields[0].seen == [10] * (40 - sum(dropped))  # never called on a dropped block


def test_independent_backward_coefficient():
    """Forward uses eta, backward an independent beta (Gastaldi); both in [0, 1]."""
    torch.manual_seed(1)
    for independent in (False, True):
        b = block(on.ShakeShake(independent_backward=independent), seed=5).train()
        x = torch.randn(1, 3, dtype=torch.float64)
        out = b(x)
        f1, f2 = (f(x).detach() for f in b.fields)
        eta = ((out.detach() - x - f2) / (f1 - f2))[0, 0].item()
        b.fields[0].b.grad = b.fields[1].b.grad = None
        out.sum().backward()
        # d out_j / d F1_j is the backward coefficient; the field is tanh(...): divide it out
        dtanh = [1 - f(x).detach() ** 2 for f in b.fields]
        beta1 = (b.fields[0].b.grad / dtanh[0][0]).mean().item()
        beta2 = (b.fields[1].b.grad / dtanh[1][0]).mean().item()
        assert beta1 + beta2 == pytest.approx(1.0)
        assert 0 <= beta1 <= 1
        if independent:
            assert abs(beta1 - eta) > 1e-3
        else:
            assert beta1 == pytest.approx(eta)


def test_shake_shake_image_draws_alpha_and_beta_per_sample():
    """Gastaldi's Shake-Shake-Image: x + alpha F1 + (1 - alpha) F2 forward and gradients beta,
    1 - beta to the branches, alpha and beta independent U(0, 1) per sample (in this order from
    the block's source); evaluation uses 1/2 for both."""

    class Scale(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c = c

        def forward(self, x):
            return self.c * x

    a, b = 2.0, -1.0
    block = on.StochasticBlock(
        "euler_maruyama",
        [Scale(a), Scale(b)],
        on.ShakeShake(independent_backward=True),
        source=on.NoiseSource(11),
    ).train()
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    out = block(x)
    out.sum().backward()
    g = torch.Generator().manual_seed(11)
    alpha, beta = torch.rand(6, generator=g).double(), torch.rand(6, generator=g).double()
    # out = x (1 + alpha a + (1 - alpha) b); d out / d x = 1 + beta a + (1 - beta) b
    torch.testing.assert_close(out, x * (1 + alpha * a + (1 - alpha) * b)[:, None])
    torch.testing.assert_close(x.grad[:, 0], 1 + beta * a + (1 - beta) * b)
    assert alpha.std() > 0.1 and (alpha - beta).abs().min() > 1e-3
    block.eval()
    torch.testing.assert_close(block(x), x * (1 + (a + b) / 2))


def test_linear_survival_schedule():
    assert linear_survival(1, 0.5) == [0.5]  # correct at depth 1
    ps = linear_survival(54, 0.5)
    assert ps[-1] == pytest.approx(0.5) and ps[0] == pytest.approx(1 - 0.5 / 54)
    assert all(a > b for a, b in itertools.pairwise(ps))
    net = on.create_model("stochastic_depth_resnet110")
    units = [
        u for s in net.stages for u in ([s.transition] if s.transition else []) + list(s.blocks)
    ]
    assert [u.noise.survival for u in units] == pytest.approx(sorted(ps, reverse=True))


def test_presets_and_parameter_counts():
    # Gastaldi 2017, Table 1 (CIFAR-10): 2.9M and 26.2M parameters
    assert on.count_parameters(on.create_model("shake_shake26_2x32d")) == pytest.approx(
        2.9e6, rel=0.02
    )
    assert on.count_parameters(on.create_model("shake_shake26_2x96d")) == pytest.approx(
        26.2e6, rel=0.01
    )
    lm = on.create_model("lm_resnet56_sd")
    assert lm.blocks[-1].noise.survival == pytest.approx(0.8)
    assert lm.blocks[-1].scheme.name == "lm" and "k" in lm.blocks[-1].coefficients


def test_noisy_lm_stage_is_the_stochastic_lm_recursion():
    """Evaluation: x1 = x0 + p1 F1(x0), x2 = (1-k) x1 + k x0 + (1+k) p2 F2(x1)."""
    f1, f2 = Counting(3, 1), Counting(3, 2)
    sd = [on.StochasticDepth(p, schedule="constant") for p in (0.9, 0.7)]
    source = on.NoiseSource()
    b1 = on.StochasticBlock("lm", [f1], sd[0], source=source, learn=False)
    b2 = on.StochasticBlock("lm", [f2], sd[1], source=source, learn=False, coefficients={"k": 0.3})
    stage = on.SchemeStage([b1, b2]).eval()
    x = torch.randn(4, 3, dtype=torch.float64)
    x1 = x + 0.9 * f1(x)
    expected = 0.7 * x1 + 0.3 * x + 1.3 * 0.7 * f2(x1)
    torch.testing.assert_close(stage(x), expected, rtol=0, atol=1e-12)
    stage.train()  # training: the gate is 0 or 1 per sample
    out = stage(x)
    assert torch.isfinite(out).all() and out.shape == x.shape


def test_noisy_net_trains_and_evaluation_is_deterministic():
    net = on.SolverNet(
        "euler_maruyama",
        depth=10,
        widths=(4, 8),
        field="shake",
        noise="shake_shake",
        shortcut="conv",
    )
    x = torch.randn(4, 3, 8, 8)
    net(x).square().mean().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.eval()
    torch.testing.assert_close(net(x), net(x), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: on.StochasticDepth(0.0), ValueError, r"in \(0, 1\]"),
        (lambda: on.StochasticDepth(1.5), ValueError, r"in \(0, 1\]"),
        (lambda: linear_survival(3, -0.2), ValueError, r"in \(0, 1\]"),
        (lambda: linear_survival(0, 0.5), ValueError, ">= 1"),
        (lambda: on.StochasticDepth(0.5, schedule="linar"), ValueError, "did you mean 'linear'"),
        (lambda: on.ShakeShake(independent_backward="yes"), TypeError, "bool"),
        (lambda: on.GaussianNoise(sigma=-1.0), ValueError, ">= 0"),
        (
            lambda: on.SolverNet("rk4", depth=8, noise="shake_shake"),
            ValueError,
            "cannot take noise.*euler_maruyama",
        ),
        (
            lambda: on.SolverNet("euler", depth=8, noise="stochastic_depth"),
            ValueError,
            "cannot take noise",
        ),
        (
            lambda: on.SolverNet("euler_maruyama", depth=8, noise="shake_shak"),
            ValueError,
            "did you mean 'shake_shake'",
        ),
        (lambda: on.SolverNet("euler_maruyama", depth=8, noise=0.5), TypeError, "noise must be"),
        (lambda: block("shake_shake", branches=[Counting(3, 0)]), ValueError, "2 residual"),
        (lambda: on.NoiseSource(seed=-1), ValueError, ">= 0"),
        (lambda: on.NoiseSource(generator="cpu"), TypeError, "torch.Generator"),
    ],
)
def test_bad_input(build, error, match):
    with pytest.raises(error, match=match):
        build()
