"""Named presets: ``@register_model`` recipes, ``create_model`` and ``list_models``.

A preset is a three-line recipe over :class:`~odenets.SolverNet`; keyword overrides pass
straight through (an unknown keyword is a ``TypeError`` naming it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._validate import unknown_name
from .nets import SolverNet
from .noise import StochasticDepth

__all__ = ["create_model", "list_models", "model_info", "register_model", "unregister_model"]

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


def unregister_model(name: str) -> Callable[..., SolverNet]:
    """Remove the preset ``name`` and return its function."""
    _lookup(name)
    return _MODELS.pop(name)


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
    _define(
        f"resnet{_depth}",
        f"ResNet-{_depth} = Euler steps (He et al. 2016; {_params} params).",
        scheme="euler",
        depth=_depth,
    )
    _define(
        f"lm_resnet{_depth}",
        f"LM-ResNet-{_depth}: two-step LM scheme, one learned k per block (Lu et al. 2018).",
        scheme="lm",
        depth=_depth,
    )

for _depth in (20, 56, 110):
    _define(
        f"momentum_resnet{_depth}",
        f"Momentum ResNet-{_depth}: ResNet-{_depth} whose non-downsampling blocks are momentum "
        "steps, gamma = 0.9, velocity 0 at each stage (Sander et al. 2021).",
        scheme="momentum",
        depth=_depth,
    )

_define(
    "rk2_resnet20",
    "RK2 (Heun) ResNet-20: two-stage RK2 blocks, one F per stage (Lu et al. 2018 §2).",
    scheme="heun",
    depth=20,
    tie="none",
)
_define(
    "rk4_resnet20",
    "RK4 ResNet-20: classical RK4 steps sharing one F per step (RK-Net).",
    scheme="rk4",
    depth=20,
    tie="stages",
)
_define(
    "ode_resnet",
    "ODE-ResNet: one F per stage (tie='all'), RK4 steps; re-evaluable in depth.",
    scheme="rk4",
    depth=20,
    tie="all",
)

# Stochastic blocks as Euler–Maruyama steps (Lu et al. 2018, §3); see docs/stochastic.md.
_define(
    "shake_shake26_2x32d",
    "Shake-Shake-26 2x32d: two-branch EM blocks, widths 32/64/128 (Gastaldi 2017; 2.9M).",
    scheme="euler_maruyama",
    depth=26,
    widths=(32, 64, 128),
    field="shake",
    shortcut="conv",
    noise="shake_shake",
)
_define(
    "shake_shake26_2x96d",
    "Shake-Shake-26 2x96d: two-branch EM blocks, widths 96/192/384 (Gastaldi 2017; 26.2M).",
    scheme="euler_maruyama",
    depth=26,
    widths=(96, 192, 384),
    field="shake",
    shortcut="conv",
    noise="shake_shake",
)
_define(
    "stochastic_depth_resnet110",
    "ResNet-110 with stochastic depth, linear survival to p_L = 0.5 (Huang et al. 2016).",
    scheme="euler_maruyama",
    depth=110,
    # one gate per block and mini-batch, as in Huang et al.'s implementation: a dropped block
    # is skipped outright (per="sample" gates each sample, Lu et al.'s SDE reading)
    noise=StochasticDepth(survival=0.5, per="batch"),
)
_define(
    "lm_resnet56_sd",
    "Stochastic LM-ResNet-56: LM steps with stochastic depth, p_L = 0.8 (Lu et al. 2018).",
    scheme="lm",
    depth=56,
    noise=StochasticDepth(survival=0.8),
)
_define(
    "lm_resnet110_sd",
    "Stochastic LM-ResNet-110: LM steps with stochastic depth, p_L = 0.5 (Lu et al. 2018).",
    scheme="lm",
    depth=110,
    noise=StochasticDepth(survival=0.5),
)

# Implicit and coupled schemes (see docs/implicit.md, docs/reversible.md).
_define(
    "polynet20",
    "PolyNet-20: backward Euler blocks as the order-2 series x + F(x) + F(F(x)) (0.27M).",
    scheme="backward_euler",
    depth=20,
    tie="stages",
    options={"solver": "series", "order": 2},
)
_define(
    "mpolynet20",
    "mpoly-20: backward Euler series with distinct F, G: x + F(x) + G(F(x)) (0.47M).",
    scheme="backward_euler",
    depth=20,
    tie="none",
    options={"solver": "series", "order": 2},
)
_define(
    "revnet38",
    "RevNet-38: coupled Euler, 3 units of [F, G] per stage, widths 32/64/112 (0.47M).",
    scheme="coupled_euler",
    depth=38,
    widths=(32, 64, 112),
)
_define(
    "revnet110",
    "RevNet-110: coupled Euler, 9 units of [F, G] per stage, widths 32/64/128 (1.73M).",
    scheme="coupled_euler",
    depth=110,
    widths=(32, 64, 128),
)
_define(
    "revnet164",
    "RevNet-164: coupled Euler, bottleneck [F, G], widths 128/256/512 (1.67M).",
    scheme="coupled_euler",
    depth=164,
    widths=(128, 256, 512),
    field="bottleneck",
)
