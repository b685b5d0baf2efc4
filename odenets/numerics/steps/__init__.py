"""One pure step function per scheme family — the only place a scheme's arithmetic lives.

Every step advances ``y`` at time ``t`` by one step of size ``h`` and returns the new state;
nothing is kept between calls except what is passed in and returned (multistep history).
Both :func:`odenets.odeint` and :class:`odenets.SchemeBlock` call these through
:func:`prepare`.

The residual function has the signature ``f(stage, t, y)``: ``stage`` is the index of the
evaluation within the step, so a network can give every Runge–Kutta stage its own learned
``F`` (``tie="none"``) while an integrator ignores it. ``h`` may be a plain number or a tensor
(a learned step size); with a number the updates use fused ``torch.add(..., alpha=)``.

One module per family: :mod:`.explicit`, :mod:`.multistep`, :mod:`.stochastic`,
:mod:`.implicit`, :mod:`.coupled`.
"""

from .base import (
    StageField,
    Stepper,
    field_slots,
    prepare,
    prepare_inverse,
    register_family,
    register_inverse,
    register_slots,
)
from .coupled import coupled_euler, coupled_inverse
from .explicit import explicit_rk
from .implicit import implicit_step
from .multistep import History, multistep
from .stochastic import Increment, euler_maruyama

__all__ = [
    "History",
    "Increment",
    "StageField",
    "Stepper",
    "coupled_euler",
    "coupled_inverse",
    "euler_maruyama",
    "explicit_rk",
    "field_slots",
    "implicit_step",
    "multistep",
    "prepare",
    "prepare_inverse",
    "register_family",
    "register_inverse",
    "register_slots",
]
