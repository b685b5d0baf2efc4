"""The critical batch size: steps to a target N(b), the SFO complexity N(b)·b and their fit.

For each batch size ``b`` (and seed) a network is trained with a fixed-size mini-batch stream
until a target such as ``train_loss<0.1`` holds, checked every ``eval_every`` steps on the full
training set (or a fixed subset of it) in evaluation mode. ``N(b)`` is the first checked step
at which the target holds, so it is counted in optimizer steps, not epochs, and ``N(b)·b`` is
the number of stochastic gradients computed (the stochastic first-order oracle complexity).

Sato & Iiduka (ICML 2023) show that for SGD-type methods with a constant learning rate the
steps needed to reach ``E||grad f||² <= eps²`` behave like ``N(b) = A b / ((eps² - C) b - B)``:
``N`` decreases and is convex in ``b``, tends to ``A / c`` (with ``c = eps² - C``) for large
batches and blows up as ``b`` falls to ``B / c``; ``N(b)·b = A b² / (c b - B)`` is convex with
its minimum at the critical batch size ``b* = 2 B / c``. :mod:`odenets.workflow.batch_fit`
fits this model to measured ``N(b)``.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from .._validate import check_choice, check_int, check_number
from .batch_fit import StepsFit, fit_steps
from .checkpoint import build_model, write_atomic
from .data import Dataset, load_dataset
from .optimizers import build_optimizer, resolve_defaults

__all__ = [
    "LR_RULES",
    "METRICS",
    "BatchSweepConfig",
    "StepsFit",
    "Target",
    "batch_sweep",
    "fit_steps",
    "learning_rate",
    "markdown_table",
    "parse_target",
    "write_payload",
]

#: What a target can test: the loss / accuracy of the training set (or its fixed subset) and
#: of the test set, measured in evaluation mode.
METRICS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")

#: Learning rate per batch size from the reference rate at the reference batch size:
#: ``constant`` ``lr``, ``linear`` ``lr·b/b_ref`` (Goyal et al. 2017), ``sqrt``
#: ``lr·sqrt(b/b_ref)`` (Krizhevsky 2014; Hoffer et al. 2017).
LR_RULES = ("constant", "linear", "sqrt")

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda v, t: v <= t,
    ">=": lambda v, t: v >= t,
    "<": lambda v, t: v < t,
    ">": lambda v, t: v > t,
}


@dataclass(frozen=True)
class Target:
    """A stopping condition ``metric op value``, e.g. ``train_loss < 0.1``."""

    metric: str
    op: str
    value: float

    def reached(self, measured: float) -> bool:
        return _OPS[self.op](measured, self.value)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"


def parse_target(text: str | Target) -> Target:
    """``"train_loss<0.1"`` or ``"test_accuracy>=0.95"`` as a :class:`Target` (accuracies are
    fractions in [0, 1])."""
    if isinstance(text, Target):
        return text
    if not isinstance(text, str):
        raise TypeError(f"target must be a string like 'train_loss<0.1', got {text!r}")
    match = re.fullmatch(r"\s*([a-z_]+)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*", text)
    if not match:
        raise ValueError(
            f"target must read METRIC<VALUE or METRIC>VALUE (also <=, >=) with METRIC one of "
            f"{', '.join(METRICS)}, e.g. 'train_loss<0.1'; got {text!r}"
        )
    metric, op, number = match.groups()
    check_choice("target metric", metric, METRICS)
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"target value must be a number, got {number!r} in {text!r}") from None
    if "accuracy" in metric and not 0 <= value <= 1:
        raise ValueError(f"an accuracy target is a fraction in [0, 1], got {value:g} in {text!r}")
    if "loss" in metric and value <= 0:
        raise ValueError(f"a loss target must be > 0 (cross-entropy is positive), got {text!r}")
    return Target(metric, op, value)


def learning_rate(rule: str, lr: float, batch: int, reference: int) -> float:
    """The rate for batch size ``batch`` under ``rule`` (see :data:`LR_RULES`)."""
    check_choice("lr rule", rule, LR_RULES)
    if rule == "linear":
        return lr * batch / reference
    if rule == "sqrt":
        return lr * math.sqrt(batch / reference)
    return lr


@dataclass
class BatchSweepConfig:
    """A batch-size sweep: for every batch size and seed, train until ``target`` holds.

    The default is a small ResNet (``SolverNet("euler", depth=8, widths=(8, 16, 32))``) on the
    embedded digits with SGD momentum at a constant rate, without augmentation (so that the
    training loss it is stopped on is the loss it minimises); see docs/batch-size.md for what
    it measures.

    Args:
        batch_sizes: the batch sizes, each at most the training-set size.
        target: the stopping condition (:func:`parse_target`).
        model: a preset name, or ``None`` for a SolverNet of ``model_args``.
        optimizer, lr, momentum, weight_decay: the method (:mod:`~odenets.workflow.optimizers`;
            ``None`` takes its default); ``lr`` is the rate at ``reference_batch``.
        lr_rule: how the rate follows the batch size (:data:`LR_RULES`).
        eval_every: steps between checks of the target (the resolution of ``N(b)``).
        eval_subset: check training metrics on this many training samples (a fixed random
            subset, the same for every run) instead of all.
        max_epochs, max_steps: give up on a run after this many passes over the training set /
            steps, whichever comes first; the run counts as not reached.
    """

    batch_sizes: Sequence[int] = (16, 32, 64, 128, 256, 512, 1024)
    target: str | Target = "train_loss<0.1"
    model: str | None = None
    model_args: dict = field(
        default_factory=lambda: {"scheme": "euler", "depth": 8, "widths": [8, 16, 32]}
    )
    data: str = "digits"
    data_dir: str | None = None
    augment: bool = False
    seeds: Sequence[int] = (0, 1, 2)
    optimizer: str = "momentum"
    lr: float | None = None
    lr_rule: str = "constant"
    reference_batch: int = 128
    momentum: float | None = None
    weight_decay: float | None = 0.0
    eval_every: int = 10
    eval_subset: int | None = None
    max_epochs: float | None = 100.0
    max_steps: int | None = None
    device: str | None = None
    threads: int | None = 1
    progress: bool = True

    def checked(self, train_size: int | None = None) -> BatchSweepConfig:
        """Every field checked (before any training); ``train_size``: the training-set size
        the batch sizes must not exceed."""
        sizes = [check_int("batch size", b, 1) for b in self.batch_sizes]
        if not sizes or len(set(sizes)) != len(sizes):
            raise ValueError(f"give at least one batch size, each once; got {sizes}")
        if train_size is not None and max(sizes) > train_size:
            too = [b for b in sizes if b > train_size]
            raise ValueError(
                f"batch sizes {too} exceed the {train_size} training samples of {self.data!r}"
            )
        seeds = [check_int("seed", s, 0) for s in self.seeds]
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"give at least one seed, each once; got {seeds}")
        resolve_defaults(
            self.optimizer, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
        )
        check_choice("lr rule", self.lr_rule, LR_RULES)
        check_int("reference batch", self.reference_batch, 1)
        check_int("eval_every", self.eval_every, 1)
        if self.eval_subset is not None:
            check_int("eval_subset", self.eval_subset, 1)
        if self.max_epochs is None and self.max_steps is None:
            raise ValueError("give max_epochs or max_steps: a run must be able to give up")
        if self.max_epochs is not None:
            check_number("max_epochs", self.max_epochs, positive=True)
        if self.max_steps is not None:
            check_int("max_steps", self.max_steps, 1)
        return replace(
            self,
            batch_sizes=tuple(sorted(sizes)),
            seeds=tuple(seeds),
            target=parse_target(self.target),
        )

    def step_limit(self, batch: int, train_size: int) -> int:
        """The most steps a run at ``batch`` may take."""
        limits = [] if self.max_steps is None else [self.max_steps]
        if self.max_epochs is not None:
            limits.append(max(1, math.ceil(self.max_epochs * train_size / batch)))
        return min(limits)


def _stream(n: int, batch: int, generator: torch.Generator):
    """Index batches of exactly ``batch`` samples cut from a stream of random permutations of
    ``range(n)``: every sample is used equally often and no step has a smaller batch."""
    buffer = torch.empty(0, dtype=torch.long)
    while True:
        while len(buffer) < batch:
            buffer = torch.cat([buffer, torch.randperm(n, generator=generator)])
        yield buffer[:batch]
        buffer = buffer[batch:]


@torch.no_grad()
def _measure(model: nn.Module, dataset: Dataset, split: str, subset: Tensor | None) -> dict:
    """Loss and accuracy of ``model`` (evaluation mode) on a split (or its subset)."""
    was = model.training
    model.eval()
    x_all, y_all = (
        (dataset.x_train, dataset.y_train) if split == "train" else (dataset.x_test, dataset.y_test)
    )
    idx = torch.arange(len(y_all)) if subset is None or split != "train" else subset
    device = next(model.parameters()).device
    loss = correct = 0.0
    for chunk in idx.split(1024):
        out = model(dataset.prepare(x_all[chunk].to(device)))
        y = y_all[chunk].to(device)
        loss += float(F.cross_entropy(out, y, reduction="sum"))
        correct += float((out.argmax(1) == y).sum())
    model.train(was)
    return {f"{split}_loss": loss / len(idx), f"{split}_accuracy": correct / len(idx)}


def _run(
    config: BatchSweepConfig, dataset: Dataset, batch: int, seed: int, subset: Tensor | None
) -> dict:
    """Train one network at ``batch`` from seed ``seed`` until the target holds."""
    target: Target = config.target
    split = target.metric.split("_")[0]
    device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(seed)
    spec = {"preset": config.model, "kwargs": {**dataset.model_kwargs(), **config.model_args}}
    model = build_model(spec).to(device)
    lr = learning_rate(
        config.lr_rule,
        resolve_defaults(config.optimizer, lr=config.lr)["lr"],
        batch,
        config.reference_batch,
    )
    optimizer = build_optimizer(
        config.optimizer,
        model.parameters(),
        lr=lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    limit = config.step_limit(batch, len(dataset.y_train))
    generator = torch.Generator().manual_seed(seed)
    curve = [(0, _measure(model, dataset, split, subset)[target.metric])]
    record = {"batch_size": batch, "seed": seed, "lr": lr, "step_limit": limit, "curve": curve}
    if target.reached(curve[0][1]):
        raise ValueError(
            f"target {target} already holds for the untrained network ({target.metric} = "
            f"{curve[0][1]:.4g}): choose a harder target"
        )
    t0 = time.perf_counter()
    model.train()
    for step, idx in enumerate(_stream(len(dataset.y_train), batch, generator), start=1):
        x = dataset.prepare(dataset.x_train[idx].to(device))
        loss = F.cross_entropy(model(x), dataset.y_train[idx].to(device))
        if not torch.isfinite(loss):
            return {**record, "steps": None, "reached": False, "diverged": step}
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % config.eval_every == 0 or step == limit:
            value = _measure(model, dataset, split, subset)[target.metric]
            curve.append((step, value))
            if target.reached(value):
                return {
                    **record,
                    "steps": step,
                    "sfo": step * batch,
                    "reached": True,
                    "seconds": round(time.perf_counter() - t0, 2),
                }
        if step >= limit:
            return {**record, "steps": None, "reached": False, "best": _best(curve, target)}
    raise AssertionError("unreachable")  # pragma: no cover - the stream is infinite


def _best(curve: list[tuple[int, float]], target: Target) -> float:
    values = [v for _, v in curve]
    return min(values) if target.op.startswith("<") else max(values)


def batch_sweep(
    config: BatchSweepConfig,
    *,
    dataset: Dataset | None = None,
    on_update: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """Run the sweep of ``config``; returns the payload (config, per-run records, per-batch
    table, fit). ``on_update`` receives the partial payload after every batch size (to write
    it), and the sweep's bad input is refused before any training."""
    if dataset is None:
        dataset = load_dataset(
            config.data, data_dir=config.data_dir, seed=0, augment=config.augment
        )
    elif not config.augment:
        dataset = replace(dataset, augment=None)
    config = config.checked(len(dataset.y_train))
    subset = None
    if config.eval_subset is not None and config.eval_subset < len(dataset.y_train):
        subset = torch.randperm(len(dataset.y_train), generator=torch.Generator().manual_seed(0))
        subset = subset[: config.eval_subset].sort().values
    threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(check_int("threads", config.threads, 1))
    runs: list[dict] = []
    payload: dict[str, Any] = {}
    jobs = [(b, s) for b in config.batch_sizes for s in config.seeds]
    bar = tqdm(jobs, disable=not config.progress, file=sys.stderr, desc="batch sweep")
    try:
        for i, (b, seed) in enumerate(bar):
            bar.set_postfix_str(f"b={b}, seed {seed}")
            run = _run(config, dataset, b, seed, subset)
            runs.append(run)
            if not run["reached"] and config.progress:  # the caller sums these up
                why = (
                    f"diverged at step {run['diverged']}"
                    if run.get("diverged")
                    else f"best {config.target.metric} {run['best']:.4g}"
                )
                tqdm.write(
                    f"odenets: batch size {b}, seed {seed}: {config.target} not reached in "
                    f"{run['step_limit']} steps ({why})",
                    file=sys.stderr,
                )
            if i + 1 == len(jobs) or jobs[i + 1][0] != b:
                payload = _payload(config, dataset, runs)
                if on_update is not None:
                    on_update(payload)
    finally:
        torch.set_num_threads(threads)
    return payload


