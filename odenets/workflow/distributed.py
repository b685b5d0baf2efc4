"""Data-parallel training under ``torchrun``: process group, SyncBatchNorm, reductions.

``torchrun --nproc_per_node=N -m odenets train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous address; :func:`setup` joins the group (nccl on GPUs, gloo on
CPU). PyTorch's ``SyncBatchNorm`` only runs on accelerators, so on CPU
:func:`convert_sync_batchnorm` swaps in :class:`GlooSyncBatchNorm`, which all-reduces the
batch statistics with the differentiable collective and hence normalizes with the statistics
of the global batch, exactly like one process would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = [
    "DistInfo",
    "GlooSyncBatchNorm",
    "all_reduce_sum",
    "convert_sync_batchnorm",
    "setup",
    "teardown",
]


_CPU = torch.device("cpu")


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world`` processes, on ``device``."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = _CPU

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """True on the process that writes files and prints."""
        return self.rank == 0


def setup(device: str | None = None, timeout_s: float = 300.0) -> DistInfo:
    """Join the process group described by torchrun's environment (a single process without
    it). ``device``: ``"cpu"``, ``"cuda"`` or ``None`` (cuda when available)."""
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise ValueError("--device cuda requested but CUDA is not available")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device("cuda", local) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(
            "nccl" if use_cuda else "gloo", timeout=timedelta(seconds=timeout_s)
        )
    return DistInfo(rank, world, local, dev)


def teardown(info: DistInfo, synchronize: bool = True) -> None:
    """Leave the process group joined by :func:`setup`.

    With ``synchronize`` (a run that finished normally) every process first waits for the
    others, so no process destroys its group while a peer still talks to it (with gloo that
    aborts the process at exit). After an error there is no barrier: the peers may be gone.
    """
    if info.distributed and dist.is_initialized():
        try:
            if synchronize:
                dist.barrier()
        finally:
            dist.destroy_process_group()


def all_reduce_sum(x: Tensor, info: DistInfo) -> Tensor:
    """Sum of ``x`` over processes (``x`` itself for one process)."""
    if info.distributed:
        x = x.clone()
        dist.all_reduce(x)
    return x


class _AllReduceSum(torch.autograd.Function):
    """Differentiable all-reduce (sum): the gradient of a sum over processes is the sum of the
    gradients."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlooSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch normalization over the global batch of all processes, for CPU (gloo) groups.

    Training mode: the per-channel mean, then the variance, are all-reduced with
    a differentiable all-reduce (whose backward all-reduces the gradient),
    so forward and backward equal one process on the concatenated batch. Evaluation mode uses
    the running statistics, like ``BatchNorm``.
    """

    def _check_input_dim(self, x: Tensor) -> None:
        if x.ndim < 2:
            raise ValueError(f"expected input of rank >= 2, got shape {tuple(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input_dim(x)
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        all_reduce = _AllReduceSum.apply
        dims = [0, *range(2, x.ndim)]
        shape = (1, -1) + (1,) * (x.ndim - 2)
        count = all_reduce(x.new_tensor([x.numel() / x.shape[1]]))
        mean = all_reduce(x.sum(dims)) / count
        centered = x - mean.view(shape)
        var = all_reduce((centered * centered).sum(dims)) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = (
                    self.momentum
                    if self.momentum is not None
                    else 1.0 / float(self.num_batches_tracked)
                )
                unbiased = var * count / (count - 1).clamp_min(1)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased.detach(), alpha=m)
        y = centered * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_sync_batchnorm(model: nn.Module, info: DistInfo) -> nn.Module:
    """Replace batch norms by synchronized ones (torch's on accelerators, :class:`GlooSyncBatchNorm`
    on CPU); a no-op for one process. The parameters and buffers are kept (same objects)."""
    if not info.distributed:
        return model
    if info.device.type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return _swap(model)


def _swap(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(
        module, GlooSyncBatchNorm
    ):
        new = GlooSyncBatchNorm(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
        )
        # keep the very same parameters and buffers: an optimizer built earlier still works
        for name in ("weight", "bias"):
            setattr(new, name, getattr(module, name))
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            setattr(new, name, getattr(module, name))
        new.train(module.training)
        return new
    for name, child in module.named_children():
        swapped = _swap(child)
        if swapped is not child:
            setattr(module, name, swapped)
    return module
