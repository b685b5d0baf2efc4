"""sdeint: the Euler–Maruyama scheme against torchsde, its strong/weak orders, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchsde

import odenets as on
import odenets.networks
import odenets.numerics
from odenets.numerics.brownian import GridBrownian

MU, SIGMA = 0.7, 0.4


def drift(t, y):
    return MU * y - torch.sin(t) * y**2 / (1 + y**2)


def diffusion(t, y):
    return SIGMA * torch.cos(y) + 0.1 * t


class Reference(torch.nn.Module):
    """The same SDE in torchsde's form (diagonal Itô noise on (batch, d) states)."""

    noise_type, sde_type = "diagonal", "ito"

    def f(self, t, y):
        return drift(t, y)

    def g(self, t, y):
        return diffusion(t, y)


def test_scheme_metadata():
    scheme = on.get_scheme("euler_maruyama")
    assert (scheme.family, scheme.order, scheme.strong_order, scheme.weak_order) == (
        "stochastic",
        1,
        0.5,
        1,
    )
    assert on.get_scheme("euler").strong_order is None


def test_matches_torchsde_euler_with_the_same_increments():
    t = torch.linspace(0.0, 1.0, 65, dtype=torch.float64)  # dyadic steps: exact time sums
    y0 = torch.rand(5, 3, dtype=torch.float64) + 0.5
    dw = torch.randn(64, 5, 3, dtype=torch.float64) * (1 / 64) ** 0.5
    ours = on.sdeint(drift, diffusion, y0, t, increments=dw)
    bm = GridBrownian(t, dw)
    torchsde._brownian.BaseBrownian.register(GridBrownian)
    ref = torchsde.sdeint(Reference(), y0, t, bm=bm, method="euler", dt=1 / 64)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-10)
    assert (ours[-1] - y0).abs().max() > 0.1  # the comparison is not trivial
    # the torchsde backend with the same increments is the same computation
    bridged = on.sdeint(drift, diffusion, y0, t, "euler", increments=dw, backend="torchsde")
    torch.testing.assert_close(bridged, ours, rtol=0, atol=1e-10)


def test_zero_diffusion_is_euler_and_shapes_are_free():
    y0 = torch.randn(2, 3, 4, dtype=torch.float64)
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    out = on.sdeint(drift, lambda t, y: torch.zeros_like(y), y0, t)
    assert out.shape == (11, 2, 3, 4)
    torch.testing.assert_close(out, on.odeint(drift, y0, t, "euler"), rtol=0, atol=1e-12)


def test_generator_reproduces_paths():
    y0, t = torch.ones(100, dtype=torch.float64), torch.linspace(0, 1, 9)

    def run(seed):
        return on.sdeint(drift, diffusion, y0, t, generator=torch.Generator().manual_seed(seed))

    torch.testing.assert_close(run(3), run(3), rtol=0, atol=0)
    assert (run(3) - run(4)).abs().max() > 1e-3
    torch.testing.assert_close(run(3), on.sdeint(drift, diffusion, y0, t, seed=3))
    # without a source of noise every call draws a fresh path (as torchsde does)
    fresh = [on.sdeint(drift, diffusion, y0, t) for _ in range(2)]
    assert (fresh[0] - fresh[1]).abs().max() > 1e-3
    # increments drawn by brownian_increments are what the generator path used
    dw = on.numerics.sdeint.brownian_increments(
        t, y0.shape, torch.Generator().manual_seed(3), y0.dtype
    )
    torch.testing.assert_close(on.sdeint(drift, diffusion, y0, t, increments=dw), run(3))


