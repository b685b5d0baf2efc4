"""Critical batch size: the N(b) fit (exact and noisy recovery, failures), b* = 2B/c, the
fixed-size batch stream, the sweep end to end and its one-line errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from odenets.workflow.batch_size import (
    BatchSweepConfig,
    _stream,
    batch_sweep,
    fit_steps,
    learning_rate,
    parse_target,
)
from odenets.workflow.cli import main
from odenets.workflow.data import Dataset, load_dataset

SIZES = np.array([16, 32, 64, 128, 256, 512, 1024], dtype=float)


def _model(A, B, c, b):
    return A * b / (c * b - B)


@pytest.mark.parametrize(
    ("A", "B", "c"), [(60.0, 12.0, 1.0), (300.0, 40.0, 5.0), (7.5, 0.03, 0.01)]
)
def test_fit_recovers_the_model_from_exact_data(A, B, c):
    fit = fit_steps(SIZES, _model(A, B, c, SIZES))
    assert fit.ok and fit.c == 1.0
    # (A, B, c) are identified up to a common factor: the fit reports A/c and B/c
    assert pytest.approx(A / c, rel=1e-9) == fit.A
    assert pytest.approx(B / c, rel=1e-9) == fit.B
    assert fit.linear_guess == pytest.approx((A / c, B / c), rel=1e-9)  # exact data: exact
    assert fit.rms_log_residual < 1e-9
    assert fit.critical_batch == pytest.approx(2 * B / c, rel=1e-9)
    assert fit.min_sfo == pytest.approx(4 * A * B / c**2, rel=1e-9)


def test_critical_batch_minimises_the_sfo_complexity():
    """b* = 2B/c, checked against a dense grid of N(b)·b, independently of the formula."""
    A, B, c = 60.0, 12.0, 0.5
    b = np.linspace(B / c * 1.001, 20 * B / c, 200_001)
    sfo = _model(A, B, c, b) * b
    assert b[np.argmin(sfo)] == pytest.approx(2 * B / c, rel=1e-3)
    assert sfo.min() == pytest.approx(4 * A * B / c**2, rel=1e-6)


def test_fit_with_noise_and_seeds():
    rng = np.random.default_rng(0)
    A, B = 80.0, 10.0
    b = np.repeat(SIZES, 5)  # five seeds per batch size
    n = _model(A, B, 1.0, b) * np.exp(rng.normal(0, 0.05, b.size))
    fit = fit_steps(b, n)
    assert fit.ok and fit.points == 35
    assert pytest.approx(A, rel=0.05) == fit.A and pytest.approx(B, rel=0.15) == fit.B
    assert fit.critical_batch == pytest.approx(2 * B, rel=0.15)
    assert 0.03 < fit.rms_log_residual < 0.07  # the noise level


def test_failed_fits_say_why():
    few = fit_steps([16, 32], [100, 60])
    assert not few.ok and few.A is None and ">= 3 batch sizes" in few.reason
    flat = fit_steps(SIZES, 50 + 0.01 * SIZES)  # no rise towards small b
    assert not flat.ok and flat.critical_batch is None and "no interior minimum" in flat.reason
    outside = fit_steps(SIZES[3:], _model(60.0, 12.0, 1.0, SIZES[3:]))
    assert outside.ok and "outside the measured range" in outside.reason
    with pytest.raises(ValueError, match="positive and finite"):
        fit_steps([1, 2, 3], [1, 0, 2])


def test_targets_and_learning_rate_rules():
    t = parse_target("train_loss<0.1")
    assert (t.metric, t.op, t.value) == ("train_loss", "<", 0.1) and str(t) == "train_loss<0.1"
    assert t.reached(0.09) and not t.reached(0.1)
    assert parse_target(" test_accuracy >= 0.95 ").reached(0.95)
    for bad, message in [
        ("loss<0.1", "did you mean 'test_loss'"),
        ("train_loss=0.1", "METRIC<VALUE"),
        ("test_accuracy>95", "fraction in"),
        ("train_loss<0", "must be > 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_target(bad)
    assert learning_rate("constant", 0.1, 512, 128) == 0.1
    assert learning_rate("linear", 0.1, 512, 128) == pytest.approx(0.4)
    assert learning_rate("sqrt", 0.1, 512, 128) == pytest.approx(0.2)


def test_the_stream_has_fixed_size_batches_and_uses_every_sample_equally():
    batches = _stream(10, 4, torch.Generator().manual_seed(0))
    drawn = torch.cat([next(batches) for _ in range(5)])  # 20 samples = 2 passes
    assert torch.equal(torch.bincount(drawn, minlength=10), torch.full((10,), 2))
    config = BatchSweepConfig(max_epochs=2.5, max_steps=None)
    assert config.step_limit(4, 10) == math.ceil(2.5 * 10 / 4)
    assert BatchSweepConfig(max_epochs=100, max_steps=3).step_limit(4, 10) == 3


@pytest.fixture(scope="module")
def small():
    d = load_dataset("digits")
    cut = {"x_train": d.x_train[:256], "y_train": d.y_train[:256], "x_test": d.x_test[:100]}
    return Dataset(**{**d.__dict__, **cut, "y_test": d.y_test[:100]})


TINY = {"model_args": {"scheme": "euler", "depth": 8, "widths": [4, 8, 8]}, "progress": False}


def test_sweep_end_to_end_counts_the_first_checked_step(small):
    config = BatchSweepConfig(
        batch_sizes=(64, 16, 32), target="train_loss<2.0", seeds=(0, 1), eval_every=3, **TINY
    )
    updates = []
    payload = batch_sweep(config, dataset=small, on_update=updates.append)
    assert [r["batch_size"] for r in payload["table"]] == [16, 32, 64]  # sorted
    assert len(updates) == 3 and updates[-1] is payload  # partial payload per batch size
    target = parse_target("train_loss<2.0")
    for run in payload["runs"]:
        assert (
            run["reached"]
            and run["steps"] % 3 == 0
            and run["sfo"] == run["steps"] * run["batch_size"]
        )
        steps, values = zip(*run["curve"], strict=True)
        assert steps[-1] == run["steps"] and target.reached(values[-1])
        assert not any(target.reached(v) for v in values[:-1])  # N is the first hit
        assert list(steps) == list(range(0, run["steps"] + 1, 3))
    row = payload["table"][0]
    assert row["steps_mean"] == np.mean(row["steps"]) and row["sfo_mean"] == row["steps_mean"] * 16
    assert payload["fit"]["points"] == 6
    json.dumps(payload)  # plain data


def test_same_seed_same_start_and_sample_stream_across_batch_sizes(small):
    """A seed fixes the initial weights and the sample stream, whatever the batch size: the
    initial training loss (step 0 of the curve) is the same at every b."""
    config = BatchSweepConfig(
        batch_sizes=(16, 64), target="train_loss<2.0", seeds=(3,), eval_every=2, **TINY
    )
    runs = batch_sweep(config, dataset=small)["runs"]
    assert runs[0]["curve"][0] == runs[1]["curve"][0]


def _cli(tmp_path, *extra):
    return main(
        [
            "batch-sweep", "--depth", "8", "--widths", "4,8,8", "--seeds", "0",
            "--out", str(tmp_path / "sweep"), "--no-progress", *extra,
        ]
    )  # fmt: skip


def test_cli_end_to_end_with_a_pdf_figure(tmp_path, capsys):
    assert (
        _cli(tmp_path, "--batch-sizes", "64,128,256", "--target", "train_loss<2.0",
             "--eval-every", "2", "--plot", str(tmp_path / "fig.pdf"))
        == 0
    )  # fmt: skip
    out = capsys.readouterr().out
    assert out.startswith("| batch") and "fit" in out
    data = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert [r["batch_size"] for r in data["table"]] == [64, 128, 256]
    assert data["config"]["target"] == "train_loss<2" and data["config"]["optimizer"] == "momentum"
    assert (tmp_path / "fig.pdf").read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "sweep" / "sweep.md").read_text().startswith("| batch")


def test_cli_unreachable_target_is_one_line_and_keeps_the_partial_results(tmp_path, capsys):
    code = _cli(tmp_path, "--batch-sizes", "32,64", "--target", "train_loss<0.0001",
                "--max-steps", "4", "--eval-every", "2")  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not reached at batch size(s) 32, 64" in err[0]
    data = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert len(data["unreached"]) == 2 and data["fit"]["ok"] is False
    assert (tmp_path / "sweep" / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--batch-sizes", "64,5000"], "exceed the 1347 training samples"),
        (["--target", "train_loss=0.1"], "METRIC<VALUE"),
        (["--plot", "fig.xyz"], "matplotlib cannot write .xyz"),
        (["--optimizer", "adma"], "did you mean 'adam'"),
        (["--batch-sizes", "64,64"], "each once"),
        (["--batch-sizes", "0,4"], "positive integer"),
        (["--target", "train_loss<3.0", "--batch-sizes", "64"], "already holds"),
    ],
)
def test_cli_bad_input_is_one_line_before_training(tmp_path, capsys, extra, message):
    assert _cli(tmp_path, *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "sweep" / "sweep.json").exists()
