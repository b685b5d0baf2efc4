"""Checkpoint files: atomic writes and loads that fail with a named error, never a pickle
traceback.

A checkpoint is a dict with at least ``"model"`` (state_dict) and ``"model_spec"`` (how to
rebuild the network, see :func:`build_model`); the trainer adds optimizer, RNG states, epoch
and the run's config. Files are loaded with ``torch.load(weights_only=True)``: tensors and plain
containers only.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from ..networks.nets import SolverNet
from ..networks.presets import create_model

__all__ = [
    "CheckpointError",
    "build_model",
    "copy_atomic",
    "get_rng_state",
    "load_checkpoint",
    "save_checkpoint",
    "set_rng_state",
    "write_atomic",
]

FORMAT = "odenets-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt or not an odenets checkpoint."""


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(fh)`` on a temporary file in ``path``'s folder, flush it to disk, then
    rename it over ``path``. A crash at any point leaves the previous file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def copy_atomic(src: str | Path, dst: str | Path) -> Path:
    """Copy the file ``src`` to ``dst`` atomically (see :func:`write_atomic`)."""
    with Path(src).open("rb") as fh:
        return write_atomic(dst, lambda out: shutil.copyfileobj(fh, out))


def save_checkpoint(obj: dict, path: str | Path) -> Path:
    """Write ``obj`` to ``path`` atomically (see :func:`write_atomic`)."""
    return write_atomic(path, lambda fh: torch.save({**obj, "format": FORMAT}, fh))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors are loaded on the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():  # torch warns about unusual pickle protocols first
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, garbage bytes, foreign pickles ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not an odenets checkpoint ({first[:200]})"
        ) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or "model" not in obj:
        raise CheckpointError(
            f"{path} is not an odenets checkpoint (expected a dict with "
            f"format {FORMAT!r} and a 'model' state_dict)"
        )
    return obj


def build_model(spec: dict[str, Any]) -> SolverNet:
    """Rebuild a network from a checkpoint's ``model_spec``: ``{"preset": name or None,
    "kwargs": {...}}`` (a preset via :func:`~odenets.create_model`, else a ``SolverNet``)."""
    if not isinstance(spec, dict) or "kwargs" not in spec:
        raise CheckpointError(f"model_spec must be a dict with 'preset' and 'kwargs', got {spec!r}")
    kwargs = dict(spec["kwargs"])
    if "widths" in kwargs:
        kwargs["widths"] = tuple(kwargs["widths"])
    preset = spec.get("preset")
    return create_model(preset, **kwargs) if preset else SolverNet(**kwargs)


def get_rng_state() -> dict[str, Any]:
    """The global RNG states of torch, numpy and ``random`` as checkpoint-safe values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": list(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
