"""Explicit linear multistep steps (family ``multistep``): AB2 and the LM-ResNet scheme.

The step threads its history (past states and slopes) as explicit state, restarts with a
forward Euler step when the history is shorter than it needs, and so wants a uniform grid.

Two forms of a scheme's numbers (the ``form`` option of ``lm``):

* ``"consistent"`` (default, what ``odeint`` uses): ``y_{n+1} = sum_j a_j y_{n-j} +
  h sum_j b_j f_{n-j}`` with the validated weights — for ``lm``, ``(1-k) y_n + k y_{n-1} +
  (1+k) h f_n``, consistent (order >= 1) and zero-stable for ``-1 < k <= 1``.
* ``"paper"``: the network form of Lu et al. (2018) and their code: the state weights ``a``
  and the slope unscaled, ``y_{n+1} = sum_j a_j y_{n-j} + h f_n`` — for ``lm``
  ``(1-k) y_n + k y_{n-1} + h f_n``. Here ``rho'(1) = 1 + k`` while ``sigma(1) = 1``, so for
  ``k != 0`` the step is *not* consistent with ``y' = f``: it is the consistent scheme for
  ``y' = f / (1 + k)``, and (Taylor-expanding ``y_{n-1}``) it discretises the modified
  equation ``(1 + k) y' + (1 - k) (h / 2) y'' = f(y)`` of Lu et al. §2.2. A learned ``k`` is
  left unconstrained in this form (the resolved option ``"unconstrained"``), as in the
  authors' code; a fixed one must still lie in ``(-1, 1]``, where ``rho(z) = (z - 1)(z + k)``
  has its roots ``1`` and ``-k`` in the unit disc (zero-stability).
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

from torch import Tensor

from ..._validate import check_choice
from ..families import Family, register_family
from ..schemes import Coefficient, Scheme, register_scheme
from ..tableau import MultistepCoefficients
from ._ops import axpy, scale
from .base import StageField

__all__ = ["FORMS", "History", "lm_weights", "multistep", "paper_weights"]

#: The forms of a multistep scheme's numbers (see the module docstring).
FORMS = ("consistent", "paper")


class History(NamedTuple):
    """Past points of a multistep method, newest first: ``ys = (y_{n-1}, ...)``,
    ``fs = (f_{n-1}, ...)``. An empty history means "start here" (an Euler step)."""

    ys: tuple[Tensor, ...] = ()
    fs: tuple[Tensor, ...] = ()


def multistep(
    a: tuple, b: tuple, f: StageField, t: Any, y: Tensor, h: Any, history: History | None
) -> tuple[Tensor, History]:
    """One explicit linear multistep step ``y_{n+1} = sum_j a_j y_{n-j} + h sum_j b_j f_{n-j}``.

    While the history is shorter than the method needs (the first step of a trajectory, or of a
    network stage after a resolution change) the step is forward Euler, as in the LM-ResNet
    reference implementation. One evaluation of ``f`` per step; ``a``, ``b`` may hold tensors
    (learned coefficients).
    """
    history = history or History()
    fy = f(0, t, y)
    keep = len(a) - 1
    if len(history.ys) < keep:
        y1 = axpy(y, h, fy)
    else:
        y1 = scale(a[0], y)
        for aj, yj in zip(a[1:], history.ys, strict=False):
            y1 = axpy(y1, aj, yj)
        slope = scale(b[0], fy)
        for bj, fj in zip(b[1:], history.fs, strict=False):
            slope = axpy(slope, bj, fj)
        y1 = axpy(y1, h, slope)
    return y1, History((y, *history.ys)[:keep], (fy, *history.fs)[:keep])


def _step(a: tuple, b: tuple, f: StageField, t: Any, y: Tensor, h: Any, state: Any):
    return multistep(a, b, f, t, y, h, state)


def paper_weights(a: tuple) -> tuple[tuple, tuple]:
    """The paper form of state weights ``a``: ``(a, (1, 0, ..., 0))``, the slope unscaled."""
    return tuple(a), (1.0,) + (0.0,) * (len(a) - 1)


def _bind(scheme: Scheme, coefficients: dict, options: dict):
    numbers = scheme.numbers(coefficients)
    if isinstance(numbers, MultistepCoefficients):
        a, b = numbers.a, numbers.b
    else:
        a, b = numbers
        plain = all(isinstance(v, int | float) for v in coefficients.values())
        if plain and options.get("form", "consistent") == "consistent":
            MultistepCoefficients(a=a, b=b)  # plain numbers: consistency and zero-stability
    if options.get("form", "consistent") == "paper":
        a, b = paper_weights(a)
    return partial(_step, tuple(a), tuple(b))


def _check_options(scheme: Scheme, options: dict) -> dict:
    if "form" not in options:
        return options
    check_choice(f"scheme {scheme.name!r} form", options["form"], FORMS)
    if options["form"] == "paper":  # learned coefficients are not confined (Lu et al.'s code)
        return {**options, "unconstrained": tuple(scheme.coefficients)}
    return options


register_family(
    Family(
        name="multistep",
        bind=_bind,
        tableau=MultistepCoefficients,
        check_options=_check_options,
        history=True,
        euler_start=True,
        noise="slope",
        description="explicit linear multistep: history as state, Euler start",
    )
)


def lm_weights(k: Any) -> tuple[tuple, tuple]:
    """LM-ResNet two-step weights: ``y_{n+1} = (1-k) y_n + k y_{n-1} + (1+k) h f(y_n)``.

    The factor ``(1 + k)`` makes the step consistent (order 1 for ``-1 < k <= 1``); at
    ``k = 0`` it is Euler (ResNet), at ``k = 1`` the second-order leapfrog step
    ``y_{n+1} = y_{n-1} + 2 h f(y_n)``. ``k`` may be a tensor (a learned coefficient).
    """
    return (1 - k, k), (1 + k, 0.0)


register_scheme(
    Scheme(
        name="ab2",
        family="multistep",
        order=2,
        stages=1,
        architecture="Adams–Bashforth two-step block",
        reference="Bashforth & Adams 1883",
        tableau=MultistepCoefficients(a=(1, 0), b=(3 / 2, -1 / 2)),
        description="y_{n+1} = y_n + h (3/2 f_n - 1/2 f_{n-1}); Euler start",
    )
)
register_scheme(
    Scheme(
        name="lm",
        family="multistep",
        order=1,
        stages=1,
        architecture="LM-ResNet (Lu et al. 2018): (1-k) x_n + k x_{n-1} + F(x_n) with "
        "options={'form': 'paper'} (the authors' code; consistent only at k = 0); the default "
        "consistent form scales F by (1+k)",
        reference="Lu, Zhong, Li, Dong, ICML 2018 (arXiv 1710.10121)",
        tableau=MultistepCoefficients(*lm_weights(0.5)),
        tableau_of=lm_weights,
        # Blocks start near k = 0 (the ResNet step), as in the LM-ResNet reference code.
        coefficients={
            "k": Coefficient(
                0.5,
                low=-1.0,
                high=1.0,
                closed=(False, True),
                init=(-0.1, 0.0),
                why="consistent and zero-stable for -1 < k <= 1",
            )
        },
        # "paper": Lu et al.'s F not rescaled; it discretises (1+k) y' + (1-k) h/2 y'' = f
        options={"form": "consistent"},
        description="(1-k) y_n + k y_{n-1} + (1+k) h f_n; order 2 at k = 1 (leapfrog); Euler "
        "start; form='paper': (1-k) y_n + k y_{n-1} + h f_n, the modified equation "
        "(1+k) y' + (1-k) (h/2) y'' = f",
    )
)
