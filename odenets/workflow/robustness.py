"""Robustness of a trained network to its own discretization.

A residual network read as an integrator fixes a grid: every step ``y = Phi_h(x)`` has its
step size ``h`` (1 for the classical blocks). Two re-discretizations test whether the trained
net behaves like a discretized ODE or only like the one discrete map it was trained as:

* **step-size scaling** (every net): every step size ``h`` (scheme blocks and the strided
  transition blocks alike) multiplied by a factor ``c``, the same weights and the same number
  of steps, i.e. the trajectory integrated over ``c`` times the depth-time. This is exactly
  the net built with ``SolverNet(h=c * h)`` carrying the trained weights.
* **re-timing** (weight-tied ``tie="all"`` nets only): each stage integrates its one ``F``
  over the same stage time with another number of steps,
  :func:`odenets.networks.retime.retime` (Queiruga et al. 2020).

Neither changes the trained model: the scaled net is a view that shares every parameter and
buffer (nothing is copied, nothing mutated).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from torch import Tensor, nn

from .._validate import check_int, check_number
from ..networks.nets import count_field_calls
from ..networks.retime import check_tied, retime
from .data import Dataset
from .train import evaluate

__all__ = ["evaluate_robustness", "scale_steps", "step_sizes"]


def _has_step(module: nn.Module) -> bool:
    h = getattr(module, "h", None)
    return isinstance(h, float) and not isinstance(h, bool)


def step_sizes(net: nn.Module) -> list[float]:
    """The step size ``h`` of every module of ``net`` that takes a step (in module order)."""
    return [m.h for m in net.modules() if _has_step(m)]


def _view(module: nn.Module, factor: float) -> nn.Module:
    new = copy.copy(module)  # a new instance __dict__; parameters and buffers are shared
    new._parameters = dict(module._parameters)
    new._buffers = dict(module._buffers)
    new._modules = {
        name: None if child is None else _view(child, factor)
        for name, child in module._modules.items()
    }
    if _has_step(module):
        new.h = module.h * factor
    return new


def scale_steps(net: nn.Module, factor: float) -> nn.Module:
    """A view of ``net`` with every step size ``h`` multiplied by ``factor`` (> 0).

    The view shares every parameter and buffer with ``net`` (training it would train
    ``net``); ``net`` itself is left unchanged. For a :class:`~odenets.SolverNet` this is the
    net built with ``h * factor`` and the same weights.
    """
    factor = check_number("step-size factor", factor, positive=True)
    if not isinstance(net, nn.Module):
        raise TypeError(f"expected an nn.Module, got {type(net).__name__}")
    if not step_sizes(net):
        raise ValueError(
            f"{type(net).__name__} has no step sizes to scale: no submodule with a float "
            "attribute h (a SolverNet's blocks have one)"
        )
    return _view(net, factor)


def evaluate_robustness(
    net: nn.Module,
    dataset: Dataset,
    factors: Sequence[float] = (0.5, 0.75, 1.25, 1.5, 2.0),
    steps: Sequence[int] = (1, 2, 4, 8),
    *,
    batch_size: int = 500,
    probe: Tensor | None = None,
) -> list[dict]:
    """Test accuracy of ``net`` re-discretized: one row per step-size factor
    (``{"kind": "h_scale", "factor", "f_evals", "test_accuracy"}``) and, for a weight-tied net,
    one per step count (``{"kind": "steps", "steps", ...}``, the same stage times).
    ``probe`` is one prepared input for counting F-evaluations (default: the first test
    sample)."""
    factors = [check_number("step-size factor", c, positive=True) for c in factors]
    steps = [check_int("steps", m, 1) for m in steps]
    if probe is None:
        probe = dataset.prepare(dataset.x_test[:1]).to(next(net.parameters()).device)
    rows = []
    for c in factors:
        view = scale_steps(net, c)
        rows.append(
            {
                "kind": "h_scale",
                "factor": c,
                "f_evals": count_field_calls(view, probe),
                "test_accuracy": evaluate(view, dataset, batch_size)["accuracy"],
            }
        )
    for m in steps if _retimable(net) else ():
        view = retime(net, steps=m)
        rows.append(
            {
                "kind": "steps",
                "steps": m,
                "f_evals": count_field_calls(view, probe),
                "test_accuracy": evaluate(view, dataset, batch_size)["accuracy"],
            }
        )
    return rows


def _retimable(net: nn.Module) -> bool:
    """Whether :func:`~odenets.networks.retime.retime` accepts ``net`` (weight-tied plain
    scheme steps)."""
    if getattr(net, "tie", None) != "all":
        return False
    try:
        check_tied(net)
    except (TypeError, ValueError):
        return False
    return True
