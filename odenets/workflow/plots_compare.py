"""Figures of :mod:`odenets.workflow.compare` (``odenets compare``), in the shared style of
:mod:`odenets.workflow.plots`:

- :func:`compare_figure` / :func:`plot_compare`: test accuracy against parameters and against
  F-evaluations per forward pass, one marker per compared scheme or preset.
- :func:`sweep_figure` / :func:`plot_sweep` (``compare --sweep``): the same two panels with
  one curve per scheme through the sweep's values (each point labelled with its value).
- :func:`robustness_figure` / :func:`plot_robustness` (``compare --robustness``): test
  accuracy of the trained nets re-discretized, against the step-size factor c (every h scaled
  by c; c = 1 as trained) and, for weight-tied nets, against the steps per stage.

Error bars are the comparison's own Student-t confidence intervals of the mean over the
finished seeds (``test_accuracy_ci``, 95% by default), and each legend title says so; series
that share an abscissa (euler and lm have the same cost) are drawn a few points apart, and the
legend title says that too. Entries whose every run diverged are left out. Each ``plot_*``
saves its ``*_figure`` with :func:`odenets.workflow.plots.save_figure` (the format from the
suffix, 300 dpi raster).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import plots
from .plots import (
    REFERENCE_COLOR,
    count_axis,
    dodge_offsets,
    figure_style,
    legend_outside,
    new_figure,
    offset_artists,
    series_styles,
    spread_note,
)

__all__ = [
    "compare_figure",
    "entry_label",
    "plot_compare",
    "plot_robustness",
    "plot_sweep",
    "robustness_figure",
    "sweep_figure",
]

#: Distance (points) between series drawn side by side at one abscissa.
DODGE_POINTS = 4.0
_ACCURACY = "test accuracy (%)"
_COST_PANELS = (
    ("params", "parameters (count)", "accuracy against model size"),
    ("f_evals", "F-evaluations per forward pass (count)", "accuracy against cost"),
)


def entry_label(row: Mapping[str, Any]) -> str:
    """A compared entry as the legends name it: a scheme with the architecture it is
    ("lm (LM-ResNet)"), a preset with its scheme ("lm_resnet20 (lm)")."""
    model = str(row.get("model", ""))
    if model and not model.startswith("SolverNet("):  # a preset
        return f"{row.get('label', model)} ({row['scheme']})"
    short = str(row.get("architecture", "")).split(" (")[0].split(":")[0].strip()
    name = row.get("label", row["scheme"])
    return f"{name} ({short})" if short and short != name else str(name)


def _usable(results: Sequence[dict]) -> list[dict]:
    return [r for r in results if r.get("test_accuracy") is not None]


def _finished(row: Mapping[str, Any]) -> int:
    return int(row.get("n_runs", 1)) - int(row.get("n_diverged", 0))


def _bar(summary: Mapping[str, Any]) -> tuple[float, float, float]:
    """(mean, down, up) in %: the mean and the distances to the ends of its interval."""
    mean = 100 * summary["test_accuracy"]
    ci = summary.get("test_accuracy_ci")
    if ci is None:
        return mean, 0.0, 0.0
    return mean, max(mean - 100 * ci[0], 0.0), max(100 * ci[1] - mean, 0.0)


def _note(rows: Sequence[Mapping[str, Any]], dodged: bool) -> str:
    """The legend title: what the error bars are, and that series were drawn apart."""
    confidence = rows[0].get("confidence", 0.95)
    note = "error bars: " + spread_note([_finished(r) for r in rows], confidence)
    if dodged:
        note += f"\nseries at one x drawn {DODGE_POINTS:g} pt apart"
    return note


def _errorbar(ax, x, bars: Sequence[tuple[float, float, float]], style: dict, label: str, dx):
    """One series of means with interval bars, drawn ``dx`` points to the right."""
    means = [m for m, _, _ in bars]
    yerr = [[d for _, d, _ in bars], [u for _, _, u in bars]]
    if not any(yerr[0] + yerr[1]):
        yerr = None  # one seed: no interval, no zero-length bars with caps
    container = ax.errorbar(x, means, yerr=yerr, label=label, **style)
    offset_artists(ax, container, dx)
    return container


def _accuracy_limits(axes, bars: Sequence[tuple[float, float, float]]) -> None:
    """One y range for every accuracy panel, holding every interval."""
    lo = min(m - d for m, d, _ in bars)
    hi = max(m + u for m, _, u in bars)
    pad = max(0.08 * (hi - lo), 1.0)
    for ax in axes:
        ax.set_ylim(max(lo - pad, -2.0), min(hi + pad, 102.0))


def _finish(fig, title: str) -> None:
    if title:
        fig.suptitle(title)


# ----------------------------------------------------------------------------- compare


def compare_figure(results: Sequence[dict], title: str = ""):
    """Test accuracy (mean with its t-interval over the seeds) against parameters (left)
    and against F-evaluations per forward pass (right), one marker per entry of
    :func:`odenets.workflow.compare.compare`; entries at one abscissa drawn side by side.

    Raises:
        ValueError: when every run of every entry diverged (nothing to plot).
    """
    rows = _usable(results)
    if not rows:
        raise ValueError("nothing to plot: every run diverged")
    with figure_style():
        fig, axes = new_figure(1, 2, width=8.0, height=3.4)
        styles = series_styles(len(rows))
        bars = [_bar(r) for r in rows]
        dodged = False
        for ax, (key, xlabel, panel) in zip(axes, _COST_PANELS, strict=True):
            xs = [r[key] for r in rows]
            offsets = dodge_offsets([[x] for x in xs], DODGE_POINTS)
            dodged |= any(offsets)
            for r, bar, style, dx in zip(rows, bars, styles, offsets, strict=True):
                container = _errorbar(
                    ax, [r[key]], [bar], {**style, "linestyle": "none"}, entry_label(r), dx
                )
                container.lines[0].set_linestyle(style["linestyle"])  # shown in the legend
            count_axis(ax.xaxis, xs)
            ax.set(xlabel=xlabel, ylabel=_ACCURACY, title=panel)
        _accuracy_limits(axes, bars)
        legend_outside(axes[1], title=_note(rows, dodged))
        _finish(fig, title or "accuracy against cost")
    return fig


def plot_compare(results: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """Save :func:`compare_figure` to ``path`` (any :func:`~odenets.workflow.plots.
    figure_formats` suffix)."""
    return plots.save_figure(compare_figure(results, title), path)


# ------------------------------------------------------------------------------- sweep


def _shown(value: Any) -> str:
    return "/".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def sweep_figure(points: Sequence[dict], title: str = ""):
    """Accuracy against parameters and against F-evaluations per forward pass, one curve
    per compared entry through the values of :func:`odenets.workflow.compare.sweep` (each
    point labelled with its value, once where curves share it), t-interval error bars.

    Raises:
        ValueError: when the sweep has no points or every run diverged.
    """
    if not points:
        raise ValueError("nothing to plot: the sweep has no points")
    key = points[0]["key"]
    every = _usable([r for p in points for r in p["results"]])
    if not every:
        raise ValueError("nothing to plot: every run diverged")
    names = list(dict.fromkeys(r["label"] for r in every))
    series = {
        name: [
            (p["value"], r)
            for p in points
            for r in p["results"]
            if r["label"] == name and r.get("test_accuracy") is not None
        ]
        for name in names
    }
    with figure_style():
        fig, axes = new_figure(1, 2, width=8.0, height=3.4)
        styles = dict(zip(names, series_styles(len(names)), strict=True))
        bars = [_bar(r) for r in every]
        dodged = False
        labels = []
        for ax, (k, xlabel, panel) in zip(axes, _COST_PANELS, strict=True):
            xs_of = [[r[k] for _, r in series[n]] for n in names]
            offsets = dodge_offsets(xs_of, DODGE_POINTS)
            dodged |= any(offsets)
            for name, dx in zip(names, offsets, strict=True):
                xs = [r[k] for _, r in series[name]]
                line_bars = [_bar(r) for _, r in series[name]]
                _errorbar(ax, xs, line_bars, styles[name], entry_label(series[name][0][1]), dx)
                labels += [
                    (ax, _shown(value), x, y, styles[name]["color"], dx, *_group(x, xs_of, offsets))
                    for (value, _), x, (y, _, _) in zip(series[name], xs, line_bars, strict=True)
                ]
            count_axis(ax.xaxis, [r[k] for r in every])
            ax.set(xlabel=xlabel, ylabel=_ACCURACY, title=panel)
        _accuracy_limits(axes, bars)
        note = _note(every, dodged) + f"\nnumbers at the points: {key}"
        legend_outside(axes[1], title=note)
        _finish(fig, title or f"accuracy against cost, sweep over {key}")
        _value_labels(fig, labels)  # last: placed in the final layout
    return fig


def _group(x: float, xs_of: Sequence[Sequence[float]], offsets: Sequence[float]):
    """The leftmost and rightmost dodge (points) of the series that have a point at ``x``."""
    span = max(max(v) for v in xs_of) - min(min(v) for v in xs_of)
    near = [
        dx
        for xs, dx in zip(xs_of, offsets, strict=True)
        if any(abs(x - x0) <= max(0.005 * span, 1e-3 * abs(x)) for x0 in xs)
    ]
    return min(near), max(near)


_LABEL_PT = 7.0  # font size of the value labels


def _obstacles(ax) -> list:
    """Pixel boxes of the markers and error bars drawn in ``ax`` (where labels must not go)."""
    from matplotlib.transforms import Bbox

    boxes = []
    r = 3.5 * ax.figure.dpi / 72
    for container in ax.containers:
        line = container.lines[0]
        for px, py in line.get_transform().transform(line.get_xydata()):
            boxes.append(Bbox([[px - r, py - r], [px + r, py + r]]))
        for bars in container.lines[2]:
            for seg in bars.get_segments():
                (x0, y0), (x1, y1) = bars.get_transform().transform(seg)
                boxes.append(Bbox([[min(x0, x1) - 1, min(y0, y1)], [max(x0, x1) + 1, max(y0, y1)]]))
    return boxes


def _close(u: float, v: float, u0: float, v0: float) -> bool:
    """Two points in axes fractions within 6% of the width and 8% of the height."""
    return abs(u - u0) < 0.06 and abs(v - v0) < 0.08


def _cover(box, frame, labels: Sequence, obstacles: Sequence) -> int:
    """How badly a label at ``box`` sits: outside the panel ``frame`` (100), on another
    label (10 each), on a marker or error bar (1 each)."""
    inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0
    inside = inside and box.y1 <= frame.y1
    return (
        100 * (not inside)
        + 10 * sum(box.overlaps(b) for b in labels)
        + sum(box.overlaps(b) for b in obstacles)
    )


def _value_labels(fig, labels: Sequence[tuple]) -> None:
    """Write each sweep value ``(ax, text, x, y, colour, dx, left, right)`` next to its point
    (``dx``: the series' dodge; ``left``/``right``: the outermost dodges at that x) on a light
    box, at the first of right / above / below / left that stays inside the panel and covers
    the fewest other labels, then markers and error bars. A value already written close by
    (within 6% of the panel's width and 8% of its height: curves that share it there) is
    not repeated."""
    from matplotlib.transforms import Bbox

    fig.draw_without_rendering()  # the final layout: data -> pixels as they will be drawn
    pt = fig.dpi / 72
    placed: dict[Any, list] = {}
    blocked = {ax: _obstacles(ax) for ax in {label[0] for label in labels}}
    written: list[tuple[Any, str, float, float]] = []
    for ax, text, x, y, color, dx, left, right in labels:
        px, py = ax.transData.transform((x, y))
        u, v = ax.transAxes.inverted().transform((px, py))
        if (ax, text) in {(a, t) for a, t, u0, v0 in written if _close(u, v, u0, v0)}:
            continue  # curves that share this value here: written once
        w, h = (0.6 * len(text) + 0.4) * _LABEL_PT * pt, 1.3 * _LABEL_PT * pt
        spots = [  # (offset in points, ha, va, the label's pixel box)
            ((right + 6, 0), "left", "center", (px + (right + 6) * pt, py - h / 2)),
            ((dx, 7), "center", "bottom", (px + dx * pt - w / 2, py + 7 * pt)),
            ((dx, -7), "center", "top", (px + dx * pt - w / 2, py - 7 * pt - h)),
            ((left - 6, 0), "right", "center", (px + (left - 6) * pt - w, py - h / 2)),
        ]
        boxes = [Bbox([[x0, y0], [x0 + w, y0 + h]]) for *_, (x0, y0) in spots]
        costs = [_cover(box, ax.bbox, placed.get(ax, []), blocked[ax]) for box in boxes]
        best = costs.index(min(costs))  # the first of the least covered spots
        offset, ha, va, _ = spots[best]
        placed.setdefault(ax, []).append(boxes[best])
        written.append((ax, text, u, v))
        ax.annotate(
            text,
            (x, y),
            textcoords="offset points",
            xytext=offset,
            ha=ha,
            va=va,
            fontsize=_LABEL_PT,
            color=color,
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "alpha": 0.75, "lw": 0},
            zorder=6,
        )


def plot_sweep(points: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """Save :func:`sweep_figure` to ``path`` (any matplotlib format by its suffix)."""
    return plots.save_figure(sweep_figure(points, title), path)


# -------------------------------------------------------------------------- robustness

_KINDS = {
    "h_scale": (
        "step-size factor c (dotted, c = 1: as trained)",
        "every step size h scaled by c",
    ),
    "steps": (
        "steps per stage (same stage time)",
        "weight-tied nets re-timed",
    ),
}


def robustness_figure(results: Sequence[dict], title: str = ""):
    """Test accuracy of the trained nets re-discretized (mean with its t-interval over the
    seeds): against the step-size factor c (every h scaled by c, the grey line at c = 1 is
    the net as trained) and, if any net is weight-tied, against the steps per stage at the
    same stage time. One panel per kind that has data, one curve per entry.

    Raises:
        ValueError: when no entry has a re-discretized evaluation.
    """
    rows = _usable(results)
    kinds = [k for k in _KINDS if any(p["kind"] == k for r in rows for p in r["robustness"])]
    if not kinds:
        raise ValueError("nothing to plot: no re-discretized evaluations")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    with figure_style():
        fig, axes = new_figure(1, len(kinds), width=3.4 + 2.9 * len(kinds), height=3.4)
        styles = series_styles(len(rows))
        every: list[tuple[float, float, float]] = []
        dodged = False
        for ax, kind in zip(axes, kinds, strict=True):
            curves = []
            for r, style in zip(rows, styles, strict=True):
                probes = [p for p in r["robustness"] if p["kind"] == kind]
                pts = [(p["factor"] if kind == "h_scale" else p["steps"], p) for p in probes]
                if kind == "h_scale" and pts:
                    pts.append((1.0, r))  # as trained
                curves.append((r, style, sorted(pts, key=lambda t: t[0])))
            offsets = dodge_offsets([[x for x, _ in pts] for _, _, pts in curves], DODGE_POINTS)
            dodged |= any(offsets)
            xs_all = sorted({x for _, _, pts in curves for x, _ in pts})
            for (r, style, pts), dx in zip(curves, offsets, strict=True):
                if not pts:
                    continue
                line_bars = [_bar(p) for _, p in pts]
                every += line_bars
                _errorbar(ax, [x for x, _ in pts], line_bars, style, entry_label(r), dx)
            xlabel, panel = _KINDS[kind]
            if kind == "h_scale":
                ax.axvline(1.0, color=REFERENCE_COLOR, linestyle=":", linewidth=1.0, zorder=1)
                pad = 0.06 * (xs_all[-1] - xs_all[0] or 1.0)
                ax.set_xlim(xs_all[0] - pad, xs_all[-1] + pad)
            else:
                ax.set_xscale("log", base=2)
                ax.xaxis.set_major_locator(FixedLocator(xs_all))
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.xaxis.set_minor_locator(NullLocator())
                ax.set_xlim(xs_all[0] / 2**0.3, xs_all[-1] * 2**0.3)
            ax.set(xlabel=xlabel, ylabel=_ACCURACY, title=panel)
        _accuracy_limits(axes, every)
        legend_outside(axes[-1], title=_note(rows, dodged))
        _finish(fig, title or "accuracy under re-discretization")
    return fig


def plot_robustness(results: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """Save :func:`robustness_figure` to ``path`` (any matplotlib format by its suffix)."""
    return plots.save_figure(robustness_figure(results, title), path)
