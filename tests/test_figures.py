"""Every figure the CLI makes, in PNG, PDF and SVG, checked as a reader would check it.

The figures come from the real commands: ``orders`` and ``unfold seed|ridge|quadratic|lasso
--plot`` on cut-down experiments (computed once per module and handed to the CLI in their
place), and the training commands ``compare`` (accuracy against cost and its robustness
figure), ``compare --sweep``, ``compare --optimizers`` and ``batch-sweep``, each run once for
real on tiny nets (1-2 epochs, 2 seeds) writing its default PNG into ``--out``, then replayed
from what it computed for ``--plot FILE`` in the other formats. ``save_figure`` is wrapped so
each test inspects the very Figure the command wrote. Checks: the file's magic bytes and, for
PNG, 300 dpi and the figure's size in pixels; for every axes, data, a title and both axis
labels, tick labels that do not overlap, integer ticks on integer data, no two series with
the same (colour, marker, line style), every labelled series in a legend, legends outside
every axes, and all text inside the figure; then what each figure says (its error bars, its
curves, its annotations) against the numbers the command computed.
"""

from __future__ import annotations

import functools
import importlib
import io
import itertools
import json
import math
import shlex
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.container import BarContainer, ErrorbarContainer
from PIL import Image

from odenets.numerics import convergence
from odenets.unfold import experiments
from odenets.workflow import plots, plots_compare, plots_orders, plots_unfold
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
    _spy(monkeypatch, saved)
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


# The trained figures: each command runs once for real (tiny nets, 1-2 epochs, 2 seeds)
# through the CLI, writing its default figure; what it computed is recorded and replayed in
# place of the training when the same command is asked for the figure in another format.
TINY = ["--depth", "8", "--no-progress"]
TINY_COMPARE = [*TINY, "--epochs", "1", "--timing-repeats", "1", "--seeds", "0,1"]
TRAINED = {  # name: (the computation recorded and replayed, the command line)
    # compare: 3 schemes (euler and lm at equal cost: dodged), weight-tied so that the
    # robustness figure has both panels (h scaled, re-timed)
    "compare": (
        "odenets.workflow.compare.compare",
        shlex.split(
            "compare --schemes euler,lm,heun --widths 4,8,8 --tie all --robustness 0.5,2 "
            "--robustness-steps 1,2"
        )
        + TINY_COMPARE,
    ),
    "sweep": (
        "odenets.workflow.compare.sweep",
        shlex.split("compare --schemes euler,heun --sweep widths=4/4/4,4/8/8 --robustness none")
        + TINY_COMPARE,
    ),
    "optimizers": (
        "odenets.workflow.optimizer_compare.compare_optimizers",
        shlex.split(
            "compare --optimizers sgd,adam --widths 4,8,8 --epochs 2 --batch-size 128 --seeds 0,1"
        )
        + TINY,
    ),
    "batch": (
        "odenets.workflow.batch_size.batch_sweep",
        shlex.split(
            "batch-sweep --widths 4,8,8 --seeds 0,1 --batch-sizes 64,128,256 "
            "--target 'train_loss<2.0' --eval-every 2"
        )
        + TINY,
    ),
}
#: The figures each trained command writes by default into its --out folder.
DEFAULT_FIGURES = {
    "compare": ["results.png", "results_robustness.png"],
    "sweep": ["results.png"],
    "optimizers": ["optimizers.png"],
    "batch": ["sweep.png"],
}
_SPIED = (plots, plots_unfold)


def _spy(mp, saved: list) -> None:
    original = plots.save_figure

    def spy(fig, path, **kw):
        saved.append((fig, Path(path)))
        return original(fig, path, **kw)

    for module in _SPIED:
        mp.setattr(module, "save_figure", spy)


