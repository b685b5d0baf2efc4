"""The numerics behind the faithful presets: the paper form of the LM step and its modified
equation, learned coefficients kept in their zero-stable range, the PolyNet series'
inconsistency for affine F, and the stochastic-depth modes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import odenets as on
from odenets.networks.coefficients import soft_bound, soft_bound_inverse
from odenets.networks.noise import linspace_survival

# ------------------------------------------------------------------ LM-ResNet, paper form


class Affine(nn.Module):
    def __init__(self, a: float, c: float = 0.0) -> None:
        super().__init__()
        self.a, self.c = a, c

    def forward(self, x):
        return self.a * x + self.c


def test_paper_form_stage_is_the_authors_recursion():
    """u_{n+1} = (1 - k) u_n + k u_{n-1} + F(u_n), F not rescaled; the first step Euler."""
    torch.manual_seed(0)
    fields = [nn.Sequential(nn.Linear(3, 3), nn.Tanh()).double() for _ in range(4)]
    blocks = [on.SchemeBlock("lm", f, options={"form": "paper"}) for f in fields]
    with torch.no_grad():
        for b, k in zip(blocks[1:], (0.3, 1.7, -0.4), strict=True):
            b.coefficients["k"].fill_(k)  # stored as it is: 1.7 is allowed when learned
    x = torch.randn(5, 3, dtype=torch.float64)
    prev, cur = x, x + fields[0](x)
    for block, f in zip(blocks[1:], fields[1:], strict=True):
        k = block.coefficients["k"]
        prev, cur = cur, (1 - k) * cur + k * prev + f(cur)
    torch.testing.assert_close(on.SchemeStage(blocks)(x), cur, rtol=0, atol=1e-12)


def _growth_rate(k: float, lam: float, h: float, form: str) -> float:
    """The per-unit-time growth rate of the LM solution of y' = lam y after the parasitic
    root has decayed."""
    t = torch.arange(400, dtype=torch.float64) * h
    y = on.odeint(
        lambda t, y: lam * y,
        torch.ones(1, dtype=torch.float64),
        t,
        "lm",
        coefficients={"k": k},
        options={"form": form},
    )
    return math.log(float(y[-1] / y[-2])) / h


@pytest.mark.parametrize("k", [0.5, -0.2])
def test_paper_form_discretises_the_modified_equation(k):
    """(1 + k) u' + (1 - k) (h / 2) u'' = lam u: its growth rate r solves
    (1 - k)(h/2) r^2 + (1 + k) r - lam = 0. The paper form matches it to O(h^2), matches
    u' = lam u / (1 + k) only to O(h), and is not consistent with u' = lam u."""
    lam = -1.0
    errors_modified, errors_rescaled = [], []
    for h in (0.04, 0.02, 0.01):
        rate = _growth_rate(k, lam, h, "paper")
        a, b = (1 - k) * h / 2, 1 + k
        modified = (-b + math.sqrt(b * b + 4 * a * lam)) / (2 * a)
        errors_modified.append(abs(rate - modified))
        errors_rescaled.append(abs(rate - lam / (1 + k)))
        assert abs(rate - lam) > 0.25  # inconsistent with u' = lam u, whatever h

    def order(e):
        return math.log2(e[0] / e[1]), math.log2(e[1] / e[2])

    assert min(order(errors_modified)) > 1.7
    assert max(abs(o - 1) for o in order(errors_rescaled)) < 0.3
    # the default form is consistent: the rate tends to lam itself
    assert abs(_growth_rate(k, lam, 0.02, "consistent") - lam) < 0.05


def test_paper_form_keeps_zero_stability_for_fixed_k_and_frees_learned_k():
    with pytest.raises(ValueError, match=r"must lie in \(-1, 1\]"):
        on.SchemeBlock(
            "lm", nn.Identity(), learn=False, coefficients={"k": 1.5}, options={"form": "paper"}
        )
    with pytest.raises(ValueError, match="unknown scheme 'lm' form 'papers'"):
        on.SchemeBlock("lm", nn.Identity(), options={"form": "papers"})
    free = on.SchemeBlock("lm", nn.Identity(), options={"form": "paper"})
    assert free.coefficients.bounds == {}
    bounded = on.SchemeBlock("lm", nn.Identity())
    assert bounded.coefficients.bounds == {"k": (-1.0, 1.0)}


# ------------------------------------------------------------------ learned k stays in range


def test_soft_bound_is_an_increasing_bijection_onto_the_open_interval():
    theta = torch.linspace(-1e6, 1e6, 2001, dtype=torch.float64)
    # distinct values (both grids hold 0 exactly where linspace is computed without SIMD)
    theta = torch.cat([theta, torch.linspace(-50, 50, 2001, dtype=torch.float64)]).unique()
    k = soft_bound(theta, -1.0, 1.0)
    assert (k > -1).all() and (k < 1).all() and (k.diff() > 0).all()
    core = theta.abs() <= 0.5
    torch.testing.assert_close(k[core], theta[core])  # identity on [-0.5, 0.5]
    grad = torch.autograd.functional.jacobian(
        lambda t: soft_bound(t, -1.0, 1.0), torch.tensor([0.5 - 1e-9, 0.5 + 1e-9])
    ).diagonal()
    torch.testing.assert_close(grad, torch.ones(2, dtype=grad.dtype), rtol=1e-6, atol=1e-6)
    for value in (-0.99, -0.6, 0.0, 0.7, 0.999):
        raw = torch.tensor(soft_bound_inverse(value, -1.0, 1.0), dtype=torch.float64)
        back = soft_bound(raw, -1.0, 1.0)
        assert float(back) == pytest.approx(value, abs=1e-12)
    half = soft_bound(torch.tensor([-30.0, 0.5, 2.0]), 0.0, math.inf)  # one-sided
    assert (half > 0).all() and float(half[2]) == 2.0


def test_learned_k_cannot_leave_the_zero_stable_range():
    """Gradient ascent on k drives it towards 1 but never past it; fixed 1.5 and learned
    1.5 are refused alike."""
    block = on.SchemeBlock("lm", Affine(0.0))
    opt = torch.optim.SGD(block.parameters(), lr=10.0)
    for _ in range(200):
        opt.zero_grad()
        (-block.coefficients.resolved()["k"]).backward()
        opt.step()
    k = float(block.coefficients.resolved()["k"].detach())
    assert 0.95 < k < 1.0
    assert float(block.coefficients["k"].detach()) > 1.0  # the stored parameter is unconstrained
    for learn in (True, False):
        with pytest.raises(ValueError, match=r"must lie in \(-1, 1\]"):
            on.SolverNet("lm", depth=8, learn=learn, coefficients={"k": 1.5})
    with pytest.raises(ValueError, match="starts strictly inside"):
        on.SchemeBlock("lm", Affine(0.0), coefficients={"k": 1.0})  # leapfrog: fix it
    assert on.SchemeBlock("lm", Affine(0.0), learn=False, coefficients={"k": 1.0})


def test_state_dict_key_and_values_in_the_core_are_unchanged():
    """An lm checkpoint stores coefficients.k; a k in the core [-0.5, 0.5] (LM-ResNets start
    in (-0.1, 0]) loads as that k."""
    block = on.SchemeBlock("lm", Affine(-1.0))
    state = block.state_dict()
    assert list(state) == ["coefficients.k"]
    state["coefficients.k"] = torch.tensor(-0.05)
    block.load_state_dict(state)
    assert float(block.coefficients.resolved()["k"].detach()) == pytest.approx(-0.05)
    gamma = on.SchemeBlock("momentum", Affine(-1.0), learn=True)
    assert gamma.coefficients.bounds == {"gamma": (0.0, 1.0)}
    assert float(gamma.coefficients.resolved()["gamma"].detach()) == pytest.approx(0.9)


# ------------------------------------------------------------------ PolyNet's series


def _error(options: dict, n: int, f=lambda t, y: 1 - y) -> float:
    t = torch.linspace(0, 1, n + 1, dtype=torch.float64)
    y = on.odeint(f, torch.zeros(1, dtype=torch.float64), t, "backward_euler", options=options)
    return float(y[-1]) - (1 - math.exp(-1))


def test_poly2_series_is_not_consistent_for_affine_f():
    """y' = 1 - y: the series x + hF(x) + hF(hF(x)) integrates y' = 2 - y, so its error stays
    2(1 - 1/e) - (1 - 1/e) = 0.632 as h -> 0; Picard (x + hF(x + hF(x))) and the solve are
    first order."""
    series = {"solver": "series", "order": 2}
    for n in (100, 1000):
        assert _error(series, n) == pytest.approx(1 - math.exp(-1), abs=0.003)
    for options in ({"solver": "picard", "iterations": 2}, {}):
        e1, e2 = abs(_error(options, 100)), abs(_error(options, 1000))
        assert e1 < 0.003 and math.log10(e1 / e2) == pytest.approx(1.0, abs=0.1)
    # with F(0) = 0 (linear F) the series converges: it is the Neumann series
    t = torch.linspace(0, 1, 1001, dtype=torch.float64)
    y = on.odeint(
        lambda t, y: -y, torch.ones(1, dtype=torch.float64), t, "backward_euler", options=series
    )
    assert abs(float(y[-1]) - math.exp(-1)) < 1e-3


def test_picard_is_explicit_so_the_solve_stays_the_default_for_stiff_problems():
    """y' = -50 (y - cos t), h = 0.1: two Picard iterations amplify by |1 - 5 + 25| = 21 per
    step; the solve (the default) is the backward Euler step and tracks the solution."""

    def f(t, y):
        return -50.0 * (y - torch.cos(t))

    t = torch.linspace(0, 3, 31, dtype=torch.float64)
    y0 = torch.zeros(1, dtype=torch.float64)
    picard = on.odeint(f, y0, t, "backward_euler", options={"solver": "picard"})
    solve = on.odeint(f, y0, t, "backward_euler")
    assert picard[-1].abs().item() > 1e6
    assert (solve[-1] - torch.cos(t[-1])).abs().item() < 0.05
    assert on.get_scheme("backward_euler").options["solver"] == "solve"
    assert "only for linear" in on.get_scheme("backward_euler").architecture


# ------------------------------------------------------------------ stochastic depth modes


class Count(nn.Module):
    """A BN-free branch that records the batch sizes it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.lin, self.rows = nn.Linear(4, 4), []

    def forward(self, x):
        self.rows.append(x.shape[0])
        return self.lin(x)


