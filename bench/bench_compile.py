"""torch.compile vs eager, per preset: train-step speed, compile time, agreement, graph breaks.

For every preset of ``odenets.list_models()`` matching ``--models`` (comma-separated globs),
in one process, side by side:

* ``eager ms``: one training step (forward, cross-entropy, backward, SGD step with momentum) of
  the eager network on a ``--batch`` x 3 x ``--size`` x ``--size`` input (CIFAR: 32x32);
* ``compile s``: wall time of the first training step of ``torch.compile(net)`` (default mode,
  ``--backend``, inductor by default), forward and backward compiled (the backward is compiled
  at the first call, as ``odenets train --compile`` asks); ``eval s``: the first evaluation
  forward (``torch.no_grad``), which compiles a second graph;
* ``compiled ms`` and ``speedup`` (eager / compiled): steady-state training steps, timed
  interleaved with the eager ones (median of ``--repeats``, bench/_timing.py);
* ``train err``: the largest relative difference to eager of the outputs, the parameter
  gradients and the batch-norm statistics of two training steps from the same weights
  (stochastic presets re-seed their noise source, so both sides draw the same noise);
  ``eval err``: of the evaluation outputs; relative to the largest eager entry, float32.
  ``fp32 err``: the same measure (outputs and gradients of the first step) for eager float32
  against eager float64 (the same weights, inputs and noise draws), the rounding level of the
  network in float32, which any reordering of float32 arithmetic (as a compiler's) can reach;
  ``vs fp64``: the compiled float32 net against the same float64 reference; ``fp64 check``
  (only measured when the errors exceed 1e-5 and ``ROUNDING`` (4) times the float32 level):
  the float64 net compiled against the float64 net run eagerly, first training step — about
  1e-13 when the compiled graph computes the same function, so that the float32 difference is
  rounding (eager's CPU batch norm accumulates in float64, inductor's reductions in float32,
  which shows where gradients cancel);
  ``status``: ``ok`` when both errors are <= 1e-5 (the criterion of tests/test_compile.py),
  ``rounding`` when
  they exceed it but stay within ``ROUNDING`` times the float32 level or the ``fp64 check`` is
  <= 1e-10, ``differs`` otherwise;
* ``breaks``: graph breaks of one training / evaluation forward (``torch._dynamo.explain``);
  the stochastic presets break at their noise draws (``_draw``), see docs/benchmarks.md.

A preset whose compilation (or compiled run) raises is a row ``compile failed: <exception's
first line>``. Compile times are cold: each preset compiles with its own fresh inductor cache
directory (in-process caches persist). ``--json PATH`` writes every row with the break reasons;
progress goes to stderr. On a CPU full-size compiles take minutes per preset::

    python bench/bench_compile.py --models 'resnet20,lm_resnet20' --batch 32 --json out.json
"""

from __future__ import annotations

import argparse
import copy
import datetime
import fnmatch
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _compile_check import (
    buffers_rel_error,
    compile_settings,
    grads_rel_error,
    graph_breaks,
    max_rel_error,
    randomize_norms,
    seeded_grads,
    stochastic,
)
from _timing import interleaved, markdown_table

import odenets as on
from odenets._validate import unknown_name

TOLERANCE = 1e-5
#: Compiled-vs-eager differences up to this multiple of the float32 rounding level (eager
#: float32 vs float64) are rounding: two float32 evaluations in different orders differ by
#: about sqrt(2) times the error of each.
ROUNDING = 4.0
#: A compiled float64 net within this of the eager float64 one computes the same function.
FLOAT64_SAME = 1e-10
COLUMNS = (
    ("preset", "preset"),
    ("params", "params"),
    ("eager_ms", "eager ms"),
    ("compiled_ms", "compiled ms"),
    ("speedup", "speedup"),
    ("compile_s", "compile s"),
    ("eval_compile_s", "eval s"),
    ("train_err", "train err"),
    ("eval_err", "eval err"),
    ("float32_err", "fp32 err"),
    ("compiled_float64_err", "vs fp64"),
    ("float64_check_err", "fp64 check"),
    ("breaks", "breaks train/eval"),
    ("status", "status"),
)


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def first_line(err: BaseException) -> str:
    """``Type: first line of the message`` (at most 160 characters)."""
    text = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {text}"[:160]


def select(patterns: str | None) -> list[str]:
    """The presets matching the comma-separated globs (all without), in registry order."""
    names = on.list_models()
    if not patterns:
        return names
    globs = [p.strip() for p in patterns.split(",") if p.strip()]
    for g in globs:
        if not any(fnmatch.fnmatchcase(n, g) for n in names):
            raise unknown_name("--models pattern (matches no preset)", g, names)
    return [n for n in names if any(fnmatch.fnmatchcase(n, g) for g in globs)]


