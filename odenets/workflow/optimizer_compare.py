"""Compare optimizers as integrators: one network per optimizer, all from the same start.

Every run of a comparison trains the same network (same preset or SolverNet, same seed, hence
the same initial weights and the same sample order and augmentation, see
:mod:`odenets.workflow.train`) and differs only in the optimizer and its defaults
(:data:`~odenets.workflow.optimizers.OPTIMIZERS`). The result holds the training loss and test
accuracy of every epoch per optimizer and seed, and their mean and standard deviation over
seeds, for the loss-versus-epoch figure
(:func:`~odenets.workflow.plots_training.plot_optimizer_curves`).

The training loss of an epoch is the mean mini-batch loss during that epoch (with the
dataset's augmentation, in training mode), as the trainer logs it.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from .._validate import check_choice, check_int
from ..networks.presets import list_models
from ..numerics.schemes import get_scheme
from .data import Dataset, load_dataset
from .optimizers import OPTIMIZERS, resolve_defaults
from .train import SCHEDULES, TrainConfig, TrainingDiverged, train

__all__ = [
    "DEFAULTS",
    "OptimizerCompareConfig",
    "compare_optimizers",
    "markdown_table",
    "run_from_args",
]

#: Per-dataset defaults (of the ``euler`` SolverNet: depth 20 is ResNet-20 of He et al.). A
#: constant learning rate keeps each method a fixed-step integrator.
DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"depth": 14, "widths": (16, 32, 64), "epochs": 20, "batch_size": 64},
    "mnist1d": {"depth": 14, "widths": (32, 64, 128), "epochs": 20, "batch_size": 64},
    "cifar10": {"depth": 20, "widths": (16, 32, 64), "epochs": 100, "batch_size": 128},
}


@dataclass
class OptimizerCompareConfig:
    """An optimizer comparison. Fields left ``None`` take the dataset's :data:`DEFAULTS`;
    ``lr`` / ``weight_decay`` left ``None`` take each optimizer's own default.

    The network is the preset ``model`` if given, else a ``SolverNet(scheme, depth, widths,
    tie)`` (``euler``: a ResNet); a preset is built as registered (``depth`` and ``widths``
    apply to the SolverNet only).
    """

    optimizers: Sequence[str] = ("sgd", "momentum", "adagrad", "rmsprop", "adam", "amsgrad")
    model: str | None = None
    scheme: str = "euler"
    depth: int | None = None
    widths: Sequence[int] | None = None
    tie: str = "none"
    data: str = "digits"
    data_dir: str | None = None
    seeds: Sequence[int] = (0,)
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    schedule: str = "constant"
    augment: bool = True
    device: str | None = None
    threads: int | None = 1  # CPU threads; small nets gain nothing from more on shared cores
    progress: bool = True

    def resolved(self) -> OptimizerCompareConfig:
        """Defaults filled in and every field checked (unknown optimizer: closest name)."""
        check_choice("dataset", self.data, DEFAULTS)
        base = DEFAULTS[self.data]
        config = replace(
            self,
            **{k: v if getattr(self, k) is None else getattr(self, k) for k, v in base.items()},
        )
        if isinstance(config.optimizers, str) or not config.optimizers:
            raise ValueError(f"give a list of optimizers from {list(OPTIMIZERS)}")
        names = [check_choice("optimizer", n, OPTIMIZERS) for n in config.optimizers]
        if len(set(names)) != len(names):
            raise ValueError(f"each optimizer once, got {names}")
        for name in names:  # a shared lr / weight decay must suit every method
            resolve_defaults(name, lr=config.lr, weight_decay=config.weight_decay)
        seeds = [check_int("seed", s, 0) for s in config.seeds]
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"give at least one seed, each once; got {seeds}")
        if config.model is not None:
            check_choice("model", config.model, list_models())
        else:
            get_scheme(config.scheme)
        check_choice("schedule", config.schedule, SCHEDULES)
        check_int("epochs", config.epochs, 1)
        check_int("batch_size", config.batch_size, 1)
        return replace(config, optimizers=tuple(names), seeds=tuple(seeds))

    def network(self) -> tuple[str | None, dict, str]:
        """(preset, model_args, description) of the network every optimizer trains."""
        if self.model is not None:
            return self.model, {}, self.model
        args = {
            "scheme": self.scheme,
            "depth": self.depth,
            "widths": list(self.widths),
            "tie": self.tie,
        }
        tie = f", tie={self.tie}" if self.tie != "none" else ""
        widths = "/".join(map(str, self.widths))
        return None, args, f"SolverNet({self.scheme}, depth={self.depth}, widths={widths}{tie})"


def _band(histories: list[list[dict]], key: str) -> dict[str, list[float]]:
    """Mean and standard deviation over seeds of ``key`` at every epoch."""
    columns = list(zip(*[[r[key] for r in h] for h in histories], strict=True))
    return {
        "mean": [statistics.fmean(c) for c in columns],
        "std": [statistics.stdev(c) if len(c) > 1 else 0.0 for c in columns],
    }


def compare_optimizers(
    config: OptimizerCompareConfig, *, dataset: Dataset | None = None
) -> dict[str, Any]:
    """Train the network of ``config`` once per optimizer and seed, from the same start
    (on ``dataset`` if given, else on ``config.data``).

    Returns ``{"config": ..., "network": ..., "results": [...]}`` with one result per
    optimizer: its resolved ``lr``, ``momentum``, ``weight_decay``, its ODE ``reading``,
    ``epochs`` (1..E), ``train_loss`` and ``test_accuracy`` as ``{"mean": [...], "std":
    [...]}`` over seeds, the final values, ``seconds`` (mean per run) and ``runs`` (every
    seed's full history). A run whose loss becomes non-finite is kept as ``{"seed",
    "diverged": message}`` and left out of the curves; an optimizer with no finished run has
    empty curves.
    """
    config = config.resolved()
    if dataset is None:
        dataset = load_dataset(config.data, data_dir=config.data_dir, seed=0)
    if not config.augment:
        dataset = replace(dataset, augment=None)
    threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(check_int("threads", config.threads, 1))
    try:
        results = _compare(config, dataset)
    finally:
        torch.set_num_threads(threads)
    preset, args, description = config.network()
    return {
        "config": {**asdict(config), "optimizers": list(config.optimizers)},
        "network": {"preset": preset, "model_args": args, "description": description},
        "results": results,
    }


def _compare(config: OptimizerCompareConfig, dataset) -> list[dict]:
    preset, args, _ = config.network()
    jobs = [(name, seed) for name in config.optimizers for seed in config.seeds]
    bar = tqdm(jobs, disable=not config.progress, file=sys.stderr, desc="optimizers")
    runs: dict[str, list[dict]] = {name: [] for name in config.optimizers}
    for name, seed in bar:
        bar.set_postfix_str(f"{name}, seed {seed}")
        run = TrainConfig(
            model=preset,
            model_args=args,
            data=config.data,
            augment=config.augment,
            epochs=config.epochs,
            batch_size=config.batch_size,
            optimizer=name,
            lr=config.lr,
            weight_decay=config.weight_decay,
            schedule=config.schedule,
            seed=seed,
            device=config.device,
            progress=False,
        )
        try:
            result = train(run, dataset=dataset)
        except TrainingDiverged as err:
            print(f"odenets: {name} (seed {seed}) diverged: {err}", file=sys.stderr)
            runs[name].append({"seed": seed, "diverged": str(err)})
            continue
        runs[name].append(
            {"seed": seed, "history": result.history, "seconds": round(result.seconds, 2)}
        )
    return [_summary(name, runs[name], config) for name in config.optimizers]


def _summary(name: str, runs: list[dict], config: OptimizerCompareConfig) -> dict:
    spec = OPTIMIZERS[name]
    used = resolve_defaults(name, lr=config.lr, weight_decay=config.weight_decay)
    done = [r for r in runs if "history" in r]
    histories = [r["history"] for r in done]
    row: dict[str, Any] = {
        "optimizer": name,
        **used,
        "reading": spec.reading,
        "epochs": [r["epoch"] for r in histories[0]] if histories else [],
        "runs": runs,
        "diverged": len(runs) - len(done),
    }
    if not histories:
        empty = {"mean": [], "std": []}
        return {**row, "train_loss": empty, "test_accuracy": empty, "seconds": None}
    loss, acc = _band(histories, "train_loss"), _band(histories, "test_accuracy")
    return {
        **row,
        "train_loss": loss,
        "test_accuracy": acc,
        "final_train_loss": loss["mean"][-1],
        "final_train_loss_std": loss["std"][-1],
        "final_test_accuracy": acc["mean"][-1],
        "final_test_accuracy_std": acc["std"][-1],
        "best_test_accuracy": statistics.fmean(
            max(r["test_accuracy"] for r in h) for h in histories
        ),
        "seconds": round(statistics.fmean(r["seconds"] for r in done), 2),
    }


def markdown_table(payload: dict) -> str:
    """A Markdown table of :func:`compare_optimizers` results (mean ± std over seeds)."""
    from .compare_tables import format_table

    many = len(payload["config"]["seeds"]) > 1
    rows = [
        [
            "optimizer",
            "lr",
            "momentum",
            "weight decay",
            "final train loss",
            "final test accuracy",
            "best test accuracy",
            "s/run",
        ]
    ]
    for r in payload["results"]:
        momentum = "-" if r["momentum"] is None else f"{r['momentum']:g}"
        head = [r["optimizer"], f"{r['lr']:g}", momentum, f"{r['weight_decay']:g}"]
        if r["seconds"] is None:
            rows.append([*head, "diverged", "-", "-", "-"])
            continue
        loss, acc = f"{r['final_train_loss']:.4f}", f"{100 * r['final_test_accuracy']:.2f}%"
        if many:
            loss += f" ± {r['final_train_loss_std']:.4f}"
            acc += f" ± {100 * r['final_test_accuracy_std']:.2f}"
        if r["diverged"]:
            acc += f" ({r['diverged']} diverged)"
        rows.append(
            [*head, loss, acc, f"{100 * r['best_test_accuracy']:.2f}%", f"{r['seconds']:.1f}"]
        )
    return format_table(rows)


def run_from_args(args) -> int:
    """``odenets compare --optimizers ...``: the comparison from ``compare``'s arguments.

    Uses ``--optimizers``, ``--models`` or ``--schemes`` (one network), ``--data``,
    ``--data-dir``, ``--seeds``, ``--epochs``, ``--depth``, ``--widths``, ``--tie``,
    ``--batch-size``, ``--lr`` (default: each optimizer's own), ``--device``, ``--threads``,
    ``--out`` (writes optimizers.md, optimizers.json, optimizers.png), ``--plot`` (the
    figure's path instead, any matplotlib format by its suffix), ``--json``,
    ``--no-progress``.
    """
    models, schemes = getattr(args, "models", None) or [], getattr(args, "schemes", None) or []
    if len(models) + len(schemes) > 1:
        raise ValueError(
            "--optimizers trains one network per optimizer: give at most one of --models / "
            f"--schemes, got models {models} and schemes {schemes}"
        )
    given = {
        k: getattr(args, k, None)
        for k in ("data", "data_dir", "epochs", "depth", "widths", "batch_size", "lr", "device")
    }
    config = OptimizerCompareConfig(
        optimizers=args.optimizers,
        model=models[0] if models else None,
        scheme=schemes[0] if schemes else "euler",
        tie=getattr(args, "tie", None) or "none",
        seeds=tuple(getattr(args, "seeds", None) or (0,)),
        threads=getattr(args, "threads", 1),
        progress=not getattr(args, "no_progress", False),
        **{k: v for k, v in given.items() if v is not None},
    ).resolved()
    payload = compare_optimizers(config)
    table = markdown_table(payload)
    written = []
    if getattr(args, "out", None):
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "optimizers.md").write_text(table + "\n")
        (out / "optimizers.json").write_text(json.dumps(payload, indent=2) + "\n")
        written += [out / "optimizers.md", out / "optimizers.json"]
    figure = getattr(args, "plot", None)
    if figure is None and getattr(args, "out", None):
        figure = Path(args.out) / "optimizers.png"
    if figure is not None:
        from .plots_training import plot_optimizer_curves

        title = f"{payload['network']['description']} on {config.data}"
        written.append(plot_optimizer_curves(payload, Path(figure).expanduser(), title=title))
    if written:
        first = written[0]
        names = [str(first), *(p.name if p.parent == first.parent else str(p) for p in written[1:])]
        print(f"wrote {', '.join(names)}", file=sys.stderr)
    print(json.dumps(payload) if getattr(args, "json", False) else table)
    return 0
