"""The drift and diffusion of an SDE, in either calling form, and its noise type.

``sdeint`` takes ``(drift, diffusion)`` callables (diagonal noise) or a torchsde-style SDE
object: attributes ``noise_type`` and ``sde_type``, methods ``f(t, y)`` (drift) and ``g(t, y)``
(diffusion). The shapes follow torchsde:

==============  ==============================  =====================  =====================
noise type      ``g(t, y)``                     Brownian increment     noise term
==============  ==============================  =====================  =====================
``diagonal``    ``y``'s shape (any shape)       ``y``'s shape          ``g ⊙ ΔW``
``scalar``      ``(batch, d, 1)``               ``(batch, 1)``         ``g ΔW``
``additive``    ``(batch, d, m)``, free of y    ``(batch, m)``         ``g ΔW``
``general``     ``(batch, d, m)``               ``(batch, m)``         ``g ΔW``
==============  ==============================  =====================  =====================

For the last three the state must be ``(batch, d)``. They run through the same Euler–Maruyama
step as diagonal noise: the diffusion slot returns the product ``g(t, y) ΔW_n`` (a batched
matrix-vector product, as torchsde computes it) and the step's increment is 1
(:class:`ProjectedNoise`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .._validate import unknown_name
from .trajectory import checked_field

__all__ = ["NOISE_TYPES", "SDE_TYPES", "ProjectedNoise", "SDETerms", "call_form"]

NOISE_TYPES = ("additive", "diagonal", "general", "scalar")
SDE_TYPES = ("ito", "stratonovich")


@dataclass(frozen=True)
class SDETerms:
    """``drift(t, y)``, ``diffusion(t, y)``, the noise and SDE types, and the SDE object the
    terms came from (``None`` for the functional form)."""

    drift: Callable
    diffusion: Callable
    noise_type: str = "diagonal"
    sde_type: str = "ito"
    source: Any = None

    def noise_shape(self, y0: Tensor, t0: Tensor) -> tuple[int, ...]:
        """The shape of one Brownian increment. For non-diagonal noise ``g`` is evaluated
        once at ``(t0, y0)`` (without autograd) to read ``m``, as torchsde does."""
        if self.noise_type == "diagonal":
            return tuple(y0.shape)
        self.require_batch_state(y0)
        with torch.no_grad():
            g = self.diffusion(t0, y0)
        self.check_matrix(g, y0)
        return (y0.shape[0], g.shape[-1])

    def require_batch_state(self, y0: Tensor) -> None:
        if y0.ndim != 2:
            raise ValueError(
                f"{self.noise_type} noise needs y0 of shape (batch, d) and g(t, y) of shape "
                f"(batch, d, m), as in torchsde, got y0 of shape {tuple(y0.shape)}; only "
                "diagonal noise takes states of any shape"
            )

    def check_matrix(self, g: Any, y: Tensor, m: int | None = None) -> Tensor:
        """``g`` must be a ``(batch, d, m)`` tensor (``m = 1`` for scalar noise)."""
        batch, d = y.shape
        want = f"(batch, d, m) = ({batch}, {d}, {'m' if m is None else m})"
        if self.noise_type == "scalar":
            want = f"(batch, d, 1) = ({batch}, {d}, 1)"
        if not isinstance(g, Tensor):
            raise TypeError(f"g(t, y) must return a torch.Tensor, got {type(g).__name__}")
        ok = g.ndim == 3 and g.shape[:2] == (batch, d)
        ok = (
            ok
            and (m is None or g.shape[2] == m)
            and (self.noise_type != "scalar" or g.shape[2] == 1)
        )
        if not ok:
            raise ValueError(
                f"g(t, y) must be of shape {want} for {self.noise_type} noise, got "
                f"{tuple(g.shape)}. Supported noise types: diagonal (g of y's shape), scalar, "
                "additive and general (g of shape (batch, d, m))"
            )
        if g.dtype != y.dtype:
            raise TypeError(f"g(t, y) must return y's dtype {y.dtype}, got {g.dtype}")
        return g


def _method(sde: Any, name: str) -> Callable:
    fn = getattr(sde, name, None)
    if not callable(fn):
        raise ValueError(
            f"an SDE object needs the methods f(t, y) (drift) and g(t, y) (diffusion); "
            f"{type(sde).__name__} has no {name}. SDEs given only through f_and_g / g_prod "
            "run with backend='torchsde'"
        )
    return fn


def is_sde_object(obj: Any) -> bool:
    """A torchsde-style SDE: it has ``noise_type``/``sde_type`` or ``f`` and ``g``."""
    return any(hasattr(obj, a) for a in ("noise_type", "sde_type")) or (
        hasattr(obj, "f") and hasattr(obj, "g")
    )


def terms_of(sde: Any, backend_torchsde: bool = False) -> SDETerms:
    """The terms of a torchsde-style SDE object, its types checked."""
    for attr, valid in (("noise_type", NOISE_TYPES), ("sde_type", SDE_TYPES)):
        if not hasattr(sde, attr):
            raise ValueError(
                f"an SDE object needs the attribute {attr} (one of {list(valid)}), as in "
                f"torchsde; {type(sde).__name__} has none"
            )
        value = getattr(sde, attr)
        if value not in valid:
            raise unknown_name(f"SDE {attr}", value, valid)
    if backend_torchsde:  # torchsde also takes f_and_g / g_prod: the object goes there whole
        f, g = getattr(sde, "f", None), getattr(sde, "g", None)
        return SDETerms(f, g, sde.noise_type, sde.sde_type, sde)
    return SDETerms(_method(sde, "f"), _method(sde, "g"), sde.noise_type, sde.sde_type, sde)


def call_form(
    drift: Any, diffusion: Any, y0: Any, t: Any, ts: Any, backend_torchsde: bool
) -> tuple[SDETerms, Any, Any, Any]:
    """Normalise ``sdeint``'s two calling forms to ``(terms, y0, t, bm_positional)``.

    * ``sdeint(drift, diffusion, y0, t, ...)``: two callables, diagonal Itô noise;
    * ``sdeint(sde, y0, ts[, bm], ...)`` (torchsde's order), or with keywords
      ``sdeint(sde, y0=..., t=...)`` / ``ts=...``.
    """
    if ts is not None and t is not None and not is_sde_object(drift):
        raise TypeError("give t or ts (torchsde's name for it), not both")
    if is_sde_object(drift):
        terms = terms_of(drift, backend_torchsde)
        if diffusion is not None:  # positional: (sde, y0, ts, bm)
            if ts is not None and y0 is not None:
                raise TypeError(
                    "sdeint(sde, y0, ts, bm): the grid was given twice (positionally and as ts=)"
                )
            return terms, diffusion, (y0 if y0 is not None else ts), t
        if y0 is None:
            raise TypeError("sdeint(sde, y0, ts) needs the initial state y0")
        if (t is None) == (ts is None):
            raise TypeError("sdeint(sde, y0=..., ts=...) needs the grid ts (or t), once")
        return terms, y0, (t if t is not None else ts), None
    for name, fn in (("drift", drift), ("diffusion", diffusion)):
        if not callable(fn):
            raise TypeError(
                f"{name} must be callable as {name}(t, y) (or pass a torchsde-style SDE object "
                f"with f, g, noise_type and sde_type as the first argument), got "
                f"{type(fn).__name__}"
            )
    if y0 is None:
        raise TypeError("sdeint(drift, diffusion, y0, t) needs the initial state y0")
    grid = t if t is not None else ts
    if grid is None:
        raise TypeError("sdeint(drift, diffusion, y0, t) needs the time grid t")
    return SDETerms(drift, diffusion), y0, grid, None


class ProjectedNoise:
    """Non-diagonal noise as the elementwise term of the Euler–Maruyama step.

    ``self[n]`` (what the walk passes to step ``n``) records the increment ``ΔW_n`` and
    returns 1; the diffusion slot (:meth:`diffusion`) then returns ``g(t, y) ΔW_n``, so the
    step ``y + h f + (g ΔW_n) ⊙ 1`` is exactly Euler–Maruyama for ``dY = f dt + g dW``.
    """

    def __init__(self, terms: SDETerms, increments: Any, like: Tensor, m: int) -> None:
        self.terms, self.increments, self.m = terms, increments, m
        self.one = torch.ones((), dtype=like.dtype, device=like.device)
        self.current: Tensor | None = None

    def __len__(self) -> int:
        return len(self.increments)

    def __getitem__(self, n: int) -> Tensor:
        self.current = self.increments[n]
        return self.one

    def diffusion(self, t: Any, y: Tensor) -> Tensor:
        g = self.terms.check_matrix(self.terms.diffusion(t, y), y, self.m)
        return torch.bmm(g, self.current.unsqueeze(-1)).squeeze(-1)


def stage_field(terms: SDETerms, like: Tensor, noise: Any) -> Callable:
    """The stage field of the Euler–Maruyama step: slot 0 the drift, slot 1 the diffusion
    (diagonal) or the projected noise term (:class:`ProjectedNoise`), each checked."""
    a = checked_field(terms.drift, "drift" if terms.source is None else "f", like.shape, like.dtype)
    if isinstance(noise, ProjectedNoise):
        b = checked_field(noise.diffusion, "g(t, y) dW", like.shape, like.dtype)
    else:
        why = " (diagonal noise; other noise types: pass an SDE object with noise_type)"
        if terms.source is not None:
            why = " (diagonal noise)"
        b = checked_field(
            terms.diffusion,
            "diffusion" if terms.source is None else "g",
            like.shape,
            like.dtype,
            why,
        )

    def field(slot: int, t: Any, y: Tensor) -> Tensor:
        return a(0, t, y) if slot == 0 else b(1, t, y)

    return field
