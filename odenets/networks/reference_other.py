"""Load the weights of the reference implementations into the shake-shake, RevNet,
Hamiltonian and FractalNet presets.

Each preset reads the layout of its reference code (:func:`reference_layout`; the presets
register :func:`converter` with :func:`~odenets.networks.model_registry.register_reference_format`,
so ``create_model(name, pretrained=path)`` also reads these layouts from a ``torch.save`` file):

* ``"hysts"`` — a PyTorch ``state_dict`` of hysts/pytorch_shake_shake's ``Network``
  (``conv``, ``bn``, ``stage{s}.block{b}.residual_path{1,2}.{conv,bn}{1,2}``,
  ``stage{s}.block1.shortcut.skip.{conv1,conv2,bn}``, ``fc``);
* ``"revnet_tf"`` / ``"hamiltonian_tf"`` — TensorFlow variables by name, as
  ``tf.train.load_checkpoint(path)`` lists them for renmengye/revnet-public and
  changebo/revnet-public (``init/init_conv/w``, ``unit_{s}_{i}/f/sub1/bn1/gamma``, ...,
  ``unit_last/final_bn/...``, ``logit/w``), any common prefix such as ``Model/`` allowed;
  kernels are HWIO (transposed to OIHW), ``logit/w`` is ``(in, out)``, BatchNorm ``gamma``,
  ``beta``, ``ema_mean``, ``ema_var``;
* ``"fractalnet_caffe"`` — Caffe blobs by layer name, as pycaffe's ``net.params`` gives them
  for a net written by gustavla/fractalnet's generation script (``conv{c}_{k}``: weight and
  bias; ``batch_conv{c}_{k}``: the BatchNorm sums and their scale factor; ``prediction0``).
  ``c`` is the column (``2^c`` units per block), ``k`` counts that column's units over the
  whole network.

Values may be NumPy arrays or tensors. Every tensor of the model must be found (BatchNorm's
``num_batches_tracked``, which TensorFlow and Caffe do not store, keeps its value); a
reference entry the model does not use is an error for the PyTorch and Caffe layouts (a
TensorFlow checkpoint also holds optimizer slots and counters, which are ignored).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .._validate import unknown_name
from .fields import HamiltonianField
from .fractal import FractalNet
from .model_registry import create_model, list_models
from .shortcuts import HalvesShortcut, TwoPathShortcut
from .stages import StepThenShortcut

__all__ = [
    "FORMATS",
    "converter",
    "load_reference_state_dict",
    "reference_layout",
    "reference_to_state_dict",
]

#: A mapping rule: our state_dict key -> (reference key, transform of the reference value).
_Rule = tuple[str, str, Callable[[Any], Tensor]]


def _tensor(value: Any) -> Tensor:
    if isinstance(value, Tensor):
        return value.detach()
    return torch.as_tensor(np.asarray(value))


def _same(value: Any) -> Tensor:
    return _tensor(value)


def _hwio(value: Any) -> Tensor:
    """A TensorFlow kernel (H, W, in, out) as a PyTorch one (out, in, H, W)."""
    t = _tensor(value)
    if t.ndim == 4:
        return t.permute(3, 2, 0, 1)
    if t.ndim == 3:  # conv1d (W, in, out)
        return t.permute(2, 1, 0)
    raise ValueError(f"expected a convolution kernel (H, W, in, out), got shape {tuple(t.shape)}")


def _transpose(value: Any) -> Tensor:
    return _tensor(value).T


def _units(model: nn.Module) -> Iterator[tuple[int, int, nn.Module, str]]:
    """``(stage, index in stage, unit, its state_dict prefix)`` for every residual unit: the
    stage's transition (if any) first, then its blocks."""
    for s, stage in enumerate(model.stages):
        units = ([("transition", stage.transition)] if stage.transition is not None else []) + [
            (f"blocks.{j}", b) for j, b in enumerate(stage.blocks)
        ]
        for i, (path, unit) in enumerate(units):
            yield s, i, unit, f"stages.{s}.{path}."


def _module_rules(module: nn.Module, ours: str, ref: str, names: Mapping[str, str]) -> list[_Rule]:
    """Rules for every tensor of ``module`` (prefix ``ours``): submodule ``a`` -> ``ref + names[a]``
    with the PyTorch tensor names kept (a PyTorch reference)."""
    rules = []
    for key in module.state_dict():
        sub, _, leaf = key.rpartition(".")
        rules.append((ours + key, ref + names.get(sub, sub) + "." + leaf, _same))
    return rules


# ------------------------------------------------------------------ hysts/pytorch_shake_shake


def _hysts_rules(model: nn.Module) -> list[_Rule]:
    rules: list[_Rule] = []
    rules += _module_rules(model.stem, "stem.", "", {"0": "conv", "1": "bn"})
    for s, i, unit, ours in _units(model):
        ref = f"stage{s + 1}.block{i + 1}."
        for k, field in enumerate(unit.fields):
            rules += _module_rules(field, f"{ours}fields.{k}.", f"{ref}residual_path{k + 1}.", {})
        if unit.shortcut is not None:
            if not isinstance(unit.shortcut, TwoPathShortcut):
                raise ValueError("the hysts layout has two-path shortcuts (shortcut='two_path')")
            names = {"conv_a": "conv1", "conv_b": "conv2", "bn": "bn"}
            rules += _module_rules(unit.shortcut, ours + "shortcut.", ref + "shortcut.skip.", names)
    rules += _module_rules(model.fc, "fc.", "fc", {})
    return rules


