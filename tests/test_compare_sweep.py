"""``odenets compare --sweep``: accuracy-vs-cost curves along depth or widths."""

from __future__ import annotations

import json

import pytest

from odenets.workflow.cli import main
from odenets.workflow.compare import CompareConfig, count_runs, parse_sweep

TINY = ["--epochs", "1", "--timing-repeats", "1", "--robustness", "none", "--no-progress"]


def test_parse_sweep():
    assert parse_sweep("depth=8,14,20") == ("depth", [8, 14, 20])
    assert parse_sweep(" widths = 8/16/32, 16/32/64") == ("widths", [(8, 16, 32), (16, 32, 64)])
    with pytest.raises(ValueError, match="did you mean 'widths'"):
        parse_sweep("width=8/16/32")
    with pytest.raises(ValueError, match="positive"):
        parse_sweep("depth=0,8")


def test_count_runs():
    config = CompareConfig(schemes=["euler", "lm"], models=["resnet20"], seeds=[0, 1, 2])
    assert count_runs(config) == 9 and count_runs(config, [8, 14, 20, 32]) == 36


def test_depth_sweep_table_json_and_figure(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["compare", "--schemes", "euler,heun", "--seeds", "0,1", "--widths", "4,8,8"]
    assert main([*argv, "--sweep", "depth=8,14", "--out", str(out), *TINY]) == 0
    table = capsys.readouterr().out
    data = json.loads((out / "results.json").read_text())
    assert data["complete"] is True and data["sweep"] == {"key": "depth", "values": [8, 14]}
    assert data["provenance"]["config"]["schemes"] == ["euler", "heun"]
    points = data["points"]
    assert [p["value"] for p in points] == [8, 14]
    for p in points:
        assert [r["scheme"] for r in p["results"]] == ["euler", "heun"]
        assert all(len(r["runs"]) == 2 for r in p["results"])
        assert p["results"][1]["paired"]["reference"] == "euler"
    # deeper nets: more parameters and more F-evaluations, for every scheme
    for i in range(2):
        shallow, deep = points[0]["results"][i], points[1]["results"][i]
        assert deep["params"] > shallow["params"] and deep["f_evals"] > shallow["f_evals"]
    assert points[0]["results"][0]["f_evals"] == 3 and points[1]["results"][0]["f_evals"] == 6
    assert table.splitlines()[0].startswith("| depth | scheme | params")
    assert len(table.strip().splitlines()) == 2 + 4
    png = (out / "results.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") >= 2000


def test_widths_sweep_svg(tmp_path, capsys):
    svg = tmp_path / "w.svg"
    argv = ["compare", "--schemes", "euler", "--seeds", "0", "--depth", "8", "--json"]
    assert main([*argv, "--sweep", "widths=4/4/4,4/8/8", "--plot", str(svg), *TINY]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["value"] for p in data["points"]] == [[4, 4, 4], [4, 8, 8]]
    params = [p["results"][0]["params"] for p in data["points"]]
    assert params[1] > params[0]
    assert b"<svg" in svg.read_bytes()[:1000]


def _row(label, params, f_evals, accs):
    from odenets.workflow.stats import summarize

    s = summarize(accs)
    return {
        "label": label,
        "scheme": label,
        "params": params,
        "f_evals": f_evals,
        "n_runs": len(accs),
        "test_accuracy": s.mean,
        "test_accuracy_ci": list(s.ci),
        "confidence": 0.95,
        "robustness": [
            {"kind": "h_scale", "factor": 2.0, "test_accuracy": 0.5, "test_accuracy_ci": None},
            {"kind": "steps", "steps": 4, "test_accuracy": 0.6, "test_accuracy_ci": [0.5, 0.7]},
        ],
    }


def test_every_panel_of_every_figure_has_data(tmp_path, monkeypatch):
    from odenets.workflow import plots, plots_compare

    figures = []
    real = plots.save_figure

    def keep(fig, path):
        figures.append(fig)
        return real(fig, path)

    monkeypatch.setattr(plots, "save_figure", keep)
    rows = [_row("euler", 5000, 6, [0.9, 0.92]), _row("lm", 5003, 6, [0.91, 0.93])]
    points = [
        {"key": "depth", "value": 8, "results": rows},
        {"key": "depth", "value": 14, "results": [_row("euler", 9000, 9, [0.93, 0.94])]},
    ]
    plots_compare.plot_compare(rows, tmp_path / "a.png")
    plots_compare.plot_sweep(points, tmp_path / "b.png")
    plots_compare.plot_robustness(rows, tmp_path / "c.png")
    for fig in figures:
        axes = [ax for ax in fig.axes if ax.get_xlabel()]
        assert axes and all(ax.has_data() for ax in axes)
        assert all(ax.get_ylabel() == "test accuracy (%)" for ax in axes)
        assert axes[0].get_ylim() == axes[-1].get_ylim()  # panels share the accuracy range
        title = axes[-1].get_legend().get_title().get_text()
        assert "95% t-interval over 2 seeds" in title
        # autoscaling saw the (dodged) data: every mean lies inside the y-limits
        for ax in axes:
            lo, hi = ax.get_ylim()
            assert lo < 90 < hi or lo < 50 < hi
    assert len(figures[2].axes) == 2  # h scaling and re-timing panels, no empty one
    with pytest.raises(ValueError, match="cannot write .docx"):
        plots_compare.plot_compare(rows, tmp_path / "a.docx")
