"""Fixed-grid integration with any registered scheme, and a torchdiffeq bridge.

``odeint(f, y0, t, scheme)`` walks the grid ``t`` calling :func:`odenets.numerics.steps.prepare`'s
stepper once per interval — the same arithmetic a :class:`~odenets.SchemeBlock` runs. With
``backend="torchdiffeq"`` the call is handed to torchdiffeq (adaptive methods such as
``dopri5``; ``adjoint=True`` for the O(1)-memory adjoint of Chen et al. 2018).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from .._validate import check_choice
from .schemes import Scheme, get_scheme
from .steps import prepare

__all__ = ["odeint"]

BACKENDS = ("odenets", "torchdiffeq")


def check_state(y0: Any, name: str = "y0") -> Tensor:
    """``y0`` must be a floating-point tensor."""
    if not isinstance(y0, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(y0).__name__}")
    if not y0.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype (float32/float64), got {y0.dtype}")
    return y0


def check_grid(t: Any, like: Tensor) -> Tensor:
    """``t`` must be a 1-D, strictly monotone grid of at least one time; returned as a tensor
    on ``like``'s device (floating dtype kept, integers promoted to ``like``'s dtype)."""
    if isinstance(t, Tensor):
        grid = t if t.is_floating_point() else t.to(like.dtype)
    elif isinstance(t, Sequence) and not isinstance(t, str):
        try:
            grid = torch.as_tensor(t, dtype=like.dtype)
        except (TypeError, ValueError) as err:
            raise TypeError(f"t must be a 1-D sequence of numbers, got {t!r}") from err
    else:
        raise TypeError(f"t must be a 1-D tensor or sequence of times, got {type(t).__name__}")
    if grid.ndim != 1:
        raise ValueError(f"t must be 1-D, got shape {tuple(grid.shape)}")
    if grid.numel() == 0:
        raise ValueError("t must contain at least one time, got an empty grid")
    if not torch.isfinite(grid).all():
        raise ValueError(f"t must be finite, got {grid.tolist()}")
    if grid.numel() > 1:
        diffs = grid[1:] - grid[:-1]
        if not ((diffs > 0).all() or (diffs < 0).all()):
            shown = (
                grid.tolist() if grid.numel() <= 12 else "a grid with repeated or reversed times"
            )
            raise ValueError(f"t must be strictly increasing or strictly decreasing, got {shown}")
    return grid.to(like.device)


def checked_rate(fn: Callable, name: str, shape: torch.Size, why: str = "") -> Callable:
    """Wrap a user function ``name(t, y)`` so it must return a tensor of ``y``'s shape
    (``why`` is added to the error, e.g. ``" (diagonal noise)"``)."""

    def call(t: Any, y: Tensor) -> Tensor:
        out = fn(t, y)
        if not isinstance(out, Tensor):
            raise TypeError(f"{name}(t, y) must return a torch.Tensor, got {type(out).__name__}")
        if out.shape != shape:
            raise ValueError(
                f"{name}(t, y) must return a tensor of the shape of y{why}, expected "
                f"{tuple(shape)}, got {tuple(out.shape)}"
            )
        return out

    return call


def walk(
    stepper: Callable, field: Callable, y0: Tensor, grid: Tensor, states: Any = None
) -> Tensor:
    """One step of ``stepper`` per interval of ``grid`` from ``y0``; returns every point.

    The step state is threaded from step to step, or, when ``states`` is given, step ``n``
    gets ``states[n]`` (an SDE's Brownian increment). Step sizes are plain numbers (fused
    updates) unless the grid needs gradients.
    """
    hs = (grid[1:] - grid[:-1]) if grid.requires_grad else (grid[1:] - grid[:-1]).tolist()
    ys = [y0]
    y, state = y0, None
    for n, h in enumerate(hs):
        y, state = stepper(field, grid[n], y, h, state if states is None else states[n])
        ys.append(y)
    return torch.stack(ys)


def _uniform(grid: Tensor) -> bool:
    if grid.numel() < 3:
        return True
    d = (grid[1:] - grid[:-1]).double()
    return bool(torch.allclose(d, d[0].expand_as(d), rtol=1e-6, atol=0.0))


def odeint(
    f: Callable[[Tensor, Tensor], Tensor],
    y0: Tensor,
    t: Tensor | Sequence[float],
    scheme: str | Scheme = "rk4",
    *,
    coefficients: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    backend: str = "odenets",
    adjoint: bool = False,
    rtol: float = 1e-7,
    atol: float = 1e-9,
) -> Tensor:
    """Integrate ``dy/dt = f(t, y)`` from ``y(t[0]) = y0`` and return ``y`` at every time in ``t``.

    Args:
        f: the vector field ``f(t, y)``; ``t`` is passed as a 0-dim tensor and the result must
            have ``y``'s shape. Any tensor shape works (batch dimensions included).
        y0: the initial state, a floating tensor of any shape.
        t: the fixed grid, 1-D and strictly monotone (increasing or decreasing). With the
            odenets backend each interval is one step; multistep schemes need a uniform grid.
        scheme: a registered scheme id (see :func:`odenets.list_schemes`) for the odenets
            backend, or a torchdiffeq method name (``"dopri5"``, ...) for ``backend="torchdiffeq"``.
        coefficients: values of the scheme's coefficients (``{"k": 1.0}`` for ``lm``; see
            :attr:`Scheme.coefficients`); defaults otherwise.
        options: the scheme's step options (``{"solver": "picard"}`` for an implicit scheme;
            see :attr:`Scheme.options`), or torchdiffeq's ``options`` dict with
            ``backend="torchdiffeq"``.
        backend: ``"odenets"`` (fixed grid, the library's own steps) or ``"torchdiffeq"``.
        adjoint: with torchdiffeq, use ``odeint_adjoint`` (``f`` must be an ``nn.Module``).
        rtol, atol: tolerances of torchdiffeq's adaptive methods (ignored by fixed grids).

    Returns:
        A tensor of shape ``(len(t), *y0.shape)`` with ``out[0] == y0``. Autograd flows through
        every step (discretise-then-optimise).
    """
    if not callable(f):
        raise TypeError(f"f must be callable as f(t, y), got {type(f).__name__}")
    y0 = check_state(y0)
    grid = check_grid(t, y0)
    check_choice("backend", backend, BACKENDS)
    if backend == "torchdiffeq":
        if coefficients is not None:
            raise TypeError("coefficients= are odenets scheme settings; torchdiffeq takes options=")
        return _torchdiffeq(f, y0, grid, scheme, options, adjoint, rtol, atol)
    if adjoint:
        raise ValueError(
            "adjoint=True needs backend='torchdiffeq'; the odenets backend differentiates "
            "through its steps with ordinary autograd"
        )
    spec = get_scheme(scheme)
    stepper = prepare(spec, coefficients, options)
    if spec.capabilities.history and not _uniform(grid):
        raise ValueError(
            f"scheme {spec.name!r} threads state from step to step (family {spec.family!r}) and "
            "needs a uniform grid (its coefficients assume a constant step), got non-uniform "
            "spacing"
        )
    rate = checked_rate(f, "f", y0.shape, " (dy/dt)")
    return walk(stepper, lambda stage, t, y: rate(t, y), y0, grid)


def _torchdiffeq(f, y0, grid, method, options, adjoint, rtol, atol) -> Tensor:
    import torchdiffeq
    from torchdiffeq._impl.odeint import SOLVERS

    if isinstance(method, Scheme):
        method = method.name
    check_choice("torchdiffeq method", method, SOLVERS)
    options = dict(options or {})
    if adjoint:
        if not isinstance(f, torch.nn.Module):
            raise TypeError(
                f"adjoint=True needs f to be a torch.nn.Module (its parameters get adjoint "
                f"gradients), got {type(f).__name__}"
            )
        return torchdiffeq.odeint_adjoint(
            f, y0, grid, rtol=rtol, atol=atol, method=method, options=options
        )
    return torchdiffeq.odeint(f, y0, grid, rtol=rtol, atol=atol, method=method, options=options)
