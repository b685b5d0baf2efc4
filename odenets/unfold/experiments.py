"""The deep-unfolding reproductions behind ``odenets unfold ...``, the bench and the docs.

Each function builds its problem instance from a seed, trains the unfolded solver(s), runs the
baselines on the same evaluation batch and returns a JSON-ready dict. Errors are
``||x_t - x_target||^2 / K`` (summed over coordinates, averaged over the batch) unless a name
says NMSE.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .._validate import check_int, check_number
from .baselines import (
    chebyshev_solver,
    conjugate_gradient,
    constant_solver,
    constant_step,
    heavy_ball_solver,
)
from .problems import Batch, Lasso, Objective, Quadratic, RidgeRegression
from .solver import UnfoldedSolver
from .training import mse, train_incremental

__all__ = ["lasso_experiment", "quadratic_experiment", "ridge_experiment", "seed_experiment"]


def _curve(trajectory: torch.Tensor, target: torch.Tensor) -> list[float]:
    return [float(mse(x, target)) for x in trajectory]


def seed_experiment(
    *,
    stages: int = 5,
    batch: int = 50,
    inner_steps: int = 200,
    lr: float = 0.02,
    alpha: float = 0.1,
    tol: float = 1e-2,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Minimise ``f(x) = (x - 1)^2``: plain GD with step ``alpha`` from ``x0 = 0`` against DU-GD
    trained incrementally (``stages`` steps, batches of ``x0 ~ U(-5, 5)``, Adam).

    Returns ``plain_iterations`` / ``unfolded_iterations`` (iterations from ``x0 = 0`` until
    ``|f'(x)| < tol``; ``-1`` if never within the unrolled depth) and ``learned_steps``.
    """
    check_int("stages", stages, 1)
    check_int("batch", batch, 1)
    problem = Objective(lambda x: ((x - 1) ** 2).sum(-1), minimizer=1.0, step=alpha)
    gen = torch.Generator().manual_seed(seed)

    def sample() -> Batch:
        x0 = torch.rand(batch, 1, generator=gen) * 10 - 5
        return Batch(None, torch.ones(batch, 1), x0)

    solver = UnfoldedSolver(problem, stages, init={"h": alpha})
    history = train_incremental(solver, sample, inner_steps, lr, progress=progress)

    def first_below(s: UnfoldedSolver) -> int:
        with torch.no_grad():
            xs = s(None, torch.zeros(1, 1), trajectory=True)
        for t, x in enumerate(xs):
            if float(problem.grad(x).detach().abs().max()) < tol:
                return t
        return -1

    plain = UnfoldedSolver(problem, 200, period=1, learn=(), init={"h": alpha})
    return {
        "plain_iterations": first_below(plain),
        "unfolded_iterations": first_below(solver),
        "learned_steps": solver.schedule().tolist(),
        "optimal_first_step": 0.5,
        "train_seconds": history.seconds,
    }


