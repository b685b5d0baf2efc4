"""An on-disk cache of derived datasets, so that a new process need not rebuild them.

The digits split is the first user: building it imports scikit-learn (about 2 CPU-seconds,
as much as importing torch), which every ``odenets`` command, every ``torchrun`` worker and
every restarted worker would pay again. The cache holds plain tensors (``torch.save``, read
back with ``weights_only=True``), named by everything they depend on (for the digits: the
scikit-learn version, the seed and the test fraction).

Where: ``$ODENETS_CACHE`` if set (``off``, ``0``, ``none`` or empty: no cache), else
``$XDG_CACHE_HOME/odenets``, else ``~/.cache/odenets``. A cache that cannot be written (a
read-only home) is skipped; an entry that cannot be read or fails its check (a truncated or
foreign file) is rebuilt and rewritten; writes are atomic, so concurrent processes (the ranks
of one job) never read a partial entry.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["cache_dir", "cached_tensors"]

_OFF = {"", "0", "off", "none", "false", "no"}


def cache_dir() -> Path | None:
    """The cache folder (see the module docstring), or None when caching is switched off."""
    value = os.environ.get("ODENETS_CACHE")
    if value is not None:
        return None if value.strip().lower() in _OFF else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "odenets"


def _entry(name: str) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
        raise ValueError(f"cache entry names are [A-Za-z0-9_.+-]+, got {name!r}")
    return folder / f"{name}.pt"


def _read(path: Path, valid: Callable[[dict[str, Tensor]], bool]) -> dict[str, Tensor] | None:
    try:
        tensors = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # missing, truncated, foreign or from an incompatible torch: rebuilt
        return None
    if not isinstance(tensors, dict) or not all(isinstance(t, Tensor) for t in tensors.values()):
        return None
    try:
        return tensors if valid(tensors) else None
    except Exception:  # a check that cannot even be evaluated on it: a foreign entry
        return None


def cached_tensors(
    name: str,
    build: Callable[[], dict[str, Tensor]],
    valid: Callable[[dict[str, Tensor]], bool],
) -> dict[str, Tensor]:
    """The tensors cached under ``name`` if an entry exists and ``valid`` accepts it, else
    ``build()`` (written to the cache where it can be)."""
    path = _entry(name)
    if path is not None:
        tensors = _read(path, valid)
        if tensors is not None:
            return tensors
    tensors = build()
    if path is not None:
        from .checkpoint import write_atomic

        with contextlib.suppress(OSError):  # read-only or full: the next process rebuilds
            write_atomic(path, lambda fh: torch.save(tensors, fh))
    return tensors
