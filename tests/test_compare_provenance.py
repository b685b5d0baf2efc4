"""odenets.workflow.provenance: the record every results file carries."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from odenets.workflow.provenance import git_state, plain, provenance


@dataclass
class _Config:
    schemes: tuple = ("euler", "lm")
    widths: tuple = (8, 16)
    out: Path = Path("runs/x")
    extra: dict = field(default_factory=lambda: {"nested": (1, 2)})


def test_record_holds_config_versions_and_machine_facts(tmp_path):
    record = provenance(_Config(), directory=tmp_path)
    assert record["config"] == {
        "schemes": ["euler", "lm"],
        "widths": [8, 16],
        "out": "runs/x",
        "extra": {"nested": [1, 2]},
    }
    versions = record["versions"]
    assert versions["python"] == platform.python_version()
    assert versions["torch"] == torch.__version__ and versions["numpy"] == np.__version__
    assert isinstance(versions["odenets"], str) and versions["odenets"]
    machine = record["machine"]
    assert machine["cpu_count"] == os.cpu_count()
    assert machine["torch_threads"] == torch.get_num_threads()
    assert record["date"].endswith("+00:00")  # ISO 8601, UTC
    text = json.dumps(record, allow_nan=False)  # JSON-ready as it is
    assert socket.gethostname() not in text  # nothing that names the machine


def test_no_git_checkout_gives_null_commit(tmp_path):
    assert git_state(tmp_path) == {"commit": None, "dirty": None}
    assert provenance({}, directory=tmp_path)["git_commit"] is None


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_commit_and_dirty_flag(tmp_path):
    def git(*args):
        return subprocess.run(
            ["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q")
    (tmp_path / "a.txt").write_text("one\n")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "first")
    head = git("rev-parse", "HEAD")
    record = provenance({"k": 1}, directory=tmp_path)
    assert record["git_commit"] == head and record["git_dirty"] is False
    (tmp_path / "a.txt").write_text("two\n")
    assert git_state(tmp_path) == {"commit": head, "dirty": True}


def test_plain_turns_anything_into_json_data():
    class Thing:
        def __repr__(self):
            return "Thing()"

    data = plain({"a": (1, 2.5, None, True), 3: {"p": Path("x/y")}, "t": Thing()})
    assert data == {"a": [1, 2.5, None, True], "3": {"p": "x/y"}, "t": "Thing()"}
    json.dumps(data)
