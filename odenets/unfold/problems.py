"""Optimisation problems whose gradient flow ``dx/dt = -grad f(x)`` deep unfolding steps along.

A problem knows its objective ``f(x; y)`` for a batch of data ``y``, the gradient (analytic for
the quadratic problems, autograd for :class:`Objective`), its exact minimiser where one is
known, how to draw a training batch, and — for composite problems such as :class:`Lasso` — the
proximal map of the non-smooth part. Shapes: iterates ``x`` are ``(batch, dim)``, data ``y``
are ``(batch, rows)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from .._validate import check_choice, check_int, check_number
from ..numerics.gradient import GradientField

__all__ = [
    "DATA",
    "Batch",
    "Lasso",
    "LeastSquares",
    "Objective",
    "Problem",
    "Quadratic",
    "RidgeRegression",
    "soft_threshold",
]


#: How :meth:`LeastSquares.sample` draws data: ``y = A x (+ noise)`` or ``y ~ N(0, I)``.
DATA = ("signal", "gaussian")


class Batch(NamedTuple):
    """One training batch: data ``y`` (or None), the ``target`` the iterate should reach and an
    optional start ``x0`` (None: start at zero)."""

    y: Tensor | None
    target: Tensor
    x0: Tensor | None = None


def soft_threshold(x: Tensor, threshold: Any) -> Tensor:
    """The proximal map of ``threshold * ||x||_1``: ``sign(x) max(|x| - threshold, 0)``."""
    return torch.sign(x) * torch.relu(x.abs() - threshold)


def _matrix(name: str, A: Any) -> Tensor:
    if not isinstance(A, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (a 2-D matrix), got {type(A).__name__}")
    if A.ndim != 2 or A.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 2-D matrix, got shape {tuple(A.shape)}")
    if not A.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype (float32/float64), got {A.dtype}")
    if not torch.isfinite(A).all():
        raise ValueError(f"{name} must be finite, got NaN or inf entries")
    return A


class Problem:
    """Abstract base of the unfolding problems.

    Subclasses set ``dim`` (the length of ``x``, or None when only ``x0`` fixes it) and
    implement :meth:`value` and :meth:`gradient_fn`.
    """

    dim: int | None = None
    #: whether :meth:`prox` is a real proximal map (composite problems: forward-backward steps)
    has_prox: bool = False
    #: the regularisation weight a solver may learn per iteration (None: not a parameter)
    lam: float | None = None
    #: the weight of the non-smooth part the prox handles (threshold = weight * step)
    prox_weight: float = 0.0

    def value(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Per-sample objective values, shape ``(batch,)``."""
        raise NotImplementedError

    def gradient_fn(self, y: Tensor | None = None) -> Callable[..., Tensor]:
        """Bind the data ``y`` once per trajectory; returns ``grad(x, lam=None)`` (the gradient
        of the smooth part, ``lam`` overriding the regularisation weight)."""
        raise NotImplementedError

    def field_fn(self, y: Tensor | None = None) -> Callable[..., Tensor]:
        """Bind the data ``y``; returns the gradient-flow field ``F(x, lam=None) = -grad``."""
        grad = self.gradient_fn(y)
        return lambda x, lam=None: -grad(x, lam)

    def grad(self, x: Tensor, y: Tensor | None = None, lam: Any = None) -> Tensor:
        """The gradient of the smooth part of ``f`` at ``x``."""
        return self.gradient_fn(y)(x, lam)

    def prox(self, x: Tensor, threshold: Any) -> Tensor:
        """The proximal map of the non-smooth part (identity for smooth problems)."""
        return x

    def solution(self, y: Tensor | None = None) -> Tensor | None:
        """The exact minimiser for each sample of ``y``, or None when none is known."""
        return None

    def spectrum(self) -> tuple[float, float]:
        """``(lmin, lmax)``: the extreme Hessian eigenvalues (quadratic problems only)."""
        raise ValueError(f"{type(self).__name__} has no constant Hessian, so no spectrum")

    def step_hint(self) -> float:
        """A safe default gradient step: ``1 / lmax`` where the spectrum is known."""
        return 1.0 / self.spectrum()[1]

    def check_data(self, y: Any) -> Tensor | None:
        """Validate a data batch ``y``; returns it."""
        return y


