"""Load the authors' published checkpoints into the presets that reproduce their networks.

A *reference format* maps the state-dict naming of a reference implementation onto a
preset's. Formats here:

* ``akamaster`` — He et al.'s CIFAR ResNets as in akamaster/pytorch_resnet_cifar10
  (``resnet.py``; its published ``pretrained_models/resnet{20,32,44,56,110}-*.th``):
  ``conv1``/``bn1`` -> the stem, ``layer{s}.{j}.{conv1,bn1,conv2,bn2}`` -> the ``j``-th unit
  of stage ``s`` (the stage's transition for ``j = 0`` in stages 2 and 3), ``linear`` -> ``fc``.
  Files saved before PyTorch 0.4.1 have no ``num_batches_tracked``; it is set to 0.
* ``lm_resnet`` — Lu et al.'s LM-ResNet as in 2prime/LM-ResNet (``MResNet.py``):
  ``blocks.{i}`` -> the ``i``-th unit in network order, ``downsample21`` / ``downsample31``
  (BN-ReLU-1x1 conv) -> the shortcuts of the stage-2 / stage-3 transitions, ``bn`` -> the
  head norm, ``fc``. The authors' ``ks[i]`` multiplies ``u_n`` in their update
  ``F(u_n) + ks u_n + (1 - ks) u_{n-1}``, so the preset's ``k = 1 - ks[i]``. Parameters the
  authors' forward pass never uses (``bn1``, ``downsample1``, the ``ks`` of the three
  stage-opening blocks) are dropped.

``create_model(name, pretrained=path)`` uses the preset's format when the file does not fit
the preset's own naming, so the authors' files load directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from .model_registry import (
    create_model,
    list_reference_formats,
    model_info,
    reference_format,
    unwrap_state_dict,
)

__all__ = [
    "akamaster_resnet",
    "convert_reference_state_dict",
    "lm_resnet",
    "load_reference_state_dict",
]

_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _unit(stage: int, j: int) -> str:
    """The preset's prefix of unit ``j`` of ``stage`` (stages after the first open with a
    transition)."""
    if stage == 0:
        return f"stages.0.blocks.{j}."
    return f"stages.{stage}.transition." if j == 0 else f"stages.{stage}.blocks.{j - 1}."


class _Mapper:
    """Collects ``ours <- theirs`` entries and checks that every reference key is used."""

    def __init__(self, fmt: str, state: Mapping[str, Tensor], dropped: set[str]) -> None:
        self.fmt, self.state, self.dropped = fmt, dict(state), dropped
        self.out: dict[str, Tensor] = {}
        self.used: set[str] = set()
        self.missing: list[str] = []

    def take(self, theirs: str) -> Tensor | None:
        if theirs not in self.state:
            self.missing.append(theirs)
            return None
        self.used.add(theirs)
        return self.state[theirs]

    def tensor(self, ours: str, theirs: str) -> None:
        value = self.take(theirs)
        if value is not None:
            self.out[ours] = value

    def bn(self, ours: str, theirs: str) -> None:
        for key in _BN:
            if key == "num_batches_tracked" and f"{theirs}.{key}" not in self.state:
                self.out[f"{ours}.{key}"] = torch.tensor(0, dtype=torch.long)
                continue
            self.tensor(f"{ours}.{key}", f"{theirs}.{key}")

    def result(self) -> dict[str, Tensor]:
        unexpected = sorted(set(self.state) - self.used - self.dropped)
        if self.missing or unexpected:
            parts = []
            if self.missing:
                parts.append(f"missing {', '.join(self.missing[:5])}")
            if unexpected:
                parts.append(f"unexpected {', '.join(unexpected[:5])}")
            raise ValueError(f"not a {self.fmt} state dict of this network: {'; '.join(parts)}")
        return self.out


def akamaster_resnet(depth: int) -> Callable[[Mapping[str, Tensor]], dict[str, Tensor]]:
    """The ``akamaster`` format of He et al.'s ResNet-``depth`` (see the module)."""
    n = (depth - 2) // 6

    def convert(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
        m = _Mapper("akamaster resnet", state, set())
        m.tensor("stem.0.weight", "conv1.weight")
        m.bn("stem.1", "bn1")
        for s in range(3):
            for j in range(n):
                ours, theirs = _unit(s, j) + "fields.0.", f"layer{s + 1}.{j}."
                for conv in ("conv1", "conv2"):
                    m.tensor(f"{ours}{conv}.weight", f"{theirs}{conv}.weight")
                for bn in ("bn1", "bn2"):
                    m.bn(f"{ours}{bn}", f"{theirs}{bn}")
        m.tensor("fc.weight", "linear.weight")
        m.tensor("fc.bias", "linear.bias")
        return m.result()

    return convert


def lm_resnet(depth: int) -> Callable[[Mapping[str, Tensor]], dict[str, Tensor]]:
    """The ``lm_resnet`` format of Lu et al.'s (stochastic) LM-ResNet-``depth`` (see the
    module); ``k = 1 - ks``."""
    n = (depth - 2) // 6
    opening = {0, n, 2 * n}  # units whose k the authors' forward never reads

    def convert(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
        dropped = {k for k in state if k.startswith(("bn1.", "downsample1."))}
        dropped |= {f"ks.{i}" for i in opening}
        m = _Mapper("LM-ResNet (MResNet)", state, dropped)
        m.tensor("stem.0.weight", "conv1.weight")
        for i in range(3 * n):
            s, j = divmod(i, n)
            ours, theirs = _unit(s, j), f"blocks.{i}."
            for conv in ("conv1", "conv2"):
                m.tensor(f"{ours}fields.0.{conv}.weight", f"{theirs}{conv}.weight")
            for bn in ("bn1", "bn2"):
                m.bn(f"{ours}fields.0.{bn}", f"{theirs}{bn}")
            if i not in opening:
                ks = m.take(f"ks.{i}")
                if ks is not None:
                    m.out[f"{ours}coefficients.k"] = (1.0 - ks).reshape(())
        for s, name in ((1, "downsample21"), (2, "downsample31")):
            m.bn(f"stages.{s}.transition.shortcut.0", f"{name}.downsample.0")
            m.tensor(f"stages.{s}.transition.shortcut.2.weight", f"{name}.downsample.2.weight")
        m.bn("head_norm", "bn")
        m.tensor("fc.weight", "fc.weight")
        m.tensor("fc.bias", "fc.bias")
        return m.result()

    return convert


def convert_reference_state_dict(preset: str, state_dict: Mapping[str, Any]) -> dict[str, Tensor]:
    """The state dict of preset ``preset`` from a reference implementation's one (a checkpoint
    dict holding it under ``"state_dict"`` and ``module.`` prefixes are accepted). A preset
    without a reference format, or a state dict not in it, is a ``ValueError``."""
    convert = reference_format(preset)
    if convert is None:
        raise ValueError(
            f"preset {preset!r} has no reference format; presets with one: "
            f"{', '.join(list_reference_formats())}"
        )
    return convert(unwrap_state_dict(state_dict, "the reference state dict"))


def load_reference_state_dict(
    preset: str | nn.Module, state_dict: Mapping[str, Any], **overrides: Any
) -> nn.Module:
    """Load the authors' weights ``state_dict`` into the preset ``preset``.

    Args:
        preset: a preset name (the model is built with ``create_model(preset, **overrides)``)
            or a model built by :func:`~odenets.create_model` (its ``model_info`` names the
            preset).
        state_dict: the reference implementation's state dict (or the checkpoint dict it is
            in, e.g. akamaster's ``{"state_dict": ..., "best_prec1": ...}``).

    Returns the model with the weights loaded (strictly: every parameter and buffer set).
    """
    if isinstance(preset, nn.Module):
        info = getattr(preset, "model_info", None)
        if info is None:
            raise TypeError(
                "load_reference_state_dict needs a preset name or a model built by "
                "create_model (it carries model_info naming its preset)"
            )
        if overrides:
            raise TypeError("overrides apply when the model is built from a preset name")
        model, name = preset, info.name
    else:
        model_info(preset)  # unknown names: a ValueError listing the valid ones
        model, name = create_model(preset, **overrides), preset
    model.load_state_dict(convert_reference_state_dict(name, state_dict))
    return model
