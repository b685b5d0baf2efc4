"""One style and a few helpers for every odenets figure.

matplotlib is imported lazily (the ``examples`` extra installs it) and only through
:class:`matplotlib.figure.Figure`, never pyplot's global state, so figures are thread-safe and
need no GUI backend.

The style (:data:`RC`, applied by :func:`figure_style`): 9-pt text, a light grid, hollow
markers, and a property cycle in which every series differs from every other in its
(colour, marker, line style) triple (:func:`series_styles`; 9 colours x 8 markers x 4 line
styles, all triples distinct for the first :data:`DISTINCT_SERIES` = 72 series), so 13+
series stay apart in colour, in black and white and where curves coincide. Fonts are embedded
as TrueType in PDF/PS (``pdf.fonttype = 42``), as journals ask.

How to make a figure with these helpers (what every ``plots_*`` figure module, and any new
one, does)::

    from odenets.workflow.plots import (
        check_figure_path, figure_style, integer_axis, legend_outside, new_figure, save_figure,
    )

    check_figure_path(path)                 # at argument-parsing time: fail before the work
    with figure_style():                    # the rc style for everything drawn inside
        fig, (ax,) = new_figure(width=6.0, height=3.6)
        for i, (name, ys) in enumerate(curves.items()):
            ax.plot(ts, ys, label=name)     # the cycle gives each series its own triple
        ax.set(title="...", xlabel="iteration t", ylabel="MSE ||x_t - x*||^2 / K")
        integer_axis(ax.xaxis)              # integer data -> integer ticks
        legend_outside(ax)                  # beside the axes, never over the data
        save_figure(fig, path)              # 300 dpi raster / vector by suffix; closes fig

API:

- :func:`figure_formats` -> ``{suffix: description}`` of every format matplotlib's Agg
  canvas writes (png, pdf, svg, eps, jpg, tif, webp, ...); :data:`RASTER_FORMATS`.
- :func:`check_figure_path(path, option="--plot", creates=None) <check_figure_path>`:
  ``None`` passes; otherwise the suffix must be one of :func:`figure_formats` and the folder
  must exist (or be ``creates``, the command's own ``--out``), else a one-line
  ``ValueError`` that lists the valid suffixes (and the closest one).
- :func:`figure_style`: a context manager applying :data:`RC`.
- :func:`series_styles(n) <series_styles>` -> ``n`` dicts ``color/marker/linestyle``;
  :func:`style_cycler` the same as a ``cycler`` (the style's ``axes.prop_cycle``).
- :func:`new_figure(nrows=1, ncols=1, width=, height=, mosaic=, rows=, row_heights=,
  **subplot_kw) <new_figure>` -> ``(Figure, [Axes, ...])``: a constrained-layout figure
  (room is made for outside legends) and a flat list of its axes, tick sizes and grid fixed
  from the style; ``rows=(1, 2)`` lays out a wide panel over two, each row on its own.
- :func:`save_figure(fig, path) <save_figure>` -> ``Path``: the format from the suffix,
  :data:`DPI` = 300 dpi (for vector formats the resolution of any rasterized artist),
  reproducible metadata (no timestamps), then the figure is closed.
- :func:`legend_outside(ax, ...) <legend_outside>`: a legend to the right of the axes.
- :func:`integer_axis(axis) <integer_axis>`, :func:`count_axis(axis, values) <count_axis>`:
  integer ticks; counts (parameters) as 5.1k / 1.7M, log-scaled when they span > 20x.
- :func:`log_axis(axis, values) <log_axis>`: a log axis labelled in plain numbers (2.1, 2.2;
  0.5, 1, 2, 5) where the data span less than three decades, decades beyond.
- :func:`dodge_offsets(xs) <dodge_offsets>` and :func:`offset_artists(ax, artist, dx)
  <offset_artists>`: draw series that share an abscissa a few points apart (display
  offsets, the data stay where they are).
- :func:`slope_guides(ax, h, anchors) <slope_guides>`: labelled reference lines ``C h^p``.
- :func:`spread_note(n_seeds, confidence=None) <spread_note>`: what an error bar is ("mean
  ± 1 std over 3 seeds", "mean, 95% t-interval over 5 seeds"), for a legend title.
- :data:`REFERENCE_COLOR`: the grey of reference lines (never a series colour).
- :func:`pyplot`: pyplot on Agg, for code that still wants it (prefer :func:`new_figure`).

The figure here: :func:`plot_convergence` (``odenets orders --plot``) and its twin
:func:`convergence_figure`, which returns the Figure unsaved. The others, each a ``plot_*``
with a ``*_figure`` twin, use the helpers above: :mod:`~odenets.workflow.plots_compare`
(``compare``: accuracy against cost, sweeps, re-discretization),
:mod:`~odenets.workflow.plots_training` (``compare --optimizers`` curves, ``batch-sweep``)
and :mod:`~odenets.workflow.plots_unfold` (``unfold``); docs/figures.md lists them all.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._validate import closest

__all__ = [
    "DISTINCT_SERIES",
    "DPI",
    "RASTER_FORMATS",
    "RC",
    "REFERENCE_COLOR",
    "check_figure_path",
    "count_axis",
    "dodge_offsets",
    "figure_formats",
    "figure_style",
    "integer_axis",
    "legend_outside",
    "log_axis",
    "new_figure",
    "offset_artists",
    "pyplot",
    "save_figure",
    "series_styles",
    "slope_guides",
    "spread_note",
    "style_cycler",
]

#: Resolution of raster output (and of rasterized artists inside vector output).
DPI = 300
#: Suffixes written as pixels (everything else matplotlib writes is vector or text).
RASTER_FORMATS = frozenset(
    {"png", "jpg", "jpeg", "tif", "tiff", "webp", "gif", "avif", "raw", "rgba"}
)

# tab10 without its grey (kept for reference lines), in tab10's order.
_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
)
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<")
_LINESTYLES = ("-", "--", "-.", ":")
#: Series whose (colour, marker, line style) triples are pairwise distinct: lcm(9, 8, 4).
DISTINCT_SERIES = 72
#: Colour of reference lines (slope guides, optimal values): not a series colour.
REFERENCE_COLOR = "0.35"

#: The rc parameters of every odenets figure (see the module docstring).
RC: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "legend.frameon": False,
    "figure.titlesize": 11,
    "axes.grid": True,
    "axes.grid.which": "major",
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.3,
    "lines.markersize": 5,
    "lines.markerfacecolor": "none",
    "lines.markeredgewidth": 1.1,
    "errorbar.capsize": 3,
    "axes.formatter.use_mathtext": True,
    "axes.formatter.limits": (-3, 4),
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.hashsalt": "odenets",
    "savefig.dpi": DPI,
}


def _matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            'figures need matplotlib: `pip install matplotlib` (or `pip install -e ".[examples]"`)'
        ) from None
    return matplotlib


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or a one-line ImportError (kept for
    code that wants pyplot; the figures here use :func:`new_figure`)."""
    matplotlib = _matplotlib()
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def series_styles(n: int) -> list[dict[str, str]]:
    """``n`` series styles ``{"color", "marker", "linestyle"}``; the triples are pairwise
    distinct for ``n <= DISTINCT_SERIES`` (series ``i`` takes colour ``i mod 9``, marker
    ``i mod 8`` and line style ``i mod 4``) and repeat after that."""
    return [
        {
            "color": _COLORS[i % len(_COLORS)],
            "marker": _MARKERS[i % len(_MARKERS)],
            "linestyle": _LINESTYLES[i % len(_LINESTYLES)],
        }
        for i in range(n)
    ]


