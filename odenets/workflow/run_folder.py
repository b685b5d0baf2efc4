"""The run folder of ``odenets train``: ``last.pt``, ``best.pt``, ``metrics.jsonl``, ``.lock``.

:meth:`RunFolder.open` prepares a folder for one run, before the first epoch: it creates it,
takes its lock (:mod:`odenets.workflow.run_lock`), checks that it can be written, removes
temporary files a killed save left behind, and decides between resuming and starting afresh:

- ``resume="always"`` (``--resume``): continue from ``last.pt`` (which must exist);
- ``resume="auto"`` (the default under ``torchrun``): continue when ``last.pt`` exists, else
  start afresh — one command line for the first start and every elastic restart;
- ``resume="never"`` (the default otherwise): start afresh; a folder that already holds a run
  is refused unless ``overwrite`` (``--overwrite``) is given, which removes that run first.

Every epoch :meth:`RunFolder.save_epoch` writes the three files in one step
(:func:`~odenets.workflow.checkpoint.write_files_atomic`): a full disk leaves the previous
epoch's files as they were. ``last.pt`` records which epoch ``best.pt`` holds
(``best_epoch``); a kill between the renames can leave ``best.pt`` or ``metrics.jsonl`` one
epoch behind, and :meth:`RunFolder.repair` (run on every resume) rebuilds them from
``last.pt``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from .._validate import check_choice
from .checkpoint import (
    CheckpointError,
    SaveError,
    load_checkpoint,
    write_atomic,
    write_files_atomic,
)
from .distributed import restart_count, under_torchrun
from .run_lock import RunLock
from .signals import deferred

__all__ = [
    "MANAGED",
    "RESUME_MODES",
    "RunFolder",
    "RunFolderError",
    "finite_record",
    "metrics_bytes",
    "restart_count",
    "resume_plan",
    "will_resume",
]

MANAGED = ("last.pt", "best.pt", "metrics.jsonl")
RESUME_MODES = ("never", "always", "auto")


class RunFolderError(ValueError):
    """The folder cannot be used as asked (it holds another run, it is a file, ...)."""


def resume_plan(resume: bool | str | None, overwrite: bool) -> tuple[str, bool]:
    """``(mode, overwrite)`` for a run: ``resume`` is ``True``/``"always"``,
    ``False``/``"never"``, ``"auto"`` or ``None`` (``"auto"`` under torchrun, else
    ``"never"``). ``overwrite`` needs a fresh start; in a torchrun restart it becomes
    ``"auto"`` (the folder holds what this job's earlier attempt wrote, not an old run)."""
    if resume is not None and not isinstance(resume, bool | str):
        raise TypeError(
            f"resume must be True, False, one of {list(RESUME_MODES)} or None; "
            f"got {type(resume).__name__}"
        )
    mode = {None: None, False: "never", True: "always"}.get(resume, resume)
    if mode is None:
        mode = "auto" if under_torchrun() else "never"
    check_choice("resume", mode, RESUME_MODES)
    if overwrite:
        if resume not in (None, False, "never"):
            raise ValueError(
                f"--overwrite starts the run afresh; it cannot be combined with --resume {mode}"
            )
        if restart_count() > 0:
            return "auto", False
        return "never", True
    return mode, False


def will_resume(out: str | Path, mode: str) -> bool:
    """Whether a run in ``mode`` into ``out`` continues from ``out/last.pt``."""
    return mode == "always" or (mode == "auto" and (Path(out) / "last.pt").is_file())


def finite_record(record: dict) -> tuple[dict, list[str]]:
    """``record`` with non-finite numbers replaced by ``None`` (JSON has no NaN), plus the
    names of the replaced fields (listed under ``"nonfinite"`` in the record)."""
    bad = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
    if not bad:
        return record, []
    clean = {k: (None if k in bad else v) for k, v in record.items()}
    clean["nonfinite"] = {k: str(record[k]) for k in bad}
    return clean, bad


def metrics_bytes(history: list[dict]) -> bytes:
    """``metrics.jsonl``: one strict-JSON object per epoch."""
    return "".join(json.dumps(r, allow_nan=False) + "\n" for r in history).encode()


def _strerror(err: OSError) -> str:
    return err.strerror or str(err)


class RunFolder:
    """An opened run folder (see the module docstring); :meth:`close` releases its lock."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.lock = RunLock(self.out)
        self.resume = False
        self.saved_epoch: int | None = None  # the epoch last.pt holds (None: nothing yet)
        self.removed: list[str] = []  # temporary files of a killed save, removed at open

    @property
    def last(self) -> Path:
        return self.out / "last.pt"

    @property
    def best(self) -> Path:
        return self.out / "best.pt"

    @property
    def metrics(self) -> Path:
        return self.out / "metrics.jsonl"

    @classmethod
    def open(cls, out: str | Path, mode: str = "never", overwrite: bool = False) -> RunFolder:
        """Create, lock, check and clean ``out`` and decide whether the run resumes.

        Raises :class:`RunFolderError` (holds another run; not a folder),
        :class:`~odenets.workflow.run_lock.RunLockedError` (in use by a live process) or
        :class:`~odenets.workflow.checkpoint.SaveError` (cannot be written).
        """
        check_choice("resume", mode, RESUME_MODES)
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise RunFolderError(f"--out {out} is a file, not a folder")
        folder = cls(out)
        try:
            folder.lock.acquire()
        except OSError as err:
            raise SaveError(f"cannot write to --out {out}: {_strerror(err)}", err.errno) from None
        try:
            folder._probe()
            folder._remove_temporaries()
            if will_resume(out, mode):
                folder.resume = True
            elif folder.last.exists() or folder.best.exists():
                if not overwrite:
                    raise RunFolderError(folder._describe())
                for name in MANAGED:
                    (out / name).unlink(missing_ok=True)
        except BaseException:
            folder.close()
            raise
        return folder

    def close(self) -> None:
        self.lock.release()

    def _probe(self) -> None:
        try:
            fd, tmp = tempfile.mkstemp(prefix=".probe.", suffix=".tmp", dir=self.out)
            try:
                os.write(fd, b"odenets")
                os.fsync(fd)
            finally:
                os.close(fd)
                os.unlink(tmp)
        except OSError as err:
            raise SaveError(
                f"cannot write to --out {self.out}: {_strerror(err)}", err.errno
            ) from None

    def _remove_temporaries(self) -> None:
        prefixes = tuple(f".{name}." for name in (*MANAGED, "probe"))
        for path in sorted(self.out.iterdir()):
            if path.name.startswith(prefixes) and path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)
                self.removed.append(path.name)

    def _describe(self) -> str:
        what = "last.pt" if self.last.exists() else "best.pt"
        try:
            ckpt = load_checkpoint(self.out / what, verify=False)
            epoch, epochs = ckpt.get("epoch"), (ckpt.get("config") or {}).get("epochs")
            state = f"{what} at epoch {epoch} of {epochs}"
            if isinstance(epoch, int) and isinstance(epochs, int) and epoch >= epochs:
                state += ", finished"
        except CheckpointError:
            state = f"{what}, unreadable"
        return (
            f"--out {self.out} already holds a run ({state}): pass --resume to continue it, "
            "--overwrite to replace it, or choose another --out"
        )

    def kept(self) -> str:
        """What the folder holds now, as a phrase for a message."""
        if self.saved_epoch is None:
            return "no checkpoint was written yet"
        return f"{self.last} keeps epoch {self.saved_epoch}"

    def save_epoch(self, data: bytes, epoch: int, improved: bool, history: list[dict]) -> None:
        """Write ``last.pt`` (``data``), ``best.pt`` (the same bytes, when ``improved``) and
        ``metrics.jsonl`` (``history``) in one step; a signal waits until all are in place.
        A failed write is a :class:`SaveError` saying what the folder still holds."""
        files = [(self.last, data)]
        if improved:
            files.append((self.best, data))
        files.append((self.metrics, metrics_bytes(history)))
        try:
            with deferred():  # a stop requested now is raised once the files are in place
                write_files_atomic(files)
                self.saved_epoch = epoch
        except OSError as err:
            raise SaveError(
                f"could not save epoch {epoch} in {self.out} ({_strerror(err)}); {self._intact()}",
                err.errno,
            ) from None

    def _intact(self) -> str:
        if self.saved_epoch is None:
            return "no checkpoint was written yet"
        return f"the files of epoch {self.saved_epoch} are intact"

    def repair(self, ckpt: dict) -> list[str]:
        """Bring ``metrics.jsonl`` and ``best.pt`` in line with ``last.pt`` (``ckpt``) after a
        kill between two renames; returns one note per file repaired or not repairable."""
        notes = []
        self.saved_epoch = ckpt.get("epoch")
        lines = metrics_bytes([finite_record(r)[0] for r in ckpt.get("metrics") or []])
        try:
            current = self.metrics.read_bytes()
        except OSError:
            current = None
        if current != lines:
            write_atomic(self.metrics, lambda fh: fh.write(lines))
            notes.append(f"rewrote {self.metrics} from last.pt")
        best_epoch = ckpt.get("best_epoch")
        if best_epoch is None:  # written before best_epoch was recorded
            return notes
        try:
            held = load_checkpoint(self.best).get("epoch")
        except CheckpointError:
            held = None
        if held == best_epoch:
            return notes
        what = "is missing or damaged" if held is None else f"held epoch {held}"
        if best_epoch == ckpt.get("epoch"):
            write_atomic(self.best, lambda fh: fh.write(self.last.read_bytes()))
            notes.append(f"{self.best} {what}; restored epoch {best_epoch} from last.pt")
        else:
            notes.append(
                f"{self.best} {what}, not the best epoch {best_epoch}, and cannot be rebuilt; "
                "it is rewritten when the test accuracy next improves"
            )
        return notes
