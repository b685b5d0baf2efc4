"""Figures of training dynamics, in the shared style of :mod:`odenets.workflow.plots`:

- :func:`optimizer_figure` / :func:`plot_optimizer_curves` (``odenets compare --optimizers``):
  training loss (log) and test accuracy against the epoch, one curve per optimizer, the mean
  over the seeds with a band of ± 1 standard deviation.
- :func:`batch_sweep_figure` / :func:`plot_batch_sweep` (``odenets batch-sweep``): the steps
  ``N(b)`` to a target and the SFO complexity ``N(b)·b`` against the batch size ``b``: every
  seed, the mean with min–max bars, the batch sizes that missed the target, the fit
  ``N(b) = A b / (b - B)`` and the critical batch size ``b* = 2B`` that minimises ``N(b)·b``.

Each ``plot_*`` saves its ``*_figure`` with :func:`odenets.workflow.plots.save_figure` (the
format from the suffix, 300 dpi raster).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import plots
from .plots import (
    REFERENCE_COLOR,
    figure_style,
    integer_axis,
    legend_outside,
    log_axis,
    new_figure,
    series_styles,
)

__all__ = [
    "batch_sweep_figure",
    "optimizer_figure",
    "plot_batch_sweep",
    "plot_optimizer_curves",
]


# ------------------------------------------------------------------------- optimizers


def optimizer_figure(payload: dict, title: str = ""):
    """Training loss (cross-entropy, the epoch's mean mini-batch loss; log scale) and test
    accuracy against the epoch, one curve per optimizer of
    :func:`odenets.workflow.optimizer_compare.compare_optimizers`: the mean over the seeds,
    with a band of ± 1 standard deviation when there are several seeds (every optimizer
    starts from the same weights for a given seed).

    Raises:
        ValueError: when no optimizer logged an epoch.
    """
    results = [r for r in payload["results"] if r["epochs"]]
    if not results:
        raise ValueError("nothing to plot: no optimizer logged an epoch")
    seeds = len(payload["config"]["seeds"])
    with figure_style():
        fig, (left, right) = new_figure(1, 2, width=8.0, height=3.4)
        styles = series_styles(len(results))
        losses: list[float] = []
        for r, style in zip(results, styles, strict=True):
            epochs = np.asarray(r["epochs"])
            every = max(1, len(epochs) // 10)
            label = f"{r['optimizer']} (lr {r['lr']:g})"
            for ax, key, scale in ((left, "train_loss", 1.0), (right, "test_accuracy", 100.0)):
                mean = scale * np.asarray(r[key]["mean"], dtype=float)
                std = scale * np.asarray(r[key]["std"], dtype=float)
                ax.plot(epochs, mean, markevery=every, label=label, zorder=3, **style)
                lo, hi = mean - std, mean + std
                if key == "train_loss":
                    lo = np.maximum(lo, mean / 10)  # a log axis: keep the band positive
                    losses += [*mean, *(lo if seeds > 1 else []), *(hi if seeds > 1 else [])]
                if seeds > 1:
                    ax.fill_between(
                        epochs, lo, hi, color=style["color"], alpha=0.14, linewidth=0, zorder=2
                    )
        log_axis(left.yaxis, losses)
        last = max(max(r["epochs"]) for r in results)
        first = min(min(r["epochs"]) for r in results)
        pad = 1.0 if last - first < 2 else max(0.3, 0.03 * (last - first))  # >= 2 integers
        for ax in (left, right):
            integer_axis(ax.xaxis)
            ax.set_xlim(first - pad, last + pad)
        left.set(
            xlabel="epoch",
            ylabel="training loss (cross-entropy, epoch mean)",
            title="training loss",
        )
        right.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
        what = (
            f"lines: mean over {seeds} seeds\nbands: ± 1 std (same start per seed)"
            if seeds > 1
            else "one seed (no bands;\nthe same initial weights for all)"
        )
        legend_outside(right, title=what)
        if title:
            fig.suptitle(title)
    return fig


def plot_optimizer_curves(payload: dict, path: str | Path, title: str = "") -> Path:
    """Save :func:`optimizer_figure` to ``path`` (any matplotlib format by its suffix)."""
    return plots.save_figure(optimizer_figure(payload, title), path)


# ------------------------------------------------------------------------- batch size


def _batch_axis(ax, sizes: Sequence[int], lo: float, hi: float) -> None:
    """Base-2 log axis from ``lo`` to ``hi``, ticks at the measured sizes and at the powers
    of two between them and the ends (unless one is within a factor 1.3 of a size)."""
    import math

    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    twos = [2.0**k for k in range(math.ceil(math.log2(lo)), math.floor(math.log2(hi)) + 1)]
    ticks = sorted({*sizes, *(t for t in twos if all(max(t, b) / min(t, b) >= 1.3 for b in sizes))})
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(lo, hi)


def batch_sweep_figure(payload: dict, title: str = ""):
    """Steps ``N(b)`` to the target (left) and SFO complexity ``N(b)·b`` (stochastic
    gradients, right) against the batch size, both log-log, from
    :func:`odenets.workflow.batch_size.batch_sweep`: each seed's measurement (grey dots), the
    mean with min–max bars, batch sizes where some seed missed the target (triangles at the
    step limit), the fitted ``N(b) = A b / (b - B)`` and, on the right, its minimiser
    ``b* = 2B`` (star and dashed line; "extrapolated" when outside the measured sizes).
    """
    from .batch_fit import StepsFit

    table = payload["table"]
    if not table:
        raise ValueError("nothing to plot: the sweep measured no batch size")
    sizes = [r["batch_size"] for r in table]
    fit = payload["fit"]
    model = StepsFit(**{**fit, "linear_guess": None}) if fit["A"] is not None else None
    star = fit["critical_batch"] if model is not None and fit["ok"] else None
    seeds = max(r["seeds"] for r in table)
    measured = (min(sizes) / 1.4, max(sizes) * 1.4)
    with_star = (min(measured[0], star / 1.4), max(measured[1], star * 1.4)) if star else measured
    styles = series_styles(4)
    with figure_style():
        fig, (left, right) = new_figure(1, 2, width=8.6, height=3.4)
        for ax, sfo in ((left, False), (right, True)):
            lo_b, hi_b = with_star if sfo else measured  # b* is drawn on the right only
            factor = (lambda r: r["batch_size"]) if sfo else (lambda r: 1)
            ys: list[float] = []
            dots = [(r["batch_size"], s * factor(r)) for r in table for s in r["steps"]]
            if dots:
                ax.plot(
                    [b for b, _ in dots],
                    [y for _, y in dots],
                    linestyle="none",
                    marker=".",
                    markersize=4,
                    markerfacecolor=REFERENCE_COLOR,
                    color=REFERENCE_COLOR,
                    label="each seed",
                    zorder=2,
                )
                ys += [y for _, y in dots]
            done = [r for r in table if "steps_mean" in r]
            if done:
                mean = np.array([r["steps_mean"] * factor(r) for r in done])
                low = np.array([r["steps_min"] * factor(r) for r in done])
                high = np.array([r["steps_max"] * factor(r) for r in done])
                container = ax.errorbar(
                    [r["batch_size"] for r in done],
                    mean,
                    yerr=[mean - low, high - mean],
                    color=styles[0]["color"],
                    marker=styles[0]["marker"],
                    linestyle="none",
                    markersize=6,
                    zorder=4,
                    label=f"mean over {seeds} seeds, bars min–max",
                )
                container.lines[0].set_linestyle("none")
                ys += [*low, *high]
            missed = [r for r in table if "steps_mean" not in r]
            if missed:
                limit = [r["step_limit"] * factor(r) for r in missed]
                ax.plot(
                    [r["batch_size"] for r in missed],
                    limit,
                    linestyle="none",
                    marker="^",
                    markersize=7,
                    color=styles[3]["color"],
                    zorder=4,
                    label="target missed by a seed (at the step limit)",
                )
                ys += limit
            if model is not None:
                grid = np.geomspace(lo_b, hi_b, 400)
                n = model.steps(grid)
                ok = np.isfinite(n) & (n > 0)
                y = n * grid if sfo else n
                ax.plot(
                    grid[ok],
                    y[ok],
                    color=styles[1]["color"],
                    linestyle="-",
                    marker="",
                    zorder=3,
                    label=f"fit N(b) = {fit['A']:.3g} b / (b − {fit['B']:.3g})",
                )
                ys += list(y[ok & (grid >= measured[0]) & (grid <= measured[1])])
            if sfo and star is not None:
                inside = min(sizes) <= star <= max(sizes)
                ax.axvline(
                    star, color=styles[2]["color"], linestyle="--", linewidth=1.0, label="_b*"
                )
                ax.plot(
                    [star],
                    [fit["min_sfo"]],
                    marker="*",
                    markersize=12,
                    color=styles[2]["color"],
                    linestyle="none",
                    zorder=5,
                    label=f"critical batch size b* = 2B = {star:.3g}"
                    + ("" if inside else " (extrapolated)"),
                )
                ys.append(fit["min_sfo"])
            log_axis(ax.yaxis, ys)
            _batch_axis(ax, sizes, lo_b, hi_b)
            positive = [v for v in ys if v > 0]
            if positive:
                ax.set_ylim(min(positive) / 1.25, max(positive) * 1.25)
        target = payload["config"]["target"]
        left.set(
            xlabel="batch size b",
            ylabel=f"steps N(b) to {target}",
            title="steps to the target",
        )
        right.set(
            xlabel="batch size b",
            ylabel="SFO complexity N(b)·b",
            title="stochastic gradients to the target",
        )
        handles: dict[str, object] = {}
        for ax in (left, right):
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(label, handle)
        legend_outside(right, list(handles.values()), list(handles))
        if title:
            fig.suptitle(title)
    return fig


def plot_batch_sweep(payload: dict, path: str | Path, title: str = "") -> Path:
    """Save :func:`batch_sweep_figure` to ``path`` (any matplotlib format by its suffix)."""
    return plots.save_figure(batch_sweep_figure(payload, title), path)
