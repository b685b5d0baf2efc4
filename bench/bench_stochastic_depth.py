"""Train-step time of stochastic-depth ResNet-110 (p_L = 0.5) against the same net without drops.

Stochastic depth evaluates a residual function only on the samples it keeps, so a training
step should cost about the mean survival probability of the full one: with the linear
schedule over L = 54 units, mean p = 1 - (1 - p_L)(L + 1) / (2L) ~ 0.75 (plus the stem, the
head and the per-block gather/scatter). Goal: ratio <= 0.85.

Both nets are timed side by side in one run, steps interleaved, and the median is reported.
The ratio uses process CPU time (robust on a shared machine; with one thread it is the
compute), wall time is printed alongside:

    python bench/bench_stochastic_depth.py [--batch 32] [--size 32] [--steps 6]

The preset gates whole blocks per mini-batch (Huang et al.): a dropped block is skipped. Two
per-sample variants (one Bernoulli gate per sample, Lu et al.'s SDE reading) are timed side by
side: ``compute="kept"`` runs F on the kept rows only (a gather/scatter; BatchNorm inside F
normalises over the kept rows) and ``compute="all"`` runs F on the whole batch and masks
(torchvision's ``stochastic_depth(mode="row")``; BatchNorm sees every row); the ratio
kept / all is the speed difference of the two semantics. "no drops" is the identical network
and code path with survival 1; plain ResNet-110 (Euler blocks, no noise machinery) is shown
for reference.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import odenets as on
import odenets.networks
import odenets.numerics


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, x, y) -> tuple[float, float]:
    """One SGD step; returns (process CPU seconds, wall seconds)."""
    cpu, wall = time.process_time(), time.perf_counter()
    opt.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=32, help="image height and width")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per model")
    args = parser.parse_args()

    torch.manual_seed(0)
    models = {
        # the preset: one gate per block and mini-batch (Huang et al.)
        "stochastic depth, per batch": on.create_model("stochastic_depth_resnet110"),
        # one gate per sample (Lu et al.'s SDE reading): F on the kept rows only, or on all
        "per sample, F on kept rows": on.create_model(
            "stochastic_depth_resnet110", noise=on.StochasticDepth(0.5, per="sample")
        ),
        "per sample, F on all rows": on.create_model(
            "stochastic_depth_resnet110",
            noise=on.StochasticDepth(0.5, per="sample", compute="all"),
        ),
        "no drops (p=1)": on.create_model(
            "stochastic_depth_resnet110", noise=on.StochasticDepth(1.0)
        ),
        "resnet110 (plain)": on.create_model("resnet110"),
    }
    opts = {k: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for k, m in models.items()}
    x = torch.randn(args.batch, 3, args.size, args.size)
    y = torch.randint(0, 10, (args.batch,))
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in models}
    for k, m in models.items():  # warm-up
        m.train()
        train_step(m, opts[k], x, y)
    for _ in range(args.steps):
        for k, m in models.items():
            times[k].append(train_step(m, opts[k], x, y))

    med = {k: statistics.median(c for c, _ in v) for k, v in times.items()}
    print(
        f"batch {args.batch}, {args.size}x{args.size}, {args.steps} steps, "
        f"{torch.get_num_threads()} threads"
    )
    for k, v in med.items():
        wall = statistics.median(w for _, w in times[k])
        print(f"  {k:30s} CPU median {v * 1e3:8.1f} ms   wall median {wall * 1e3:8.1f} ms")
    mean_p = statistics.mean(linear := on.networks.noise.linear_survival(54, 0.5))
    print(f"expected compute fraction (mean survival over {len(linear)} units): {mean_p:.3f}")
    base = med["no drops (p=1)"]
    for k in (
        "stochastic depth, per batch",
        "per sample, F on kept rows",
        "per sample, F on all rows",
    ):
        ratio = med[k] / base
        verdict = "met" if ratio <= 0.85 else "NOT met"
        goal = f"goal <= 0.85: {verdict}" if "batch" in k else "(reported)"
        print(f"ratio {k} / no drops: {ratio:.3f}   {goal}")
    kept, full = med["per sample, F on kept rows"], med["per sample, F on all rows"]
    print(f"ratio per sample, F on kept rows / F on all rows: {kept / full:.3f}")


if __name__ == "__main__":
    main()
