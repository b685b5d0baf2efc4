"""``odenets train``: train a preset with checkpoints, exact resume and ``torchrun`` support.

A resume needs only the run folder: ``odenets train --out DIR --resume`` takes every setting
from the run's saved config (in ``DIR/last.pt``). Options given with it may change only what a
run can change midway (:data:`PER_RUN`, :data:`MAY_CHANGE`); any other option that differs
from the saved value is refused, naming it.
"""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import fields, replace
from pathlib import Path

from .cli_args import (
    CLIError,
    csv_list,
    data_args,
    friendly,
    model_args,
    positive_float,
    positive_int,
    suppress_defaults,
)

__all__ = ["MAY_CHANGE", "PER_RUN", "add_train"]

#: TrainConfig fields that belong to one invocation: never taken from the saved run.
PER_RUN = (
    "out",
    "resume",
    "overwrite",
    "stop_after",
    "compile",
    "device",
    "progress",
    "download",
    "dist_timeout",
)
#: Saved fields an option may change on resume (``epochs`` only grows: checked by the trainer).
MAY_CHANGE = ("epochs", "data_dir", "eval_batch_size")
#: Options whose value lands in ``TrainConfig.model_args``.
MODEL_OPTIONS = ("scheme", "depth", "widths", "tie", "field")
#: Options whose TrainConfig field has another name (and value: the negation).
NEGATED = {"no_augment": "augment", "no_progress": "progress"}

_DEFAULTS: dict[str, object] = {}


def add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model with checkpoints (torchrun-ready)",
        description="Train a model with atomic checkpoints, exact resume and torchrun support. "
        "A resume needs only the folder: odenets train --out DIR --resume.",
    )
    p.add_argument("--model", default="resnet20", help="preset name (see `odenets list`)")
    model_args(p)
    data_args(p)
    p.add_argument("--download", action="store_true", help="fetch CIFAR-10 into --data-dir")
    p.add_argument("--no-augment", action="store_true", help="train without augmentation")
    p.add_argument("--epochs", type=positive_int, default=10, help="epochs of the whole run")
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=128,
        help="global batch size, split over torchrun processes",
    )
    from .optimizers import list_optimizers

    p.add_argument(
        "--optimizer",
        default="momentum",
        help=f"{', '.join(list_optimizers())} (default: momentum, SGD with momentum 0.9; "
        "see docs/optimizers.md)",
    )
    p.add_argument("--lr", type=float, help="default: the optimizer's (0.1 SGD, 1e-3 Adam)")
    p.add_argument("--momentum", type=float, help="momentum / Adam's beta1 (default: 0.9)")
    p.add_argument("--weight-decay", type=float, help="default: the optimizer's (1e-4 SGD)")
    from .train import SCHEDULES

    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="step",
        help="step: lr/10 at 50%% and 75%% of the epochs; cosine; constant",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of weights, order, augmentation")
    p.add_argument("--out", default="runs/train", help="folder for checkpoints and metrics")
    p.add_argument(
        "--resume",
        nargs="?",
        const="always",
        choices=("always", "auto", "never"),
        help="continue the run in --out with its saved settings: --resume (= always: "
        "<out>/last.pt must exist), --resume auto (continue when <out>/last.pt exists, else "
        "start afresh; the default under torchrun, so an elastic restart continues), "
        "--resume never (the default otherwise)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a run already in --out (without it such a folder is refused)",
    )
    p.add_argument(
        "--stop-after",
        type=positive_int,
        help="stop after this many epochs of this run (resume later)",
    )
    p.add_argument(
        "--incremental",
        type=csv_list(positive_int, "step counts"),
        help="tie='all' nets: steps per stage for successive phases, e.g. 1,2,4",
    )
    p.add_argument("--compile", action="store_true", help="use torch.compile")
    p.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="CPU threads per process (small nets on shared cores gain nothing from more)",
    )
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument(
        "--dist-timeout",
        type=positive_float,
        default=300.0,
        help="seconds any wait on the other torchrun processes may take (joining, barriers, "
        "collectives) before the run stops naming the missing rank",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print each epoch's metrics on stdout as JSON Lines (one JSON object per line)",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (there is none anyway when stderr is not a terminal)",
    )
    _DEFAULTS.update(suppress_defaults(p))
    p.set_defaults(func=friendly(_run_train))


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _build_config(args):
    from .train import TrainConfig

    return TrainConfig(
        model=args.model,
        model_args={k: getattr(args, k) for k in MODEL_OPTIONS if getattr(args, k) is not None},
        data=args.data,
        data_dir=args.data_dir,
        download=args.download,
        augment=not args.no_augment,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        seed=args.seed,
        out=args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        stop_after=args.stop_after,
        compile=args.compile,
        device=args.device,
        incremental=tuple(args.incremental or ()),
        progress=not args.no_progress,
        dist_timeout=args.dist_timeout,
    )


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def resumed_config(config, given: set[str], saved: dict):
    """``config`` (built from the command line) with every setting the user did not give taken
    from the saved run ``saved``; a given setting that a resume may not change and that differs
    from the saved one is a :class:`CLIError` naming the option."""
    from .train import TrainConfig

    allowed = ", ".join(_flag(n) for n in ("epochs", "stop_after", "device", "threads"))
    values = {}
    for f in fields(TrainConfig):
        name, mine = f.name, getattr(config, f.name)
        if name in PER_RUN or name not in saved:
            continue
        theirs = saved[name]
        if name == "model_args":
            theirs = dict(theirs or {})
            for dest in MODEL_OPTIONS:
                if dest in given and _plain(mine.get(dest)) != _plain(theirs.get(dest)):
                    raise CLIError(
                        f"{_flag(dest)} {_shown(mine.get(dest))} differs from the run's "
                        f"{dest}={_shown(theirs.get(dest), '<the preset default>')}: a resumed run "
                        f"keeps its model (only {allowed}, ... may change); train another --out "
                        "or pass --overwrite"
                    )
            values[name] = theirs
            continue
        dest = next((d for d, n in NEGATED.items() if n == name), name)
        if dest in given:
            if name in MAY_CHANGE or _plain(mine) == _plain(theirs):
                continue
            shown = (not mine) if dest in NEGATED else mine
            raise CLIError(
                f"{_flag(dest)}{'' if dest in NEGATED else ' ' + _shown(shown)} differs from "
                f"the run's {name}={_shown(theirs)}: a resumed run keeps its recipe (only "
                f"{allowed}, ... may change); train another --out or pass --overwrite"
            )
        if isinstance(f.default, tuple) and isinstance(theirs, list):
            theirs = tuple(theirs)
        values[name] = theirs
    return replace(config, **values)


