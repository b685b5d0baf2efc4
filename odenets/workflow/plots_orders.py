"""The order-of-convergence figure (``odenets orders --plot``), in the shared style of
:mod:`odenets.workflow.plots`: log-log global error against step size, one series per scheme,
with slope guides."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from . import plots
from .plots import figure_style, legend_outside, new_figure, series_styles, slope_guides

__all__ = ["convergence_figure", "plot_convergence"]


def _h_label(h: float) -> str:
    n = 1 / h
    return f"1/{round(n)}" if abs(n - round(n)) < 1e-9 * n else f"{h:g}"


def convergence_figure(rows: Sequence[dict], title: str = ""):
    """Log-log error against step size, one series per scheme (declared and measured order
    in its label), with slope-1..4 guides; rows as :func:`odenets.numerics.convergence.
    convergence_study` returns them."""
    from matplotlib.ticker import FixedLocator, NullLocator

    with figure_style():
        fig, (ax,) = new_figure(width=7.0, height=4.2)
        styles = series_styles(len(rows))
        anchors: dict[int, float] = {}
        hs = sorted({h for r in rows for h in r["h"]})
        for r, style in zip(rows, styles, strict=True):
            ax.loglog(
                r["h"],
                r["errors"],
                **style,
                label=f"{r['scheme']} (order {r['declared_order']:g}, "
                f"measured {r['measured_order']:.2f})",
            )
            p = round(r["declared_order"])
            at_big = r["errors"][r["h"].index(max(r["h"]))]
            if at_big > 0:
                anchors[p] = min(anchors.get(p, at_big), at_big)
        slope_guides(ax, hs, anchors)
        ax.xaxis.set_major_locator(FixedLocator(hs))
        ax.xaxis.set_major_formatter(_fixed_labels([_h_label(h) for h in hs]))
        ax.xaxis.set_minor_locator(NullLocator())
        lo = min(hs)
        ax.set_xlim(lo / 10 ** (0.18 * max(1.0, _decades(hs))), max(hs) * 1.15)
        ax.set(
            xlabel="step size h = t_end / n (time units)",
            ylabel="max-norm error at the final time",
            title=title or "global error vs step size",
        )
        ax.grid(True, which="minor", axis="y", alpha=0.12)
        legend_outside(ax, title="scheme (grey dotted: slope guides)")
    return fig


def _decades(values: Sequence[float]) -> float:
    return math.log10(max(values) / min(values))


def _fixed_labels(labels: Sequence[str]):
    from matplotlib.ticker import FixedFormatter

    return FixedFormatter(list(labels))


def plot_convergence(rows: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """Save :func:`convergence_figure` to ``path`` (any :func:`figure_formats` suffix)."""
    return plots.save_figure(convergence_figure(rows, title), path)
