"""The trainer: any optimizer of :mod:`~odenets.workflow.optimizers` (default SGD with
momentum), paper learning-rate recipes, checkpoints with exact resume,
NaN stop, JSON-lines metrics, data parallelism under ``torchrun``.

Faults end in one named error with the last completed epoch kept (see docs/reliability.md):
the run folder is locked and checked before the first epoch (:mod:`.run_folder`), an epoch's
files are written in one step (a full disk keeps the previous epoch's), SIGINT/SIGTERM raise
:class:`~odenets.workflow.signals.Interrupted` (never in the middle of a save), a lost or
silent peer process is a :class:`~odenets.workflow.distributed.DistributedError` naming it.

Everything random is seeded from ``TrainConfig.seed``: the initial weights (global torch RNG),
each epoch's sample order (``DistributedSampler`` with ``seed`` and ``set_epoch``), each
epoch's augmentation (a generator seeded by ``(seed, epoch)``) and, for stochastic nets, each
epoch's noise (``model.noise_source`` re-seeded by ``(seed, epoch)`` plus the process rank).
The learning rate is a function of the config and the epoch (:func:`lr_factor`). An epoch
therefore depends only on the state at its start, which ``last.pt`` holds: resuming after epoch
``k`` gives bitwise the weights of an uninterrupted run on CPU.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from .._validate import check_choice, check_int, check_number
from ..numerics.fixed_point import ConvergenceError
from .checkpoint import (
    CheckpointError,
    build_model,
    checkpoint_bytes,
    get_rng_state,
    load_checkpoint,
    set_rng_state,
)
from .compiled import CompiledStep
from .data import Dataset, load_dataset
from .distributed import (
    DEFAULT_TIMEOUT_S,
    DistInfo,
    DistributedError,
    all_reduce_sum,
    barrier,
    broadcast_from_main,
    convert_sync_batchnorm,
    lost_peers,
    peer_failure,
    setup,
    teardown,
)
from .optimizers import build_optimizer, resolve_defaults
from .run_folder import RunFolder, RunFolderError, finite_record, resume_plan
from .run_lock import RunLockedError
from .signals import Interrupted, quiet, stop_on_signals

__all__ = [
    "SCHEDULES",
    "NonFiniteMetricWarning",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "evaluate",
    "lr_factor",
    "train",
]

#: Learning-rate schedules (per epoch): "step" — /10 at 50% and 75% of the epochs (the CIFAR
#: recipe of He et al. and Lu et al.), "cosine" — half a cosine to 0, "constant".
SCHEDULES = ("step", "cosine", "constant")

#: The fields a resumed run must share with its checkpoint (besides the model): they define
#: what the epochs so far did. ``epochs`` may only grow: a resume may extend a run.
RUN_FIELDS = (
    "data",
    "seed",
    "batch_size",
    "optimizer",
    "lr",
    "schedule",
    "momentum",
    "weight_decay",
    "nesterov",
    "augment",
    "incremental",
)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite, or an implicit solve did not converge; the files of
    the last completed epoch are kept (the message says which epoch, or that there is none)."""


class NonFiniteMetricWarning(RuntimeWarning):
    """A test metric was NaN or infinite (recorded as ``null``, listed under ``nonfinite``)."""


