"""The preset registry with timm's model API: ``register_model``, ``create_model``,
``list_models``, ``model_info``.

A preset is a function returning a network, registered under its ``__name__`` with its
:class:`~odenets.networks.model_info.ModelInfo` record (as in timm). The built-in presets are
:class:`Preset` recipes over :class:`~odenets.SolverNet` (:mod:`odenets.networks.presets`).

``create_model`` takes timm's keywords: ``pretrained`` (``False``; a path to an odenets
checkpoint, a plain ``state_dict`` file or — for presets with a registered reference format —
the authors' checkpoint; ``True`` is an error: odenets publishes no weights), ``num_classes``,
``in_chans`` (``in_channels``), ``drop_rate`` (dropout before the classifier) and
``drop_path_rate`` (the death rate of the last block of a preset with stochastic depth).
"""

from __future__ import annotations

import fnmatch
import inspect
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

from .._validate import check_number, unknown_name
from ..numerics.schemes import get_scheme
from .model_info import ModelInfo
from .nets import SolverNet
from .noise import StochasticDepth, get_noise

__all__ = [
    "Preset",
    "create_model",
    "list_models",
    "list_reference_formats",
    "load_state_dict_file",
    "model_info",
    "reference_format",
    "register_model",
    "register_reference_format",
    "unregister_model",
    "unwrap_state_dict",
]

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_INFO: dict[str, ModelInfo] = {}
#: preset name -> ``convert(state_dict) -> state_dict``: maps the authors' checkpoint naming
#: onto the preset's (see :mod:`odenets.networks.reference`)
_REFERENCE_FORMATS: dict[str, Callable[[Mapping[str, Tensor]], dict[str, Tensor]]] = {}


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
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a preset needs an identifier __name__, got {name!r}")
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
    """Remove the preset ``name`` (its record and reference format too); returns its function."""
    _lookup(name)
    del _INFO[name]
    _REFERENCE_FORMATS.pop(name, None)
    return _MODELS.pop(name)


def register_reference_format(
    name: str, convert: Callable[[Mapping[str, Tensor]], dict[str, Tensor]]
) -> None:
    """Declare how the authors' checkpoints of preset ``name`` map onto its state dict:
    ``convert(reference_state_dict) -> state_dict`` (raising ``ValueError`` for a state dict
    that is not of that format)."""
    _lookup(name)
    if not callable(convert):
        raise TypeError(f"convert must be callable, got {type(convert).__name__}")
    _REFERENCE_FORMATS[name] = convert


def list_reference_formats() -> list[str]:
    """Sorted names of the presets with a registered reference format."""
    return sorted(_REFERENCE_FORMATS)


def reference_format(name: str) -> Callable[[Mapping[str, Tensor]], dict[str, Tensor]] | None:
    """The registered converter of the authors' checkpoints of preset ``name`` (or None)."""
    _lookup(name)
    return _REFERENCE_FORMATS.get(name)


def list_models(pattern: str | Sequence[str] = "", exclude: str | Sequence[str] = ()) -> list[str]:
    """Sorted names of the registered presets matching the ``fnmatch`` ``pattern`` (or any of
    several; ``""``: all), minus those matching ``exclude`` — timm's ``list_models("resnet*")``.
    """
    include = _patterns("pattern", pattern)
    drop = _patterns("exclude", exclude)
    names = sorted(_MODELS)
    if include:
        names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in include)]
    return [n for n in names if not any(fnmatch.fnmatchcase(n, p) for p in drop)]


def _patterns(what: str, value: str | Sequence[str]) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return [v for v in value if v]
    raise TypeError(f"{what} must be a str or a sequence of str, got {value!r}")


