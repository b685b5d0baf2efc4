"""The compiled training step of ``odenets train --compile``: ``torch.compile`` with the
dynamo settings odenets nets need, and a fallback to eager (one warning line) when compiling
fails, with whatever the failed call changed undone."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["CompiledStep", "compile_settings"]


@contextlib.contextmanager
def compile_settings() -> Iterator[None]:
    """The dynamo settings odenets nets are compiled with (docs/benchmarks.md): the reversible
    backward (its ``torch.autograd.grad``) traced into the graph, and the backward compiled at
    the first call together with the forward. The benchmarks measure under them too."""
    import torch._dynamo
    import torch._functorch.config

    with (
        torch._dynamo.config.patch(trace_autograd_ops=True),
        torch._functorch.config.patch(force_non_lazy_backward_lowering=True),
    ):
        yield


class CompiledStep:
    """``torch.compile(module)``, or ``module`` itself once compiling has failed.

    ``net`` is the network inside ``module`` (``module`` may be its DDP wrapper); ``warn``
    prints one line. Compilation is lazy, so a failure shows at the first call: that call
    restores what it may have changed (``net``'s buffers, its noise generator), warns in one
    line and runs eagerly, and so does every later call. Calls run with the dynamo settings
    odenets nets need (docs/benchmarks.md): the reversible backward traced into the graph
    (``trace_autograd_ops``) and the backward compiled with the forward, so that its failure
    shows at the first call as well.
    """

    def __init__(self, module: nn.Module, net: nn.Module, warn: Callable[[str], None]) -> None:
        self.module, self.net, self.warn = module, net, warn
        self.ok: bool | None = None  # None: not called yet
        try:
            self.compiled = torch.compile(module)
        except Exception as err:  # e.g. an unsupported Python version
            self._fail(err)

    def __call__(self, x: Tensor) -> Tensor:
        if self.ok is False:
            return self.module(x)
        with compile_settings():
            if self.ok:
                return self.compiled(x)
            saved = _snapshot(self.net)
            try:
                out = self.compiled(x)
            except Exception as err:  # any compiler failure: train eagerly
                _restore(self.net, saved)
                self._fail(err)
                return self.module(x)
        self.ok = True
        return out

    def _fail(self, err: Exception) -> None:
        self.ok = False
        reason = (str(err).strip().splitlines() or [""])[0][:200]
        self.warn(
            f"warning: torch.compile failed ({type(err).__name__}: {reason}); "
            "training without --compile"
        )


def _snapshot(net: nn.Module) -> tuple[list, Any]:
    buffers = [(b, b.detach().clone()) for b in net.buffers()]
    source = getattr(net, "noise_source", None)
    return buffers, None if source is None else source.generator.get_state()


def _restore(net: nn.Module, saved: tuple[list, Any]) -> None:
    buffers, rng = saved
    with torch.no_grad():
        for buf, value in buffers:
            buf.copy_(value)
    if rng is not None:
        net.noise_source.generator.set_state(rng)
