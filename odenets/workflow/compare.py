"""Train one network per scheme (or preset) with the same budget and tabulate the results.

Every scheme gets a :class:`~odenets.SolverNet` of the same depth and widths, trained from
the same seed with the same recipe, so the table isolates the scheme: its parameters, its
residual-function evaluations per forward (counted with hooks) and its test accuracy. With
several seeds the accuracy is reported as mean ± standard deviation.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

import torch

from .._validate import check_choice, check_int
from ..networks.nets import count_field_calls, count_parameters
from ..networks.presets import list_models
from ..numerics.schemes import get_scheme
from .data import load_dataset
from .train import TrainConfig, train

__all__ = ["DEFAULTS", "CompareConfig", "compare", "format_table", "markdown_table"]

#: Per-dataset defaults, tuned so every scheme clears the acceptance bar on 2 CPU cores:
#: digits >= 98% for euler/heun/lm in well under 2 minutes (see docs/compare.md).
DEFAULTS: dict[str, dict] = {
    "digits": {
        "depth": 14,
        "widths": (16, 32, 64),
        "epochs": 15,
        "batch_size": 64,
        "lr": 0.1,
        "weight_decay": 5e-4,
        "schedule": "cosine",
    },
    "mnist1d": {
        "depth": 14,
        "widths": (32, 64, 128),
        "epochs": 20,
        "batch_size": 64,
        "lr": 0.1,
        "weight_decay": 5e-4,
        "schedule": "cosine",
    },
    "cifar10": {
        "depth": 20,
        "widths": (16, 32, 64),
        "epochs": 160,
        "batch_size": 128,
        "lr": 0.1,
        "weight_decay": 1e-4,
        "schedule": "step",
    },
}


@dataclass
class CompareConfig:
    """A comparison: ``schemes`` (SolverNets of one size) and/or ``models`` (presets). Fields
    left ``None`` take the dataset's :data:`DEFAULTS`."""

    schemes: Sequence[str] = ("euler", "heun", "lm")
    models: Sequence[str] = ()
    data: str = "digits"
    data_dir: str | None = None
    seeds: Sequence[int] = (0,)
    depth: int | None = None
    widths: Sequence[int] | None = None
    tie: str = "none"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    schedule: str | None = None
    device: str | None = None
    threads: int | None = 1  # CPU threads; small nets gain nothing from more on shared cores
    progress: bool = True
    extra: dict = field(default_factory=dict)  # more TrainConfig fields

    def resolved(self) -> CompareConfig:
        base = DEFAULTS.get(self.data, DEFAULTS["digits"])
        return replace(
            self,
            **{k: v if getattr(self, k) is None else getattr(self, k) for k, v in base.items()},
        )


def _entries(config: CompareConfig) -> list[tuple[str, str | None, dict, str]]:
    """(label, preset, model_args, description) for every network to train."""
    entries = []
    for name in config.schemes:
        scheme = get_scheme(name)
        args = {
            "scheme": scheme.name,
            "depth": config.depth,
            "widths": list(config.widths),
            "tie": config.tie,
        }
        label = (
            f"SolverNet(depth={config.depth}, widths={'/'.join(map(str, config.widths))}"
            + (f", tie={config.tie}" if config.tie != "none" else "")
            + ")"
        )
        entries.append((scheme.name, None, args, label))
    known = list_models()
    for name in config.models:
        entries.append((check_choice("model", name, known), name, {}, name))
    if not entries:
        raise ValueError("nothing to compare: give at least one scheme or model")
    return entries


def compare(config: CompareConfig) -> list[dict]:
    """Train and evaluate every entry of ``config`` for every seed.

    Returns one dict per entry: ``scheme, architecture, model, params, f_evals,
    test_accuracy, seconds`` (mean over seeds), plus ``test_accuracy_std`` and ``runs`` (the
    per-seed accuracies and seconds).
    """
    config = config.resolved()
    seeds = [check_int("seed", s, 0) for s in config.seeds]
    if not seeds:
        raise ValueError("give at least one seed")
    dataset = load_dataset(config.data, data_dir=config.data_dir, seed=0)
    threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(check_int("threads", config.threads, 1))
    try:
        return _compare(config, seeds, dataset)
    finally:
        torch.set_num_threads(threads)


def _template(config: CompareConfig) -> TrainConfig:
    """The recipe every run shares: the fields both configs have, Nesterov momentum, extras."""
    shared = {f.name for f in fields(TrainConfig)} & {f.name for f in fields(CompareConfig)}
    return TrainConfig(
        **{"nesterov": True, **{k: getattr(config, k) for k in shared}, **config.extra}
    )


def _compare(config: CompareConfig, seeds: list[int], dataset) -> list[dict]:
    probe = dataset.prepare(dataset.x_test[:1])
    template = _template(config)
    results = []
    for label, preset, args, description in _entries(config):
        runs = []
        for seed in seeds:
            run = replace(template, model=preset, model_args=args, seed=seed)
            result = train(run, dataset=dataset)
            runs.append(
                {
                    "seed": seed,
                    "test_accuracy": result.test_accuracy,
                    "seconds": round(result.seconds, 2),
                }
            )
        model = result.model.cpu()
        scheme = getattr(model, "scheme", None)
        accs = [r["test_accuracy"] for r in runs]
        results.append(
            {
                "scheme": scheme.name if scheme else label,
                "architecture": scheme.architecture if scheme else "",
                "model": description,
                "params": count_parameters(model),
                "f_evals": count_field_calls(model, probe),
                "test_accuracy": statistics.fmean(accs),
                "test_accuracy_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                "seconds": round(statistics.fmean(r["seconds"] for r in runs), 2),
                "runs": runs,
            }
        )
    return results


def markdown_table(results: Sequence[dict]) -> str:
    """A Markdown table of :func:`compare` results (accuracy as mean ± std over seeds)."""
    many = any(len(r["runs"]) > 1 for r in results)
    rows = [["scheme", "architecture", "model", "params", "F-evals", "test accuracy", "seconds"]]
    for r in results:
        acc = f"{100 * r['test_accuracy']:.2f}%"
        if many:
            acc += f" ± {100 * r['test_accuracy_std']:.2f}"
        rows.append(
            [
                r["scheme"],
                r["architecture"],
                r["model"],
                f"{r['params']:,}",
                str(r["f_evals"]),
                acc,
                f"{r['seconds']:.1f}",
            ]
        )
    return format_table(rows)


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table: ``rows[0]`` is the header; columns padded to their widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