class Objective(Problem):
    """Any differentiable objective; the gradient ``grad f`` is taken by autograd through
    :class:`odenets.GradientField`.

    Args:
        f: ``f(x)`` (or ``f(x, y)`` when the solver is given data ``y``) returning per-sample
            values ``(batch,)`` for ``x`` of shape ``(batch, dim)``.
        dim: the length of ``x`` (None: taken from ``x0``).
        minimizer: the known minimiser (a number or tensor broadcast to ``x``), if any.
        step: the default gradient step of an unfolded solver on this objective.
    """

    def __init__(
        self,
        f: Callable[..., Tensor],
        *,
        dim: int | None = None,
        minimizer: float | Tensor | None = None,
        step: float = 0.1,
    ) -> None:
        if not callable(f):
            raise TypeError(f"f must be callable as f(x) or f(x, y), got {type(f).__name__}")
        self.f = f
        self.dim = None if dim is None else check_int("dim", dim, 1)
        if minimizer is not None and not isinstance(minimizer, Tensor):
            minimizer = torch.tensor(check_number("minimizer", minimizer))
        self.minimizer = minimizer
        self.step = check_number("step", step, positive=True)

    def _bind(self, y: Tensor | None) -> Callable[[Tensor], Tensor]:
        return self.f if y is None else (lambda x: self.f(x, y))

    def value(self, x, y=None):
        return self._bind(y)(x)

    def field_fn(self, y=None):
        field = GradientField(self._bind(y))  # field(x) = -grad f(x), by autograd

        def rate(x: Tensor, lam: Any = None) -> Tensor:
            if lam is not None:
                raise ValueError("an Objective has no regularisation weight to override")
            return field(x)

        return rate

    def gradient_fn(self, y=None):
        field = self.field_fn(y)
        return lambda x, lam=None: -field(x, lam)

    def solution(self, y=None):
        return self.minimizer

    def step_hint(self) -> float:
        return self.step


class Quadratic(Problem):
    """``f(x; b) = 1/2 x^T A x - b^T x`` with symmetric positive-definite ``A``; the data ``y``
    of a batch are the linear terms ``b``. Gradient ``A x - b``, minimiser ``A^{-1} b``.

    Args:
        A: the symmetric positive-definite Hessian ``(n, n)``.
        b: the default linear term ``(n,)`` used when no data are given (default 0).
    """

    def __init__(self, A: Tensor, b: Tensor | None = None) -> None:
        A = _matrix("A", A)
        if A.shape[0] != A.shape[1]:
            raise ValueError(
                f"Quadratic needs a square Hessian A, got shape {tuple(A.shape)}; for a "
                "rectangular matrix use LeastSquares or RidgeRegression"
            )
        if not torch.allclose(A, A.T, rtol=1e-6, atol=1e-8 * float(A.abs().max())):
            raise ValueError(
                "Quadratic needs a symmetric A (the Hessian of f), got a non-symmetric one"
            )
        eig = torch.linalg.eigvalsh(A)
        if eig[0] <= 0:
            raise ValueError(
                f"Quadratic needs a positive-definite A (f must have a unique minimiser), "
                f"smallest eigenvalue {float(eig[0]):.3g}"
            )
        self.A = A
        self.dim = A.shape[0]
        self._spectrum = (float(eig[0]), float(eig[-1]))
        if b is not None:
            b = self.check_data(b.unsqueeze(0) if isinstance(b, Tensor) and b.ndim == 1 else b)
        self.b = b

    def check_data(self, y):
        if y is None:
            return self.b
        return _check_rows("b", y, self.dim, self.A.dtype)

    def hessian(self) -> Tensor:
        """The constant Hessian ``A``."""
        return self.A

    def linear_term(self, y: Tensor | None) -> Tensor:
        """``b`` per sample, ``(batch, n)`` (zeros of batch 1 when no data)."""
        y = self.check_data(y)
        return torch.zeros(1, self.dim, dtype=self.A.dtype) if y is None else y

    def value(self, x, y=None):
        b = self.linear_term(y)
        return 0.5 * ((x @ self.A) * x).sum(-1) - (b * x).sum(-1)

    def gradient_fn(self, y=None):
        b = self.linear_term(y)

        def grad(x: Tensor, lam: Any = None) -> Tensor:
            if lam is not None:
                raise ValueError("a Quadratic has no regularisation weight to override")
            return x @ self.A - b

        return grad

    def solution(self, y=None):
        return torch.linalg.solve(self.A, self.linear_term(y).T).T

    def spectrum(self):
        return self._spectrum

    def sample(self, batch: int, generator: torch.Generator | None = None) -> Batch:
        """Linear terms ``b ~ N(0, I)``; the target is the minimiser ``A^{-1} b``."""
        check_int("batch", batch, 1)
        b = torch.randn(batch, self.dim, generator=generator, dtype=self.A.dtype)
        return Batch(b, self.solution(b))


