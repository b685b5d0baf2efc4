"""The runnable examples keep running (their smoke modes, on generated or bundled data)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("name", sorted(SMOKE))
def test_example_smoke_run(name, tmp_path):
    args = [a.replace("{out}", str(tmp_path / "out")) for a in SMOKE[name]]
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip()
