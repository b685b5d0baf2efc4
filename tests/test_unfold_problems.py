"""Problems of odenets.unfold: analytic gradients against autograd, exact minimisers, prox."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from odenets import unfold


def _autograd(problem, x, y):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(problem.value(x, y).sum(), x)
    return g


def _spd(n, gen):
    q = torch.randn(n, n, generator=gen, dtype=torch.float64)
    return q @ q.T + n * torch.eye(n, dtype=torch.float64)


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(1, 7),
    n=st.integers(1, 7),
    batch=st.integers(1, 4),
    lam=st.floats(0.0, 5.0),
    seed=st.integers(0, 2**16),
)
def test_least_squares_and_ridge_gradients_match_autograd(m, n, batch, lam, seed):
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(m, n, generator=gen, dtype=torch.float64)
    x = torch.randn(batch, n, generator=gen, dtype=torch.float64)
    y = torch.randn(batch, m, generator=gen, dtype=torch.float64)
    for problem in (unfold.LeastSquares(A), unfold.RidgeRegression(A, lam)):
        torch.testing.assert_close(problem.grad(x, y), _autograd(problem, x, y))


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 6), batch=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_quadratic_gradient_matches_autograd(n, batch, seed):
    gen = torch.Generator().manual_seed(seed)
    problem = unfold.Quadratic(_spd(n, gen))
    x = torch.randn(batch, n, generator=gen, dtype=torch.float64)
    b = torch.randn(batch, n, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(problem.grad(x, b), _autograd(problem, x, b))


def test_lasso_smooth_gradient_and_objective_gradient_match_autograd():
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(6, 9, generator=gen, dtype=torch.float64)
    lasso = unfold.Lasso(A, 0.3)
    x = torch.randn(3, 9, generator=gen, dtype=torch.float64)
    y = torch.randn(3, 6, generator=gen, dtype=torch.float64)
    smooth = unfold.LeastSquares(A)
    torch.testing.assert_close(lasso.grad(x, y), _autograd(smooth, x, y))
    # Objective takes the gradient by autograd (odenets.GradientField)
    obj = unfold.Objective(lambda z, d: smooth.value(z, d))
    torch.testing.assert_close(obj.grad(x, y), smooth.grad(x, y))


def test_exact_minimisers_have_zero_gradient():
    gen = torch.Generator().manual_seed(1)
    A = torch.randn(12, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(4, 12, generator=gen, dtype=torch.float64)
    for problem in (unfold.LeastSquares(A), unfold.RidgeRegression(A, 3.0)):
        x = problem.solution(y)
        assert problem.grad(x, y).abs().max() < 1e-10
    ridge = unfold.RidgeRegression(A, 3.0)
    direct = torch.linalg.inv(A.T @ A + 3 * torch.eye(5, dtype=torch.float64)) @ A.T @ y.T
    torch.testing.assert_close(ridge.solution(y), direct.T)
    q = unfold.Quadratic(_spd(5, gen))
    b = torch.randn(4, 5, generator=gen, dtype=torch.float64)
    assert q.grad(q.solution(b), b).abs().max() < 1e-10
    lo, hi = ridge.spectrum()
    eig = torch.linalg.eigvalsh(ridge.hessian())
    assert lo == pytest.approx(float(eig[0])) and hi == pytest.approx(float(eig[-1]))


def test_soft_threshold_is_the_prox_of_l1():
    gen = torch.Generator().manual_seed(2)
    v = torch.randn(20, dtype=torch.float64, generator=gen) * 2
    grid = torch.linspace(-6, 6, 120001, dtype=torch.float64)
    for vi in v:
        brute = grid[torch.argmin(0.5 * (grid - vi) ** 2 + 0.7 * grid.abs())]
        assert float(unfold.soft_threshold(vi, 0.7)) == pytest.approx(float(brute), abs=2e-4)


def test_samplers_are_replayable_and_consistent():
    A = torch.randn(8, 4, dtype=torch.float64)
    ridge = unfold.RidgeRegression(A, 1.0)
    b1 = ridge.sample(3, generator=torch.Generator().manual_seed(5))
    b2 = ridge.sample(3, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(b1.y, b2.y)
    torch.testing.assert_close(b1.target, ridge.solution(b1.y))
    lasso = unfold.Lasso(torch.randn(50, 100), 0.1)
    batch = lasso.sample(200, generator=torch.Generator().manual_seed(0), sparsity=0.1)
    assert 0.07 < float((batch.target != 0).float().mean()) < 0.13
    torch.testing.assert_close(batch.y, batch.target @ lasso.A.T)


def test_bad_problem_input():
    with pytest.raises(ValueError, match="square"):
        unfold.Quadratic(torch.randn(3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="symmetric"):
        unfold.Quadratic(torch.tensor([[2.0, 1.0], [0.0, 2.0]]))
    with pytest.raises(ValueError, match="positive-definite"):
        unfold.Quadratic(-torch.eye(2))
    with pytest.raises(ValueError, match="lam must be >= 0"):
        unfold.RidgeRegression(torch.randn(3, 2), -1.0)
    with pytest.raises(ValueError, match="must be > 0"):
        unfold.Lasso(torch.randn(3, 2), 0.0)
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        unfold.RidgeRegression([[1.0]], 1.0)
    with pytest.raises(ValueError, match="2-D"):
        unfold.LeastSquares(torch.randn(3))
    ridge = unfold.RidgeRegression(torch.randn(3, 2), 1.0)
    with pytest.raises(ValueError, match=r"shape \(batch, 3\), but got \(4, 2\)"):
        ridge.grad(torch.zeros(4, 2), torch.zeros(4, 2))
    with pytest.raises(TypeError, match="dtype"):
        ridge.grad(torch.zeros(1, 2), torch.zeros(1, 3, dtype=torch.float64))
