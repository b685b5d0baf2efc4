"""UnfoldedSolver: steps of registered schemes on -grad f; period sharing; bad input."""

import math

import pytest
import torch

from odenets import unfold
from odenets.numerics.steps import prepare


def _ridge(seed=0, m=12, n=6, lam=1.0):
    gen = torch.Generator().manual_seed(seed)
    problem = unfold.RidgeRegression(torch.randn(m, n, generator=gen, dtype=torch.float64), lam)
    return problem, problem.sample(3, generator=gen)


def test_euler_solver_is_gradient_descent_with_per_step_sizes():
    problem, batch = _ridge()
    hs = torch.linspace(0.005, 0.03, 7, dtype=torch.float64)
    solver = unfold.UnfoldedSolver(problem, 7, init={"h": hs})
    x = torch.zeros(3, 6, dtype=torch.float64)
    for t in range(7):
        x = x - hs[t] * problem.grad(x, batch.y)
    torch.testing.assert_close(solver(batch.y), x)
    traj = solver(batch.y, trajectory=True)
    assert traj.shape == (8, 3, 6)
    torch.testing.assert_close(traj[3], solver(batch.y, iterations=3))


def test_period_sharing_ties_parameters():
    problem, batch = _ridge()
    solver = unfold.UnfoldedSolver(problem, 10, period=4, init={"h": [0.01, 0.02, 0.03, 0.04]})
    assert solver.h.shape == (4,)
    assert [solver.slot(t) for t in range(10)] == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    torch.testing.assert_close(solver.schedule()[[1, 5, 9]], torch.full((3,), 0.02).double())
    # the gradient w.r.t. the shared slot is the sum over the iterations that use it
    unshared = unfold.UnfoldedSolver(problem, 10, init={"h": solver.schedule()})
    for s in (solver, unshared):
        unfold.mse(s(batch.y), batch.target).backward()
    summed = torch.stack([unshared.h.grad[i::4].sum() for i in range(4)])
    torch.testing.assert_close(solver.h.grad, summed)


def test_lm_solver_is_the_heavy_ball():
    problem, batch = _ridge(1)
    alpha = torch.tensor([0.02, 0.03, 0.01, 0.025, 0.02], dtype=torch.float64)
    beta = torch.tensor([0.0, 0.5, 0.3, 0.7, 0.2], dtype=torch.float64)
    # x_{t+1} = x_t - alpha_t g + beta_t (x_t - x_{t-1}); lm: k = -beta, h = alpha / (1 - beta)
    solver = unfold.UnfoldedSolver(
        problem, 5, "lm", learn=("h", "momentum"), init={"h": alpha / (1 - beta), "momentum": beta}
    )
    x_prev = x = torch.zeros(3, 6, dtype=torch.float64)
    for t in range(5):
        x, x_prev = x - alpha[t] * problem.grad(x, batch.y) + beta[t] * (x - x_prev), x
    torch.testing.assert_close(solver(batch.y), x)


def test_other_schemes_run_through_the_same_steppers():
    problem, batch = _ridge(2)
    solver = unfold.UnfoldedSolver(problem, 3, "heun", init={"h": 0.01})
    step = prepare("heun")
    x, state = torch.zeros(3, 6, dtype=torch.float64), None
    for t in range(3):
        x, state = step(lambda s, tt, z: -problem.grad(z, batch.y), t, x, 0.01, state)
    torch.testing.assert_close(solver(batch.y), x)


def test_lasso_solver_is_ista():
    gen = torch.Generator().manual_seed(3)
    lasso = unfold.Lasso(
        torch.randn(10, 20, generator=gen, dtype=torch.float64) / math.sqrt(10), 0.1
    )
    batch = lasso.sample(4, generator=gen)
    tau = lasso.step_hint()
    solver = unfold.UnfoldedSolver(lasso, 6, period=1, learn=())
    x = torch.zeros(4, 20, dtype=torch.float64)
    for _ in range(6):
        g = x @ lasso.A.T @ lasso.A - batch.y @ lasso.A
        x = unfold.soft_threshold(x - tau * g, 0.1 * tau)
    torch.testing.assert_close(solver(batch.y), x)


def test_learned_lam_enters_the_gradient():
    problem, batch = _ridge(4)
    solver = unfold.UnfoldedSolver(
        problem, 2, learn=("h", "lam"), init={"h": 0.01, "lam": [-2.0, 5.0]}
    )
    x = torch.zeros(3, 6, dtype=torch.float64)
    for lam in (2.0, 5.0):  # |xi_t|
        x = x - 0.01 * problem.grad(x, batch.y, lam=lam)
    torch.testing.assert_close(solver(batch.y), x)
    assert {n for n, _ in solver.named_parameters()} == {"h", "lam"}


