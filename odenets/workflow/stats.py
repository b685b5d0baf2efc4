"""Small-sample statistics for comparisons over seeds: Student-t intervals and paired tests.

Everything here is plain Python (``math`` only), so the statistics need no SciPy. The
Student-t distribution function comes from the regularized incomplete beta function,

    P(|T| > t) = I_x(nu / 2, 1 / 2),   x = nu / (nu + t^2),

evaluated by its continued fraction (modified Lentz iteration), and the quantile by
bisection on that tail down to adjacent doubles. Checked against SciPy in the tests: relative
error below 1e-13 for up to 1000 degrees of freedom (about 1e-11 at a million).

A comparison of two schemes trained on the same seeds (same initial-weight seed, same data
order) is *paired*: the per-seed differences ``d_s = b_s - a_s`` carry the comparison, and the
paired t interval ``mean(d) ± t_{n-1, (1+c)/2} · sd(d) / sqrt(n)`` says whether the mean
difference is distinguishable from zero at confidence ``c`` (the interval excludes 0, which
is the same as a two-sided paired t-test with p < 1 - c).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache

from .._validate import check_number

__all__ = [
    "PairedComparison",
    "Summary",
    "betainc",
    "paired",
    "summarize",
    "t_cdf",
    "t_quantile",
    "t_two_sided_p",
]

_EPS = 1e-15
_TINY = 1e-300


def _check_df(df: object) -> float:
    df = check_number("degrees of freedom", df, positive=True)
    return df


def _stirling_tail(z: float) -> float:
    """``lgamma(z) - [(z - 1/2) ln z - z + ln(2 pi) / 2]`` for ``z >= 16`` (error < 1e-17)."""
    z2 = z * z
    return (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0 - 1.0 / (1680.0 * z2)) / z2) / z2) / z


def _lgamma_ratio(a: float, b: float) -> float:
    """``lgamma(a + b) - lgamma(a)`` without the cancellation of two large lgammas (a >= b)."""
    if a < 16.0:
        return math.lgamma(a + b) - math.lgamma(a)
    return (
        (a - 0.5) * math.log1p(b / a)
        + b * math.log(a + b)
        - b
        + _stirling_tail(a + b)
        - _stirling_tail(a)
    )


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of ``I_x(a, b)`` without its prefactor (converges fast for
    ``x < (a + 1) / (a + b + 2)``)."""
    f, c, d = 1.0, 1.0, 0.0
    for i in range(1, 10_000):
        m = i // 2
        if i == 1:
            numerator = 1.0
        elif i % 2 == 0:  # d_{2m-1}: -(a+m-1)(a+b+m-1) x / ((a+2m-2)(a+2m-1)), m >= 1
            k = m - 1
            numerator = -(a + k) * (a + b + k) * x / ((a + 2 * k) * (a + 2 * k + 1))
        else:  # d_{2m}: m (b-m) x / ((a+2m-1)(a+2m))
            numerator = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1.0 + numerator * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + numerator / c
        c = c if abs(c) > _TINY else _TINY
        f *= c * d
        if abs(1.0 - c * d) < _EPS:
            return f - 1.0
    raise ArithmeticError(f"incomplete beta fraction did not converge (a={a}, b={b}, x={x})")


def betainc(a: float, b: float, x: float, y: float | None = None) -> float:
    """The regularized incomplete beta function ``I_x(a, b)`` for ``a, b > 0``, ``0 <= x <= 1``.

    ``y`` may pass ``1 - x`` computed without cancellation (e.g. ``t^2 / (nu + t^2)``).
    """
    a = check_number("a", a, positive=True)
    b = check_number("b", b, positive=True)
    x = check_number("x", x)
    y = 1.0 - x if y is None else check_number("y", y)
    if not 0.0 <= x <= 1.0 or not 0.0 <= y <= 1.0:
        raise ValueError(f"betainc needs 0 <= x <= 1, got x={x}, 1-x={y}")
    if x == 0.0:
        return 0.0
    if y == 0.0:
        return 1.0
    log_x = math.log1p(-y) if y < 0.5 else math.log(x)
    log_y = math.log1p(-x) if x < 0.5 else math.log(y)
    big, small = max(a, b), min(a, b)
    log_front = _lgamma_ratio(big, small) - math.lgamma(small) + a * log_x + b * log_y
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, y) / b


def t_two_sided_p(t: float, df: float) -> float:
    """``P(|T| >= |t|)`` for Student's t with ``df`` degrees of freedom (the two-sided p-value
    of a t statistic); ``inf`` gives 0."""
    df = _check_df(df)
    if isinstance(t, bool) or not isinstance(t, int | float) or t != t:
        raise ValueError(f"t must be a number (not NaN), got {t!r}")
    if math.isinf(t):
        return 0.0
    t2 = float(t) * float(t)
    return betainc(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2))