def _train_step(call: Callable[[Tensor], Tensor], opt: torch.optim.Optimizer, x, y):
    def step() -> None:
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(call(x), y).backward()
        opt.step()

    return step


def measure(
    name: str,
    *,
    batch: int = 32,
    size: int = 32,
    repeats: int = 5,
    backend: str | Callable = "inductor",
    overrides: dict[str, Any] | None = None,
    compile_fn: Callable[..., Callable] = torch.compile,
    breaks: bool = True,
    progress: Callable[[str], None] = lambda stage: None,
) -> dict[str, Any]:
    """One row: the eager and compiled measurements of preset ``name`` (see the module
    docstring). An exception while compiling or running the compiled net gives a row with
    ``status = "compile failed: ..."`` and the eager time; ``compile_fn(module, backend=)``
    is ``torch.compile`` (replaceable in tests)."""
    torch.manual_seed(0)
    eager = on.create_model(name, **(overrides or {}))
    randomize_norms(eager)
    row: dict[str, Any] = {"preset": name, "params": on.count_parameters(eager)}
    row["stochastic"] = stochastic(eager)
    x = torch.randn(batch, eager.in_channels, size, size)
    y = torch.randint(getattr(eager, "num_classes", 10) or 1, (batch,))

    progress("eager")
    start = time.perf_counter()
    _train_step(eager, torch.optim.SGD(eager.parameters(), lr=0.0), x, y)()
    row["eager_first_s"] = time.perf_counter() - start

    net = copy.deepcopy(eager)
    # the same net in float64; a stochastic one draws the same noise (its source re-seeded;
    # the draws are float32 numbers, converted exactly)
    reference = copy.deepcopy(eager).double()
    try:
        with compile_settings(), tempfile.TemporaryDirectory(prefix="inductor-") as cache:
            old = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
            try:
                _compiled_checks(
                    row, eager, net, reference, compile_fn, backend, x, y, repeats, progress
                )
            finally:
                if old is None:
                    os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
                else:
                    os.environ["TORCHINDUCTOR_CACHE_DIR"] = old
    except Exception as err:
        row["status"] = f"compile failed: {first_line(err)}"
        row["error"] = first_line(err)
        if "eager_ms" not in row:  # failed before the side-by-side timing
            step = _train_step(eager, torch.optim.SGD(eager.parameters(), 0.01, 0.9), x, y)
            row["eager_ms"] = interleaved({"eager": step}, repeats=repeats, warmup=1)["eager"] * 1e3
        _reset()
        return row
    if breaks:
        progress("graph breaks")
        try:
            for mode in ("train", "eval"):
                net.train(mode == "train")
                with torch.set_grad_enabled(mode == "train"):
                    count, reasons = graph_breaks(net, x)
                row[f"breaks_{mode}"], row[f"break_reasons_{mode}"] = count, reasons
        except Exception as err:  # explain itself failed: keep the measurements
            row["breaks_error"] = first_line(err)
    row["status"] = status(row)
    _reset()
    return row


def within_rounding(row: dict[str, Any]) -> bool:
    """Whether the errors are <= 1e-5 or ``ROUNDING`` times the float32 level."""
    err = max(row["train_err"], row["eval_err"])
    level = row.get("float32_err")
    return err <= TOLERANCE or (level is not None and err <= ROUNDING * level)


def status(row: dict[str, Any]) -> str:
    """``ok`` (errors <= 1e-5), ``rounding`` (<= ``ROUNDING`` x the float32 level, or the
    float64 compiled net equal to the eager one) or ``differs``; see the module docstring."""
    if max(row["train_err"], row["eval_err"]) <= TOLERANCE:
        return "ok"
    same = row.get("float64_check_err")
    if within_rounding(row) or (same is not None and same <= FLOAT64_SAME):
        return "rounding"
    return "differs"


def _reset() -> None:
    import torch._dynamo

    torch._dynamo.reset()


