"""``odenets train``: train a preset with checkpoints, exact resume and ``torchrun`` support."""

from __future__ import annotations

import json
import sys

from .cli_args import csv_list, data_args, friendly, model_args, positive_int

__all__ = ["add_train"]


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model with checkpoints (torchrun-ready)")
    p.add_argument("--model", default="resnet20", help="preset name (see `odenets list`)")
    model_args(p)
    data_args(p)
    p.add_argument("--download", action="store_true", help="fetch CIFAR-10 into --data-dir")
    p.add_argument("--no-augment", action="store_true", help="train without augmentation")
    p.add_argument("--epochs", type=positive_int, default=10)
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=128,
        help="global batch size, split over torchrun processes (default: 128)",
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
    p.set_defaults(func=friendly(_run_train))


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
        optimizer=args.optimizer,
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
