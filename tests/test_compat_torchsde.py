"""sdeint called the way torchsde users call theirs gives torchsde's paths.

Each test writes a call in the form of torchsde's README (an ``nn.Module`` SDE with
``noise_type``, ``sde_type``, ``f`` and ``g``; ``sdeint(sde, y0, ts, bm=..., method=..., dt=...)``)
and runs it through both libraries in float64 with the same Brownian motion: a
``BrownianInterval`` built twice with the same entropy (queried in the same order) or one
``BrownianPath``/``BrownianTree`` object shared. Euler–Maruyama runs on odenets' own step and
agrees to rounding; the other methods are routed to torchsde and agree exactly.
"""

from __future__ import annotations

import pytest
import torch
import torchsde
from torch import nn

import odenets as on
import odenets.numerics.sdeint as sdeint_module
from odenets.numerics.compat import TORCHSDE_METHODS

DT = torch.float64
BATCH, D, M = 3, 2, 4
TS = torch.linspace(0, 1, 9, dtype=DT)  # dyadic: odenets' and torchsde's step times coincide
STEP = 2.0**-5


class SDE(nn.Module):
    """A learned drift and a diffusion of each noise type, in torchsde's shapes."""

    sde_type = "ito"

    def __init__(self, noise_type: str = "diagonal") -> None:
        super().__init__()
        self.noise_type = noise_type
        torch.manual_seed(5)
        self.drift = nn.Sequential(nn.Linear(D, 8), nn.Tanh(), nn.Linear(8, D)).double()
        self.scale = nn.Parameter(torch.tensor(0.4, dtype=DT))
        self.mix = nn.Parameter(torch.randn(D, M, dtype=DT) * 0.3)

    def f(self, t, y):
        return self.drift(y) - torch.sin(t) * y

    def g(self, t, y):
        if self.noise_type == "diagonal":
            return self.scale * torch.cos(y) + 0.1 * t
        if self.noise_type == "scalar":
            return (self.scale * torch.sin(y) + t).unsqueeze(-1)
        if self.noise_type == "additive":
            return (self.mix * (1 + t)).expand(y.shape[0], D, M)
        return self.mix * torch.tanh(y).unsqueeze(-1)  # general


def _bm_size(noise_type):
    return {"diagonal": (BATCH, D), "scalar": (BATCH, 1)}.get(noise_type, (BATCH, M))


def _interval(noise_type, entropy=11, **kw):
    return torchsde.BrownianInterval(
        t0=0.0, t1=1.0, size=_bm_size(noise_type), dtype=DT, entropy=entropy, **kw
    )


def _path_and_grads(sdeint, sde, y0, **kw):
    y0 = y0.clone().requires_grad_(True)
    ys = sdeint(sde, y0, TS, **kw)
    loss = ys[-1].square().sum() + ys[3].sum()
    return ys.detach(), torch.autograd.grad(loss, [y0, *sde.parameters()], allow_unused=True)


def _assert_same(a, b, atol):
    (ya, ga), (yb, gb) = a, b
    torch.testing.assert_close(ya, yb, rtol=0, atol=atol)
    for x, y in zip(ga, gb, strict=True):
        if x is None or y is None:
            assert x is None and y is None
        else:
            torch.testing.assert_close(x, y, rtol=0, atol=atol)


@pytest.fixture
def on_odenets_only(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("this call was expected to run on odenets, not torchsde")

    monkeypatch.setattr(sdeint_module, "_torchsde", refuse)


def test_the_name_table_covers_torchsde_exactly():
    from torchsde.settings import METHODS

    assert set(TORCHSDE_METHODS) == set(METHODS.all())


@pytest.mark.parametrize("noise_type", ["diagonal", "scalar", "additive", "general"])
def test_euler_with_the_same_brownian_interval(noise_type, on_odenets_only):
    sde = SDE(noise_type)
    y0 = torch.rand(BATCH, D, dtype=DT) + 0.5
    kw = dict(method="euler", dt=STEP)
    ours = _path_and_grads(on.sdeint, sde, y0, bm=_interval(noise_type), **kw)
    theirs = _path_and_grads(torchsde.sdeint, sde, y0, bm=_interval(noise_type), **kw)
    _assert_same(ours, theirs, atol=1e-12)
    assert (ours[0][-1] - y0).abs().max() > 0.1  # a real path, not a trivial comparison


def test_one_shared_brownian_object_gives_one_path(on_odenets_only):
    sde = SDE()
    y0 = torch.rand(BATCH, D, dtype=DT)
    for bm in (
        torchsde.BrownianPath(t0=0.0, w0=torch.zeros(BATCH, D, dtype=DT)),
        torchsde.BrownianTree(t0=0.0, t1=1.0, w0=torch.zeros(BATCH, D, dtype=DT), entropy=3),
        _interval("diagonal"),
    ):
        theirs = torchsde.sdeint(sde, y0, TS, bm=bm, method="euler", dt=STEP)
        ours = on.sdeint(sde, y0, TS, bm=bm, method="euler", dt=STEP)
        torch.testing.assert_close(ours, theirs.detach(), rtol=0, atol=1e-12)


def test_positional_bm_and_default_scheme_are_euler_maruyama(on_odenets_only):
    sde = SDE()
    y0 = torch.rand(BATCH, D, dtype=DT)
    ours = on.sdeint(sde, y0, TS, _interval("diagonal"), dt=STEP)  # torchsde's positional bm
    theirs = torchsde.sdeint(sde, y0, TS, _interval("diagonal"), method="euler", dt=STEP)
    torch.testing.assert_close(ours, theirs.detach(), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("method", "levy"), [("milstein", "none"), ("srk", "space-time")])
def test_other_ito_methods_are_routed_to_torchsde(method, levy):
    sde = SDE()
    y0 = torch.rand(BATCH, D, dtype=DT)
    kw = dict(method=method, dt=STEP)
    ours = _path_and_grads(
        on.sdeint, sde, y0, bm=_interval("diagonal", levy_area_approximation=levy), **kw
    )
    theirs = _path_and_grads(
        torchsde.sdeint, sde, y0, bm=_interval("diagonal", levy_area_approximation=levy), **kw
    )
    _assert_same(ours, theirs, atol=0)


class Stratonovich(SDE):
    sde_type = "stratonovich"


def test_stratonovich_sdes_run_on_torchsde_methods_only():
    sde = Stratonovich()
    y0 = torch.rand(BATCH, D, dtype=DT)
    with pytest.raises(ValueError, match=r"integrates Itô SDEs.*method='midpoint'"):
        on.sdeint(sde, y0, TS, bm=_interval("diagonal"), dt=STEP)
    ours = on.sdeint(sde, y0, TS, bm=_interval("diagonal"), method="midpoint", dt=STEP)
    theirs = torchsde.sdeint(sde, y0, TS, bm=_interval("diagonal"), method="midpoint", dt=STEP)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"'euler' integrates ito SDEs.*stratonovich"):
        on.sdeint(sde, y0, TS, bm=_interval("diagonal"), method="euler", backend="torchsde")


