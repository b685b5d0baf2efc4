"""Fixed-grid integration with any registered scheme, callable the way torchdiffeq is.

``odeint(f, y0, t, scheme)`` walks the grid ``t`` calling :func:`odenets.numerics.steps.prepare`'s
stepper once per interval — the same arithmetic a :class:`~odenets.SchemeBlock` runs.
torchdiffeq's call works too: ``odeint(func, y0, t, method="rk4", options=dict(step_size=h),
rtol=, atol=)`` with tuple states; torchdiffeq's fixed-grid methods run on the odenets step of the
same arithmetic, the others (``dopri5``, ...) on torchdiffeq (see :mod:`.compat` and
docs/integrators.md). ``adjoint=True`` hands over to torchdiffeq's ``odeint_adjoint``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from .._validate import check_choice
from .compat import route_ode
from .schemes import Scheme, get_scheme, list_schemes
from .steps import prepare
from .trajectory import (
    TupleState,
    check_grid,
    check_state,
    check_step_size,
    checked_field,
    refine,
    walk,
)

__all__ = ["odeint"]

BACKENDS = ("odenets", "torchdiffeq")


def _check_tolerance(name: str, value: Any) -> None:
    if isinstance(value, Tensor):
        if value.is_complex() or not bool((value >= 0).all()):
            raise ValueError(f"{name} must be non-negative, got {value}")
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a non-negative number or tensor, got {value!r}")
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be a non-negative finite number, got {value}")


def _split_options(options: Any) -> tuple[float | None, dict]:
    """``options`` without ``step_size`` (the grid option of every scheme), and its value."""
    if options is None:
        return None, {}
    if not isinstance(options, Mapping):
        raise TypeError(f"options must be a dict, got {type(options).__name__} {options!r}")
    options = dict(options)
    step = options.pop("step_size", None)
    return (None if step is None else check_step_size(step, "options['step_size']")), options


def odeint(
    f: Callable[[Tensor, Any], Any],
    y0: Tensor | tuple[Tensor, ...],
    t: Tensor | Sequence[float],
    scheme: str | Scheme | None = None,
    *,
    method: str | None = None,
    coefficients: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    backend: str | None = None,
    adjoint: bool = False,
    rtol: float | Tensor = 1e-7,
    atol: float | Tensor = 1e-9,
) -> Tensor | tuple[Tensor, ...]:
    """Integrate ``dy/dt = f(t, y)`` from ``y(t[0]) = y0`` and return ``y`` at every time in ``t``.

    Args:
        f: the vector field ``f(t, y)``; ``t`` is passed as a 0-dim tensor and the result must
            have ``y``'s shape and dtype (no silent promotion). Any tensor shape works (batch
            dimensions included). For a tuple state, ``f`` takes and returns tuples.
        y0: the initial state: a floating tensor of any shape, or a tuple of them (one dtype
            and device), integrated as one flat vector as in torchdiffeq.
        t: the output grid, 1-D and strictly monotone (increasing or decreasing). Each
            interval is one step unless ``options["step_size"]`` subdivides it; multistep
            schemes need a uniform (walked) grid.
        scheme: a registered odenets scheme id (:func:`odenets.list_schemes`); default
            ``"rk4"`` (classical). With ``backend="torchdiffeq"``, the torchdiffeq solver of
            the same arithmetic, or a torchdiffeq-only name such as ``"dopri5"`` (default
            there: torchdiffeq's own, ``"dopri5"``).
        method: torchdiffeq's name instead (exclusive with ``scheme``), meaning what it means
            in torchdiffeq: ``"euler"``, ``"midpoint"``, ``"rk4"`` (the 3/8 rule: odenets
            ``"rk38"``), ``"heun2"`` (``"heun"``), ``"heun3"`` run on odenets; every other
            torchdiffeq method (``"dopri5"``, ``"bosh3"``, Adams, ...) runs on torchdiffeq.
        coefficients: values of the scheme's coefficients (``{"k": 1.0}`` for ``lm``).
        options: ``{"step_size": h}`` splits every interval of ``t`` into
            ``ceil(|dt| / h)`` equal steps that land exactly on the output times; the other
            keys are the scheme's step options (``{"solver": "picard"}`` for an implicit
            scheme), or torchdiffeq's options when it runs there.
        backend: ``None`` (decide from the name, above), ``"odenets"`` or ``"torchdiffeq"``.
        adjoint: run torchdiffeq's ``odeint_adjoint`` (``f`` must be an ``nn.Module``).
        rtol, atol: tolerances of torchdiffeq's adaptive methods (ignored by fixed grids).

    Returns:
        A tensor of shape ``(len(t), *y0.shape)`` with ``out[0] == y0`` (a tuple of such
        tensors for a tuple state). Autograd flows through every step
        (discretise-then-optimise).
    """
    if not callable(f):
        raise TypeError(f"f must be callable as f(t, y), got {type(f).__name__}")
    if backend is not None:
        check_choice("backend", backend, BACKENDS)
    if not isinstance(adjoint, bool):
        raise TypeError(f"adjoint must be True or False, got {adjoint!r}")
    _check_tolerance("rtol", rtol)
    _check_tolerance("atol", atol)
    tuple_state = TupleState(y0) if isinstance(y0, tuple) else None
    like = check_state(y0[0] if tuple_state else y0)
    grid = check_grid(t, like)
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"options must be a dict, got {type(options).__name__} {options!r}")
    route = route_ode(scheme, method, backend, dict(options or {}), list_schemes())
    if adjoint and route.backend != "torchdiffeq":
        raise ValueError(
            "adjoint=True needs backend='torchdiffeq' (or a torchdiffeq method= that runs "
            "there); the odenets backend differentiates through its steps with ordinary autograd"
        )
    if route.backend == "torchdiffeq":
        if coefficients is not None:
            raise TypeError("coefficients= are odenets scheme settings; torchdiffeq takes options=")
        return _torchdiffeq(f, y0, grid.times, route.name, options, adjoint, rtol, atol)
    step_size, scheme_options = _split_options(options)
    spec = get_scheme(route.name)
    stepper = prepare(spec, coefficients, scheme_options or None)
    walked, keep = refine(grid, step_size)
    if spec.capabilities.history and not walked.uniform():
        raise ValueError(
            f"scheme {spec.name!r} threads state from step to step (family {spec.family!r}) and "
            "needs a uniform grid (its coefficients assume a constant step), got non-uniform "
            f"spacing{' after step_size refinement' if keep is not None else ''}"
        )
    if tuple_state is None:
        field = checked_field(f, "f", like.shape, like.dtype, " (dy/dt)")
        return walk(stepper, field, like, walked, keep=keep)
    flat = tuple_state.flatten(y0)
    field = checked_field(tuple_state.field(f), "f", flat.shape, flat.dtype)
    out = walk(stepper, field, flat, walked, keep=keep)
    return tuple_state.unflatten(out, (out.shape[0],))


def _torchdiffeq(f, y0, times, method, options, adjoint, rtol, atol):
    import torchdiffeq
    from torchdiffeq._impl.odeint import SOLVERS

    check_choice("torchdiffeq method", method, SOLVERS)
    options = dict(options or {})
    if adjoint:
        if not isinstance(f, torch.nn.Module):
            raise TypeError(
                f"adjoint=True needs f to be a torch.nn.Module (its parameters get adjoint "
                f"gradients), got {type(f).__name__}"
            )
        return torchdiffeq.odeint_adjoint(
            f, y0, times, rtol=rtol, atol=atol, method=method, options=options
        )
    return torchdiffeq.odeint(f, y0, times, rtol=rtol, atol=atol, method=method, options=options)
