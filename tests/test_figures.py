"""Every figure the CLI makes, in PNG, PDF and SVG, checked as a reader would check it.

The figures come from the real commands (``orders``, ``compare --out``, ``unfold
seed|ridge|quadratic|lasso --plot``) on cut-down runs: the experiments are computed once per
module with small arguments and handed to the CLI in their place, and ``save_figure`` is
wrapped so each test inspects the very Figure the command wrote. Checks: the file's magic
bytes and, for PNG, 300 dpi and the figure's size in pixels; for every axes, data, a title
and both axis labels, tick labels that do not overlap, integer ticks on integer data, no
two series with the same (colour, marker, line style), every labelled series in a legend,
legends outside every axes, and all text inside the figure.
"""

from __future__ import annotations

import functools
import io
import itertools
import json
import math
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.container import BarContainer, ErrorbarContainer
from PIL import Image

from odenets.numerics import convergence
from odenets.unfold import experiments
from odenets.workflow import plots, plots_unfold
from odenets.workflow.cli import main

FORMATS = ("png", "pdf", "svg")

# Cut-down experiments with the CLI's shape of output (each runs in well under a second).
SMALL = {
    "seed": dict(inner_steps=20, batch=20),
    "ridge": dict(n=4, m=8, steps=12, inner_steps=1, final_steps=0, eval_batch=10, batch=10),
    "quadratic": dict(n=5, steps=6, inner_steps=1, final_steps=0),
    "lasso": dict(m=10, n=20, steps=4, inner_steps=1, ista_iterations=20, eval_batch=5),
}


_RUNS = {name: getattr(experiments, f"{name}_experiment") for name in SMALL}
_STUDY = convergence.convergence_study


@functools.cache
def _small_result(name: str) -> str:
    return json.dumps(_RUNS[name](**SMALL[name]))


@functools.cache
def _study(schemes, problem, steps) -> str:
    return json.dumps(_STUDY(schemes, problem, steps))


@pytest.fixture
def captured(monkeypatch):
    """The (figure, path) of every save_figure call, and fast stand-ins for the experiments."""
    saved = []
    original = plots.save_figure

    def spy(fig, path, **kw):
        saved.append((fig, path))
        return original(fig, path, **kw)

    monkeypatch.setattr(plots, "save_figure", spy)
    monkeypatch.setattr(plots_unfold, "save_figure", spy)
    for name in SMALL:

        @functools.wraps(_RUNS[name])  # the real signature (its defaults label the figure)
        def run(name=name, **_):
            return json.loads(_small_result(name))

        monkeypatch.setattr(experiments, f"{name}_experiment", run)

    def study(schemes=None, problem=None, steps=(40, 80, 160, 320)):
        key = None if schemes is None else tuple(schemes)
        return json.loads(_study(key, problem, tuple(steps)))

    monkeypatch.setattr(convergence, "convergence_study", study)
    return saved


@pytest.fixture(scope="module")
def compare_results(tmp_path_factory):
    """A real, small ``odenets compare --out`` run (3 schemes x 2 seeds, 1 epoch) and the
    figure it saved as results.png."""
    out = tmp_path_factory.mktemp("cmp")
    saved = []
    original = plots.save_figure
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots, "save_figure", lambda f, p, **k: saved.append((f, p)) or original(f, p))
        argv = ["compare", "--schemes", "euler,lm,heun", "--seeds", "0,1", "--epochs", "1"]
        argv += ["--depth", "8", "--widths", "4,8,16", "--no-progress", "--out", str(out)]
        assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())["results"]
    return results, saved, out


# ------------------------------------------------------------------------- file checks


def _check_file(path, fmt: str, fig) -> None:
    data = path.read_bytes()
    width, height = fig.get_size_inches()
    if fmt == "png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        image = Image.open(io.BytesIO(data))
        assert image.format == "PNG"
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        assert image.size == (round(width * 300), round(height * 300))
    elif fmt == "pdf":
        assert data[:5] == b"%PDF-" and data.rstrip().endswith(b"%%EOF")
        assert f"/MediaBox [ 0 0 {width * 72:g} {height * 72:g} ]".encode() in data
    else:
        assert data.startswith(b"<?xml") and b"<svg" in data[:1000]
        assert f'width="{width * 72:g}pt" height="{height * 72:g}pt"'.encode() in data[:1000]


# ----------------------------------------------------------------------- figure checks


def _style(artist) -> tuple:
    if isinstance(artist, ErrorbarContainer):
        artist = artist.lines[0]
    if isinstance(artist, BarContainer):
        patch = artist.patches[0]
        return (to_rgba(patch.get_facecolor()), "bar", patch.get_hatch())
    return (to_rgba(artist.get_color()), artist.get_marker(), artist.get_linestyle())


