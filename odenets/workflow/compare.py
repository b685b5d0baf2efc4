"""Compare discretizations: train one network per scheme (or preset) on several seeds with the
same budget, and report what separates them from noise, what each costs, and how each stands
up to re-discretization.

Every scheme gets a :class:`~odenets.SolverNet` of the same depth and widths, trained with the
same recipe on the same seeds; seed ``s`` fixes the initial-weight seed and the order of the
training data for every scheme, so the runs are *paired*. Per entry the result holds

* accuracy over the seeds: mean, sample standard deviation and a Student-t confidence
  interval (:func:`odenets.workflow.stats.summarize`);
* the paired comparison with the first entry: the mean per-seed difference, its paired-t
  interval and whether it is distinguishable from zero (:func:`~odenets.workflow.stats.paired`);
* cost: parameters, residual-function evaluations per forward (counted with hooks), and one
  training step and one inference pass timed side by side on this machine
  (:func:`odenets.workflow.cost.measure_costs`);
* robustness: test accuracy with every step size scaled (and re-timed, for weight-tied nets),
  see :mod:`odenets.workflow.robustness`;
* every per-seed number (``runs``). A run whose loss diverges is recorded as diverged and the
  comparison goes on; statistics use the seeds on which the runs finished.

:func:`sweep` repeats the comparison along one axis (``depth`` or ``widths``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace

import torch
from torch import nn

from .._validate import check_choice, check_int, check_number, unknown_name
from ..networks.nets import count_field_calls, count_parameters
from ..networks.presets import list_models
from ..numerics.schemes import get_scheme
from .checkpoint import build_model
from .compare_tables import format_table, markdown_table
from .cost import measure_costs
from .data import Dataset, load_dataset
from .progress import RunProgress
from .robustness import evaluate_robustness
from .stats import paired, summarize
from .train import TrainConfig, TrainingDiverged, train

__all__ = [
    "DEFAULTS",
    "SWEEP_KEYS",
    "CompareConfig",
    "compare",
    "count_runs",
    "format_table",
    "markdown_table",
    "parse_sweep",
    "sweep",
]

#: Per-dataset defaults. digits: small nets so that 3 schemes x 5 seeds fit in 2 minutes on
#: 2 CPU cores; mnist1d: a reduced training set (1000 of 4000) where depth and width matter
#: measurably (see docs/compare.md for the measured tables).
DEFAULTS: dict[str, dict] = {
    "digits": {
        "depth": 14,
        "widths": (8, 16, 32),
        "epochs": 10,
        "batch_size": 64,
        "lr": 0.1,
        "weight_decay": 5e-4,
        "schedule": "cosine",
        "train_size": "all",
    },
    "mnist1d": {
        "depth": 14,
        "widths": (8, 16, 32),
        "epochs": 15,
        "batch_size": 64,
        "lr": 0.1,
        "weight_decay": 5e-4,
        "schedule": "cosine",
        "train_size": 1000,
    },
    "cifar10": {
        "depth": 20,
        "widths": (16, 32, 64),
        "epochs": 160,
        "batch_size": 128,
        "lr": 0.1,
        "weight_decay": 1e-4,
        "schedule": "step",
        "train_size": "all",
    },
}

#: CompareConfig fields a sweep may vary.
SWEEP_KEYS = ("depth", "widths")


@dataclass
class CompareConfig:
    """A comparison: ``schemes`` (SolverNets of one size) and/or ``models`` (presets), each
    trained on every seed. Fields left ``None`` take the dataset's :data:`DEFAULTS`.

    ``train_size`` trains on a fixed, class-stratified subset of that many training samples
    (the same for every run; ``"all"``: the whole training set); ``robustness`` are the
    step-size factors and ``robustness_steps`` the step counts (weight-tied nets) of the
    re-discretization study (empty: none); ``timing_repeats`` the interleaved timing rounds;
    ``max_runs`` the budget: a comparison or sweep that would train more networks is refused
    before anything is trained.
    """

    schemes: Sequence[str] = ("euler", "heun", "lm")
    models: Sequence[str] = ()
    data: str = "digits"
    data_dir: str | None = None
    seeds: Sequence[int] = (0, 1, 2, 3, 4)
    depth: int | None = None
    widths: Sequence[int] | None = None
    tie: str = "none"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    schedule: str | None = None
    train_size: int | str | None = None
    device: str | None = None
    threads: int | None = 1  # CPU threads; small nets gain nothing from more on shared cores
    progress: bool = True
    confidence: float = 0.95
    robustness: Sequence[float] = (0.5, 0.75, 1.25, 1.5, 2.0)
    robustness_steps: Sequence[int] = (1, 2, 4, 8)
    timing_repeats: int = 5
    max_runs: int = 60
    extra: dict = field(default_factory=dict)  # more TrainConfig fields

    def resolved(self) -> CompareConfig:
        """This config with the dataset's defaults filled in."""
        check_choice("dataset", self.data, DEFAULTS)
        base = DEFAULTS[self.data]
        return replace(
            self,
            **{k: v if getattr(self, k) is None else getattr(self, k) for k, v in base.items()},
        )


