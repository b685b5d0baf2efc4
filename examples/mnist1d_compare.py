"""MNIST-1D: a ResNet-style Conv1d SolverNet (``dims=1``) against its LM and RK2 variants:
accuracy over seeds with 95% intervals, the paired verdict against the ResNet, cost, and a
PNG of accuracy against parameters and F-evaluations.

MNIST-1D (Greydanus 2020) is 4000/1000 sequences of length 40; odenets' mnist1d defaults
train on a fixed 1000-sample subset, where the schemes are not all at the ceiling. Needs the
``mnist1d`` package (``pip install odenets[mnist1d]``).

    python examples/mnist1d_compare.py                 # 3 seeds
    python examples/mnist1d_compare.py --smoke         # a tiny net, 1 epoch, 1 seed
"""

import argparse
from pathlib import Path

from odenets.workflow.compare import CompareConfig, compare
from odenets.workflow.compare_tables import markdown_table, notes
from odenets.workflow.plots_compare import plot_compare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=None, help="default: odenets' mnist1d one")
    parser.add_argument("--out", default="runs/mnist1d_compare")
    parser.add_argument("--smoke", action="store_true", help="a tiny net, 1 epoch, 1 seed")
    args = parser.parse_args()
    seeds = [0] if args.smoke else [int(s) for s in args.seeds.split(",")]
    config = CompareConfig(
        schemes=["euler", "lm", "heun"],
        data="mnist1d",
        seeds=seeds,
        epochs=1 if args.smoke else args.epochs,
        **({"depth": 8, "widths": (8, 16, 16), "progress": False} if args.smoke else {}),
    )
    results = compare(config)
    print(markdown_table(results))
    print(notes(results))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("plot:", plot_compare(results, out / "mnist1d_compare.png", title="MNIST-1D"))


if __name__ == "__main__":
    main()
