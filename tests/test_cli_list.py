"""`odenets list` and the CLI's error contract (one line on stderr, exit 2)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import odenets as on
from odenets.workflow.cli import main


def test_list_prints_every_scheme_and_model(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in on.list_schemes() + on.list_models():
        assert f"\n{name} " in out or out.startswith(name)
    assert "LM-ResNet (Lu et al. 2018)" in out


@pytest.mark.parametrize("argv", [["bogus"], ["list", "--nope"], []])
def test_bad_arguments_exit_2_with_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("odenets: error:") and err.count("\n") == 1
    assert "Traceback" not in err


def test_console_entry_point_runs_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "odenets", "list", "--bad"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