# ----------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Entry:
    """One network of the comparison, built once to validate it and count its cost."""

    label: str
    scheme: str
    preset: str | None
    args: dict
    description: str
    architecture: str
    params: int
    f_evals: int


def _validate(config: CompareConfig) -> list[int]:
    seeds = [check_int("seed", s, 0) for s in config.seeds]
    if not seeds:
        raise ValueError("give at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct (runs are paired by seed), got {seeds}")
    confidence = check_number("confidence", config.confidence)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    for c in config.robustness:
        check_number("robustness step-size factor", c, positive=True)
    for m in config.robustness_steps:
        check_int("robustness steps", m, 1)
    check_int("timing_repeats", config.timing_repeats, 1)
    check_int("max_runs", config.max_runs, 1)
    if config.train_size != "all":
        check_int("train_size", config.train_size, 1)
    return seeds


def _load(config: CompareConfig) -> Dataset:
    """The dataset, reduced to ``train_size`` training samples (a fixed, class-stratified
    subset: the same for every run and every seed)."""
    dataset = load_dataset(config.data, data_dir=config.data_dir, seed=0)
    n = len(dataset.y_train)
    if config.train_size != "all":
        if config.train_size > n:
            raise ValueError(
                f"--train-size {config.train_size} exceeds the {n} training samples of "
                f"{config.data}"
            )
        dataset = _subset(dataset, config.train_size)
    n = len(dataset.y_train)
    if config.batch_size > n:
        raise ValueError(
            f"--batch-size {config.batch_size} exceeds the {n} training samples"
            + ("" if config.train_size == "all" else " (--train-size)")
            + "; every epoch needs at least one full batch"
        )
    return dataset


def _subset(dataset: Dataset, size: int) -> Dataset:
    """The first ``size`` samples of a fixed random order that interleaves the classes."""
    generator = torch.Generator().manual_seed(0)
    y = dataset.y_train
    rank = torch.empty(len(y), dtype=torch.float64)
    for label in y.unique():  # sample k of class c gets rank (k + u) / n_c, u ~ U(0, 1)
        idx = (y == label).nonzero().flatten()
        perm = idx[torch.randperm(len(idx), generator=generator)]
        u = torch.rand(len(idx), generator=generator, dtype=torch.float64)
        rank[perm] = (torch.arange(len(idx), dtype=torch.float64) + u) / len(idx)
    keep = rank.argsort()[:size].sort().values
    return replace(dataset, x_train=dataset.x_train[keep], y_train=dataset.y_train[keep])


def _spec(preset: str | None, args: dict, dataset: Dataset) -> dict:
    return {"preset": preset, "kwargs": {**dataset.model_kwargs(), **args}}


def _plan(config: CompareConfig, dataset: Dataset) -> list[_Entry]:
    """Every network to train, each built once (on CPU) so that a bad depth, width or name
    fails before any training, and its parameters and F-evaluations are counted."""
    wanted = []
    for name in config.schemes:
        scheme = get_scheme(name)
        args = {
            "scheme": scheme.name,
            "depth": config.depth,
            "widths": list(config.widths),
            "tie": config.tie,
        }
        description = (
            f"SolverNet(depth={config.depth}, widths={'/'.join(map(str, config.widths))}"
            + (f", tie={config.tie}" if config.tie != "none" else "")
            + ")"
        )
        wanted.append((scheme.name, None, args, description))
    known = list_models()
    for name in config.models:
        wanted.append((check_choice("model", name, known), name, {}, name))
    if not wanted:
        raise ValueError("nothing to compare: give at least one scheme or model")
    probe = dataset.prepare(dataset.x_test[:1])
    entries = []
    with torch.random.fork_rng(devices=[]):
        for label, preset, args, description in wanted:
            model = build_model(_spec(preset, args, dataset))
            scheme = getattr(model, "scheme", None)
            entries.append(
                _Entry(
                    label,
                    scheme.name if scheme is not None else label,
                    preset,
                    args,
                    description,
                    scheme.architecture if scheme is not None else "",
                    count_parameters(model),
                    count_field_calls(model, probe),
                )
            )
    return entries


