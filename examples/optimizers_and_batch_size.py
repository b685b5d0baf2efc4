"""Optimizers as integrators of the gradient flow, and the critical batch size, on digits.

1. torch's SGD with momentum is the two-step ``lm`` scheme on ``F = -grad f``: a few steps on
   a quadratic, compared with ``odenets.odeint(..., "lm")`` (float64).
2. One network per optimizer from the same initial weights: loss and accuracy against epoch.
3. Steps N(b) to a training-loss target per batch size, the fit N(b) = A b / (c b - B) and the
   critical batch size b* = 2B/c minimising N(b)·b (Sato & Iiduka 2023).

    python examples/optimizers_and_batch_size.py            # a few minutes on one core
    python examples/optimizers_and_batch_size.py --smoke    # seconds
"""

import argparse
from pathlib import Path

import torch

import odenets as on
from odenets.workflow.batch_size import BatchSweepConfig, batch_sweep, markdown_table
from odenets.workflow.optimizer_compare import OptimizerCompareConfig, compare_optimizers
from odenets.workflow.optimizer_compare import markdown_table as optimizer_table
from odenets.workflow.plots_training import plot_batch_sweep, plot_optimizer_curves


def heavy_ball_is_lm(beta: float = 0.9, h: float = 0.05, steps: int = 20) -> float:
    """Max |torch SGD(momentum=beta, dampening=beta, lr=h) - odeint lm (k=-beta, step h)|."""
    g = torch.Generator().manual_seed(0)
    Q = torch.randn(4, 4, generator=g, dtype=torch.float64)
    A = Q @ Q.T / 4 + torch.eye(4, dtype=torch.float64)
    x = torch.nn.Parameter(torch.randn(4, generator=g, dtype=torch.float64))
    x0 = x.detach().clone()
    opt = torch.optim.SGD([x], lr=h, momentum=beta, dampening=beta)
    path = [x0]
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * x @ A @ x).backward()
        opt.step()
        path.append(x.detach().clone())
    grid = h * torch.arange(steps + 1, dtype=torch.float64)
    ode = on.odeint(lambda t, y: -(y @ A), x0, grid, "lm", coefficients={"k": -beta})
    return float((torch.stack(path) - ode).abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/optimizers_and_batch_size")
    parser.add_argument("--smoke", action="store_true", help="tiny nets, few epochs and sizes")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"heavy ball vs lm scheme: max difference {heavy_ball_is_lm():.2e} (float64)")

    tiny = {"depth": 8, "widths": (4, 8, 8), "epochs": 2} if args.smoke else {}
    optimizers = ("sgd", "adam") if args.smoke else ("sgd", "momentum", "rmsprop", "adam")
    payload = compare_optimizers(OptimizerCompareConfig(optimizers=optimizers, **tiny))
    print(optimizer_table(payload))
    print("plot:", plot_optimizer_curves(payload, out / "optimizers.png"))

    sweep = BatchSweepConfig(seeds=(0,))
    if args.smoke:
        sweep = BatchSweepConfig(
            batch_sizes=(32, 64, 128),
            target="train_loss<2.0",
            model_args={"scheme": "euler", "depth": 8, "widths": [4, 8, 8]},
            seeds=(0,),
            eval_every=2,
        )
    result = batch_sweep(sweep)
    print(markdown_table(result))
    print("plot:", plot_batch_sweep(result, out / "batch_sweep.png"))


if __name__ == "__main__":
    main()
