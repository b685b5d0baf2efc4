"""UnfoldedSolver: steps of registered schemes on -grad f; period sharing; bad input."""

import dataclasses
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
        problem, 2, learn=("h", "lam"), init={"h": 0.01, "lam": [2.0, 5.0]}
    )
    with torch.no_grad():
        solver.lam[0] = -2.0  # training may cross 0: the weight used is |xi_t|
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


@pytest.mark.parametrize(
    ("init", "learn", "error", "match"),
    [
        ({"h": math.nan}, ("h",), ValueError, r"init\['h'\] must be finite.*got nan at slot 0"),
        ({"h": [0.1, math.inf, 0.1, 0.1]}, ("h",), ValueError, "finite.*at slot 1"),
        ({"h": 0.0}, (), ValueError, r"init\['h'\] must be > 0 .*h = 0 leaves x unchanged"),
        ({"h": -0.1}, ("h",), ValueError, r"must be >= 0 .*h < 0 climbs f.*got -0.1"),
        ({"h": -0.1}, (), ValueError, r"must be > 0 .*got -0.1 at slot 0"),
        ({"h": "a"}, ("h",), TypeError, r"init\['h'\] must be a real number or 4 of them.*'a'"),
        ({"h": [0.1, "a", 0.1, 0.1]}, ("h",), TypeError, r"init\['h'\].*got str 'a'"),
        ({"h": []}, ("h",), TypeError, r"init\['h'\].*empty sequence"),
        ({"h": True}, ("h",), TypeError, r"init\['h'\].*bool True"),
        ({"h": torch.tensor([1j])}, ("h",), TypeError, r"init\['h'\].*complex"),
        ({"h": None}, ("h",), TypeError, r"init\['h'\].*NoneType"),
        ({"lam": -1.0}, (), ValueError, r"init\['lam'\] must be >= 0 \(a ridge weight"),
        ({"lam": math.nan}, ("h", "lam"), ValueError, r"init\['lam'\] must be finite"),
        ({"lam": "x"}, ("h", "lam"), TypeError, r"init\['lam'\] must be a real number"),
    ],
)
def test_bad_initial_values_are_refused_with_the_parameter_named(init, learn, error, match):
    problem, _ = _ridge()
    with pytest.raises(error, match=match):
        unfold.UnfoldedSolver(problem, 4, learn=learn, init=init)


@pytest.mark.parametrize("scheme", ["lm", "momentum"])
@pytest.mark.parametrize("beta", [1.0, 1.5, -0.1, math.nan])
def test_momentum_outside_zero_one_is_refused(scheme, beta):
    problem, _ = _ridge()
    match = "must be finite" if math.isnan(beta) else r"must lie in \[0, 1\).*heavy-ball beta"
    with pytest.raises(ValueError, match=rf"init\['momentum'\] {match}"):
        unfold.UnfoldedSolver(problem, 4, scheme, init={"momentum": beta})


def test_negative_threshold_is_refused_and_a_learned_step_may_start_at_zero():
    lasso = unfold.Lasso(torch.randn(6, 8, dtype=torch.float64), 0.1)
    with pytest.raises(ValueError, match=r"init\['threshold'\] must be >= 0 \(a soft threshold"):
        unfold.UnfoldedSolver(lasso, 3, learn=("h", "threshold"), init={"threshold": -0.01})
    # the book starts its learned steps at 0: allowed, and the gradient there is not zero
    problem, batch = _ridge()
    solver = unfold.UnfoldedSolver(problem, 3, init={"h": 0.0})
    torch.testing.assert_close(solver(batch.y), torch.zeros(3, 6, dtype=torch.float64))
    unfold.mse(solver(batch.y), batch.target).backward()
    assert solver.h.grad[0] != 0


def test_per_quantity_periods_validate():
    problem, _ = _ridge()
    with pytest.raises(ValueError, match=r"period\['h'\] must be <= steps \(4\)"):
        unfold.UnfoldedSolver(problem, 4, period={"h": 5})
    with pytest.raises(ValueError, match=r"period names \['momentum'\], which this solver"):
        unfold.UnfoldedSolver(problem, 4, period={"h": 2, "momentum": 2})
    with pytest.raises(TypeError, match="unexpected option"):
        unfold.UnfoldedSolver(problem, 4, period={"step": 2})
    with pytest.raises(TypeError, match=r"period\['lam'\] must be an int"):
        unfold.UnfoldedSolver(problem, 4, period={"lam": 2.0}, learn=("h", "lam"))


def test_velocity_heavy_ball_is_the_lm_heavy_ball_with_converted_parameters():
    """momentum: v <- g v + (1-g) F, x <- x + h v  ==  lm with beta'_t = g_t h_t / h_{t-1},
    h'_t = (1 - g_t) h_t / (1 - beta'_t), h'_0 = (1 - g_0) h_0."""
    problem, batch = _ridge(5)
    h = torch.tensor([0.03, 0.02, 0.025, 0.03, 0.015, 0.02], dtype=torch.float64)
    g = torch.tensor([0.4, 0.6, 0.3, 0.5, 0.2, 0.7], dtype=torch.float64)
    velocity = unfold.UnfoldedSolver(
        problem, 6, "momentum", learn=("h", "momentum"), init={"h": h, "momentum": g}
    )
    x, v = torch.zeros(3, 6, dtype=torch.float64), torch.zeros(3, 6, dtype=torch.float64)
    for t in range(6):  # the velocity recursion by hand
        v = g[t] * v + (1 - g[t]) * -problem.grad(x, batch.y)
        x = x + h[t] * v
    torch.testing.assert_close(velocity(batch.y), x)
    beta = torch.cat([torch.zeros(1, dtype=torch.float64), g[1:] * h[1:] / h[:-1]])
    h_lm = (1 - g) * h / (1 - beta)
    two_step = unfold.UnfoldedSolver(problem, 6, "lm", init={"h": h_lm, "momentum": beta})
    torch.testing.assert_close(
        velocity(batch.y, trajectory=True), two_step(batch.y, trajectory=True)
    )
    # beta trains through the scheme's coefficient gamma
    unfold.mse(velocity(batch.y), batch.target).backward()
    assert velocity.momentum.grad.abs().min() > 0 and {"h", "momentum"} == {
        n for n, _ in velocity.named_parameters()
    }


def test_momentum_follows_the_scheme_coefficient_not_its_name():
    """Any history-threading scheme with a coefficient 'k' takes the heavy-ball beta as k = -beta;
    a history-threading scheme without one (ab2) refuses it, naming the usable schemes."""
    from odenets.numerics.schemes import get_scheme, register_scheme, unregister_scheme

    problem, batch = _ridge(6)
    lm = get_scheme("lm")
    register_scheme(dataclasses.replace(lm, name="my_heavy_ball"))
    try:
        mine = unfold.UnfoldedSolver(problem, 4, "my_heavy_ball", init={"momentum": 0.5})
        ref = unfold.UnfoldedSolver(problem, 4, "lm", init={"momentum": 0.5})
        torch.testing.assert_close(mine(batch.y), ref(batch.y), rtol=0, atol=0)
    finally:
        unregister_scheme("my_heavy_ball")
    with pytest.raises(ValueError, match=r"usable: \[.*'lm', 'momentum'.*\]; got scheme='ab2'"):
        unfold.UnfoldedSolver(problem, 4, "ab2", learn=("h", "momentum"))
