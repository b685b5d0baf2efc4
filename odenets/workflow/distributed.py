"""Data-parallel training under ``torchrun``: process group, SyncBatchNorm, reductions, and
waits that end.

``torchrun --nproc_per_node=N -m odenets train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous address; :func:`setup` joins the group (nccl on GPUs, gloo on
CPU). PyTorch's ``SyncBatchNorm`` only runs on accelerators, so on CPU
:func:`convert_sync_batchnorm` swaps in :class:`GlooSyncBatchNorm`, which all-reduces the
batch statistics with the differentiable collective and hence normalizes with the statistics
of the global batch, exactly like one process would.

Every wait on the other processes is bounded by ``timeout_s`` (``--dist-timeout``): joining the
group, barriers (gloo's ``monitored_barrier``, which names the ranks that did not arrive) and
every collective. When a wait fails, :func:`peer_failure` turns the backend's error into one
line naming the rank that was lost: the processes of the job register their host and pid when
they join, so a survivor can tell which peer is gone.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .run_lock import pid_alive

__all__ = [
    "DistInfo",
    "DistributedError",
    "GlooSyncBatchNorm",
    "all_reduce_sum",
    "barrier",
    "broadcast_from_main",
    "convert_sync_batchnorm",
    "lost_peers",
    "peer_failure",
    "restart_count",
    "setup",
    "teardown",
    "under_torchrun",
]


_CPU = torch.device("cpu")
DEFAULT_TIMEOUT_S = 300.0


class DistributedError(RuntimeError):
    """A process of the job was lost or did not answer in time (one line, naming it)."""


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world`` processes, on ``device``; ``peers`` holds
    ``(host, pid)`` of every rank, ``timeout_s`` bounds every wait on them."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = _CPU
    peers: tuple[tuple[str, int], ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """True on the process that writes files and prints."""
        return self.rank == 0


def under_torchrun() -> bool:
    """Whether this process was started by ``torchrun`` (torch.distributed.run)."""
    return "TORCHELASTIC_RUN_ID" in os.environ


def restart_count() -> int:
    """How often torchrun has restarted this job's workers (0: the first attempt)."""
    try:
        return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    except ValueError:
        return 0


def _store(rank: int, world: int, timeout: timedelta) -> dist.Store:
    """The rendezvous store of this attempt: torchrun's agent store (or, without torchrun, one
    hosted by rank 0) under a prefix naming the attempt. torchrun keeps one store across
    restarts, so without the prefix a restarted worker reads the addresses its predecessors
    published and fails (or hangs) connecting to processes that no longer exist."""
    try:
        addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    except (KeyError, ValueError):
        raise ValueError(
            f"WORLD_SIZE={world} but MASTER_ADDR / MASTER_PORT are not set: start the processes "
            "with torchrun (or set the rendezvous address)"
        ) from None
    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(
        addr, port, world, is_master=not agent and rank == 0, timeout=timeout, multi_tenant=True
    )
    run = os.environ.get("TORCHELASTIC_RUN_ID", "local")
    return dist.PrefixStore(f"odenets/{run}/attempt_{restart_count()}", store)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:160] if text else type(err).__name__


