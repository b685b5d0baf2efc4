"""The fit of the steps to a target against the batch size, ``N(b) = A b / (c b - B)``
(Sato & Iiduka, ICML 2023; see :mod:`odenets.workflow.batch_size`).

The model is invariant under scaling ``(A, B, c)`` together, so only ``A / c`` (the steps at
an infinite batch) and ``B / c`` (the batch size below which the target is out of reach) are
identifiable; fits are reported with ``c = 1``. The fit is least squares on ``log N``
(Levenberg–Marquardt from a linear guess on ``1/N`` against ``1/b``); the critical batch
size is ``b* = 2 B / c``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["StepsFit", "fit_steps"]


@dataclass(frozen=True)
class StepsFit:
    """The fit of ``N(b) = A b / (c b - B)`` (with ``c = 1``, see the module docstring).

    Attributes:
        ok: whether the fit gives an interior minimum of ``N(b)·b`` (``A > 0``, ``B > 0``).
        A: steps at an infinite batch, ``A / c``.
        B: the batch size below which the target is out of reach, ``B / c``.
        c: 1 (the normalisation).
        critical_batch: ``b* = 2 B / c``, the minimiser of ``N(b)·b`` (None if not ``ok``).
        min_sfo: ``N(b*)·b* = 4 A B / c²`` (None if not ``ok``).
        rms_log_residual: root-mean-square of ``log N - log N_fit`` over the points.
        linear_guess: ``(A, B)`` from the linearised fit (None where its intercept ``c/A`` is
            not positive).
        points: how many measurements were fitted.
        reason: why the fit is not ``ok`` (or a note, e.g. ``b*`` outside the measured range).
    """

    ok: bool
    A: float | None
    B: float | None
    c: float = 1.0
    critical_batch: float | None = None
    min_sfo: float | None = None
    rms_log_residual: float | None = None
    linear_guess: tuple[float, float] | None = None
    points: int = 0
    reason: str = ""

    def steps(self, b: Any) -> np.ndarray:
        """The fitted ``N(b)`` (``inf`` for ``b <= B / c``)."""
        b = np.asarray(b, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            n = self.A * b / (self.c * b - self.B)
        return np.where(self.c * b > self.B, n, np.inf)


def _log_residuals(theta: np.ndarray, b: np.ndarray, logn: np.ndarray) -> np.ndarray:
    u, B = theta  # u = log A
    return logn - u - np.log(b) + np.log(b - B)


def _refine(b: np.ndarray, logn: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Levenberg–Marquardt on the log residuals in ``(log A, B)``, keeping ``B < min b``."""
    theta, lam = start.astype(float), 1e-3
    cost = float(np.sum(_log_residuals(theta, b, logn) ** 2))
    for _ in range(200):
        r = _log_residuals(theta, b, logn)
        J = np.stack([-np.ones_like(b), -1.0 / (b - theta[1])], axis=1)
        g, H = J.T @ r, J.T @ J
        while True:
            step = np.linalg.solve(H + lam * np.diag(np.diag(H) + 1e-12), -g)
            new = theta + step
            if new[1] < b.min():
                new_cost = float(np.sum(_log_residuals(new, b, logn) ** 2))
                if new_cost <= cost:
                    break
            lam *= 10
            if lam > 1e12:
                return theta
        done = cost - new_cost <= 1e-15 * max(cost, 1e-300) or np.abs(step).max() < 1e-12 * (
            1 + np.abs(theta).max()
        )
        theta, cost, lam = new, new_cost, max(lam / 10, 1e-12)
        if done:
            break
    return theta


def fit_steps(batch_sizes: Sequence[float], steps: Sequence[float]) -> StepsFit:
    """Least-squares fit of ``N(b) = A b / (c b - B)`` to measured steps (several points per
    batch size allowed, e.g. one per seed).

    The start comes from the linearisation ``1/N = c/A - (B/A) (1/b)`` (ordinary least squares
    of ``1/N`` on ``1/b``, its ``B`` moved below ``min b`` if needed); it is refined by
    Levenberg–Marquardt on ``log N`` (relative errors: ``N`` spans orders of magnitude), with
    ``B < min b`` so the model is finite at every measured batch size, and so is the start
    ``B = 0``; the better of the two is kept. Exact data are recovered exactly. A fit that
    cannot give a critical batch size returns ``ok=False`` with the ``reason``; only malformed
    input (non-positive or non-finite values, mismatched lengths) raises.
    """
    b, n = np.asarray(batch_sizes, dtype=float), np.asarray(steps, dtype=float)
    if b.shape != n.shape or b.ndim != 1:
        raise ValueError(
            f"batch_sizes and steps must be 1-D of one length, got {b.shape}, {n.shape}"
        )
    if len(np.unique(b)) < 3:
        return StepsFit(
            False, None, None, points=len(b),
            reason=f"need measured steps at >= 3 batch sizes to fit 2 parameters, got "
            f"{len(np.unique(b))}",
        )  # fmt: skip
    if not (np.all(np.isfinite(n)) and np.all(n > 0) and np.all(b > 0)):
        raise ValueError("batch sizes and steps must be positive and finite")
    slope, intercept = np.polyfit(1.0 / b, 1.0 / n, 1)  # 1/N = p - q / b
    p, q = intercept, -slope
    guess = (float(1.0 / p), float(q / p)) if p > 0 else None
    starts = [np.array([math.log(n.min()), 0.0])]  # and the guess, moved into B < min b:
    if guess is not None:
        starts.insert(0, np.array([math.log(guess[0]), min(guess[1], 0.99 * b.min())]))
    fits = [_refine(b, np.log(n), s) for s in starts]
    u, b_c = min(fits, key=lambda t: float(np.sum(_log_residuals(t, b, np.log(n)) ** 2)))
    a_c, b_c = math.exp(u), float(b_c)
    rms = float(np.sqrt(np.mean(_log_residuals(np.array([u, b_c]), b, np.log(n)) ** 2)))
    common = {"A": a_c, "B": b_c, "rms_log_residual": rms, "linear_guess": guess, "points": len(b)}
    if b_c <= 1e-9 * b.min():  # zero to rounding: flat data
        return StepsFit(
            False,
            **common,
            reason=f"B/c = {b_c:.3g} <= 0: N(b) shows no rise towards small batches, so "
            "N(b)·b has no interior minimum (it grows with b); the critical batch size is at "
            "or below the smallest batch size measured",
        )
    star = 2 * b_c
    note = ""
    if not b.min() <= star <= b.max():
        note = (
            f"b* = {star:.3g} lies outside the measured range [{b.min():g}, {b.max():g}]: "
            "extrapolated"
        )
    return StepsFit(True, **common, critical_batch=star, min_sfo=4 * a_c * b_c, reason=note)