def test_objective_solver_needs_a_start():
    obj = unfold.Objective(lambda x: ((x - 1) ** 2).sum(-1))
    solver = unfold.UnfoldedSolver(obj, 2, init={"h": 0.5})
    torch.testing.assert_close(solver(None, torch.full((2, 1), 4.0)), torch.ones(2, 1))
    with pytest.raises(ValueError, match="give x0"):
        solver()


def test_bad_solver_input():
    problem, batch = _ridge()
    with pytest.raises(ValueError, match="steps must be >= 1"):
        unfold.UnfoldedSolver(problem, 0)
    with pytest.raises(ValueError, match="period must be <= steps"):
        unfold.UnfoldedSolver(problem, 4, period=5)
    with pytest.raises(ValueError, match="period must be >= 1"):
        unfold.UnfoldedSolver(problem, 4, period=0)
    with pytest.raises(ValueError, match="did you mean 'momentum'"):
        unfold.UnfoldedSolver(problem, 4, learn=("h", "momentun"))
    with pytest.raises(ValueError, match="scheme='lm'"):
        unfold.UnfoldedSolver(problem, 4, learn=("h", "momentum"))
    with pytest.raises(ValueError, match="Lasso"):
        unfold.UnfoldedSolver(problem, 4, learn=("h", "threshold"))
    with pytest.raises(ValueError, match="unknown scheme"):
        unfold.UnfoldedSolver(problem, 4, "eulr")
    with pytest.raises(TypeError, match="unexpected option"):
        unfold.UnfoldedSolver(problem, 4, init={"step": 0.1})
    with pytest.raises(ValueError, match="4 values"):
        unfold.UnfoldedSolver(problem, 4, init={"h": [0.1, 0.2]})
    with pytest.raises(TypeError, match="Problem"):
        unfold.UnfoldedSolver(torch.eye(3), 4)
    solver = unfold.UnfoldedSolver(problem, 4)
    with pytest.raises(ValueError, match="iterations must be <= steps"):
        solver(batch.y, iterations=5)
    with pytest.raises(ValueError, match=r"x0 must be of shape \(batch, 6\)"):
        solver(batch.y, torch.zeros(3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="batch"):
        solver(batch.y, torch.zeros(2, 6, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(batch, 12\)"):
        solver(torch.zeros(3, 6, dtype=torch.float64))


def test_ista_threshold_follows_the_learned_step():
    """Without a threshold of its own, the prox threshold is lam * h_t with the current h_t."""
    gen = torch.Generator().manual_seed(0)
    problem = unfold.Lasso(torch.randn(8, 12, generator=gen, dtype=torch.float64), 0.5)
    solver = unfold.UnfoldedSolver(problem, 3, init={"h": 0.02})
    torch.testing.assert_close(solver.schedule("threshold"), 0.5 * solver.schedule("h"))
    with torch.no_grad():
        solver.h.mul_(0.1)
    torch.testing.assert_close(solver.schedule("threshold"), 0.5 * solver.schedule("h"))
    batch = problem.sample(2, generator=gen)
    x = torch.zeros(2, 12, dtype=torch.float64)
    for t in range(3):
        h = solver.h[t]
        x = unfold.soft_threshold(x - h * problem.grad(x, batch.y), 0.5 * h)
    torch.testing.assert_close(solver(batch.y), x)


def test_learned_lam_must_start_away_from_zero_and_lasso_has_none():
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(8, 6, generator=gen, dtype=torch.float64)
    with pytest.raises(ValueError, match="gradient vanishes at xi = 0"):
        unfold.UnfoldedSolver(unfold.LeastSquares(A), 3, learn=("h", "lam"))
    unfold.UnfoldedSolver(unfold.LeastSquares(A), 3, learn=("h", "lam"), init={"lam": 0.1})
    with pytest.raises(ValueError, match="'lam' needs a problem with a regularisation weight"):
        unfold.UnfoldedSolver(unfold.Lasso(A, 0.5), 3, learn=("h", "lam"))


def test_heavy_ball_coefficients_follow_loaded_state():
    """lm's k = -beta is bound per forward, so load_state_dict changes the computation."""
    problem, batch = _ridge()
    a = unfold.heavy_ball_solver(problem, 4)
    b = unfold.heavy_ball_solver(problem, 4)
    with torch.no_grad():
        b.momentum.mul_(0.5)
    assert not torch.allclose(a(batch.y), b(batch.y))
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(b(batch.y), a(batch.y), rtol=0, atol=0)
