"""Frozen, validated coefficient records: Butcher tableaux and linear multistep coefficients.

These records hold numbers only. They are checked once, at construction, so that every scheme
built on them is at least consistent (order >= 1) and, for multistep methods, zero-stable.
The arithmetic that uses them lives in :mod:`odenets.numerics.steps`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ButcherTableau", "MultistepCoefficients"]

_TOL = 1e-12


def _as_float_tuple(name: str, values: Sequence[float]) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}")
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must contain only numbers, got {list(values)!r}") from err
    if not all(np.isfinite(out)):
        raise ValueError(f"{name} must be finite, got {out}")
    return out


@dataclass(frozen=True)
class ButcherTableau:
    """A Runge–Kutta method's coefficients ``(a, b, c)`` for ``s`` stages.

    The step is ``k_i = f(t + c_i h, y + h sum_j a_ij k_j)``, ``y1 = y + h sum_i b_i k_i``.
    Construction checks the shapes, the row-sum condition ``sum_j a_ij = c_i`` and the
    consistency condition ``sum_i b_i = 1`` (order >= 1).

    Args:
        a: ``s`` rows of ``s`` coefficients (rows may be given shorter; they are padded with
            zeros, so an explicit method can be written as its strictly lower triangle).
        b: the ``s`` quadrature weights.
        c: the ``s`` nodes.
    """

    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    c: tuple[float, ...]

    def __post_init__(self) -> None:
        b = _as_float_tuple("b", self.b)
        c = _as_float_tuple("c", self.c)
        s = len(b)
        if s == 0:
            raise ValueError("a Butcher tableau needs at least one stage, got b = ()")
        if len(c) != s:
            raise ValueError(f"c must have one node per stage: expected {s}, got {len(c)}")
        if isinstance(self.a, (str, bytes)) or not isinstance(self.a, Sequence):
            raise TypeError(f"a must be a sequence of rows, got {type(self.a).__name__}")
        if len(self.a) != s:
            raise ValueError(f"a must have one row per stage: expected {s} rows, got {len(self.a)}")
        rows = []
        for i, row in enumerate(self.a):
            row = _as_float_tuple(f"a[{i}]", row)
            if len(row) > s:
                raise ValueError(f"a[{i}] has {len(row)} entries, expected at most {s}")
            rows.append(row + (0.0,) * (s - len(row)))
        for i, row in enumerate(rows):
            if abs(sum(row) - c[i]) > _TOL:
                raise ValueError(
                    f"row sum of a[{i}] must equal c[{i}] = {c[i]!r}, got {sum(row)!r} "
                    "(the stages would not be consistent in time)"
                )
        if abs(sum(b) - 1.0) > _TOL:
            raise ValueError(f"weights b must sum to 1 for a consistent method, got {sum(b)!r}")
        object.__setattr__(self, "a", tuple(rows))
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "c", c)

    @property
    def stages(self) -> int:
        """Number of stages ``s`` (evaluations of ``f`` per step)."""
        return len(self.b)

    @property
    def explicit(self) -> bool:
        """True when ``a`` is strictly lower triangular: each stage uses only earlier ones."""
        return all(self.a[i][j] == 0.0 for i in range(self.stages) for j in range(i, self.stages))

    @property
    def implicit(self) -> bool:
        """True when some stage depends on itself or a later stage (a solve is needed)."""
        return not self.explicit

    def order_conditions(self) -> dict[int, bool]:
        """Which of the classical order conditions up to order 4 hold (rooted-tree sums)."""
        a, b, c = np.array(self.a), np.array(self.b), np.array(self.c)
        checks = {
            1: [b.sum() - 1],
            2: [b @ c - 1 / 2],
            3: [b @ c**2 - 1 / 3, b @ a @ c - 1 / 6],
            4: [
                b @ c**3 - 1 / 4,
                (b * c) @ a @ c - 1 / 8,
                b @ a @ c**2 - 1 / 12,
                b @ a @ a @ c - 1 / 24,
            ],
        }
        return {p: all(abs(e) < 1e-10 for e in errs) for p, errs in checks.items()}

    def algebraic_order(self) -> int:
        """The largest ``p <= 4`` such that all order conditions up to ``p`` hold."""
        conditions = self.order_conditions()
        order = 0
        for p in sorted(conditions):
            if not conditions[p]:
                break
            order = p
        return order


@dataclass(frozen=True)
class MultistepCoefficients:
    """An explicit linear ``k``-step method ``y_{n+1} = sum_j a_j y_{n-j} + h sum_j b_j f_{n-j}``.

    Index ``j = 0`` is the newest point ``y_n``. Construction checks consistency
    (``sum a_j = 1`` and ``sum b_j = 1 + sum j a_j``, i.e. order >= 1) and zero-stability (the
    roots of ``rho(z) = z^k - sum_j a_j z^(k-1-j)`` lie in the closed unit disc, those on the
    circle simple).

    Args:
        a: weights of the past states ``y_n, y_{n-1}, ...``.
        b: weights of the past slopes ``f_n, f_{n-1}, ...`` (same length as ``a``).
    """

    a: tuple[float, ...]
    b: tuple[float, ...]

    def __post_init__(self) -> None:
        a = _as_float_tuple("a", self.a)
        b = _as_float_tuple("b", self.b)
        if len(a) == 0 or len(a) != len(b):
            raise ValueError(
                f"a and b must have the same positive length, got {len(a)} and {len(b)}"
            )
        if abs(sum(a) - 1.0) > _TOL:
            raise ValueError(f"state weights a must sum to 1 (consistency), got {sum(a)!r}")
        target = 1.0 + sum(j * aj for j, aj in enumerate(a))
        if abs(sum(b) - target) > _TOL:
            raise ValueError(
                f"slope weights b must sum to 1 + sum_j j*a_j = {target!r} (consistency), "
                f"got {sum(b)!r}"
            )
        roots = np.roots([1.0, *(-aj for aj in a)]) if len(a) > 1 else np.array([a[0]])
        for root in roots:
            modulus = abs(root)
            on_circle = abs(modulus - 1.0) < 1e-9
            repeated = sum(abs(other - root) < 1e-7 for other in roots) > 1
            if modulus > 1.0 + 1e-9 or (on_circle and repeated):
                raise ValueError(
                    f"the method is not zero-stable: rho has root {complex(root):.6g} "
                    f"(|root| = {modulus:.6g}); roots must lie in the unit disc, simple on the "
                    "circle"
                )
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)

    @property
    def steps(self) -> int:
        """Number of past points ``k`` the method uses."""
        return len(self.a)
