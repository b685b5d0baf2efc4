"""Contraction of implicit steps: estimate ``Lip(F)`` and keep ``h Lip(F) < 1``.

The implicit step ``y1 = y0 + h F(y1)`` has a unique solution, reached by fixed-point
iteration from any start, when ``z -> y0 + h F(z)`` is a contraction, i.e. ``h Lip(F) < 1``
(Banach) — the discrete counterpart of the Lipschitz condition behind existence and
uniqueness for the ODE ``y' = F(y)``.

* :func:`lipschitz_estimate`: power iteration on ``J^T J`` (Jacobian-vector and
  vector-Jacobian products by autograd) gives the spectral norm of the Jacobian of ``F`` at a
  point — a lower bound of ``Lip(F)``, and the local contraction factor there.
* :func:`spectral_normalize`: rescale every Linear / Conv weight of ``F`` to spectral norm
  ``(margin / h)^(1/L)`` (``L`` weight layers; Miyato et al. 2018's power-iteration
  parametrization), so that for 1-Lipschitz activations ``h Lip(F) <= margin < 1``. For
  Linear layers this is a guarantee; for convolutions the normalized matrix is the reshaped
  kernel, whose norm bounds the operator norm only up to a factor (Gouk et al. 2021), so
  check the result with :func:`lipschitz_estimate`. Normalization layers (BatchNorm) are not
  1-Lipschitz in general and are refused.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from .._validate import check_int, check_number
from .reversible import frozen_buffers

__all__ = ["lipschitz_estimate", "spectral_normalize"]

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)


def lipschitz_estimate(
    f: Callable[[Tensor], Tensor],
    x: Tensor,
    iterations: int = 30,
    generator: torch.Generator | None = None,
) -> float:
    """The spectral norm of the Jacobian of ``f`` at ``x`` by power iteration on ``J^T J``.

    The whole tensor ``x`` (batch included) is one point, so for a per-sample ``f`` this is
    the largest per-sample value. Buffers of ``f`` (if it is a module) are left unchanged.

    Args:
        f: the map, e.g. a residual field ``F``.
        x: the point.
        iterations: power-iteration steps (the estimate increases towards the true norm).
        generator: the random source of the start vector (default: torch's global one).

    Returns:
        ``||J_f(x)||_2``, a lower bound of ``Lip(f)``.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating torch.Tensor, got {type(x).__name__}")
    check_int("iterations", iterations, 1)
    context = frozen_buffers(f) if isinstance(f, nn.Module) else _null()
    with context, torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        y = f(xg)
        u = torch.zeros_like(y, requires_grad=True)
        (jt_u,) = torch.autograd.grad(y, xg, u, create_graph=True)  # J^T u, linear in u
        v = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        v = v / v.norm()
        sigma = 0.0
        for _ in range(iterations):
            (jv,) = torch.autograd.grad(jt_u, u, v, retain_graph=True)  # J v
            (jtjv,) = torch.autograd.grad(y, xg, jv, retain_graph=True)  # J^T J v
            norm = jtjv.norm()
            if norm == 0:
                return 0.0
            sigma = float(norm.sqrt())
            v = jtjv / norm
    return sigma


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Scale(nn.Module):
    """Parametrization ``W -> c W`` (applied after the spectral normalization)."""

    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = c

    def forward(self, weight: Tensor) -> Tensor:
        return self.c * weight


def spectral_normalize(module: nn.Module, h: float, margin: float = 0.9) -> nn.Module:
    """Constrain ``module`` (a residual field ``F``) so that ``h Lip(F) <= margin``.

    Every Linear / Conv weight gets spectral normalization scaled to ``(margin / h)^(1/L)``;
    the module is changed in place and returned. See the module docstring for what is
    guaranteed.

    Args:
        module: the field.
        h: the step size the field will be used with.
        margin: the target bound on ``h Lip(F)``, in ``(0, 1)``.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    h = check_number("h", h, positive=True)
    margin = check_number("margin", margin, positive=True)
    if margin >= 1:
        raise ValueError(f"margin must be < 1 for a contraction, got {margin}")
    norms = [type(m).__name__ for m in module.modules() if isinstance(m, _NORMS)]
    if norms:
        raise ValueError(
            f"spectral_normalize cannot bound a field with normalization layers {norms} "
            "(their Lipschitz constant depends on the batch); use a field without them"
        )
    layers = [m for m in module.modules() if isinstance(m, _WEIGHTED)]
    if not layers:
        raise ValueError("module has no Linear or Conv layer to normalize")
    c = (margin / h) ** (1 / len(layers))
    for layer in layers:
        spectral_norm(layer)
        parametrize.register_parametrization(layer, "weight", _Scale(c))
    return module