def style_cycler():
    """The style's ``axes.prop_cycle``: :func:`series_styles` of :data:`DISTINCT_SERIES`."""
    from cycler import cycler

    styles = series_styles(DISTINCT_SERIES)
    return cycler(**{k: [s[k] for s in styles] for k in ("color", "marker", "linestyle")})


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Apply :data:`RC` (and the series cycle) to everything drawn inside the block."""
    matplotlib = _matplotlib()
    with matplotlib.rc_context({**RC, "axes.prop_cycle": style_cycler()}):
        yield


def figure_formats() -> dict[str, str]:
    """``{suffix: description}`` of every format matplotlib's Agg canvas writes."""
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    return dict(sorted(FigureCanvasAgg.get_supported_filetypes().items()))


def check_figure_path(
    path: str | Path | None,
    option: str = "--plot",
    *,
    creates: str | Path | None = None,
) -> str | Path | None:
    """Check a figure path before any work is done; ``None`` (no figure) passes.

    The suffix picks the format and must be one matplotlib writes (:func:`figure_formats`);
    the folder must exist, or be ``creates``, the folder the command itself makes before it
    saves (its ``--out``). ``.pgf`` also needs the TeX program of
    ``pgf.texsystem`` on PATH.

    Raises:
        ValueError: one line naming ``option``, what was given and the valid suffixes.
    """
    if path is None:
        return None
    formats = figure_formats()
    valid = ", ".join(f".{s}" for s in formats)
    suffix = Path(path).suffix.lower().lstrip(".")
    if not suffix:
        raise ValueError(
            f"{option} expects a file name whose suffix names the format, got {str(path)!r}; "
            f"valid suffixes: {valid}"
        )
    if suffix not in formats:
        near = closest(suffix, formats)
        hint = f" (did you mean .{near}?)" if near else ""
        raise ValueError(
            f"{option} {str(path)!r}: matplotlib cannot write .{suffix} figures{hint}; "
            f"valid suffixes: {valid}"
        )
    if suffix == "pgf":
        tex = _matplotlib().rcParams["pgf.texsystem"]
        if shutil.which(tex) is None:
            raise ValueError(f"{option} {str(path)!r}: .pgf output needs {tex} on PATH")
    folder = Path(path).expanduser().parent
    if creates is not None and folder.resolve() == Path(creates).expanduser().resolve():
        return path
    if not folder.is_dir():
        raise ValueError(f"{option} {str(path)!r}: the folder {str(folder)!r} does not exist")
    return path


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    width: float = 6.0,
    height: float = 3.6,
    mosaic: Sequence[Sequence[str]] | None = None,
    rows: Sequence[int] | None = None,
    row_heights: Sequence[float] | None = None,
    **subplot_kw: Any,
):
    """A constrained-layout Figure of ``width x height`` inches and its axes as a flat list.

    Args:
        nrows, ncols: the grid (ignored with ``mosaic``); axes are listed row by row.
        mosaic: a layout for :meth:`Figure.subplot_mosaic`, e.g. ``[["err", "err"],
            ["h", "beta"]]`` (a panel spanning both columns over two); axes are listed in
            the order their names first appear.
        rows: axes per row, each row laid out on its own (a :class:`SubFigure`), e.g.
            ``(1, 2)``: one wide panel over two; a legend beside the wide panel then takes no
            width from the two below. Overrides ``nrows``/``ncols``/``mosaic``.
        row_heights: relative heights of ``rows`` (default equal).
        subplot_kw: passed to :meth:`Figure.subplots` / ``subplot_mosaic`` (``sharey=True``,
            ``gridspec_kw=...``).

    Tick label sizes and the grid are fixed on the axes from :data:`RC`, so they hold even if
    the axes are drawn outside :func:`figure_style`.
    """
    _matplotlib()
    from matplotlib.figure import Figure

    with figure_style():
        fig = Figure(figsize=(width, height), layout="constrained")
        if rows is not None:
            bands = fig.subfigures(len(rows), 1, height_ratios=row_heights, squeeze=False)
            axes = [
                ax
                for band, n in zip(bands[:, 0], rows, strict=True)
                for ax in band.subplots(1, n, squeeze=False, **subplot_kw)[0]
            ]
        elif mosaic is not None:
            named = fig.subplot_mosaic([list(row) for row in mosaic], **subplot_kw)
            order = [n for n in dict.fromkeys(n for row in mosaic for n in row) if n != "."]
            axes = [named[name] for name in order]
        else:
            grid = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
            axes = [ax for row in grid for ax in row]
        for ax in axes:
            ax.tick_params(which="major", labelsize=RC["xtick.labelsize"])
            ax.grid(True, which="major", alpha=RC["grid.alpha"], linewidth=RC["grid.linewidth"])
    return fig, axes


