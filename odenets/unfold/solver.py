"""An optimiser unrolled into a network: steps of a registered scheme on ``F = -grad f``.

Iteration ``t`` is one step of ``scheme`` on the gradient flow of the problem, taken through
:func:`odenets.numerics.steps.prepare` (the same stepper ``odeint`` and ``SchemeBlock`` call)
with the step size ``h_t`` as a tensor. Only these step parameters are learned:

* ``euler`` with learned ``h_t`` is DU-GD, ``x_{t+1} = x_t - h_t grad f(x_t)`` (Wadayama).
* a scheme that threads history and has a momentum coefficient is the heavy ball, with the
  learned ``"momentum"`` ``beta_t`` in ``[0, 1)``:

  - ``lm`` (coefficient ``k = -beta``), the two-step form
    ``x_{t+1} = (1-k) x_t + k x_{t-1} + (1+k) h F(x_t)``, i.e.
    ``x_t - alpha grad f(x_t) + beta (x_t - x_{t-1})`` with ``alpha = (1 - beta) h``; the
    first step is Euler (the multistep start), plain gradient descent with ``alpha_0 = h_0``.
  - ``momentum`` (coefficient ``gamma = beta``), the velocity form
    ``v_{t+1} = beta v_t + (1 - beta) F(x_t)``, ``x_{t+1} = x_t + h_t v_{t+1}`` from
    ``v_0 = 0``. Eliminating ``v``: ``x_{t+1} = x_t + beta_t (h_t / h_{t-1}) (x_t - x_{t-1})
    + (1 - beta_t) h_t F(x_t)``, the ``lm`` heavy ball with ``beta'_t = beta_t h_t / h_{t-1}``,
    ``h'_t = (1 - beta_t) h_t / (1 - beta'_t)`` and ``h'_0 = (1 - beta_0) h_0``.

  The rule is read from the scheme, not its name: its family threads history
  (``capabilities.history``) and it has a coefficient named in :data:`MOMENTUM_COEFFICIENTS`.
* any other explicit scheme (``heun``, ``rk4``, ...) on the gradient field, unchanged.
* composite problems (:class:`~odenets.unfold.Lasso`) follow each step by the prox with
  threshold ``theta_t`` (learned with ``"threshold"``, else ``lam * h_t``): forward-backward
  splitting, i.e. (unfolded) ISTA.

Each quantity has its own parameter sharing: one value per iteration, or ``P`` values used
periodically (``period={"h": 4}`` is the book's set-up: period-4 steps, a ridge weight per
iteration).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._validate import check_int, check_options, unknown_name
from ..numerics.schemes import Scheme, get_scheme, list_schemes
from ..numerics.steps import prepare
from .problems import Problem

__all__ = [
    "LEARNABLE",
    "MOMENTUM_COEFFICIENTS",
    "UnfoldedSolver",
    "momentum_coefficient",
    "unfoldable_schemes",
]

#: the per-iteration parameters an :class:`UnfoldedSolver` can learn
LEARNABLE = ("h", "lam", "momentum", "threshold")

#: scheme coefficient that carries the heavy-ball ``beta`` -> the factor ``c`` in
#: ``coefficient = c * beta`` (``lm``: ``k = -beta``; ``momentum``: ``gamma = beta``)
MOMENTUM_COEFFICIENTS = {"k": -1.0, "gamma": 1.0}

#: what each initial value means and the range it must lie in (see ``_check_range``)
_MEANING = {
    "h": "a step size along -grad f",
    "lam": "a ridge weight",
    "momentum": "the heavy-ball beta",
    "threshold": "a soft threshold",
}


class UnfoldedSolver(nn.Module):
    """``steps`` iterations of ``scheme`` on ``-grad f`` with per-iteration step parameters.

    Args:
        problem: a :class:`~odenets.unfold.Problem` (its gradient is the field).
        steps: the number of iterations ``T`` (network depth), ``>= 1``.
        scheme: a registered scheme id; ``"euler"`` is gradient descent, ``"lm"`` and
            ``"momentum"`` the heavy ball (two-step and velocity form).
        period: parameter sharing. ``None``: every iteration has its own parameters; ``P``
            with ``1 <= P <= steps``: iteration ``t`` uses slot ``t mod P`` (period-``P``
            sharing of Wadayama's DU-GD), for every quantity; a dict gives each quantity its
            own, e.g. ``{"h": 4}`` (period-4 steps, the other quantities per iteration — the
            book's DU-GD with a learned ``xi_t``). Quantities a dict does not name are per
            iteration.
        learn: which parameters are trained: a subset of ``("h", "lam", "momentum",
            "threshold")``; the others are fixed buffers. ``()`` gives a fixed schedule (the
            baselines). ``"lam"`` learns a ridge weight ``|xi_t|`` per slot (the problem must
            have one, and the start must be nonzero: ``|xi|`` has no gradient at 0),
            ``"momentum"`` a scheme with a momentum coefficient (``lm``, ``momentum``),
            ``"threshold"`` a problem with a prox.
        init: initial (or fixed) values per name: a number, or a sequence / 1-D tensor with
            one value per slot. Defaults: ``h`` the problem's
            :meth:`~odenets.unfold.Problem.step_hint`, ``lam`` the problem's weight,
            ``momentum`` 0 (both heavy-ball forms then start as gradient descent); without
            ``threshold`` (neither learned nor given) the prox uses ``prox_weight * h_t`` with
            the current ``h_t`` (ISTA). Admissible values: ``h > 0`` (a learned ``h`` may
            start at 0, as in the book: its gradient there is ``F(x_t)``, not 0),
            ``lam >= 0``, ``0 <= momentum < 1``, ``threshold >= 0``; all finite.
    """

    def __init__(
        self,
        problem: Problem,
        steps: int,
        scheme: str | Scheme = "euler",
        *,
        period: int | Mapping[str, int | None] | None = None,
        learn: Sequence[str] = ("h",),
        init: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(problem, Problem):
            raise TypeError(
                f"problem must be an odenets.unfold Problem (Quadratic, RidgeRegression, ...), "
                f"got {type(problem).__name__}"
            )
        self.problem = problem
        self.steps = check_int("steps", steps, 1)
        self.scheme = get_scheme(scheme)
        if isinstance(learn, str) or not isinstance(learn, Sequence):
            raise TypeError(f"learn must be a tuple of names from {LEARNABLE}, got {learn!r}")
        for name in learn:
            if name not in LEARNABLE:
                raise unknown_name("learnable parameter", name, LEARNABLE)
        self.learn = tuple(learn)
        init = check_options("UnfoldedSolver init", init, LEARNABLE)
        self._momentum = momentum_coefficient(self.scheme)
        self._check_combination(init)
        names = ["h"]
        if "lam" in self.learn or "lam" in init:
            names.append("lam")
        if self._momentum is not None:
            names.append("momentum")
        if "threshold" in self.learn or "threshold" in init:
            names.append("threshold")
        self.periods = self._periods(period, names)
        #: the period of the step sizes ``h`` (None: one per iteration)
        self.period = self.periods["h"]
        dtype = _dtype_of(problem) or torch.get_default_dtype()

        self._add("h", init["h"] if "h" in init else problem.step_hint(), dtype)
        if "lam" in names:
            self._add("lam", init.get("lam", problem.lam), dtype)
            if "lam" in self.learn and bool((self.lam == 0).any()):
                raise ValueError(
                    "a learned lam is |xi_t|, whose gradient vanishes at xi = 0; start it "
                    f"away from 0 with init={{'lam': ...}}, got {self.lam.tolist()}"
                )
        if "momentum" in names:
            self._add("momentum", init.get("momentum", 0.0), dtype)
        if "threshold" in names:
            default = [
                self.problem.prox_weight * float(self.h.detach()[self.slot(j)])
                for j in range(self.slot_count("threshold"))
            ]
            self._add("threshold", init.get("threshold", default), dtype)
        # A scheme without tensor coefficients is bound once; the momentum coefficient
        # (k = -beta, gamma = beta) is bound per forward (once per slot), so it follows
        # training, load_state_dict and .to().
        self._stepper = None if self._momentum is not None else prepare(self.scheme)

    def _check_combination(self, init: dict) -> None:
        if ("lam" in self.learn or "lam" in init) and self.problem.lam is None:
            raise ValueError(
                f"'lam' needs a problem with a regularisation weight (RidgeRegression, "
                f"LeastSquares), got {type(self.problem).__name__}"
            )
        family = self.scheme.capabilities
        if not family.explicit or family.partitioned or family.noise == "increment":
            usable = unfoldable_schemes()
            raise ValueError(
                f"unfolding steps one gradient field explicitly: it needs a scheme with no "
                f"solve inside the step, an unsplit state and no Brownian increment, got "
                f"{self.scheme.name!r} (family {self.scheme.family!r}); usable: {usable}"
            )
        if ("momentum" in self.learn or "momentum" in init) and self._momentum is None:
            usable = [n for n in unfoldable_schemes() if momentum_coefficient(get_scheme(n))]
            raise ValueError(
                "momentum is the heavy-ball beta of a scheme that threads history and has a "
                f"momentum coefficient ({_coefficient_text()}), e.g. scheme='lm' or "
                f"scheme='momentum'; usable: {usable}; got scheme={self.scheme.name!r}"
            )
        if ("threshold" in self.learn or "threshold" in init) and not self.problem.has_prox:
            raise ValueError(
                f"'threshold' needs a problem with a proximal step (Lasso), got "
                f"{type(self.problem).__name__}"
            )

    def _periods(self, period: Any, names: list[str]) -> dict[str, int | None]:
        """Each quantity's period (None: per iteration), checked against ``steps``."""
        if isinstance(period, Mapping):
            given = check_options("UnfoldedSolver period", period, LEARNABLE)
            absent = sorted(set(given) - set(names))
            if absent:
                raise ValueError(
                    f"period names {absent}, which this solver does not have (its "
                    f"parameters: {names}); drop them or add them to learn / init"
                )
            out = {name: given.get(name) for name in names}
        else:
            out = dict.fromkeys(names, period)
        for name, p in out.items():
            if p is None:
                continue
            label = "period" if not isinstance(period, Mapping) else f"period[{name!r}]"
            check_int(label, p, 1)
            if p > self.steps:
                raise ValueError(
                    f"{label} must be <= steps ({self.steps}): a period longer than the "
                    f"unrolled network would leave parameters unused; got {p}"
                )
        return out

    def _bind_steppers(self) -> list:
        """One stepper per momentum slot (its coefficient bound to that slot's beta)."""
        if self._stepper is not None:
            return [self._stepper]
        name, factor = self._momentum
        return [
            prepare(self.scheme, coefficients={name: factor * self.momentum[i]})
            for i in range(self.slot_count("momentum"))
        ]

    def _slot_values(self, name: str, value: Any, dtype: torch.dtype) -> Tensor:
        """``value`` as one float per slot of ``name``, type- and range-checked."""
        n = self.slot_count(name)
        where = f"UnfoldedSolver init[{name!r}]"
        expected = f"a real number or {n} of them (one per parameter slot)"
        if isinstance(value, Tensor):
            if value.is_complex() or value.dtype == torch.bool:
                raise TypeError(f"{where} must be {expected}, got a {value.dtype} tensor")
            v = value.detach().to(dtype).clone()
        elif _is_real(value):
            v = torch.tensor(float(value), dtype=dtype)
        elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
            bad = next((x for x in value if not _is_real(x)), None)
            if bad is not None or not value:
                got = "an empty sequence" if not value else f"{type(bad).__name__} {bad!r}"
                raise TypeError(f"{where} must be {expected}, got {got} in {value!r}")
            v = torch.tensor([float(x) for x in value], dtype=dtype)
        else:
            raise TypeError(f"{where} must be {expected}, got {type(value).__name__} {value!r}")
        if v.ndim == 0:
            v = v.expand(n).clone()
        if v.ndim != 1 or v.numel() != n:
            raise ValueError(
                f"{where} must be a number or a sequence of {n} values (one per parameter "
                f"slot), got shape {tuple(v.shape)}"
            )
        if not torch.isfinite(v).all():
            i = int((~torch.isfinite(v)).nonzero()[0])
            raise ValueError(
                f"{where} must be finite ({_MEANING[name]}), got {float(v[i])} at slot {i}"
            )
        _check_range(where, name, v, learned=name in self.learn)
        return v

    def _add(self, name: str, value: Any, dtype: torch.dtype) -> None:
        v = self._slot_values(name, value, dtype)
        if name in self.learn:
            self.register_parameter(name, nn.Parameter(v))
        else:
            self.register_buffer(name, v)

    def slot_count(self, name: str = "h") -> int:
        """How many values quantity ``name`` has: its period, or ``steps``."""
        return self.periods[name] or self.steps

    def slot(self, t: int, name: str = "h") -> int:
        """The slot of quantity ``name`` iteration ``t`` (0-based) uses: ``t mod period`` or
        ``t``."""
        period = self.periods[name]
        return t % period if period else t

    def schedule(self, name: str = "h") -> Tensor:
        """The value of parameter ``name`` at every iteration ``0..steps-1`` (``lam`` and
        ``threshold`` as used, i.e. ``|xi_t|``, ``|theta_t|``)."""
        has = list(self.periods)
        if self.problem.has_prox and "threshold" not in has:
            has.append("threshold")
        if name not in has:
            raise unknown_name("parameter of this solver", name, has)
        if name == "threshold" and "threshold" not in self.periods:
            v, of = self.problem.prox_weight * self.h.detach(), "h"
        else:
            v, of = getattr(self, name).detach(), name
        v = v.abs() if name in ("lam", "threshold") else v
        return v[[self.slot(t, of) for t in range(self.steps)]]

    def forward(
        self,
        y: Tensor | None = None,
        x0: Tensor | None = None,
        iterations: int | None = None,
        trajectory: bool = False,
    ) -> Tensor:
        """Run the unrolled optimiser on data ``y`` from ``x0`` (default zeros).

        Args:
            y: the data batch ``(batch, rows)`` the objective depends on (None for an
                :class:`~odenets.unfold.Objective` without data).
            x0: the start ``(batch, dim)``; default zeros (then ``y`` fixes the batch).
            iterations: how many iterations to run, ``1..steps`` (default all): the
                ``t``-step network of incremental training.
            trajectory: return every iterate, shape ``(iterations + 1, batch, dim)``.

        Returns:
            The last iterate ``(batch, dim)``, or the trajectory.
        """
        n = self.steps if iterations is None else check_int("iterations", iterations, 0)
        if n > self.steps:
            raise ValueError(f"iterations must be <= steps ({self.steps}), got {n}")
        problem = self.problem
        y = problem.check_data(y)
        x = self._start(y, x0)
        rate = problem.field_fn(y)  # F = -grad f
        steppers = self._bind_steppers()
        own_threshold = "threshold" in self.periods
        xs = [x]
        state = None
        for t in range(n):
            lam = self.lam[self.slot(t, "lam")].abs() if "lam" in self.periods else None

            def field(stage: int, time: Any, z: Tensor, lam=lam) -> Tensor:
                return rate(z, lam)

            step = steppers[self.slot(t, "momentum") if self._stepper is None else 0]
            h = self.h[self.slot(t)]
            x, state = step(field, float(t), x, h, state)
            if problem.has_prox:
                if own_threshold:
                    theta = self.threshold[self.slot(t, "threshold")].abs()
                else:
                    theta = (problem.prox_weight * h).abs()
                x = problem.prox(x, theta)
            xs.append(x)
        return torch.stack(xs) if trajectory else x

    def _start(self, y: Tensor | None, x0: Tensor | None) -> Tensor:
        dim, dtype = self.problem.dim, _dtype_of(self.problem)
        if x0 is None:
            if y is None or dim is None:
                raise ValueError(
                    "give x0 (batch, dim): without data y (or a problem dimension) the start "
                    "cannot be zeros of a known shape"
                )
            return torch.zeros(y.shape[0], dim, dtype=y.dtype, device=y.device)
        if not isinstance(x0, Tensor) or not x0.is_floating_point():
            raise TypeError(f"x0 must be a floating torch.Tensor, got {type(x0).__name__}")
        if x0.ndim != 2 or (dim is not None and x0.shape[1] != dim):
            raise ValueError(
                f"x0 must be of shape (batch, {dim or 'dim'}), but got {tuple(x0.shape)}"
            )
        if y is not None and y.shape[0] != x0.shape[0]:
            raise ValueError(f"x0 has batch {x0.shape[0]} but y has batch {y.shape[0]}")
        if dtype is not None and x0.dtype != dtype:
            raise TypeError(f"x0 must have the problem's dtype {dtype}, got {x0.dtype}")
        return x0

    def extra_repr(self) -> str:
        periods = {k: v for k, v in self.periods.items() if v is not None}
        return (
            f"scheme={self.scheme.name!r}, steps={self.steps}, periods={periods}, "
            f"learn={self.learn}"
        )


def momentum_coefficient(scheme: str | Scheme) -> tuple[str, float] | None:
    """``(coefficient, factor)`` through which the heavy-ball ``beta`` enters ``scheme``
    (``coefficient = factor * beta``), or None: the scheme's family must thread history
    (``capabilities.history``) and the scheme must have a coefficient named in
    :data:`MOMENTUM_COEFFICIENTS`."""
    scheme = get_scheme(scheme)
    if not scheme.capabilities.history:
        return None
    for name, factor in MOMENTUM_COEFFICIENTS.items():
        if name in scheme.coefficients:
            return name, factor
    return None


def unfoldable_schemes() -> list[str]:
    """Schemes an :class:`UnfoldedSolver` can step with: explicit, one unsplit state, no
    Brownian increment (read from the families' capabilities)."""
    return list_schemes(where=lambda f: f.explicit and not f.partitioned and f.noise != "increment")


def _coefficient_text() -> str:
    return ", ".join(
        f"{name} = {'-' if c < 0 else ''}beta" for name, c in MOMENTUM_COEFFICIENTS.items()
    )


def _is_real(x: Any) -> bool:
    if isinstance(x, Tensor):
        return x.ndim == 0 and not x.is_complex() and x.dtype != torch.bool
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _check_range(where: str, name: str, v: Tensor, *, learned: bool) -> None:
    """Refuse initial values outside the quantity's range (expected / got / why)."""
    if name == "h":
        bad = v < 0 if learned else v <= 0
        rule = (
            "must be >= 0 (a step size along -grad f: h < 0 climbs f; a learned h may start "
            "at 0, where its gradient F(x_t) is not 0)"
            if learned
            else "must be > 0 (a fixed step size along -grad f: h = 0 leaves x unchanged, "
            "h < 0 climbs f)"
        )
    elif name == "momentum":
        bad = (v < 0) | (v >= 1)
        rule = (
            "must lie in [0, 1) (the heavy-ball beta: beta >= 1 keeps the iterates from "
            "converging (lm is zero-stable only for k = -beta > -1), beta < 0 is no momentum)"
        )
    else:  # lam, threshold: used as |xi_t|, |theta_t|
        bad = v < 0
        rule = f"must be >= 0 ({_MEANING[name]}; a negative start would only hide its sign)"
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise ValueError(f"{where} {rule}, got {float(v[i])} at slot {i}")


def _dtype_of(problem: Problem) -> torch.dtype | None:
    A = getattr(problem, "A", None)
    return A.dtype if isinstance(A, Tensor) else None
