"""``odenets compare``: paired statistics over seeds, cost columns, robustness, progress,
provenance, partial results and bad input (tiny nets on digits)."""

from __future__ import annotations

import json
import math

import pytest

from odenets.workflow import compare as compare_module
from odenets.workflow.cli import main
from odenets.workflow.compare import CompareConfig, compare
from odenets.workflow.stats import paired, summarize

TINY = ["--depth", "8", "--widths", "4,8,8", "--epochs", "1", "--timing-repeats", "1"]


def _run(capsys, *argv):
    code = main(["compare", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_statistics_are_recomputable_from_the_per_seed_numbers(tmp_path, capsys):
    out = tmp_path / "cmp"
    code, table, err = _run(
        capsys, "--schemes", "euler,heun,lm", "--seeds", "0,1,2", "--out", str(out), *TINY
    )
    assert code == 0, err
    data = json.loads((out / "results.json").read_text())
    assert data["complete"] is True
    euler, heun, lm = data["results"]
    for row in data["results"]:
        accs = [r["test_accuracy"] for r in row["runs"]]
        assert [r["seed"] for r in row["runs"]] == [0, 1, 2]
        s = summarize(accs)
        assert row["test_accuracy"] == pytest.approx(s.mean)
        assert row["test_accuracy_std"] == pytest.approx(s.std)
        lo, hi = row["test_accuracy_ci"]
        assert lo == pytest.approx(max(0.0, s.ci[0])) and hi == pytest.approx(min(1.0, s.ci[1]))
        assert row["train_step_ms"] > 0 and row["inference_ms"] > 0
        assert "measured on this machine" in row["timing"]["statistic"]
    assert euler["paired"] is None
    ref = [r["test_accuracy"] for r in euler["runs"]]
    c = paired(ref, [r["test_accuracy"] for r in heun["runs"]])
    assert heun["paired"]["reference"] == "euler" and heun["paired"]["seeds"] == [0, 1, 2]
    assert heun["paired"]["mean"] == pytest.approx(c.mean)
    assert heun["paired"]["p_value"] == pytest.approx(c.p_value)
    # robustness: the same paired comparison at every re-discretization
    for j, probe in enumerate(heun["robustness"]):
        mine = [r["robustness"][j]["test_accuracy"] for r in heun["runs"]]
        theirs = [r["robustness"][j]["test_accuracy"] for r in euler["runs"]]
        assert probe["paired"]["mean"] == pytest.approx(paired(theirs, mine).mean)
    assert "paired" not in euler["robustness"][0]
    # depth 8 has one step per stage and a multistep stage starts with an Euler step: the LM
    # net is the ResNet, run for run, and the table must say the difference is not real
    assert [r["test_accuracy"] for r in lm["runs"]] == ref
    assert lm["paired"]["distinguishable"] is False
    lm_line = next(line for line in table.splitlines() if line.startswith("| lm "))
    assert "not distinguishable" in lm_line
    assert "95% CI" in table.splitlines()[0] and "measured on this machine" in table
    md = (out / "results.md").read_text()
    assert md.startswith("| scheme | params | F-evals") and "h×0.5" in md


def test_results_carry_provenance_and_every_per_seed_number(tmp_path, capsys):
    out = tmp_path / "cmp"
    code, _, _ = _run(capsys, "--schemes", "euler", "--seeds", "3,5", "--out", str(out), *TINY)
    assert code == 0
    data = json.loads((out / "results.json").read_text())
    prov = data["provenance"]
    assert prov["config"]["seeds"] == [3, 5] and prov["config"]["depth"] == 8
    assert prov["config"]["command"] == "compare"
    assert {"python", "torch", "numpy", "odenets"} <= prov["versions"].keys()
    assert "git_commit" in prov and prov["machine"]["cpu_count"] >= 1
    run = data["results"][0]["runs"][1]
    assert run["seed"] == 5 and run["diverged"] is False
    assert {"test_accuracy", "best_accuracy", "test_loss", "train_loss", "seconds"} <= run.keys()
    factors = [p["factor"] for p in run["robustness"]]
    assert factors == [0.5, 0.75, 1.25, 1.5, 2.0]


def test_robustness_options_and_tied_nets(capsys):
    code, out, _ = _run(
        capsys,
        "--schemes",
        "euler",
        "--tie",
        "all",
        "--seeds",
        "0",
        "--json",
        "--robustness",
        "2",
        "--robustness-steps",
        "1,4",
        *TINY,
    )
    assert code == 0
    row = json.loads(out)["results"][0]
    kinds = [(p["kind"], p.get("factor", p.get("steps"))) for p in row["robustness"]]
    assert kinds == [("h_scale", 2.0), ("steps", 1), ("steps", 4)]
    assert row["robustness"][2]["f_evals"] == 2 + 4  # depth 8: only the first stage has steps
    code, out, _ = _run(
        capsys, "--schemes", "euler", "--seeds", "0", "--json", "--robustness", "none", *TINY
    )
    assert code == 0 and json.loads(out)["results"][0]["robustness"] == []


def test_progress_is_one_line_per_run_off_a_terminal(capsys):
    code, _, err = _run(capsys, "--schemes", "euler,lm", "--seeds", "0,1", *TINY)
    assert code == 0
    lines = err.strip().splitlines()
    assert "\r" not in err and len(lines) == 4
    assert lines[0].startswith("compare: euler seed 0 (1/4): test accuracy")
    assert lines[3].startswith("compare: lm seed 1 (4/4)")
    code, _, err = _run(capsys, "--schemes", "euler", "--seeds", "0", "--no-progress", *TINY)
    assert code == 0 and err == ""


def test_figures_in_any_matplotlib_format(tmp_path, capsys):
    pdf = tmp_path / "cmp.pdf"
    code, _, err = _run(
        capsys, "--schemes", "euler,heun", "--seeds", "0,1", "--plot", str(pdf), *TINY
    )
    assert code == 0, err
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "cmp_robustness.pdf").read_bytes()[:5] == b"%PDF-"
    out = tmp_path / "cmp"
    code, _, _ = _run(
        capsys,
        "--schemes",
        "euler",
        "--seeds",
        "0,1",
        "--robustness",
        "none",
        "--out",
        str(out),
        *TINY,
    )
    assert not (out / "results_robustness.png").exists()  # no empty figure
    png = (out / "results.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(png[16:20], "big")
    assert width >= 2000  # 300 dpi


def test_partial_results_survive_an_interruption(tmp_path, capsys, monkeypatch):
    real = compare_module.train
    calls = []

    def flaky(run, dataset):
        calls.append(run.seed)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(run, dataset=dataset)

    monkeypatch.setattr(compare_module, "train", flaky)
    out = tmp_path / "cmp"
    code, _, _ = _run(capsys, "--schemes", "euler,lm", "--seeds", "0,1", "--out", str(out), *TINY)
    assert code == 130
    data = json.loads((out / "results.json").read_text())
    assert data["complete"] is False
    assert [len(r["runs"]) for r in data["results"]] == [1, 1]  # seed 0 of both schemes


def test_a_diverged_run_is_recorded_and_the_rest_goes_on(tmp_path, capsys):
    out = tmp_path / "cmp"
    code, table, err = _run(
        capsys, "--schemes", "euler", "--seeds", "0,1", "--lr", "1e30", "--out", str(out), *TINY
    )
    assert code == 0
    runs = json.loads((out / "results.json").read_text())["results"][0]["runs"]
    assert [r["diverged"] for r in runs] == [True, True] and "loss became" in runs[0]["error"]
    assert "diverged (2/2)" in table and "2 of 2 runs diverged" in err
    assert "Traceback" not in err


def test_on_run_sees_every_partial_result():
    seen = []
    config = CompareConfig(
        schemes=["euler", "lm"],
        seeds=[0, 1],
        depth=8,
        widths=(4, 8, 8),
        epochs=1,
        progress=False,
        timing_repeats=1,
        robustness=(),
    )
    rows = compare(config, on_run=seen.append)
    assert [sum(len(r["runs"]) for r in snap) for snap in seen] == [1, 2, 3, 4]
    assert all("train_step_ms" not in r for r in seen[-1])  # timing comes last
    assert rows[1]["paired"]["n"] == 2 and not math.isnan(rows[1]["paired"]["mean"])


@pytest.mark.parametrize(
    "argv, needles",
    [
        (["--sweep", "deph=8,14"], ["unknown sweep key 'deph'", "did you mean 'depth'"]),
        (["--sweep", "depth=8,x"], ["--sweep depth values must be integers"]),
        (["--sweep", "widths=8/16/x"], ["slash-separated integers"]),
        (["--sweep", "depth="], ["needs comma-separated values"]),
        (["--sweep", "depth"], ["expects KEY=VALUES"]),
        (["--sweep", "depth=8,8"], ["distinct"]),
        (["--sweep", "depth=8,14", "--depth", "8"], ["both set the depth"]),
        (
            ["--sweep", "depth=8,14,20", "--max-runs", "10"],
            ["would train 45 networks", "--max-runs 10"],
        ),
        (["--seeds", "0,0"], ["distinct"]),
        (["--sweep", "depth=8,14", "--models", "resnet20"], ["presets have a fixed size"]),
        (["--batch-size", "5000"], ["--batch-size 5000 exceeds the 1347 training samples"]),
        (["--train-size", "50", "--batch-size", "64"], ["exceeds the 50 training samples"]),
        (["--train-size", "99999"], ["--train-size 99999 exceeds"]),
        (["--train-size", "some"], ["positive integer or 'all'"]),
        (["--robustness", "0,2"], ["positive step-size factors"]),
        (["--plot", "figure.xyz"], ["matplotlib cannot write .xyz", ".png"]),
        (["--sweep", "depth=8,9"], ["depth 9", "6n+2"]),
    ],
)
def test_bad_input_is_one_line_exit_2_before_training(tmp_path, capsys, monkeypatch, argv, needles):
    def never(*args, **kwargs):
        raise AssertionError("trained before refusing")

    monkeypatch.setattr(compare_module, "train", never)
    out = tmp_path / "cmp"
    code, _, err = _run(capsys, *argv, "--out", str(out), "--epochs", "1")
    assert code == 2, err
    err = err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    assert not (out / "results.json").exists()


def test_train_size_subset_is_fixed_and_stratified():
    import torch

    from odenets.workflow.compare import _subset
    from odenets.workflow.data import load_dataset

    full = load_dataset("digits", seed=0)
    a, b = _subset(full, 300), _subset(full, 300)
    assert torch.equal(a.x_train, b.x_train) and len(a.y_train) == 300
    expected = torch.bincount(full.y_train).double() * 300 / len(full.y_train)
    assert (torch.bincount(a.y_train).double() - expected).abs().max() <= 2
    rows = {tuple(x.flatten().tolist()) for x in full.x_train}  # drawn from the training set
    assert all(tuple(x.flatten().tolist()) in rows for x in a.x_train)
    assert torch.equal(a.x_test, full.x_test)  # the test set is untouched


def test_progress_on_a_terminal_is_one_bar_naming_the_run(monkeypatch):
    import io
    import sys

    from odenets.workflow.progress import RunProgress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    progress = RunProgress(2, enabled=True)
    assert progress.epoch_bars
    label = progress.start("euler seed 1")
    progress.finish(label, {"seconds": 1.0, "test_accuracy": 0.5})
    progress.start("lm seed 1")
    progress.close()
    text = term.getvalue()
    assert "euler seed 1 (1/2)" in text and "lm seed 1 (2/2)" in text and "1/2" in text
    quiet = RunProgress(2, enabled=False)
    assert not quiet.epoch_bars and quiet.start("x") == "x (1/2)"


def test_results_json_is_strict_json_even_with_non_finite_numbers(tmp_path):
    from odenets.workflow.cmd_compare import _write_json

    _write_json(tmp_path / "r.json", {"a": [1.0, float("nan")], "b": {"c": float("inf")}})
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": [1.0, None], "b": {"c": None}}
