"""The training-workflow subcommands of the ``odenets`` CLI: compare, train, eval, transfer.

Each ``add_<name>(subparsers)`` adds one subcommand and sets its ``func``;
:mod:`odenets.workflow.cli` wires them in. Results go to stdout (a table, or JSON with
``--json`` and nothing else), progress bars and notes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from .cli_args import CLIError, csv_list, positive_int

__all__ = ["add_compare", "add_eval", "add_train", "add_transfer"]


def _friendly(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn a missing optional package and a diverged run into one-line errors."""

    def run(args: argparse.Namespace) -> int:
        from .train import TrainingDiverged

        try:
            return fn(args)
        except ImportError as err:
            raise CLIError(str(err)) from None
        except TrainingDiverged as err:
            print(f"odenets: training stopped: {err}", file=sys.stderr)
            return 1

    return run


def _data_args(p: argparse.ArgumentParser, default: str | None = "digits") -> None:
    from .data import list_datasets

    p.add_argument(
        "--data",
        default=default,
        choices=list_datasets(),
        help=f"dataset (default: {default or 'the one in the checkpoint'})",
    )
    p.add_argument("--data-dir", help="folder with the CIFAR-10 batches (cifar-10-batches-py)")


def _model_args(p: argparse.ArgumentParser) -> None:
    from ..networks.nets import TIES

    p.add_argument("--scheme", help="override the preset's scheme (see `odenets list`)")
    p.add_argument("--depth", type=positive_int, help="override the depth (6n+2 for basic fields)")
    p.add_argument("--widths", type=csv_list(int, "integers"), help="stage widths, e.g. 16,32,64")
    p.add_argument("--tie", choices=TIES, help="override the weight tying")
    p.add_argument("--field", help="override the residual function (basic, preact, ...)")


# ---------------------------------------------------------------- compare


def add_compare(sub) -> None:
    from ..networks.nets import TIES

    p = sub.add_parser("compare", help="train one small net per scheme and tabulate accuracy")
    p.add_argument(
        "--schemes",
        type=csv_list(str, "scheme names"),
        help="schemes to compare (default: euler,heun,lm unless --models is given)",
    )
    p.add_argument(
        "--models",
        type=csv_list(str, "model names"),
        default=[],
        help="presets to compare as well (see `odenets list`)",
    )
    _data_args(p)
    p.add_argument("--epochs", type=positive_int, help="epochs per run (default: per dataset)")
    p.add_argument(
        "--seeds",
        type=csv_list(int, "integers"),
        default=[0],
        help="seeds; several give mean ± std (default: 0)",
    )
    p.add_argument("--depth", type=positive_int, help="depth of every SolverNet")
    p.add_argument("--widths", type=csv_list(int, "integers"), help="stage widths, e.g. 16,32,64")
    p.add_argument("--tie", choices=TIES, default="none")
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--lr", type=float)
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="CPU threads (default: 1; these small nets gain nothing from more)",
    )
    p.add_argument("--out", help="write results.md, results.json and results.png here")
    p.add_argument("--json", action="store_true", help="print JSON results only")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_friendly(_run_compare))