def _payload(config: BatchSweepConfig, dataset: Dataset, runs: list[dict]) -> dict[str, Any]:
    table = []
    for b in dict.fromkeys(r["batch_size"] for r in runs):
        mine = [r for r in runs if r["batch_size"] == b]
        steps = [r["steps"] for r in mine if r["reached"]]
        row = {
            "batch_size": b,
            "lr": mine[0]["lr"],
            "seeds": len(mine),
            "reached": len(steps),
            "steps": steps,
            "step_limit": mine[0]["step_limit"],
        }
        if len(steps) == len(mine):
            row.update(
                steps_mean=float(np.mean(steps)),
                steps_min=min(steps),
                steps_max=max(steps),
                sfo_mean=float(np.mean(steps)) * b,
            )
        table.append(row)
    done = [r for r in table if r["reached"] == r["seeds"]]
    fit = fit_steps(
        [r["batch_size"] for r in done for _ in r["steps"]],
        [s for r in done for s in r["steps"]],
    )
    measured = min(done, key=lambda r: r["sfo_mean"])["batch_size"] if done else None
    plain = asdict(config)
    plain["target"] = str(config.target)
    return {
        "config": {**plain, "train_size": len(dataset.y_train)},
        "table": table,
        "fit": asdict(fit),
        "measured_best_batch": measured,
        "unreached": [
            {"batch_size": r["batch_size"], "seed": r["seed"], "step_limit": r["step_limit"]}
            for r in runs
            if not r["reached"]
        ],
        "runs": runs,
    }