def test_torchsde_backend_with_the_default_scheme():
    """Formerly "unknown torchsde method 'euler_maruyama'": the scheme maps to torchsde's euler."""
    sde = SDE()
    y0 = torch.rand(BATCH, D, dtype=DT)
    ours = on.sdeint(sde, y0, TS, bm=_interval("diagonal"), dt=STEP, backend="torchsde")
    theirs = torchsde.sdeint(sde, y0, TS, bm=_interval("diagonal"), method="euler", dt=STEP)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    out = on.sdeint(sde.f, sde.g, y0, TS, seed=1, backend="torchsde")  # the functional form
    assert out.shape == (len(TS), BATCH, D)


def test_fresh_randomness_by_default_and_seeds_reproduce():
    sde = SDE()
    y0 = torch.rand(BATCH, D, dtype=DT)
    with torch.no_grad():
        a, b = (on.sdeint(sde, y0, TS, dt=STEP) for _ in range(2))
        assert (a - b).abs().max() > 1e-3  # two calls, two paths (as in torchsde)
        torch.manual_seed(0)  # the global seed does not pin sdeint's noise
        c = on.sdeint(sde, y0, TS, dt=STEP)
        torch.manual_seed(0)
        d = on.sdeint(sde, y0, TS, dt=STEP)
        assert (c - d).abs().max() > 1e-3
        torch.testing.assert_close(
            on.sdeint(sde, y0, TS, dt=STEP, seed=7), on.sdeint(sde, y0, TS, dt=STEP, seed=7)
        )
        gen = torch.Generator().manual_seed(7)
        torch.testing.assert_close(
            on.sdeint(sde, y0, TS, dt=STEP, generator=gen),
            on.sdeint(sde, y0, TS, dt=STEP, seed=7),
        )
        for backend in ("odenets", "torchsde"):
            e, f = (on.sdeint(sde, y0, TS, dt=STEP, backend=backend) for _ in range(2))
            assert (e - f).abs().max() > 1e-3, backend


def test_dt_lands_on_the_output_times(on_odenets_only):
    """dt splits each interval of ts into ceil(dt_n / dt) equal steps; the output is the walk
    on that fine grid sampled at ts (nothing interpolated)."""
    sde = SDE()
    y0 = torch.rand(BATCH, D, dtype=DT)
    ts = torch.tensor([0.0, 0.3, 1.0], dtype=DT)
    fine = torch.cat([torch.linspace(0, 0.3, 3, dtype=DT), torch.linspace(0.3, 1, 4, dtype=DT)[1:]])
    dw = torch.randn(5, BATCH, D, dtype=DT) * 0.3
    out = on.sdeint(sde, y0, ts, dt=0.25, increments=dw)
    walked = on.sdeint(sde, y0, fine, increments=dw)
    torch.testing.assert_close(out, walked[[0, 2, 5]], rtol=0, atol=1e-14)


def test_shape_errors_name_the_supported_noise_types():
    y0 = torch.rand(BATCH, D, dtype=DT)
    sde = SDE("general")
    sde.g = lambda t, y: torch.ones(BATCH, D, dtype=DT)  # diagonal shape for general noise
    with pytest.raises(ValueError, match=r"\(batch, d, m\).*Supported noise types: diagonal"):
        on.sdeint(sde, y0, TS)
    with pytest.raises(ValueError, match=r"general noise needs y0 of shape \(batch, d\)"):
        on.sdeint(SDE("general"), torch.rand(D, dtype=DT), TS)
    with pytest.raises(
        ValueError, match="unknown SDE noise_type 'diagnal'; did you mean 'diagonal'"
    ):
        on.sdeint(SDE("diagnal"), y0, TS)
    with pytest.raises(ValueError, match=r"bm must be of shape \(3, 4\) for general noise"):
        on.sdeint(SDE("general"), y0, TS, bm=_interval("diagonal"))
