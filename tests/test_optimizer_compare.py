"""``compare --optimizers``: one net per optimizer from identical initial weights, per-epoch
curves with a seed band, files, and one-line errors."""

from __future__ import annotations

import json

import pytest
import torch

from odenets.workflow import train as train_module
from odenets.workflow.cli import main
from odenets.workflow.data import Dataset, load_dataset
from odenets.workflow.optimizer_compare import OptimizerCompareConfig, compare_optimizers

TINY = {"depth": 8, "widths": (4, 8, 8), "epochs": 2, "batch_size": 64, "progress": False}


def _small():
    d = load_dataset("digits")
    cut = {"x_train": d.x_train[:256], "y_train": d.y_train[:256], "x_test": d.x_test[:100]}
    return Dataset(**{**d.__dict__, **cut, "y_test": d.y_test[:100]})


def test_every_optimizer_starts_from_the_same_weights_and_logs_every_epoch(monkeypatch):
    built = []
    real = train_module.build_model

    def spy(spec):  # the weights each run actually starts from
        model = real(spec)
        built.append({k: v.clone() for k, v in model.state_dict().items()})
        return model

    monkeypatch.setattr(train_module, "build_model", spy)
    payload = compare_optimizers(
        OptimizerCompareConfig(optimizers=("sgd", "adam", "rmsprop"), seeds=(0, 1), **TINY),
        dataset=_small(),
    )
    assert len(built) == 6  # optimizer-major, seeds inner: (sgd,0) (sgd,1) (adam,0) ...
    for seed in (0, 1):
        first = built[seed]
        for other in built[seed::2]:
            assert all(torch.equal(first[k], other[k]) for k in first)
    assert not all(torch.equal(built[0][k], built[1][k]) for k in built[0])  # seeds differ
    results = {r["optimizer"]: r for r in payload["results"]}
    assert list(results) == ["sgd", "adam", "rmsprop"]
    assert (results["sgd"]["lr"], results["adam"]["lr"], results["rmsprop"]["lr"]) == (
        0.1, 1e-3, 1e-3,
    )  # fmt: skip
    for r in results.values():
        assert r["epochs"] == [1, 2]
        runs = [run["history"] for run in r["runs"]]
        losses = torch.tensor([[e["train_loss"] for e in h] for h in runs], dtype=torch.float64)
        assert r["train_loss"]["mean"] == pytest.approx(losses.mean(0).tolist())
        assert r["train_loss"]["std"] == pytest.approx(losses.std(0).tolist())
        assert len(r["test_accuracy"]["mean"]) == 2
    # same start, different methods: different first-epoch losses
    assert results["sgd"]["train_loss"]["mean"][0] != results["adam"]["train_loss"]["mean"][0]


def test_cli_writes_table_json_and_figure(tmp_path, capsys):
    out = tmp_path / "opt"
    argv = ["compare", "--optimizers", "sgd,adamw", "--depth", "8", "--widths", "4,8,8"]
    argv += ["--epochs", "1", "--batch-size", "128", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert table.startswith("| optimizer") and "| adamw" in table and "0.01" in table
    data = json.loads((out / "optimizers.json").read_text())
    assert [r["optimizer"] for r in data["results"]] == ["sgd", "adamw"]
    assert data["network"]["model_args"]["scheme"] == "euler"
    assert (out / "optimizers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "optimizers.md").read_text().startswith("| optimizer")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--optimizers", "sgd,adma"], "did you mean 'adam'"),
        (["--optimizers", "sgd,sgd"], "each optimizer once"),
        (["--optimizers", "sgd", "--schemes", "euler,heun"], "one network per optimizer"),
        (["--optimizers", "sgd,adam", "--lr", "-1"], "lr must be > 0"),
    ],
)
def test_cli_bad_input_is_one_line(capsys, extra, message):
    assert main(["compare", *extra, "--epochs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
