"""Named presets: ``@register_model`` recipes with their :class:`ModelInfo` records,
``create_model`` (timm's signature) and ``list_models``.

A preset is a recipe over :class:`~odenets.SolverNet`; keyword overrides pass straight through
(an unknown keyword is a ``TypeError`` naming it). Every preset carries a
:class:`~odenets.networks.model_info.ModelInfo` (paper, reference code, parameter count,
reported error, the scheme it is and how exactly): :func:`model_info` returns it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from .._validate import unknown_name
from .model_info import BLOCK_KINDS, ModelInfo
from .nets import SolverNet
from .noise import StochasticDepth

__all__ = [
    "BLOCK_KINDS",
    "ModelInfo",
    "create_model",
    "list_models",
    "model_info",
    "register_model",
    "unregister_model",
]

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_INFO: dict[str, ModelInfo] = {}


def _doc_line(fn: Callable) -> str:
    lines = (getattr(fn, "__doc__", None) or "").strip().splitlines()
    return lines[0].strip() if lines else ""


def register_model(
    fn: Callable[..., nn.Module] | None = None, *, info: ModelInfo | None = None
) -> Any:
    """Register ``fn`` under its ``__name__`` with its record ``info``; a duplicate name is a
    ``ValueError``. Use as ``@register_model``, ``@register_model(info=ModelInfo(...))`` or
    ``register_model(fn, info=...)``.

    Without ``info`` the record holds the first docstring line as its description and says
    that no reference parameter count is recorded.
    """
    if fn is None:
        return lambda f: register_model(f, info=info)
    if not callable(fn):
        raise TypeError(f"register_model expects a function, got {type(fn).__name__}")
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered")
    if info is None:
        info = ModelInfo(
            name,
            _doc_line(fn) or name,
            params_note="not recorded: the preset was registered without a ModelInfo",
        )
    if not isinstance(info, ModelInfo):
        raise TypeError(f"info must be a ModelInfo, got {type(info).__name__}")
    if info.name != name:
        raise ValueError(f"ModelInfo name {info.name!r} differs from the preset name {name!r}")
    _MODELS[name] = fn
    _INFO[name] = info
    return fn


def unregister_model(name: str) -> Callable[..., nn.Module]:
    """Remove the preset ``name`` (and its record) and return its function."""
    _lookup(name)
    del _INFO[name]
    return _MODELS.pop(name)


def list_models() -> list[str]:
    """Sorted names of the registered presets."""
    return sorted(_MODELS)


def _lookup(name: str) -> Callable[..., nn.Module]:
    if not isinstance(name, str):
        raise TypeError(f"model name must be a str, got {type(name).__name__}")
    try:
        return _MODELS[name]
    except KeyError:
        raise unknown_name("model", name, _MODELS) from None


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build the preset ``name`` with keyword ``overrides`` (e.g. ``num_classes=100``)."""
    return _lookup(name)(**overrides)


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` record of the preset ``name`` (``.description`` is the one line
    ``odenets list`` prints)."""
    _lookup(name)
    return _INFO[name]


def _preset(**recipe: Any) -> Callable[..., SolverNet]:
    def build(**overrides: Any) -> SolverNet:
        return SolverNet(**{**recipe, **overrides})

    return build


def _define(
    name: str, doc: str, *, info: ModelInfo | Mapping[str, Any] | None = None, **recipe: Any
) -> None:
    """Register the preset ``name``: ``SolverNet(**recipe)``, described by ``doc`` (one line)
    and the record ``info`` (a :class:`ModelInfo`, or a dict of its fields other than
    ``name`` and ``description``)."""
    fn = _preset(**recipe)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    if isinstance(info, Mapping):
        info = ModelInfo(name, doc, **info)
    register_model(fn, info=info)


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