def count_runs(config: CompareConfig, sweep_values: Sequence | None = None) -> int:
    """Networks a comparison (or a sweep over ``sweep_values``) trains."""
    per_point = (len(config.schemes) + len(config.models)) * len(config.seeds)
    return per_point * (1 if sweep_values is None else len(sweep_values))


def _check_budget(config: CompareConfig, runs: int, what: str) -> None:
    if runs > config.max_runs:
        raise ValueError(
            f"{what} would train {runs} networks, over the budget of --max-runs "
            f"{config.max_runs}; fewer seeds, schemes or sweep values, or raise --max-runs"
        )


# ----------------------------------------------------------------------------- running


def _template(config: CompareConfig) -> TrainConfig:
    """The recipe every run shares: the fields both configs have, Nesterov momentum, extras."""
    shared = {f.name for f in fields(TrainConfig)} & {f.name for f in fields(CompareConfig)}
    template = TrainConfig(
        **{"nesterov": True, **{k: getattr(config, k) for k in shared}, **config.extra}
    )
    template.validate()
    return template


def _one_run(
    config: CompareConfig,
    template: TrainConfig,
    entry: _Entry,
    seed: int,
    dataset: Dataset,
    progress: bool,
) -> dict:
    run = replace(template, model=entry.preset, model_args=entry.args, seed=seed, progress=progress)
    t0 = time.perf_counter()
    try:
        result = train(run, dataset=dataset)
    except TrainingDiverged as err:
        return {
            "seed": seed,
            "diverged": True,
            "error": str(err),
            "test_accuracy": None,
            "seconds": round(time.perf_counter() - t0, 2),
        }
    last = result.history[-1]
    model = result.model
    return {
        "seed": seed,
        "diverged": False,
        "test_accuracy": result.test_accuracy,
        "best_accuracy": result.best_accuracy,
        "test_loss": last["test_loss"],
        "train_loss": last["train_loss"],
        "train_accuracy": last["train_accuracy"],
        "seconds": round(result.seconds, 2),
        "robustness": evaluate_robustness(
            model,
            dataset,
            config.robustness,
            config.robustness_steps,
            batch_size=template.eval_batch_size,
        ),
    }


def _train_all(
    config: CompareConfig,
    seeds: list[int],
    dataset: Dataset,
    entries: list[_Entry],
    reporter: RunProgress,
    prefix: str,
    on_run: Callable[[list[dict]], None] | None,
) -> list[list[dict]]:
    """Train every entry on every seed, seed-major (so a partial result is always paired);
    the runs of each entry. ``on_run`` gets the partial rows (no timing) after each run."""
    template = _template(config)
    runs: list[list[dict]] = [[] for _ in entries]
    for seed in seeds:
        for i, entry in enumerate(entries):
            label = reporter.start(f"{prefix}{entry.label} seed {seed}")
            run = _one_run(config, template, entry, seed, dataset, reporter.epoch_bars)
            runs[i].append(run)
            reporter.finish(label, run)
            if on_run is not None:
                on_run(_rows(config, entries, runs, None))
    return runs


def _costs(config: CompareConfig, dataset: Dataset, entries: list[_Entry]) -> list[dict]:
    """Train-step and inference times of every entry, timed together, interleaved."""
    template = _template(config)
    device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    b = template.batch_size
    x = dataset.prepare(dataset.x_train[:b]).to(device)
    y = dataset.y_train[:b].to(device)
    x_eval = dataset.prepare(dataset.x_test[: template.eval_batch_size]).to(device)

    def builder(entry: _Entry) -> Callable[[], nn.Module]:
        return lambda: build_model(_spec(entry.preset, entry.args, dataset)).to(device)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        costs = measure_costs(
            [builder(e) for e in entries],
            (x, y),
            x_eval,
            repeats=config.timing_repeats,
            lr=template.lr,
        )
    for c in costs:
        c["timing"] = {
            "train_batch": b,
            "inference_batch": len(x_eval),
            "repeats": config.timing_repeats,
            "statistic": "median of interleaved repeats, measured on this machine",
            "min_sample_ms": 50.0,
            "device": str(device),
            "torch_threads": torch.get_num_threads(),
        }
    return costs


