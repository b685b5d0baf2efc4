"""``odenets unfold seed|ridge|quadratic|lasso [--json] [--plot FILE]``.

Runs one reproduction of :mod:`odenets.unfold.experiments` and prints tables (error vs
iteration for every method, learned steps next to Chebyshev steps), or only JSON with
``--json``; ``--plot`` writes its figure (:mod:`odenets.workflow.plots_unfold`) in the format
the suffix names. Progress bars go to stderr.

``ridge`` runs one training recipe (``--recipe book``: Wadayama's notebook; ``--recipe
odenets``: ours) or both side by side (``--recipe both``, the default), each field of
:class:`~odenets.unfold.experiments.RidgeRecipe` overridable with ``--set KEY=VALUE``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._format import text_table
from .cli_args import CLIError
from .plots import check_figure_path

__all__ = ["EXPERIMENTS", "RECIPES", "add_unfold", "parse_settings", "plot_result", "report"]

#: The reproductions, each with what it shows (the order is the help's order).
EXPERIMENTS_HELP = {
    "seed": "DU-GD on f(x) = (x-1)^2: learned steps, iterations to |f'| < 1e-2",
    "ridge": "Wadayama's ridge regression: DU-GD vs constant, Chebyshev, heavy ball, CG",
    "quadratic": "unfolded heavy ball vs unfolded GD on a quadratic of condition number 100",
    "lasso": "unfolded ISTA (learned step, threshold) vs ISTA on sparse recovery",
}
EXPERIMENTS = tuple(EXPERIMENTS_HELP)
#: ``--recipe`` choices of ``ridge``: one of the named recipes, or both side by side.
RECIPES = ("both", "book", "odenets")
_MARKS = (1, 2, 5, 10, 16, 20, 30, 40, 50)
#: the iterations the side-by-side ridge table reports
_RIDGE_MARKS = (0, 10, 20, 50)


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
    p.add_argument(
        "--recipe",
        choices=RECIPES,
        default=None,
        help="ridge only: the training recipe, 'book' (Wadayama's DU-GD-Ridge notebook: "
        "y ~ N(0, I), xi per iteration, one Adam with eps 1e-8), 'odenets' (y = A x, period-4 "
        "lam, Adam reset per generation, eps 1e-30, decaying final phase) or 'both' side by "
        "side (default: both)",
    )
    p.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="ridge only: override a recipe field (repeatable), e.g. --set data=gaussian "
        "--set eps=1e-8; fields: n, m, lam, steps, data, batch, period, lam_period, "
        "init_step, inner_steps, final_steps, final_decay, lr, lr_lam, eps, reset, update, "
        "learn_lam, eval_batch (default: none)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` as typed :class:`~odenets.unfold.experiments.RidgeRecipe`
    overrides (ints, floats, bools ``true``/``false``, ``none`` where a field may be None)."""
    from dataclasses import fields

    from ..unfold.experiments import RidgeRecipe

    types = {f.name: str(f.type) for f in fields(RidgeRecipe)}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key:
            raise CLIError(f"--set expects KEY=VALUE, got {item!r}")
        if key not in types:
            from .._validate import unknown_name

            raise CLIError(str(unknown_name("ridge recipe field", key, types)))
        kind = types[key]
        try:
            out[key] = _parse_value(kind, text)
        except ValueError:
            raise CLIError(f"--set {key}: expected {kind}, got {text!r}") from None
    return out


def _parse_value(kind: str, text: str) -> Any:
    if "None" in kind and text.lower() == "none":
        return None
    base = kind.split("|")[0].strip()
    if base == "bool":
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(text)
        return text.lower() in ("true", "1")
    if base == "int":
        return int(text)
    if base == "float":
        return float(text)
    return text


def _run(args) -> int:
    from ..unfold import experiments

    check_figure_path(args.plot)
    if args.experiment != "ridge" and (args.recipe is not None or args.settings):
        raise CLIError(f"--recipe and --set apply to 'unfold ridge' only, not {args.experiment!r}")
    if args.experiment == "ridge":
        settings = parse_settings(args.settings)
        recipe = args.recipe or "both"
        kw = {"seed": args.seed, "progress": not args.quiet, **settings}
        experiments.ridge_recipe("odenets", **settings)  # bad settings fail before training
        if recipe == "both":
            result = experiments.ridge_comparison(**kw)
        else:
            result = experiments.ridge_experiment(recipe, **kw)
    else:
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
    if experiment == "ridge":
        return _ridge_report(result)
    lines = ["MSE ||x_t - x_opt||^2 / K vs iteration", _curves_table(result, "mse", ".3g")]
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