def save_figure(fig, path: str | Path, *, dpi: int | None = None) -> Path:
    """Write ``fig`` to ``path`` in the format its suffix names and close the figure.

    Raster formats (:data:`RASTER_FORMATS`) are written at ``dpi`` (default :data:`DPI` =
    300); vector formats (pdf, svg, eps, ...) keep text and lines as vectors and use ``dpi``
    only for rasterized artists. PDF and SVG carry no timestamp, so the same figure gives the
    same bytes.
    """
    path = Path(check_figure_path(Path(path), option="figure path"))
    fmt = path.suffix.lower().lstrip(".")
    metadata = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(fmt)
    with figure_style():
        fig.savefig(path, format=fmt, dpi=dpi or DPI, metadata=metadata)
    if "matplotlib.pyplot" in sys.modules:  # a pyplot-managed figure: release it
        sys.modules["matplotlib.pyplot"].close(fig)
    return path


def legend_outside(ax, handles=None, labels=None, *, title: str | None = None, ncol: int = 1):
    """A legend to the right of ``ax`` (outside it, top-aligned; constrained layout makes
    room), from ``handles``/``labels`` or the axes' labelled artists."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    return ax.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        ncol=ncol,
        title=title,
        alignment="left",
    )


def integer_axis(axis) -> None:
    """Major ticks on integers only (iterations, counts); the view should hold at least two
    integers (matplotlib falls back to fractional ticks otherwise)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(
        MaxNLocator(integer=True, nbins="auto", steps=[1, 2, 5, 10], min_n_ticks=2)
    )


