"""The built-in presets: recipes over :class:`~odenets.SolverNet`, each registered with its
:class:`~odenets.networks.model_info.ModelInfo` record (paper, reference code, parameter
count, reported error, the scheme it is and how exactly); ``docs/models.md`` is generated from
the records (``python -m odenets.networks.catalog``).

The registry and timm's model API (``create_model``, ``list_models``, ``model_info``,
``register_model``) live in :mod:`odenets.networks.model_registry` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from . import reference, reference_other
from .fractal import FractalNet
from .model_info import BLOCK_KINDS, ModelInfo
from .model_registry import (
    Preset,
    create_model,
    list_models,
    model_info,
    register_model,
    register_reference_format,
    unregister_model,
)
from .noise import ShakeShake, StochasticDepth

__all__ = [
    "BLOCK_KINDS",
    "ModelInfo",
    "Preset",
    "create_model",
    "list_models",
    "model_info",
    "register_model",
    "unregister_model",
]


def _define(
    name: str, doc: str, *, info: ModelInfo | Mapping[str, Any] | None = None, **recipe: Any
) -> None:
    """Register the preset ``name``: ``SolverNet(**recipe)``, described by ``doc`` (one line)
    and the record ``info`` (a :class:`ModelInfo`, or a dict of its fields other than
    ``name`` and ``description``)."""
    if isinstance(info, Mapping):
        info = ModelInfo(name, doc, **info)
    register_model(Preset(name, doc, recipe), info=info)


# ============================================================================================
# The ResNet lineage: He et al.'s ResNets, the pre-activation (literal Euler) variants,
# LM-ResNets (Lu et al.), Momentum ResNets on He's layout (Sander et al.) — each the published
# network, with its reference code and reported error.
# ============================================================================================

_HE = (
    "He, Zhang, Ren, Sun, Deep Residual Learning for Image Recognition, CVPR 2016 "
    "(arXiv 1512.03385), §4.2"
)
_HE_PREACT = (
    "He, Zhang, Ren, Sun, Identity Mappings in Deep Residual Networks, ECCV 2016 (arXiv 1603.05027)"
)
_LU = (
    "Lu, Zhong, Li, Dong, Beyond Finite Layer Neural Networks: Bridging Deep Architectures "
    "and Numerical Differential Equations, ICML 2018 (arXiv 1710.10121)"
)
_SANDER = "Sander, Ablin, Blondel, Peyré, Momentum Residual Neural Networks, ICML 2021"
_AKAMASTER = "https://github.com/akamaster/pytorch_resnet_cifar10"
_LM_CODE = "https://github.com/2prime/LM-ResNet"
_RELU_AFTER = "ReLU after the addition: y = ReLU(x + F(x)), the projection onto x >= 0"
_LM_UNUSED = 1091  # MResNet parameters outside the forward pass (see the lm_resnet records)
#: The authors' LM-ResNet (2prime/LM-ResNet): pre-activation fields, a bare conv stem,
#: BN-ReLU-1x1-conv transitions, the paper's update (F not rescaled).
_LM_RECIPE = {
    "scheme": "lm",
    "options": {"form": "paper"},
    "field": "preact",
    "stem": "conv",
    "shortcut": "preact_conv",
    "head": "bn_relu",
}

#: He et al. 2016a, Table 6 (CIFAR-10 test error, %); the reference counts of resnet.py.
_RESNETS = {
    20: (269_722, 8.75, "resnet20-12fca82f.th"),
    32: (464_154, 7.51, "resnet32-d509ac18.th"),
    44: (658_586, 7.17, "resnet44-014dd654.th"),
    56: (853_018, 6.97, "resnet56-4bfd9763.th"),
    110: (1_727_962, 6.43, "resnet110-1d1ed7c2.th"),
}


def _lm_params(depth: int) -> int:
    """Parameters of LM-ResNet-``depth`` that enter the forward pass of the authors' MResNet:
    He et al.'s count (pre-activation moves the BNs, it does not add any), the two
    BN-ReLU-conv1x1 transition shortcuts (16 -> 32: 544, 32 -> 64: 2,112) and one k per LM
    step (3n - 3: every block but the three that open a stage)."""
    n = (depth - 2) // 6
    return _RESNETS[depth][0] + 544 + 2_112 + 3 * n - 3


for _depth, (_params, _error, _weights) in _RESNETS.items():
    _define(
        f"resnet{_depth}",
        f"ResNet-{_depth} (He et al. 2016a, option A): Euler steps, each followed by a ReLU.",
        info={
            "paper": _HE,
            "code": _AKAMASTER,
            "params": _params,
            "params_note": f"resnet.py of the reference code, resnet{_depth}()",
            "cifar10_error": _error,
            "error_source": "He et al. 2016a, Table 6"
            + ("; best of 5 runs, mean 6.61 ± 0.16" if _depth == 110 else ""),
            "scheme": "euler",
            "block": "projected",
            "projection": _RELU_AFTER,
            "weights": f"{_AKAMASTER}/raw/master/pretrained_models/{_weights}",
        },
        scheme="euler",
        depth=_depth,
        shortcut="pad",
        head="pool",
        project="relu",
    )
    _define(
        f"preact_resnet{_depth}",
        f"Pre-activation ResNet-{_depth}: exactly x + F(x) (Euler), BN-ReLU-conv units, final "
        "BN-ReLU (He et al. 2016b).",
        info={
            "paper": _HE_PREACT,
            "code": "https://github.com/facebookarchive/fb.resnet.torch (models/preresnet.lua)",
            "params": _params,
            "params_note": f"the count of resnet{_depth} and of fb.resnet.torch's CIFAR "
            f"preresnet-{_depth} (the BNs move, their number does not); that code's first unit "
            "of each stage applies its BN-ReLU to both paths ('both_preact') and pads new "
            "channels at the end: here every unit is x + F(x), padded on both sides",
            "cifar10_error": 6.37 if _depth == 110 else None,
            "error_source": "He et al. 2016b, Table 3 (ResNet-110, full pre-activation)"
            if _depth == 110
            else "He et al. 2016b reports pre-activation CIFAR-10 errors only for ResNet-110, "
            "-164 and -1001",
            "scheme": "euler",
            "block": "exact",
            "variant_of": f"resnet{_depth}",
        },
        scheme="euler",
        depth=_depth,
        field="preact",
        stem="conv",
        shortcut="pad",
        head="bn_relu",
    )
    _define(
        f"lm_resnet{_depth}",
        f"LM-ResNet-{_depth} (Lu et al. 2018, authors' code): (1-k) u_n + k u_(n-1) + F(u_n), "
        "pre-activation, one learned k per step.",
        info={
            "paper": _LU,
            "code": f"{_LM_CODE} (MResNet.py, MResNet with pretrain=False)",
            "params": _lm_params(_depth),
            "params_note": "the parameters of the authors' MResNet that enter its forward pass; "
            f"the module holds {_LM_UNUSED:,} more that never do (bn1 after the stem: 32, the "
            "bottleneck-only downsample1: 1,056, and the k of the 3 stage-opening blocks)",
            "error_source": "not recorded: the paper's CIFAR-10 table could not be read from "
            "the sources available to this record",
            "scheme": "lm",
            "block": "exact",
        },
        depth=_depth,
        **_LM_RECIPE,
    )

for _depth in (20, 56, 110):
    _define(
        f"momentum_resnet{_depth}",
        f"Momentum ResNet-{_depth}: resnet{_depth} whose non-downsampling blocks are momentum "
        "steps v <- 0.9 v + 0.1 F(x), x <- x + v, velocity 0 per stage (Sander et al. 2021).",
        info={
            "paper": _SANDER,
            "code": "https://github.com/michaelsdr/momentumnet",
            "params_note": f"no reference network of this shape: Sander et al.'s CIFAR "
            "Momentum ResNets are ResNet-18/34/101 (4 stages of widths 64-512, projection "
            "shortcuts, their first block per stage ordinary; mResNet-18: 11,173,962 on "
            f"CIFAR-10); this preset has exactly resnet{_depth}'s {_RESNETS[_depth][0]:,}",
            "error_source": "the paper reports no network of this shape",
            "scheme": "momentum",
            "block": "projected",
            "projection": "ReLU after each transition (He et al.'s downsampling blocks); the "
            "momentum steps are not projected, as in Sander et al.'s MBasicBlock",
            "variant_of": f"resnet{_depth}",
        },
        scheme="momentum",
        depth=_depth,
        shortcut="pad",
        head="pool",
        project="relu",
        project_at="transitions",
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
    "ResNet-110 with stochastic depth (Huang et al. 2016): one gate per block and batch, "
    "linear survival to p_L = 0.5, test-time scaling.",
    info={
        "paper": "Huang, Sun, Liu, Sedra, Weinberger, Deep Networks with Stochastic Depth, ECCV "
        "2016 (arXiv 1603.09382)",
        "code": "https://github.com/yueatsprograms/Stochastic_Depth (main.lua, ResidualDrop.lua)",
        "params": 1_732_010,
        "params_note": "the Torch model of main.lua (N = 18): He et al.'s ResNet-110 with a "
        "bias on every convolution (4,048 more, cancelled by the BNs after them), 2x2 "
        "average-pooling + zero-padding (at the end) shortcuts",
        "cifar10_error": 5.25,
        "error_source": "Huang et al. 2016, Table 1 (CIFAR-10+, 110 layers; also the "
        "reference code's README)",
        "scheme": "euler_maruyama",
        "block": "projected",
        "projection": "ReLU after the addition, y = ReLU(x + b F(x)), b ~ Bernoulli(p_l) per "
        "mini-batch; evaluation ReLU(x + p_l F(x))",
    },
    scheme="euler_maruyama",
    depth=110,
    shortcut="avgpool_pad_end",
    head="pool",
    project="relu",
    conv_bias=True,
    # one gate per block and mini-batch, as in Huang et al.'s code: a dropped block is skipped
    noise=StochasticDepth(survival=0.5, schedule="linear", per="batch", rescale="test"),
)
for _depth, _last in ((56, 0.8), (110, 0.5)):
    _define(
        f"lm_resnet{_depth}_sd",
        f"Stochastic LM-ResNet-{_depth} (Lu et al. 2018, authors' code): lm_resnet{_depth} "
        f"with stochastic depth, death rate i/(n-1)(1-p_L), p_L = {_last}, survivors rescaled.",
        info={
            "paper": _LU,
            "code": f"{_LM_CODE} (MResNet.py, MResNet(BasicBlockWithDeathRate, "
            f"stochastic_depth=True, PL={_last}))",
            "params": _lm_params(_depth),
            "params_note": f"as lm_resnet{_depth} (the stochastic blocks have the same layers)",
            "error_source": "not recorded: the paper's CIFAR-10 table could not be read from "
            "the sources available to this record",
            "scheme": "lm",
            "block": "exact",
        },
        depth=_depth,
        **_LM_RECIPE,
        # the authors' rule: one draw per block and forward, death rate i/(n-1)(1-p_L) for
        # block i = 0..n-1, a surviving F divided by its survival in training, none at test
        noise=StochasticDepth(survival=_last, schedule="linspace", per="batch", rescale="train"),
    )

# The authors' checkpoints load into the presets (odenets.networks.reference).
for _depth in _RESNETS:
    register_reference_format(f"resnet{_depth}", reference.akamaster_resnet(_depth))
    register_reference_format(f"lm_resnet{_depth}", reference.lm_resnet(_depth))
for _depth in (56, 110):
    register_reference_format(f"lm_resnet{_depth}_sd", reference.lm_resnet(_depth))

# Implicit and coupled schemes (see docs/implicit.md, docs/reversible.md).
_POLYNET = {
    "paper": "Zhang, Li, Loy, Lin, PolyNet: A Pursuit of Structural Diversity in Very Deep "
    "Networks, CVPR 2017 (arXiv 1611.05725)",
    "params_note": "no reference network: the paper's PolyNets are ImageNet networks built from "
    "Inception-ResNet-v2 blocks; this preset puts its poly-2 / mpoly-2 unit into the ResNet-20 "
    "layout",
    "error_source": "the paper reports ImageNet results only",
    "scheme": "backward_euler",
    "block": "analogy",
}
_define(
    "polynet20",
    "PolyNet-20: backward Euler blocks as the order-2 series x + F(x) + F(F(x)) (0.27M).",
    info=dict(_POLYNET, variant_of=None),
    scheme="backward_euler",
    depth=20,
    tie="stages",
    options={"solver": "series", "order": 2},
)
_define(
    "mpolynet20",
    "mpoly-20: backward Euler series with distinct F, G: x + F(x) + G(F(x)) (0.47M).",
    info=dict(_POLYNET, variant_of=None),
    scheme="backward_euler",
    depth=20,
    tie="none",
    options={"solver": "series", "order": 2},
)


# =============================================================================================
# Shake-shake, RevNet, Hamiltonian networks and FractalNet: the published networks.
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
    (38, (32, 64, 112), "preact_tf", "avgpool_pad", 464_890),
    (110, (32, 64, 128), "preact_tf", "avgpool_pad", 1_729_194),
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
        "shortcut": "avgpool_pad",
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

# The reference implementations' weights load into these presets (reference_other).
for _name in list_models(["shake_shake26_*", "revnet*", "hamiltonian_*", "fractalnet*"]):
    register_reference_format(_name, reference_other.converter(_name))
