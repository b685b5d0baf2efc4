"""Learned scheme coefficients kept inside their admissible interval by a parametrisation.

A fixed coefficient outside its interval is refused (``lm``'s ``k`` must lie in ``(-1, 1]``
for the step to be consistent and zero-stable); a learned one is a parameter that the
optimiser may push anywhere, so the block stores an unconstrained value ``θ`` and steps with
``k = σ(θ)``, where ``σ`` maps the real line onto the open interval ``(low, high)``:

    σ(θ) = θ                                    on the core [a, b] = [low + d, high - d],
    σ(θ) = low + d² / (d + a - θ)               below it,
    σ(θ) = high - d² / (d + θ - b)              above it,

a strictly increasing C¹ bijection with ``d = (high - low) / 4`` (``d = 1`` for a half-bounded
interval). The tails approach the ends like ``1 / |θ|``, so no finite parameter rounds onto an
end point (an exponential tail reaches ``-1`` in float64 at ``θ ≈ -19``, where ``lm`` stops
being zero-stable). Because ``σ`` is the identity on the core (``[-0.5, 0.5]`` for ``lm``), a stored
value there is the coefficient itself: the state-dict key stays ``coefficients.k`` and
checkpoints whose ``k`` lies in the core load unchanged. A closed end (``lm``'s ``k = 1``, the
leapfrog step) is approached, not reached, by a learned value; fix it with ``learn=False``.

Coefficients a scheme's realisation leaves unconstrained (the resolved option
``"unconstrained"``, e.g. ``lm`` with ``form="paper"``: Lu et al.'s code learns ``k`` freely)
and unbounded ones are stored as they are. :func:`make_coefficients` sets up a block's
coefficients from its scheme: which are learned, their initial values, and the fixed rest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..numerics.schemes import Scheme

__all__ = ["LearnedCoefficients", "make_coefficients", "soft_bound", "soft_bound_inverse"]


def _margin(low: float, high: float) -> float:
    if math.isfinite(low) and math.isfinite(high):
        return (high - low) / 4.0
    return 1.0


def soft_bound(theta: Tensor, low: float, high: float) -> Tensor:
    """``σ(θ)``: the unconstrained ``θ`` mapped onto ``(low, high)`` (see the module)."""
    d = _margin(low, high)
    out = theta
    if math.isfinite(low):
        a = low + d
        below = low + d * d / (d + torch.clamp(a - theta, min=0))
        out = torch.where(theta < a, below, out)
    if math.isfinite(high):
        b = high - d
        above = high - d * d / (d + torch.clamp(theta - b, min=0))
        out = torch.where(theta > b, above, out)
    return out


def soft_bound_inverse(value: float, low: float, high: float) -> float:
    """``θ`` with ``σ(θ) = value``, for ``value`` strictly inside ``(low, high)``."""
    if not low < value < high:
        raise ValueError(
            f"a learned coefficient starts strictly inside ({low:g}, {high:g}), got {value:g}; "
            "an end point of the interval can only be fixed (learn=False)"
        )
    d = _margin(low, high)
    if math.isfinite(low) and value < low + d:
        return low + 2 * d - d * d / (value - low)
    if math.isfinite(high) and value > high - d:
        return high - 2 * d + d * d / (high - value)
    return value


class LearnedCoefficients(nn.ParameterDict):
    """A block's learned coefficients: unconstrained parameters (keys = coefficient names)
    and the intervals they are mapped into.

    Args:
        bounds: ``{name: (low, high)}`` for the parameters stepped with ``σ`` (the others
            are used as they are).
    """

    def __init__(self, bounds: Mapping[str, tuple[float, float]] | None = None) -> None:
        super().__init__()
        self.bounds = dict(bounds or {})

    def set_value(self, name: str, value: float) -> None:
        """Add (or reset) the parameter ``name`` so that its coefficient equals ``value``."""
        raw = soft_bound_inverse(value, *self.bounds[name]) if name in self.bounds else value
        if name in self:
            with torch.no_grad():
                self[name].fill_(raw)
        else:
            self[name] = nn.Parameter(torch.tensor(float(raw)))

    def resolved(self) -> dict[str, Tensor]:
        """The coefficient values the step uses: ``σ(θ)`` for bounded ones, ``θ`` otherwise."""
        return {
            name: soft_bound(theta, *self.bounds[name]) if name in self.bounds else theta
            for name, theta in self.items()
        }


def make_coefficients(
    scheme: Scheme,
    learn: bool | None,
    coefficients: Mapping[str, Any] | None,
    options: Mapping[str, Any] | None = None,
) -> tuple[bool, LearnedCoefficients, dict[str, Any]]:
    """A block's scheme coefficients: ``(learn, learned, fixed)``.

    ``learn`` defaults to True when the scheme has coefficients that are learned by default
    (``lm``'s ``k``; not ``momentum``'s ``gamma``). Learned ones become scalar parameters
    initialised from ``coefficients`` or drawn from the coefficient's ``init`` range (``lm``:
    ``k ~ U(-0.1, 0)``, near the ResNet step); ``fixed`` holds the values used otherwise.

    A learned coefficient with a bounded admissible interval is kept inside it by the
    parametrisation of :mod:`odenets.networks.coefficients` (the identity on the interval's
    core, so the state-dict key ``coefficients.<name>`` holds the value itself there), unless
    the scheme's realisation leaves it unconstrained (the resolved option
    ``"unconstrained"``: ``lm`` with ``form="paper"``, as in Lu et al.'s code).
    """
    fixed, resolved = scheme.resolve(coefficients, options)
    learn = bool(scheme.learnable) if learn is None else bool(learn)
    if learn and not scheme.coefficients:
        raise ValueError(f"scheme {scheme.name!r} has no coefficients to learn")
    names = (scheme.learnable or tuple(scheme.coefficients)) if learn else ()
    free = set(resolved.get("unconstrained", ()))
    bounds = {}
    for name in names:
        spec = scheme.coefficients[name]
        if name not in free and (math.isfinite(spec.low) or math.isfinite(spec.high)):
            bounds[name] = (spec.low, spec.high)
    learned = LearnedCoefficients(bounds)
    for name in names:
        spec = scheme.coefficients[name]
        if coefficients is not None and name in coefficients:
            value = float(coefficients[name])
        else:
            low, high = spec.init if spec.init is not None else (fixed[name], fixed[name])
            # drawn on the CPU from the global generator, also when the net is built under
            # a device context (``with torch.device("meta")``): the same values anywhere
            value = float(torch.empty((), device="cpu").uniform_(low, high))
        learned.set_value(name, value)
    return learn, learned, fixed
