"""odenets: deep residual networks as numerical integrators.

A residual block is one step of an ODE solver and a network is a trajectory: a scheme is
written once (coefficients plus one step function) and drives :func:`odeint`, the
:class:`SchemeBlock` network blocks of :class:`SolverNet`, and deep unfolding.

The public names are loaded on first use (PEP 562): ``import odenets`` itself imports no
torch, so the ``odenets`` command's ``--version`` and ``--help`` stay fast, while
``import odenets as on; on.SolverNet`` and ``from odenets import SolverNet, unfold`` work as
with eager imports (the first access imports the submodule that defines the name).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Where each public name lives (a module relative to this package).
_LOCATIONS = {
    "SchemeBlock": ".networks.blocks",
    "StochasticBlock": ".networks.blocks",
    "Transition": ".networks.blocks",
    "lipschitz_estimate": ".networks.contraction",
    "spectral_normalize": ".networks.contraction",
    "FIELDS": ".networks.fields",
    "get_field": ".networks.fields",
    "list_fields": ".networks.fields",
    "register_field": ".networks.fields",
    "SolverNet": ".networks.nets",
    "count_field_calls": ".networks.nets",
    "count_parameters": ".networks.nets",
    "valid_depths": ".networks.nets",
    "ModelInfo": ".networks.model_info",
    "GaussianNoise": ".networks.noise",
    "NoiseModel": ".networks.noise",
    "NoiseSource": ".networks.noise",
    "ShakeShake": ".networks.noise",
    "StochasticDepth": ".networks.noise",
    "create_model": ".networks.presets",
    "list_models": ".networks.presets",
    "model_info": ".networks.presets",
    "register_model": ".networks.presets",
    "SchemeStage": ".networks.stages",
    "Family": ".numerics.families",
    "get_family": ".numerics.families",
    "list_families": ".numerics.families",
    "register_family": ".numerics.families",
    "ConvergenceError": ".numerics.fixed_point",
    "ConvergenceWarning": ".numerics.fixed_point",
    "GradientField": ".numerics.gradient",
    "odeint": ".numerics.odeint",
    "Coefficient": ".numerics.schemes",
    "Scheme": ".numerics.schemes",
    "get_scheme": ".numerics.schemes",
    "list_schemes": ".numerics.schemes",
    "register_scheme": ".numerics.schemes",
    "sdeint": ".numerics.sdeint",
    "ButcherTableau": ".numerics.tableau",
    "MultistepCoefficients": ".numerics.tableau",
}

#: Subpackages reachable as attributes (``odenets.unfold.RidgeRegression``).
_SUBMODULES = ("networks", "numerics", "unfold", "workflow")

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


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access and cache the name here."""
    if name in _LOCATIONS:
        value = getattr(importlib.import_module(_LOCATIONS[name], __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    elif name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("odenets")
        except PackageNotFoundError:  # running from a source tree that is not installed
            value = "0.0.0"
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later accesses skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBMODULES})


if TYPE_CHECKING:  # what static analysers and IDEs see; never executed
    from . import unfold
    from .networks.blocks import SchemeBlock, StochasticBlock, Transition
    from .networks.contraction import lipschitz_estimate, spectral_normalize
    from .networks.fields import FIELDS, get_field, list_fields, register_field
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

    __version__: str