def t_cdf(t: float, df: float) -> float:
    """``P(T <= t)`` for Student's t distribution with ``df > 0`` degrees of freedom."""
    tail = 0.5 * t_two_sided_p(t, df)
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p``-quantile of Student's t with ``df`` degrees of freedom, ``0 < p < 1``:
    the ``t`` with ``t_cdf(t, df) == p`` (e.g. ``t_quantile(0.975, 4) = 2.776445...``)."""
    p = check_number("p", p)
    df = _check_df(df)
    if not 0.0 < p < 1.0:
        raise ValueError(f"quantile probability must be in (0, 1), got {p}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -_upper_quantile(1.0 - p, df)
    return _upper_quantile(p, df)


@lru_cache(maxsize=256)
def _upper_quantile(p: float, df: float) -> float:
    tail = 2.0 * (1.0 - p)  # wanted P(|T| >= t), decreasing in t
    lo, hi = 0.0, 1.0
    while t_two_sided_p(hi, df) > tail:
        lo, hi = hi, 2.0 * hi
    for _ in range(400):  # bisection to adjacent doubles
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if t_two_sided_p(mid, df) > tail:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _values(name: str, values: Sequence[float]) -> list[float]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}")
    out = [check_number(f"{name}[{i}]", v) for i, v in enumerate(values)]
    if not out:
        raise ValueError(f"{name} is empty: need at least one value")
    return out


def _confidence(confidence: float) -> float:
    confidence = check_number("confidence", confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return confidence


def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return mean, None
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (``n - 1`` in the denominator) and the Student-t
    confidence interval of the mean; ``std`` and ``ci`` are ``None`` for one value."""

    n: int
    mean: float
    std: float | None
    ci: tuple[float, float] | None
    confidence: float

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ci"] = None if self.ci is None else list(self.ci)
        return out


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """Summary of ``values``: ``mean ± t_{n-1, (1+confidence)/2} · std / sqrt(n)``."""
    values = _values("values", values)
    confidence = _confidence(confidence)
    n = len(values)
    mean, sd = _mean_sd(values)
    if sd is None:
        return Summary(n, mean, None, None, confidence)
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * sd / math.sqrt(n)
    return Summary(n, mean, sd, (mean - half, mean + half), confidence)


@dataclass(frozen=True)
class PairedComparison:
    """Paired comparison of ``other`` against ``reference`` on the same seeds.

    ``mean``, ``std`` and ``ci`` describe the per-seed differences ``other - reference``;
    ``t`` is the paired t statistic and ``p_value`` its two-sided p-value (``n - 1`` degrees
    of freedom). ``distinguishable`` is whether the interval excludes zero (``None`` with one
    pair: no interval). ``verdict`` says it in words for a table.
    """

    n: int
    mean: float
    std: float | None
    ci: tuple[float, float] | None
    t: float | None
    p_value: float | None
    distinguishable: bool | None
    confidence: float

    @property
    def verdict(self) -> str:
        if self.distinguishable is None:
            return "no interval (1 seed)"
        if self.std == 0.0 and self.mean == 0.0:
            return "not distinguishable (equal on every seed)"
        level = f"p={self.p_value:.2g}"
        if self.distinguishable:
            return f"distinguishable, {'higher' if self.mean > 0 else 'lower'} ({level})"
        return f"not distinguishable ({level})"

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ci"] = None if self.ci is None else list(self.ci)
        if self.t is not None and math.isinf(self.t):  # JSON has no infinity
            out["t"] = None
        out["verdict"] = self.verdict
        return out


def paired(
    reference: Sequence[float], other: Sequence[float], confidence: float = 0.95
) -> PairedComparison:
    """Paired t comparison of ``other`` against ``reference`` (equal length, element ``i`` of
    both measured on the same seed): interval of the mean difference ``other - reference``."""
    reference = _values("reference", reference)
    other = _values("other", other)
    confidence = _confidence(confidence)
    if len(reference) != len(other):
        raise ValueError(
            f"paired comparison needs one value per seed in both: got {len(reference)} "
            f"reference and {len(other)} other values"
        )
    diffs = [b - a for a, b in zip(reference, other, strict=True)]
    n = len(diffs)
    mean, sd = _mean_sd(diffs)
    if sd is None:
        return PairedComparison(1, mean, None, None, None, None, None, confidence)
    if sd == 0.0:  # every pair differs by the same amount
        t = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
        p = 1.0 if mean == 0.0 else 0.0
        return PairedComparison(n, mean, 0.0, (mean, mean), t, p, mean != 0.0, confidence)
    se = sd / math.sqrt(n)
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * se
    t = mean / se
    ci = (mean - half, mean + half)
    return PairedComparison(
        n, mean, sd, ci, t, t_two_sided_p(t, n - 1), not ci[0] <= 0.0 <= ci[1], confidence
    )
