"""Train-step time of stochastic-depth ResNet-110 (p_L = 0.5) against the same net without drops.

Stochastic depth evaluates a residual function only on the samples it keeps, so a training
step should cost about the mean survival probability of the full one: with the linear
schedule over L = 54 units, mean p = 1 - (1 - p_L)(L + 1) / (2L) ~ 0.75 (plus the stem, the
head and the per-block gather/scatter). Goal: ratio <= 0.85.

Both nets are timed side by side in one run, steps interleaved, and the median is reported.
The ratio uses process CPU time (robust on a shared machine; with one thread it is the
compute), wall time is printed alongside:

    OMP_NUM_THREADS=1 python bench/bench_stochastic_depth.py [--batch 32] [--size 32] [--steps 6]

"no drops" is the identical network and code path with survival 1 (every block kept);
plain ResNet-110 (Euler blocks, no noise machinery) is shown for reference.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import odenets as on


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
    parser.add_argument(
        "--per",
        choices=("sample", "batch"),
        default="sample",
        help="one gate per sample (Lu et al.) or per mini-batch (Huang et al.)",
    )
    args = parser.parse_args()

    torch.manual_seed(0)
    models = {
        "stochastic depth p_L=0.5": on.create_model(
            "stochastic_depth_resnet110", noise=on.StochasticDepth(0.5, per=args.per)
        ),
        "no drops (p=1)": on.create_model(
            "stochastic_depth_resnet110", noise=on.StochasticDepth(1.0, per=args.per)
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
        f"batch {args.batch}, {args.size}x{args.size}, {args.steps} steps, gates per "
        f"{args.per}, {torch.get_num_threads()} threads"
    )
    for k, v in med.items():
        wall = statistics.median(w for _, w in times[k])
        print(f"  {k:28s} CPU median {v * 1e3:8.1f} ms   wall median {wall * 1e3:8.1f} ms")
    mean_p = statistics.mean(linear := on.noise.linear_survival(54, 0.5))
    ratio = med["stochastic depth p_L=0.5"] / med["no drops (p=1)"]
    print(f"expected compute fraction (mean survival over {len(linear)} units): {mean_p:.3f}")
    print(
        f"ratio stochastic depth / no drops: {ratio:.3f}   goal <= 0.85: "
        f"{'met' if ratio <= 0.85 else 'NOT met'}"
    )
    print(
        f"ratio stochastic depth / plain resnet110: "
        f"{med['stochastic depth p_L=0.5'] / med['resnet110 (plain)']:.3f}"
    )


if __name__ == "__main__":
    main()
