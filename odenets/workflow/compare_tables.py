"""Markdown tables of :mod:`odenets.workflow.compare` results: the comparison (accuracy with
its interval, the paired verdict, cost), the robustness study and a sweep."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["format_table", "markdown_table", "notes", "robustness_table", "sweep_table"]


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table: ``rows[0]`` is the header; columns padded to their widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.2f}"


def _accuracy(r: dict) -> str:
    if r["test_accuracy"] is None:
        return f"diverged ({r['n_diverged']}/{r['n_runs']})"
    text = _pct(r["test_accuracy"])
    if r["test_accuracy_std"] is not None:
        text += f" ± {100 * r['test_accuracy_std']:.2f}"
    if r["n_diverged"]:
        text += f" ({r['n_diverged']}/{r['n_runs']} diverged)"
    return text


def _signed(x: float) -> str:
    """A difference in percentage points, ``+0.00`` for what rounds to zero (no ``-0.00``)."""
    pp = 100 * x
    return "+0.00" if abs(pp) < 0.005 else f"{pp:+.2f}"


def _ci(ci: Sequence[float] | None, signed: bool = False) -> str:
    if ci is None:
        return "—"
    if signed:
        return f"[{_signed(ci[0])}, {_signed(ci[1])}]"
    return f"[{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]"


def _delta(r: dict) -> tuple[str, str]:
    p = r.get("paired")
    if p is None:
        return "reference", ""
    text = _signed(p["mean"])
    if p["ci"] is not None:
        text += " " + _ci(p["ci"], signed=True)
    return text, p["verdict"]


def _ms(x: float | None) -> str:
    return "—" if x is None else (f"{x:.1f}" if x >= 10 else f"{x:.2f}")


def _level(results: Sequence[dict]) -> str:
    return f"{100 * results[0].get('confidence', 0.95):g}%"


def markdown_table(results: Sequence[dict]) -> str:
    """The comparison table: cost, accuracy (mean ± std over the finished seeds, %), its
    Student-t interval, and the paired difference to the first row with its verdict."""
    level = _level(results)
    ref = results[0]["label"]
    models = len({r["model"] for r in results}) > 1
    first = "scheme" if all(r["label"] == r["scheme"] for r in results) else "network"
    header = [first, *(["model"] if models else []), "params", "F-evals"]
    header += ["train step ms*", "inference ms*", "test acc. % (mean ± std)"]
    header += [f"{level} CI", f"Δ vs {ref}, pp [{level} CI]", "paired t-test"]
    rows = [header]
    for r in results:
        delta, verdict = _delta(r)
        rows.append(
            [
                r["label"],
                *([r["model"]] if models else []),
                f"{r['params']:,}",
                str(r["f_evals"]),
                _ms(r.get("train_step_ms")),
                _ms(r.get("inference_ms")),
                _accuracy(r),
                _ci(r["test_accuracy_ci"]),
                delta,
                verdict,
            ]
        )
    return format_table(rows)


def notes(results: Sequence[dict]) -> str:
    """What the numbers of :func:`markdown_table` are, in a few lines under it."""
    level = _level(results)
    n = max(r["n_runs"] for r in results)
    ref = results[0]["label"]
    lines = [
        f"{results[0]['model']}; {n} seed{'s' if n != 1 else ''} per row. Accuracy: mean ± "
        f"sample std over the seeds, {level} CI: Student t. Δ: mean per-seed difference to "
        f"{ref} on the same seeds and data order, {level} CI: paired t "
        f'("not distinguishable": the interval contains 0).',
    ]
    timing = results[0].get("timing")
    if timing:
        lines.append(
            f"* measured on this machine ({timing['device']}, {timing['torch_threads']} torch "
            f"thread{'s' if timing['torch_threads'] != 1 else ''}): median of "
            f"{timing['repeats']} interleaved repeats (each averaging calls over at least "
            f"{timing.get('min_sample_ms', 0):g} ms); a training step on a batch of "
            f"{timing['train_batch']}, inference on {timing['inference_batch']} samples."
        )
    return "\n".join(lines)


def _robustness_label(probe: dict) -> str:
    if probe["kind"] == "h_scale":
        return f"h×{probe['factor']:g}"
    return f"{probe['steps']} step{'s' if probe['steps'] != 1 else ''}/stage"


def robustness_table(results: Sequence[dict]) -> str | None:
    """Test accuracy (%, mean ± std over the seeds) of every trained net re-discretized:
    every step size ``h`` scaled (``h×c``) and, for weight-tied nets, re-timed to ``m`` steps
    per stage; ``↑`` / ``↓`` mark a paired difference to the first row at the same
    re-discretization that is distinguishable from zero. ``None`` when nothing was
    re-discretized."""
    columns: list[str] = []
    for r in results:
        for probe in r["robustness"]:
            label = _robustness_label(probe)
            if label not in columns:
                columns.append(label)
    if not columns:
        return None
    rows = [["scheme", "as trained", *columns]]
    for r in results:
        cells = {_robustness_label(p): p for p in r["robustness"]}
        row = [r["label"], _accuracy(r)]
        for label in columns:
            p = cells.get(label)
            if p is None:
                row.append("—")
            else:
                text = _pct(p["test_accuracy"])
                if p["test_accuracy_std"] is not None:
                    text += f" ± {100 * p['test_accuracy_std']:.2f}"
                verdict = p.get("paired") or {}
                if verdict.get("distinguishable"):
                    text += " ↑" if verdict["mean"] > 0 else " ↓"
                row.append(text)
        rows.append(row)
    return format_table(rows)


def sweep_table(points: Sequence[dict]) -> str:
    """One row per sweep value and entry: cost, accuracy, interval, paired verdict."""
    key = points[0]["key"]
    level = _level(points[0]["results"])
    ref = points[0]["results"][0]["label"]
    header = [key, "scheme", "params", "F-evals", "test acc. % (mean ± std)", f"{level} CI"]
    rows = [[*header, f"Δ vs {ref}, pp", "paired t-test"]]
    for point in points:
        value = point["value"]
        shown = "/".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        for r in point["results"]:
            delta, verdict = _delta(r)
            rows.append(
                [
                    shown,
                    r["label"],
                    f"{r['params']:,}",
                    str(r["f_evals"]),
                    _accuracy(r),
                    _ci(r["test_accuracy_ci"]),
                    delta,
                    verdict,
                ]
            )
    return format_table(rows)
