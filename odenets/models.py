"""Named presets: ``@register_model`` recipes, ``create_model`` and ``list_models``.

A preset is a three-line recipe over :class:`~odenets.SolverNet`; keyword overrides pass
straight through (an unknown keyword is a ``TypeError`` naming it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._validate import unknown_name
from .nets import SolverNet

__all__ = ["create_model", "list_models", "model_info", "register_model"]

_MODELS: dict[str, Callable[..., SolverNet]] = {}


def register_model(fn: Callable[..., SolverNet]) -> Callable[..., SolverNet]:
    """Register ``fn`` under its ``__name__``; a duplicate name is a ``ValueError``."""
    if not callable(fn):
        raise TypeError(f"register_model expects a function, got {type(fn).__name__}")
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered")
    _MODELS[name] = fn
    return fn


def list_models() -> list[str]:
    """Sorted names of the registered presets."""
    return sorted(_MODELS)


def _lookup(name: str) -> Callable[..., SolverNet]:
    if not isinstance(name, str):
        raise TypeError(f"model name must be a str, got {type(name).__name__}")
    try:
        return _MODELS[name]
    except KeyError:
        raise unknown_name("model", name, _MODELS) from None


def create_model(name: str, **overrides: Any) -> SolverNet:
    """Build the preset ``name`` with keyword ``overrides`` (e.g. ``num_classes=100``)."""
    return _lookup(name)(**overrides)


def model_info(name: str) -> str:
    """The first line of the preset's docstring."""
    return (_lookup(name).__doc__ or "").strip().splitlines()[0]


def _preset(**recipe: Any) -> Callable[..., SolverNet]:
    def build(**overrides: Any) -> SolverNet:
        return SolverNet(**{**recipe, **overrides})

    return build


def _define(name: str, doc: str, **recipe: Any) -> None:
    fn = _preset(**recipe)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    register_model(fn)


_RESNET_PARAMS = {20: "0.27M", 32: "0.46M", 44: "0.66M", 56: "0.85M", 110: "1.7M"}
for _depth, _params in _RESNET_PARAMS.items():
    _define(f"resnet{_depth}", f"ResNet-{_depth} = Euler steps (He et al. 2016; {_params} params).",
            scheme="euler", depth=_depth)
    _define(f"lm_resnet{_depth}",
            f"LM-ResNet-{_depth}: two-step LM scheme, one learned k per block (Lu et al. 2018).",
            scheme="lm", depth=_depth)

_define("rk2_resnet20", "RK2 (Heun) ResNet-20: two-path FractalNet-style blocks, one F per path.",
        scheme="heun", depth=20, tie="none")
_define("rk4_resnet20", "RK4 ResNet-20: classical RK4 steps sharing one F per step (RK-Net).",
        scheme="rk4", depth=20, tie="stages")
_define("ode_resnet", "ODE-ResNet: one F per stage (tie='all'), RK4 steps; re-evaluable in depth.",
        scheme="rk4", depth=20, tie="all")
