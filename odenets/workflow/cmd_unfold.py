"""``odenets unfold seed|ridge|quadratic|lasso [--json] [--plot FILE]``.

Runs one reproduction of :mod:`odenets.unfold.experiments` and prints tables (error vs
iteration for every method, learned steps next to Chebyshev steps), or only JSON with
``--json``; ``--plot`` writes its figure (:mod:`odenets.workflow.plots_unfold`) in the format
the suffix names. Progress bars go to stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._format import text_table
from .plots import check_figure_path

__all__ = ["EXPERIMENTS", "add_unfold", "plot_result"]

#: The reproductions, each with what it shows (the order is the help's order).
EXPERIMENTS_HELP = {
    "seed": "DU-GD on f(x) = (x-1)^2: learned steps, iterations to |f'| < 1e-2",
    "ridge": "Wadayama's ridge regression: DU-GD vs constant, Chebyshev, heavy ball, CG",
    "quadratic": "unfolded heavy ball vs unfolded GD on a quadratic of condition number 100",
    "lasso": "unfolded ISTA (learned step, threshold) vs ISTA on sparse recovery",
}
EXPERIMENTS = tuple(EXPERIMENTS_HELP)
_MARKS = (1, 2, 5, 10, 16, 20, 30, 40, 50)


def add_unfold(sub) -> None:
    """Add the ``unfold`` subcommand to an argparse ``subparsers`` object."""
    p = sub.add_parser(
        "unfold",
        help=f"deep-unfolding reproductions: {', '.join(EXPERIMENTS)}",
        description="Run one deep-unfolding reproduction and print its tables. Experiments: "
        + "; ".join(f"{k}: {v}" for k, v in EXPERIMENTS_HELP.items()),
    )
    p.add_argument(
        "experiment", choices=EXPERIMENTS, help=f"which reproduction: {', '.join(EXPERIMENTS)}"
    )
    p.add_argument("--json", action="store_true", help="print only JSON on stdout")
    p.add_argument(
        "--plot",
        metavar="FILE",
        help="write the experiment's figure; the suffix picks the format (.png at 300 dpi, "
        ".pdf, .svg, ...) (default: no figure)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the instance and batches")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..unfold import experiments

    check_figure_path(args.plot)
    run = getattr(experiments, f"{args.experiment}_experiment")
    result = run(seed=args.seed, progress=not args.quiet)
    if args.json:
        print(json.dumps(result))
    else:
        print(report(args.experiment, result))
    if args.plot:
        plot_result(args.experiment, result, args.plot)
    return 0


def _curves_table(result: dict[str, Any], key: str, fmt: str) -> str:
    curves = result[key]
    ts = [t for t in _MARKS if t < len(result["t"])]
    rows = [["method", *(f"t={t}" for t in ts)]]
    rows += [[name, *(format(c[t], fmt) for t in ts)] for name, c in curves.items()]
    return text_table(rows, align="right")


def report(experiment: str, result: dict[str, Any]) -> str:
    """Human-readable tables for one experiment's result dict."""
    if experiment == "seed":
        steps = ", ".join(f"{h:.4f}" for h in result["learned_steps"])
        return (
            f"plain GD (alpha=0.1) iterations to |f'| < 1e-2: {result['plain_iterations']}\n"
            f"unfolded GD iterations to |f'| < 1e-2:         {result['unfolded_iterations']}\n"
            f"learned steps: {steps}  (optimal first step 0.5)"
        )
    if experiment == "lasso":
        at = ", ".join(f"t={t}: {v:.1f} dB" for t, v in result["ista_nmse_db_at"].items())
        return "\n".join(
            [
                "NMSE (dB) vs iteration",
                _curves_table(result, "nmse_db", ".2f"),
                f"ISTA: {at}",
                f"ISTA iterations to reach the unfolded NMSE at t={result['t'][-1]}: "
                f"{result['ista_iterations_to_match']} (-1: not within "
                f"{result['ista_iterations_run']})",
                _steps_table({"step": result["steps"], "threshold": result["thresholds"]}),
            ]
        )
    lines = ["MSE ||x_t - x_opt||^2 / K vs iteration", _curves_table(result, "mse", ".3g")]
    if experiment == "ridge":
        period = len(result["chebyshev_steps"])
        cols = {"learned h": result["steps"][:period], "Chebyshev": result["chebyshev_steps"]}
        if "lam_steps" in result:
            cols["learned h (with lam)"] = result["lam_steps"][:period]
            cols["learned lam"] = result["lam_values"][:period]
        lines.append(_steps_table(cols))
    else:
        lines.append(
            _steps_table(
                {
                    "GD h": result["gd_steps"],
                    "HB h": result["hb_steps"],
                    "HB beta": result["hb_momentum"],
                }
            )
        )
    return "\n".join(lines)


def _steps_table(cols: dict[str, list[float]]) -> str:
    n = max(len(v) for v in cols.values())
    rows = [["slot", *cols]]
    rows += [
        [str(i), *(f"{v[i]:.5f}" if i < len(v) else "" for v in cols.values())] for i in range(n)
    ]
    return text_table(rows, align="right")


def plot_result(experiment: str, result: dict[str, Any], path: str | Path) -> Path:
    """Write the experiment's figure (:func:`odenets.workflow.plots_unfold.plot_unfold`)."""
    from .plots_unfold import plot_unfold

    return plot_unfold(experiment, result, path)