def setup(device: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> DistInfo:
    """Join the process group described by torchrun's environment (a single process without
    it). ``device``: ``"cpu"``, ``"cuda"`` or ``None`` (cuda when available). Joining and every
    later collective wait at most ``timeout_s`` seconds; a failed join is a
    :class:`DistributedError` saying where and how long it waited."""
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise ValueError("--device cuda requested but CUDA is not available")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device("cuda", local) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    peers: tuple[tuple[str, int], ...] = ()
    if world > 1:
        timeout = timedelta(seconds=timeout_s)
        try:
            if not dist.is_initialized():
                dist.init_process_group(
                    "nccl" if use_cuda else "gloo",
                    store=_store(rank, world, timeout),
                    rank=rank,
                    world_size=world,
                    timeout=timeout,
                )
            gathered: list = [None] * world
            dist.all_gather_object(gathered, (socket.gethostname(), os.getpid()))
            peers = tuple((str(h), int(p)) for h, p in gathered)
        except ValueError:
            raise
        except Exception as err:
            where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
            raise DistributedError(
                f"rank {rank} of {world} could not join the process group at {where} within "
                f"{timeout_s:g} s ({_first_line(err)}): a peer did not start, exited, or cannot "
                "reach the rendezvous; raise --dist-timeout if the processes start slowly"
            ) from None
    return DistInfo(rank, world, local, dev, peers, timeout_s)


def teardown(info: DistInfo, synchronize: bool = True) -> None:
    """Leave the process group joined by :func:`setup`.

    With ``synchronize`` (a run that finished normally) every process first waits for the
    others (bounded, see :func:`barrier`), so no process destroys its group while a peer still
    talks to it (with gloo that aborts the process at exit). After an error there is no
    barrier: the peers may be gone.
    """
    if info.distributed and dist.is_initialized():
        try:
            if synchronize:
                barrier(info)
        finally:
            dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait (at most ``info.timeout_s``) until every process arrives; on gloo a
    ``monitored_barrier``, whose error names the ranks that did not."""
    if not info.distributed:
        return
    if dist.get_backend() == "gloo":
        dist.monitored_barrier(timeout=timedelta(seconds=info.timeout_s), wait_all_ranks=True)
    else:
        dist.barrier()


def broadcast_from_main(values: list[int], info: DistInfo) -> list[int]:
    """Rank 0's ``values`` on every process (the values themselves for one process)."""
    if not info.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.long, device=info.device)
    dist.broadcast(t, src=0)
    return [int(v) for v in t.tolist()]


def lost_peers(info: DistInfo, wait_s: float = 0.0) -> list[int]:
    """Ranks on this host whose process is gone (polled for up to ``wait_s`` seconds: a peer
    whose connection just broke may still be exiting)."""
    host = socket.gethostname()
    deadline = time.monotonic() + wait_s
    while True:
        dead = [
            r
            for r, (h, pid) in enumerate(info.peers)
            if r != info.rank and h == host and not pid_alive(pid)
        ]
        if dead or time.monotonic() >= deadline:
            return dead
        time.sleep(0.05)


def _ranks(ranks: list[int]) -> str:
    return ("rank " if len(ranks) == 1 else "ranks ") + ", ".join(map(str, ranks))


_PEER_WORDS = ("connection", "peer", "gloo", "nccl", "socket", "broken pipe", "closed", "reset")


def peer_failure(err: BaseException, info: DistInfo, wait_s: float = 2.0) -> str | None:
    """One line saying which process ``err`` (raised by a collective) is about, or ``None``
    when it does not look like a lost or silent peer. A broken connection waits up to
    ``wait_s`` seconds for the peer's process to be seen gone."""
    if not info.distributed:
        return None
    text = _first_line(err).lower()
    timed_out = "timed out" in text or "timeout" in text
    dead = lost_peers(info, wait_s=0.0 if timed_out else wait_s)
    if dead:
        who = ", ".join(f"rank {r} (pid {info.peers[r][1]})" for r in dead)
        return f"lost {who} of {info.world} processes: its process is gone"
    others = [r for r in range(info.world) if r != info.rank]
    if timed_out:
        return (
            f"timed out after {info.timeout_s:g} s waiting for {_ranks(others)} of "
            f"{info.world} (still running: hung, stopped or overloaded; see --dist-timeout)"
        )
    if isinstance(err, dist.DistError) or any(w in text for w in _PEER_WORDS):
        if len(others) == 1:
            return f"lost the connection to rank {others[0]} of {info.world}"
        return f"lost the connection to another rank (one of {', '.join(map(str, others))})"
    return None


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
