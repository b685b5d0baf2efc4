"""Figures of the deep-unfolding reproductions (``odenets unfold EXPERIMENT --plot FILE``).

Each figure takes the JSON-ready dict an :mod:`odenets.unfold.experiments` function returns and
uses the shared style of :mod:`odenets.workflow.plots` (distinct series triples, legends beside
the axes, integer iteration ticks, 300 dpi raster / vector output by suffix):

- ``seed``: the learned step of each unrolled iteration (bars) against the optimal first step
  and the plain GD step; iterations to ``|f'(x)| < tol`` for plain GD and the unfolded one.
- ``ridge``: error against iteration for every method (log); one period of the learned steps
  next to the Chebyshev steps; the learned ridge weight per iteration when it was learned —
  one column per training recipe for a side-by-side result (``{"recipes": {...}}``).
- ``quadratic``: error against iteration (log); the learned GD and heavy-ball steps; the
  learned momentum.
- ``lasso``: NMSE (dB) against iteration for unfolded ISTA and ISTA, with ISTA's NMSE after
  its longest run as a reference; the learned step and threshold per iteration.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .plots import (
    REFERENCE_COLOR,
    figure_style,
    integer_axis,
    legend_outside,
    new_figure,
    save_figure,
    series_styles,
)

__all__ = ["METHOD_LABELS", "method_label", "plot_unfold", "unfold_figure"]

#: Readable names of the methods in the experiments' result dicts.
METHOD_LABELS: dict[str, str] = {
    "du_gd": "DU-GD (learned steps)",
    "du_gd_lam": "DU-GD (learned steps and λ)",
    "du_hb": "unfolded heavy ball (learned h, β)",
    "constant": "GD, constant step 2/(λmin+λmax)",
    "chebyshev": "Chebyshev steps (period {period})",
    "chebyshev_full": "Chebyshev steps (period {steps})",
    "heavy_ball": "heavy ball (Polyak's h, β)",
    "cg": "conjugate gradient",
    "unfolded_ista": "unfolded ISTA (learned step, threshold)",
    "ista": "ISTA (step 1/L, threshold λ/L)",
}

_EXPERIMENTS = ("seed", "ridge", "quadratic", "lasso")


def method_label(name: str, **fields: Any) -> str:
    """The readable name of method id ``name`` (``fields`` fill ``{period}``, ``{steps}``);
    an unknown id is returned as it is."""
    text = METHOD_LABELS.get(name, name)
    try:
        return text.format(**fields)
    except KeyError:
        return text.replace(" (period {period})", "").replace(" (period {steps})", "")


def _seed_default(name: str) -> float:
    from ..unfold.experiments import seed_experiment

    return inspect.signature(seed_experiment).parameters[name].default


def _seed_figure(result: Mapping[str, Any], alpha: float | None, tol: float | None):
    alpha = _seed_default("alpha") if alpha is None else alpha
    tol = _seed_default("tol") if tol is None else tol
    steps = result["learned_steps"]
    fig, (ax, bx) = new_figure(1, 2, width=7.0, height=3.0, gridspec_kw={"width_ratios": [3, 2]})
    color = series_styles(1)[0]["color"]
    ax.bar(range(len(steps)), steps, color=color, alpha=0.35, edgecolor=color, label="_learned")
    ax.axhline(
        result.get("optimal_first_step", 0.5),
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"optimal first step {result.get('optimal_first_step', 0.5):g}",
    )
    ax.axhline(
        alpha, color=REFERENCE_COLOR, linestyle=":", linewidth=1.2, label=f"plain GD step {alpha:g}"
    )
    integer_axis(ax.xaxis)
    ax.set(
        xlabel="iteration t",
        ylabel="step size h_t",
        title=f"learned steps, f(x) = (x-1)², {len(steps)} unrolled",
    )
    legend_outside(ax)
    counts = {
        "plain GD": result["plain_iterations"],
        "DU-GD": result["unfolded_iterations"],
    }
    bars = bx.bar(range(len(counts)), [max(c, 0) for c in counts.values()], color=color, alpha=0.6)
    bx.bar_label(bars, [str(c) if c >= 0 else "not reached" for c in counts.values()], padding=2)
    bx.set_xticks(range(len(counts)), list(counts))
    bx.set_xlim(-0.6, len(counts) - 0.4)
    bx.set_ylim(0, max(max(counts.values()), 1) * 1.2)
    integer_axis(bx.yaxis)
    bx.set(
        xlabel="method (from x0 = 0)",
        ylabel=f"iterations to |f'(x)| < {tol:g}",
        title="iterations needed",
    )
    return fig


def _error_panel(ax, result: Mapping[str, Any], key: str) -> dict[str, dict[str, str]]:
    """Error against iteration, one series per method; returns each method's style so the
    other panels draw the same method the same way."""
    t = result["t"]
    fields = {"steps": t[-1]}
    if result.get("chebyshev_steps"):
        fields["period"] = len(result["chebyshev_steps"])
    curves = result[key]
    styles = dict(zip(curves, series_styles(len(curves)), strict=True))
    for name, curve in curves.items():
        ax.plot(
            t[: len(curve)],
            curve,
            **styles[name],
            markevery=max(1, len(curve) // 10),
            label=method_label(name, **fields),
        )
    if key == "mse":
        ax.set_yscale("log")
        ax.set(ylabel="error ‖x_t − x*‖² (batch mean)", title="error vs iteration")
    else:
        ax.set(ylabel="NMSE (dB)", title="NMSE vs iteration")
    ax.set_xlabel("iteration t")
    integer_axis(ax.xaxis)
    return styles


def _series(ax, ys, style: dict, label: str, x=None) -> None:
    x = list(range(len(ys))) if x is None else x
    ax.plot(x, ys, **style, markevery=max(1, len(ys) // 12), label=label)


def _ridge_columns(result: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """``{recipe: result}`` for a comparison (``{"recipes": ...}``) or a single run."""
    if "recipes" in result:
        return dict(result["recipes"])
    return {result.get("recipe", {}).get("name", "ridge"): result}


def _ridge_figure(result: Mapping[str, Any]):
    columns = _ridge_columns(result)
    lam = any("lam_values" in r for r in columns.values())
    n = len(columns)
    fig, axes = new_figure(
        3 if lam else 2,
        n,
        width=3.6 * n + 2.6,
        height=7.6 if lam else 5.6,
        gridspec_kw={"height_ratios": (3, 2, 2) if lam else (3, 2)},
    )
    for j, (name, r) in enumerate(columns.items()):
        column = axes[j::n]
        period = len(r["chebyshev_steps"])
        styles = _error_panel(column[0], r, "mse")
        if n > 1:
            column[0].set_title(f"recipe '{name}': error vs iteration")
        hx = column[1]
        slots = list(range(period))
        _series(hx, r["steps"][:period], styles["du_gd"], "DU-GD", slots)
        _series(hx, r["chebyshev_steps"], styles["chebyshev"], "Chebyshev", slots)
        if "lam_steps" in r:
            _series(hx, r["lam_steps"][:period], styles["du_gd_lam"], "DU-GD with λ", slots)
        hx.set(
            xlabel=f"slot k (iteration t = k mod {period})",
            ylabel="step size h_k",
            title=f"one period of the steps (T = {period})",
        )
        if lam:
            lx = column[2]
            if "lam_values" in r:
                _series(lx, r["lam_values"], styles["du_gd_lam"], "DU-GD with λ")
            lx.axhline(r.get("recipe", {}).get("lam", 3.0), **_REFERENCE, label="problem's λ")
            lx.set(
                xlabel="iteration t",
                ylabel="λ_t = |ξ_t|",
                title="learned ridge weight",
            )
        if j == n - 1:
            for ax in column:
                legend_outside(ax)
        for ax in column[1:]:
            integer_axis(ax.xaxis)
    return fig


_REFERENCE = {"color": REFERENCE_COLOR, "linestyle": ":", "linewidth": 1.2}


def _quadratic_figure(result: Mapping[str, Any]):
    fig, axes = new_figure(rows=(1, 2), row_heights=(3, 2), width=7.0, height=5.6)
    styles = _error_panel(axes[0], result, "mse")
    axes[0].set_title(f"error vs iteration (condition number {result['kappa']:.0f})")
    legend_outside(axes[0])
    _series(axes[1], result["gd_steps"], styles["du_gd"], "DU-GD")
    _series(axes[1], result["hb_steps"], styles["du_hb"], "unfolded heavy ball")
    axes[1].set(xlabel="iteration t", ylabel="step size h_t", title="learned steps")
    legend_outside(axes[1])
    _series(axes[2], result["hb_momentum"], styles["du_hb"], "_unfolded heavy ball")
    axes[2].set(xlabel="iteration t", ylabel="momentum β_t", title="learned momentum")
    for ax in axes[1:]:
        integer_axis(ax.xaxis)
    return fig


def _lasso_figure(result: Mapping[str, Any]):
    fig, axes = new_figure(rows=(1, 2), row_heights=(3, 2), width=7.0, height=5.6)
    ax = axes[0]
    styles = _error_panel(ax, result, "nmse_db")
    reached = {int(t): v for t, v in result.get("ista_nmse_db_at", {}).items()}
    if reached:
        longest = max(reached)
        ax.axhline(
            reached[longest],
            color=REFERENCE_COLOR,
            linestyle=(0, (1, 2)),
            linewidth=1,
            label=f"ISTA after {longest} iterations",
        )
    legend_outside(ax)
    style = styles["unfolded_ista"]
    _series(axes[1], result["steps"], style, "_steps")
    axes[1].set(xlabel="iteration t", ylabel="step size h_t", title="learned step")
    _series(axes[2], result["thresholds"], style, "_thresholds")
    axes[2].set(xlabel="iteration t", ylabel="threshold θ_t", title="learned threshold")
    for ax in axes[1:]:
        integer_axis(ax.xaxis)
    return fig


def unfold_figure(
    experiment: str,
    result: Mapping[str, Any],
    *,
    alpha: float | None = None,
    tol: float | None = None,
):
    """The Figure of one reproduction's result (see the module docstring for what it shows).

    Args:
        experiment: ``seed``, ``ridge``, ``quadratic`` or ``lasso``.
        result: the dict the matching ``*_experiment`` function returned.
        alpha, tol: for ``seed``, the plain GD step and the gradient tolerance of the run
            (default: :func:`~odenets.unfold.experiments.seed_experiment`'s defaults).
    """
    from .._validate import check_choice

    check_choice("experiment", experiment, _EXPERIMENTS)
    with figure_style():
        if experiment == "seed":
            return _seed_figure(result, alpha, tol)
        return {"ridge": _ridge_figure, "quadratic": _quadratic_figure, "lasso": _lasso_figure}[
            experiment
        ](result)


def plot_unfold(experiment: str, result: Mapping[str, Any], path: str | Path, **kw: Any) -> Path:
    """Save :func:`unfold_figure` to ``path`` (any format matplotlib writes, by suffix)."""
    return save_figure(unfold_figure(experiment, result, **kw), path)
