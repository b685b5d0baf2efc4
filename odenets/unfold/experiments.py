"""The deep-unfolding reproductions behind ``odenets unfold ...``, the bench and the docs.

Each function builds its problem instance from a seed, trains the unfolded solver(s), runs the
baselines on the same evaluation batch and returns a JSON-ready dict. Errors are
``||x_t - x_target||^2 / K`` (summed over coordinates, averaged over the batch) unless a name
says NMSE.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch

from .._validate import check_choice, check_int, check_number, check_options
from .baselines import (
    chebyshev_solver,
    conjugate_gradient,
    constant_solver,
    constant_step,
    heavy_ball_solver,
)
from .problems import DATA, Batch, Lasso, Objective, Quadratic, RidgeRegression
from .solver import UnfoldedSolver
from .training import UPDATES, mse, train_incremental

__all__ = [
    "RIDGE_RECIPES",
    "RidgeRecipe",
    "lasso_experiment",
    "quadratic_experiment",
    "ridge_comparison",
    "ridge_experiment",
    "ridge_recipe",
    "seed_experiment",
]


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


@dataclass(frozen=True)
class RidgeRecipe:
    """Everything the ridge reproduction does, as options (:data:`RIDGE_RECIPES` holds the two
    named ones; ``dataclasses.replace`` or keyword overrides of :func:`ridge_experiment` give
    any mix).

    Attributes:
        n, m: ``x`` has ``n`` entries, ``A`` is ``m x n`` with N(0, 1) entries.
        lam: the ridge weight ``lam``.
        steps: unrolled iterations ``T`` (= generations of incremental training).
        data: ``"signal"`` (``y = A x``, ``x ~ N(0, I)``) or ``"gaussian"`` (``y ~ N(0, I)``,
            the book), for training and evaluation; see :meth:`LeastSquares.sample`.
        batch: mini-batch size ``K``.
        period: period of the learned steps ``h`` (None: one per iteration).
        lam_period: period of the learned ridge weight ``xi`` (None: one per iteration, the
            book).
        init_step: the steps' start (None: the constant optimal step ``2 / (lmin + lmax)``;
            the book starts at 0).
        inner_steps: mini-batch steps per generation.
        final_steps, final_decay: extra steps at full depth with the learning rates decaying
            geometrically to ``final_decay`` times their value (0: none, the book).
        lr, lr_lam: Adam learning rates of ``h`` and ``xi``.
        eps: Adam's ``epsilon``.
        reset: fresh Adam moments at every generation (False: one Adam, the book).
        update: ``"joint"`` or ``"alternating"`` (:data:`~odenets.unfold.training.UPDATES`).
        learn_lam: also train the variant with a learned ridge weight.
        eval_batch: samples of the evaluation batch (one fixed batch, every ``t``).
    """

    n: int = 50
    m: int = 100
    lam: float = 3.0
    steps: int = 50
    data: str = "signal"
    batch: int = 100
    period: int | None = 4
    lam_period: int | None = 4
    init_step: float | None = None
    inner_steps: int = 30
    final_steps: int = 300
    final_decay: float = 0.01
    lr: float = 3e-4
    lr_lam: float = 1e-4
    eps: float = 1e-30
    reset: bool = True
    update: str = "joint"
    learn_lam: bool = True
    eval_batch: int = 1000

    def __post_init__(self) -> None:
        for name in ("n", "m", "steps", "batch", "inner_steps", "eval_batch"):
            check_int(name, getattr(self, name), 1)
        check_int("final_steps", self.final_steps, 0)
        for name in ("period", "lam_period"):
            value = getattr(self, name)
            if value is not None:
                check_int(name, value, 1)
                if value > self.steps:
                    raise ValueError(f"{name} must be <= steps ({self.steps}), got {value}")
        check_number("lam", self.lam)
        for name in ("lr", "lr_lam", "eps", "final_decay"):
            check_number(name, getattr(self, name), positive=True)
        if self.init_step is not None:
            check_number("init_step", self.init_step)
        check_choice("data", self.data, DATA)
        check_choice("update", self.update, UPDATES)
        for name in ("reset", "learn_lam"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")


#: The two recipes of ``odenets unfold ridge --recipe``: Wadayama's chapter-3 notebook
#: (DU-GD-Ridge: ``y ~ N(0, I)``, steps ``eta`` of period 4 from 0, ``xi`` per iteration from
#: ``lam``, 50 generations x 50 mini-batches of 100, one Flux ADAM per quantity kept for the
#: whole run, lr 1e-4 / 1e-2, epsilon 1e-8, a step of ``eta`` then of ``xi`` per batch) and
#: odenets' (``y = A x``, both of period 4, from the constant optimal step, 30 mini-batches
#: per generation and 300 final steps with decaying rates, lr 3e-4 / 1e-4, epsilon 1e-30,
#: Adam reset per generation, joint steps).
RIDGE_RECIPES: dict[str, RidgeRecipe] = {
    "odenets": RidgeRecipe(),
    "book": RidgeRecipe(
        data="gaussian",
        lam_period=None,
        init_step=0.0,
        inner_steps=50,
        final_steps=0,
        lr=1e-4,
        lr_lam=1e-2,
        eps=1e-8,
        reset=False,
        update="alternating",
    ),
}


def ridge_recipe(recipe: str | RidgeRecipe = "odenets", **options: Any) -> RidgeRecipe:
    """A named recipe (``"odenets"``, ``"book"``) or a :class:`RidgeRecipe`, with ``options``
    overriding its fields (unknown names are a ``TypeError`` listing the fields)."""
    if not isinstance(recipe, RidgeRecipe):
        recipe = RIDGE_RECIPES[check_choice("recipe", recipe, RIDGE_RECIPES)]
    check_options("ridge recipe", options, [f.name for f in fields(RidgeRecipe)])
    return replace(recipe, **options)


def ridge_experiment(
    recipe: str | RidgeRecipe = "odenets",
    *,
    seed: int = 0,
    progress: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Wadayama's ridge set-up: ``A`` (``m x n``, N(0, 1)) fixed, ridge weight ``lam``, DU-GD
    over ``steps`` iterations trained incrementally in float64 by ``recipe`` (see
    :class:`RidgeRecipe`; ``options`` override its fields); compared with the constant optimal
    step, Chebyshev steps (period ``period`` and ``steps``), the optimal heavy ball and
    conjugate gradient on one evaluation batch drawn like the training data.

    Returns a JSON-ready dict: ``mse`` (per method, ``t = 0..steps``), the learned ``steps``
    (per iteration), ``lam_steps`` / ``lam_values`` of the variant with a learned ridge
    weight, ``parameters`` (learned values per variant), ``train_seconds``, ``spectrum`` and
    the ``recipe`` (its name and fields).
    """
    name = recipe if isinstance(recipe, str) else "custom"
    recipe = ridge_recipe(recipe, **options)
    r = recipe
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(r.m, r.n, generator=gen, dtype=torch.float64)
    problem = RidgeRegression(A, r.lam)
    lmin, lmax = problem.spectrum()
    step0 = constant_step(lmin, lmax) if r.init_step is None else r.init_step

    def sample() -> Batch:
        return problem.sample(r.batch, generator=gen, data=r.data)

    def train(learn: tuple[str, ...]) -> tuple[UnfoldedSolver, float]:
        periods = {"h": r.period, "lam": r.lam_period} if "lam" in learn else {"h": r.period}
        solver = UnfoldedSolver(problem, r.steps, period=periods, learn=learn, init={"h": step0})
        hist = train_incremental(
            solver,
            sample,
            r.inner_steps,
            r.lr,
            lr_lam=r.lr_lam,
            final_steps=r.final_steps,
            final_decay=r.final_decay,
            eps=r.eps,
            reset=r.reset,
            update=r.update,
            progress=progress,
        )
        return solver, hist.seconds

    test = problem.sample(
        r.eval_batch, generator=torch.Generator().manual_seed(seed + 1), data=r.data
    )
    du, seconds = train(("h",))
    cheb_period = r.period or r.steps
    solvers = {
        "du_gd": du,
        "constant": constant_solver(problem, r.steps),
        "chebyshev": chebyshev_solver(problem, r.steps, cheb_period),
        "chebyshev_full": chebyshev_solver(problem, r.steps),
        "heavy_ball": heavy_ball_solver(problem, r.steps),
    }
    out_seconds = {"du_gd": seconds}
    if r.learn_lam:
        solvers["du_gd_lam"], out_seconds["du_gd_lam"] = train(("h", "lam"))
    with torch.no_grad():
        curves = {k: _curve(s(test.y, trajectory=True), test.target) for k, s in solvers.items()}
        curves["cg"] = _curve(conjugate_gradient(problem, test.y, r.steps), test.target)
    learned = {k: solvers[k] for k in ("du_gd", "du_gd_lam") if k in solvers}
    result = {
        "recipe": {"name": name, **asdict(recipe)},
        "t": list(range(r.steps + 1)),
        "mse": curves,
        "steps": du.schedule().tolist(),
        "chebyshev_steps": solvers["chebyshev"].h.tolist(),
        "spectrum": [lmin, lmax],
        "parameters": {k: sum(p.numel() for p in s.parameters()) for k, s in learned.items()},
        "train_seconds": out_seconds,
    }
    if r.learn_lam:
        result["lam_steps"] = solvers["du_gd_lam"].schedule().tolist()
        result["lam_values"] = solvers["du_gd_lam"].schedule("lam").tolist()
    return result


def ridge_comparison(
    recipes: tuple[str, ...] = ("book", "odenets"),
    *,
    seed: int = 0,
    progress: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """:func:`ridge_experiment` for each named recipe on the same instance ``A`` (same
    ``seed``), ``options`` overriding fields of every recipe; returns ``{"recipes": {name:
    result}}``."""
    if isinstance(recipes, str) or not recipes:
        raise TypeError(f"recipes must be a non-empty tuple of names, got {recipes!r}")
    return {
        "recipes": {
            name: ridge_experiment(recipe=name, seed=seed, progress=progress, **options)
            for name in recipes
        }
    }


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