def _compiled_checks(
    row, eager, net, reference, compile_fn, backend, x, y, repeats, progress
) -> None:
    compiled = compile_fn(net, backend=backend)
    errs: list[dict[str, float]] = []
    for step in range(2):  # two training steps: the second one runs the compiled graph
        eager.train()
        net.train()
        progress("compile (train)" if step == 0 else "check (train)")
        want, want_grads = seeded_grads(eager, eager, x, seed=step)
        start = time.perf_counter()
        got, got_grads = seeded_grads(net, compiled, x, seed=step)
        if step == 0:
            row["compile_s"] = time.perf_counter() - start
            if reference is not None:  # eager float32 vs float64: the rounding level
                ref, ref_grads = seeded_grads(reference, reference, x.double(), seed=step)
                row["float32_err"] = max(
                    max_rel_error(want, ref), grads_rel_error(want_grads, ref_grads)
                )
                row["compiled_float64_err"] = max(
                    max_rel_error(got, ref), grads_rel_error(got_grads, ref_grads)
                )
        errs.append(
            {
                "output": max_rel_error(got, want),
                "gradients": grads_rel_error(got_grads, want_grads),
                "buffers": buffers_rel_error(net, eager),
            }
        )
    row["train_errs"] = {k: max(e[k] for e in errs) for k in errs[0]}
    row["train_err"] = max(row["train_errs"].values())
    progress("compile (eval)")
    eager.eval()
    net.eval()
    with torch.no_grad():
        want = eager(x)
        start = time.perf_counter()
        got = compiled(x)
        row["eval_compile_s"] = time.perf_counter() - start
    row["eval_err"] = max_rel_error(got, want)
    eager.train()
    net.train()
    progress("timing")
    steps = {
        "eager": _train_step(eager, torch.optim.SGD(eager.parameters(), 0.01, 0.9), x, y),
        "compiled": _train_step(compiled, torch.optim.SGD(net.parameters(), 0.01, 0.9), x, y),
    }
    times = interleaved(steps, repeats=repeats, warmup=1)
    row["eager_ms"], row["compiled_ms"] = times["eager"] * 1e3, times["compiled"] * 1e3
    row["speedup"] = times["eager"] / times["compiled"]
    if reference is not None and not within_rounding(row):
        progress("float64 check")
        row["float64_check_err"] = float64_check(reference, compile_fn, backend, x)


def float64_check(reference: nn.Module, compile_fn, backend, x: Tensor) -> float:
    """The float64 net (copies of ``reference``) compiled against the same net run eagerly:
    the largest relative difference of the outputs, gradients and buffers of one seeded
    training step."""
    eager, net = copy.deepcopy(reference).train(), copy.deepcopy(reference).train()
    compiled = compile_fn(net, backend=backend)
    want, want_grads = seeded_grads(eager, eager, x.double(), seed=0)
    got, got_grads = seeded_grads(net, compiled, x.double(), seed=0)
    return max(
        max_rel_error(got, want),
        grads_rel_error(got_grads, want_grads),
        buffers_rel_error(net, eager),
    )


def _cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if key == "breaks":
        if "breaks_train" not in row:
            return "-"
        return f"{row['breaks_train']}/{row['breaks_eval']}"
    if value is None:
        return "-"
    if key == "params":
        return f"{value:,}"
    if key.endswith("_ms"):
        return f"{value:.1f}"
    if key.endswith("_s"):
        return f"{value:.1f}"
    if key == "speedup":
        return f"{value:.2f}x"
    if key.endswith("_err"):
        return f"{value:.1e}"
    return str(value)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as one markdown table (missing measurements as ``-``)."""
    return markdown_table(COLUMNS, rows, _cell)


def environment(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    return {
        "date": datetime.date.today().isoformat(),
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "size": args.size,
        "repeats": args.repeats,
        "backend": args.backend,
        "presets": list(names),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Columns: see the module docstring (bench/bench_compile.py).",
    )
    parser.add_argument("--models", default=None, help="comma-separated globs (default: all)")
    parser.add_argument("--batch", type=int, default=32, help="training batch (default 32)")
    parser.add_argument("--size", type=int, default=32, help="image side (default 32, CIFAR)")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per candidate")
    parser.add_argument("--backend", default="inductor", help="torch.compile backend")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-breaks", action="store_true", help="skip torch._dynamo.explain")
    parser.add_argument("--json", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    try:
        names = select(args.models)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    meta = environment(args, names)
    print(
        f"{meta['date']}, {meta['cpu']}, torch {meta['torch']}, {meta['threads']} thread(s), "
        f"batch {args.batch} x 3 x {args.size} x {args.size}, backend {args.backend}, "
        f"median of {args.repeats} interleaved steps",
        flush=True,
    )
    rows = []
    bar = tqdm(names, file=sys.stderr, unit="preset")
    for name in bar:
        row = measure(
            name,
            batch=args.batch,
            size=args.size,
            repeats=args.repeats,
            backend=args.backend,
            breaks=not args.no_breaks,
            progress=lambda stage, name=name: bar.set_postfix_str(f"{name}: {stage}"),
        )
        rows.append(row)
        tqdm.write(json.dumps(row), file=sys.stderr)
        if args.json:
            args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
