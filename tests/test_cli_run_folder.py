"""The run folder on the command line: never overwritten without --overwrite, resumed from the
folder alone, defaults in --help, one CPU thread, the user's umask, JSON Lines, progress bars
only on a terminal."""

from __future__ import annotations

import io
import json
import os
import stat

import pytest
import torch

from odenets.workflow.checkpoint import load_checkpoint
from odenets.workflow.cli import main

RUN = [
    "train", "--model", "lm_resnet20", "--depth", "8", "--widths", "4,8,8", "--batch-size", "64",
    "--lr", "0.05", "--seed", "3", "--schedule", "constant", "--no-progress", "--threads", "1",
]  # fmt: skip


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name != ".lock"}


def _one_line(capsys, argv, code, *needles):
    capsys.readouterr()
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_a_finished_run_is_not_overwritten_without_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*RUN, "--epochs", "1", "--out", str(out)]) == 0
    before = _files(out)
    _one_line(
        capsys,
        [*RUN, "--epochs", "1", "--seed", "4", "--out", str(out)],
        2,
        "already holds a run (last.pt at epoch 1 of 1, finished)",
        "--resume",
        "--overwrite",
    )
    assert _files(out) == before
    assert main([*RUN, "--epochs", "1", "--seed", "4", "--out", str(out), "--overwrite"]) == 0
    capsys.readouterr()
    after = load_checkpoint(out / "last.pt")
    assert after["config"]["seed"] == 4
    assert not torch.equal(after["model"]["stem.0.weight"], _weights(before["last.pt"], tmp_path))
    _one_line(capsys, [*RUN, "--out", str(out), "--overwrite", "--resume"], 2, "--overwrite")


def _weights(data: bytes, tmp_path):
    path = tmp_path / "old.pt"
    path.write_bytes(data)
    return load_checkpoint(path)["model"]["stem.0.weight"]


def test_resume_needs_only_the_folder_and_is_bitwise_exact(tmp_path, capsys):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main([*RUN, "--epochs", "2", "--out", str(straight)]) == 0
    assert main([*RUN, "--epochs", "2", "--stop-after", "1", "--out", str(split)]) == 0
    capsys.readouterr()
    assert main(["train", "--out", str(split), "--resume", "--no-progress", "--json"]) == 0
    out = capsys.readouterr()
    assert [json.loads(line)["epoch"] for line in out.out.strip().splitlines()] == [2]
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(split / "last.pt")
    assert a["epoch"] == b["epoch"] == 2 and a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert b["config"]["lr"] == 0.05 and b["config"]["seed"] == 3
    # the same settings given again are fine; more epochs are allowed
    assert main([*RUN, "--epochs", "3", "--out", str(split), "--resume", "--stop-after", "1"]) == 0
    assert load_checkpoint(split / "last.pt")["epoch"] == 3


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--lr", "0.1"], "--lr 0.1 differs from the run's lr=0.05"),
        (["--seed", "0"], "--seed 0 differs from the run's seed=3"),
        (
            ["--scheme", "euler"],
            "--scheme euler differs from the run's scheme=<the preset default>",
        ),
        (["--widths", "4,8,16"], "--widths 4,8,16 differs from the run's widths=4,8,8"),
        (["--no-augment"], "--no-augment differs from the run's augment=True"),
        (["--model", "resnet20"], "--model resnet20 differs from the run's model=lm_resnet20"),
        (["--batch-size", "32"], "--batch-size 32 differs"),
    ],
)
def test_resume_refuses_a_changed_setting_naming_it(tmp_path, capsys, extra, needle):
    out = tmp_path / "run"
    assert main([*RUN, "--epochs", "2", "--stop-after", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    _one_line(capsys, ["train", "--out", str(out), "--resume", *extra], 2, needle)
    assert load_checkpoint(out / "last.pt")["epoch"] == 1


@pytest.mark.parametrize(
    "command, needles",
    [
        ("train", ["default: the optimizer's", "(default: 128)", "(default: 1)", "(default: step)",
                   "(default: runs/train)", "(default: 300.0)", "JSON Lines"]),
        ("eval", ["(default: the one in the checkpoint)"]),
        ("transfer", ["(default: euler,heun,rk4)", "(default: 1,2,4,8)"]),
    ],
)  # fmt: skip
def test_help_shows_the_defaults(capsys, command, needles):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for needle in needles:
        assert needle in text, needle


def test_train_uses_one_thread_unless_told(tmp_path, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    argv = [a for a in RUN if a not in ("--threads", "1")]
    assert main([*argv, "--epochs", "1", "--out", str(tmp_path / "a")]) == 0
    assert main([*argv, "--epochs", "1", "--out", str(tmp_path / "b"), "--threads", "3"]) == 0
    assert calls == [1, 3]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_files_follow_the_umask(tmp_path, capsys, umask, mode):
    old = os.umask(umask)
    try:
        assert main([*RUN, "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    finally:
        os.umask(old)
    for name in ("last.pt", "best.pt", "metrics.jsonl"):
        assert stat.S_IMODE((tmp_path / "run" / name).stat().st_mode) == mode, name


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [False, True])
def test_progress_bar_only_on_a_terminal(tmp_path, monkeypatch, capsys, terminal):
    stderr = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    argv = [a for a in RUN if a != "--no-progress"]
    assert main([*argv, "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    text = stderr.getvalue()
    assert ("\r" in text and "epoch 1/1" in text) == terminal, text[:400]
    assert text.count("\n") <= 2  # on a log file: the closing line, no frames
    stdout = capsys.readouterr().out
    assert stdout.count("epoch   1/1") == 1  # the one line per epoch