def _gbm_errors(mu, sigma, paths, steps=(4, 8, 16, 32, 64), fine=256, seed=0):
    """EM on geometric Brownian motion dX = mu X dt + sigma X dW, X(0) = 1, T = 1, against
    the exact X(1) = exp((mu - sigma^2 / 2) + sigma W(1)) on the same Brownian paths."""
    g = torch.Generator().manual_seed(seed)
    fine_dw = torch.randn(fine, paths, generator=g, dtype=torch.float64) / fine**0.5
    exact = torch.exp((mu - sigma**2 / 2) + sigma * fine_dw.sum(0))
    y0 = torch.ones(paths, dtype=torch.float64)
    diffs = []
    for n in steps:
        dw = fine_dw.reshape(n, fine // n, paths).sum(1)
        t = torch.linspace(0, 1, n + 1, dtype=torch.float64)
        out = on.sdeint(lambda t, y: mu * y, lambda t, y: sigma * y, y0, t, increments=dw)
        diffs.append(out[-1] - exact)
    return np.array([1 / n for n in steps]), diffs


def _slope(h, errors):
    return np.polyfit(np.log(h), np.log(errors), 1)[0]


def test_strong_order_one_half():
    h, diffs = _gbm_errors(mu=2.0, sigma=1.0, paths=4000)
    strong = [d.abs().mean().item() for d in diffs]  # E|X_h(T) - X(T)|
    assert _slope(h, strong) == pytest.approx(on.get_scheme("euler_maruyama").strong_order, abs=0.2)


def test_weak_order_one():
    h, diffs = _gbm_errors(mu=1.5, sigma=0.5, paths=20000)
    # |E[X_h(T)] - E[X(T)]|, estimated on shared paths (low variance)
    weak = [abs(d.mean().item()) for d in diffs]
    assert _slope(h, weak) == pytest.approx(on.get_scheme("euler_maruyama").weak_order, abs=0.2)


def test_torchsde_backend_other_methods_and_adjoint():
    y0, t = torch.ones(4, 2, dtype=torch.float64), torch.linspace(0, 1, 17, dtype=torch.float64)
    dw = torch.randn(16, 4, 2, dtype=torch.float64) / 4
    milstein = on.sdeint(drift, diffusion, y0, t, "milstein", increments=dw, backend="torchsde")
    euler = on.sdeint(drift, diffusion, y0, t, increments=dw)
    assert 0 < (milstein - euler).abs().max() < 0.5  # a different method on the same path

    class Drift(torch.nn.Module):  # adjoint gradients reach the parameters of nn.Modules
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 2).double()

        def forward(self, t, y):
            return self.lin(y)

    field = Drift()
    out = on.sdeint(
        field, diffusion, y0, t, "euler", increments=dw, backend="torchsde", adjoint=True
    )
    torch.testing.assert_close(out, on.sdeint(field, diffusion, y0, t, increments=dw))
    out[-1].sum().backward()
    assert field.lin.weight.grad is not None and torch.isfinite(field.lin.weight.grad).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"increments": torch.zeros(3, 2)}, ValueError, r"shape \(steps, \*y0.shape\) = \(4, 2\)"),
        (
            {"increments": torch.zeros(4, 2), "generator": torch.Generator()},
            ValueError,
            "at most one source of noise",
        ),
        ({"increments": [0.0] * 4}, TypeError, "increments must be a torch.Tensor"),
        ({"generator": 3}, TypeError, "torch.Generator"),
        (
            {"scheme": "rk4"},
            ValueError,
            r"needs an SDE scheme .* SDE schemes: \['euler_maruyama'\]",
        ),
        ({"scheme": "euler_maruyam"}, ValueError, "did you mean 'euler_maruyama'"),
        ({"backend": "torchsd"}, ValueError, "did you mean 'torchsde'"),
        ({"adjoint": True}, ValueError, "backend='torchsde'"),
        ({"t": [1.0, 0.5, 0.0, -0.5, -1.0]}, ValueError, "increasing"),
        ({"diffusion": lambda t, y: y[:1]}, ValueError, "diagonal noise"),
        ({"scheme": "heun", "backend": "torchsde"}, ValueError, "torchsde method"),
    ],
)
def test_bad_input(kwargs, error, match):
    args = {
        "drift": drift,
        "diffusion": diffusion,
        "y0": torch.ones(2),
        "t": [0.0, 0.25, 0.5, 0.75, 1.0],
        **kwargs,
    }
    with pytest.raises(error, match=match):
        on.sdeint(**args)
