"""FractalNet (Larsson et al. 2017): a reference written here from the recursive expansion rule
(with the blobs named and stored as in the authors' Caffe nets) gives the same logits after the
weight mapping, in the full net and under global drop-path; local drop-path keeps at least one
input and averages the survivors; parameter counts follow the layer set; and the two-column
fractal with identity-carrying layers is the first-order Runge–Kutta method FRACTAL_RK."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import odenets as on
from odenets.networks.fractal import FRACTAL_RK, DropPath, FractalBlock, FractalNet
from odenets.networks.reference_other import load_reference_state_dict

DT = torch.float64


def make_blobs(widths, columns, classes=10, seed=0):
    """Caffe blobs by layer name: conv{c}_{k} = [W, b]; batch_conv{c}_{k} = [sum of means,
    sum of variances, scale factor]; prediction0 = [W, b]."""
    g = torch.Generator().manual_seed(seed)
    blobs, cin = {}, 3
    for b, cout in enumerate(widths):
        for c in range(columns):
            for i in range(2**c):
                k = b * 2**c + i
                n = cin if i == 0 else cout
                w = torch.randn(cout, n, 3, 3, generator=g, dtype=DT) / math.sqrt(9 * n)
                blobs[f"conv{c}_{k}"] = [w, torch.randn(cout, generator=g, dtype=DT) * 0.1]
                scale = torch.tensor([0.7], dtype=DT)
                mean = torch.randn(cout, generator=g, dtype=DT) * 0.2
                var = torch.rand(cout, generator=g, dtype=DT) + 0.5
                blobs[f"batch_conv{c}_{k}"] = [mean * 0.7, var * 0.7, scale]
        cin = cout
    blobs["prediction0"] = [
        torch.randn(classes, cin, generator=g, dtype=DT) * 0.3,
        torch.randn(classes, generator=g, dtype=DT),
    ]
    return blobs


def reference_fractalnet(x, blobs, widths, columns, keep_column=None):
    """Blocks of f_1(z) = conv(z), f_{C+1}(z) = join(f_C(f_C(z)), conv(z)) with the mean join
    (nested joins flattened), conv = conv3x3-BN-ReLU; every column max-pooled (2x2) before the
    block's last join; a linear classifier on the 1x1 result. ``keep_column``: global
    drop-path, every join keeps only that column's input."""
    for b in range(len(widths)):
        used = [0] * columns

        def unit(c, t, b=b, used=used):
            k = b * 2**c + used[c]
            used[c] += 1
            w, bias = blobs[f"conv{c}_{k}"]
            mean, var, scale = blobs[f"batch_conv{c}_{k}"]
            t = F.conv2d(t, w, bias, padding=1)
            mean, var = mean / scale, var / scale
            return F.relu((t - mean.view(1, -1, 1, 1)) / (var.view(1, -1, 1, 1) + 1e-5).sqrt())

        def join(branches):
            if keep_column is not None:
                return branches.get(keep_column)
            return sum(branches.values()) / len(branches)

        def fractal(z, count, base):
            """The branches of f_count(z) by column; ``base`` is the column of this level's
            single conv, the deeper levels hold columns base + 1, ..."""
            if count == 1:
                return {base: unit(base, z)}
            inner = join(fractal(z, count - 1, base + 1))
            out = {} if inner is None else fractal(inner, count - 1, base + 1)
            out[base] = unit(base, z)
            return out

        branches = fractal(x, columns, 0)
        if keep_column is not None:
            branches = {keep_column: branches[keep_column]}
        x = join({c: F.max_pool2d(t, 2, 2, ceil_mode=True) for c, t in branches.items()})
    w, bias = blobs["prediction0"]
    return x.flatten(1) @ w.T + bias