class LeastSquares(Problem):
    """``f(x; y) = 1/2 ||A x - y||^2``; gradient ``A^T (A x - y)``, minimiser by ``lstsq``
    (minimum norm when ``A`` is rank deficient).

    Args:
        A: the ``(m, n)`` measurement matrix; ``x`` has length ``n``, data ``y`` length ``m``.
    """

    def __init__(self, A: Tensor) -> None:
        self.A = _matrix("A", A)
        self.rows, self.dim = A.shape
        self.gram = A.T @ A
        self._eig = torch.linalg.eigvalsh(self.gram)
        self.lam = 0.0

    def check_data(self, y):
        if y is None:
            raise ValueError(f"{type(self).__name__} needs data y of shape (batch, {self.rows})")
        return _check_rows("y", y, self.rows, self.A.dtype)

    def _lam(self, lam: Any) -> Any:
        lam = self.lam if lam is None else lam
        return 0.0 if lam is None else lam

    def hessian(self, lam: float | None = None) -> Tensor:
        """The constant Hessian ``A^T A + lam I``."""
        lam = self._lam(lam)
        return self.gram + lam * torch.eye(self.dim, dtype=self.A.dtype) if lam else self.gram

    def linear_term(self, y: Tensor) -> Tensor:
        """``A^T y`` per sample, ``(batch, n)``."""
        return self.check_data(y) @ self.A

    def value(self, x, y=None):
        r = x @ self.A.T - self.check_data(y)
        out = 0.5 * (r * r).sum(-1)
        lam = self._lam(None)
        return out + 0.5 * lam * (x * x).sum(-1) if lam else out

    def gradient_fn(self, y=None):
        aty = self.linear_term(y)

        def grad(x: Tensor, lam: Any = None) -> Tensor:
            g = x @ self.gram - aty
            lam = self._lam(lam)
            return g if isinstance(lam, float) and lam == 0 else g + lam * x

        return grad

    def solution(self, y=None):
        return torch.linalg.lstsq(self.A, self.check_data(y).T).solution.T

    def spectrum(self):
        lam = self._lam(None)
        return float(self._eig[0].clamp_min(0)) + lam, float(self._eig[-1]) + lam

    def sample(
        self,
        batch: int,
        generator: torch.Generator | None = None,
        *,
        noise_std: float = 0.0,
        data: str = "signal",
    ) -> Batch:
        """Draw a batch of data and its exact minimisers (the target, not the signal).

        Args:
            batch: the number of samples ``K``.
            generator: the random generator (None: torch's global one).
            noise_std: for ``data="signal"``, the standard deviation of the added noise ``w``.
            data: ``"signal"``: signals ``x ~ N(0, I_n)``, data ``y = A x + noise_std w``
                (``Cov(A^T y) = (A^T A)^2 + noise_std^2 A^T A``); ``"gaussian"``: data
                ``y ~ N(0, I_m)`` with no model behind them (``Cov(A^T y) = A^T A``), the
                mini-batches of Wadayama's book (ch. 3, DU-GD on ridge regression).
        """
        check_int("batch", batch, 1)
        check_choice("data", data, DATA)
        noise_std = check_number("noise_std", noise_std)
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0 (a standard deviation), got {noise_std}")
        if data == "gaussian":
            if noise_std:
                raise ValueError(
                    "noise_std adds noise to y = A x; data='gaussian' draws y ~ N(0, I) "
                    f"directly, so noise_std must be 0, got {noise_std}"
                )
            y = torch.randn(batch, self.rows, generator=generator, dtype=self.A.dtype)
            return Batch(y, self.solution(y))
        x = torch.randn(batch, self.dim, generator=generator, dtype=self.A.dtype)
        y = x @ self.A.T
        if noise_std:
            y = y + noise_std * torch.randn(y.shape, generator=generator, dtype=y.dtype)
        return Batch(y, self.solution(y))


