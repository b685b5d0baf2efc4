"""odeint('rk4') on a small MLP field vs a hand-written RK4 loop vs torchdiffeq's fixed grid.

100 steps, batch 256, forward + backward. Goals: ratio to the hand-written loop <= 1.10;
faster than torchdiffeq's fixed-grid rk4 (reported). Run: python bench/bench_odeint.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torchdiffeq
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from _timing import interleaved

import odenets as on


class MLP(nn.Module):
    def __init__(self, dim=32, hidden=64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, dim))

    def forward(self, t, y):
        return self.net(y)


def hand_rk4(f, y, t):
    ys = [y]
    for n in range(len(t) - 1):
        t0, h = t[n], float(t[n + 1] - t[n])
        k1 = f(t0, y)
        k2 = f(t0 + h / 2, y + (h / 2) * k1)
        k3 = f(t0 + h / 2, y + (h / 2) * k2)
        k4 = f(t0 + h, y + h * k3)
        y = y + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
        ys.append(y)
    return torch.stack(ys)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    f = MLP()
    y0 = torch.randn(args.batch, 32)
    t = torch.linspace(0, 1, args.steps + 1)
    torch.testing.assert_close(on.odeint(f, y0, t, "rk4"), hand_rk4(f, y0, t))

    def run(solve):
        def go():
            solve()[-1].square().mean().backward()

        return go

    candidates = {
        "odenets": run(lambda: on.odeint(f, y0, t, "rk4")),
        "hand_loop": run(lambda: hand_rk4(f, y0, t)),
        "torchdiffeq": run(lambda: torchdiffeq.odeint(f, y0, t, method="rk4")),
    }
    times = interleaved(candidates, repeats=args.repeats)
    print(
        f"threads={torch.get_num_threads()} steps={args.steps} batch={args.batch} "
        "(forward + backward)"
    )
    for k, s in times.items():
        print(f"{k:>12}: {1e3 * s:8.1f} ms")
    print(
        f"ratio odenets / hand_loop   = {times['odenets'] / times['hand_loop']:.3f}  (goal <= 1.10)"
    )
    print(
        f"ratio odenets / torchdiffeq = {times['odenets'] / times['torchdiffeq']:.3f}"
        "  (goal < 1; torchdiffeq's rk4 is the 3/8 rule, same cost)"
    )


if __name__ == "__main__":
    main()
