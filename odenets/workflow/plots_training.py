"""Figures of training dynamics: loss-versus-epoch curves per optimizer and the critical
batch-size sweep (matplotlib, imported lazily).

Paper style: labelled axes with units, one colour and one marker per series, legends that say
what the bands and error bars are, 300 dpi; the file format follows the extension.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .plots import pyplot

__all__ = ["MARKERS", "check_figure_path", "plot_batch_sweep", "plot_optimizer_curves"]

#: One marker per series, in order (colours follow matplotlib's tab10 cycle).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
DPI = 300


def check_figure_path(path: str | Path | None) -> Path | None:
    """A figure path must end in a format matplotlib writes (.png, .pdf, .svg, ...)."""
    if path is None:
        return None
    path = Path(path)
    plt = pyplot()
    fig = plt.figure()
    formats = sorted(fig.canvas.get_supported_filetypes())
    plt.close(fig)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in formats:
        raise ValueError(
            f"figure path must end in one of .{', .'.join(formats)} (the format follows the "
            f"extension), got {str(path)!r}"
        )
    return path


def _series_style(i: int) -> dict:
    return {"color": f"C{i % 10}", "marker": MARKERS[i % len(MARKERS)]}


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    pyplot().close(fig)
    return path


def plot_optimizer_curves(payload: dict, path: str | Path, title: str = "") -> Path:
    """Training loss (log scale) and test accuracy against epoch, one series per optimizer, from
    :func:`odenets.workflow.optimizer_compare.compare_optimizers`: the mean over seeds, with a
    band of ± one standard deviation when there are several seeds."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    seeds = len(payload["config"]["seeds"])
    for i, r in enumerate(payload["results"]):
        if not r["epochs"]:
            continue
        style = _series_style(i)
        epochs = np.asarray(r["epochs"])
        every = max(1, len(epochs) // 10)
        label = f"{r['optimizer']} (lr {r['lr']:g})"
        for ax, key, scale in ((left, "train_loss", 1.0), (right, "test_accuracy", 100.0)):
            mean = scale * np.asarray(r[key]["mean"])
            std = scale * np.asarray(r[key]["std"])
            ax.plot(epochs, mean, markevery=every, markersize=5, lw=1.5, label=label, **style)
            if seeds > 1:
                lo = np.maximum(mean - std, 1e-6) if key == "train_loss" else mean - std
                ax.fill_between(epochs, lo, mean + std, color=style["color"], alpha=0.18, lw=0)
    left.set_yscale("log")
    left.set_ylabel("training loss (cross-entropy, epoch mean)")
    right.set_ylabel("test accuracy (%)")
    from matplotlib.ticker import MaxNLocator

    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3, which="both")
    what = (
        f"lines: mean over {seeds} seeds; bands: ± 1 std"
        if seeds > 1
        else "one seed (same initial weights for every optimizer)"
    )
    right.legend(fontsize=8, title=what, title_fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _batch_axis(ax, sizes: Sequence[int]) -> None:
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(list(sizes)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(b) for b in sizes])
    ax.set_xlabel("batch size b")
    ax.grid(alpha=0.3, which="major")


def plot_batch_sweep(payload: dict, path: str | Path, title: str = "") -> Path:
    """Steps ``N(b)`` and SFO complexity ``N(b)·b`` against the batch size, from
    :func:`odenets.workflow.batch_size.batch_sweep`: every seed's measurement (small dots), the
    mean with min–max error bars, batch sizes whose target was not reached (upward triangles
    at the step limit), the fitted ``N(b) = A b / (c b - B)`` and its minimum ``b* = 2B/c``."""
    from .batch_size import StepsFit

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    table = payload["table"]
    sizes = [r["batch_size"] for r in table]
    fit = payload["fit"]
    model = StepsFit(**{**fit, "linear_guess": None}) if fit["A"] is not None else None
    seeds = max(r["seeds"] for r in table) if table else 0
    for ax, sfo in ((left, False), (right, True)):
        done = [r for r in table if "steps_mean" in r]
        factor = (lambda r: r["batch_size"]) if sfo else (lambda r: 1)
        for r in table:
            ax.scatter(
                [r["batch_size"]] * len(r["steps"]),
                [s * factor(r) for s in r["steps"]],
                s=9, color="0.55", zorder=2, lw=0,
            )  # fmt: skip
        if done:
            b = np.array([r["batch_size"] for r in done])
            mean = np.array([r["steps_mean"] * factor(r) for r in done])
            lo = mean - np.array([r["steps_min"] * factor(r) for r in done])
            hi = np.array([r["steps_max"] * factor(r) for r in done]) - mean
            ax.errorbar(
                b, mean, yerr=[lo, hi], fmt="o", color="C0", ms=6, capsize=3, zorder=3,
                label=f"measured: mean, bars min–max over {seeds} seeds (dots: each seed)",
            )  # fmt: skip
        missed = [r for r in table if "steps_mean" not in r]
        if missed:
            ax.scatter(
                [r["batch_size"] for r in missed],
                [r["step_limit"] * factor(r) for r in missed],
                marker="^", s=50, color="C3", zorder=3,
                label="target not reached by every seed (at the step limit)",
            )  # fmt: skip
        if model is not None:
            grid = np.geomspace(min(sizes) / 1.3, max(sizes) * 1.3, 400)
            n = model.steps(grid)
            ok = np.isfinite(n) & (n > 0)
            y = n * grid if sfo else n
            ax.plot(
                grid[ok], y[ok], "-", color="C1", lw=1.8, zorder=1,
                label=f"fit N(b) = {fit['A']:.3g} b / (b − {fit['B']:.3g})",
            )  # fmt: skip
        ax.set_yscale("log")
        _batch_axis(ax, sizes)
    if model is not None and fit["ok"]:
        star = fit["critical_batch"]
        right.axvline(star, color="C2", ls="--", lw=1.2)
        right.plot(
            [star], [fit["min_sfo"]], marker="*", ms=16, color="C2", ls="none", zorder=4,
            label=f"critical batch size b* = 2B/c = {star:.1f}",
        )  # fmt: skip
    target = payload["config"]["target"]
    left.set_ylabel(f"steps N(b) to {target}")
    right.set_ylabel("SFO complexity N(b)·b (stochastic gradients)")
    left.legend(fontsize=7, loc="upper right")
    right.legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