#: how the recipe table names each field's value
_DATA_TEXT = {"signal": "y = A x", "gaussian": "y ~ N(0, I)"}


def _recipe_rows(recipes: dict[str, dict[str, Any]]) -> list[list[str]]:
    def period(p: Any) -> str:
        return "per iteration" if p is None else f"period {p}"

    def init(v: Any) -> str:
        return "2/(lmin+lmax)" if v is None else f"{v:g}"

    spec = [
        ("data", lambda r: _DATA_TEXT.get(r["data"], r["data"])),
        ("batch K", lambda r: str(r["batch"])),
        ("generations x inner steps", lambda r: f"{r['steps']} x {r['inner_steps']}"),
        (
            "final steps (lr decay)",
            lambda r: f"{r['final_steps']} (to x{r['final_decay']:g})" if r["final_steps"] else "0",
        ),
        ("h: sharing, start", lambda r: f"{period(r['period'])}, {init(r['init_step'])}"),
        ("lam: sharing, start", lambda r: f"{period(r['lam_period'])}, {r['lam']:g}"),
        ("Adam lr h / lam", lambda r: f"{r['lr']:g} / {r['lr_lam']:g}"),
        ("Adam eps", lambda r: f"{r['eps']:g}"),
        ("Adam per generation", lambda r: "reset" if r["reset"] else "kept (one Adam)"),
        ("updates per batch", lambda r: r["update"]),
    ]
    rows = [["recipe", *recipes]]
    rows += [[label, *(fn(r) for r in recipes.values())] for label, fn in spec]
    return rows


def _ridge_report(result: dict[str, Any]) -> str:
    """Side-by-side tables for ``{"recipes": {...}}``, or those of one recipe."""
    results = result["recipes"] if "recipes" in result else {result["recipe"]["name"]: result}
    recipes = {name: r["recipe"] for name, r in results.items()}
    first = next(iter(results.values()))
    lmin, lmax = first["spectrum"]
    steps = len(first["t"]) - 1
    lines = [
        f"ridge regression: A {recipes[next(iter(recipes))]['m']} x "
        f"{recipes[next(iter(recipes))]['n']}, spectrum [{lmin:.2f}, {lmax:.2f}] "
        f"(kappa {lmax / lmin:.1f}), float64",
        text_table(_recipe_rows(recipes)),
        "",
        "MSE ||x_t - x_opt||^2 / K on the recipe's evaluation batch (its own data)",
    ]
    marks = [t for t in _RIDGE_MARKS if t <= steps]
    if steps not in marks:
        marks.append(steps)
    rows = [["method", "recipe", *(f"t={t}" for t in marks)]]
    for method in first["mse"]:
        for name, r in results.items():
            if method in r["mse"]:
                rows.append([method, name, *(f"{r['mse'][method][t]:.3g}" for t in marks)])
    lines.append(text_table(rows, align="right"))
    lines.append(
        "train seconds: "
        + "; ".join(
            f"{name}: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["train_seconds"].items())
            for name, r in results.items()
        )
    )
    lines.append(
        "learned values: "
        + "; ".join(
            f"{name}: " + ", ".join(f"{k} {v}" for k, v in r["parameters"].items())
            for name, r in results.items()
        )
    )
    period = len(first["chebyshev_steps"])
    cols: dict[str, list[float]] = {}
    for name, r in results.items():
        cols[f"{name} h"] = r["steps"][:period]
        if "lam_steps" in r:
            cols[f"{name} h (with lam)"] = r["lam_steps"][:period]
    cols["Chebyshev"] = first["chebyshev_steps"]
    lines += ["", f"learned steps h, one period (iterations t = slot mod {period})"]
    lines.append(_steps_table(cols))
    lams = {name: r["lam_values"] for name, r in results.items() if "lam_values" in r}
    if lams:
        lines += ["", "learned ridge weight |xi_t| per iteration t"]
        rows = [["t", *lams]]
        rows += [
            [str(t), *(f"{v[t]:.4f}" if t < len(v) else "" for v in lams.values())]
            for t in range(max(len(v) for v in lams.values()))
        ]
        lines.append(text_table(rows, align="right"))
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