def count_axis(axis, values: Sequence[float], *, log_above: float = 20.0) -> None:
    """Ticks for counts such as parameters: engineering labels (5.1k, 1.7M) and integer
    positions; log scale when ``max/min > log_above``; a padded range so one value or
    equal values still get a readable axis."""
    from matplotlib.ticker import EngFormatter, MaxNLocator, NullFormatter

    lo, hi = min(values), max(values)
    if lo > 0 and hi / lo > log_above:
        setter = axis.axes.set_xscale if axis is axis.axes.xaxis else axis.axes.set_yscale
        setter("log")
        axis.set_major_formatter(EngFormatter(sep=""))
        axis.set_minor_formatter(NullFormatter())
        limits = (lo / 1.5, hi * 1.5)
    else:
        axis.set_major_locator(MaxNLocator(nbins=4, integer=True, min_n_ticks=2))
        axis.set_major_formatter(EngFormatter(sep=""))
        pad = max(0.12 * (hi - lo), 0.01 * abs(hi), 1.0)  # >= 2 integers in view
        limits = (lo - pad, hi + pad)
    if axis is axis.axes.xaxis:
        axis.axes.set_xlim(*limits)
    else:
        axis.axes.set_ylim(*limits)


def slope_guides(
    ax,
    h: Sequence[float],
    anchors: Mapping[int, float],
    orders: Sequence[int] = (1, 2, 3, 4),
    *,
    below: float = 4.0,
) -> list:
    """Reference lines ``C h^p`` for each ``p`` in ``orders``, labelled "slope p" at their
    left end, in the reference colour.

    Args:
        ax: log-log axes.
        h: the step sizes the lines span.
        anchors: ``{p: error}``; the line of slope ``p`` passes ``below`` times under
            ``error`` at ``max(h)`` (e.g. the smallest error of the series of order ``p`` at
            the largest step). Orders without an anchor are placed by interpolating the
            log-anchors of the others in ``p`` (or at 1 when there are none).

    Returns:
        The Line2D guides (their labels start with ``_``, so they stay out of legends).
    """
    import numpy as np

    h = np.asarray(sorted(h), dtype=float)
    known = sorted((p, np.log10(e)) for p, e in anchors.items() if e > 0)
    lines = []
    for p in orders:
        if known:
            log_anchor = float(np.interp(p, [k for k, _ in known], [v for _, v in known]))
        else:
            log_anchor = 0.0
        c = 10**log_anchor / below / h[-1] ** p
        (line,) = ax.plot(
            h,
            c * h**p,
            color=REFERENCE_COLOR,
            linestyle=(0, (1, 2)),
            linewidth=0.9,
            marker="",
            label=f"_slope {p}",
            zorder=1,
        )
        ax.annotate(
            f"slope {p}",
            (h[0], c * h[0] ** p),
            xytext=(-3, 0),
            textcoords="offset points",
            ha="right",
            va="center",
            fontsize=7,
            color=REFERENCE_COLOR,
        )
        lines.append(line)
    return lines


