"""Stopping on SIGINT and SIGTERM with one line and nothing half-written.

SIGTERM is what ``torchrun``, Slurm and Kubernetes send to stop a job; SIGINT is Ctrl-C. Inside
:func:`stop_on_signals` both raise :class:`Interrupted` (a ``KeyboardInterrupt``, so ordinary
``except Exception`` code does not swallow it) in the main thread. A signal that arrives inside
a :func:`deferred` block (an epoch's files being renamed into place) is acted on when the block
ends, so a stop never cuts a save in half. The ``odenets`` command exits with the shell
convention ``128 + signal number``: 130 for SIGINT, 143 for SIGTERM.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Interrupted", "deferred", "quiet", "stop_on_signals"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The process was asked to stop by ``signum``; ``str()`` says what was kept."""

    def __init__(self, signum: int, message: str | None = None) -> None:
        self.signum = int(signum)
        self.signal_name = signal.Signals(self.signum).name
        self.message = message or f"interrupted by {self.signal_name}"
        super().__init__(self.message)

    @property
    def exit_code(self) -> int:
        """``128 + signum`` (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum

    def __str__(self) -> str:
        return self.message


class _State:
    installed = 0  # nesting depth of stop_on_signals
    deferring = 0  # nesting depth of deferred
    quiet = False  # stopping already: record signals, raise nothing
    pending: int | None = None


_state = _State()


def _handler(signum: int, frame) -> None:
    if _state.deferring or _state.quiet:
        _state.pending = _state.pending or signum
        return
    raise Interrupted(signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted` (main thread only;
    elsewhere the block changes nothing). The previous handlers are restored on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, _handler)
    _state.installed += 1
    try:
        yield
    finally:
        _state.installed -= 1
        if not _state.installed:
            _state.quiet, _state.pending, _state.deferring = False, None, 0
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def deferred() -> Iterator[None]:
    """A block that a signal must not interrupt: a stop requested inside it is raised as
    :class:`Interrupted` when the block has completed."""
    _state.deferring += 1
    try:
        yield
    except BaseException:
        _state.deferring -= 1
        raise
    _state.deferring -= 1
    if not _state.deferring and _state.pending is not None and not _state.quiet:
        signum, _state.pending = _state.pending, None
        raise Interrupted(signum)


def quiet() -> None:
    """The process is already stopping (an error is on its way out): further signals are
    recorded but raise nothing, so they cannot replace that error's message."""
    if _state.installed:
        _state.quiet = True
