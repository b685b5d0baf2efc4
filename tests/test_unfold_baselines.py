"""Baselines: Chebyshev steps (rate bound, stable order), constant step, heavy ball, CG."""

import math

import pytest
import torch

from odenets import unfold


def _diag(lmin=1.0, lmax=100.0, n=200):
    return unfold.Quadratic(torch.diag(torch.linspace(lmin, lmax, n, dtype=torch.float64)))


@pytest.mark.parametrize("T", [1, 2, 4, 7, 16])
def test_chebyshev_steps_attain_the_closed_form_rate(T):
    lmin, lmax = 2.0, 50.0
    gamma = unfold.chebyshev_steps(lmin, lmax, T)
    lam = torch.linspace(lmin, lmax, 20001, dtype=torch.float64)
    poly = torch.prod(1 - gamma[:, None] * lam[None, :], dim=0)
    # the residual polynomial equioscillates: its max on [lmin, lmax] is 1 / T_T(l+/l-)
    rate = unfold.chebyshev_rate(lmin, lmax, T)
    assert float(poly.abs().max()) == pytest.approx(rate, rel=1e-6)
    zeta = (lmax + lmin) / (lmax - lmin)
    assert rate == pytest.approx(1 / math.cosh(T * math.acosh(zeta)))
    # and beats T constant optimal steps
    assert rate < ((lmax - lmin) / (lmax + lmin)) ** T + 1e-15


@pytest.mark.parametrize("T", [*range(1, 40), 50, 64])
def test_chebyshev_order_is_a_permutation(T):
    assert sorted(unfold.chebyshev_order(T)) == list(range(T))


def test_chebyshev_order_is_lebedev_finogenov_for_powers_of_two():
    # roots (2k+1) pi / 2T in units of pi / 2T: 1, 7, 3, 5 for T = 4
    assert [2 * k + 1 for k in unfold.chebyshev_order(4)] == [1, 7, 3, 5]
    assert [2 * k + 1 for k in unfold.chebyshev_order(8)] == [1, 15, 7, 9, 3, 13, 5, 11]


def test_ascending_chebyshev_order_blows_up_at_T50_and_stable_order_does_not():
    problem = _diag()
    b = torch.randn(4, 200, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x_opt = problem.solution(b)
    bound = unfold.chebyshev_rate(1.0, 100.0, 50)
    errors = {}
    for order in ("stable", "ascending"):
        x = unfold.chebyshev_solver(problem, 50, order=order)(b)
        errors[order] = float(((x - x_opt).norm(dim=-1) / x_opt.norm(dim=-1)).max())
    assert errors["stable"] <= 1.5 * bound  # at the theoretical rate
    assert errors["ascending"] > 1e4 * bound  # rounding errors amplified by ~kappa^(T/2)
    assert errors["ascending"] > 1e3 * errors["stable"]


def test_constant_step_and_heavy_ball_rates():
    problem = _diag(1.0, 100.0, 50)
    b = torch.randn(3, 50, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x_opt = problem.solution(b)
    rel = lambda x: float(((x - x_opt).norm(dim=-1) / x_opt.norm(dim=-1)).max())  # noqa: E731
    assert unfold.constant_step(1.0, 100.0) == pytest.approx(2 / 101)
    gd = rel(unfold.constant_solver(problem, 30)(b))
    assert gd <= (99 / 101) ** 30 * (1 + 1e-9)
    alpha, beta = unfold.heavy_ball_parameters(1.0, 100.0)
    assert beta == pytest.approx((9 / 11) ** 2) and alpha == pytest.approx(4 / 121)
    hb = rel(unfold.heavy_ball_solver(problem, 30)(b))
    assert hb < gd / 10
    assert hb < 30 * (9 / 11) ** 30  # asymptotic rate sqrt(beta) = 9/11, modest constant


def test_conjugate_gradient_is_exact_in_n_steps():
    gen = torch.Generator().manual_seed(2)
    A = torch.randn(30, 8, generator=gen, dtype=torch.float64)
    ridge = unfold.RidgeRegression(A, 0.5)
    batch = ridge.sample(5, generator=gen)
    traj = unfold.conjugate_gradient(ridge, batch.y, 8)
    assert traj.shape == (9, 5, 8)
    assert float(unfold.mse(traj[-1], batch.target)) < 1e-20
    errs = [float(unfold.mse(x, batch.target)) for x in traj]
    assert errs[4] < errs[0] and errs[-1] < errs[4]


def test_bad_baseline_input():
    with pytest.raises(ValueError, match="lmin <= lmax"):
        unfold.chebyshev_steps(5.0, 1.0, 4)
    with pytest.raises(ValueError, match="T must be >= 1"):
        unfold.chebyshev_steps(1.0, 5.0, 0)
    with pytest.raises(ValueError, match="must be > 0"):
        unfold.constant_step(0.0, 1.0)
    with pytest.raises(ValueError, match="stable"):
        unfold.chebyshev_steps(1.0, 5.0, 4, order="random")
