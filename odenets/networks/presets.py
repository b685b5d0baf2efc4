"""Named presets: ``@register_model`` recipes, ``create_model`` and ``list_models``.

A preset is a three-line recipe over :class:`~odenets.SolverNet`; keyword overrides pass
straight through (an unknown keyword is a ``TypeError`` naming it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._validate import unknown_name
from .fractal import FractalNet
from .nets import SolverNet
from .noise import ShakeShake, StochasticDepth

__all__ = [
    "create_model",
    "list_models",
    "model_info",
    "reference_record",
    "register_model",
    "unregister_model",
]

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
# Each preset is the reference code's network, layer for layer; `_REFERENCES` records, per
# preset, the paper, the code it reproduces, the parameter count there, and whether the block
# is exactly the scheme step or a named variant (the content of the per-preset metadata).
# =============================================================================================

_REFERENCES: dict[str, dict[str, Any]] = {}

#: BatchNorm of the TensorFlow reference code (RevNet, Hamiltonian nets): eps 1e-3, decay 0.99.
_TF_NORM = {"eps": 1e-3, "momentum": 0.01}


def _reference(name: str, **record: Any) -> None:
    _REFERENCES[name] = record


def reference_record(name: str) -> dict[str, Any]:
    """What a shake-shake / RevNet / Hamiltonian / FractalNet preset reproduces: ``paper``,
    ``code``, ``params`` (the count of the reference code's layers), ``paper_params``,
    ``cifar10_error`` (as reported, with its source), ``scheme``, ``exact`` (True: the block
    is exactly the scheme step of the reference network; False: a named variant), ``differs``
    and ``format`` (the weight layout :mod:`odenets.networks.reference_other` reads)."""
    _lookup(name)
    if name not in _REFERENCES:
        raise ValueError(f"preset {name!r} has no reference record in this section")
    return dict(_REFERENCES[name])


_GASTALDI = "Gastaldi 2017, Shake-Shake regularization (arXiv 1705.07485)"
_HYSTS = (
    "hysts/pytorch_shake_shake@0a40ddd (PyTorch); author's Torch code xgastaldi/shake-shake@e799d87"
)
for _w, _params, _err in ((32, 2_923_162, "3.55"), (96, 26_192_922, "2.86")):
    _name = f"shake_shake26_2x{_w}d"
    _define(
        _name,
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
    )
    _reference(
        _name,
        paper=_GASTALDI,
        code=_HYSTS,
        params=_params,
        paper_params=f"{_params / 1e6:.1f}M (as quoted in issue 10; paper table not read here)",
        cifar10_error=f"{_err}% (S-S-I; 'in paper' column of the hysts README, not checked "
        "against the paper)",
        scheme="euler_maruyama + ShakeShake(independent_backward=True)",
        exact=True,
        differs="none: same layers, counts and training semantics as hysts (alpha per sample "
        "forward, independent beta per sample backward, 0.5 in evaluation); the shortcut's "
        "shifted path reads pixel (i+1, j+1) as hysts, the author's Torch code (i-1, j-1)",
        format="hysts",
    )

_GOMEZ = "Gomez, Ren, Urtasun, Grosse, NeurIPS 2017 (arXiv 1707.04585)"
_REN = "renmengye/revnet-public@5486f61 (TensorFlow)"
for _depth, _widths, _field, _shortcut, _params in (
    (38, (32, 64, 112), "preact_tf", "pool_pad", 464_890),
    (110, (32, 64, 128), "preact_tf", "pool_pad", 1_729_194),
    (164, (128, 256, 512), "preact_bottleneck_tf", "project", 1_748_778),
):
    _name = f"revnet{_depth}"
    _define(
        _name,
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
    )
    _reference(
        _name,
        paper=_GOMEZ,
        code=_REN,
        params=_params,
        paper_params="0.46M / 1.73M / 1.75M for RevNet-38/110/164 (as quoted in issue 10; "
        "paper table not read here)",
        cifar10_error="not verified here (paper table not reachable)",
        scheme="coupled_euler",
        exact=True,
        differs="none: same layers and counts as the TensorFlow code (pre-activation F, G; the "
        "first unit's F without BN-ReLU; "
        + (
            "1x1 projection shortcuts, stride on the first 1x1"
            if _depth == 164
            else "2x2 average pool + symmetric zero channels; TensorFlow SAME padding"
        )
        + "; BN eps 1e-3)",
        format="revnet_tf",
    )

_CHANG = "Chang, Meng, Haber, Ruthotto, Begert, Holtham, AAAI 2018 (arXiv 1709.03698)"
_CHANG_CODE = "changebo/revnet-public@689054c (branch ham1122, TensorFlow)"
_HAMILTONIAN = {
    38: ((32, 64, 112), 191_050),
    74: ((32, 64, 112), 432_010),
    110: ((32, 64, 128), 811_914),
    218: ((32, 64, 128), 1_690_890),
}
for _depth, (_widths, _params) in _HAMILTONIAN.items():
    for _scheme, _prefix in (
        ("coupled_euler", "hamiltonian_resnet"),
        ("verlet", "hamiltonian_verlet_"),
    ):
        _name = f"{_prefix}{_depth}"
        _exact = _scheme == "coupled_euler"
        _define(
            _name,
            f"Hamiltonian-{_depth} (Chang et al. 2018): "
            + (
                "Y + h K1^T s(K1 Z), Z - h K2^T s(K2 Y+) per block (the authors' update)"
                if _exact
                else "Störmer–Verlet variant: half kick of Y, full kick of Z, half kick of Y"
            )
            + f", widths {'/'.join(map(str, _widths))}, pooling transitions.",
            scheme=_scheme,
            depth=_depth,
            widths=_widths,
            field="hamiltonian",
            shortcut="pool_pad",
            transition="after",
            preact_first=False,
            norm=_TF_NORM,
        )
        _reference(
            _name,
            paper=_CHANG,
            code=_CHANG_CODE,
            params=_params,
            paper_params="not verified (paper table not reachable); the count here is the one "
            "of the authors' code's layers (docs/reversible.md)",
            cifar10_error="not verified here (paper table not reachable)",
            scheme=_scheme,
            exact=_exact,
            differs=(
                "none: same layers and counts as the authors' code (h = 1 as its config; the "
                "first block's F without BN1; no learned downsampling: the first block of a "
                "stage runs at the old width, then 2x2 average pool + symmetric zero channels)"
                if _exact
                else "named variant: each block is a Störmer–Verlet step (Y half step with F, "
                "Z full step with -G at the midpoint, Y half step with F), 3 field "
                "evaluations instead of 2, same layers and parameters; not the authors' network"
            ),
            format="hamiltonian_tf",
        )


def _define_network(cls: Callable[..., Any], name: str, doc: str, **recipe: Any) -> None:
    def build(**overrides: Any) -> Any:
        return cls(**{**recipe, **overrides})

    build.__name__ = build.__qualname__ = name
    build.__doc__ = doc
    register_model(build)


_LARSSON = "Larsson, Maire, Shakhnarovich, ICLR 2017 (arXiv 1605.07648)"
for _columns, _params in ((3, 33_714_314), (4, 76_084_554)):
    _name = f"fractalnet{5 * 2 ** (_columns - 1)}"
    _define_network(
        FractalNet,
        _name,
        f"FractalNet-{5 * 2 ** (_columns - 1)} (Larsson et al. 2017): {_columns} columns, 5 "
        "blocks of widths 64-128-256-512-512, mean joins, local + global drop-path (not a "
        "scheme step: no identity path).",
        columns=_columns,
    )
    _reference(
        _name,
        paper=_LARSSON,
        code="gustavla/fractalnet@7d07da6 (Caffe generation script and FractalJoin layer)",
        params=_params,
        paper_params="not verified (paper table not reachable)",
        cifar10_error="not verified here (paper table not reachable)",
        scheme=None,
        exact=True,
        differs="layers as the authors' Caffe generation script (conv3x3 with bias, dropout "
        "0/0.1/0.2/0.3/0.4 per block, BatchNorm without scale, ReLU; max-pool before each "
        "block's last join; local drop-path 15% per join and mini-batch); global drop-path, "
        "absent from the public code, follows the paper's description (one column for the "
        "whole network, half of the mini-batches); the script's default is 3 columns",
        format="fractalnet_caffe",
    )
