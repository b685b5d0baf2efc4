"""Small arithmetic helpers shared by the step functions (no scheme knowledge here)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["axpy", "is_number", "scale", "shift"]


def is_number(x: Any) -> bool:
    """True for a plain Python int/float (not a tensor, not a bool)."""
    return isinstance(x, int | float) and not isinstance(x, bool)


def axpy(y: Tensor, alpha: Any, x: Tensor) -> Tensor:
    """``y + alpha * x`` without in-place ops; fused (and skipped at 0) for plain numbers."""
    if is_number(alpha):
        if alpha == 0:
            return y
        if alpha == 1:
            return y + x
        return torch.add(y, x, alpha=alpha)
    return y + alpha * x


def scale(alpha: Any, x: Tensor) -> Tensor:
    """``alpha * x``, skipped when ``alpha`` is the number 1."""
    return x if is_number(alpha) and alpha == 1 else alpha * x


def shift(t: Any, c: float, h: Any) -> Any:
    """The stage time ``t + c h`` (``t`` itself when ``c == 0``)."""
    return t if c == 0 else t + c * h
