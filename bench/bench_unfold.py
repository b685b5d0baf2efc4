"""Time to train the ridge deep-unfolding reproduction (goal <= 60 s on 2 cores).

Wadayama's set-up: A (100 x 50, N(0,1)), lam = 3, batch 100, DU-GD with period 4 over 50
iterations, incremental training in float64. Prints the training time, the MSE reached at
t = 50 and its ratios to the book's figures and to Chebyshev steps on the same instance.

    python bench/bench_unfold.py [--threads 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import torch

from odenets.unfold import experiments

BOOK = {"eta only": 2.52e-8, "eta and lam_t": 1.19e-9}
GOAL_S = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    r = experiments.ridge_experiment(seed=args.seed, learn_lam=False)
    wall = time.perf_counter() - start
    train = r["train_seconds"]["du_gd"]
    mse = {k: v[50] for k, v in r["mse"].items()}
    n = 50  # coordinates per sample (the ridge set-up has x in R^50)
    print(
        f"threads={args.threads}  train {train:.1f} s (goal <= {GOAL_S:.0f} s: "
        f"{train / GOAL_S:.2f} of it), whole run incl. baselines {wall:.1f} s"
    )
    print("MSE at t=50 (||x - x_opt||^2 / K; per entry = / 50):")
    for name in ("du_gd", "chebyshev", "chebyshev_full", "heavy_ball", "constant", "cg"):
        print(f"  {name:15s} {mse[name]:.3g}   per entry {mse[name] / n:.3g}")
    print(f"ratio du_gd / chebyshev (T=4)  = {mse['du_gd'] / mse['chebyshev']:.3g}  (goal <= 10)")
    for label, value in BOOK.items():
        print(f"ratio du_gd / book ({label}: {value:g}) = {mse['du_gd'] / value:.3g}")


if __name__ == "__main__":
    main()