def markdown_table(payload: dict) -> str:
    """The sweep as a Markdown table: steps ``N(b)`` and ``N(b)·b`` (mean, min–max over seeds)
    next to the fitted values, then one line with the fit."""
    from .compare_tables import format_table

    fit = payload["fit"]
    model = StepsFit(**{**fit, "linear_guess": None}) if fit["A"] is not None else None
    rows = [["batch", "lr", "reached", "steps N(b)", "min–max", "N(b)·b", "fit N(b)", "fit N·b"]]
    for r in payload["table"]:
        fitted = float(model.steps(r["batch_size"])) if model else float("nan")
        if "steps_mean" in r:
            steps = f"{r['steps_mean']:.0f}"
            spread = f"{r['steps_min']}–{r['steps_max']}"
            sfo = f"{r['sfo_mean']:,.0f}"
        else:
            steps, spread, sfo = f"> {r['step_limit']}", "-", "-"
        rows.append(
            [
                str(r["batch_size"]),
                f"{r['lr']:.3g}",
                f"{r['reached']}/{r['seeds']}",
                steps,
                spread,
                sfo,
                f"{fitted:.0f}" if math.isfinite(fitted) else "-",
                f"{fitted * r['batch_size']:,.0f}" if math.isfinite(fitted) else "-",
            ]
        )
    return format_table(rows) + "\n\n" + fit_summary(payload)


