"""Shared test fixtures: deterministic seeds and small known-solution problems."""

from __future__ import annotations

import math
import os

import pytest
import torch
from hypothesis import settings

# CI runs the property tests on a fixed example sequence (reproducible failures); locally
# hypothesis explores freshly each run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def nonlinear_field(t, y):
    """A time-dependent nonlinear test field on (..., 4) states with a closed-form solution.

    Components: u' = -2 t u^2 (u = 1/(1+t^2)), v' = v cos t (v = exp(sin t)),
    and the rotation q' = p, p' = -q. Every component's equation is evaluated from the full
    state, so partitioned/coupled schemes see a genuine system.
    """
    u, v, q, p = y.unbind(-1)
    return torch.stack((-2 * t * u**2, v * torch.cos(t), p, -q), dim=-1)


def nonlinear_exact(t: float, batch: int = 1, dtype=torch.float64) -> torch.Tensor:
    row = torch.tensor(
        [
            1 / (1 + t**2),
            math.exp(math.sin(t)),
            math.cos(t) + 0.5 * math.sin(t),
            -math.sin(t) + 0.5 * math.cos(t),
        ],
        dtype=dtype,
    )
    return row.expand(batch, 4).clone()


def nonlinear_y0(batch: int = 1, dtype=torch.float64) -> torch.Tensor:
    return nonlinear_exact(0.0, batch, dtype)


def train_argv(out, model: str = "resnet20", *extra: str, depth: int = 8, epochs: int = 1):
    """argv of a tiny, fast ``odenets train`` run on digits writing to ``out``."""
    return [
        "train", "--model", model, "--depth", str(depth), "--widths", "4,8,8",
        "--epochs", str(epochs), "--batch-size", "64", "--out", str(out),
        "--no-progress", "--threads", "1", *extra,
    ]  # fmt: skip
