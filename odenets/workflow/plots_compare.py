"""Figures of :mod:`odenets.workflow.compare`: accuracy against cost (parameters,
F-evaluations per forward) for a comparison or a sweep, and accuracy under
re-discretization.

Each series has its own colour, marker and line style; error bars are Student-t confidence
intervals over the seeds and the figure says so; integer axes get integer ticks. The format
follows the file name's extension (any format matplotlib writes: ``.png`` at 300 dpi,
``.pdf``, ``.svg``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "check_figure_path",
    "figure_formats",
    "plot_compare",
    "plot_robustness",
    "plot_sweep",
]

_COLORS = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
    "#F0E442",
)
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
_DODGE_POINTS = 3.0
_LINES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))


def _style(i: int) -> dict:
    """Colour, marker and line style of series ``i``: all three differ between neighbours,
    and the triple repeats only after lcm(8, 12, 6) = 24 series."""
    return {
        "color": _COLORS[i % len(_COLORS)],
        "marker": _MARKERS[i % len(_MARKERS)],
        "linestyle": _LINES[i % len(_LINES)],
    }


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: `pip install odenets[examples]`") from None
    return plt


def figure_formats() -> list[str]:
    """File extensions matplotlib can write (``png``, ``pdf``, ``svg``, ...)."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise ImportError("plots need matplotlib: `pip install odenets[examples]`") from None
    return sorted(FigureCanvasBase.get_supported_filetypes())


def check_figure_path(path: str | Path | None) -> Path | None:
    """``path`` as a Path if matplotlib can write its format (by extension), else a
    ``ValueError`` listing the formats; ``None`` passes through."""
    if path is None:
        return None
    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    formats = figure_formats()
    if ext not in formats:
        raise ValueError(
            f"cannot write a figure to {str(path)!r}: the extension must name a format "
            f"matplotlib writes ({', '.join(formats)})"
        )
    return path


def _save(fig, path: str | Path) -> Path:
    plt = _pyplot()
    path = check_figure_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=300, bbox_inches="tight")
    plt.close(fig)
    return path


def _err(summary: dict) -> tuple[float, list[list[float]] | None]:
    """(mean %, asymmetric error bar from the CI) of a row with ``test_accuracy*`` keys."""
    mean = 100 * summary["test_accuracy"]
    ci = summary.get("test_accuracy_ci")
    if ci is None:
        return mean, None
    return mean, [[mean - 100 * ci[0]], [100 * ci[1] - mean]]


def _thousands(ax) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, min_n_ticks=3))
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda x, _: f"{x / 1000:g}k" if abs(x) >= 1000 else f"{x:g}")
    )


def _integer_ticks(ax) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.0f}"))


def _include(ax, xs, ys, lo, hi) -> None:
    """Tell the autoscaler about points drawn with a dodged transform (it only sees data
    drawn in plain data coordinates)."""
    ax.update_datalim(
        [(x, y - a) for x, y, a in zip(xs, ys, lo, strict=True)]
        + [(x, y + b) for x, y, b in zip(xs, ys, hi, strict=True)]
    )
    ax.autoscale_view()


def _dodge(ax, i: int, n: int):
    """Data coordinates shifted right by a few points for series ``i`` of ``n``, so that
    series at the same x (e.g. euler and lm have the same cost) stay visible side by side."""
    from matplotlib.transforms import ScaledTranslation

    shift = (i - (n - 1) / 2) * _DODGE_POINTS / 72
    return ax.transData + ScaledTranslation(shift, 0, ax.figure.dpi_scale_trans)


def _bars_label(results: Sequence[dict]) -> str:
    n = max(r["n_runs"] for r in results)
    level = f"{100 * results[0].get('confidence', 0.95):g}%"
    dodge = f"; series offset {_DODGE_POINTS:g} pt"
    if n < 2:
        return "1 seed: no error bars" + dodge
    return f"error bars: {level} CI over {n} seeds (Student t)" + dodge


def _axes_pair(plt, title: str, note: str):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    axes[0].set_xlabel("parameters (count)")
    axes[1].set_xlabel("residual-function evaluations per forward (count)")
    axes[0].set_ylabel("test accuracy (%)")
    _thousands(axes[0])
    _integer_ticks(axes[1])
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(title + (f"\n{note}" if note else ""), fontsize=11)
    return fig, axes


