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

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
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
    """The tolerance used when none is given: ``4 eps^0.8`` with ``eps = finfo(dtype).eps``.

    The power law runs through the float32 and float64 defaults of odenets 0.1 (1.2e-5 ~ 100
    ulps, 1.2e-12) and leaves about 10-16 ulps in half precision (float16: 1.6e-2, bfloat16:
    8.2e-2), where the relative residual cannot fall much below eps: ``g(z)`` itself is
    rounded to the dtype (measured floors on ``y' = -y``: ~0.3 eps in float16, ~0.7 eps in
    bfloat16). A fixed multiple of eps would be unreachable in half precision or needlessly
    loose in float64.
    """
    return 4.0 * torch.finfo(dtype).eps ** 0.8


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
    """``||g(z) - z|| / ||g(z)||`` (0 when they are equal, inf when not finite); one host sync."""
    work = _work_dtype(gz.dtype)
    diff, size = torch.stack([(gz - z).to(work).norm(), gz.to(work).norm()]).tolist()
    return _ratio(diff, size)


def _ratio(diff: float, size: float) -> float:
    if diff == 0.0:
        return 0.0
    if not math.isfinite(diff) or not math.isfinite(size):
        return math.inf
    return diff / max(size, 1e-30)


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    """Half-precision iterations keep their history and inner products in float32."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


class _History:
    """The last ``m`` differences of Anderson's residuals ``f = g(x) - x`` and of the ``g``
    values, as rows of two preallocated ``(m, n)`` buffers (a ring), with their Gram matrix
    ``dF dF^T`` kept on the host (NumPy, float64) and updated by one row per iteration."""

    def __init__(self, m: int, n: int, dtype: torch.dtype, device: torch.device) -> None:
        self.d_f = torch.empty(m, n, dtype=dtype, device=device)
        self.d_g = torch.empty(m, n, dtype=dtype, device=device)
        self.gram = np.zeros((m, m))
        self.rhs = np.zeros(m)
        self.m, self.k, self.head = m, 0, 0

    def push(self, df: Tensor, dg: Tensor, f: Tensor) -> Tensor:
        """Store one pair of differences; returns the device products ``[dF df, dF f]``
        over the stored rows, to be read back with :meth:`update`."""
        row = self.head
        self.d_f[row].copy_(df)
        self.d_g[row].copy_(dg)
        self.head = (row + 1) % self.m
        self.k = min(self.k + 1, self.m)
        self.row = row
        return (self.d_f[: self.k] @ torch.stack([self.d_f[row], f], 1)).T.reshape(-1)

    def update(self, values: Sequence[float]) -> None:
        """Enter the products read back from :meth:`push` (``2 k`` numbers)."""
        k, row = self.k, self.row
        self.gram[row, :k] = self.gram[:k, row] = values[:k]
        self.rhs[:k] = values[k : 2 * k]

    def extrapolate(self, gx: Tensor) -> Tensor | None:
        """Anderson type II: ``g_k - dG^T gamma`` with ``gamma = argmin ||f_k - dF^T gamma||``
        (normal equations with a 1e-10 relative ridge, solved on the host in float64);
        ``None`` when the system is singular or not finite (the caller takes the plain step)."""
        k = self.k
        gram = self.gram[:k, :k]
        ridge = 1e-10 * max(float(gram.diagonal().max()), 1e-300)
        try:
            gamma = np.linalg.solve(gram + ridge * np.eye(k), self.rhs[:k])
        except np.linalg.LinAlgError:
            return None
        if not np.isfinite(gamma).all():
            return None
        gamma = torch.from_numpy(gamma).to(device=gx.device, dtype=gx.dtype)
        return torch.addmv(gx, self.d_g[:k].T, gamma, alpha=-1)


@torch.no_grad()
def anderson_iterate(
    g: Callable[[Tensor], Tensor], z0: Tensor, tol: float, max_iter: int, memory: int
) -> tuple[Tensor, Tensor, int, float]:
    """Iterate ``z = g(z)`` from ``z0`` (Anderson-accelerated when ``memory > 0``) until the
    relative residual is at most ``tol`` or ``max_iter`` evaluations are spent.

    One host synchronisation per iteration: the residual norms and the new Gram entries are
    read together. Half-precision states keep the history and products in float32.

    Returns ``(z, g(z), evaluations, residual)``; the caller decides what failure means.
    """
    if _on_host(z0):
        return _anderson_host(g, z0, tol, max_iter, memory)
    shape, dtype = z0.shape, z0.dtype
    work = _work_dtype(dtype)
    z, gz = z0, g(z0)
    count = 1
    x, gx = z.reshape(-1).to(work), gz.reshape(-1).to(work)
    f = gx - x
    history = _History(memory, x.numel(), work, x.device) if memory > 0 else None
    diff, size = torch.stack([f.norm(), gx.norm()]).tolist()
    res = _ratio(diff, size)
    while res > tol and count < max_iter and res != math.inf:
        step = history.extrapolate(gx) if history is not None and history.k else None
        x_next = gx if step is None else step
        z = x_next.view(shape).to(dtype)
        if work != dtype:  # the residual of the point g was evaluated at
            x_next = z.reshape(-1).to(work)
        gz = g(z)
        count += 1
        g_next = gz.reshape(-1).to(work)
        f_next = g_next - x_next
        norms = torch.stack([f_next.norm(), g_next.norm()])
        if history is None:
            diff, size = norms.tolist()
        else:
            products = history.push(f_next - f, g_next - gx, f_next)
            values = torch.cat([products, norms]).tolist()  # the one host sync
            history.update(values)
            diff, size = values[-2:]
        x, gx, f = x_next, g_next, f_next
        res = _ratio(diff, size)
    return z, gz, count, res


#: States up to this many elements (float32/float64 on the CPU) iterate with NumPy on the
#: host: per iteration the map ``g`` is the only PyTorch work, the rest is a few microseconds.
HOST_MAX_NUMEL = 4096
_NUMPY = {torch.float64: np.float64, torch.float32: np.float32}


def _on_host(z0: Tensor) -> bool:
    return z0.device.type == "cpu" and z0.dtype in _NUMPY and z0.numel() <= HOST_MAX_NUMEL


def _anderson_host(g, z0, tol, max_iter, memory):
    """:func:`anderson_iterate` for small CPU states: the same iteration, the history and the
    least squares in float64 NumPy (tensors and arrays share memory; nothing is copied to
    call ``g`` in float64)."""
    shape, np_dtype = z0.shape, _NUMPY[z0.dtype]

    def values(t: Tensor) -> np.ndarray:
        return t.detach().reshape(-1).numpy().astype(np.float64, copy=False)

    z, gz = z0, g(z0)
    count = 1
    gx = values(gz)
    f = gx - values(z)
    m, n = memory, gx.size
    d_f, d_g = np.empty((m, n)), np.empty((m, n))
    gram = np.zeros((m, m))
    k = head = 0
    res = _ratio(float(np.linalg.norm(f)), float(np.linalg.norm(gx)))
    while res > tol and count < max_iter and res != math.inf:
        x_next = gx
        if k:
            ridge = 1e-10 * max(float(gram.diagonal()[:k].max()), 1e-300)
            try:
                gamma = np.linalg.solve(gram[:k, :k] + ridge * np.eye(k), d_f[:k] @ f)
                step = gx - gamma @ d_g[:k]
                if np.isfinite(step).all():
                    x_next = step
            except np.linalg.LinAlgError:  # singular despite the ridge: the plain step
                pass
        z_np = np.ascontiguousarray(x_next, dtype=np_dtype)
        x_next = z_np.astype(np.float64, copy=False)  # the point g is evaluated at
        z = torch.from_numpy(z_np).view(shape)
        gz = g(z)
        count += 1
        g_next = values(gz)
        f_next = g_next - x_next
        if m:
            d_f[head], d_g[head] = f_next - f, g_next - gx
            k = min(k + 1, m)
            gram[head, :k] = gram[:k, head] = d_f[:k] @ d_f[head]
            head = (head + 1) % m
        gx, f = g_next, f_next
        res = _ratio(float(np.linalg.norm(f)), float(np.linalg.norm(gx)))
    return z, gz, count, res


def _fail(what: str, res: float, count: int, tol: float, on_failure: str, dtype=None) -> None:
    floor = ""
    if dtype is not None and tol < 2 * torch.finfo(dtype).eps:
        floor = (
            f" tol {tol:.3g} is below the rounding floor of {dtype} (eps = "
            f"{torch.finfo(dtype).eps:.3g}): leave tol=None for the dtype's default "
            f"({default_tol(dtype):.3g}) or compute in a wider dtype."
        )
    message = (
        f"{what} did not converge: relative residual {res:.3g} > tol {tol:.3g} after "
        f"{count} iterations.{floor} A unique solution needs h*Lip(F) < 1 (see "
        "odenets.networks.contraction); try a smaller h, Anderson acceleration (anderson=5), "
        "a larger max_iter, or solver='series'/'picard'"
    )
    if on_failure == "warn":
        warnings.warn(message, ConvergenceWarning, stacklevel=4)
    else:
        raise ConvergenceError(message)


def _scaled(offset: Tensor, scale: Any, term: Tensor) -> Tensor:
    """``offset + scale * term`` (fused for a plain number)."""
    if isinstance(scale, int | float) and not isinstance(scale, bool):
        return torch.add(offset, term, alpha=scale)
    return offset + scale * term


class _AdjointIdentity(torch.autograd.Function):
    """Identity forward; backward solves ``w = u + J^T w`` with ``J = dg/dz`` at ``z*``.

    ``J^T w`` is the vector-Jacobian product of ``dep`` (``g``'s output, or only the part
    of ``g`` that depends on ``z``) times ``scale``. Parts of ``g`` that do not depend on
    ``z`` at all give ``J = 0`` (``w = u``).
    """

    @staticmethod
    def forward(ctx, out, dep, z, scale, settings, tol, stats):
        ctx.save_for_backward(dep, z)
        ctx.scale, ctx.settings, ctx.tol, ctx.stats = scale, settings, tol, stats
        return out.view_as(out)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, u):
        dep, z = ctx.saved_tensors
        settings, scale = ctx.settings, ctx.scale
        if isinstance(scale, Tensor):
            scale = scale.detach()
        if not dep.requires_grad:  # g does not depend on z: J = 0
            return u, None, None, None, None, None, None

        def adjoint(w: Tensor) -> Tensor:
            (jt_w,) = torch.autograd.grad(dep, z, w, retain_graph=True, allow_unused=True)
            if jt_w is None:  # the field does not use its argument: J = 0
                return u
            return u + (jt_w if scale is None else scale * jt_w)

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
                u.dtype,
            )
        return w, None, None, None, None, None, None


def implicit_solve(
    g: Callable[[Tensor], Tensor],
    z0: Tensor,
    settings: SolveSettings | None = None,
    stats: SolveStats | None = None,
    *,
    affine: tuple[Tensor, Any, Callable[[Tensor], Tensor]] | None = None,
) -> Tensor:
    """Solve ``z = g(z)`` from ``z0`` and return ``g(z*)``, differentiable by the IFT.

    Args:
        g: the map whose fixed point is wanted; may close over tensors that need gradients
            (the state, parameters of ``F``, a learned ``h``).
        z0: the initial guess.
        settings: tolerance, budget, acceleration and failure mode.
        stats: if given, filled with the iteration counts and residuals (forward now, adjoint
            after ``backward``).
        affine: optionally ``(offset, scale, term)`` with ``g(z) = offset + scale * term(z)``
            (backward Euler: ``(y, h, F)``). The output is then built from these parts and
            the adjoint iteration differentiates ``term`` alone, so its cost does not grow
            with the graph behind ``offset`` (the trajectory so far) — without it every
            vector-Jacobian product of the adjoint walks that whole graph.

    Returns:
        ``g(z*)`` (one more contraction step past the accepted iterate). Gradients flow to
        everything ``g`` closes over; double backward is not supported. A map that does not
        depend on ``z`` at all gets the gradient of its other inputs.
    """
    settings = settings or SolveSettings()
    tol = settings.tol if settings.tol is not None else default_tol(z0.dtype)
    z, gz, count, res = anderson_iterate(g, z0.detach(), tol, settings.max_iter, settings.anderson)
    if stats is not None:
        stats.iterations, stats.residual = count, res
    if res > tol:
        _fail("implicit step", res, count, tol, settings.on_failure, z0.dtype)
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
        if affine is None:
            out = g(z)
            dep, scale = out, None
        else:
            offset, scale, term = affine
            dep = term(z)
            out = _scaled(offset, scale, dep)
    return _AdjointIdentity.apply(out, dep, z, scale, settings, tol, stats)
