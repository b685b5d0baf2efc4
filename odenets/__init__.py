"""odenets: deep residual networks as numerical integrators.

A residual block is one step of an ODE solver and a network is a trajectory: a scheme is
written once (coefficients plus one step function) and drives :func:`odeint`, the
:class:`SchemeBlock` network blocks of :class:`SolverNet`, and deep unfolding.
"""

from importlib.metadata import PackageNotFoundError, version

from .blocks import SchemeBlock, SchemeStage, Transition
from .fields import FIELDS, GradientField
from .integrate import odeint
from .models import create_model, list_models, model_info, register_model
from .nets import SolverNet, count_field_calls, count_parameters, valid_depths
from .schemes import Scheme, get_scheme, list_schemes, register_scheme
from .tableau import ButcherTableau, MultistepCoefficients

try:
    __version__ = version("odenets")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = [
    "FIELDS",
    "ButcherTableau",
    "GradientField",
    "MultistepCoefficients",
    "Scheme",
    "SchemeBlock",
    "SchemeStage",
    "SolverNet",
    "Transition",
    "__version__",
    "count_field_calls",
    "count_parameters",
    "create_model",
    "get_scheme",
    "list_models",
    "list_schemes",
    "model_info",
    "odeint",
    "register_model",
    "register_scheme",
    "valid_depths",
]
