"""The resnet20 preset's train step vs a hand-written ResNet-20 with the same layers.

Goal: ratio <= 1.03 (the scheme machinery costs nothing measurable). Run:
    python bench/bench_resnet_overhead.py [--batch 64] [--repeats 15]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from _timing import interleaved

import odenets as on


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = cout - cin
        self.stride = stride

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.stride > 1 or self.pad:
            half = self.pad // 2
            x = F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, half, self.pad - half))
        return F.relu(x + out)


class HandResNet20(nn.Module):
    """He et al.'s CIFAR ResNet-20 (option-A shortcuts padding both sides, ReLU after every
    addition, no head BN) — the same layers as the resnet20 preset."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()
        )
        layers, cin = [], 16
        for i, w in enumerate((16, 32, 64)):
            for j in range(3):
                layers.append(Block(cin, w, 2 if (i > 0 and j == 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(self.layers(self.stem(x)).mean((2, 3)))


def train_step(model, opt, x, y):
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    opt.step()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    models = {"solvernet": on.create_model("resnet20"), "hand_written": HandResNet20()}
    counts = {k: on.count_parameters(m) for k, m in models.items()}
    if len(set(counts.values())) != 1:
        raise SystemExit(f"parameter counts differ: {counts}")
    x, y = torch.randn(args.batch, 3, 32, 32), torch.randint(0, 10, (args.batch,))
    opts = {k: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for k, m in models.items()}
    times = interleaved(
        {k: (lambda k=k: train_step(models[k], opts[k], x, y)) for k in models},
        repeats=args.repeats,
    )
    print(f"threads={torch.get_num_threads()} batch={args.batch} params={counts['solvernet']}")
    for k, s in times.items():
        print(f"{k:>13}: {1e3 * s:8.1f} ms / train step (median of {args.repeats})")
    ratio = times["solvernet"] / times["hand_written"]
    print(f"ratio solvernet / hand_written = {ratio:.3f}  (goal <= 1.03)")


if __name__ == "__main__":
    main()
