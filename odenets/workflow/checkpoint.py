"""Checkpoint files: atomic writes with the user's umask, a checksum of the contents verified
on load, and loads that fail with a named error, never a pickle traceback.

A checkpoint is a dict with at least ``"model"`` (state_dict) and ``"model_spec"`` (how to
rebuild the network, see :func:`build_model`); the trainer adds optimizer, RNG states, epoch
and the run's config. :func:`save_checkpoint` adds ``"format"`` and ``"checksum"``: the SHA-256
of every tensor's dtype, shape and bytes and of every other value, in order. Files are loaded
with ``torch.load(weights_only=True)`` (tensors and plain containers only) and the checksum is
recomputed: a flipped bit anywhere in the weights is a :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import secrets
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from ..networks.nets import SolverNet
from ..networks.presets import create_model

__all__ = [
    "CheckpointError",
    "SaveError",
    "build_model",
    "checkpoint_bytes",
    "content_checksum",
    "copy_atomic",
    "get_rng_state",
    "load_checkpoint",
    "save_checkpoint",
    "set_rng_state",
    "write_atomic",
    "write_files_atomic",
]

FORMAT = "odenets-checkpoint-2"  # with a checksum; version 1 files (without) still load
FORMATS = ("odenets-checkpoint-1", FORMAT)
CHECKSUM = "sha256"


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt or not an odenets checkpoint."""


class SaveError(OSError):
    """Files could not be written (disk full, permissions, ...); what was there before is kept.

    ``errno`` is that of the failed write (``errno.ENOSPC`` for a full disk).
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.errno = code


def _umask() -> int:
    """The process's umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temporary(path: Path) -> tuple[int, str]:
    """A new temporary file next to ``path`` (``.<name>.<random>.tmp``), with the permissions an
    ordinary ``open(path, "w")`` would give (``0o666`` less the umask; mkstemp makes 0600)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # POSIX (and Windows from Python 3.13)
            os.fchmod(fd, 0o666 & ~_umask())
    except BaseException:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    return fd, tmp


def _fsync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(fh)`` on a temporary file in ``path``'s folder, flush it to disk, then
    rename it over ``path``. A crash or a full disk at any point leaves the previous file
    intact and no temporary file behind (a kill -9 may leave one: ``.<name>.*.tmp``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def write_files_atomic(files: Sequence[tuple[str | Path, bytes]]) -> None:
    """Write several files as one step, as far as a file system allows.

    First every ``(path, data)`` goes to a temporary file next to its path and is flushed to
    disk (the same ``data`` object given twice is written once and hard-linked, where the file
    system allows); only when all are written are they renamed into place, in the order given.
    A full disk (or any error) while writing leaves every previous file untouched and removes the
    temporary files. Only a kill between two renames can leave the files of two epochs; the
    trainer's resume repairs that (see :mod:`odenets.workflow.run_folder`).
    """
    written: list[tuple[str, Path]] = []
    first: dict[int, str] = {}  # id(data) -> the temporary file already holding those bytes
    try:
        for path, data in files:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            linked = _link(first.get(id(data)), path)
            if linked:  # the same bytes again (best.pt = last.pt): a hard link, no space
                written.append((linked, path))
                continue
            fd, tmp = _temporary(path)
            written.append((tmp, path))
            first[id(data)] = tmp
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for tmp, path in written:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in written:
            Path(tmp).unlink(missing_ok=True)
        raise
    for folder in dict.fromkeys(path.parent for _, path in written):
        _fsync_dir(folder)


def _link(source: str | None, path: Path) -> str | None:
    """A new temporary name next to ``path`` hard-linked to ``source`` (None where there is no
    source or the file system has no hard links)."""
    if source is None:
        return None
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        os.link(source, tmp)
    except OSError:
        return None
    return str(tmp)


def copy_atomic(src: str | Path, dst: str | Path) -> Path:
    """Copy the file ``src`` to ``dst`` atomically (see :func:`write_atomic`)."""
    with Path(src).open("rb") as fh:
        return write_atomic(dst, lambda out: shutil.copyfileobj(fh, out))


def _feed(h: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)};".encode())
        for key, value in obj.items():
            _feed(h, key)
            _feed(h, value)
    elif isinstance(obj, list | tuple):  # a tuple may come back as a list: one tag for both
        h.update(f"L{len(obj)};".encode())
        for value in obj:
            _feed(h, value)
    elif isinstance(obj, bytes | bytearray):
        h.update(f"B{len(obj)};".encode())
        h.update(obj)
    else:
        h.update(f"V{type(obj).__name__}:{obj!r};".encode())


def content_checksum(obj: dict) -> str:
    """SHA-256 of ``obj`` without its ``"checksum"`` entry: every tensor's dtype, shape and
    bytes and every other value's type and ``repr``, in the dict's order."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in obj.items() if k != "checksum"})
    return f"{CHECKSUM}:{h.hexdigest()}"


def checkpoint_bytes(obj: dict) -> bytes:
    """The bytes :func:`save_checkpoint` writes: ``obj`` with ``format`` and ``checksum``,
    serialized in memory (so a full disk is an ``OSError`` at the write, never an error half-way
    through ``torch.save``)."""
    payload = {**{k: v for k, v in obj.items() if k != "checksum"}, "format": FORMAT}
    payload["checksum"] = content_checksum(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def save_checkpoint(obj: dict, path: str | Path) -> Path:
    """Write ``obj`` to ``path`` atomically (see :func:`write_atomic`), with its checksum."""
    data = checkpoint_bytes(obj)
    return write_atomic(path, lambda fh: fh.write(data))


def load_checkpoint(path: str | Path, *, verify: bool = True) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors are loaded on the CPU).

    With ``verify`` the checksum is recomputed and a mismatch (a damaged file) is a
    :class:`CheckpointError`; files of format version 1 (written before checksums existed)
    load unverified.
    ``verify=False`` memory-maps the tensors (cheap: for reading the config of a run).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():  # torch warns about unusual pickle protocols first
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=not verify)
    except Exception as err:  # truncated zip, garbage bytes, foreign pickles ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not an odenets checkpoint ({first[:200]})"
        ) from None
    if not isinstance(obj, dict) or obj.get("format") not in FORMATS or "model" not in obj:
        raise CheckpointError(
            f"{path} is not an odenets checkpoint (expected a dict with "
            f"format {FORMAT!r} and a 'model' state_dict)"
        )
    if verify and obj["format"] == FORMAT:
        try:
            actual = content_checksum(obj) if "checksum" in obj else "missing"
        except Exception as err:  # a damaged value that cannot even be hashed
            actual = f"unreadable ({type(err).__name__})"
        if actual != obj.get("checksum"):
            raise CheckpointError(
                f"checkpoint {path} is damaged: its contents do not match the checksum stored "
                f"in it ({CHECKSUM}); use another copy (best.pt / last.pt) or retrain"
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