@pytest.mark.parametrize(
    ("columns", "widths", "size"), [(3, (4, 8, 8), 8), (4, (4, 6), 4), (1, (4,), 2)]
)
def test_logits_equal_after_the_weight_mapping(columns, widths, size):
    blobs = make_blobs(widths, columns)
    x = torch.randn(3, 3, size, size, dtype=DT)
    want = reference_fractalnet(x, blobs, widths, columns)
    net = load_reference_state_dict(
        "fractalnet20", blobs, dtype=DT, widths=widths, columns=columns, dropout=0.1
    ).eval()
    got = net(x)
    assert (got - want).abs().max() / want.abs().max() < 1e-8
    for c in range(columns):  # global drop-path: one column for the whole network
        single = net.fc(net.features(x, plan=("global", c)))
        ref = reference_fractalnet(x, blobs, widths, columns, keep_column=c)
        assert (single - ref).abs().max() / ref.abs().max() < 1e-8


def test_units_per_column_and_depth():
    net = on.create_model("fractalnet40")
    assert [len(col) for col in net.blocks[0].columns] == [1, 2, 4, 8]
    assert net.depth == 40 and on.create_model("fractalnet20").depth == 20
    # no identity path: every unit is conv-dropout-BN-ReLU, the BN without scale or shift
    assert all(
        u.bn.weight is None for u in net.modules() if isinstance(u, on.networks.fractal.ConvUnit)
    )


def layer_count(widths, columns, classes=10, cin=3):
    total = 0
    for cout in widths:
        for c in range(columns):
            total += 9 * cin * cout + cout + (2**c - 1) * (9 * cout * cout + cout)
        cin = cout
    return total + cin * classes + classes


@pytest.mark.parametrize(
    ("name", "columns", "count"), [("fractalnet20", 3, 33_714_314), ("fractalnet40", 4, 76_084_554)]
)
def test_parameter_counts_follow_the_layer_set(name, columns, count):
    assert layer_count((64, 128, 256, 512, 512), columns) == count
    assert on.count_parameters(on.create_model(name)) == count


def test_local_drop_path_keeps_one_and_averages_the_survivors():
    a, b = torch.full((1,), 1.0, dtype=DT), torch.full((1,), 3.0, dtype=DT)
    g = torch.Generator().manual_seed(0)
    outs = [float(FractalBlock.join([a, b], ("local", 0.5), g)) for _ in range(4000)]
    freq = {v: outs.count(v) / len(outs) for v in (1.0, 2.0, 3.0)}
    assert sum(freq.values()) == 1.0
    # both kept 1/4; one alone 1/4 + 1/4 * 1/2 (all dropped: one revived at random)
    assert freq[2.0] == pytest.approx(0.25, abs=0.03)
    assert freq[1.0] == pytest.approx(0.375, abs=0.03) and freq[3.0] == pytest.approx(
        0.375, abs=0.03
    )
    x = torch.ones(3, dtype=DT, requires_grad=True)
    FractalBlock.join([x * 1, x * 2, x * 4], ("local", 0.0), g).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((3,), 7 / 3, dtype=DT))


def test_drop_path_plan_mixes_global_and_local():
    net = FractalNet(widths=(4,), columns=3, dropout=0.0, drop_path=DropPath(0.15, 0.5))
    net.noise_source.seed(3)
    plans = [net.plan() for _ in range(3000)]
    glob = [p[1] for p in plans if p[0] == "global"]
    assert len(glob) / len(plans) == pytest.approx(0.5, abs=0.04)
    assert {c: glob.count(c) / len(glob) for c in range(3)} == pytest.approx(
        {0: 1 / 3, 1: 1 / 3, 2: 1 / 3}, abs=0.05
    )
    assert all(p == ("local", 0.15) for p in plans if p[0] == "local")
    assert net.eval().plan() is None
    assert FractalNet(widths=(4,), columns=2, drop_path=None).train().plan() is None


