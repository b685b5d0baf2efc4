"""``odenets compare``: train one small network per scheme (or preset) on several seeds and
report accuracy with confidence intervals, paired verdicts, cost and robustness; with
``--sweep`` along depth or widths, with accuracy-vs-cost curves.

The command dispatches on what is compared (``_run_schemes``, ``_run_sweep``); the output
helpers at the end (results folder, atomic JSON, figure paths) are shared by every branch.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import fields
from pathlib import Path

from .cli_args import csv_list, data_args, friendly, positive_int

__all__ = ["add_compare"]


def _sweep_arg(text: str) -> tuple[str, list]:
    from .compare import parse_sweep

    try:
        return parse_sweep(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _train_size(text: str) -> int | str:
    if text == "all":
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer or 'all', got {text!r}"
        ) from None


def _factors(text: str) -> list[float]:
    if text == "none":
        return []
    values = csv_list(float, "positive numbers (or 'none')")(text)
    if any(not v > 0 or v == float("inf") for v in values):
        raise argparse.ArgumentTypeError(
            f"expected positive step-size factors (or 'none'), got {text!r}"
        )
    return values


def _steps(text: str) -> list[int]:
    if text == "none":
        return []
    values = csv_list(int, "positive integers (or 'none')")(text)
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive step counts (or 'none'), got {text!r}")
    return values


def add_compare(sub) -> None:
    from ..networks.nets import TIES

    p = sub.add_parser(
        "compare",
        help="train one small net per scheme on several seeds: accuracy with intervals, "
        "paired verdicts, cost, robustness; --sweep for accuracy-vs-cost curves",
    )
    p.add_argument(
        "--schemes",
        type=csv_list(str, "scheme names"),
        help="schemes to compare; the first is the reference of the paired comparisons "
        "(default: euler,heun,lm unless --models is given)",
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
        default=[0, 1, 2, 3, 4],
        help="seeds: each fixes the initial weights and the data order, the same for every "
        "scheme (paired runs)",
    )
    p.add_argument("--depth", type=positive_int, help="depth of every SolverNet")
    p.add_argument("--widths", type=csv_list(int, "integers"), help="stage widths, e.g. 16,32,64")
    p.add_argument("--tie", choices=TIES, default="none", help="weight tying of every SolverNet")
    p.add_argument(
        "--batch-size", type=positive_int, help="batch size of every run (default: per dataset)"
    )
    p.add_argument(
        "--lr",
        type=float,
        help="learning rate of SGD with Nesterov momentum 0.9 (default: per dataset)",
    )
    p.add_argument(
        "--train-size",
        type=_train_size,
        help="train on a fixed class-stratified subset of N samples, or 'all' "
        "(default: per dataset; mnist1d 1000)",
    )
    p.add_argument(
        "--sweep",
        type=_sweep_arg,
        metavar="KEY=VALUES",
        help="repeat the comparison along depth (depth=8,14,20,32) or widths "
        "(widths=8/16/32,16/32/64) and plot accuracy against parameters and F-evaluations",
    )
    p.add_argument(
        "--max-runs",
        type=positive_int,
        default=60,
        help="budget: refuse (before training) a comparison or sweep of more networks",
    )
    p.add_argument(
        "--robustness",
        type=_factors,
        default=[0.5, 0.75, 1.25, 1.5, 2.0],
        metavar="FACTORS",
        help="re-evaluate every trained net with each step size h scaled by these factors "
        "('none': skip)",
    )
    p.add_argument(
        "--robustness-steps",
        type=_steps,
        default=[1, 2, 4, 8],
        metavar="STEPS",
        help="weight-tied nets (--tie all): also re-time every stage to these step counts "
        "('none': skip)",
    )
    p.add_argument(
        "--timing-repeats",
        type=positive_int,
        default=5,
        help="interleaved rounds of the train-step / inference timing (median reported)",
    )
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="CPU threads (these small nets gain nothing from more)",
    )
    p.add_argument(
        "--out",
        help="write results.md, results.json (updated after every run) and the figures here",
    )
    p.add_argument(
        "--plot",
        metavar="FILE",
        help="figure path; the suffix picks the format (.png at 300 dpi, .pdf, .svg, any "
        "format matplotlib writes); the robustness figure is written beside it as "
        "NAME_robustness.SUFFIX (default with --out: OUT/results.png; with --optimizers "
        "OUT/optimizers.png)",
    )
    p.add_argument("--json", action="store_true", help="print JSON results only")
    p.add_argument("--no-progress", action="store_true", help="no progress output on stderr")
    p.set_defaults(func=friendly(_run_compare))


def _run_compare(args) -> int:
    from .plots import check_figure_path

    check_figure_path(args.plot, creates=args.out)  # a bad path fails before any training
    if args.optimizers:
        from .optimizer_compare import run_from_args

        return run_from_args(args)
    if args.sweep is not None:
        return _run_sweep(args)
    return _run_schemes(args)


def _config(args):
    from .compare import CompareConfig

    given = {f.name: getattr(args, f.name) for f in fields(CompareConfig) if hasattr(args, f.name)}
    if args.schemes is None:
        given["schemes"] = [] if args.models else ["euler", "heun", "lm"]
    return CompareConfig(**given, progress=not args.no_progress).resolved()


def _run_schemes(args) -> int:
    """One comparison: table, notes, robustness table; JSON and figures on request."""
    from .compare import compare
    from .compare_tables import markdown_table, notes, robustness_table

    config = _config(args)
    out = _results_dir(args)
    record = _provenance(config)

    def save(results, complete=False) -> None:
        if out is not None:
            _write_json(
                out / "results.json",
                {"provenance": record, "complete": complete, "results": results},
            )

    results = compare(config, on_run=save)
    save(results, complete=True)
    robust = robustness_table(results)
    text = markdown_table(results) + "\n\n" + notes(results)
    if robust:
        text += (
            "\n\nTest accuracy (%) re-discretized (mean ± std over the seeds; ↑ / ↓: "
            f"distinguishable from {results[0]['label']} at the same re-discretization, "
            "paired t):\n\n" + robust
        )
    written = []
    if out is not None:
        _write_text(out / "results.md", text + "\n")
        written += [out / "results.md", out / "results.json"]
    figure = _figure_path(args, out)
    if figure is not None and not any(r["test_accuracy"] is not None for r in results):
        print("odenets: compare: no figure: every run diverged", file=sys.stderr)
        figure = None
    if figure is not None:
        from .plots_compare import plot_compare, plot_robustness

        written.append(plot_compare(results, figure, title=_title(config)))
        if any(r["robustness"] for r in results if r["test_accuracy"] is not None):
            written.append(
                plot_robustness(
                    results,
                    figure.with_name(figure.stem + "_robustness" + figure.suffix),
                    title=f"re-discretized: {_title(config)}",
                )
            )
    _report(written, results)
    payload = {"provenance": record, "complete": True, "results": results}
    print(json.dumps(_finite(payload)) if args.json else text)
    return 0


def _run_sweep(args) -> int:
    """The comparison at every value of one axis; curves of accuracy against cost."""
    from .compare import sweep
    from .compare_tables import sweep_table

    key, values = args.sweep
    if getattr(args, key, None) is not None:
        raise ValueError(f"--{key} and --sweep {key}=... both set the {key}: give one")
    config = _config(args)
    out = _results_dir(args)
    record = _provenance(config)
    meta = {"key": key, "values": [list(v) if key == "widths" else v for v in values]}

    def save(points, complete=False) -> None:
        if out is not None:
            _write_json(
                out / "results.json",
                {"provenance": record, "complete": complete, "sweep": meta, "points": points},
            )

    points = sweep(config, key, values, on_point=save)
    save(points, complete=True)
    text = sweep_table(points)
    written = []
    if out is not None:
        _write_text(out / "results.md", text + "\n")
        written += [out / "results.md", out / "results.json"]
    figure = _figure_path(args, out)
    if figure is not None and not any(
        r["test_accuracy"] is not None for p in points for r in p["results"]
    ):
        print("odenets: compare: no figure: every run diverged", file=sys.stderr)
        figure = None
    if figure is not None:
        from .plots_compare import plot_sweep

        written.append(plot_sweep(points, figure, title=f"{_title(config)}, sweep over {key}"))
    _report(written, [r for p in points for r in p["results"]])
    payload = {"provenance": record, "complete": True, "sweep": meta, "points": points}
    print(json.dumps(_finite(payload)) if args.json else text)
    return 0


# ----------------------------------------------------------------------------- outputs


def _title(config) -> str:
    size = "" if config.train_size == "all" else f", {config.train_size} training samples"
    return f"odenets compare on {config.data}{size}"


def _provenance(config) -> dict:
    from .provenance import provenance

    return provenance({"command": "compare", "argv": sys.argv[1:], **config.__dict__})


def _results_dir(args) -> Path | None:
    if not args.out:
        return None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _figure_path(args, out: Path | None) -> Path | None:
    if args.plot:
        return Path(args.plot).expanduser()
    return None if out is None else out / "results.png"


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file renamed over it), with the
    user's umask."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _finite(obj):
    """``obj`` with NaN and infinite floats as ``None`` (JSON has neither)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _write_json(path: Path, payload: dict) -> None:
    _write_text(path, json.dumps(_finite(payload), indent=2, allow_nan=False) + "\n")


def _report(written: list[Path], rows: list[dict]) -> None:
    if written:
        names = [str(written[0]), *(p.name for p in written[1:])]
        print(f"wrote {', '.join(names)}", file=sys.stderr)
    runs = sum(r["n_runs"] for r in rows)
    diverged = sum(r["n_diverged"] for r in rows)
    if diverged:
        print(
            f"odenets: compare: {diverged} of {runs} runs diverged; they are recorded as "
            "diverged and the statistics use the finished seeds",
            file=sys.stderr,
        )
