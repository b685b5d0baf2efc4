"""One pure step function per scheme family — the only place a scheme's arithmetic lives.

Every step advances ``y`` at time ``t`` by one step of size ``h`` and returns the new state;
nothing is kept between calls except what is passed in and returned (multistep history).
Both :func:`odenets.odeint` and :class:`odenets.SchemeBlock` call these through
:func:`prepare`.

The residual function has the signature ``f(stage, t, y)``: ``stage`` is the index of the
evaluation within the step, so a network can give every Runge–Kutta stage its own learned
``F`` (``tie="none"``) while an integrator ignores it. ``h`` may be a plain number or a tensor
(a learned step size); with a number the updates use fused ``torch.add(..., alpha=)``.

One module per family: :mod:`.explicit`, :mod:`.multistep`.
"""

from .base import StageField, Stepper, prepare, register_family
from .explicit import explicit_rk
from .multistep import History, multistep

__all__ = [
    "History",
    "StageField",
    "Stepper",
    "explicit_rk",
    "multistep",
    "prepare",
    "register_family",
]