def _series(ax) -> list:
    """The labelled series of an axes (underscore labels: reference lines, internals)."""
    items = [c for c in ax.containers if not c.get_label().startswith("_")]
    return items + [ln for ln in ax.lines if not ln.get_label().startswith("_")]


def _visible_tick_labels(axis, renderer) -> list:
    lo, hi = sorted(axis.get_view_interval())
    span = (hi - lo) * 1e-9
    labels = []
    for tick in axis.get_major_ticks() + axis.get_minor_ticks():
        if lo - span <= tick.get_loc() <= hi + span:
            text = tick.label1
            if text.get_visible() and text.get_text():
                labels.append((tick.get_loc(), text.get_window_extent(renderer)))
    return labels


def _integer_data(ax) -> bool:
    xs = [x for s in _series(ax) for x in _xdata(s)]
    return bool(xs) and all(float(x).is_integer() for x in xs)


def _xdata(series) -> list:
    if isinstance(series, ErrorbarContainer):
        series = series.lines[0]
    if isinstance(series, BarContainer):
        return [p.get_x() + p.get_width() / 2 for p in series.patches]
    return list(series.get_xdata())


def check_figure(fig) -> None:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    page = fig.bbox.expanded(1.0, 1.0)
    axes = fig.get_axes()
    assert axes
    boxes = [ax.get_window_extent(renderer) for ax in axes]
    legend_texts = set()
    legends = [ax.get_legend() for ax in axes if ax.get_legend()] + list(fig.legends)
    for legend in legends:
        legend_texts |= {t.get_text() for t in legend.get_texts()}
        box = legend.get_window_extent(renderer)
        assert not any(box.overlaps(b) for b in boxes), "a legend covers an axes"
        assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1, "a legend leaves the figure"
    for ax in axes:
        where = ax.get_title() or repr(ax)
        assert len(ax.lines) + len(ax.collections) + len(ax.patches) > 0, f"{where}: no data"
        assert ax.get_title(), "an axes without a title"
        assert ax.get_xlabel() and ax.get_ylabel(), f"{where}: an unlabelled axis"
        for text in (ax.title, ax.xaxis.label, ax.yaxis.label):
            box = text.get_window_extent(renderer)
            assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1, f"{where}: text clipped"
            assert page.y0 - 1 <= box.y0 and box.y1 <= page.y1 + 1, f"{where}: text clipped"
        series = _series(ax)
        styles = [_style(s) for s in series]
        assert len(set(styles)) == len(styles), f"{where}: two series look the same"
        for s in series:
            assert s.get_label() in legend_texts, f"{where}: {s.get_label()!r} not in a legend"
        for axis in (ax.xaxis, ax.yaxis):
            ticks = _visible_tick_labels(axis, renderer)
            assert len(ticks) >= 2, f"{where}: fewer than two tick labels"
            for (_, a), (_, b) in itertools.combinations(ticks, 2):
                assert not a.overlaps(b), f"{where}: overlapping tick labels"
        if _integer_data(ax) and ax.get_xscale() == "linear":
            for loc, _ in _visible_tick_labels(ax.xaxis, renderer):
                assert float(loc).is_integer(), f"{where}: tick {loc} on integer data"


# ----------------------------------------------------------------------------- the CLI

