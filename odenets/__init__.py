"""odenets: deep residual networks as numerical integrators.

A residual block is one step of an ODE solver and a network is a trajectory: a scheme is
written once (coefficients plus one step function) and drives :func:`odeint`, the
:class:`SchemeBlock` network blocks of :class:`SolverNet`, and deep unfolding.
"""

from importlib.metadata import PackageNotFoundError, version

from . import unfold  # deep unfolding: odenets.unfold.RidgeRegression, ...
from .networks.blocks import SchemeBlock, StochasticBlock, Transition
from .networks.contraction import lipschitz_estimate, spectral_normalize
from .networks.fields import FIELDS, get_field, list_fields, register_field
from .networks.model_info import ModelInfo
from .networks.nets import SolverNet, count_field_calls, count_parameters, valid_depths
from .networks.noise import GaussianNoise, NoiseModel, NoiseSource, ShakeShake, StochasticDepth
from .networks.presets import create_model, list_models, model_info, register_model
from .networks.stages import SchemeStage
from .numerics.families import Family, get_family, list_families, register_family
from .numerics.fixed_point import ConvergenceError, ConvergenceWarning
from .numerics.gradient import GradientField
from .numerics.odeint import odeint
from .numerics.schemes import Coefficient, Scheme, get_scheme, list_schemes, register_scheme
from .numerics.sdeint import sdeint
from .numerics.tableau import ButcherTableau, MultistepCoefficients

try:
    __version__ = version("odenets")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = [
    "FIELDS",
    "ButcherTableau",
    "Coefficient",
    "ConvergenceError",
    "ConvergenceWarning",
    "Family",
    "GaussianNoise",
    "GradientField",
    "ModelInfo",
    "MultistepCoefficients",
    "NoiseModel",
    "NoiseSource",
    "Scheme",
    "SchemeBlock",
    "SchemeStage",
    "ShakeShake",
    "SolverNet",
    "StochasticBlock",
    "StochasticDepth",
    "Transition",
    "__version__",
    "count_field_calls",
    "count_parameters",
    "create_model",
    "get_family",
    "get_field",
    "get_scheme",
    "lipschitz_estimate",
    "list_families",
    "list_fields",
    "list_models",
    "list_schemes",
    "model_info",
    "odeint",
    "register_family",
    "register_field",
    "register_model",
    "register_scheme",
    "sdeint",
    "spectral_normalize",
    "unfold",
    "valid_depths",
]
