"""Solving ``z = g(z)``: fixed-point and Anderson iteration, and the implicit-function gradient.

This module knows nothing about schemes; :mod:`odenets.numerics.steps.implicit` builds the map
``g`` of an implicit step (backward Euler: ``g(z) = y + h F(z)``) and calls :func:`implicit_solve`.

Forward, the iteration runs without autograd. The result is ``y = g(z*)`` evaluated once with
autograd, and an identity node in front of it replaces the incoming gradient ``u`` by the
solution ``w`` of the adjoint fixed point ``w = u + J^T w`` (``J = dg/dz`` at ``z*``), so
``dL/dtheta = (dg/dtheta)^T w`` — the implicit function theorem (as in deep equilibrium models,
Bai, Kolter & Koltun 2019). Memory is one evaluation of ``g``, whatever the iteration count.

Convergence is measured by the relative residual ``||g(z) - z|| / ||g(z)||`` over the whole
tensor. A solve that does not reach the tolerance raises :class:`ConvergenceError` (or warns
with :class:`ConvergenceWarning`), saying the residual and the iteration count.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import Tensor

from .._validate import check_choice, check_int, check_number

__all__ = [
    "ConvergenceError",
    "ConvergenceWarning",
    "SolveSettings",
    "SolveStats",
    "anderson_iterate",
    "default_tol",
    "implicit_solve",
    "relative_residual",
]

FAILURE_MODES = ("raise", "warn")


class ConvergenceError(RuntimeError):
    """An implicit solve did not reach its tolerance within its iteration budget."""


class ConvergenceWarning(RuntimeWarning):
    """Issued instead of :class:`ConvergenceError` when ``on_failure="warn"``."""


def default_tol(dtype: torch.dtype) -> float:
    """The tolerance used when none is given: ``1e-12`` in float64, ``1e-5`` otherwise (a
    few hundred ulps of float32, reachable despite rounding)."""
    return 1e-12 if dtype == torch.float64 else 1e-5


@dataclass(frozen=True)
class SolveSettings:
    """How to iterate ``z = g(z)``.

    Args:
        tol: relative residual to reach (``None``: :func:`default_tol` of the state's dtype).
        max_iter: evaluations of ``g`` allowed (forward and, separately, adjoint).
        anderson: Anderson acceleration memory ``m``; 0 is the plain iteration
            ``z <- g(z)``, which converges only when ``g`` is a contraction (``h Lip(F) < 1``).
        on_failure: ``"raise"`` a :class:`ConvergenceError` or ``"warn"`` and return the last
            iterate.
    """

    tol: float | None = None
    max_iter: int = 100
    anderson: int = 5
    on_failure: str = "raise"

    def __post_init__(self) -> None:
        if self.tol is not None:
            object.__setattr__(self, "tol", check_number("tol", self.tol, positive=True))
        check_int("max_iter", self.max_iter, 1)
        check_int("anderson", self.anderson, 0)
        check_choice("on_failure", self.on_failure, FAILURE_MODES)


@dataclass
class SolveStats:
    """What the last solve did: evaluations of ``g`` and the final relative residual."""

    iterations: int = 0
    residual: float = float("nan")
    adjoint_iterations: int = 0
    adjoint_residual: float = float("nan")


def relative_residual(gz: Tensor, z: Tensor) -> float:
    """``||g(z) - z|| / ||g(z)||`` (0 when they are equal, inf when not finite)."""
    diff = (gz - z).norm().item()
    if diff == 0.0:
        return 0.0
    if diff != diff or diff == float("inf"):
        return float("inf")
    return diff / max(gz.norm().item(), 1e-30)


def _anderson_update(xs: list[Tensor], gs: list[Tensor]) -> Tensor | None:
    """The Anderson (type II) extrapolation from the last iterates ``xs`` and ``gs = g(xs)``:
    ``z = g_k - dG gamma`` with ``gamma = argmin ||f_k - dF gamma||``, ``f = g - x``."""
    fs = [g - x for x, g in zip(xs, gs, strict=True)]
    d_f = torch.stack([b - a for a, b in pairwise(fs)], 1)
    d_g = torch.stack([b - a for a, b in pairwise(gs)], 1)
    # the (m x m) least-squares system is solved in float64; the long products stay native
    gram = (d_f.T @ d_f).double()
    ridge = 1e-10 * gram.diagonal().max().clamp_min(1e-300)
    eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    try:
        gamma = torch.linalg.solve(gram + ridge * eye, (d_f.T @ fs[-1]).double())
    except RuntimeError:  # singular despite the ridge: fall back to the plain step
        return None
    z = gs[-1] - d_g @ gamma.to(d_g.dtype)
    return z if torch.isfinite(z).all() else None


@torch.no_grad()
def anderson_iterate(
    g: Callable[[Tensor], Tensor], z0: Tensor, tol: float, max_iter: int, memory: int
) -> tuple[Tensor, Tensor, int, float]:
    """Iterate ``z = g(z)`` from ``z0`` (Anderson-accelerated when ``memory > 0``) until the
    relative residual is at most ``tol`` or ``max_iter`` evaluations are spent.

    Returns ``(z, g(z), evaluations, residual)``; the caller decides what failure means.
    """
    shape = z0.shape
    z = z0
    gz = g(z)
    res, count = relative_residual(gz, z), 1
    xs: list[Tensor] = []
    gs: list[Tensor] = []
    while res > tol and count < max_iter and res != float("inf"):
        step = gz
        if memory > 0:
            xs.append(z.reshape(-1))
            gs.append(gz.reshape(-1))
            del xs[: -(memory + 1)], gs[: -(memory + 1)]
            if len(xs) > 1:
                update = _anderson_update(xs, gs)
                if update is not None:
                    step = update.view(shape)
        z = step
        gz = g(z)
        res, count = relative_residual(gz, z), count + 1
    return z, gz, count, res


def _fail(what: str, res: float, count: int, tol: float, on_failure: str) -> None:
    message = (
        f"{what} did not converge: relative residual {res:.3g} > tol {tol:.3g} after "
        f"{count} iterations. A unique solution needs h*Lip(F) < 1 (see "
        "odenets.networks.contraction); try a smaller h, Anderson acceleration (anderson=5), "
        "a larger max_iter, or solver='series'/'picard'"
    )
    if on_failure == "warn":
        warnings.warn(message, ConvergenceWarning, stacklevel=4)
    else:
        raise ConvergenceError(message)


class _AdjointIdentity(torch.autograd.Function):
    """Identity forward; backward solves ``w = u + J^T w`` with ``J = dg/dz`` at ``z*``."""

    @staticmethod
    def forward(ctx, out, z, settings, tol, stats):
        ctx.save_for_backward(out, z)
        ctx.settings, ctx.tol, ctx.stats = settings, tol, stats
        return out.view_as(out)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, u):
        out, z = ctx.saved_tensors
        settings = ctx.settings

        def adjoint(w: Tensor) -> Tensor:
            (jt_w,) = torch.autograd.grad(out, z, w, retain_graph=True)
            return u + jt_w

        _, w, count, res = anderson_iterate(
            adjoint, u, ctx.tol, settings.max_iter, settings.anderson
        )
        if ctx.stats is not None:
            ctx.stats.adjoint_iterations, ctx.stats.adjoint_residual = count, res
        if res > ctx.tol:
            _fail(
                "the adjoint (backward) solve of an implicit step",
                res,
                count,
                ctx.tol,
                settings.on_failure,
            )
        return w, None, None, None, None


def implicit_solve(
    g: Callable[[Tensor], Tensor],
    z0: Tensor,
    settings: SolveSettings | None = None,
    stats: SolveStats | None = None,
) -> Tensor:
    """Solve ``z = g(z)`` from ``z0`` and return ``g(z*)``, differentiable by the IFT.

    Args:
        g: the map whose fixed point is wanted; may close over tensors that need gradients
            (the state, parameters of ``F``, a learned ``h``).
        z0: the initial guess.
        settings: tolerance, budget, acceleration and failure mode.
        stats: if given, filled with the iteration counts and residuals (forward now, adjoint
            after ``backward``).

    Returns:
        ``g(z*)`` (one more contraction step past the accepted iterate). Gradients flow to
        everything ``g`` closes over; double backward is not supported.
    """
    settings = settings or SolveSettings()
    tol = settings.tol if settings.tol is not None else default_tol(z0.dtype)
    z, gz, count, res = anderson_iterate(g, z0.detach(), tol, settings.max_iter, settings.anderson)
    if stats is not None:
        stats.iterations, stats.residual = count, res
    if res > tol:
        _fail("implicit step", res, count, tol, settings.on_failure)
    if not torch.is_grad_enabled():
        return gz
    z = z.detach()
    if not z0.requires_grad:  # the state needs no gradient: does anything else g closes over?
        with torch.enable_grad():
            probe = g(z)
        if not probe.requires_grad:  # no: return a plain tensor, no adjoint machinery
            return probe
        del probe
    z.requires_grad_(True)
    with torch.enable_grad():
        out = g(z)
    return _AdjointIdentity.apply(out, z, settings, tol, stats)