def _legend(fig, ax) -> None:
    """One legend for the figure, below the panels, where it cannot cover data."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(len(labels), 6),
        fontsize=9,
        frameon=False,
    )


def _usable(results: Sequence[dict]) -> list[dict]:
    return [r for r in results if r.get("test_accuracy") is not None]


def plot_compare(results: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """Test accuracy of each compared entry against its parameter count and against its
    F-evaluations per forward (one marker per entry, CI error bars)."""
    plt = _pyplot()
    rows = _usable(results)
    if not rows:
        raise ValueError("nothing to plot: every run diverged")
    fig, axes = _axes_pair(plt, title or "accuracy against cost", _bars_label(rows))
    for ax, key in zip(axes, ("params", "f_evals"), strict=True):
        for i, r in enumerate(rows):
            mean, err = _err(r)
            style = _style(i)
            ax.errorbar(
                r[key],
                mean,
                yerr=err,
                capsize=4,
                color=style["color"],
                marker=style["marker"],
                markersize=7,
                linestyle="none",
                label=r["label"],
                transform=_dodge(ax, i, len(rows)),
            )
            lo, hi = (0.0, 0.0) if err is None else (err[0][0], err[1][0])
            _include(ax, [r[key]], [mean], [lo], [hi])
        ax.margins(x=0.15, y=0.15)
    _legend(fig, axes[1])
    return _save(fig, path)


def plot_sweep(points: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """Accuracy-vs-parameters and accuracy-vs-F-evaluations curves, one per scheme, through
    the sweep's values (each point labelled with its value), CI error bars."""
    plt = _pyplot()
    if not points:
        raise ValueError("nothing to plot: the sweep has no points")
    key = points[0]["key"]
    names: list[str] = []
    for point in points:
        for r in point["results"]:
            if r["label"] not in names:
                names.append(r["label"])
    every = [r for p in points for r in p["results"]]
    if not _usable(every):
        raise ValueError("nothing to plot: every run diverged")
    note = f"{_bars_label(every)}; labels: {key}"
    fig, axes = _axes_pair(plt, title or f"accuracy against cost, sweep over {key}", note)
    labelled: list[tuple] = []
    for i, name in enumerate(names):
        series = [
            (p["value"], r)
            for p in points
            for r in p["results"]
            if r["label"] == name and r["test_accuracy"] is not None
        ]
        if not series:
            continue
        style = _style(i)
        for ax, k in zip(axes, ("params", "f_evals"), strict=True):
            xs = [r[k] for _, r in series]
            ys, lo, hi = [], [], []
            for _, r in series:
                mean, err = _err(r)
                ys.append(mean)
                lo.append(0.0 if err is None else err[0][0])
                hi.append(0.0 if err is None else err[1][0])
            ax.errorbar(
                xs,
                ys,
                yerr=[lo, hi],
                capsize=3,
                markersize=6,
                label=name,
                transform=_dodge(ax, i, len(names)),
                **style,
            )
            _include(ax, xs, ys, lo, hi)
            for (value, _), x_, y_ in zip(series, xs, ys, strict=True):
                shown = "/".join(map(str, value)) if isinstance(value, list | tuple) else value
                if any(  # an earlier series has this value at (about) this x
                    (k, str(shown)) == (k0, v0) and abs(x_ - x0) <= 0.01 * abs(x0)
                    for k0, v0, x0 in labelled
                ):
                    continue
                labelled.append((k, str(shown), x_))
                ax.annotate(
                    str(shown),
                    (x_, y_),
                    textcoords="offset points",
                    xytext=(5 + (i - (len(names) - 1) / 2) * _DODGE_POINTS, -10),
                    fontsize=6.5,
                    color=style["color"],
                )
    for ax in axes:
        ax.margins(x=0.08, y=0.12)
    _legend(fig, axes[1])
    return _save(fig, path)


def plot_robustness(results: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """Test accuracy under re-discretization: against the step-size factor ``c`` (every
    ``h`` scaled, ``c = 1`` as trained) and, if any net is weight-tied, against the steps per
    stage (same stage time). One panel per kind that has data."""
    plt = _pyplot()
    rows = _usable(results)
    kinds = [
        k
        for k in ("h_scale", "steps")
        if any(p["kind"] == k for r in rows for p in r["robustness"])
    ]
    if not kinds:
        raise ValueError("nothing to plot: no re-discretized evaluations")
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.2 * len(kinds), 4.2), squeeze=False)
    axes = axes[0]
    for ax, kind in zip(axes, kinds, strict=True):
        for i, r in enumerate(rows):
            probes = [p for p in r["robustness"] if p["kind"] == kind]
            if not probes:
                continue
            pts = [(p["factor"] if kind == "h_scale" else p["steps"], p) for p in probes]
            if kind == "h_scale":
                pts.append((1.0, r))
            pts.sort(key=lambda t: t[0])
            ys, lo, hi = [], [], []
            for _, p in pts:
                mean, err = _err(p)
                ys.append(mean)
                lo.append(0.0 if err is None else err[0][0])
                hi.append(0.0 if err is None else err[1][0])
            ax.errorbar(
                [x for x, _ in pts],
                ys,
                yerr=[lo, hi],
                capsize=3,
                markersize=6,
                label=r["label"],
                transform=_dodge(ax, i, len(rows)),
                **_style(i),
            )
            _include(ax, [x for x, _ in pts], ys, lo, hi)
        if kind == "h_scale":
            ax.set_xlabel("step-size factor c (every h scaled by c; 1 = as trained)")
            ax.axvline(1.0, color="0.6", linewidth=0.8, zorder=0)
        else:
            ax.set_xlabel("steps per stage (same stage time; weight-tied nets)")
            ax.set_xscale("log", base=2)
            from matplotlib.ticker import FuncFormatter

            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    _legend(fig, axes[0])
    fig.suptitle(
        (title or "accuracy under re-discretization") + "\n" + _bars_label(rows), fontsize=11
    )
    return _save(fig, path)