@dataclass
class TrainConfig:
    """What to train and how. Defaults are the CIFAR recipe (SGD momentum 0.9, lr 0.1, wd 1e-4,
    batch 128); ``lr`` / ``momentum`` / ``weight_decay`` left ``None`` take the optimizer's
    defaults (:data:`~odenets.workflow.optimizers.OPTIMIZERS`), resolved by :meth:`resolved`
    when training starts and recorded so in the checkpoint."""

    model: str | None = "resnet20"  # preset name; None: a SolverNet built from model_args
    model_args: dict = field(default_factory=dict)  # overrides passed to the model builder
    data: str = "digits"
    data_dir: str | None = None
    download: bool = False
    augment: bool = True
    epochs: int = 10
    batch_size: int = 128  # global: split over the processes of a torchrun job
    optimizer: str = "momentum"  # see odenets.workflow.optimizers.OPTIMIZERS
    lr: float | None = None  # None: the optimizer's default (0.1 for SGD, 1e-3 for Adam, ...)
    momentum: float | None = None  # None: the optimizer's (0.9; Adam's beta1)
    nesterov: bool = False
    weight_decay: float | None = None  # None: the optimizer's (1e-4 for SGD, 0 for Adam, ...)
    schedule: str = "step"
    seed: int = 0
    out: str | None = None  # folder for last.pt, best.pt, metrics.jsonl (None: no files)
    resume: bool | str | None = None  # True/"always", False/"never", "auto"; None: auto
    # under torchrun, never otherwise (see odenets.workflow.run_folder.resume_plan)
    stop_after: int | None = None  # stop (resumably) after this many epochs of this run
    compile: bool = False
    device: str | None = None  # "cpu", "cuda" or None (cuda when available)
    incremental: tuple[int, ...] = ()  # tie="all" nets: steps per stage, one phase each
    eval_batch_size: int = 500
    progress: bool = True  # tqdm bar on stderr when it is a terminal
    overwrite: bool = False  # replace a run already in `out` (else such a folder is refused)
    dist_timeout: float = DEFAULT_TIMEOUT_S  # seconds any wait on the other processes may take

    def validate(self) -> None:
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 1)
        check_int("seed", self.seed, 0)
        self.resolved()  # the optimizer name and its lr / momentum / weight decay
        check_choice("schedule", self.schedule, SCHEDULES)
        if self.stop_after is not None:
            check_int("stop_after", self.stop_after, 1)
        check_number("dist_timeout", self.dist_timeout, positive=True)
        mode, _ = resume_plan(self.resume, self.overwrite)
        if mode == "always" and not self.out:
            raise ValueError("--resume needs --out: the folder holding last.pt")
        for n in self.incremental:
            check_int("incremental steps", n, 1)
        if len(self.incremental) > self.epochs:
            raise ValueError(
                f"incremental schedule {list(self.incremental)} has more phases "
                f"than epochs ({self.epochs}): each phase needs at least one epoch"
            )

    def resolved(self) -> TrainConfig:
        """This config with ``lr``, ``momentum``, ``weight_decay`` left ``None`` set to the
        optimizer's defaults: what a run trains with and records."""
        return replace(
            self,
            **resolve_defaults(
                self.optimizer,
                lr=self.lr,
                momentum=self.momentum,
                weight_decay=self.weight_decay,
                nesterov=self.nesterov,
            ),
        )


@dataclass
class TrainResult:
    """The trained model (the base net, re-timed for incremental runs), metrics per epoch."""

    model: nn.Module
    history: list[dict]
    test_accuracy: float
    seconds: float
    best_accuracy: float = 0.0
    info: DistInfo = field(default_factory=DistInfo)  # this process's place in the job


def lr_factor(schedule: str, epoch: int, epochs: int) -> float:
    """Multiplier of the base learning rate during ``epoch`` (0-based) of ``epochs``."""
    if schedule == "step":
        return 0.1 ** sum(
            epoch >= m for m in (math.floor(epochs * 0.5), math.floor(epochs * 0.75)) if m > 0
        )
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * epoch / epochs))
    return 1.0


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, 7]).generate_state(1)[0])


def _noise_seed(seed: int, epoch: int, info: DistInfo) -> int:
    """Seed of a stochastic net's noise during ``epoch``: per epoch (so a resumed run draws
    what an uninterrupted one would) and per process (so the ranks draw different noise)."""
    return _epoch_seed(seed, epoch) + info.rank


