"""``odenets eval`` and ``odenets transfer``: test a checkpoint, or re-time a weight-tied one with
other schemes and step counts."""

from __future__ import annotations

import json

from .cli_args import csv_list, data_args, friendly, positive_int

__all__ = ["add_eval", "add_transfer"]


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
    data_args(p, default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object only")
    p.set_defaults(func=friendly(_run_eval))


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
        "transfer",
        help="evaluate a weight-tied checkpoint under other schemes and step counts",
    )
    p.add_argument("checkpoint", help="checkpoint of a tie='all' model")
    p.add_argument(
        "--schemes",
        type=csv_list(str, "scheme names"),
        default=["euler", "heun", "rk4"],
        help="schemes to re-time the trained net with",
    )
    p.add_argument(
        "--steps",
        type=csv_list(positive_int, "step counts"),
        default=[1, 2, 4, 8],
        help="steps per network stage",
    )
    data_args(p, default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object only")
    p.set_defaults(func=friendly(_run_transfer))


def _run_transfer(args) -> int:
    from ..networks.retime import stage_steps
    from .compare_tables import format_table
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