def _lookup(name: str) -> Callable[..., nn.Module]:
    if not isinstance(name, str):
        raise TypeError(f"model name must be a str, got {type(name).__name__}")
    try:
        return _MODELS[name]
    except KeyError:
        raise unknown_name("model", name, _MODELS) from None


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` record of the preset ``name`` (``.description`` is the one line
    ``odenets list`` prints)."""
    _lookup(name)
    return _INFO[name]


#: Recipe entries that are settings of the recipe's scheme.
_SCHEME_SETTINGS = ("coefficients", "options", "learn")


class Preset:
    """A built-in preset: ``SolverNet(**recipe, **overrides)``.

    ``drop_path_rate`` (timm) sets the death rate ``1 - p_L`` of the last block of a recipe
    with stochastic depth, keeping the recipe's schedule; on a recipe without it, any rate but
    0 is a ``ValueError``. Overriding ``scheme`` with another scheme drops the recipe's
    settings of its own scheme (``coefficients``, ``options``, ``learn``) unless they are
    overridden too: they belong to the preset's scheme.
    """

    def __init__(self, name: str, doc: str, recipe: Mapping[str, Any]) -> None:
        self.__name__ = self.__qualname__ = name
        self.__doc__ = doc
        self.recipe = dict(recipe)

    @property
    def stochastic_depth(self) -> StochasticDepth | None:
        """The recipe's stochastic-depth model, if it has one."""
        noise = self.recipe.get("noise")
        noise = None if noise is None else get_noise(noise)
        return noise if isinstance(noise, StochasticDepth) else None

    def __call__(self, *, drop_path_rate: float | None = None, **overrides: Any) -> SolverNet:
        recipe = dict(self.recipe)
        if drop_path_rate is not None:
            rate = check_number("drop_path_rate", drop_path_rate)
            if not 0.0 <= rate < 1.0:
                raise ValueError(
                    f"drop_path_rate is the death rate of the last block, in [0, 1), got {rate}"
                )
            depth = self.stochastic_depth
            if depth is not None:
                recipe["noise"] = replace(depth, survival=1.0 - rate)
            elif rate:
                with_sd = [n for n, f in _MODELS.items() if getattr(f, "stochastic_depth", None)]
                raise ValueError(
                    f"preset {self.__name__!r} has no stochastic depth for drop_path_rate="
                    f"{rate:g} to set (its blocks are {recipe.get('scheme', 'euler')!r} steps); "
                    f"presets with stochastic depth: {', '.join(sorted(with_sd))}"
                )
        scheme = overrides.get("scheme")
        if (
            scheme is not None
            and get_scheme(scheme).name != get_scheme(recipe.get("scheme", "euler")).name
        ):
            for key in _SCHEME_SETTINGS:
                recipe.pop(key, None)
        return SolverNet(**{**recipe, **overrides})

    def __repr__(self) -> str:
        return f"Preset({self.__name__!r})"


def _accepts(fn: Callable, keyword: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return keyword in params


def create_model(
    name: str,
    pretrained: bool | str | os.PathLike = False,
    *,
    num_classes: int | None = None,
    in_chans: int | None = None,
    drop_rate: float | None = None,
    drop_path_rate: float | None = None,
    **overrides: Any,
) -> nn.Module:
    """Build the preset ``name`` (timm's signature).

    Args:
        name: a registered preset (:func:`list_models`).
        pretrained: ``False``; or a path to weights to load, checked to fit: an odenets
            checkpoint (``odenets train``), a file holding a ``state_dict`` (optionally under
            ``"state_dict"`` or ``"model"``, ``module.`` prefixes removed), or — for presets
            with a reference format (:mod:`odenets.networks.reference`) — the authors' own
            checkpoint. ``True`` is a ``ValueError``: odenets publishes no weights.
        num_classes: outputs of the classifier (0: none; the model returns pooled features).
        in_chans: input channels (``in_channels``).
        drop_rate: dropout probability before the classifier.
        drop_path_rate: stochastic depth: the death rate of the last block, for presets that
            have stochastic depth (others accept only 0).
        **overrides: any other keyword of the preset (``SolverNet``'s: ``scheme=``,
            ``depth=``, ...); an unknown one is a ``TypeError`` naming it.

    Returns the network with its record attached as ``model.model_info`` (and as a dict,
    ``model.pretrained_cfg``).
    """
    fn = _lookup(name)
    info = _INFO[name]
    if pretrained is True:
        hint = (
            f"; the authors' checkpoint ({info.weights}) loads with "
            f"create_model({name!r}, pretrained=<its path>) or "
            "odenets.networks.reference.load_reference_state_dict"
            if info.weights
            else ""
        )
        raise ValueError(
            f"no pretrained weights are published for {name!r} (odenets publishes none): pass "
            f"pretrained=<path> to load an odenets checkpoint or a state_dict file{hint}"
        )
    if not (pretrained is False or pretrained is None or isinstance(pretrained, str | os.PathLike)):
        raise TypeError(
            f"pretrained must be False or a path to a checkpoint, got {type(pretrained).__name__}"
        )
    kwargs = dict(overrides)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if in_chans is not None:
        if "in_channels" in kwargs:
            raise TypeError("give in_chans (timm) or in_channels, not both")
        kwargs["in_channels"] = in_chans
    if drop_rate is not None:
        kwargs["drop_rate"] = drop_rate
    if drop_path_rate is not None:
        if _accepts(fn, "drop_path_rate"):
            kwargs["drop_path_rate"] = drop_path_rate
        elif check_number("drop_path_rate", drop_path_rate) != 0.0:
            raise ValueError(
                f"preset {name!r} takes no drop_path_rate (its function has no such "
                "argument), so stochastic depth cannot be set on it"
            )
    model = fn(**kwargs)
    model.model_info = info
    model.pretrained_cfg = info.as_dict()
    if pretrained:
        load_state_dict_file(model, pretrained, preset=name)
    return model


def unwrap_state_dict(obj: Any, path: Any = "the checkpoint") -> dict[str, Tensor]:
    """The state dict inside a loaded checkpoint object: ``obj`` itself, or its ``"model"``
    (odenets checkpoints) or ``"state_dict"`` entry, with ``module.`` prefixes removed."""
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()
    ):
        raise ValueError(
            f"{path} holds no state_dict: expected a dict of tensors (optionally under "
            "'model' or 'state_dict', as in an odenets checkpoint)"
        )
    state = dict(obj)
    if state and all(k.startswith("module.") for k in state):  # (Distributed)DataParallel
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _mismatch(model: nn.Module, state: Mapping[str, Tensor]) -> str:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    )
    parts = []
    for what, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", shapes)):
        if keys:
            more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
            parts.append(f"{len(keys)} {what} keys: {', '.join(keys[:5])}{more}")
    return "; ".join(parts)


def load_state_dict_file(
    model: nn.Module, path: str | os.PathLike, *, preset: str | None = None
) -> nn.Module:
    """Load the weights in ``path`` into ``model`` after checking that they fit (a
    ``ValueError`` names the missing, unexpected and mis-shaped keys). ``preset``: the preset
    ``model`` was built from; when the file is in that preset's reference format (the authors'
    naming), it is converted first."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"pretrained checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, foreign pickle, ...
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(f"{path} is not a readable torch checkpoint ({first[:200]})") from None
    state = unwrap_state_dict(obj, path)
    problem = _mismatch(model, state)
    convert = _REFERENCE_FORMATS.get(preset) if preset is not None else None
    if problem and convert is not None:
        try:
            converted = convert(state)
        except ValueError:
            converted = None
        if converted is not None and not _mismatch(model, converted):
            state, problem = converted, ""
    if problem:
        hint = ""
        if "mis-shaped" in problem and problem.count("fc.") and "missing" not in problem:
            hint = (
                "; for another number of classes build the model with the checkpoint's "
                "num_classes, load, then call reset_classifier(n)"
            )
        raise ValueError(f"{path} does not fit {preset or type(model).__name__}: {problem}{hint}")
    model.load_state_dict(state)
    return model