def _rows(
    config: CompareConfig,
    entries: list[_Entry],
    runs: list[list[dict]],
    costs: list[dict] | None,
) -> list[dict]:
    reference = entries[0].label
    ref_runs = {r["seed"]: r for r in runs[0] if not r["diverged"]}
    rows = []
    for i, entry in enumerate(entries):
        ok = [r for r in runs[i] if not r["diverged"]]
        accs = [r["test_accuracy"] for r in ok]
        summary = summarize(accs, config.confidence) if accs else None
        row = {
            "label": entry.label,
            "scheme": entry.scheme,
            "architecture": entry.architecture,
            "model": entry.description,
            "model_args": entry.args,
            "params": entry.params,
            "f_evals": entry.f_evals,
            "n_runs": len(runs[i]),
            "n_diverged": len(runs[i]) - len(ok),
            "test_accuracy": summary.mean if summary else None,
            "test_accuracy_std": summary.std if summary else None,
            "test_accuracy_ci": _clip(summary.ci, 0.0) if summary else None,
            "confidence": config.confidence,
            "seconds": round(sum(r["seconds"] for r in runs[i]) / len(runs[i]), 2)
            if runs[i]
            else None,
            "paired": None,
            "robustness": _robustness_summary(config, ok),
            "runs": list(runs[i]),
        }
        if costs is not None:
            row.update(costs[i])
        if i > 0:
            both = [r for r in ok if r["seed"] in ref_runs]
            if both:
                row["paired"] = _paired(
                    config,
                    reference,
                    [r["seed"] for r in both],
                    [ref_runs[r["seed"]]["test_accuracy"] for r in both],
                    [r["test_accuracy"] for r in both],
                )
            for probe in row["robustness"]:
                pairs = [
                    (ref, mine)
                    for r in both
                    if (ref := _probe(ref_runs[r["seed"]], probe)) is not None
                    and (mine := _probe(r, probe)) is not None
                ]
                if pairs:
                    probe["paired"] = _paired(
                        config,
                        reference,
                        [r["seed"] for r in both],
                        [a for a, _ in pairs],
                        [b for _, b in pairs],
                    )
        rows.append(row)
    return rows


def _paired(
    config: CompareConfig, reference: str, seeds: list[int], ref: list[float], other: list[float]
) -> dict:
    comparison = paired(ref, other, config.confidence)
    return {
        "reference": reference,
        "seeds": seeds,
        **comparison.to_dict(),
        "ci": _clip(comparison.ci, -1.0),
    }


def _probe_key(probe: dict) -> tuple:
    return (probe["kind"], probe.get("factor"), probe.get("steps"))


def _probe(run: dict, probe: dict) -> float | None:
    """The accuracy of ``run`` at the re-discretization ``probe`` describes (None: not
    evaluated, e.g. re-timing of an untied reference)."""
    key = _probe_key(probe)
    return next(
        (p["test_accuracy"] for p in run.get("robustness", ()) if _probe_key(p) == key), None
    )


def _clip(ci: tuple[float, float] | None, low: float) -> list[float] | None:
    """A confidence interval of an accuracy (``low = 0``) or of a difference of accuracies
    (``low = -1``) cut to the values the quantity can take, ``[low, 1]``: the cut interval
    still covers the true value whenever the t interval does."""
    return None if ci is None else [max(low, ci[0]), min(1.0, ci[1])]


def _robustness_summary(config: CompareConfig, runs: list[dict]) -> list[dict]:
    """Per re-discretization: mean accuracy over the seeds with its interval (and, added by
    :func:`_rows`, the paired comparison with the reference entry at the same probe)."""
    if not runs:
        return []
    out = []
    for j, probe in enumerate(runs[0]["robustness"]):
        accs = [r["robustness"][j]["test_accuracy"] for r in runs]
        s = summarize(accs, config.confidence)
        key = {k: probe[k] for k in ("kind", "factor", "steps") if k in probe}
        out.append(
            {
                **key,
                "f_evals": probe["f_evals"],
                "test_accuracy": s.mean,
                "test_accuracy_std": s.std,
                "test_accuracy_ci": _clip(s.ci, 0.0),
            }
        )
    return out


def _with_threads(config: CompareConfig, work: Callable[[], list]) -> list:
    threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(check_int("threads", config.threads, 1))
    try:
        return work()
    finally:
        torch.set_num_threads(threads)


def compare(
    config: CompareConfig, *, on_run: Callable[[list[dict]], None] | None = None
) -> list[dict]:
    """Train and evaluate every entry of ``config`` on every seed (see the module docstring).

    Returns one dict per entry: ``scheme, architecture, model, params, f_evals,
    test_accuracy`` (mean over the finished seeds), ``test_accuracy_std``,
    ``test_accuracy_ci``, ``paired`` (against the first entry; ``None`` for it),
    ``train_step_ms``, ``inference_ms``, ``timing``, ``robustness``, ``seconds`` (mean
    training time of a run), ``runs`` (every per-seed number). ``on_run`` receives the
    partial rows (without timing) after each run. Everything that can be checked is checked
    before the first run: names, depths, widths, batch size, the ``max_runs`` budget.
    """
    config = config.resolved()
    seeds = _validate(config)
    _check_budget(config, count_runs(config), "this comparison")
    dataset = _load(config)

    def work() -> list[dict]:
        entries = _plan(config, dataset)
        reporter = RunProgress(len(entries) * len(seeds), config.progress)
        try:
            runs = _train_all(config, seeds, dataset, entries, reporter, "", on_run)
        finally:
            reporter.close()
        return _rows(config, entries, runs, _costs(config, dataset, entries))

    return _with_threads(config, work)


