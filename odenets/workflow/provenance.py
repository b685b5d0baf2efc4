"""Provenance of a results file: what was run, with which software, on what kind of machine.

Every results file the workflow writes carries :func:`provenance` under the key
``"provenance"``: the full configuration, the versions of Python, PyTorch, NumPy and odenets,
the git commit of the working directory (``None`` outside a git checkout; ``dirty`` says
whether tracked files had uncommitted changes), the UTC date, and machine facts that do not
identify the machine (CPU count, torch threads, OS and architecture; no host name, no user).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["git_state", "plain", "provenance"]


def plain(obj: Any) -> Any:
    """``obj`` as JSON-ready data: dataclasses and mappings to dicts, tuples and sets to lists,
    paths to strings; other objects that JSON cannot hold to their ``repr``."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    return repr(obj)


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(directory: str | Path | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the git checkout holding
    ``directory`` (default: the current working directory)."""
    cwd = Path.cwd() if directory is None else Path(directory)
    commit = _git(["rev-parse", "HEAD"], cwd)
    if not commit:
        return {"commit": None, "dirty": None}
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _version(module: str) -> str | None:
    import importlib

    try:
        return getattr(importlib.import_module(module), "__version__", None)
    except ImportError:
        return None


def _odenets_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("odenets")
    except PackageNotFoundError:  # a source tree that is not installed
        return "0.0.0"


def provenance(config: Any, directory: str | Path | None = None) -> dict[str, Any]:
    """The provenance record of a run of ``config`` (a dataclass or a mapping), with the git
    state of ``directory`` (default: the current working directory)."""
    import torch

    git = git_state(directory)
    return {
        "config": plain(config),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": _version("numpy"),
            "odenets": _odenets_version(),
        },
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "system": platform.system(),
            "architecture": platform.machine(),
            "cuda": torch.cuda.is_available(),
        },
    }
