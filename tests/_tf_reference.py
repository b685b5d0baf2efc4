"""Shared pieces of the hand-written references of the authors' TensorFlow networks (RevNet,
Hamiltonian nets): variables created by name as the TensorFlow code names them, and its
batch norm in evaluation mode (eps 1e-3), in float64."""

from __future__ import annotations

import torch

DT = torch.float64
EPS = 1e-3


class Variables:
    """TensorFlow-style variables by name, created (random) the first time they are asked:
    weights N(0, weight_scale^2), BN statistics and shifts N(0, 0.25), variances U(0.5, 1.5)."""

    def __init__(self, seed: int = 0, weight_scale: float = 0.25):
        self.values: dict[str, torch.Tensor] = {}
        self.g = torch.Generator().manual_seed(seed)
        self.weight_scale = weight_scale

    def __call__(self, name, shape, kind="weight"):
        if name not in self.values:
            if kind == "var":
                v = torch.rand(shape, generator=self.g, dtype=DT) + 0.5
            else:
                scale = self.weight_scale if kind == "weight" else 0.5
                v = torch.randn(shape, generator=self.g, dtype=DT) * scale
            self.values[name] = v
        return self.values[name]

    def trainable(self):
        return sum(
            v.numel() for k, v in self.values.items() if not k.endswith(("ema_mean", "ema_var"))
        )


def batch_norm(x, v, name):
    """TensorFlow's batch norm at inference: moving mean / variance, gamma, beta."""
    c = x.shape[1]
    shape = (1, c, 1, 1)
    mean, var = v(f"{name}/ema_mean", (c,), "stat"), v(f"{name}/ema_var", (c,), "var")
    gamma, beta = v(f"{name}/gamma", (c,), "stat"), v(f"{name}/beta", (c,), "stat")
    return (x - mean.view(shape)) / (var.view(shape) + EPS).sqrt() * gamma.view(shape) + beta.view(
        shape
    )
