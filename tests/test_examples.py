"""The runnable examples keep running (their smoke modes, on generated or bundled data).

Each runs as ``__main__`` inside the test process (``runpy``: the interpreter and torch are
started once, not once per example); one of them also runs as a separate script, so that the
examples are known to work from a fresh interpreter too."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# example -> its fast arguments ("{out}" becomes a temporary folder)
SMOKE = {
    "cifar10_resnet_vs_lm.py": ["--smoke", "--out", "{out}"],
    "fractalnet_columns.py": ["--smoke"],
    "mnist1d_compare.py": ["--smoke", "--out", "{out}"],
    "optimizers_and_batch_size.py": ["--smoke", "--out", "{out}"],
    "scheme_transfer.py": ["--smoke"],
    "unfold_ridge.py": ["--smoke"],
}
# the full digits comparison is `odenets compare` itself, exercised by tests/test_cli_train.py
NOT_RUN = {"digits_quickstart.py"}


def test_every_example_is_covered():
    assert sorted(SMOKE) == sorted(p.name for p in EXAMPLES.glob("*.py") if p.name not in NOT_RUN)


def _args(name: str, tmp_path: Path) -> list[str]:
    return [a.replace("{out}", str(tmp_path / "out")) for a in SMOKE[name]]


@pytest.mark.parametrize("name", sorted(SMOKE))
def test_example_smoke_run(name, tmp_path, monkeypatch, capsys):
    path = EXAMPLES / name
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(path), *_args(name, tmp_path)])
    threads = torch.get_num_threads()
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as stop:
        assert stop.code in (0, None), capsys.readouterr().err[-2000:]
    finally:
        torch.set_num_threads(threads)
    assert capsys.readouterr().out.strip()


def test_an_example_runs_as_a_script(tmp_path):
    name = "unfold_ridge.py"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *_args(name, tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip()
