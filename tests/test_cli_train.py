"""CLI of the training workflow: compare (table, JSON, files), train, eval, argument errors."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import train_argv

import odenets as on
from odenets.workflow.checkpoint import load_checkpoint
from odenets.workflow.cli import main

TINY = ["--depth", "8", "--widths", "4,8,8", "--epochs", "1", "--no-progress"]
TINY += ["--timing-repeats", "1", "--robustness", "none"]


def test_compare_json_is_the_only_stdout(capsys):
    assert main(["compare", "--schemes", "euler,heun", "--seeds", "0", "--json", *TINY]) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)  # nothing else on stdout
    assert payload["complete"] is True and "provenance" in payload
    rows = payload["results"]
    assert [r["scheme"] for r in rows] == ["euler", "heun"]
    for r in rows:
        assert {"scheme", "model", "params", "f_evals", "test_accuracy", "seconds"} <= r.keys()
        assert 0 <= r["test_accuracy"] <= 1 and r["seconds"] > 0
    euler = on.SolverNet("euler", depth=8, widths=(4, 8, 8), in_channels=1)
    heun = on.SolverNet("heun", depth=8, widths=(4, 8, 8), in_channels=1)
    x = torch.zeros(1, 1, 8, 8)
    assert rows[0]["params"] == on.count_parameters(euler)
    assert rows[0]["f_evals"] == on.count_field_calls(euler, x) == 3
    assert rows[1]["f_evals"] == on.count_field_calls(heun, x) == 4  # the RK2 step: 2 F's
    assert rows[1]["params"] > rows[0]["params"]


def test_compare_table_seeds_and_files(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--schemes", "lm", "--seeds", "0,1", "--out", str(out), *TINY]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].startswith("| scheme | params | F-evals")
    assert "±" in table and "| lm" in table
    data = json.loads((out / "results.json").read_text())
    runs = data["results"][0]["runs"]
    assert [r["seed"] for r in runs] == [0, 1]
    accs = [r["test_accuracy"] for r in runs]
    assert data["results"][0]["test_accuracy"] == pytest.approx(sum(accs) / 2)
    assert (out / "results.md").read_text().startswith("| scheme")
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_presets(capsys):
    assert main(["compare", "--models", "resnet20", "--json", "--seeds", "0", *TINY[4:]]) == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    assert [r["model"] for r in rows] == ["resnet20"] and rows[0]["scheme"] == "euler"


def test_train_then_eval(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_argv(out, "lm_resnet20", "--json")) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["epoch"] == 1
    assert main(["eval", str(out / "last.pt"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["data"] == "digits" and result["epoch"] == 1
    assert result["test_accuracy"] == pytest.approx(record["test_accuracy"])
    spec = load_checkpoint(out / "last.pt")["model_spec"]
    assert spec["preset"] == "lm_resnet20" and spec["kwargs"]["widths"] == [4, 8, 8]


def _one_line_exit_2(capsys, argv, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize(
    "argv, needles",
    [
        (["compare", "--schemes", "eulr"], ["unknown scheme", "'euler'"]),
        (["compare", "--models", "resnet21"], ["unknown model", "resnet20"]),
        (["compare", "--epochs", "0"], ["positive integer"]),
        (["compare", "--seeds", "a,b"], ["comma-separated list of integers"]),
        (["compare", "--data", "mnist"], ["invalid choice"]),
        (["compare", "--depth", "9", "--epochs", "1"], ["depth 9", "6n+2"]),
        (["train", "--model", "resnt20"], ["did you mean 'resnet20'"]),
        (["train", "--epochs", "1", "--batch-size", "5000"], ["exceeds"]),
        (["train", "--lr", "fast"], ["invalid float value"]),
        (["eval", "missing.pt"], ["checkpoint not found"]),
        (["transfer", "missing.pt", "--steps", "0"], ["positive integer"]),
        (["train", "--data", "cifar10", "--epochs", "1"], ["--data-dir"]),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, tmp_path, argv, needles):
    if argv[0] == "train":
        argv = [*argv, "--out", str(tmp_path / "run"), "--no-progress"]
    _one_line_exit_2(capsys, argv, *needles)


def test_resume_without_checkpoint_and_corrupt_checkpoint(tmp_path, capsys):
    _one_line_exit_2(capsys, ["train", "--out", str(tmp_path), "--resume"], "not found")
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"\x80\x04corrupt")
    _one_line_exit_2(capsys, ["eval", str(bad)], "corrupt")
    _one_line_exit_2(
        capsys, ["train", "--out", str(tmp_path), "--resume", "--no-progress"], "corrupt"
    )


def test_diverging_run_stops_with_exit_1(tmp_path, capsys):
    code = main(train_argv(tmp_path, "resnet20", "--lr", "1e30", epochs=2))
    err = capsys.readouterr().err
    assert code == 1 and "loss became" in err and "Traceback" not in err


def test_incremental_run_is_evaluated_at_its_final_grid(tmp_path, capsys):
    out = tmp_path / "inc"
    argv = train_argv(out, "ode_resnet", "--incremental", "1,4", "--json", depth=14, epochs=2)
    assert main(argv) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["steps"] for r in records] == [1, 4]
    assert main(["eval", str(out / "last.pt"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["test_accuracy"] == pytest.approx(records[-1]["test_accuracy"])
