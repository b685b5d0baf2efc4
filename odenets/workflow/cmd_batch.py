"""``odenets batch-sweep``: steps to a target per batch size, and the critical batch size."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .cli_args import csv_list, data_args, friendly, model_args, positive_int

__all__ = ["add_batch_sweep"]


def _positive_float(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_batch_sweep(sub) -> None:
    from .batch_size import LR_RULES
    from .optimizers import list_optimizers

    p = sub.add_parser(
        "batch-sweep",
        help="steps N(b) to a target per batch size; fit N(b) and the critical batch size",
        description="Train until --target holds for every batch size and seed, fit "
        "N(b) = A b / (c b - B) and report the critical batch size b* = 2B/c minimising N(b)·b "
        "(Sato & Iiduka 2023). See docs/batch-size.md.",
    )
    p.add_argument(
        "--model",
        help="preset name (default: SolverNet euler, depth 8, widths 8,16,32; --scheme, "
        "--depth, ... override either)",
    )
    model_args(p)
    data_args(p)
    p.add_argument(
        "--batch-sizes",
        type=csv_list(positive_int, "batch sizes"),
        default=[4, 8, 16, 32, 64, 128, 256, 512, 1024],
        help="comma-separated (default: 4,8,...,1024)",
    )
    p.add_argument(
        "--target",
        default="train_loss<0.1",
        help="stop condition METRIC<VALUE or METRIC>VALUE, METRIC one of train_loss, "
        "train_accuracy, test_loss, test_accuracy (default: train_loss<0.1)",
    )
    p.add_argument("--seeds", type=csv_list(int, "integers"), default=[0, 1], help="default: 0,1")
    p.add_argument(
        "--optimizer",
        default="momentum",
        help=f"{', '.join(list_optimizers())} (default: momentum)",
    )
    p.add_argument("--lr", type=float, help="rate at --reference-batch (default: the optimizer's)")
    p.add_argument(
        "--lr-rule",
        choices=LR_RULES,
        default="constant",
        help="rate per batch size: constant lr, linear lr·b/b_ref, sqrt lr·sqrt(b/b_ref)",
    )
    p.add_argument("--reference-batch", type=positive_int, default=128, help="b_ref (default 128)")
    p.add_argument("--momentum", type=float, help="default: the optimizer's")
    p.add_argument("--weight-decay", type=float, default=0.0, help="default: 0")
    p.add_argument(
        "--eval-every",
        type=positive_int,
        default=5,
        help="steps between checks of the target (default: 5)",
    )
    p.add_argument(
        "--eval-subset",
        type=positive_int,
        help="check training metrics on this many training samples (default: all)",
    )
    p.add_argument(
        "--max-epochs",
        type=_positive_float,
        default=100.0,
        help="give up a run after this many passes over the data (default: 100)",
    )
    p.add_argument("--max-steps", type=positive_int, help="give up a run after this many steps")
    p.add_argument("--augment", action="store_true", help="train with the data's augmentation")
    p.add_argument("--out", default="runs/batch-sweep", help="folder for sweep.json, sweep.md")
    p.add_argument(
        "--plot",
        help="figure path; the suffix picks the format (.png at 300 dpi, .pdf, .svg, any "
        "format matplotlib writes) (default: <out>/sweep.png)",
    )
    p.add_argument("--threads", type=positive_int, default=1, help="CPU threads (default: 1)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--json", action="store_true", help="print the JSON payload only")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=friendly(_run_batch_sweep))


def _model_args(args) -> dict:
    given = {
        k: getattr(args, k)
        for k in ("scheme", "depth", "widths", "tie", "field")
        if getattr(args, k) is not None
    }
    if args.model is not None:
        return given
    return {"scheme": "euler", "depth": 8, "widths": [8, 16, 32], **given}


def _run_batch_sweep(args) -> int:
    from .._validate import check_choice
    from ..networks.presets import list_models
    from .batch_size import (
        BatchSweepConfig,
        batch_sweep,
        markdown_table,
        parse_target,
        write_payload,
    )
    from .plots import check_figure_path
    from .plots_training import plot_batch_sweep

    if args.model is not None:
        check_choice("model", args.model, list_models())
    out = Path(args.out)
    check_figure_path(args.plot, creates=out)  # a bad path fails before any training
    plot = Path(args.plot).expanduser() if args.plot else out / "sweep.png"
    config = BatchSweepConfig(
        batch_sizes=args.batch_sizes,
        target=parse_target(args.target),
        model=args.model,
        model_args=_model_args(args),
        data=args.data,
        data_dir=args.data_dir,
        augment=args.augment,
        seeds=args.seeds,
        optimizer=args.optimizer,
        lr=args.lr,
        lr_rule=args.lr_rule,
        reference_batch=args.reference_batch,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        eval_every=args.eval_every,
        eval_subset=args.eval_subset,
        max_epochs=args.max_epochs,
        max_steps=args.max_steps,
        device=args.device,
        threads=args.threads,
        progress=not args.no_progress,
    )
    config.checked()  # everything but the training-set size, before loading the data

    # the table and JSON after every batch size (nothing is lost on a stop), the figure at the end
    payload = batch_sweep(config, on_update=lambda p: write_payload(p, out))
    out.mkdir(parents=True, exist_ok=True)  # a figure inside --out needs the folder
    plot_batch_sweep(payload, plot, title=_title(payload))
    print(json.dumps(payload) if args.json else markdown_table(payload))
    if payload["unreached"]:
        missed = sorted({r["batch_size"] for r in payload["unreached"]})
        print(
            f"odenets: error: target {args.target} not reached at batch size(s) "
            f"{', '.join(map(str, missed))} within the step limit (--max-epochs "
            f"{args.max_epochs:g}{f', --max-steps {args.max_steps}' if args.max_steps else ''}); "
            f"partial results in {out}",
            file=sys.stderr,
        )
        return 2
    print(f"wrote {out / 'sweep.json'}, sweep.md, {plot}", file=sys.stderr)
    return 0


def _title(payload: dict) -> str:
    c, a = payload["config"], payload["config"]["model_args"]
    widths = "/".join(map(str, a.get("widths", [])))
    net = c["model"] or f"SolverNet({a.get('scheme')}, depth {a.get('depth')}, widths {widths})"
    lr = payload["table"][0]["lr"] if payload["table"] else c["lr"]
    rule = (
        f"lr {lr:.3g}"
        if c["lr_rule"] == "constant"
        else f"{c['lr_rule']} lr rule from b_ref = {c['reference_batch']}"
    )
    return f"{net} on {c['data']}: {c['optimizer']}, {rule}"