def parse_sweep(text: str) -> tuple[str, list]:
    """``"depth=8,14,20"`` -> ``("depth", [8, 14, 20])``; ``"widths=8/16/32,16/32/64"`` ->
    ``("widths", [(8, 16, 32), (16, 32, 64)])``."""
    if not isinstance(text, str) or "=" not in text:
        raise ValueError(
            f"--sweep expects KEY=VALUES, e.g. depth=8,14,20 or widths=8/16/32,16/32/64; "
            f"got {text!r}"
        )
    key, _, values = text.partition("=")
    key = key.strip()
    if key not in SWEEP_KEYS:
        raise unknown_name("sweep key", key, SWEEP_KEYS)
    items = [v.strip() for v in values.split(",")]
    if not values.strip() or any(not v for v in items):
        raise ValueError(f"--sweep {key}= needs comma-separated values, got {values!r}")
    try:
        if key == "depth":
            parsed = [int(v) for v in items]
        else:
            parsed = [tuple(int(w) for w in v.split("/")) for v in items]
    except ValueError:
        form = (
            "integers, e.g. depth=8,14,20"
            if key == "depth"
            else ("slash-separated integers per value, e.g. widths=8/16/32,16/32/64")
        )
        raise ValueError(f"--sweep {key} values must be {form}; got {values!r}") from None
    flat = parsed if key == "depth" else [w for v in parsed for w in v]
    if any(v < 1 for v in flat):
        raise ValueError(f"--sweep {key} values must be positive, got {values!r}")
    if len(set(parsed)) != len(parsed):
        raise ValueError(f"--sweep {key} values must be distinct, got {values!r}")
    return key, parsed


def sweep(
    config: CompareConfig,
    key: str,
    values: Sequence,
    *,
    on_point: Callable[[list[dict]], None] | None = None,
) -> list[dict]:
    """:func:`compare` at every value of ``key`` (one of :data:`SWEEP_KEYS`).

    Returns one point per value: ``{"key", "value", "results": compare rows}``. Every
    point's networks are built (validated) and the whole sweep's run count is checked
    against ``max_runs`` before the first run. ``on_point`` receives the points so far
    (the current one partial) after each run.
    """
    key = check_choice("sweep key", key, SWEEP_KEYS)
    values = list(values)
    if not values:
        raise ValueError("a sweep needs at least one value")
    config = config.resolved()
    if config.models:
        raise ValueError(
            f"a sweep varies the {key} of the --schemes SolverNets; presets have a fixed "
            f"size, so drop --models {','.join(config.models)} (or compare them without --sweep)"
        )
    seeds = _validate(config)
    _check_budget(config, count_runs(config, values), f"this sweep ({len(values)} values)")
    dataset = _load(config)

    def work() -> list[dict]:
        points = [replace(config, **{key: value}) for value in values]
        plans = [_plan(point, dataset) for point in points]
        plain = [list(v) if key == "widths" else v for v in values]
        reporter = RunProgress(sum(len(p) for p in plans) * len(seeds), config.progress)
        done: list[dict] = []
        runs_per_point: list[list[list[dict]]] = []
        try:
            for value, shown, point, entries in zip(values, plain, points, plans, strict=True):
                label = "/".join(map(str, value)) if key == "widths" else value

                def partial(rows, shown=shown):
                    if on_point is not None:
                        on_point([*done, {"key": key, "value": shown, "results": rows}])

                runs = _train_all(
                    point, seeds, dataset, entries, reporter, f"{key}={label} ", partial
                )
                runs_per_point.append(runs)
                done.append(
                    {"key": key, "value": shown, "results": _rows(point, entries, runs, None)}
                )
        finally:
            reporter.close()
        # every network of the sweep timed together, so times compare across the sweep
        costs = _costs(config, dataset, [e for entries in plans for e in entries])
        start = 0
        for point, entries, runs, item in zip(points, plans, runs_per_point, done, strict=True):
            item["results"] = _rows(point, entries, runs, costs[start : start + len(entries)])
            start += len(entries)
        return done

    return _with_threads(config, work)
