"""Does a weight-tied net behave like an ODE? (Queiruga et al. 2020)

Trains a ``tie="all"`` SolverNet (one F per stage, RK4 steps) on the digits, then evaluates
the same weights integrated with other schemes and step counts over the same stage time. An
ODE-like net keeps its accuracy under refinement (more steps, higher order); a net that only
works at its training discretisation has learned a discrete map. The second run trains the
same net incrementally in depth (1, then 2, then 4 steps per stage).

    python examples/scheme_transfer.py            # about a minute on 2 CPU cores
    python examples/scheme_transfer.py --smoke      # a tiny net, 2 epochs, seconds
"""

import argparse

from odenets.networks.retime import stage_steps
from odenets.workflow.data import load_dataset
from odenets.workflow.train import TrainConfig, train
from odenets.workflow.transfer import transfer


def table(net, dataset, schemes, steps) -> str:
    rows = transfer(net, dataset, schemes, steps)
    lines = [
        "| scheme | " + " | ".join(f"{m} steps" for m in steps) + " |",
        "|---" * (len(steps) + 1) + "|",
    ]
    for s in schemes:
        accs = [f"{100 * r['test_accuracy']:.1f}%" for r in rows if r["scheme"] == s]
        lines.append(f"| {s} | " + " | ".join(accs) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--smoke", action="store_true", help="a tiny net, seconds")
    args = parser.parse_args()
    epochs = 2 if args.smoke else args.epochs
    dataset = load_dataset("digits")
    schemes, steps = (
        (["euler", "rk4"], [1, 2]) if args.smoke else (["euler", "heun", "rk4"], [1, 2, 4, 8])
    )
    recipe = {
        "model": "ode_resnet",
        "epochs": epochs,
        "batch_size": 64,
        "lr": 0.05,
        "weight_decay": 5e-4,
        "schedule": "cosine",
        "nesterov": True,
        "progress": False,
        "model_args": {"widths": [4, 8, 8] if args.smoke else [16, 32, 64], "h": 0.5},
    }
    phases = (1, 2) if args.smoke else (1, 2, 4)  # incremental: one phase per epoch block

    plain = train(TrainConfig(**recipe), dataset=dataset).model
    print(f"trained: rk4, steps per stage {stage_steps(plain)}")
    print(table(plain, dataset, schemes, steps))

    grown = train(TrainConfig(**recipe, incremental=phases), dataset=dataset).model
    path = " -> ".join(map(str, phases))
    print(f"\ntrained incrementally ({path} steps per stage), now {stage_steps(grown)}")
    print(table(grown, dataset, schemes, steps))


if __name__ == "__main__":
    main()