class RidgeRegression(LeastSquares):
    """``f(x; y) = 1/2 ||A x - y||^2 + lam/2 ||x||^2``; gradient ``(A^T A + lam I) x - A^T y``,
    exact minimiser ``x_opt = (A^T A + lam I)^{-1} A^T y``.

    This is the problem of Wadayama's deep-unfolding book (ch. 3, DU-GD; its mini-batches are
    ``sample(..., data="gaussian")``): its Hessian has spectrum
    ``[lmin(A^T A) + lam, lmax(A^T A) + lam]``. ``lam`` may be overridden per iteration by an
    unfolded solver (``learn=("h", "lam")``).

    Args:
        A: the ``(m, n)`` matrix.
        lam: the ridge weight, ``>= 0``.
    """

    def __init__(self, A: Tensor, lam: float) -> None:
        super().__init__(A)
        lam = check_number("lam", lam)
        if lam < 0:
            raise ValueError(f"lam must be >= 0 (a ridge weight), got {lam}")
        self.lam = lam

    def solution(self, y=None):
        return torch.linalg.solve(self.hessian(), self.linear_term(y).T).T


class Lasso(LeastSquares):
    """``f(x; y) = 1/2 ||A x - y||^2 + lam ||x||_1``: a smooth part stepped by the scheme and a
    proximal map (soft thresholding). One Euler step on the smooth part followed by the prox is
    ISTA (forward-backward splitting); unfolded ISTA learns the step and threshold per
    iteration (``learn=("h", "threshold")``).

    The target of a sampled batch is the sparse signal itself (there is no closed-form
    minimiser), so solvers are scored by NMSE against the signal.

    Args:
        A: the ``(m, n)`` measurement matrix (``m < n`` for compressed sensing).
        lam: the l1 weight, ``> 0``.
    """

    has_prox = True

    def __init__(self, A: Tensor, lam: float) -> None:
        super().__init__(A)
        self.l1 = self.prox_weight = check_number("lam", lam, positive=True)
        self.lam = None  # the smooth part has no ridge weight to learn

    def value(self, x, y=None):
        return super().value(x, y) + self.l1 * x.abs().sum(-1)

    def prox(self, x, threshold):
        return soft_threshold(x, threshold)

    def solution(self, y=None):
        return None

    def sample(
        self,
        batch: int,
        generator: torch.Generator | None = None,
        *,
        sparsity: float = 0.1,
        noise_std: float = 0.0,
    ) -> Batch:
        """Bernoulli–Gaussian signals (each entry nonzero with probability ``sparsity``, then
        ``N(0, 1)``), data ``y = A x + noise_std w``; the target is the signal."""
        check_int("batch", batch, 1)
        sparsity = check_number("sparsity", sparsity)
        if not 0 < sparsity <= 1:
            raise ValueError(f"sparsity must be in (0, 1], got {sparsity}")
        shape, dtype = (batch, self.dim), self.A.dtype
        support = torch.rand(shape, generator=generator, dtype=dtype) < sparsity
        x = torch.randn(shape, generator=generator, dtype=dtype) * support
        y = x @ self.A.T
        if noise_std:
            y = y + noise_std * torch.randn(y.shape, generator=generator, dtype=dtype)
        return Batch(y, x)


def _check_rows(name: str, y: Any, rows: int, dtype: torch.dtype) -> Tensor:
    if not isinstance(y, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape (batch, {rows}), got {type(y).__name__}"
        )
    if y.ndim != 2 or y.shape[1] != rows:
        raise ValueError(f"{name} must be of shape (batch, {rows}), but got {tuple(y.shape)}")
    if y.dtype != dtype:
        raise TypeError(f"{name} must have the problem's dtype {dtype}, got {y.dtype}")
    return y
