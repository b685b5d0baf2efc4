"""odeint in the overhead-bound regime: odenets vs a hand-written loop vs torchdiffeq.

An MLP field ``f(t, y) = W2 tanh(W1 y + b1) + b2`` (hidden width 32), ``--steps`` fixed steps
(default 1,000) on the output grid ``t = linspace(0, 1, steps + 1)`` (every step is an output,
as in torchdiffeq issue 278), states ``(batch, dim)`` for every batch in ``--batches`` and dim
in ``--dims``. Candidates, timed interleaved in one run (the fastest of ``--repeats`` calls):

* ``hand_euler``, ``hand_rk4``: the loops a user writes (``y = y + h * f(t[n], y)``, the
  classical RK4), keeping every point and stacking at the end;
* ``odenets_euler``, ``odenets_rk4``: ``odenets.odeint(f, y0, t, scheme)``;
* ``torchdiffeq_euler``, ``torchdiffeq_rk4``: ``torchdiffeq.odeint(f, y0, t, method=...)``
  (torchdiffeq's rk4 is the 3/8 rule: four evaluations, like the classical one).

Each in mode ``forward`` (under ``torch.no_grad``) and ``train`` (forward + backward of the
final state's mean square), and per ``--compile`` variant: ``eager``; ``field`` (the field
module through ``torch.compile``); ``loop`` (the whole hand-written / odenets integration
through ``torch.compile``: dynamo unrolls the loop, so compiling takes minutes per size on a
CPU — compile times are printed). Printed per size: ms per call and the ratios

* ``odenets / hand`` (the goal: <= 1.2 at every size),
* ``torchdiffeq / odenets`` (goal: >= 5 where torchdiffeq is overhead-bound),

and, with ``--runs N``, the min–max of every ratio over the runs. ``--json PATH`` writes every
measurement. Progress goes to stderr.

    python bench/bench_odeint.py                       # eager, both modes, 9 sizes
    python bench/bench_odeint.py --runs 3              # min-max over three runs
    python bench/bench_odeint.py --compile eager,field --batches 10,200 --dims 16
    python bench/bench_odeint.py --device cuda         # synchronises after every call

``--implicit`` instead times the implicit solve: ``odeint`` of 320 backward-Euler steps of the
stiff ``y' = -50 (y - cos t)`` (h = 0.01, a 4-element float64 state; Anderson m = 5), forward
and forward + backward, per step. ``--baseline DIR`` times another version of the package
side by side (``DIR/odenets``, e.g. ``git archive 74b51f1 odenets | tar -x -C DIR``), imported
under another name; without ``--implicit`` it adds ``baseline_euler``/``baseline_rk4`` to the
candidates:

    python bench/bench_odeint.py --implicit --baseline /tmp/odenets-0.1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torchdiffeq
from torch import nn
from tqdm import tqdm

import odenets as on

HIDDEN = 32


class MLP(nn.Module):
    """``f(t, y) = W2 tanh(W1 y + b1) + b2`` (time-independent; ``t`` is accepted)."""

    def __init__(self, dim: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, dim))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(y)


def hand_euler(f: Callable, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    ys = [y]
    hs = (t[1:] - t[:-1]).tolist()
    for n, h in enumerate(hs):
        y = y + h * f(t[n], y)
        ys.append(y)
    return torch.stack(ys)


def hand_rk4(f: Callable, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    ys = [y]
    hs = (t[1:] - t[:-1]).tolist()
    for n, h in enumerate(hs):
        t0 = t[n]
        k1 = f(t0, y)
        k2 = f(t0 + h / 2, y + (h / 2) * k1)
        k3 = f(t0 + h / 2, y + (h / 2) * k2)
        k4 = f(t0 + h, y + h * k3)
        y = y + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
        ys.append(y)
    return torch.stack(ys)


def candidates(f: Callable, t: torch.Tensor, variant: str, baseline=None) -> dict[str, Callable]:
    """``name -> solve(y0)`` for one compile variant (``baseline``: another odenets)."""
    solves = {
        "hand_euler": lambda y0: hand_euler(f, y0, t),
        "hand_rk4": lambda y0: hand_rk4(f, y0, t),
        "odenets_euler": lambda y0: on.odeint(f, y0, t, "euler"),
        "odenets_rk4": lambda y0: on.odeint(f, y0, t, "rk4"),
        "torchdiffeq_euler": lambda y0: torchdiffeq.odeint(f, y0, t, method="euler"),
        "torchdiffeq_rk4": lambda y0: torchdiffeq.odeint(f, y0, t, method="rk4"),
    }
    if baseline is not None:
        solves["baseline_euler"] = lambda y0: baseline.odeint(f, y0, t, "euler")
        solves["baseline_rk4"] = lambda y0: baseline.odeint(f, y0, t, "rk4")
    if variant == "loop":  # the whole integration as one compiled function
        return {k: torch.compile(v) for k, v in solves.items() if not k.startswith("torchdiffeq")}
    return solves


def timed(
    solves: dict[str, Callable],
    y0: torch.Tensor,
    mode: str,
    repeats: int,
    budget: float,
    compiled: bool,
):
    """Fastest seconds per call (the least disturbed by other load; the candidates are
    interleaved, so load hits all of them alike); the first call (warm-up, and the
    compile for compiled variants) is timed separately. A candidate whose first call exceeds
    ``budget`` seconds is not repeated: its first call is its sample if nothing was compiled,
    else one more call is."""
    sync = torch.cuda.synchronize if y0.is_cuda else (lambda: None)

    def call(solve):
        if mode == "forward":
            with torch.no_grad():
                solve(y0)
        else:
            solve(y0)[-1].square().mean().backward()
        sync()

    first, samples = {}, {k: [] for k in solves}
    for name, solve in solves.items():
        start = time.perf_counter()
        call(solve)
        first[name] = time.perf_counter() - start
    for r in range(repeats):
        for name, solve in solves.items():
            if first[name] > budget and (not compiled or r > 0):
                continue
            start = time.perf_counter()
            call(solve)
            samples[name].append(time.perf_counter() - start)
    return {k: min(v or [first[k]]) for k, v in samples.items()}, first


RATIOS = {
    "odenets_euler / hand_euler": ("odenets_euler", "hand_euler"),
    "odenets_rk4 / hand_rk4": ("odenets_rk4", "hand_rk4"),
    "torchdiffeq_euler / odenets_euler": ("torchdiffeq_euler", "odenets_euler"),
    "torchdiffeq_rk4 / odenets_rk4": ("torchdiffeq_rk4", "odenets_rk4"),
    "baseline_euler / odenets_euler": ("baseline_euler", "odenets_euler"),
    "baseline_rk4 / odenets_rk4": ("baseline_rk4", "odenets_rk4"),
}


def _import_copy(src: Path, name: str):
    """Import the package ``src/odenets`` as ``name`` (a copy in a temporary folder)."""
    import importlib
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp())
    shutil.copytree(src / "odenets", root / name)
    sys.path.insert(0, str(root))
    return importlib.import_module(name)


def implicit(args) -> None:
    """Backward-Euler odeint per step: this version (and ``--baseline``), side by side."""
    versions = {"current": on}
    if args.baseline is not None:
        versions["baseline"] = _import_copy(args.baseline, "odenets_baseline")
    steps, h = 320, 0.01
    t = torch.arange(steps + 1, dtype=torch.float64) * h
    y0 = torch.ones(4, dtype=torch.float64)

    def field(t, y):
        return -50 * (y - torch.cos(t))

    def forward(lib):
        def run():
            with torch.no_grad():
                lib.odeint(field, y0, t, "backward_euler")

        return run

    def train(lib):
        def run():
            y = y0.clone().requires_grad_(True)
            lib.odeint(field, y, t, "backward_euler")[-1].sum().backward()

        return run

    for _name, lib in versions.items():  # the versions compute the same trajectory
        torch.testing.assert_close(
            lib.odeint(field, y0, t, "backward_euler"), on.odeint(field, y0, t, "backward_euler")
        )
    cands = {f"{v} forward": forward(lib) for v, lib in versions.items()}
    cands |= {f"{v} forward+backward": train(lib) for v, lib in versions.items()}
    samples = {k: [] for k in cands}
    for _ in range(args.repeats):
        for k, fn in cands.items():
            start = time.perf_counter()
            fn()
            samples[k].append(time.perf_counter() - start)
    print(f"odeint backward_euler, {steps} steps of y' = -50 (y - cos t), h = {h}, float64 (4,)")
    ms = {k: 1e3 * min(v) / steps for k, v in samples.items()}  # fastest: least disturbed
    for k, v in ms.items():
        print(f"{k:>28}: {v:7.3f} ms per step")
    if "baseline forward" in ms:
        for mode in ("forward", "forward+backward"):
            print(
                f"baseline / current, {mode}: {ms['baseline ' + mode] / ms['current ' + mode]:.2f}"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batches", default="1,10,200")
    parser.add_argument("--dims", default="2,16,64")
    parser.add_argument("--modes", default="forward,train")
    parser.add_argument("--compile", default="eager", help="comma list of eager, field, loop")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--budget", type=float, default=5.0, help="seconds; see timed()")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--implicit", action="store_true", help="time the implicit solve")
    parser.add_argument("--baseline", type=Path, default=None, help="DIR holding odenets/")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.implicit:
        implicit(args)
        return
    batches = [int(b) for b in args.batches.split(",")]
    dims = [int(d) for d in args.dims.split(",")]
    modes = args.modes.split(",")
    variants = args.compile.split(",")
    for v in variants:
        if v not in ("eager", "field", "loop"):
            parser.error(f"--compile: unknown variant {v!r}; choose from eager, field, loop")
    dev = torch.device(args.device)
    t = torch.linspace(0, 1, args.steps + 1, device=dev)

    # the candidates compute the same thing (checked once, small size)
    f = MLP(4).to(dev)
    y0 = torch.randn(3, 4, device=dev)
    ref = hand_euler(f, y0, t)
    torch.testing.assert_close(on.odeint(f, y0, t, "euler"), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(on.odeint(f, y0, t, "rk4"), hand_rk4(f, y0, t), rtol=1e-5, atol=1e-5)

    baseline = None if args.baseline is None else _import_copy(args.baseline, "odenets_baseline")
    records = []
    jobs = [(r, v, b, d) for r in range(args.runs) for v in variants for b in batches for d in dims]
    for run, variant, batch, dim in tqdm(jobs, desc="bench_odeint", file=sys.stderr):
        torch.manual_seed(0)
        field = MLP(dim).to(dev)
        fn = torch.compile(field) if variant == "field" else field
        y0 = torch.randn(batch, dim, device=dev)
        for mode in modes:
            solves = candidates(fn, t, variant, baseline)
            times, first = timed(solves, y0, mode, args.repeats, args.budget, variant != "eager")
            record = {
                "run": run,
                "variant": variant,
                "mode": mode,
                "batch": batch,
                "dim": dim,
                "ms": {k: 1e3 * v for k, v in times.items()},
                "first_call_s": first,
            }
            records.append(record)
            tqdm.write(json.dumps(record), file=sys.stderr)  # progress, one line per size

    print(
        f"torch {torch.__version__}, device {dev}, threads {torch.get_num_threads()}, "
        f"{args.steps} steps, MLP hidden {HIDDEN}, repeats {args.repeats}, runs {args.runs}"
    )
    for variant in variants:
        for mode in modes:
            print(f"\n== {variant} / {mode}: ms per call (run 0), ratios")
            names = (
                list(records[0]["ms"])
                if variant != "loop"
                else [k for k in records[0]["ms"] if not k.startswith("torchdiffeq")]
            )
            print(f"{'batch x dim':>12} " + " ".join(f"{n:>18}" for n in names))
            for batch in batches:
                for dim in dims:
                    rec = [
                        r
                        for r in records
                        if (r["variant"], r["mode"], r["batch"], r["dim"])
                        == (variant, mode, batch, dim)
                    ]
                    ms = rec[0]["ms"]
                    print(
                        f"{f'{batch} x {dim}':>12} "
                        + " ".join(f"{ms.get(n, float('nan')):18.1f}" for n in names)
                    )
                    parts = []
                    for label, (num, den) in RATIOS.items():
                        if num not in ms or den not in ms:
                            continue
                        values = [r["ms"][num] / r["ms"][den] for r in rec]
                        parts.append(f"{label} {min(values):.2f}-{max(values):.2f}")
                    print(f"{'':>12} " + "; ".join(parts))
                    if variant != "eager":
                        firsts = rec[0]["first_call_s"]
                        print(
                            f"{'':>12} first call (compile) s: "
                            + ", ".join(f"{k} {v:.1f}" for k, v in firsts.items())
                        )
    if args.json is not None:
        args.json.write_text(json.dumps(records, indent=1))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