def ridge_experiment(
    *,
    n: int = 50,
    m: int = 100,
    lam: float = 3.0,
    batch: int = 100,
    period: int = 4,
    steps: int = 50,
    inner_steps: int = 30,
    lr: float = 3e-4,
    final_steps: int = 300,
    learn_lam: bool = True,
    lr_lam: float = 1e-4,
    init_step: float | None = None,
    eval_batch: int = 1000,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Wadayama's ridge set-up: ``A`` (``m x n``, N(0, 1)) fixed, ridge weight ``lam``, DU-GD
    with period-``period`` steps over ``steps`` iterations, incremental training in float64;
    compared with the constant optimal step, Chebyshev steps (period ``period`` and
    ``steps``), the optimal heavy ball and conjugate gradient on one evaluation batch. The
    learned steps start at the constant optimal step ``2 / (lmin + lmax)`` (``init_step``)."""
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(m, n, generator=gen, dtype=torch.float64)
    problem = RidgeRegression(A, lam)
    lmin, lmax = problem.spectrum()

    def sample() -> Batch:
        return problem.sample(batch, generator=gen)

    def train(learn: tuple[str, ...]) -> tuple[UnfoldedSolver, float]:
        solver = UnfoldedSolver(
            problem,
            steps,
            period=period,
            learn=learn,
            init={"h": init_step or constant_step(lmin, lmax)},
        )
        hist = train_incremental(
            solver,
            sample,
            inner_steps,
            lr,
            lr_lam=lr_lam,
            final_steps=final_steps,
            progress=progress,
        )
        return solver, hist.seconds

    test = problem.sample(eval_batch, generator=torch.Generator().manual_seed(seed + 1))
    du, seconds = train(("h",))
    solvers = {
        "du_gd": du,
        "constant": constant_solver(problem, steps),
        "chebyshev": chebyshev_solver(problem, steps, period),
        "chebyshev_full": chebyshev_solver(problem, steps),
        "heavy_ball": heavy_ball_solver(problem, steps),
    }
    out_seconds = {"du_gd": seconds}
    if learn_lam:
        solvers["du_gd_lam"], out_seconds["du_gd_lam"] = train(("h", "lam"))
    with torch.no_grad():
        curves = {k: _curve(s(test.y, trajectory=True), test.target) for k, s in solvers.items()}
        curves["cg"] = _curve(conjugate_gradient(problem, test.y, steps), test.target)
    result = {
        "t": list(range(steps + 1)),
        "mse": curves,
        "steps": du.schedule().tolist(),
        "chebyshev_steps": solvers["chebyshev"].h.tolist(),
        "spectrum": [lmin, lmax],
        "train_seconds": out_seconds,
    }
    if learn_lam:
        result["lam_steps"] = solvers["du_gd_lam"].schedule().tolist()
        result["lam_values"] = solvers["du_gd_lam"].schedule("lam").tolist()
    return result


def quadratic_experiment(
    *,
    n: int = 50,
    kappa: float = 100.0,
    steps: int = 20,
    batch: int = 100,
    inner_steps: int = 40,
    lr: float = 2e-3,
    final_steps: int = 300,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Heavy ball (``lm``) against gradient descent (``euler``), both unfolded with
    per-iteration parameters, on ``f = 1/2 x^T A x - b^T x`` with eigenvalues log-spaced in
    ``[1, kappa]`` (random eigenbasis, float64). Each learned solver starts from its classical
    optimum (constant step 2/(L+mu); Polyak's heavy ball)."""
    kappa = check_number("kappa", kappa, positive=True)
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    eig = torch.logspace(0, math.log10(kappa), n, dtype=torch.float64)
    problem = Quadratic((q * eig) @ q.T)
    lmin, lmax = problem.spectrum()

    def sample() -> Batch:
        return problem.sample(batch, generator=gen)

    du_gd = UnfoldedSolver(problem, steps, init={"h": constant_step(lmin, lmax)})
    du_hb = heavy_ball_solver(problem, steps, learn=("h", "momentum"))
    seconds = {}
    for name, s in (("du_gd", du_gd), ("du_hb", du_hb)):
        seconds[name] = train_incremental(
            s, sample, inner_steps, lr, final_steps=final_steps, progress=progress
        ).seconds
    test = problem.sample(1000, generator=torch.Generator().manual_seed(seed + 1))
    solvers = {
        "du_gd": du_gd,
        "du_hb": du_hb,
        "constant": constant_solver(problem, steps),
        "heavy_ball": heavy_ball_solver(problem, steps),
        "chebyshev": chebyshev_solver(problem, steps),
    }
    with torch.no_grad():
        curves = {k: _curve(s(test.y, trajectory=True), test.target) for k, s in solvers.items()}
        curves["cg"] = _curve(conjugate_gradient(problem, test.y, steps), test.target)
    return {
        "t": list(range(steps + 1)),
        "mse": curves,
        "kappa": lmax / lmin,
        "gd_steps": du_gd.schedule().tolist(),
        "hb_steps": du_hb.schedule().tolist(),
        "hb_momentum": du_hb.schedule("momentum").tolist(),
        "train_seconds": seconds,
    }


def lasso_experiment(
    *,
    m: int = 250,
    n: int = 500,
    sparsity: float = 0.1,
    lam: float = 0.01,
    steps: int = 16,
    batch: int = 50,
    inner_steps: int = 40,
    lr: float = 2e-3,
    ista_iterations: int = 1000,
    eval_batch: int = 200,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Sparse recovery ``y = A x`` (``A`` ``m x n`` with N(0, 1/m) entries, Bernoulli–Gaussian
    ``x``, noiseless): unfolded ISTA (learned step and threshold per iteration, ``steps``
    iterations) against ISTA (step ``1/L``, threshold ``lam / L``). Reports NMSE in dB and how
    many ISTA iterations reach the unfolded network's final NMSE."""
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(m, n, generator=gen) / math.sqrt(m)
    problem = Lasso(A, lam)

    def sample() -> Batch:
        return problem.sample(batch, generator=gen, sparsity=sparsity)

    solver = UnfoldedSolver(problem, steps, learn=("h", "threshold"))
    history = train_incremental(solver, sample, inner_steps, lr, progress=progress)
    test = problem.sample(
        eval_batch, generator=torch.Generator().manual_seed(seed + 1), sparsity=sparsity
    )
    ista = UnfoldedSolver(problem, ista_iterations, period=1, learn=())
    power = float((test.target**2).sum(-1).mean())

    def nmse_db(xs: torch.Tensor) -> list[float]:
        return [10 * math.log10(max(float(mse(x, test.target)) / power, 1e-30)) for x in xs]

    with torch.no_grad():
        unfolded = nmse_db(solver(test.y, trajectory=True))
        plain = nmse_db(ista(test.y, trajectory=True))
    goal = unfolded[-1]
    reach = next((t for t, v in enumerate(plain) if v <= goal), -1)
    return {
        "t": list(range(steps + 1)),
        "nmse_db": {"unfolded_ista": unfolded, "ista": plain[: steps + 1]},
        "ista_nmse_db_at": {
            str(t): plain[t]
            for t in (16, 100, 160, 500, 1000, ista_iterations)
            if t <= ista_iterations
        },
        "ista_iterations_to_match": reach,
        "ista_iterations_run": ista_iterations,
        "steps": solver.schedule().tolist(),
        "thresholds": solver.schedule("threshold").tolist(),
        "train_seconds": history.seconds,
    }
