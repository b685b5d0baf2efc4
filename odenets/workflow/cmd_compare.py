"""``odenets compare``: train one small network per scheme (or preset) and tabulate them."""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path

from .cli_args import csv_list, data_args, friendly, positive_int

__all__ = ["add_compare"]


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
    p.add_argument(
        "--optimizers",
        type=csv_list(str, "optimizer names"),
        help="instead: one net per optimizer from the same start, e.g. sgd,momentum,adam "
        "(docs/optimizers.md)",
    )
    data_args(p)
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
    p.set_defaults(func=friendly(_run_compare))


def _run_compare(args) -> int:
    if args.optimizers:
        from .optimizer_compare import run_from_args

        return run_from_args(args)
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
