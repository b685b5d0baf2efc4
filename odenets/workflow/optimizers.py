"""The optimizers ``odenets train --optimizer`` offers: a table of ``torch.optim`` classes with
their usual defaults, each read as an integrator of the gradient flow ``x' = -grad f(x)``.

Every entry is a plain ``torch.optim`` optimizer (nothing is re-implemented); what the table
adds is one name per method, the defaults a run gets when it gives no ``lr`` / ``momentum`` /
``weight_decay``, and how the common ``momentum`` knob maps onto each method. The ODE reading of
each (and the exact heavy-ball = ``lm`` correspondence) is in docs/optimizers.md.

| name | torch.optim | lr | momentum | weight decay |
|---|---|---|---|---|
| ``sgd`` | ``SGD`` | 0.1 | 0 (fixed) | 1e-4 |
| ``momentum`` | ``SGD(momentum)`` | 0.1 | 0.9 | 1e-4 |
| ``nesterov`` | ``SGD(nesterov=True)`` | 0.1 | 0.9 | 1e-4 |
| ``adagrad`` | ``Adagrad`` | 1e-2 | none | 0 |
| ``rmsprop`` | ``RMSprop`` | 1e-3 | 0 | 0 |
| ``adam`` | ``Adam`` | 1e-3 | 0.9 (``beta1``) | 0 |
| ``amsgrad`` | ``Adam(amsgrad=True)`` | 1e-3 | 0.9 (``beta1``) | 0 |
| ``adamw`` | ``AdamW`` | 1e-3 | 0.9 (``beta1``) | 1e-2 (decoupled) |

``momentum`` (the default) is the trainer's historical recipe, so runs and checkpoints made
before the table existed are unchanged. The SGD family uses the CIFAR ResNet rate 0.1 (He et
al. 2016) rather than torch's placeholder 1e-3; the adaptive methods use torch's defaults,
except RMSProp's 1e-3 (Hinton's lecture value, also the Keras/TensorFlow default; torch's 1e-2
is large for these nets). For Adam, AMSGrad and AdamW ``momentum`` sets ``beta1``, the
coefficient of the first-moment average (a dampened heavy-ball buffer); ``beta2 = 0.999``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from .._validate import check_number, unknown_name

__all__ = ["OPTIMIZERS", "OptimizerSpec", "build_optimizer", "list_optimizers", "resolve_defaults"]


@dataclass(frozen=True)
class OptimizerSpec:
    """One row of :data:`OPTIMIZERS`.

    Attributes:
        name: the id used by ``--optimizer``.
        cls: the ``torch.optim`` class (its name, resolved when building).
        lr: the default learning rate (the step ``h`` of the integrator).
        momentum: the default of the ``momentum`` knob, or ``None`` where the method has none.
        weight_decay: the default weight decay (L2 added to the gradient; decoupled for AdamW).
        momentum_key: which constructor argument ``momentum`` sets: ``"momentum"`` (SGD,
            RMSprop), ``"beta1"`` (the first entry of Adam's ``betas``) or ``None`` (fixed:
            plain SGD has momentum 0, AdaGrad none).
        fixed: constructor arguments that define the method (``nesterov=True``,
            ``amsgrad=True``).
        reading: the method as an integrator of ``x' = -grad f(x)``, one line.
        reference: where the method comes from.
    """

    name: str
    cls: str
    lr: float
    momentum: float | None
    weight_decay: float
    momentum_key: str | None
    fixed: dict = field(default_factory=dict)
    reading: str = ""
    reference: str = ""


def _spec(*args, **kwargs) -> tuple[str, OptimizerSpec]:
    spec = OptimizerSpec(*args, **kwargs)
    return spec.name, spec


#: name -> :class:`OptimizerSpec`; the defaults are documented in the module docstring.
OPTIMIZERS: dict[str, OptimizerSpec] = dict(
    [
        _spec(
            "sgd", "SGD", 0.1, 0.0, 1e-4, None,
            reading="forward Euler on x' = -grad f, step h = lr",
            reference="Robbins & Monro 1951",
        ),
        _spec(
            "momentum", "SGD", 0.1, 0.9, 1e-4, "momentum",
            reading="heavy ball: the two-step lm scheme on -grad f with k = -beta",
            reference="Polyak 1964",
        ),
        _spec(
            "nesterov", "SGD", 0.1, 0.9, 1e-4, "momentum", {"nesterov": True},
            reading="heavy ball with the gradient taken at the look-ahead point",
            reference="Nesterov 1983; Sutskever et al. 2013",
        ),
        _spec(
            "adagrad", "Adagrad", 1e-2, None, 0.0, None,
            reading="Euler with the diagonal preconditioner 1/sqrt(sum of squared gradients)",
            reference="Duchi, Hazan & Singer 2011",
        ),
        _spec(
            "rmsprop", "RMSprop", 1e-3, 0.0, 0.0, "momentum",
            reading="Euler with the preconditioner 1/sqrt(EMA of squared gradients)",
            reference="Tieleman & Hinton 2012",
        ),
        _spec(
            "adam", "Adam", 1e-3, 0.9, 0.0, "beta1",
            reading="dampened heavy ball, diagonally preconditioned by 1/sqrt(v)",
            reference="Kingma & Ba 2015",
        ),
        _spec(
            "amsgrad", "Adam", 1e-3, 0.9, 0.0, "beta1", {"amsgrad": True},
            reading="Adam with the running maximum of v (a non-increasing step)",
            reference="Reddi, Kale & Kumar 2018",
        ),
        _spec(
            "adamw", "AdamW", 1e-3, 0.9, 1e-2, "beta1",
            reading="Adam plus the exact decay x <- (1 - lr wd) x (decoupled weight decay)",
            reference="Loshchilov & Hutter 2019",
        ),
    ]
)  # fmt: skip


def list_optimizers() -> list[str]:
    """The names :func:`build_optimizer` accepts, in table order."""
    return list(OPTIMIZERS)


def _get(name: object) -> OptimizerSpec:
    if not isinstance(name, str):
        raise TypeError(f"optimizer must be a name, one of {list(OPTIMIZERS)}; got {name!r}")
    if name not in OPTIMIZERS:
        raise unknown_name("optimizer", name, OPTIMIZERS)
    return OPTIMIZERS[name]


def resolve_defaults(
    name: str,
    *,
    lr: float | None = None,
    momentum: float | None = None,
    weight_decay: float | None = None,
    nesterov: bool = False,
) -> dict[str, Any]:
    """``lr``, ``momentum`` and ``weight_decay`` for optimizer ``name``, each ``None`` replaced
    by the table's default; a value the method cannot take (momentum for plain SGD, Nesterov
    for Adam, ...) is a ``ValueError``.

    Returns ``{"lr": ..., "momentum": ..., "weight_decay": ...}`` (``momentum`` stays ``None``
    for AdaGrad, which has none).
    """
    spec = _get(name)
    lr = spec.lr if lr is None else check_number("lr", lr, positive=True)
    weight_decay = (
        spec.weight_decay if weight_decay is None else check_number("weight_decay", weight_decay)
    )
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    if momentum is not None:
        momentum = check_number("momentum", momentum)
        if spec.momentum_key is None and momentum != (spec.momentum or 0.0):
            other = "'momentum' or 'nesterov'" if name == "sgd" else "'rmsprop' or 'adam'"
            raise ValueError(
                f"optimizer {name!r} takes no momentum (got {momentum}); use {other} for a "
                "method with momentum"
            )
        if not 0.0 <= momentum < 1.0:
            raise ValueError(
                f"momentum must be in [0, 1) (the weight of the previous step), got {momentum}"
            )
    momentum = spec.momentum if momentum is None or spec.momentum_key is None else momentum
    if nesterov and spec.name not in ("momentum", "nesterov"):
        raise ValueError(
            f"nesterov=True is the look-ahead form of SGD momentum; optimizer {name!r} has no "
            "such option (use optimizer 'nesterov')"
        )
    if (nesterov or spec.fixed.get("nesterov")) and not momentum:
        raise ValueError("Nesterov momentum needs momentum > 0, got momentum=0")
    return {"lr": lr, "momentum": momentum, "weight_decay": weight_decay}


def build_optimizer(
    name: str,
    params: Iterable[torch.Tensor] | Iterable[dict],
    *,
    lr: float | None = None,
    momentum: float | None = None,
    weight_decay: float | None = None,
    nesterov: bool = False,
) -> torch.optim.Optimizer:
    """A ``torch.optim`` optimizer of the method ``name`` (see :data:`OPTIMIZERS`).

    Args:
        name: one of :func:`list_optimizers`; an unknown name is a ``ValueError`` naming the
            closest one.
        params: the parameters (or parameter groups) to optimize.
        lr: the learning rate (default: the method's, e.g. 0.1 for SGD, 1e-3 for Adam).
        momentum: the heavy-ball coefficient ``beta`` (``momentum``, ``nesterov``,
            ``rmsprop``) or Adam's ``beta1`` (``adam``, ``amsgrad``, ``adamw``); default the
            method's. ``sgd`` and ``adagrad`` take none.
        weight_decay: default the method's.
        nesterov: with ``name="momentum"``, take Nesterov's look-ahead step (the same as
            ``name="nesterov"``; kept for :class:`~odenets.workflow.train.TrainConfig`'s
            ``nesterov`` field). Other methods refuse it.
    """
    spec = _get(name)
    values = resolve_defaults(
        name, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov
    )
    kwargs: dict[str, Any] = {"lr": values["lr"], "weight_decay": values["weight_decay"]}
    if spec.momentum_key == "momentum":
        kwargs["momentum"] = values["momentum"]
    elif spec.momentum_key == "beta1":
        kwargs["betas"] = (values["momentum"], 0.999)
    kwargs.update(spec.fixed)
    if nesterov:
        kwargs["nesterov"] = True
    return getattr(torch.optim, spec.cls)(params, **kwargs)