def spread_note(n_seeds: Sequence[int] | int, confidence: float | None = None) -> str:
    """What an error bar shows, for a legend title: "mean ± 1 std over 3 seeds", or with
    ``confidence=0.95`` "mean, 95% t-interval over 3 seeds" (Student t interval of the mean),
    or "one seed each (no error bars)"."""
    counts = sorted({n_seeds} if isinstance(n_seeds, int) else set(n_seeds))
    if counts == [1]:
        return "one seed each (no error bars)"
    span = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    if confidence is None:
        return f"mean ± 1 std over {span} seeds"
    return f"mean, {100 * confidence:g}% t-interval over {span} seeds"


def log_axis(axis, values: Sequence[float], *, base: float = 10) -> None:
    """A log-scaled axis whose labels read as plain numbers where the data span little:
    within one decade, 4-6 evenly spaced round values (12, 14, 16, 18); up to three decades,
    1-2-5 ticks (0.5, 1, 2, 5, 10); beyond that, decades (10^k). ``values``: the data
    (positive values only count)."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    positive = [v for v in values if v > 0]
    setter = axis.axes.set_xscale if axis is axis.axes.xaxis else axis.axes.set_yscale
    setter("log", base=base)
    if not positive:
        return
    decades = math.log10(max(positive) / min(positive))
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    if decades < 1:
        axis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10], min_n_ticks=3))
        axis.set_major_formatter(plain)
    elif decades <= 3:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(plain)
    else:
        return
    axis.set_minor_formatter(NullFormatter())


def dodge_offsets(xs: Sequence[Sequence[float]], step: float = 4.0) -> list[float]:
    """Horizontal offsets (points) that draw series side by side where they share an
    abscissa: series whose x values coincide somewhere (closer than 0.5% of the range or 0.1%
    of the value) form a group, spread symmetrically ``step`` points apart in their order;
    a series that shares no x with another gets 0. ``xs``: the x values of each series."""
    every = [x for series in xs for x in series]
    if not every:
        return [0.0] * len(xs)
    span = max(every) - min(every)

    def near(a: float, b: float) -> bool:
        return abs(a - b) <= max(0.005 * span, 1e-3 * max(abs(a), abs(b)))

    group = list(range(len(xs)))  # union-find over series that share an x

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    for i in range(len(xs)):
        for j in range(i):
            if any(near(a, b) for a in xs[i] for b in xs[j]):
                group[root(i)] = root(j)
    members: dict[int, list[int]] = {}
    for i in range(len(xs)):
        members.setdefault(root(i), []).append(i)
    offsets = [0.0] * len(xs)
    for ids in members.values():
        for k, i in enumerate(ids):
            offsets[i] = (k - (len(ids) - 1) / 2) * step if len(ids) > 1 else 0.0
    return offsets


def offset_artists(ax, artist, dx: float) -> None:
    """Draw ``artist`` (a Line2D, a collection or a container such as an errorbar) ``dx``
    points to the right of its data position; the data limits stay those of the data."""
    if not dx:
        return
    from matplotlib.container import Container
    from matplotlib.transforms import ScaledTranslation

    shift = ax.transData + ScaledTranslation(dx / 72, 0, ax.figure.dpi_scale_trans)
    for part in artist.get_children() if isinstance(artist, Container) else [artist]:
        part.set_transform(shift)
