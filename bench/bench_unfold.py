"""Training time and accuracy of the ridge deep-unfolding reproduction, the book's recipe next
to odenets' (goal: each DU-GD training <= 60 s on 2 cores).

Wadayama's set-up: A (100 x 50, N(0,1)), lam = 3, batch 100, DU-GD with period-4 steps over 50
iterations, incremental training in float64; the two recipes of
``odenets.unfold.experiments.RIDGE_RECIPES`` run one after the other in this process on the same
instance. Prints, per recipe, the training time of each variant, the MSE at t = 10/20/50 and
the ratios to Chebyshev steps on the same evaluation batch and to the book's printed figures.

    python bench/bench_unfold.py [--threads 2] [--seed 0] [--recipes book,odenets]
"""

from __future__ import annotations

import argparse
import time

import torch

from odenets.unfold import experiments

#: the MSE at t = 50 the notebook prints (its own instance, a fresh batch of 100)
BOOK = {"du_gd": 2.52e-8, "du_gd_lam": 1.19e-9}
GOAL_S = 60.0
MARKS = (10, 20, 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recipes", default="book,odenets")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for name in args.recipes.split(","):
        start = time.perf_counter()
        results[name] = experiments.ridge_experiment(name, seed=args.seed)
        results[name]["wall"] = time.perf_counter() - start
    print(f"threads={args.threads} seed={args.seed}; MSE ||x_t - x_opt||^2 / K at t = {MARKS}")
    for name, r in results.items():
        mse = r["mse"]
        print(f"[{name}] data {r['recipe']['data']}, whole run incl. baselines {r['wall']:.1f} s")
        for method in ("du_gd", "du_gd_lam", "chebyshev", "constant"):
            curve = ", ".join(f"{mse[method][t]:.3g}" for t in MARKS)
            train = r["train_seconds"].get(method)
            note = f"  train {train:.1f} s ({train / GOAL_S:.2f} of the goal)" if train else ""
            print(f"  {method:10s} {curve}{note}")
        for method, book in BOOK.items():
            print(
                f"  ratio {method} / chebyshev (T=4) at t=50 = "
                f"{mse[method][50] / mse['chebyshev'][50]:.3g};  / book's {book:g} = "
                f"{mse[method][50] / book:.3g}"
            )
    if {"book", "odenets"} <= set(results):
        b, o = results["book"]["train_seconds"], results["odenets"]["train_seconds"]
        for method in b:
            print(f"train time book / odenets ({method}) = {b[method] / o[method]:.2f}")


if __name__ == "__main__":
    main()
