"""Side-by-side measurement helpers: interleaved timing medians, saved-for-backward bytes and
the markdown table the benchmark scripts print."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch


def interleaved(
    candidates: dict[str, Callable[[], object]], repeats: int = 15, warmup: int = 3
) -> dict[str, float]:
    """Median seconds per call of each candidate, measured round-robin so that machine load
    affects all of them alike."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


def saved_bytes(forward: Callable[[], torch.Tensor], exclude: Iterable[torch.Tensor] = ()) -> int:
    """Bytes of the tensors autograd saves for backward during ``forward()`` (counted with
    ``torch.autograd.graph.saved_tensors_hooks``, each storage once, ``exclude`` — e.g. the
    parameters — left out); runs the backward afterwards so the graph is used as in training."""
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    seen: set[int] = set()
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        ptr = t.untyped_storage().data_ptr()
        if ptr not in skip and ptr not in seen:
            seen.add(ptr)
            total += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward()
    out.sum().backward()
    return total


def markdown_table(
    columns: Sequence[tuple[str, str]],
    rows: Sequence[dict[str, Any]],
    cell: Callable[[dict[str, Any], str], str],
) -> str:
    """``rows`` as one markdown table: ``columns`` are ``(key, title)`` pairs, ``cell(row,
    key)`` formats one entry."""
    lines = [
        "| " + " | ".join(title for _, title in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(cell(r, k) for k, _ in columns) + " |" for r in rows]
    return "\n".join(lines)
