"""Training the step parameters of an unfolded solver: incremental and end-to-end.

Incremental training (Wadayama's book, ch. 3): for ``t = 1..T`` (the *generations*) the
``t``-iteration network is trained for ``inner_steps`` Adam steps on fresh mini-batches,
starting from the parameters the ``(t-1)``-iteration network ended with, with loss
``||x_t - x_target||^2 / K`` (squared error summed over the coordinates, averaged over the
``K`` samples). Parameters of iterations not yet unrolled get no gradient and keep their
initial values. End-to-end training optimises the ``T``-iteration loss from the start.

Both use Adam (elementwise, so one optimiser per learned quantity is the same as one with a
group each), with these settings of the recipe:

* a learning rate per quantity (``lr``, ``lr_lam``, ...);
* ``eps``: Adam's ``epsilon`` (odenets: 1e-30; the book's Flux ``ADAM``: 1e-8);
* ``reset``: forget Adam's moments at every new depth (odenets) or keep one Adam for the
  whole run (the book);
* ``update``: ``"joint"`` — one gradient of the loss in every learned quantity, one step of
  each (odenets); ``"alternating"`` — per mini-batch, a gradient step of each quantity in the
  order of ``solver.learn``, each on the loss recomputed after the previous one's step, on the
  same batch (the book: first the steps ``eta``, then ``xi``).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .._validate import check_choice, check_int, check_number
from .problems import Batch
from .solver import UnfoldedSolver

__all__ = ["UPDATES", "TrainingHistory", "mse", "train_end_to_end", "train_incremental"]

#: How the learned quantities take their steps on one mini-batch (see the module docstring).
UPDATES = ("joint", "alternating")


@dataclass
class TrainingHistory:
    """The losses of a training run.

    Attributes:
        iterations: the unrolled depth ``t`` of each training stage.
        losses: per stage, the loss of every inner (mini-batch) step.
        seconds: wall-clock time of the run.
        stopped: None, or why training stopped early (a non-finite loss; the parameters are
            the last good ones).
    """

    iterations: list[int] = field(default_factory=list)
    losses: list[list[float]] = field(default_factory=list)
    seconds: float = 0.0
    stopped: str | None = None

    @property
    def final(self) -> list[float]:
        """The last loss of each stage."""
        return [stage[-1] for stage in self.losses if stage]


def mse(x: Tensor, target: Tensor) -> Tensor:
    """``||x - target||^2 / K``: squared error summed over coordinates, mean over the batch."""
    return ((x - target) ** 2).sum(-1).mean()


def _unpack(batch: Any) -> Batch:
    if isinstance(batch, Batch):
        return batch
    if isinstance(batch, tuple | list) and len(batch) in (2, 3):
        return Batch(*batch)
    raise TypeError(
        "sample() must return a Batch or a tuple (y, target) / (y, target, x0), got "
        f"{type(batch).__name__}"
    )


def _optimizers(
    solver: UnfoldedSolver, lr: float, rates: dict[str, float | None], eps: float, update: str
) -> list[torch.optim.Adam]:
    """One Adam for all learned quantities (``joint``) or one per quantity, in the order of
    ``solver.learn`` (``alternating``)."""
    groups = []
    for name in solver.learn:
        rate = rates.get(name)
        groups.append({"params": [getattr(solver, name)], "lr": lr if rate is None else rate})
    if update == "joint":
        return [torch.optim.Adam(groups, lr=lr, eps=eps)]
    return [torch.optim.Adam([group], lr=lr, eps=eps) for group in groups]


def _check_settings(lr: float, rates: dict, eps: float, reset: bool, update: str) -> None:
    check_number("lr", lr, positive=True)
    for name, rate in rates.items():
        if rate is not None:
            check_number(f"lr_{name}", rate, positive=True)
    check_number("eps", eps, positive=True)
    if not isinstance(reset, bool):
        raise TypeError(
            f"reset must be a bool (True: fresh Adam moments at every depth; False: one Adam "
            f"for the whole run), got {type(reset).__name__} {reset!r}"
        )
    check_choice("update", update, UPDATES)


def _fit(
    solver: UnfoldedSolver,
    sample: Callable[[], Any],
    plan: list[tuple[int, int, float]],
    lr: float,
    rates: dict[str, float | None],
    settings: dict[str, Any],
    progress: bool,
    desc: str,
) -> TrainingHistory:
    if not isinstance(solver, UnfoldedSolver):
        raise TypeError(f"solver must be an UnfoldedSolver, got {type(solver).__name__}")
    if not solver.learn:
        raise ValueError("the solver has nothing to learn (learn=()); nothing to train")
    if not callable(sample):
        raise TypeError(f"sample must be a callable returning a Batch, got {type(sample).__name__}")
    _check_settings(lr, rates, **settings)
    opts = _optimizers(solver, lr, rates, settings["eps"], settings["update"])
    groups = [group for opt in opts for group in opt.param_groups]
    history = TrainingHistory()
    good = {k: v.detach().clone() for k, v in solver.state_dict().items()}
    start = time.perf_counter()
    bar = tqdm(
        total=sum(n for _, n, _ in plan),
        desc=desc,
        file=sys.stderr,
        disable=not progress,
        leave=False,
    )
    try:
        for t, inner, decay in plan:
            history.iterations.append(t)
            if settings["reset"]:  # a new depth is a new loss scale: forget Adam's moments
                for opt in opts:
                    opt.state.clear()
            base = [group["lr"] for group in groups]
            losses: list[float] = []
            history.losses.append(losses)
            for i in range(inner):
                if decay != 1:  # geometric decay from lr to lr * decay over this stage
                    for group, lr0 in zip(groups, base, strict=True):
                        group["lr"] = lr0 * decay ** (i / max(inner - 1, 1))
                batch = _unpack(sample())
                first = None
                for opt in opts:  # joint: one; alternating: one per quantity, in turn
                    opt.zero_grad(set_to_none=True)
                    loss = mse(solver(batch.y, batch.x0, iterations=t), batch.target)
                    value = float(loss.detach())
                    if not math.isfinite(value):
                        solver.load_state_dict(good)
                        history.stopped = (
                            f"loss became {value} at t={t} after {len(losses)} inner steps; "
                            "kept the last good parameters (try a smaller lr)"
                        )
                        warnings.warn(history.stopped, RuntimeWarning, stacklevel=3)
                        return history
                    first = value if first is None else first
                    loss.backward()
                    # the parameters that gave this finite loss; the step below may break them
                    good = {k: v.detach().clone() for k, v in solver.state_dict().items()}
                    opt.step()
                losses.append(first)
                bar.update()
            for group, lr0 in zip(groups, base, strict=True):
                group["lr"] = lr0
            bar.set_postfix(t=t, loss=f"{losses[-1]:.3g}" if losses else "-")
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    return history


def train_incremental(
    solver: UnfoldedSolver,
    sample: Callable[[], Any],
    inner_steps: int,
    lr: float,
    *,
    lr_lam: float | None = None,
    lr_momentum: float | None = None,
    lr_threshold: float | None = None,
    final_steps: int = 0,
    final_decay: float = 0.01,
    eps: float = 1e-30,
    reset: bool = True,
    update: str = "joint",
    progress: bool = False,
) -> TrainingHistory:
    """Incremental training: stage ``t = 1..steps`` trains the ``t``-iteration network for
    ``inner_steps`` Adam steps on fresh batches, warm-started from stage ``t - 1``.

    Args:
        solver: the :class:`~odenets.unfold.UnfoldedSolver` whose ``learn`` parameters train
            (in place).
        sample: a callable with no arguments returning a :class:`~odenets.unfold.Batch` (or
            ``(y, target[, x0])``) — bind the random generator in it, e.g.
            ``lambda: problem.sample(100, generator=g)``.
        inner_steps: mini-batch steps per stage, ``>= 1``.
        lr: Adam learning rate of the step sizes ``h`` (and of any parameter without its own).
        lr_lam, lr_momentum, lr_threshold: learning rates of ``lam``, ``momentum``,
            ``threshold`` (default ``lr``).
        final_steps: extra steps at full depth after the last stage (0: none), with the
            learning rates decaying geometrically to ``final_decay`` times their value — at
            depth 50 the loss is so ill-conditioned in the steps that a constant Adam rate
            keeps jittering around the optimum instead of settling.
        final_decay: the learning-rate factor reached at the end of the final steps.
        eps: Adam's ``epsilon``, ``> 0``. The default 1e-30 keeps Adam a sign-like step when
            the gradients are far below 1e-8 (at MSE ~1e-11); the book's Flux ``ADAM`` uses
            1e-8 (torch's default as well).
        reset: ``True``: fresh Adam moments at every depth (the depth-1 gradients are ~1e11
            times those at depth 50 here, and a remembered second moment stalls the steps);
            ``False``: one Adam for the whole run (the book).
        update: ``"joint"`` or ``"alternating"`` (the book: a step of ``h`` then one of
            ``lam`` on the same batch); see the module docstring.
        progress: show a tqdm bar on stderr.

    Returns:
        The :class:`TrainingHistory`; a non-finite loss stops training with the last good
        parameters (reported in ``history.stopped`` and as a ``RuntimeWarning``).
    """
    inner_steps = check_int("inner_steps", inner_steps, 1)
    final_steps = check_int("final_steps", final_steps, 0)
    final_decay = check_number("final_decay", final_decay, positive=True)
    plan = [(t, inner_steps, 1.0) for t in range(1, solver.steps + 1)]
    if final_steps:
        plan.append((solver.steps, final_steps, final_decay))
    rates = {"lam": lr_lam, "momentum": lr_momentum, "threshold": lr_threshold}
    settings = {"eps": eps, "reset": reset, "update": update}
    return _fit(solver, sample, plan, lr, rates, settings, progress, "incremental")


def train_end_to_end(
    solver: UnfoldedSolver,
    sample: Callable[[], Any],
    steps: int,
    lr: float,
    *,
    lr_lam: float | None = None,
    lr_momentum: float | None = None,
    lr_threshold: float | None = None,
    decay: float = 1.0,
    eps: float = 1e-30,
    update: str = "joint",
    progress: bool = False,
) -> TrainingHistory:
    """End-to-end training: ``steps`` Adam steps on the loss of the full-depth network (the
    comparison for :func:`train_incremental`; same arguments; ``decay`` as ``final_decay``)."""
    steps = check_int("steps", steps, 1)
    rates = {"lam": lr_lam, "momentum": lr_momentum, "threshold": lr_threshold}
    decay = check_number("decay", decay, positive=True)
    settings = {"eps": eps, "reset": True, "update": update}
    plan = [(solver.steps, steps, decay)]
    return _fit(solver, sample, plan, lr, rates, settings, progress, "end-to-end")