def _block(**noise) -> tuple[on.SchemeBlock, Count]:
    field = Count()
    source = on.NoiseSource(0)
    block = on.SchemeBlock(
        "euler_maruyama",
        field,
        noise=on.StochasticDepth(schedule="constant", **noise),
        source=source,
    )
    return block, field


def test_per_sample_modes_compute_kept_rows_or_all_rows_with_the_same_result():
    x = torch.randn(64, 4)
    kept, f_kept = _block(survival=0.5, per="sample", compute="kept")
    every, f_every = _block(survival=0.5, per="sample", compute="all")
    every.load_state_dict(kept.state_dict())
    y_kept, y_every = kept(x), every(x)
    torch.testing.assert_close(y_kept, y_every)  # BN-free F: the two semantics agree
    assert f_every.rows == [64] and 0 < f_kept.rows[0] < 64
    dropped = (y_kept == x).all(1)
    assert 0 < int(dropped.sum()) < 64


def test_per_sample_kept_rows_changes_what_batchnorm_sees():
    """With BN inside F, compute='kept' normalises over the kept rows only, 'all' over the
    batch (torchvision's stochastic_depth): the two training outputs differ."""
    torch.manual_seed(0)
    nets = [
        on.SolverNet(
            "euler_maruyama",
            depth=8,
            widths=(4, 4, 4),
            noise=on.StochasticDepth(0.5, per="sample", compute=c),
        )
        for c in ("kept", "all")
    ]
    for m in nets[0].modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight)
    nets[1].load_state_dict(nets[0].state_dict())
    x = torch.randn(16, 3, 8, 8)
    torch.testing.assert_close(nets[0].eval()(x), nets[1].eval()(x))  # evaluation: the same
    a, b = (net.train()(x) for net in nets)
    assert not torch.allclose(a, b)


