"""Start-up cost of ``odenets --version`` and ``odenets --help`` against ``import torch``.

``import odenets`` is lazy (PEP 562) and the CLI builds a subcommand's parser only when it is
named, so the two informational paths import no torch. Goal: each costs at most 0.25 of
``python -c "import torch"``, i.e. it is dominated by the interpreter, not by torch.

Each command runs in a fresh interpreter, the candidates interleaved round by round; the
figure is the minimum over rounds of the child's CPU time (user + system, from
``resource.getrusage``), robust on a shared machine:

    python bench/bench_cli_startup.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CANDIDATES = {
    "odenets --version": [sys.executable, "-m", "odenets", "--version"],
    "odenets --help": [sys.executable, "-m", "odenets", "--help"],
    "import torch": [sys.executable, "-c", "import torch"],
    "python (empty)": [sys.executable, "-c", "pass"],
}


def _cpu_seconds(argv: list[str], env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    samples: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    for _ in range(args.rounds):
        for name, argv in CANDIDATES.items():
            samples[name].append(_cpu_seconds(argv, env))
    best = {name: min(s) for name, s in samples.items()}
    torch_cost = best["import torch"]
    print(f"CPU seconds, minimum of {args.rounds} interleaved rounds")
    for name, seconds in best.items():
        print(f"  {name:20s} {seconds:6.3f} s   ratio to import torch {seconds / torch_cost:.3f}")
    ok = all(best[n] <= 0.25 * torch_cost for n in ("odenets --version", "odenets --help"))
    print("goal (<= 0.25 of import torch):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
