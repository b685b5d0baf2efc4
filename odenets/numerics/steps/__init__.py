"""One module per scheme family — the only place a scheme's arithmetic lives.

Every step advances ``y`` at time ``t`` by one step of size ``h`` and returns the new state;
nothing is kept between calls except what is passed in and returned (multistep history,
momentum velocity, an SDE step's increment). Both :func:`odenets.odeint` and
:class:`odenets.SchemeBlock` call these through :func:`prepare`.

The residual function has the signature ``f(slot, t, y)``: ``slot`` says which residual
field the step evaluates, so a network can give every Runge–Kutta stage its own learned ``F``
(``tie="none"``) while an integrator ignores it. ``h`` may be a plain number or a tensor (a
learned step size); with a number the updates use fused ``torch.add(..., alpha=)``.

Each family module registers its :class:`~odenets.numerics.families.Family` (the step and its
capabilities) and its schemes; importing this package registers them all. A new family is one
new module here and one line below.
"""

from . import coupled, explicit, implicit, momentum, multistep, stochastic, verlet
from .base import Inverse, StageField, Stepper, field_slots, prepare, prepare_inverse
from .coupled import coupled_euler, coupled_inverse
from .explicit import explicit_rk
from .implicit import implicit_step
from .momentum import momentum_inverse
from .multistep import History, lm_weights
from .stochastic import Increment, euler_maruyama
from .verlet import verlet_inverse

__all__ = [
    "History",
    "Increment",
    "Inverse",
    "StageField",
    "Stepper",
    "coupled",
    "coupled_euler",
    "coupled_inverse",
    "euler_maruyama",
    "explicit",
    "explicit_rk",
    "field_slots",
    "implicit",
    "implicit_step",
    "lm_weights",
    "momentum",
    "momentum_inverse",
    "multistep",
    "prepare",
    "prepare_inverse",
    "stochastic",
    "verlet",
    "verlet_inverse",
]
