"""What a network costs, measured side by side: one training step and one inference pass.

Times on a shared machine drift with the load, so the entries of a comparison are timed
*interleaved*: each repeat times every entry once (in a rotated order, so no entry always
goes first), and each entry reports the median over the repeats. Ratios between entries are
then measured under the same conditions; the absolute numbers hold for this machine only.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validate import check_int

__all__ = ["measure_costs"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor):
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


def _timed(fn: Callable[[], object], device: torch.device, n: int) -> float:
    """Milliseconds per call of ``fn``, over ``n`` calls."""
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    _sync(device)
    return 1e3 * (time.perf_counter() - t0) / n


def measure_costs(
    builders: Sequence[Callable[[], nn.Module]],
    train_batch: tuple[Tensor, Tensor],
    inference_batch: Tensor,
    *,
    repeats: int = 5,
    lr: float = 0.1,
    min_sample_ms: float = 50.0,
) -> list[dict]:
    """Median milliseconds of one SGD training step (forward, backward, update on
    ``train_batch``) and of one inference forward (eval mode, no gradients, on
    ``inference_batch``) for the model each builder returns, timed interleaved over
    ``repeats`` rounds after one warm-up step each. A sample averages as many calls as make
    it last at least ``min_sample_ms`` (judged from the warm-up), so short calls are not
    lost in timer and scheduler noise.

    The models are fresh (timing does not depend on the weights) and are thrown away, so a
    trained model is never touched. Returns ``{"train_step_ms", "inference_ms",
    "train_step_ms_runs", "inference_ms_runs", "calls_per_sample"}`` per builder.
    """
    repeats = check_int("timing repeats", repeats, 1)
    models = [build() for build in builders]
    device = train_batch[0].device
    optimizers = [torch.optim.SGD(m.parameters(), lr=lr, momentum=0.9) for m in models]
    x, y = train_batch

    def train_call(i: int) -> Callable[[], None]:
        def call() -> None:
            models[i].train()
            _train_step(models[i], optimizers[i], x, y)

        return call

    def infer_call(i: int) -> Callable[[], None]:
        def call() -> None:
            models[i].eval()
            with torch.no_grad():
                models[i](inference_batch)

        return call

    calls = []
    for i in range(len(models)):  # warm-up (allocations, caches), then calibrate
        _timed(train_call(i), device, 1)
        _timed(infer_call(i), device, 1)
        per_train = _timed(train_call(i), device, 1)
        per_infer = _timed(infer_call(i), device, 1)
        calls.append(
            (
                max(1, math.ceil(min_sample_ms / max(per_train, 1e-3))),
                max(1, math.ceil(min_sample_ms / max(per_infer, 1e-3))),
            )
        )
    train_ms: list[list[float]] = [[] for _ in models]
    infer_ms: list[list[float]] = [[] for _ in models]
    order = list(range(len(models)))
    for r in range(repeats):
        for i in order[r % len(order) :] + order[: r % len(order)]:
            train_ms[i].append(_timed(train_call(i), device, calls[i][0]))
            infer_ms[i].append(_timed(infer_call(i), device, calls[i][1]))
    return [
        {
            "train_step_ms": statistics.median(t),
            "inference_ms": statistics.median(v),
            "train_step_ms_runs": [round(a, 3) for a in t],
            "inference_ms_runs": [round(a, 3) for a in v],
            "calls_per_sample": {"train": c[0], "inference": c[1]},
        }
        for t, v, c in zip(train_ms, infer_ms, calls, strict=True)
    ]