def test_rescale_train_divides_survivors_and_evaluates_plainly():
    x = torch.randn(256, 4)
    block, field = _block(survival=0.75, per="sample", rescale="train")
    f = field.lin(x).detach()
    y = block(x).detach()
    kept = ~torch.isclose(y, x).all(1)
    torch.testing.assert_close(y[kept], x[kept] + f[kept] / 0.75)
    torch.testing.assert_close(block.eval()(x), x + f)  # no test-time scaling
    huang, field = _block(survival=0.75, per="sample", rescale="test")
    huang.load_state_dict(block.state_dict())
    torch.testing.assert_close(huang.eval()(x), x + 0.75 * field.lin(x))


def test_linspace_schedule():
    assert linspace_survival(5, 0.6) == pytest.approx([1.0, 0.9, 0.8, 0.7, 0.6])
    assert linspace_survival(1, 0.6) == [0.6]  # works at depth 1
    model = on.StochasticDepth(0.5, schedule="linspace")
    assert [m.survival for m in model.for_blocks(3)] == pytest.approx([1.0, 0.75, 0.5])
    with pytest.raises(ValueError, match="unknown stochastic depth rescale 'never'"):
        on.StochasticDepth(rescale="never")


def test_projection_at_transitions_only():
    net = on.create_model("momentum_resnet20")
    assert all(s.transition.project is not None for s in net.stages[1:])
    assert all(b.project is None for b in net.blocks)
    with pytest.raises(ValueError, match="unknown project_at 'steps'"):
        on.SolverNet("euler", depth=8, project="relu", project_at="steps")
