"""The fixed-grid walk shared by ``odeint`` and ``sdeint``: checked inputs, grid refinement,
the checked vector field, tuple states, and the loop itself.

Everything that does not depend on the data is done once per call, before the loop: the grid
is checked on the host from one copy of its values, step sizes become plain Python numbers
(fused ``torch.add(..., alpha=h)`` updates), the times are unbound into 0-dim tensors in one
call. Per step there is the stepper call and, per field evaluation, one type/shape/dtype check
of the field's output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "Grid",
    "TupleState",
    "check_grid",
    "check_state",
    "check_step_size",
    "checked_field",
    "checked_rate",
    "refine",
    "walk",
]


def check_state(y0: Any, name: str = "y0") -> Tensor:
    """``y0`` must be a real floating-point tensor."""
    if not isinstance(y0, Tensor):
        hint = ""
        if isinstance(y0, list) and y0 and all(isinstance(y, Tensor) for y in y0):
            hint = "; odeint takes several tensors as a tuple state: pass tuple(y0)"
        raise TypeError(f"{name} must be a torch.Tensor, got {type(y0).__name__}{hint}")
    if not y0.is_floating_point():
        raise TypeError(
            f"{name} must have a real floating dtype (float16/bfloat16/float32/float64), got "
            f"{y0.dtype}"
        )
    return y0


@dataclass(frozen=True)
class Grid:
    """A checked time grid: the tensor (on the state's device, autograd kept) and its values as
    Python floats (read from the device once)."""

    times: Tensor
    values: tuple[float, ...]

    @property
    def steps(self) -> int:
        return len(self.values) - 1

    def steps_in_precision(self) -> list[float]:
        """The steps ``t_{n+1} - t_n`` as Python numbers, rounded as the grid's dtype rounds
        them (float64 and float32 on the host, exactly; other dtypes on the device)."""
        v, dtype = self.values, self.times.dtype
        if dtype == torch.float64:
            return [b - a for a, b in pairwise(v)]
        if dtype == torch.float32:
            w = np.asarray(v, dtype=np.float32)
            return (w[1:] - w[:-1]).tolist()
        return (self.times[1:] - self.times[:-1]).tolist()

    def uniform(self, rtol: float = 1e-6) -> bool:
        """Whether all intervals are equal to ``rtol`` (relative to the first)."""
        v = self.values
        if len(v) < 3:
            return True
        h0 = v[1] - v[0]
        return all(abs((b - a) - h0) <= rtol * abs(h0) for a, b in pairwise(v[1:]))


def check_grid(t: Any, like: Tensor, *, increasing: bool = False) -> Grid:
    """``t`` must be a 1-D, strictly monotone grid of at least one finite time.

    Tensors keep their floating dtype (integers take ``like``'s); sequences and NumPy arrays
    become tensors of ``like``'s dtype. The result lives on ``like``'s device. With
    ``increasing=True`` a decreasing grid is refused (an Itô SDE runs forward in time).
    """
    if isinstance(t, Tensor):
        if t.is_complex() or t.dtype == torch.bool:
            raise TypeError(f"t must hold real times, got dtype {t.dtype}")
        grid = t if t.is_floating_point() else t.to(like.dtype)
    elif isinstance(t, str | bytes) or not (isinstance(t, Sequence) or hasattr(t, "__array__")):
        raise TypeError(
            f"t must be a 1-D tensor or sequence of times, got {type(t).__name__} {t!r}"[:200]
        )
    else:
        try:
            grid = torch.as_tensor(t, dtype=like.dtype)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"t must be a 1-D sequence of numbers, got {t!r}"[:200]) from err
    if grid.ndim != 1:
        raise ValueError(f"t must be 1-D, got shape {tuple(grid.shape)}")
    if grid.numel() == 0:
        raise ValueError("t must contain at least one time, got an empty grid")
    values = tuple(grid.detach().double().cpu().tolist())  # one device -> host copy
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"t must be finite, got {_shown(values)}")
    diffs = [b - a for a, b in pairwise(values)]
    if diffs and not (all(d > 0 for d in diffs) or all(d < 0 for d in diffs)):
        raise ValueError(
            f"t must be strictly increasing or strictly decreasing, got {_shown(values)}"
        )
    if increasing and diffs and diffs[0] < 0:
        raise ValueError(
            f"sdeint needs an increasing grid (an Itô SDE is integrated forward in time), "
            f"got {_shown(values)}"
        )
    return Grid(grid.to(like.device), values)


def _shown(values: Sequence[float]) -> str:
    return str(list(values)) if len(values) <= 12 else f"a grid of {len(values)} times"


def check_step_size(step_size: Any, name: str = "step_size") -> float:
    """A positive finite step bound (a number or a 0-dim tensor)."""
    if isinstance(step_size, Tensor) and step_size.numel() == 1 and not step_size.is_complex():
        step_size = step_size.item()
    if isinstance(step_size, bool) or not isinstance(step_size, int | float):
        raise TypeError(f"{name} must be a positive number, got {type(step_size).__name__}")
    if not (math.isfinite(step_size) and step_size > 0):
        raise ValueError(f"{name} must be a positive finite number, got {step_size}")
    return float(step_size)


def refine(grid: Grid, step_size: float | None) -> tuple[Grid, list[bool] | None]:
    """Split every interval of ``grid`` into ``ceil(|dt| / step_size)`` equal steps.

    The fine grid contains every point of ``grid`` exactly (the steps land on the output
    times; nothing is interpolated). A ratio within 1e-9 of an integer counts as that integer,
    so ``dt = 0.1, step_size = 0.05`` gives two steps despite rounding. Returns the fine grid
    and, per fine step, whether its end point is an output time (``None`` without refinement).
    """
    if step_size is None or grid.steps == 0:
        return grid, None
    v = grid.values
    counts = [max(1, math.ceil(abs(b - a) / step_size - 1e-9)) for a, b in pairwise(v)]
    if all(c == 1 for c in counts):
        return grid, None
    times = grid.times
    m = torch.tensor(counts, device=times.device)
    interval = torch.repeat_interleave(torch.arange(len(counts), device=times.device), m)
    first = torch.cumsum(m, 0) - m  # index of each interval's first fine step
    k = torch.arange(len(interval), device=times.device) - first[interval]
    frac = (k.double() / m[interval].double()).to(times.dtype)  # j / m_n, exact at j = 0
    start, end = times[interval], times[interval + 1]
    fine = torch.cat([start + frac * (end - start), times[-1:]])
    keep = [j == c - 1 for c in counts for j in range(c)]
    return Grid(fine, tuple(fine.detach().double().cpu().tolist())), keep


def _bad_rate(name: str, out: Any, shape: torch.Size, dtype: torch.dtype, why: str) -> Exception:
    if not isinstance(out, Tensor):
        return TypeError(f"{name}(t, y) must return a torch.Tensor, got {type(out).__name__}")
    if out.shape != shape:
        return ValueError(
            f"{name}(t, y) must return a tensor of the shape of y{why}, expected "
            f"{tuple(shape)}, got {tuple(out.shape)}"
        )
    return TypeError(
        f"{name}(t, y) must return y's dtype {dtype}, got {out.dtype}: the integrators do not "
        f"promote silently; cast inside {name} (e.g. .to(y.dtype)) or start from a y0 of "
        f"dtype {out.dtype}"
    )


def checked_field(
    fn: Callable, name: str, shape: torch.Size, dtype: torch.dtype, why: str = ""
) -> Callable[[int, Any, Tensor], Tensor]:
    """The stage field ``field(slot, t, y) = fn(t, y)`` of an integrator (the slot is ignored),
    checking on every call that the result is a tensor of ``shape`` and ``dtype`` (``why`` is
    added to the shape error, e.g. ``" (diagonal noise)"``)."""

    def field(slot: int, t: Any, y: Tensor) -> Tensor:
        out = fn(t, y)
        if not isinstance(out, Tensor) or out.shape != shape or out.dtype != dtype:
            raise _bad_rate(name, out, shape, dtype, why)
        return out

    return field


def checked_rate(
    fn: Callable, name: str, shape: torch.Size, why: str = "", dtype: torch.dtype | None = None
) -> Callable[[Any, Tensor], Tensor]:
    """``rate(t, y) = fn(t, y)``, checked like :func:`checked_field` (``dtype=None``: any)."""

    def rate(t: Any, y: Tensor) -> Tensor:
        out = fn(t, y)
        if not isinstance(out, Tensor) or out.shape != shape:
            raise _bad_rate(name, out, shape, dtype, why)
        if dtype is not None and out.dtype != dtype:
            raise _bad_rate(name, out, shape, dtype, why)
        return out

    return rate


def walk(
    stepper: Callable,
    field: Callable,
    y0: Tensor,
    grid: Grid,
    states: Any = None,
    keep: Sequence[bool] | None = None,
) -> Tensor:
    """One step of ``stepper`` per interval of ``grid`` from ``y0``; returns ``y0`` and the
    point after every step (only the steps whose ``keep`` entry is true, when given).

    The step state is threaded from step to step, or, when ``states`` is given, step ``n``
    gets ``states[n]`` (an SDE step's Brownian increment). Step sizes are plain numbers
    (fused updates) unless the grid needs gradients.
    """
    times = grid.times
    if times.requires_grad:  # differentiable times and steps
        hs: Sequence[Any] = (times[1:] - times[:-1]).unbind(0)
        ts: Sequence[Tensor] = times.unbind(0)
    else:  # plain-number steps (fused updates); the times as 0-dim views, made in one call
        hs = grid.steps_in_precision()
        with torch.no_grad():
            ts = times.unbind(0)
    ys = [y0]
    y, state = y0, None
    if states is None and keep is None:
        for t, h in zip(ts, hs, strict=False):
            y, state = stepper(field, t, y, h, state)
            ys.append(y)
    else:
        for n, (t, h) in enumerate(zip(ts, hs, strict=False)):
            y, state = stepper(field, t, y, h, state if states is None else states[n])
            if keep is None or keep[n]:
                ys.append(y)
    return torch.stack(ys)


class TupleState:
    """A tuple of tensors integrated as one flat vector (as torchdiffeq does): ``flatten``,
    the flat field of a tuple field, and the tuple of trajectories of a flat one."""

    def __init__(self, y0: tuple, name: str = "y0") -> None:
        if len(y0) == 0:
            raise ValueError(f"{name} must be a tensor or a non-empty tuple of tensors, got ()")
        for i, y in enumerate(y0):
            check_state(y, f"{name}[{i}]")
        dtypes = {y.dtype for y in y0}
        devices = {y.device for y in y0}
        if len(dtypes) > 1 or len(devices) > 1:
            raise TypeError(
                f"the tensors of a tuple state must share one dtype and device, got dtypes "
                f"{[y.dtype for y in y0]} and devices {[str(y.device) for y in y0]}"
            )
        self.shapes = tuple(y.shape for y in y0)
        self.sizes = tuple(y.numel() for y in y0)
        self.dtype = y0[0].dtype

    def flatten(self, ys: Sequence[Tensor]) -> Tensor:
        return torch.cat([y.reshape(-1) for y in ys])

    def unflatten(self, flat: Tensor, lead: tuple[int, ...] = ()) -> tuple[Tensor, ...]:
        parts = flat.split(self.sizes, dim=-1)
        return tuple(p.reshape(*lead, *s) for p, s in zip(parts, self.shapes, strict=True))

    def field(self, fn: Callable, name: str = "f") -> Callable[[Any, Tensor], Tensor]:
        """The flat rate of a tuple field ``fn(t, (y_1, ...)) -> (dy_1, ...)``, checked."""
        shapes, n = self.shapes, len(self.shapes)
        dtype = self.dtype

        def rate(t: Any, y: Tensor) -> Tensor:
            out = fn(t, self.unflatten(y))
            if not isinstance(out, tuple | list) or len(out) != n:
                got = (
                    f"{type(out).__name__} of length {len(out)}"
                    if isinstance(out, tuple | list)
                    else type(out).__name__
                )
                raise TypeError(
                    f"{name}(t, y) with a tuple state of {n} tensors must return a tuple of "
                    f"{n} tensors, got {got}"
                )
            for i, (o, s) in enumerate(zip(out, shapes, strict=True)):
                if not isinstance(o, Tensor) or o.shape != s or o.dtype != dtype:
                    raise _bad_rate(f"{name}[{i}]", o, s, dtype, "")
            return self.flatten(out)

        return rate
