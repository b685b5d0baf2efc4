"""Shared test fixtures: deterministic seeds and small known-solution problems."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# One compute thread per test process and per subprocess it starts (they inherit the
# environment): the suite runs on shared two-core machines, where a second OpenMP thread only
# spin-waits against the other jobs (measured: several times the CPU time of a test).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch
from hypothesis import settings

from odenets.numerics.convergence import PROBLEMS

# CI runs the property tests on a fixed example sequence (reproducible failures); locally
# hypothesis explores freshly each run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# A fresh data cache per test session, shared with the subprocesses it starts (the torchrun
# workers then read the digits split instead of importing scikit-learn); the user's
# ~/.cache/odenets is neither read nor written.
_CACHE = tempfile.mkdtemp(prefix="odenets-test-cache-")
os.environ["ODENETS_CACHE"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)


@pytest.fixture(scope="module")
def small():
    """256 training and 100 test digits (augmentation on): a fast training set."""
    from odenets.workflow.data import Dataset, load_dataset

    d = load_dataset("digits")
    keep = {"x_train": d.x_train[:256], "y_train": d.y_train[:256]}
    return Dataset(**{**d.__dict__, **keep, "x_test": d.x_test[:100], "y_test": d.y_test[:100]})


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


# A time-dependent, nonlinear, coupled problem with a closed-form solution; that the closed
# form solves the equation is checked in tests/test_analysis.py.
nonlinear_field = PROBLEMS["nonlinear"].f


def nonlinear_exact(t: float, batch: int = 1, dtype=torch.float64) -> torch.Tensor:
    return PROBLEMS["nonlinear"].exact(t).to(dtype).expand(batch, 4).clone()


def nonlinear_y0(batch: int = 1, dtype=torch.float64) -> torch.Tensor:
    return nonlinear_exact(0.0, batch, dtype)


def train_argv(out, model: str = "resnet20", *extra: str, depth: int = 8, epochs: int = 1):
    """argv of a tiny, fast ``odenets train`` run on digits writing to ``out``."""
    return [
        "train", "--model", model, "--depth", str(depth), "--widths", "4,8,8",
        "--epochs", str(epochs), "--batch-size", "64", "--out", str(out),
        "--no-progress", "--threads", "1", *extra,
    ]  # fmt: skip
