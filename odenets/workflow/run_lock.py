"""One run per folder: an exclusive lock on ``<out>/.lock``.

The lock is an ``flock`` on the file, which the kernel releases when its holder exits, however
it exits (kill -9 included): a lock left by a dead process is simply taken over. The file
holds the holder's pid, host and start time, so a refused run can say who holds the folder;
it is emptied on release. Where ``flock`` is unavailable (some network file systems) the file
itself is the lock, created exclusively, and a lock naming a pid of this host that no longer
runs is taken over.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

__all__ = ["LOCK_NAME", "RunLock", "RunLockedError", "pid_alive"]

LOCK_NAME = ".lock"
_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS}


class RunLockedError(RuntimeError):
    """Another live process holds the run folder."""


def _holder_text(info: dict) -> str:
    where = f"pid {info.get('pid', '?')}"
    if info.get("host"):
        where += f" on {info['host']}"
    if info.get("started"):
        where += f", since {info['started']}"
    return where


def _read(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError:
        return {}
    try:
        info = json.loads(text)
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (on this host)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


class RunLock:
    """``RunLock(folder).acquire()`` ... ``release()`` (or use it as a context manager)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None
        self._exclusive_file = False
        self.previous: dict = {}  # what a stale lock said (empty: the folder was free)

    def _me(self) -> bytes:
        return json.dumps(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
        ).encode()

    def _refuse(self, info: dict) -> RunLockedError:
        return RunLockedError(
            f"run folder {self.folder} is in use by another run ({_holder_text(info)}): "
            f"wait for it to end or choose another --out (lock file {self.path})"
        )

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RunLockedError` naming its holder; an ``OSError``
        (read-only folder, full disk, ...) says the folder cannot be written."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if fcntl is not None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._refuse(_read(self.path)) from None
            except OSError as err:
                os.close(fd)
                if err.errno not in _NO_FLOCK:
                    raise
                return self._acquire_exclusive_file()
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
            try:
                self.previous = _read(self.path)
                os.ftruncate(fd, 0)
                os.pwrite(fd, self._me(), 0)
            except BaseException:
                self.release()
                raise
            return self
        return self._acquire_exclusive_file()

    def _acquire_exclusive_file(self) -> RunLock:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                info = _read(self.path)
                if not info:  # a lock file emptied by a release in progress, or foreign
                    info = {"pid": "?"}
                mine = info.get("host") == socket.gethostname()
                pid = info.get("pid")
                if mine and isinstance(pid, int) and not pid_alive(pid):
                    self.previous = info
                    self.path.unlink(missing_ok=True)
                    continue
                raise self._refuse(info) from None
            try:
                os.write(fd, self._me())
            finally:
                os.close(fd)
            self._exclusive_file = True
            return self
        raise self._refuse(_read(self.path))

    def release(self) -> None:
        """Give the lock back (idempotent)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            finally:
                os.close(fd)  # closing the descriptor releases the flock
        if self._exclusive_file:
            self._exclusive_file = False
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