# ------------------------------------------------------------------ TensorFlow RevNet / Hamiltonian

_TF_BN = {"weight": "gamma", "bias": "beta", "running_mean": "ema_mean", "running_var": "ema_var"}


def _tf_norm(bn: nn.Module | None, ours: str, ref: str) -> list[_Rule]:
    if bn is None or isinstance(bn, nn.Identity):
        return []
    return [(ours + k, ref + v, _same) for k, v in _TF_BN.items() if k in bn.state_dict()]


def _tf_preact(field: nn.Module, ours: str, ref: str) -> list[_Rule]:
    """preact_tf / preact_bottleneck_tf: ``sub{n}/bn{n}`` then ``sub{n}/conv{n}/w``."""
    rules = []
    n = 1
    while hasattr(field, f"conv{n}"):
        rules += _tf_norm(getattr(field, f"bn{n}"), f"{ours}bn{n}.", f"{ref}sub{n}/bn{n}/")
        rules.append((f"{ours}conv{n}.weight", f"{ref}sub{n}/conv{n}/w", _hwio))
        n += 1
    return rules


def _tf_hamiltonian(field: nn.Module, ours: str, ref: str) -> list[_Rule]:
    if not isinstance(field, HamiltonianField):
        raise ValueError(
            f"the Hamiltonian layout has Hamiltonian fields, got {type(field).__name__}"
        )
    return [
        *_tf_norm(field.bn1, ours + "bn1.", ref + "sub1/bn1/"),
        (ours + "conv.weight", ref + "w", _hwio),
        *_tf_norm(field.bn2, ours + "bn2.", ref + "sub2/bn2/"),
    ]


def _tf_rules(model: nn.Module, field_rules) -> list[_Rule]:
    rules: list[_Rule] = [("stem.0.weight", "init/init_conv/w", _hwio)]
    rules += _tf_norm(model.stem[1], "stem.1.", "init/init_bn/")
    for s, i, unit, ours in _units(model):
        ref = f"unit_{s + 1}_{i}/"
        if isinstance(unit, StepThenShortcut):
            ours, unit = ours + "block.", unit.block
        for k, name in enumerate("fg"):
            rules += field_rules(unit.fields[k], f"{ours}fields.{k}.", f"{ref}{name}/")
        shortcut = getattr(unit, "shortcut", None)
        if isinstance(shortcut, HalvesShortcut):
            for half, name in (("first", "x1"), ("second", "x2")):
                proj = getattr(getattr(shortcut, half), "proj", None)
                if proj is not None:
                    key = f"{ours}shortcut.{half}.proj.weight"
                    rules.append((key, f"{ref}{name}_bottleneck/project/w", _hwio))
    rules += _tf_norm(model.head_norm, "head_norm.", "unit_last/final_bn/")
    rules += [("fc.weight", "logit/w", _transpose), ("fc.bias", "logit/b", _same)]
    return rules


# ------------------------------------------------------------------ Caffe FractalNet


def _caffe_bn(index: int) -> Callable[[Any], Tensor]:
    def convert(blobs: Any) -> Tensor:
        scale = float(_tensor(blobs[2]).reshape(-1)[0])
        return _tensor(blobs[index]) * (0.0 if scale == 0 else 1.0 / scale)

    return convert


def _blob(index: int) -> Callable[[Any], Tensor]:
    return lambda blobs: _tensor(blobs[index])


def _caffe_rules(model: nn.Module) -> list[_Rule]:
    if not isinstance(model, FractalNet):
        raise ValueError(
            f"the Caffe FractalNet layout needs a FractalNet, got {type(model).__name__}"
        )
    rules: list[_Rule] = []
    for b, block in enumerate(model.blocks):
        for c, column in enumerate(block.columns):
            for i in range(len(column)):
                ours, k = f"blocks.{b}.columns.{c}.{i}.", b * 2**c + i
                rules += [
                    (ours + "conv.weight", f"conv{c}_{k}", _blob(0)),
                    (ours + "conv.bias", f"conv{c}_{k}", _blob(1)),
                    (ours + "bn.running_mean", f"batch_conv{c}_{k}", _caffe_bn(0)),
                    (ours + "bn.running_var", f"batch_conv{c}_{k}", _caffe_bn(1)),
                ]
    rules += [("fc.weight", "prediction0", _blob(0)), ("fc.bias", "prediction0", _blob(1))]
    return rules


#: Reference layouts and whether every reference entry must be used.
FORMATS: dict[str, tuple[Callable[[nn.Module], list[_Rule]], bool]] = {
    "hysts": (_hysts_rules, True),
    "revnet_tf": (lambda m: _tf_rules(m, _tf_preact), False),
    "hamiltonian_tf": (lambda m: _tf_rules(m, _tf_hamiltonian), False),
    "fractalnet_caffe": (_caffe_rules, True),
}


