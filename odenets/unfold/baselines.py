"""Classical step schedules and solvers that unfolded optimisers are measured against.

All fixed schedules are :class:`~odenets.unfold.UnfoldedSolver` instances with nothing learned
(``learn=()``), so a baseline runs through exactly the same stepper as the trained network.
Conjugate gradient is the exception (its step depends on the iterate).

References: Chebyshev steps of Takabe & Wadayama (arXiv 2001.05142), ordered as in the
Richardson-iteration literature (Lebedev & Finogenov 1971; Leja ordering, Reichel 1991);
heavy ball of Polyak (1964).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._validate import check_int, check_number
from .problems import Problem
from .solver import UnfoldedSolver

__all__ = [
    "chebyshev_order",
    "chebyshev_rate",
    "chebyshev_solver",
    "chebyshev_steps",
    "conjugate_gradient",
    "constant_solver",
    "constant_step",
    "heavy_ball_parameters",
    "heavy_ball_solver",
]


def _spectrum(lmin: float, lmax: float) -> tuple[float, float]:
    lmin, lmax = check_number("lmin", lmin, positive=True), check_number("lmax", lmax)
    if lmax < lmin:
        raise ValueError(f"need lmin <= lmax (Hessian eigenvalue bounds), got {lmin} > {lmax}")
    return lmin, lmax


def constant_step(lmin: float, lmax: float) -> float:
    """The optimal constant gradient step ``2 / (lmin + lmax)``: contraction
    ``(kappa - 1) / (kappa + 1)`` per step on a quadratic with that spectrum."""
    lmin, lmax = _spectrum(lmin, lmax)
    return 2.0 / (lmin + lmax)


def chebyshev_order(T: int) -> list[int]:
    """A numerically stable order of the ``T`` Chebyshev roots ``c_k = cos((2k+1) pi / 2T)``.

    For even ``T = 2m`` the roots come in mirror pairs ``(c_j, -c_j) = (c_j, c_{T-1-j})``
    whose product ``x^2 - c_j^2 = (T_2(x) - cos(2 phi_j)) / 2`` is a root factor of
    ``T_m(T_2(x))``; so the pairs are emitted in the stable order of ``T_m``, each pair kept
    adjacent (for ``T = 2^p`` this is the Lebedev–Finogenov permutation, e.g. roots
    ``1, 7, 3, 5`` (in units of pi/8) for ``T = 4``). An odd ``T`` is ordered greedily in the
    Leja sense (each next root maximises the product of its distances to those already
    taken), which keeps partial products bounded. The ascending order ``0..T-1`` instead
    applies all the large steps ``~1/lmin`` last: their product amplifies rounding errors by
    up to ``~kappa^(T/2)``.
    """
    T = check_int("T", T, 1)
    if T == 1:
        return [0]
    if T % 2 == 0:
        out: list[int] = []
        for j in chebyshev_order(T // 2):
            out += [j, T - 1 - j]
        return out
    roots = [math.cos((2 * k + 1) * math.pi / (2 * T)) for k in range(T)]
    order = [0]
    left = set(range(1, T))
    while left:
        nxt = max(left, key=lambda k: sum(math.log(abs(roots[k] - roots[j])) for j in order))
        order.append(nxt)
        left.remove(nxt)
    return order


def chebyshev_steps(lmin: float, lmax: float, T: int, order: str = "stable") -> Tensor:
    """The ``T`` Chebyshev steps ``gamma_k = 1 / (l+ + l- cos((2k+1) pi / 2T))``,
    ``l+- = (lmax +- lmin) / 2`` (Takabe & Wadayama 2020), as a float64 tensor.

    ``T`` gradient steps with these sizes (in any order, in exact arithmetic) multiply every
    error component by at most :func:`chebyshev_rate` — the optimal bound for ``T`` steps on a
    spectrum in ``[lmin, lmax]``.

    Args:
        lmin, lmax: bounds of the Hessian spectrum, ``0 < lmin <= lmax``.
        T: the number of steps (the period when used periodically), ``>= 1``.
        order: ``"stable"`` (:func:`chebyshev_order`) or ``"ascending"`` (``k = 0..T-1``,
            smallest step first: unstable in floating point for large ``T``).
    """
    lmin, lmax = _spectrum(lmin, lmax)
    T = check_int("T", T, 1)
    if order not in ("stable", "ascending"):
        raise ValueError(f"order must be 'stable' or 'ascending', got {order!r}")
    lp, lm = (lmax + lmin) / 2, (lmax - lmin) / 2
    ks = chebyshev_order(T) if order == "stable" else list(range(T))
    return torch.tensor(
        [1.0 / (lp + lm * math.cos((2 * k + 1) * math.pi / (2 * T))) for k in ks],
        dtype=torch.float64,
    )


def chebyshev_rate(lmin: float, lmax: float, T: int) -> float:
    """``max_{l in [lmin, lmax]} |prod_k (1 - gamma_k l)| = 1 / T_T(l+ / l-)``: the error
    reduction of ``T`` Chebyshev steps (``T_T`` the Chebyshev polynomial)."""
    lmin, lmax = _spectrum(lmin, lmax)
    T = check_int("T", T, 1)
    if lmin == lmax:
        return 0.0
    zeta = (lmax + lmin) / (lmax - lmin)
    return 1.0 / math.cosh(T * math.acosh(zeta))


def heavy_ball_parameters(lmin: float, lmax: float) -> tuple[float, float]:
    """Polyak's optimal heavy-ball ``(alpha, beta) = (4 / (sqrt L + sqrt mu)^2,
    ((sqrt L - sqrt mu) / (sqrt L + sqrt mu))^2)``: asymptotic rate ``sqrt(beta)`` per step."""
    lmin, lmax = _spectrum(lmin, lmax)
    a, b = math.sqrt(lmax), math.sqrt(lmin)
    return 4.0 / (a + b) ** 2, ((a - b) / (a + b)) ** 2


def _problem_spectrum(problem: Problem, lmin, lmax) -> tuple[float, float]:
    if lmin is None or lmax is None:
        lo, hi = problem.spectrum()
        lmin, lmax = lo if lmin is None else lmin, hi if lmax is None else lmax
    return _spectrum(lmin, lmax)


def constant_solver(
    problem: Problem, steps: int, lmin: float | None = None, lmax: float | None = None
) -> UnfoldedSolver:
    """Gradient descent with the constant step :func:`constant_step` (spectrum from the
    problem unless given)."""
    h = constant_step(*_problem_spectrum(problem, lmin, lmax))
    return UnfoldedSolver(problem, steps, "euler", period=1, learn=(), init={"h": h})


def chebyshev_solver(
    problem: Problem,
    steps: int,
    period: int | None = None,
    *,
    order: str = "stable",
    lmin: float | None = None,
    lmax: float | None = None,
) -> UnfoldedSolver:
    """Gradient descent with Chebyshev steps of period ``period`` (default ``steps``)."""
    period = period or steps
    h = chebyshev_steps(*_problem_spectrum(problem, lmin, lmax), period, order)
    return UnfoldedSolver(problem, steps, "euler", period=period, learn=(), init={"h": h})


def heavy_ball_solver(
    problem: Problem,
    steps: int,
    lmin: float | None = None,
    lmax: float | None = None,
    *,
    learn: tuple[str, ...] = (),
) -> UnfoldedSolver:
    """Polyak's heavy ball as the ``lm`` scheme: ``k = -beta``, ``h = alpha / (1 - beta)``;
    the first (Euler-start) step uses ``h_0 = alpha``, i.e. ``x_1 = x_0 - alpha grad f``.
    ``learn=("h", "momentum")`` starts unfolded heavy ball from this optimum."""
    alpha, beta = heavy_ball_parameters(*_problem_spectrum(problem, lmin, lmax))
    h = torch.full((steps,), alpha / (1 - beta), dtype=torch.float64)
    h[0] = alpha
    return UnfoldedSolver(problem, steps, "lm", learn=learn, init={"h": h, "momentum": beta})


def conjugate_gradient(
    problem: Problem, y: Tensor | None, iterations: int, x0: Tensor | None = None
) -> Tensor:
    """Batched conjugate gradient on a quadratic problem (``H x = b`` with the problem's
    Hessian and linear term); returns the trajectory ``(iterations + 1, batch, n)``.

    Exact in at most ``n`` iterations in exact arithmetic; error bound
    ``2 ((sqrt kappa - 1) / (sqrt kappa + 1))^t`` in the ``H``-norm.
    """
    if not hasattr(problem, "hessian"):
        raise ValueError(
            f"conjugate_gradient needs a quadratic problem, got {type(problem).__name__}"
        )
    iterations = check_int("iterations", iterations, 0)
    H, b = problem.hessian(), problem.linear_term(y)
    x = torch.zeros_like(b) if x0 is None else x0
    r = b - x @ H
    p = r
    rs = (r * r).sum(-1, keepdim=True)
    xs = [x]
    for _ in range(iterations):
        Hp = p @ H
        pHp = (p * Hp).sum(-1, keepdim=True)
        alpha = torch.where(pHp > 0, rs / pHp.clamp_min(torch.finfo(b.dtype).tiny), 0.0)
        x = x + alpha * p
        r = r - alpha * Hp
        rs_new = (r * r).sum(-1, keepdim=True)
        beta = torch.where(rs > 0, rs_new / rs.clamp_min(torch.finfo(b.dtype).tiny), 0.0)
        p = r + beta * p
        rs = rs_new
        xs.append(x)
    return torch.stack(xs)
