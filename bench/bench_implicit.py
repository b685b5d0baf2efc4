"""Implicit backward-Euler step: the `solve` realization vs Picard at the same accuracy.

A backward-Euler block y = x + h F(y) around a convolutional field F (conv-ReLU-conv, no
BatchNorm, weights scaled so that h Lip(F) ~ `--contraction` at the test point). Prints, from
one run side by side:
  * `solve` (plain fixed point, and Anderson m=5) at tolerance 1e-6: iterations, time per
    forward, time per forward+backward (IFT adjoint), saved-activation bytes;
  * `picard` with the smallest k whose output is as accurate (relative residual of the
    implicit equation <= 1e-6): the same figures — it unrolls k evaluations of F in autograd.

    python bench/bench_implicit.py [--batch 32] [--channels 32] [--size 16] [--device cpu]
"""

from __future__ import annotations

import argparse

import torch
from _timing import interleaved, saved_bytes  # bench/_timing.py
from torch import nn

import odenets as on
from odenets.numerics.fixed_point import (
    SolveSettings,
    SolveStats,
    implicit_solve,
    relative_residual,
)


class ConvField(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.conv2(torch.relu(self.conv1(y)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--contraction", type=float, default=0.8)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    dev, tol, h = args.device, 1e-6, 1.0
    f = ConvField(args.channels).to(dev)
    x = torch.randn(args.batch, args.channels, args.size, args.size, device=dev)
    with torch.no_grad():  # scale both convs so that h * ||J_F(x)|| ~ contraction
        lip = on.lipschitz_estimate(f, x)
        for conv in (f.conv1, f.conv2):
            conv.weight.mul_((args.contraction / (h * lip)) ** 0.5)
    print(
        f"input {tuple(x.shape)} float32 on {dev}; h*||J_F(x)|| = "
        f"{h * on.lipschitz_estimate(f, x):.3f}; tol {tol:g}"
    )

    def block(options):
        return on.SchemeBlock("backward_euler", f, h, options=options)

    candidates = {
        "solve (fixed point)": {"tol": tol, "anderson": 0, "max_iter": 500},
        "solve (Anderson m=5)": {"tol": tol, "anderson": 5, "max_iter": 500},
    }
    iterations = {}
    for name, opts in candidates.items():
        stats = SolveStats()
        settings = SolveSettings(tol=tol, anderson=opts["anderson"], max_iter=500)
        with torch.no_grad():
            implicit_solve(lambda z: x + h * f(z), x, settings, stats)
        iterations[name] = stats.iterations
    # the smallest Picard k with the same accuracy
    k, res = 0, float("inf")
    with torch.no_grad():
        z = x
        while res > tol and k < 500:
            z, k = x + h * f(z), k + 1
            res = relative_residual(x + h * f(z), z)
    candidates[f"picard (k={k})"] = {"solver": "picard", "iterations": k}
    iterations[f"picard (k={k})"] = k
    blocks = {name: block(opts) for name, opts in candidates.items()}

    def forward(b):
        def run():
            with torch.no_grad():
                b(x)
            if x.is_cuda:
                torch.cuda.synchronize()

        return run

    def train(b):
        xg = x.clone().requires_grad_(True)

        def run():
            f.zero_grad(set_to_none=True)
            b(xg).square().mean().backward()
            if x.is_cuda:
                torch.cuda.synchronize()

        return run

    t_fwd = interleaved({n: forward(b) for n, b in blocks.items()}, repeats=args.reps, warmup=1)
    t_train = interleaved({n: train(b) for n, b in blocks.items()}, repeats=args.reps, warmup=1)
    print(
        f"{'realization':22s} {'F-evals':>8s} {'fwd ms':>8s} {'fwd+bwd ms':>11s} {'saved MiB':>10s}"
    )
    for name, b in blocks.items():
        xg = x.clone().requires_grad_(True)
        mib = saved_bytes(lambda b=b, xg=xg: b(xg)) / 2**20
        print(
            f"{name:22s} {iterations[name]:8d} {t_fwd[name] * 1e3:8.1f} "
            f"{t_train[name] * 1e3:11.1f} {mib:10.2f}"
        )
    picard = f"picard (k={k})"
    for name in ("solve (fixed point)", "solve (Anderson m=5)"):
        print(
            f"{name} / picard: forward time {t_fwd[name] / t_fwd[picard]:.2f}, "
            f"train-step time {t_train[name] / t_train[picard]:.2f}"
        )


if __name__ == "__main__":
    main()