def test_training_forward_is_reproducible_and_dropout_is_scaled():
    net = FractalNet(widths=(4, 8), columns=3, dropout=(0.2, 0.3)).double().train()
    x = torch.randn(4, 3, 4, 4, dtype=DT)
    net.noise_source.seed(5)
    first = net(x)
    net.noise_source.seed(5)
    torch.testing.assert_close(net(x), first, rtol=0, atol=0)
    from odenets.networks.fractal import _dropout

    y = _dropout(torch.ones(200_000, dtype=DT), 0.3, torch.Generator().manual_seed(0))
    assert float((y == 0).double().mean()) == pytest.approx(0.3, abs=0.005)
    assert set(torch.unique(y).tolist()) == {0.0, 1 / 0.7}


class Residual(nn.Module):
    """A small field F for the Runge–Kutta reading."""

    def __init__(self, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(3, 3, generator=g, dtype=DT) / 2)

    def forward(self, z):
        return torch.tanh(z @ self.w.T)


def test_two_column_fractal_with_identity_layers_is_fractal_rk():
    """long column: two layers z + (H/2) F(z); short column: z + H F_c(z); mean join."""
    fa, fb, fc = Residual(0), Residual(1), Residual(2)
    H = 0.4
    x = torch.randn(5, 3, dtype=DT)
    mid = x + H / 2 * fa(x)
    long, short = mid + H / 2 * fb(mid), x + H * fc(x)
    block = on.SchemeBlock(FRACTAL_RK, [fa, fc, fb], H)  # slots: F_a, F_c, F_b
    torch.testing.assert_close(block(x), (long + short) / 2, rtol=1e-14, atol=1e-14)
    # the extrapolating join 2 long - short is the explicit midpoint rule (one field)
    f = lambda t, y: fa(y)  # noqa: E731
    two = x + H / 2 * fa(x)
    two = two + H / 2 * fa(two)
    midpoint = on.odeint(f, x, torch.tensor([0.0, H], dtype=DT), "midpoint")[-1]
    torch.testing.assert_close(2 * two - (x + H * fa(x)), midpoint, rtol=1e-14, atol=1e-14)


def test_fractal_rk_is_first_order():
    """y' = -y + sin(t) y^2 style nonlinear problem; log-error slope about 1 (midpoint: 2)."""
    f = lambda t, y: -y + torch.sin(t) * y**2  # noqa: E731
    y0 = torch.tensor([0.8], dtype=DT)
    fine = on.odeint(f, y0, torch.linspace(0, 1, 4097, dtype=DT), "rk4")[-1]
    slopes = {}
    for scheme in (FRACTAL_RK, "midpoint"):
        errs = [
            float(
                (on.odeint(f, y0, torch.linspace(0, 1, n + 1, dtype=DT), scheme)[-1] - fine).abs()
            )
            for n in (20, 40, 80, 160)
        ]
        slopes[getattr(scheme, "name", scheme)] = math.log(errs[0] / errs[-1]) / math.log(8)
    assert slopes["fractal_rk"] == pytest.approx(1.0, abs=0.15)
    assert slopes["midpoint"] == pytest.approx(2.0, abs=0.15)


def test_the_rk_reading_is_a_network_too():
    net = on.SolverNet(FRACTAL_RK, depth=8, widths=(4, 8, 8))
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 10)
    assert len(net.blocks[0].fields) == 3  # F_a, F_c, F_b


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: FractalNet(columns=0), ValueError, "columns must be >= 1"),
        (lambda: FractalNet(widths=(4, 8), dropout=(0.1,)), ValueError, "one per block"),
        (lambda: FractalNet(drop_path=0.15), TypeError, "DropPath or None"),
        (lambda: DropPath(local=1.0), ValueError, r"in \[0, 1\)"),
        (
            lambda: FractalNet(widths=(4,), columns=2)(torch.randn(2, 1, 4, 4)),
            ValueError,
            "3 channels",
        ),
        (lambda: FractalNet(dropout=1.5), ValueError, "dropout rate"),
    ],
)
def test_bad_input(build, error, match):
    with pytest.raises(error, match=match):
        build()