def _shown(value, none: str = "None") -> str:
    if value is None:
        return none
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"odenets: warning: {message}", file=sys.stderr, flush=True)


def _run_train(args) -> int:
    from .._validate import check_choice
    from ..networks.presets import list_models
    from .checkpoint import load_checkpoint
    from .run_folder import resume_plan, will_resume
    from .train import train

    given = {dest for dest in _DEFAULTS if hasattr(args, dest)}
    for dest, default in _DEFAULTS.items():
        if dest not in given:
            setattr(args, dest, default)
    check_choice("model", args.model, list_models())
    config = _build_config(args)
    mode, _ = resume_plan(config.resume, config.overwrite)
    if will_resume(args.out, mode):
        saved = load_checkpoint(Path(args.out) / "last.pt", verify=False).get("config") or {}
        config = resumed_config(config, given, saved)

    def log(record: dict) -> None:
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            print(
                f"epoch {record['epoch']:>3}/{config.epochs}  loss {record['train_loss']:.4f}  "
                f"train {100 * record['train_accuracy']:.2f}%  "
                f"test {100 * record['test_accuracy']:.2f}%  lr {record['lr']:.3g}  "
                f"{record['seconds']:.1f}s",
                flush=True,
            )

    import torch

    torch.set_num_threads(args.threads)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        result = train(config, log=log)
    if not args.json and result.history and result.info.main:
        print(
            f"best test accuracy {100 * result.best_accuracy:.2f}%; checkpoints in {args.out}",
            file=sys.stderr,
        )
    return 0