def _target(dotted: str):
    module, name = dotted.rsplit(".", 1)
    return importlib.import_module(module), name


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``{name: (argv, recorded result as JSON, out folder, [(figure, path), ...])}``, each
    command run lazily once for real."""
    runs = {}

    def run(name: str):
        if name not in runs:
            dotted, argv = TRAINED[name]
            out = tmp_path_factory.mktemp(name)
            module, attr = _target(dotted)
            real, recorded, saved = getattr(module, attr), [], []

            def record(*args, **kwargs):
                recorded.append(real(*args, **kwargs))
                return recorded[-1]

            with pytest.MonkeyPatch.context() as mp:
                _spy(mp, saved)
                mp.setattr(module, attr, record)
                assert main([*argv, "--out", str(out)]) == 0
            runs[name] = (argv, json.dumps(recorded[-1]), out, saved)
        return runs[name]

    return run


@pytest.fixture
def replay(trained, monkeypatch, captured):
    """Run a trained command's CLI on its recorded result (no training); returns the
    (figure, path) pairs it saved."""

    def run(name: str, *extra: str):
        argv, result, _, _ = trained(name)
        module, attr = _target(TRAINED[name][0])
        monkeypatch.setattr(module, attr, lambda *a, **k: json.loads(result))
        captured.clear()
        assert main([*argv, *extra]) == 0
        return list(captured)

    return run


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


# every command's figure as PNG (its layout checked); the vector formats through two commands
# (the format is the suffix of --plot, handled by the same plots.save_figure for all)
CLI_CASES = [(name, "png") for name in COMMANDS] + [
    (name, fmt) for name in ("orders", "lasso") for fmt in FORMATS if fmt != "png"
]


@pytest.mark.parametrize(("name", "fmt"), CLI_CASES)
def test_cli_figure(name, fmt, tmp_path, captured, capsys):
    path = tmp_path / f"{name}.{fmt}"
    assert main([*COMMANDS[name], "--plot", str(path)]) == 0
    capsys.readouterr()
    ((fig, saved),) = captured
    assert Path(saved) == path
    _check_file(path, fmt, fig)
    if fmt == "png":  # one Figure whatever the format: its layout is checked once
        check_figure(fig)


@pytest.mark.slow  # one real (tiny) run per command: 4-6 trainings of 1-2 epochs each
@pytest.mark.parametrize("name", TRAINED)
def test_trained_default_figures(name, trained):
    """What each training command writes into its --out folder by default (PNG)."""
    _, _, out, saved = trained(name)
    assert [path for _, path in saved] == [out / f for f in DEFAULT_FIGURES[name]]
    for fig, path in saved:
        _check_file(path, "png", fig)
        check_figure(fig)


@pytest.mark.slow  # replays the recorded runs (no training); PDF font embedding ~0.5 s
@pytest.mark.parametrize("fmt", ["pdf", "svg"])
@pytest.mark.parametrize("name", TRAINED)
def test_trained_figures_in_any_format(name, fmt, replay, tmp_path):
    """``--plot FILE`` picks the format; PDF inside an --out folder the command creates
    itself, SVG without --out (batch-sweep always has one)."""
    if fmt == "pdf":
        out = tmp_path / "new"
        path = out / "fig.pdf"
        saved = replay(name, "--out", str(out), "--plot", str(path))
    else:
        path = tmp_path / "fig.svg"
        extra = ["--out", str(tmp_path / "o")] if name == "batch" else []
        saved = replay(name, *extra, "--plot", str(path))
    expected = [path, path.with_name(f"fig_robustness.{fmt}")] if name == "compare" else [path]
    assert [p for _, p in saved] == expected
    for fig, p in saved:
        _check_file(p, fmt, fig)


def _bar_ends(container) -> list[float]:
    """The low and high ends of each error bar of an errorbar container, in one list."""
    (bars,) = container.lines[2]
    return [float(v) for seg in bars.get_segments() for v in sorted(seg[:, 1])]


def _display_x(line) -> float:
    """Where the first point of ``line`` is drawn (pixels from the left)."""
    x, y = line.get_data()
    return float(line.get_transform().transform((x[0], y[0]))[0])


@pytest.mark.slow
def test_compare_figures_say_what_their_error_bars_are(trained):
    _, result, _, saved = trained("compare")
    results = json.loads(result)
    (fig, _), (robust, _) = saved
    labels = ["euler (ResNet)", "lm (LM-ResNet)", "heun (RK2 two-stage block)"]
    for figure in (fig, robust):
        legend = figure.axes[-1].get_legend()
        title = legend.get_title().get_text()
        assert title.startswith("error bars: mean, 95% t-interval over 2 seeds")
        assert "drawn 4 pt apart" in title  # euler and lm have the same cost
        assert [t.get_text() for t in legend.get_texts()] == labels
    for ax, key in zip(fig.axes, ("params", "f_evals"), strict=True):
        for container, r in zip(ax.containers, results, strict=True):
            (x,), (y,) = container.lines[0].get_data()
            assert (x, y) == (r[key], pytest.approx(100 * r["test_accuracy"]))
            ci = [100 * v for v in r["test_accuracy_ci"]]
            assert _bar_ends(container) == pytest.approx(ci)
        euler, lm = ax.containers[0].lines[0], ax.containers[1].lines[0]
        gap = _display_x(lm) - _display_x(euler)
        assert gap == pytest.approx(4 * fig.dpi / 72)  # side by side, 4 pt apart
    scaled, retimed = robust.axes
    assert scaled.get_title() == "every step size h scaled by c"
    for container, r in zip(scaled.containers, results, strict=True):
        x, y = container.lines[0].get_data()
        assert list(x) == [0.5, 1.0, 2.0]
        assert y[1] == pytest.approx(100 * r["test_accuracy"])  # c = 1: as trained
    for container in retimed.containers:
        assert list(container.lines[0].get_xdata()) == [1, 2]


@pytest.mark.slow
def test_sweep_figure_has_a_curve_per_scheme_through_the_values(trained):
    _, result, _, ((fig, _),) = trained("sweep")
    points = json.loads(result)
    for ax, key in zip(fig.axes, ("params", "f_evals"), strict=True):
        for i, container in enumerate(ax.containers):
            rows = [p["results"][i] for p in points]
            assert list(container.lines[0].get_xdata()) == [r[key] for r in rows]
            means = [100 * r["test_accuracy"] for r in rows]
            assert list(container.lines[0].get_ydata()) == pytest.approx(means)
        assert {"4/4/4", "4/8/8"} <= {t.get_text() for t in ax.texts}
    title = fig.axes[1].get_legend().get_title().get_text()
    assert "95% t-interval over 2 seeds" in title and "numbers at the points: widths" in title


@pytest.mark.slow
def test_optimizer_figure_has_mean_curves_and_std_bands(trained):
    _, result, _, ((fig, _),) = trained("optimizers")
    payload = json.loads(result)
    loss, accuracy = fig.axes
    assert loss.get_yscale() == "log"
    for ax, key, scale in ((loss, "train_loss", 1), (accuracy, "test_accuracy", 100)):
        lines = _series(ax)
        assert [ln.get_label() for ln in lines] == ["sgd (lr 0.1)", "adam (lr 0.001)"]
        for line, r in zip(lines, payload["results"], strict=True):
            assert list(line.get_xdata()) == [1, 2]
            assert list(line.get_ydata()) == pytest.approx([scale * m for m in r[key]["mean"]])
        assert len(ax.collections) == 2  # one ± 1 std band per optimizer
    title = accuracy.get_legend().get_title().get_text()
    assert title.startswith("lines: mean over 2 seeds") and "± 1 std" in title


@pytest.mark.slow
def test_batch_figure_has_the_measurements_the_fit_and_the_critical_batch(trained):
    _, result, _, ((fig, _),) = trained("batch")
    payload = json.loads(result)
    steps, sfo = fig.axes
    done = [r for r in payload["table"] if "steps_mean" in r]
    for ax, times in ((steps, False), (sfo, True)):
        (measured,) = ax.containers
        x, y = measured.lines[0].get_data()
        assert list(x) == [r["batch_size"] for r in done]
        factor = {r["batch_size"]: r["batch_size"] if times else 1 for r in done}
        assert list(y) == pytest.approx([r["steps_mean"] * factor[r["batch_size"]] for r in done])
        ends = [r[k] * factor[r["batch_size"]] for r in done for k in ("steps_min", "steps_max")]
        assert _bar_ends(measured) == pytest.approx(ends)
        assert ax.get_xscale() == ax.get_yscale() == "log"
    labels = [t.get_text() for t in sfo.get_legend().get_texts()]
    assert "each seed" in labels and any(t.startswith("fit N(b) = ") for t in labels)
    fit = payload["fit"]
    if fit["ok"]:
        (star,) = [ln for ln in sfo.lines if ln.get_marker() == "*"]
        assert star.get_data() == ([fit["critical_batch"]], [fit["min_sfo"]])


@pytest.mark.slow  # 2 runs of 4 steps
def test_batch_figure_when_the_target_is_missed(tmp_path, captured, capsys):
    argv = ["batch-sweep", "--widths", "4,8,8", "--seeds", "0", "--batch-sizes", "32,64"]
    argv += ["--target", "train_loss<0.0001", "--max-steps", "4", "--eval-every", "2", *TINY]
    path = tmp_path / "missed.png"
    assert main([*argv, "--out", str(tmp_path / "o"), "--plot", str(path)]) == 2
    assert "not reached" in capsys.readouterr().err
    ((fig, saved),) = captured
    assert saved == path
    _check_file(path, "png", fig)
    check_figure(fig)
    for ax in fig.axes:
        (missed,) = [ln for ln in ax.lines if ln.get_marker() == "^"]
        assert list(missed.get_xdata()) == [32, 64]


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


def _entry(scheme, params, accuracy, *, runs=1, diverged=0, ci=None):
    probes = [{"kind": "h_scale", "factor": 0.5, "test_accuracy": (accuracy or 0) / 2}]
    return {
        "label": scheme, "scheme": scheme, "architecture": "", "model": "SolverNet(...)",
        "params": params, "f_evals": 3, "n_runs": runs, "n_diverged": diverged,
        "test_accuracy": accuracy, "test_accuracy_ci": ci, "confidence": 0.95,
        "robustness": [] if accuracy is None else probes,
    }  # fmt: skip


def test_compare_figures_with_one_seed_and_a_diverged_entry():
    """One seed: no bars, and the legend says so; an entry whose runs all diverged is left
    out of every panel (and of the legend)."""
    rows = [_entry("euler", 5000, 0.9), _entry("heun", 7000, None, diverged=1)]
    rows.append(_entry("lm", 5000, 0.8))
    for fig in (plots_compare.compare_figure(rows), plots_compare.robustness_figure(rows)):
        check_figure(fig)
        legend = fig.axes[-1].get_legend()
        assert legend.get_title().get_text().startswith("error bars: one seed each (no error")
        assert [t.get_text() for t in legend.get_texts()] == ["euler", "lm"]
        for ax in fig.axes:
            assert all(not c.lines[2] for c in ax.containers)  # no bars
    with pytest.raises(ValueError, match="every run diverged"):
        plots_compare.compare_figure([rows[1]])


def test_dodge_offsets_spread_only_series_that_share_an_x():
    assert plots.dodge_offsets([[3], [3], [4]], 4) == [-2.0, 2.0, 0.0]
    assert plots.dodge_offsets([[1], [1], [1]], 4) == [-4.0, 0.0, 4.0]
    # series 0 and 1 meet at x = 2 (within 0.1%): one group; series 2 is alone
    assert plots.dodge_offsets([[1, 2], [2.0001, 3], [50, 60]], 4) == [-2.0, 2.0, 0.0]
    assert plots.dodge_offsets([[1, 2], [3, 4]], 4) == [0.0, 0.0]


@pytest.mark.parametrize(
    ("values", "plain"), [((2.1, 2.35), True), ((400.0, 4000.0), True), ((1e-12, 1.0), False)]
)
def test_log_axis_labels_narrow_ranges_in_plain_numbers(values, plain):
    fig, (ax,) = plots.new_figure()
    ax.plot([0, 1], values)
    plots.log_axis(ax.yaxis, values)
    FigureCanvasAgg(fig).draw()
    lo, hi = ax.get_ylim()
    ticks = [(t.get_loc(), t.label1.get_text()) for t in ax.yaxis.get_major_ticks()]
    shown = [(loc, text) for loc, text in ticks if lo <= loc <= hi and text]
    assert ax.get_yscale() == "log" and len(shown) >= 2
    for loc, text in shown:
        if plain:
            assert float(text) == pytest.approx(loc)
        else:
            assert "10^" in text


def test_check_figure_path_accepts_the_folder_the_command_creates(tmp_path):
    out = tmp_path / "runs" / "new"
    assert plots.check_figure_path(out / "f.pdf", creates=out) == out / "f.pdf"
    for elsewhere in (out / "sub" / "f.pdf", tmp_path / "other" / "f.pdf"):
        with pytest.raises(ValueError, match="does not exist"):
            plots.check_figure_path(elsewhere, creates=out)


def test_spread_note_says_what_the_bars_are():
    assert plots.spread_note([3, 3]) == "mean ± 1 std over 3 seeds"
    assert plots.spread_note([4, 5], 0.95) == "mean, 95% t-interval over 4–5 seeds"
    assert plots.spread_note(1, 0.95) == "one seed each (no error bars)"


@pytest.mark.slow  # four saves; embedding TrueType fonts in a PDF takes ~1 s
def test_vector_output_is_reproducible(tmp_path):
    rows = json.loads(_study(("euler", "rk4"), "nonlinear", (10, 20, 40)))
    for fmt in ("pdf", "svg"):
        a = plots_orders.plot_convergence(rows, tmp_path / f"a.{fmt}").read_bytes()
        b = plots_orders.plot_convergence(rows, tmp_path / f"b.{fmt}").read_bytes()
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


@pytest.mark.parametrize(
    "argv", [["orders"], ["unfold", "seed"], *(argv for _, argv in TRAINED.values())]
)
@pytest.mark.parametrize(("plot", "message"), [("fig.docx", ".svg"), ("no/f.pdf", "not exist")])
def test_cli_refuses_a_bad_figure_path_in_one_line_before_any_work(
    argv, plot, message, capsys, captured, monkeypatch, tmp_path
):
    def never(*args, **kwargs):
        raise AssertionError("worked before refusing the figure path")

    for dotted, _ in TRAINED.values():
        monkeypatch.setattr(*_target(dotted), never)
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--plot", plot]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--plot" in err and message in err
    if plot.endswith(".docx"):
        assert ".png" in err and ".pdf" in err and ".svg" in err
    assert not captured and not any(tmp_path.iterdir())