def _tf_prefix(reference: Mapping[str, Any]) -> str:
    for key in reference:
        if isinstance(key, str) and key.endswith("init/init_conv/w"):
            return key[: -len("init/init_conv/w")]
    raise ValueError(
        "a TensorFlow RevNet / Hamiltonian checkpoint has a variable '<prefix>init/init_conv/w'; "
        f"none found among {len(reference)} entries"
    )


def reference_to_state_dict(
    model: nn.Module, reference: Mapping[str, Any], format: str
) -> dict[str, Tensor]:
    """The ``state_dict`` of ``model`` with every tensor taken from ``reference`` (in the
    layout ``format``, one of :data:`FORMATS`), cast to the model's dtypes. ``ValueError``
    listing what is missing, left over or of the wrong shape."""
    if format not in FORMATS:
        raise unknown_name("reference format", format, FORMATS)
    if not isinstance(reference, Mapping):
        raise TypeError(
            f"reference must be a mapping of names to arrays, got {type(reference).__name__}"
        )
    build, strict = FORMATS[format]
    prefix = _tf_prefix(reference) if format.endswith("_tf") else ""
    own = model.state_dict()
    out: dict[str, Tensor] = {}
    used: set[str] = set()
    missing, wrong = [], []
    for ours, ref, convert in build(model):
        key = prefix + ref
        if key not in reference:
            missing.append(key)
            continue
        used.add(key)
        value = convert(reference[key])
        target = own[ours]
        if tuple(value.shape) != tuple(target.shape):
            wrong.append(f"{key}: {tuple(value.shape)} for {ours} {tuple(target.shape)}")
            continue
        out[ours] = value.to(dtype=target.dtype, device=target.device).clone()
    unmapped = [k for k in own if k not in out and not k.endswith("num_batches_tracked")]
    left = sorted(set(reference) - used) if strict else []
    problems = []
    if missing:
        problems.append(
            f"missing in the reference: {missing[:6]}{' ...' if len(missing) > 6 else ''}"
        )
    if wrong:
        problems.append(f"wrong shapes: {wrong[:6]}")
    if left:
        problems.append(f"not used by the model: {left[:6]}{' ...' if len(left) > 6 else ''}")
    if unmapped and not missing and not wrong:
        problems.append(f"model tensors without a rule: {unmapped[:6]}")
    if problems:
        raise ValueError(
            f"the reference does not match this model in the {format!r} layout: "
            + "; ".join(problems)
        )
    for key, value in own.items():
        out.setdefault(key, value.clone())
    return out


#: Preset name prefixes and the layout of their reference code.
_PRESET_FORMATS = {
    "shake_shake26_": "hysts",
    "revnet": "revnet_tf",
    "hamiltonian_": "hamiltonian_tf",
    "fractalnet": "fractalnet_caffe",
}


def reference_layout(preset: str) -> str:
    """The layout of ``preset``'s reference weights (a key of :data:`FORMATS`)."""
    known = [m for m in list_models() if any(m.startswith(p) for p in _PRESET_FORMATS)]
    if preset not in known:
        raise unknown_name("preset with a reference layout here", preset, known)
    return next(f for p, f in _PRESET_FORMATS.items() if preset.startswith(p))


def converter(preset: str) -> Callable[[Mapping[str, Any]], dict[str, Tensor]]:
    """``convert(reference) -> state_dict`` of the default ``preset`` (the form
    :func:`~odenets.networks.model_registry.register_reference_format` takes)."""
    layout = reference_layout(preset)

    def convert(reference: Mapping[str, Any]) -> dict[str, Tensor]:
        return reference_to_state_dict(create_model(preset), reference, layout)

    convert.__name__ = f"convert_{layout}"
    return convert


def load_reference_state_dict(
    preset: str | nn.Module,
    reference: Mapping[str, Any],
    *,
    dtype: torch.dtype | None = None,
    **overrides: Any,
) -> nn.Module:
    """Load the weights of ``preset``'s reference implementation (``reference``: see the
    module docstring for the layout each preset reads) and return the model.

    Args:
        preset: a preset name (the model is built with ``create_model(preset, **overrides)``,
            in ``dtype`` if given), or a model built by ``create_model`` (its ``model_info``
            names the preset; it may have been built with overrides).
        reference: the reference weights by name (arrays or tensors).

    The model's logits then equal the reference's in evaluation mode (tested in float64 to
    1e-8).
    """
    if isinstance(preset, nn.Module):
        info = getattr(preset, "model_info", None)
        if info is None or overrides:
            raise TypeError(
                "pass a preset name (with overrides), or a model built by create_model "
                "(it carries model_info naming its preset) without overrides"
            )
        model, name = preset, info.name
    else:
        model, name = create_model(preset, **overrides), preset
    layout = reference_layout(name)
    if dtype is not None:
        model = model.to(dtype)
    model.load_state_dict(reference_to_state_dict(model, reference, layout))
    return model