def _run_compare(args) -> int:
    from .compare import CompareConfig, compare, markdown_table

    given = {f.name: getattr(args, f.name) for f in fields(CompareConfig) if hasattr(args, f.name)}
    if args.schemes is None:
        given["schemes"] = [] if args.models else ["euler", "heun", "lm"]
    results = compare(CompareConfig(**given, progress=not args.no_progress))
    payload = {"results": results}
    table = markdown_table(results)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.md").write_text(table + "\n")
        (out / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
        from .plots import plot_compare

        plot_compare(results, out / "results.png", title=f"odenets compare on {args.data}")
        print(f"wrote {out / 'results.md'}, results.json, results.png", file=sys.stderr)
    print(json.dumps(payload) if args.json else table)
    return 0


# ---------------------------------------------------------------- train


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model with checkpoints (torchrun-ready)")
    p.add_argument("--model", default="resnet20", help="preset name (see `odenets list`)")
    _model_args(p)
    _data_args(p)
    p.add_argument("--download", action="store_true", help="fetch CIFAR-10 into --data-dir")
    p.add_argument("--no-augment", action="store_true", help="train without augmentation")
    p.add_argument("--epochs", type=positive_int, default=10)
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=128,
        help="global batch size, split over torchrun processes (default: 128)",
    )
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    from .train import SCHEDULES

    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="step",
        help="step: lr/10 at 50%% and 75%% of the epochs (default); cosine; constant",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/train", help="folder for checkpoints and metrics")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
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
    p.add_argument("--threads", type=positive_int, help="CPU threads (default: PyTorch's choice)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--json", action="store_true", help="print each epoch's metrics as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_friendly(_run_train))


def _overrides(args) -> dict:
    return {
        k: v
        for k, v in (
            ("scheme", args.scheme),
            ("depth", args.depth),
            ("widths", args.widths),
            ("tie", args.tie),
            ("field", args.field),
        )
        if v is not None
    }


def _run_train(args) -> int:
    from .._validate import check_choice
    from ..networks.presets import list_models
    from .train import TrainConfig, train

    check_choice("model", args.model, list_models())
    config = TrainConfig(
        model=args.model,
        model_args=_overrides(args),
        data=args.data,
        data_dir=args.data_dir,
        download=args.download,
        augment=not args.no_augment,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        seed=args.seed,
        out=args.out,
        resume=args.resume,
        stop_after=args.stop_after,
        compile=args.compile,
        device=args.device,
        incremental=tuple(args.incremental or ()),
        progress=not args.no_progress,
    )

    def log(record: dict) -> None:
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            print(
                f"epoch {record['epoch']:>3}/{args.epochs}  loss {record['train_loss']:.4f}  "
                f"train {100 * record['train_accuracy']:.2f}%  "
                f"test {100 * record['test_accuracy']:.2f}%  lr {record['lr']:.3g}  "
                f"{record['seconds']:.1f}s",
                flush=True,
            )

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    result = train(config, log=log)
    if not args.json and result.history and result.info.main:
        print(
            f"best test accuracy {100 * result.best_accuracy:.2f}%; checkpoints in {args.out}",
            file=sys.stderr,
        )
    return 0


# ---------------------------------------------------------------- eval / transfer


def _load(path: str, data: str | None, data_dir: str | None):
    from ..networks.retime import retime
    from .checkpoint import build_model, load_checkpoint
    from .data import load_dataset

    ckpt = load_checkpoint(path)
    model = build_model(ckpt.get("model_spec"))
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        from .checkpoint import CheckpointError

        first = str(err).splitlines()[0]
        raise CheckpointError(
            f"checkpoint {path}: weights do not fit its model ({first})"
        ) from None
    steps = (ckpt.get("retime") or {}).get("steps")
    if steps:  # an incremental run: the net as it was last trained and evaluated
        model = retime(model, steps=steps)
    config = ckpt.get("config") or {}
    name = data or config.get("data")
    if name is None:
        raise ValueError(f"checkpoint {path} does not say its dataset: pass --data")
    dataset = load_dataset(name, data_dir=data_dir, seed=int(config.get("seed", 0)))
    if dataset.model_kwargs()["in_channels"] != getattr(model, "in_channels", None):
        raise ValueError(
            f"dataset {name!r} has {dataset.in_channels} input channels but the "
            f"checkpoint's model expects {getattr(model, 'in_channels', '?')}"
        )
    return ckpt, model, dataset


def add_eval(sub) -> None:
    p = sub.add_parser("eval", help="test accuracy of a checkpoint")
    p.add_argument("checkpoint", help="a last.pt / best.pt written by `odenets train`")
    _data_args(p, default=None)
    p.add_argument("--json", action="store_true", help="print JSON only")
    p.set_defaults(func=_friendly(_run_eval))


def _run_eval(args) -> int:
    from .train import evaluate

    ckpt, model, dataset = _load(args.checkpoint, args.data, args.data_dir)
    result = {
        "checkpoint": args.checkpoint,
        "data": dataset.name,
        "epoch": ckpt.get("epoch"),
        "test_loss": None,
        "test_accuracy": None,
    }
    metrics = evaluate(model, dataset)
    result["test_loss"], result["test_accuracy"] = metrics["loss"], metrics["accuracy"]
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.checkpoint}: {dataset.name} test accuracy "
            f"{100 * metrics['accuracy']:.2f}%  loss {metrics['loss']:.4f}"
        )
    return 0


def add_transfer(sub) -> None:
    p = sub.add_parser(
        "transfer", help="evaluate a weight-tied checkpoint under other schemes and step counts"
    )
    p.add_argument("checkpoint", help="checkpoint of a tie='all' model")
    p.add_argument(
        "--schemes", type=csv_list(str, "scheme names"), default=["euler", "heun", "rk4"]
    )
    p.add_argument(
        "--steps",
        type=csv_list(positive_int, "step counts"),
        default=[1, 2, 4, 8],
        help="steps per network stage (default: 1,2,4,8)",
    )
    _data_args(p, default=None)
    p.add_argument("--json", action="store_true", help="print JSON only")
    p.set_defaults(func=_friendly(_run_transfer))


def _run_transfer(args) -> int:
    from ..networks.retime import stage_steps
    from .compare import format_table
    from .transfer import transfer

    _, model, dataset = _load(args.checkpoint, args.data, args.data_dir)
    rows = transfer(model, dataset, args.schemes, args.steps)
    if args.json:
        print(
            json.dumps(
                {
                    "trained": {"scheme": model.scheme.name, "steps": stage_steps(model)},
                    "results": rows,
                }
            )
        )
        return 0
    print(
        f"trained with {model.scheme.name}, steps per stage {stage_steps(model)}; "
        f"test accuracy under other schemes / steps per stage:"
    )
    table = [["scheme"] + [f"{m} steps" for m in args.steps]]
    for scheme in dict.fromkeys(r["scheme"] for r in rows):
        table.append(
            [scheme] + [f"{100 * r['test_accuracy']:.2f}%" for r in rows if r["scheme"] == scheme]
        )
    print(format_table(table))
    return 0
