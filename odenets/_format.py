"""Plain-text tables for the command line (one formatter for every subcommand)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["text_table"]


def text_table(rows: Sequence[Sequence[str]], align: str = "left") -> str:
    """Columns padded to their widest cell, a dashed rule under the header row.

    Args:
        rows: the header row, then the body rows (strings, all of one length).
        align: ``"left"`` (names, words) or ``"right"`` (numbers).
    """
    if align not in ("left", "right"):
        raise ValueError(f"align must be 'left' or 'right', got {align!r}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            c.ljust(w) if align == "left" else c.rjust(w)
            for c, w in zip(cells, widths, strict=True)
        )
        return "  ".join(padded).rstrip()

    lines = [line(r) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