COMMANDS = {
    "orders": ["orders"],
    "seed": ["unfold", "seed", "--quiet"],
    "ridge": ["unfold", "ridge", "--quiet"],
    "quadratic": ["unfold", "quadratic", "--quiet"],
    "lasso": ["unfold", "lasso", "--quiet"],
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", COMMANDS)
def test_cli_figure(name, fmt, tmp_path, captured, capsys):
    path = tmp_path / f"{name}.{fmt}"
    assert main([*COMMANDS[name], "--plot", str(path)]) == 0
    capsys.readouterr()
    ((fig, saved),) = captured
    assert Path(saved) == path
    _check_file(path, fmt, fig)
    if fmt == "png":  # one Figure whatever the format: its layout is checked once
        check_figure(fig)


@pytest.mark.slow  # one real (tiny) compare run: 6 trainings
@pytest.mark.parametrize("fmt", FORMATS)
def test_compare_figure(fmt, compare_results, tmp_path):
    results, saved, out = compare_results
    if fmt == "png":  # what `odenets compare --out` wrote
        ((fig, path),) = saved
        assert path == out / "results.png"
    else:  # the CLI writes PNG; the same figure in other formats through plot_compare
        path = tmp_path / f"results.{fmt}"
        fig = plots.compare_figure(results, "compare")
        plots.save_figure(fig, path)
    _check_file(path, fmt, fig)
    if fmt == "png":
        check_figure(fig)
    legend = fig.axes[1].get_legend()
    assert legend.get_title().get_text().startswith("mean ± 1 std over 2 seeds")
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["euler (ResNet)", "lm (LM-ResNet)", "heun (RK2 two-stage block)"]


# ------------------------------------------------------------------ what the figures say


def test_orders_figure_has_every_scheme_and_slope_guides(tmp_path, captured):
    assert main(["orders", "--json", "--plot", str(tmp_path / "o.png")]) == 0
    ((fig, _),) = captured
    (ax,) = fig.axes
    rows = json.loads(_study(None, None, (40, 80, 160, 320)))
    assert len(_series(ax)) == len(rows) >= 13
    guides = {ln.get_label(): ln for ln in ax.lines if ln.get_label().startswith("_slope")}
    assert sorted(guides) == [f"_slope {p}" for p in (1, 2, 3, 4)]
    for p in (1, 2, 3, 4):
        x, y = guides[f"_slope {p}"].get_data()
        slope = math.log(y[-1] / y[0]) / math.log(x[-1] / x[0])
        assert slope == pytest.approx(p, abs=1e-9)
    notes = {t.get_text() for t in ax.texts}
    assert {f"slope {p}" for p in (1, 2, 3, 4)} <= notes
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1/320", "1/160", "1/80", "1/40"]


@pytest.mark.parametrize("name", ["ridge", "quadratic", "lasso"])
def test_unfold_legends_use_readable_names(name, tmp_path, captured):
    assert main(["unfold", name, "--quiet", "--plot", str(tmp_path / "f.svg")]) == 0
    ((fig, _),) = captured
    ids = set(json.loads(_small_result(name))["mse" if name != "lasso" else "nmse_db"])
    texts = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts]
    assert texts and not ids & set(texts)
    assert all("_" not in t for t in texts)


def test_seed_figure_has_no_empty_panel(tmp_path, captured):
    assert main(["unfold", "seed", "--quiet", "--plot", str(tmp_path / "s.pdf")]) == 0
    ((fig, _),) = captured
    steps_ax, count_ax = fig.axes
    result = json.loads(_small_result("seed"))
    heights = [p.get_height() for p in steps_ax.patches]
    assert heights == pytest.approx(result["learned_steps"])
    counts = [p.get_height() for p in count_ax.patches]
    assert counts == [result["plain_iterations"], max(result["unfolded_iterations"], 0)]


def test_styles_are_distinct_for_72_series():
    triples = [tuple(s.values()) for s in plots.series_styles(plots.DISTINCT_SERIES)]
    assert len(set(triples)) == plots.DISTINCT_SERIES
    assert plots.series_styles(plots.DISTINCT_SERIES + 1)[-1] == plots.series_styles(1)[0]


@pytest.mark.slow  # four saves; embedding TrueType fonts in a PDF takes ~1 s
def test_vector_output_is_reproducible(tmp_path):
    rows = json.loads(_study(("euler", "rk4"), "nonlinear", (10, 20, 40)))
    for fmt in ("pdf", "svg"):
        a = plots.plot_convergence(rows, tmp_path / f"a.{fmt}").read_bytes()
        b = plots.plot_convergence(rows, tmp_path / f"b.{fmt}").read_bytes()
        assert a == b


# ------------------------------------------------------------------------ path checks


def test_check_figure_path_accepts_every_matplotlib_format(tmp_path):
    formats = plots.figure_formats()
    assert {"png", "pdf", "svg", "eps", "jpg"} <= set(formats)
    assert plots.check_figure_path(None) is None
    for fmt in ("png", "PDF", "svg", "eps", "jpg", "tif"):
        assert plots.check_figure_path(tmp_path / f"x.{fmt}") == tmp_path / f"x.{fmt}"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("out.pdff", "did you mean .pdf?"),
        ("out.txt", "valid suffixes: "),
        ("out", "suffix names the format"),
        ("missing/out.png", "does not exist"),
    ],
)
def test_check_figure_path_refuses(name, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="--plot") as err:
        plots.check_figure_path(name)
    assert message in str(err.value)
    if "suffix" in message or "valid" in message:
        assert all(f".{s}" in str(err.value) for s in ("png", "pdf", "svg"))


@pytest.mark.parametrize("argv", [["orders"], ["unfold", "seed"]])
def test_cli_refuses_a_bad_figure_path_in_one_line_before_any_work(argv, capsys, captured):
    assert main([*argv, "--plot", "fig.docx"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ".png" in err and ".pdf" in err and ".svg" in err
    assert not captured
