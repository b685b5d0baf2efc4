"""``odenets unfold seed|ridge|quadratic|lasso [--json] [--plot out.png]``.

Runs one reproduction of :mod:`odenets.unfold.experiments` and prints tables (error vs
iteration for every method, learned steps next to Chebyshev steps), or only JSON with
``--json``. Progress bars go to stderr.
"""

from __future__ import annotations

import json
from typing import Any

from .._format import text_table
from .plots import check_png, pyplot

__all__ = ["EXPERIMENTS", "add_unfold", "plot_result"]

EXPERIMENTS = ("seed", "ridge", "quadratic", "lasso")
_MARKS = (1, 2, 5, 10, 16, 20, 30, 40, 50)


def add_unfold(sub) -> None:
    """Add the ``unfold`` subcommand to an argparse ``subparsers`` object."""
    p = sub.add_parser("unfold", help="deep unfolding reproductions (DU-GD, heavy ball, ISTA)")
    p.add_argument("experiment", choices=EXPERIMENTS, help="which reproduction to run")
    p.add_argument("--json", action="store_true", help="print only JSON on stdout")
    p.add_argument("--plot", metavar="PNG", help="write a plot (log error vs t, learned steps)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the instance and batches")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..unfold import experiments

    check_png(args.plot)
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


def plot_result(experiment: str, result: dict[str, Any], path: str) -> None:
    """Write a PNG: error (log) vs iteration for every method, and the learned steps (next to
    the Chebyshev steps for ``ridge``)."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    if experiment == "seed":
        ax1.bar(range(len(result["learned_steps"])), result["learned_steps"])
        ax1.axhline(0.5, color="k", ls="--", lw=1, label="optimal first step 0.5")
        ax1.set(xlabel="iteration", ylabel="learned step", title="f(x) = (x-1)^2")
        ax1.legend()
        ax2.axis("off")
    else:
        key = "nmse_db" if experiment == "lasso" else "mse"
        for name, curve in result[key].items():
            ax1.plot(result["t"][: len(curve)], curve, label=name)
        if key == "mse":
            ax1.set_yscale("log")
        ax1.set(xlabel="iteration t", ylabel="NMSE (dB)" if key == "nmse_db" else "MSE")
        ax1.legend(fontsize=8)
        steps = result.get("steps", result.get("gd_steps"))
        ax2.plot(steps, "o-", label="learned steps" if "steps" in result else "learned GD steps")
        if "hb_steps" in result:
            ax2.plot(result["hb_steps"], "^-", label="learned heavy-ball h")
        if "chebyshev_steps" in result:
            cheb = result["chebyshev_steps"]
            ax2.plot(
                [cheb[i % len(cheb)] for i in range(len(steps))],
                "s--",
                label="Chebyshev steps (period)",
            )
        ax2.set(xlabel="iteration", ylabel="step size")
        ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