def fit_summary(payload: dict) -> str:
    """One line: the fitted model and the critical batch size (or why there is none)."""
    fit = payload["fit"]
    if fit["A"] is None:
        return f"fit: none ({fit['reason']})"
    head = (
        f"fit N(b) = {fit['A']:.4g}·b / (b - {fit['B']:.4g}) "
        f"(rms log residual {fit['rms_log_residual']:.3f}, {fit['points']} points)"
    )
    if not fit["ok"]:
        return f"{head}; no critical batch size: {fit['reason']}"
    tail = f"; {fit['reason']}" if fit["reason"] else ""
    return (
        f"{head}; critical batch size b* = 2B/c = {fit['critical_batch']:.1f} "
        f"(N·b = {fit['min_sfo']:,.0f}); measured best {payload['measured_best_batch']}{tail}"
    )


def write_payload(payload: dict, out: str | Path) -> None:
    """Write ``sweep.json`` and ``sweep.md`` into ``out`` (atomically: a crash keeps the
    previous partial files)."""
    out = Path(out)
    text = json.dumps(payload, indent=2).encode() + b"\n"
    write_atomic(out / "sweep.json", lambda fh: fh.write(text))
    table = (markdown_table(payload) + "\n").encode()
    write_atomic(out / "sweep.md", lambda fh: fh.write(table))
