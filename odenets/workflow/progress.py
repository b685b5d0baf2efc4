"""Progress of a series of training runs (``odenets compare`` and its sweeps)."""

from __future__ import annotations

import sys

__all__ = ["RunProgress"]


class RunProgress:
    """Which run of how many, on stderr: a tqdm bar over the runs on a terminal (whose label
    names the current run, e.g. ``euler seed 1 (2/9)``; :attr:`epoch_bars` says whether the
    per-epoch bars of :func:`~odenets.workflow.train.train` should show below it), one line
    per finished run when stderr is not a terminal (no carriage-return spam in logs), nothing
    when disabled."""

    def __init__(self, total: int, enabled: bool, name: str = "compare") -> None:
        self.total, self.done, self.enabled, self.name = total, 0, enabled, name
        self.tty = enabled and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        self.bar = None
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=name, file=sys.stderr, position=0)

    @property
    def epoch_bars(self) -> bool:
        """Whether the runs should show their own per-epoch bars (on a terminal only)."""
        return self.tty

    def start(self, name: str) -> str:
        """Announce run ``name``; returns its label with the count, e.g. ``"lm seed 0 (3/9)"``."""
        label = f"{name} ({self.done + 1}/{self.total})"
        if self.bar is not None:
            self.bar.set_description_str(label)
        return label

    def finish(self, label: str, run: dict) -> None:
        """Count a finished run; ``run`` has ``seconds`` and ``test_accuracy`` or
        ``diverged``."""
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        elif self.enabled:
            what = (
                "diverged"
                if run.get("diverged")
                else f"test accuracy {100 * run['test_accuracy']:.2f}%"
            )
            print(f"{self.name}: {label}: {what} in {run['seconds']:.1f} s", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
