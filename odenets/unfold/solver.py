"""An optimiser unrolled into a network: steps of a registered scheme on ``F = -grad f``.

Iteration ``t`` is one step of ``scheme`` on the gradient flow of the problem, taken through
:func:`odenets.numerics.steps.prepare` (the same stepper ``odeint`` and ``SchemeBlock`` call)
with the step size ``h_t`` as a tensor. Only these step parameters are learned:

* ``euler`` with learned ``h_t`` is DU-GD, ``x_{t+1} = x_t - h_t grad f(x_t)`` (Wadayama).
* ``lm`` is the two-step heavy ball: ``x_{t+1} = (1-k) x_t + k x_{t-1} + (1+k) h F(x_t)`` is
  ``x_t - alpha grad f(x_t) + beta (x_t - x_{t-1})`` with ``k = -beta``,
  ``alpha = (1 - beta) h``; ``learn=("h", "momentum")`` learns ``(h_t, beta_t)``. The first
  step is Euler (the multistep start), i.e. plain gradient descent with ``alpha_0 = h_0``.
* any other scheme (``heun``, ``rk4``, ...) on the gradient field, unchanged.
* composite problems (:class:`~odenets.unfold.Lasso`) follow each step by the prox with
  threshold ``theta_t`` (learned with ``"threshold"``, else ``lam * h_t``): forward-backward
  splitting, i.e. (unfolded) ISTA.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._validate import check_int, check_options, unknown_name
from ..numerics.schemes import Scheme, get_scheme, list_schemes
from ..numerics.steps import prepare
from .problems import Problem

__all__ = ["LEARNABLE", "UnfoldedSolver", "unfoldable_schemes"]

#: the per-iteration parameters an :class:`UnfoldedSolver` can learn
LEARNABLE = ("h", "lam", "momentum", "threshold")


class UnfoldedSolver(nn.Module):
    """``steps`` iterations of ``scheme`` on ``-grad f`` with per-iteration step parameters.

    Args:
        problem: a :class:`~odenets.unfold.Problem` (its gradient is the field).
        steps: the number of iterations ``T`` (network depth), ``>= 1``.
        scheme: a registered scheme id; ``"euler"`` is gradient descent, ``"lm"`` heavy ball.
        period: ``None`` (every iteration has its own parameters) or ``P`` with
            ``1 <= P <= steps``: iteration ``t`` uses parameter slot ``t mod P`` (period-``P``
            step sharing of Wadayama's DU-GD).
        learn: which parameters are trained: a subset of ``("h", "lam", "momentum",
            "threshold")``; the others are fixed buffers. ``()`` gives a fixed schedule (the
            baselines). ``"lam"`` learns a ridge weight ``|xi_t|`` per slot (the problem must
            have one, and the start must be nonzero: ``|xi|`` has no gradient at 0),
            ``"momentum"`` needs ``scheme="lm"``, ``"threshold"`` a problem with a prox.
        init: initial (or fixed) values per name: a number, or a sequence with one value per
            slot (``P`` values, or ``steps`` without a period). Defaults: ``h`` the problem's
            :meth:`~odenets.unfold.Problem.step_hint`, ``lam`` the problem's weight,
            ``momentum`` 0; without ``threshold`` (neither learned nor given) the prox uses
            ``prox_weight * h_t`` with the current ``h_t`` (ISTA).
    """

    def __init__(
        self,
        problem: Problem,
        steps: int,
        scheme: str | Scheme = "euler",
        *,
        period: int | None = None,
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
        if period is not None:
            check_int("period", period, 1)
            if period > steps:
                raise ValueError(
                    f"period must be <= steps ({steps}): a period longer than the unrolled "
                    f"network would leave parameters unused; got period={period}"
                )
        self.period = period
        self.slots = period or steps
        self.scheme = get_scheme(scheme)
        if isinstance(learn, str) or not isinstance(learn, Sequence):
            raise TypeError(f"learn must be a tuple of names from {LEARNABLE}, got {learn!r}")
        for name in learn:
            if name not in LEARNABLE:
                raise unknown_name("learnable parameter", name, LEARNABLE)
        self.learn = tuple(learn)
        init = check_options("UnfoldedSolver init", init, LEARNABLE)
        self._check_combination(init)
        dtype = _dtype_of(problem) or torch.get_default_dtype()

        self._add("h", init.get("h", problem.step_hint()), dtype)
        if "lam" in self.learn or "lam" in init:
            self._add("lam", init.get("lam", problem.lam), dtype)
            if "lam" in self.learn and bool((self.lam == 0).any()):
                raise ValueError(
                    "a learned lam is |xi_t|, whose gradient vanishes at xi = 0; start it "
                    f"away from 0 with init={{'lam': ...}}, got {self.lam.tolist()}"
                )
        if self.scheme.name == "lm":
            self._add("momentum", init.get("momentum", 0.0), dtype)
        if "threshold" in self.learn or "threshold" in init:
            self._add("threshold", init.get("threshold", self._threshold().detach()), dtype)
        # A scheme without tensor coefficients is bound once; lm's k = -beta is bound per
        # forward (once per slot), so it follows training, load_state_dict and .to().
        self._stepper = None if self.scheme.name == "lm" else prepare(self.scheme)

    def _check_combination(self, init: dict) -> None:
        if ("lam" in self.learn or "lam" in init) and self.problem.lam is None:
            raise ValueError(
                f"'lam' needs a problem with a regularisation weight (RidgeRegression, "
                f"LeastSquares), got {type(self.problem).__name__}"
            )
        if ("momentum" in self.learn or "momentum" in init) and self.scheme.name != "lm":
            raise ValueError(
                "momentum is the k = -beta coefficient of the two-step 'lm' scheme (heavy "
                f"ball); use scheme='lm', got scheme={self.scheme.name!r}"
            )
        if ("threshold" in self.learn or "threshold" in init) and not self.problem.has_prox:
            raise ValueError(
                f"'threshold' needs a problem with a proximal step (Lasso), got "
                f"{type(self.problem).__name__}"
            )
        family = self.scheme.capabilities
        if not family.explicit or family.partitioned or family.noise == "increment":
            usable = unfoldable_schemes()
            raise ValueError(
                f"unfolding steps one gradient field explicitly: it needs a scheme with no "
                f"solve inside the step, an unsplit state and no Brownian increment, got "
                f"{self.scheme.name!r} (family {self.scheme.family!r}); usable: {usable}"
            )

    def _bind_steppers(self) -> list:
        """One stepper per parameter slot (the ``lm`` coefficient ``k = -beta`` per slot)."""
        if self._stepper is not None:
            return [self._stepper] * self.slots
        return [
            prepare(self.scheme, coefficients={"k": -self.momentum[i]}) for i in range(self.slots)
        ]

    def _slot_values(self, value: Any, dtype: torch.dtype) -> Tensor:
        v = torch.as_tensor(value, dtype=dtype).detach().clone()
        if v.ndim == 0:
            return v.expand(self.slots).clone()
        if v.ndim != 1 or v.numel() != self.slots:
            raise ValueError(
                f"initial values must be a number or a sequence of {self.slots} values (one per "
                f"parameter slot), got shape {tuple(v.shape)}"
            )
        if not torch.isfinite(v).all():
            raise ValueError("initial values must be finite")
        return v

    def _add(self, name: str, value: Any, dtype: torch.dtype) -> None:
        v = self._slot_values(value, dtype)
        if name in self.learn:
            self.register_parameter(name, nn.Parameter(v))
        else:
            self.register_buffer(name, v)

    def slot(self, t: int) -> int:
        """The parameter slot iteration ``t`` (0-based) uses: ``t mod period`` or ``t``."""
        return t % self.period if self.period else t

    def schedule(self, name: str = "h") -> Tensor:
        """The value of parameter ``name`` at every iteration ``0..steps-1`` (``lam`` and
        ``threshold`` as used, i.e. ``|xi_t|``, ``|theta_t|``)."""
        has = [n for n in LEARNABLE if hasattr(self, n)]
        if self.problem.has_prox and "threshold" not in has:
            has.append("threshold")
        if name not in has:
            raise unknown_name("parameter of this solver", name, has)
        v = self._threshold() if name == "threshold" else getattr(self, name)
        v = v.detach().abs() if name in ("lam", "threshold") else v.detach()
        return v[[self.slot(t) for t in range(self.steps)]]

    def _threshold(self) -> Tensor:
        """Per-slot prox thresholds: learned / given ``theta``, else ``prox_weight * h``."""
        if hasattr(self, "threshold"):
            return self.threshold
        return self.problem.prox_weight * self.h

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
        thresholds = self._threshold().abs() if problem.has_prox else None
        xs = [x]
        state = None
        for t in range(n):
            i = self.slot(t)
            lam = self.lam[i].abs() if hasattr(self, "lam") else None

            def field(stage: int, time: Any, z: Tensor, lam=lam) -> Tensor:
                return rate(z, lam)

            x, state = steppers[i](field, float(t), x, self.h[i], state)
            if problem.has_prox:
                x = problem.prox(x, thresholds[i])
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
        return (
            f"scheme={self.scheme.name!r}, steps={self.steps}, period={self.period}, "
            f"learn={self.learn}"
        )


def unfoldable_schemes() -> list[str]:
    """Schemes an :class:`UnfoldedSolver` can step with: explicit, one unsplit state, no
    Brownian increment (read from the families' capabilities)."""
    return list_schemes(where=lambda f: f.explicit and not f.partitioned and f.noise != "increment")


def _dtype_of(problem: Problem) -> torch.dtype | None:
    A = getattr(problem, "A", None)
    return A.dtype if isinstance(A, Tensor) else None