def _rank_batches(n: int, batch_size: int, seed: int, epoch: int, info: DistInfo) -> list[Tensor]:
    """This process's share of each global batch of the epoch (incomplete batches dropped)."""
    sampler = DistributedSampler(
        range(n), num_replicas=info.world, rank=info.rank, shuffle=True, seed=seed
    )
    sampler.set_epoch(epoch)
    order = torch.tensor(list(sampler), dtype=torch.long)
    local = batch_size // info.world
    return list(order[: len(order) // local * local].split(local))


def _phase(config: TrainConfig, epoch: int) -> int | None:
    """Steps per stage during ``epoch`` for an incremental run (None: not incremental)."""
    if not config.incremental:
        return None
    phases = len(config.incremental)
    return config.incremental[min(epoch * phases // config.epochs, phases - 1)]


@torch.no_grad()
def evaluate(
    model: nn.Module, dataset: Dataset, batch_size: int = 500, info: DistInfo | None = None
) -> dict[str, float]:
    """Test loss and accuracy (shared out over the processes of a distributed job)."""
    info = info or DistInfo()
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    n = len(dataset.y_test)
    mine = torch.arange(n).tensor_split(info.world)[info.rank]
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    for idx in mine.split(batch_size):
        x = dataset.prepare(dataset.x_test[idx].to(device))
        y = dataset.y_test[idx].to(device)
        out = model(x)
        sums[0] += F.cross_entropy(out, y, reduction="sum").double()
        sums[1] += (out.argmax(1) == y).sum()
        sums[2] += len(idx)
    model.train(was)
    sums = all_reduce_sum(sums, info)
    return {"loss": (sums[0] / sums[2]).item(), "accuracy": (sums[1] / sums[2]).item()}


def _spec(config: TrainConfig, dataset: Dataset) -> dict[str, Any]:
    kwargs = {**dataset.model_kwargs(), **config.model_args}
    if "widths" in kwargs:
        kwargs["widths"] = list(kwargs["widths"])
    return {"preset": config.model, "kwargs": kwargs}


def _forward_model(base: nn.Module, config: TrainConfig, epoch: int) -> nn.Module:
    steps = _phase(config, epoch)
    if steps is None:
        return base
    from ..networks.retime import retime

    return retime(base, steps=steps)


def _log(msg: str, info: DistInfo) -> None:
    if info.main:
        print(msg, file=sys.stderr, flush=True)


class _RunState:
    """Where a run is, for the one-line message of a stop: the epoch under way, the folder."""

    def __init__(self, config: TrainConfig) -> None:
        self.out = config.out
        self.folder: RunFolder | None = None
        self.epoch: int | None = None  # 1-based epoch under way (None: start-up or done)

    def where(self) -> str:
        return f"epoch {self.epoch}" if self.epoch else "start-up"

    def kept(self, info: DistInfo) -> str:
        if not self.out:
            return "no checkpoints are written (no --out)"
        if self.folder is None:
            return "rank 0 writes the checkpoints" if not info.main else "nothing was written"
        return self.folder.kept()

    def interrupted(self, err: Interrupted, info: DistInfo) -> str:
        gone = lost_peers(info) if info.distributed else []
        why = f" (rank {', '.join(map(str, gone))} of {info.world} is gone)" if gone else ""
        text = f"interrupted by {err.signal_name}{why} during {self.where()}; {self.kept(info)}"
        if self.folder is not None and self.folder.saved_epoch is not None:
            text += f"; continue with: odenets train --out {self.out} --resume"
        return text

    def close(self) -> None:
        if self.folder is not None:
            self.folder.close()


def train(
    config: TrainConfig,
    *,
    dataset: Dataset | None = None,
    log: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train as ``config`` says; returns the model and the metrics of every epoch.

    With ``config.out`` set, the folder is locked, checked and (see ``resume``) resumed or
    started before the first epoch, and every epoch writes ``last.pt``, ``best.pt`` (best test
    accuracy) and ``metrics.jsonl`` (the history so far, one line per epoch) in one atomic
    step. ``log`` receives each epoch's metrics.

    Raises:
        TrainingDiverged: a non-finite loss or an implicit solve that did not converge (before
            anything of that epoch is saved).
        Interrupted: SIGINT or SIGTERM (the last completed epoch is kept).
        DistributedError: a peer process was lost or did not answer within ``dist_timeout``.
        SaveError: the files could not be written (the previous epoch's are intact).
        RunFolderError, RunLockedError: ``out`` holds another run or is in use.
    """
    config = config.resolved()
    config.validate()
    state = _RunState(config)
    with stop_on_signals():
        info, left = DistInfo(), False
        try:
            info = setup(config.device, config.dist_timeout)
            result = _train(config, dataset, log, info, state)
            teardown(info, synchronize=True)  # a peer lost at the last barrier is reported too
            left = True
            return result
        except Interrupted as err:
            quiet()
            raise Interrupted(err.signum, state.interrupted(err, info)) from None
        except (TrainingDiverged, DistributedError, RunLockedError, ValueError, TypeError, OSError):
            raise
        except Exception as err:
            if not info.distributed:
                raise
            quiet()  # torchrun's SIGTERM must not replace the message below
            what = peer_failure(err, info)
            if what is None:
                raise
            raise DistributedError(
                f"{what}; rank {info.rank} stops during {state.where()}; {state.kept(info)}"
            ) from None
        finally:
            state.close()
            if not left:
                with contextlib.suppress(Exception):  # the group may be broken: we fail anyway
                    teardown(info, synchronize=False)


def _open_folder(config: TrainConfig, info: DistInfo, state: _RunState) -> bool:
    """Rank 0 opens the run folder (lock, write check, clean-up, resume or not) before
    anything else; every process learns the outcome. Returns whether the run resumes."""
    mode, overwrite = resume_plan(config.resume, config.overwrite)
    folder, error = None, None
    if info.main:
        try:
            folder = RunFolder.open(config.out, mode, overwrite)
        except Exception as err:  # the other processes hear of it before it is raised
            error = err
    ok, resume = broadcast_from_main([error is None, bool(folder and folder.resume)], info)
    if error is not None:
        raise error
    if not ok:
        raise RunFolderError(f"rank 0 could not open the run folder {config.out}; see its error")
    state.folder = folder
    if folder is not None:
        if folder.lock.previous:
            _log(
                f"took over the lock of {config.out} left by pid "
                f"{folder.lock.previous.get('pid', '?')} (no longer running)",
                info,
            )
        if folder.removed:
            _log(
                f"removed {len(folder.removed)} temporary file(s) left in {config.out} by an "
                "interrupted save",
                info,
            )
    return bool(resume)


def _train(
    config: TrainConfig, dataset: Dataset | None, log, info: DistInfo, state: _RunState
) -> TrainResult:
    if config.batch_size % info.world:
        raise ValueError(
            f"--batch-size {config.batch_size} is the global batch: it must be "
            f"divisible by the {info.world} processes"
        )
    out = Path(config.out) if config.out else None
    resume = _open_folder(config, info, state) if out else False
    if dataset is None:  # the main process loads (and downloads) first
        if info.distributed and not info.main:
            barrier(info)
        dataset = load_dataset(
            config.data,
            data_dir=config.data_dir,
            download=config.download and info.main,
            seed=config.seed,
        )
        if info.distributed and info.main:
            barrier(info)
    if not config.augment and dataset.augment is not None:
        dataset = replace(dataset, augment=None)
    if config.batch_size > len(dataset.y_train):
        raise ValueError(
            f"--batch-size {config.batch_size} exceeds the {len(dataset.y_train)} training samples"
        )
    spec = _spec(config, dataset)
    torch.manual_seed(config.seed)
    model = build_model(spec)
    if config.incremental and getattr(model, "tie", None) != "all":
        raise ValueError(
            "incremental training refines the step grid of a weight-tied net: "
            f"use a tie='all' model (e.g. --model ode_resnet), got tie="
            f"{getattr(model, 'tie', None)!r}"
        )
    if info.distributed:
        model = convert_sync_batchnorm(model, info)
    optimizer = build_optimizer(
        config.optimizer,
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        nesterov=config.nesterov,
    )
    start, best, best_epoch, history = 0, -1.0, None, []
    if resume:
        ckpt = load_checkpoint(out / "last.pt")
        _check_resume(ckpt, config, spec, out / "last.pt")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        set_rng_state(ckpt["rng"])
        start, best, history = ckpt["epoch"], ckpt.get("best_accuracy", -1.0), ckpt["metrics"]
        best_epoch = ckpt.get("best_epoch")
        if state.folder is not None:
            for note in state.folder.repair(ckpt):
                _log(note, info)
        if start >= config.epochs:
            _log(
                f"checkpoint already has {start} epochs (--epochs {config.epochs}); "
                "nothing to train",
                info,
            )
        else:
            _log(f"resuming from epoch {start} of {config.epochs} ({out / 'last.pt'})", info)
    model.to(info.device)
    stop = (
        config.epochs
        if config.stop_after is None
        else min(config.epochs, start + config.stop_after)
    )
    t_total = time.perf_counter()
    net = runner = None
    for epoch in range(start, stop):
        state.epoch = epoch + 1
        if runner is None or _phase(config, epoch) != _phase(config, epoch - 1):
            runner = None  # drop the previous wrapper (and its DDP hooks) first
            net = _forward_model(model, config, epoch)
            runner = _wrap(net, config, info)
        lr = config.lr * lr_factor(config.schedule, epoch, config.epochs)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if getattr(net, "noise_source", None) is not None:
            net.noise_source.seed(_noise_seed(config.seed, epoch, info))
        t0 = time.perf_counter()
        try:
            stats = _train_epoch(runner, net, dataset, optimizer, config, epoch, info)
            try:
                test = evaluate(net, dataset, config.eval_batch_size, info)
            except ConvergenceError as err:
                raise _diverged(
                    f"during the test evaluation of epoch {epoch + 1}: {err}", _IMPLICIT
                ) from None
        except TrainingDiverged as err:
            raise TrainingDiverged(
                f"{err}; {state.kept(info)}. {getattr(err, 'advice', '')}".rstrip(". ")
            ) from None
        record = {
            "epoch": epoch + 1,
            "train_loss": stats[0],
            "train_accuracy": stats[1],
            "test_loss": test["loss"],
            "test_accuracy": test["accuracy"],
            "lr": lr,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        if config.incremental:
            record["steps"] = _phase(config, epoch)
        record, nonfinite = finite_record(record)
        if nonfinite and info.main:
            warnings.warn(
                f"{', '.join(k.replace('_', ' ') for k in nonfinite)} is "
                f"{test['loss']} at epoch {epoch + 1}: the model's outputs on the test set are "
                "not finite (recorded as null; this epoch cannot become best.pt)",
                NonFiniteMetricWarning,
                stacklevel=2,
            )
        history.append(record)
        improved = not nonfinite and test["accuracy"] > best
        if improved:
            best, best_epoch = test["accuracy"], epoch + 1
        if out and info.main:
            ckpt = {
                "model": model.state_dict(),
                "model_spec": spec,
                "optimizer": optimizer.state_dict(),
                "scheduler": {"last_lr": lr},  # the rate is a function of config and epoch
                "rng": get_rng_state(),
                "epoch": epoch + 1,
                "best_accuracy": best,
                "best_epoch": best_epoch,  # the epoch best.pt holds: resume repairs from it
                "metrics": history,
                "config": _plain(asdict(config)),
                "world": info.world,
                "retime": {"steps": record.get("steps")},
            }
            state.folder.save_epoch(checkpoint_bytes(ckpt), epoch + 1, improved, history)
        if log and info.main:
            log(record)
    state.epoch = None
    final = _forward_model(model, config, max(stop - 1, 0))
    accuracy = history[-1]["test_accuracy"] if history else float("nan")
    return TrainResult(final, history, accuracy, time.perf_counter() - t_total, best, info)


_LR = "lower --lr or check the data"
_IMPLICIT = (
    "lower --lr or the step size h, or use a contractive field (odenets.networks.contraction)"
)


def _diverged(what: str, advice: str) -> TrainingDiverged:
    err = TrainingDiverged(what)
    err.advice = advice
    return err


def _check_resume(ckpt: dict, config: TrainConfig, spec: dict, path: Path) -> None:
    """Refuse a checkpoint of another run: another model or a different :data:`RUN_FIELDS`
    value, or more ``epochs`` (a resume may extend a run, not shorten its schedule)."""
    saved = {"optimizer": "momentum", **(ckpt.get("config") or {})}  # older runs: SGD momentum
    mine = _plain(asdict(config))
    diffs = [(k, saved[k], mine[k]) for k in RUN_FIELDS if k in saved and saved[k] != mine[k]]
    if ckpt.get("model_spec") != spec:
        diffs.insert(0, ("model_spec", ckpt.get("model_spec"), spec))
    if saved.get("epochs", 0) > config.epochs:
        diffs.append(("epochs", saved["epochs"], config.epochs))
    if diffs:
        raise CheckpointError(
            f"cannot resume {path}: it was trained with "
            + ", ".join(f"{k}={a!r}" for k, a, _ in diffs)
            + "; this run has "
            + ", ".join(f"{k}={b!r}" for k, _, b in diffs)
            + " (only --epochs may change, and only grow)"
        )


def _wrap(net: nn.Module, config: TrainConfig, info: DistInfo) -> Callable[[Tensor], Tensor]:
    """What the training step calls: ``net``, in DDP for a distributed job, compiled if asked
    (:class:`~odenets.workflow.compiled.CompiledStep`: eager again, with one warning line, if
    compiling fails)."""
    runner = net
    if info.distributed:
        runner = nn.parallel.DistributedDataParallel(
            net, device_ids=[info.device] if info.device.type == "cuda" else None
        )
    if config.compile:
        if not hasattr(torch, "compile"):
            raise ValueError("--compile needs torch.compile (PyTorch >= 2.0)")
        runner = CompiledStep(runner, net, lambda msg: _log(msg, info))
    return runner


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def _train_epoch(
    runner: nn.Module,
    net: nn.Module,
    dataset: Dataset,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    epoch: int,
    info: DistInfo,
) -> tuple[float, float]:
    net.train()
    batches = _rank_batches(len(dataset.y_train), config.batch_size, config.seed, epoch, info)
    generator = torch.Generator().manual_seed(_epoch_seed(config.seed, epoch))
    augment = dataset.draw_augmentation(generator)
    sums = torch.zeros(3, dtype=torch.float64, device=info.device)  # read once, at the end
    bar = tqdm(
        batches,
        desc=f"epoch {epoch + 1}/{config.epochs}",
        leave=False,
        # None: tqdm's own choice, no bar when stderr is not a terminal (a CI or cluster log)
        disable=None if config.progress and info.main else True,
        file=sys.stderr,
    )
    for step, idx in enumerate(bar):
        x = dataset.x_train[idx].to(info.device)
        x = dataset.prepare(x, None if augment is None else augment[idx])
        y = dataset.y_train[idx].to(info.device)
        try:
            out = runner(x)
            loss = F.cross_entropy(out, y)
            value = all_reduce_sum(loss.detach().reshape(1), info) / info.world
            if not torch.isfinite(value).all():  # the step's one host sync
                raise _diverged(
                    f"loss became {value.item()} at epoch {epoch + 1}, step {step + 1}: "
                    "training stopped",
                    _LR,
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        except ConvergenceError as err:
            raise _diverged(
                f"training stopped at epoch {epoch + 1}, step {step + 1}: {err}", _IMPLICIT
            ) from None
        optimizer.step()
        sums[0] += value[0].double() * len(idx)
        sums[1] += (out.detach().argmax(1) == y).sum()
        sums[2] += len(idx)
    loss_sum, correct, count = all_reduce_sum(sums, info).tolist()
    return loss_sum / count, correct / count
