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
from .fractal import FractalNet
from .model_info import BLOCK_KINDS, ModelInfo
from .nets import SolverNet
from .noise import ShakeShake, StochasticDepth

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


# =============================================================================================
# Shake-shake, RevNet, Hamiltonian networks and FractalNet: the published networks (issue 10).
# Each preset is the reference code's network, layer for layer, with its ModelInfo record;
# odenets.networks.reference_other loads the reference code's weights (docs/models.md).
# =============================================================================================

#: BatchNorm of the TensorFlow reference code (RevNet, Hamiltonian nets): eps 1e-3, decay 0.99.
_TF_NORM = {"eps": 1e-3, "momentum": 0.01}
_UNREAD = "not verified here: the paper's results table could not be read"

_GASTALDI = "Gastaldi 2017, Shake-Shake regularization (arXiv 1705.07485)"
_HYSTS = (
    "https://github.com/hysts/pytorch_shake_shake/tree/0a40ddd8e3526e9f1cd5510fbf55d684512b17c4"
)
for _w, _params, _err in ((32, 2_923_162, 3.55), (96, 26_192_922, 2.86)):
    _define(
        f"shake_shake26_2x{_w}d",
        f"Shake-Shake-26 2x{_w}d (Gastaldi 2017): Shake-Shake-Image blocks as Euler–Maruyama "
        f"steps, 16-channel stem, widths {_w}/{2 * _w}/{4 * _w}, two-path shortcuts.",
        scheme="euler_maruyama",
        depth=26,
        widths=(_w, 2 * _w, 4 * _w),
        field="shake",
        shortcut="two_path",
        noise=ShakeShake(independent_backward=True),
        stem="conv_bn",
        stem_width=16,
        head="relu",
        info={
            "paper": _GASTALDI,
            "code": _HYSTS,
            "params": _params,
            "params_note": "the layers of hysts/pytorch_shake_shake's Network (depth 26, "
            f"base_channels {_w}); the author's Torch code (xgastaldi/shake-shake) has the same",
            "cifar10_error": _err,
            "error_source": "Shake-Shake-Image, as the 'in paper' column of the "
            "hysts/pytorch_shake_shake README quotes Gastaldi 2017 (average of 3 / 5 runs); "
            "the paper's table itself not read here",
            "scheme": "euler_maruyama",
            "block": "exact",
        },
    )

_GOMEZ = "Gomez, Ren, Urtasun, Grosse, NeurIPS 2017 (arXiv 1707.04585)"
_REN = "https://github.com/renmengye/revnet-public/tree/5486f6147bb1b61577e8be5db74461b07256bd3d"
for _depth, _widths, _field, _shortcut, _params in (
    (38, (32, 64, 112), "preact_tf", "pool_pad", 464_890),
    (110, (32, 64, 128), "preact_tf", "pool_pad", 1_729_194),
    (164, (128, 256, 512), "preact_bottleneck_tf", "project", 1_748_778),
):
    _define(
        f"revnet{_depth}",
        f"RevNet-{_depth} (Gomez et al. 2017): coupled Euler units of pre-activation "
        + ("bottlenecks" if _depth == 164 else "basic fields")
        + f", widths {'/'.join(map(str, _widths))}, the memory-saving backward.",
        scheme="coupled_euler",
        depth=_depth,
        widths=_widths,
        field=_field,
        shortcut=_shortcut,
        stem_width=32,
        preact_first=False,
        norm=_TF_NORM,
        info={
            "paper": _GOMEZ,
            "code": _REN,
            "params": _params,
            "params_note": f"the layers of the TensorFlow code's revnet-{_depth} config "
            "(the paper's table rounds to 0.46M / 1.73M / 1.75M)",
            "error_source": _UNREAD,
            "scheme": "coupled_euler",
            "block": "exact",
        },
    )

_CHANG = "Chang, Meng, Haber, Ruthotto, Begert, Holtham, AAAI 2018 (arXiv 1709.03698)"
_CHANG_CODE = (
    "https://github.com/changebo/revnet-public/tree/689054c977558ab904f4883a4191c05f2b5b3fff"
)
_HAMILTONIAN = {
    38: ((32, 64, 112), 191_050),
    74: ((32, 64, 112), 432_010),
    110: ((32, 64, 128), 811_914),
    218: ((32, 64, 128), 1_690_890),
}
for _depth, (_widths, _params) in _HAMILTONIAN.items():
    _recipe = {
        "depth": _depth,
        "widths": _widths,
        "field": "hamiltonian",
        "shortcut": "pool_pad",
        "transition": "after",
        "preact_first": False,
        "norm": _TF_NORM,
        # the authors' initialisation: a zero start of K^T s(K z) trains far worse
        "zero_init": False,
    }
    _info = {
        "paper": _CHANG,
        "code": _CHANG_CODE,
        "params": _params,
        "params_note": f"the layers of the authors' hamiltonian-{_depth} config (branch "
        "ham1122); the paper's table not read here",
        "error_source": _UNREAD,
        "block": "exact",
    }
    _define(
        f"hamiltonian_resnet{_depth}",
        f"Hamiltonian-{_depth} (Chang et al. 2018): Y + h K1^T s(K1 Z), Z - h K2^T s(K2 Y) "
        f"per block (coupled Euler), widths {'/'.join(map(str, _widths))}, pooling transitions.",
        scheme="coupled_euler",
        info={**_info, "scheme": "coupled_euler"},
        **_recipe,
    )
    _define(
        f"hamiltonian_verlet_{_depth}",
        f"Hamiltonian-{_depth} as Störmer–Verlet steps (a variant of hamiltonian_resnet"
        f"{_depth}: Y half step, Z step, Y half step; 3 field calls per block, same weights).",
        scheme="verlet",
        info={**_info, "scheme": "verlet", "variant_of": f"hamiltonian_resnet{_depth}"},
        **_recipe,
    )


def _define_network(
    cls: Callable[..., nn.Module], name: str, doc: str, info: Mapping[str, Any], **recipe: Any
) -> None:
    """Register ``cls(**recipe)`` (a network other than SolverNet) as the preset ``name``."""

    def build(**overrides: Any) -> nn.Module:
        return cls(**{**recipe, **overrides})

    build.__name__ = build.__qualname__ = name
    build.__doc__ = doc
    register_model(build, info=ModelInfo(name, doc, **info))


_LARSSON = "Larsson, Maire, Shakhnarovich, ICLR 2017 (arXiv 1605.07648)"
_LARSSON_CODE = (
    "https://github.com/gustavla/fractalnet/tree/7d07da608401638b281407c031eb3e05e08196df"
)
for _columns, _params in ((3, 33_714_314), (4, 76_084_554)):
    _name = f"fractalnet{5 * 2 ** (_columns - 1)}"
    _define_network(
        FractalNet,
        _name,
        f"FractalNet-{5 * 2 ** (_columns - 1)} (Larsson et al. 2017): {_columns} columns, 5 "
        "blocks 64-128-256-512-512, mean joins, drop-path; not a scheme step (no identity path).",
        info={
            "paper": _LARSSON,
            "code": _LARSSON_CODE,
            "params": _params,
            "params_note": "the layers the authors' Caffe generation script writes for "
            f"{_columns} columns (conv3x3 with bias, BatchNorm without scale); the paper's "
            "table not read here",
            "error_source": _UNREAD,
        },
        columns=_columns,
    )
