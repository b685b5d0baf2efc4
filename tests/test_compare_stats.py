"""odenets.workflow.stats: Student-t quantiles, incomplete beta, summaries and paired tests,
checked against closed forms, printed tables, SciPy (as an oracle only) and simulation."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odenets.workflow.stats import (
    betainc,
    paired,
    summarize,
    t_cdf,
    t_quantile,
    t_two_sided_p,
)

# Two-sided 95% critical values t_{0.975, df} as printed in standard tables (6 decimals).
TABLE_975 = {
    1: 12.706205,
    2: 4.302653,
    3: 3.182446,
    4: 2.776445,
    5: 2.570582,
    6: 2.446912,
    7: 2.364624,
    8: 2.306004,
    9: 2.262157,
    10: 2.228139,
    15: 2.131450,
    20: 2.085963,
    30: 2.042272,
    60: 2.000298,
    120: 1.979930,
}


@pytest.mark.parametrize("df, value", sorted(TABLE_975.items()))
def test_t_quantile_matches_the_printed_table(df, value):
    assert t_quantile(0.975, df) == pytest.approx(value, abs=5e-7)


def test_t_quantile_other_levels_from_the_table():
    assert t_quantile(0.95, 4) == pytest.approx(2.131847, abs=5e-7)
    assert t_quantile(0.995, 4) == pytest.approx(4.604095, abs=5e-7)
    assert t_quantile(0.995, 9) == pytest.approx(3.249836, abs=5e-7)
    assert t_quantile(0.9, 2) == pytest.approx(1.885618, abs=5e-7)


@pytest.mark.parametrize("p", [0.51, 0.6, 0.75, 0.9, 0.95, 0.975, 0.99, 0.999, 0.999999])
def test_t_quantile_closed_forms(p):
    # df = 1 is the Cauchy distribution; df = 2 and df = 4 have algebraic quantiles. Near
    # p = 1 the quantile is ill-conditioned (relative sensitivity 1/(1-p) to rounding of p),
    # hence the tolerance.
    rel = 1e-12 if p < 0.999 else 1e-9
    assert t_quantile(p, 1) == pytest.approx(1 / math.tan(math.pi * (1 - p)), rel=rel)
    assert t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=rel)
    alpha = 4 * p * (1 - p)
    q = math.cos(math.acos(math.sqrt(alpha)) / 3) / math.sqrt(alpha)
    assert t_quantile(p, 4) == pytest.approx(2 * math.sqrt(q - 1), rel=max(rel, 1e-11))


def test_t_quantile_large_df_tends_to_the_normal():
    z975 = 1.959963984540054  # Phi^{-1}(0.975)
    assert abs(t_quantile(0.975, 1e6) - z975) < 3e-6  # t - z = O(1/df)
    assert t_quantile(0.975, 1000) > t_quantile(0.975, 1e4) > z975


def test_t_quantile_symmetry_and_median():
    assert t_quantile(0.5, 3) == 0.0
    for df in (1, 2.5, 7):
        assert t_quantile(0.025, df) == -t_quantile(0.975, df)


@given(
    p=st.floats(min_value=1e-6, max_value=1 - 1e-6),
    df=st.floats(min_value=0.5, max_value=200),
)
def test_t_cdf_inverts_the_quantile(p, df):
    assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, rel=1e-9, abs=1e-12)


def test_t_cdf_closed_forms():
    for t in (-3.0, -0.5, 0.0, 0.2, 1.0, 4.0, 40.0):
        assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, rel=1e-13)
        assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), rel=1e-13)
    assert t_two_sided_p(math.inf, 3) == 0.0
    assert t_two_sided_p(0.0, 3) == 1.0


def test_betainc_identities():
    for x in (0.0, 0.1, 0.5, 0.93, 1.0):
        assert betainc(1, 1, x) == pytest.approx(x, abs=1e-15)
        assert betainc(3.5, 1, x) == pytest.approx(x**3.5, abs=1e-14)
        assert betainc(1, 2.5, x) == pytest.approx(1 - (1 - x) ** 2.5, abs=1e-14)
    for a, b, x in ((0.5, 0.5, 0.3), (2, 7, 0.2), (40, 0.5, 0.97), (0.5, 30, 0.01)):
        assert betainc(a, b, x) + betainc(b, a, 1 - x) == pytest.approx(1.0, abs=1e-14)
    # I_{1/2}(a, a) = 1/2 by symmetry
    assert betainc(7.5, 7.5, 0.5) == pytest.approx(0.5, abs=1e-14)


def test_against_scipy_as_oracle():
    sps = pytest.importorskip("scipy.stats")
    special = pytest.importorskip("scipy.special")
    for df in (1, 2, 3, 4, 5, 9, 19, 29, 99, 999, 0.7, 15.5):
        for p in (0.6, 0.9, 0.95, 0.975, 0.995, 0.9999999):
            assert t_quantile(p, df) == pytest.approx(sps.t.ppf(p, df), rel=1e-12)
        for t in (0.01, 0.5, 1.3, 3.0, 10.0, 100.0):
            assert t_two_sided_p(t, df) == pytest.approx(2 * sps.t.sf(t, df), rel=1e-11)
    for a, b, x in ((2, 3, 0.4), (0.5, 0.5, 0.2), (50, 0.5, 0.99), (0.5, 50, 0.01), (9, 4, 0.7)):
        assert betainc(a, b, x) == pytest.approx(special.betainc(a, b, x), rel=1e-12)


def test_summarize_known_values():
    s = summarize([1.0, 2.0, 3.0, 4.0])
    assert s.n == 4 and s.mean == 2.5
    assert s.std == pytest.approx(math.sqrt(5 / 3))
    half = 3.182446305284263 * math.sqrt(5 / 3) / 2
    assert s.ci == pytest.approx((2.5 - half, 2.5 + half))
    wide = summarize([1.0, 2.0, 3.0, 4.0], confidence=0.99)
    assert wide.ci[0] < s.ci[0] and wide.ci[1] > s.ci[1]
    one = summarize([0.9])
    assert one.mean == 0.9 and one.std is None and one.ci is None
    same = summarize([0.5, 0.5, 0.5])
    assert same.std == 0.0 and same.ci == (0.5, 0.5)
    assert s.to_dict()["ci"] == list(s.ci)


def test_summarize_covers_the_mean_at_the_stated_rate():
    rng = random.Random(1)
    hits = 0
    trials = 4000
    for _ in range(trials):
        s = summarize([rng.gauss(3.0, 2.0) for _ in range(5)])
        hits += s.ci[0] <= 3.0 <= s.ci[1]
    # binomial sd at p = 0.95 over 4000 trials is 0.0034: +-4 sd
    assert abs(hits / trials - 0.95) < 0.014


def test_paired_is_the_one_sample_t_on_differences():
    a = [0.90, 0.92, 0.95, 0.91, 0.93]
    b = [0.92, 0.93, 0.97, 0.91, 0.96]
    c = paired(a, b)
    d = [y - x for x, y in zip(a, b, strict=True)]
    s = summarize(d)
    assert c.n == 5 and c.mean == pytest.approx(s.mean) and c.std == pytest.approx(s.std)
    assert c.ci == pytest.approx(s.ci)
    assert c.t == pytest.approx(s.mean / (s.std / math.sqrt(5)))
    assert c.distinguishable is (not s.ci[0] <= 0 <= s.ci[1])
    assert c.p_value == pytest.approx(t_two_sided_p(c.t, 4))
    assert (c.p_value < 0.05) is c.distinguishable


def test_paired_against_scipy_ttest_rel():
    sps = pytest.importorskip("scipy.stats")
    a = [0.981, 0.975, 0.990, 0.969, 0.984, 0.977]
    b = [0.985, 0.979, 0.989, 0.975, 0.990, 0.978]
    ref = sps.ttest_rel(b, a)
    c = paired(a, b)
    assert c.t == pytest.approx(ref.statistic, rel=1e-12)
    assert c.p_value == pytest.approx(ref.pvalue, rel=1e-10)


def test_paired_verdicts():
    noisy = paired([0.9, 0.95, 0.92], [0.93, 0.91, 0.94])
    assert noisy.distinguishable is False
    assert noisy.verdict.startswith("not distinguishable (p=")
    clear = paired([0.90, 0.91, 0.92, 0.93], [0.95, 0.955, 0.97, 0.978])
    assert clear.distinguishable is True and clear.verdict.startswith("distinguishable, higher")
    lower = paired([0.95, 0.955, 0.97, 0.978], [0.90, 0.91, 0.92, 0.93])
    assert lower.verdict.startswith("distinguishable, lower")
    equal = paired([0.9, 0.8], [0.9, 0.8])
    assert equal.distinguishable is False and "equal on every seed" in equal.verdict
    shifted = paired([0.9, 0.8], [0.91, 0.81])  # the same +0.01 on both seeds
    assert shifted.std == pytest.approx(0.0, abs=1e-15)
    single = paired([0.9], [0.95])
    assert single.distinguishable is None and single.ci is None and "1 seed" in single.verdict
    assert single.mean == pytest.approx(0.05)


def test_paired_zero_spread_is_json_safe():
    import json

    c = paired([0.5, 0.5, 0.5], [0.75, 0.75, 0.75])  # exact binary fractions: sd exactly 0
    assert c.std == 0.0 and c.t == math.inf and c.p_value == 0.0 and c.distinguishable
    json.dumps(c.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    "call, error, needle",
    [
        (lambda: summarize([]), ValueError, "empty"),
        (lambda: summarize([1.0, float("nan")]), ValueError, "finite"),
        (lambda: summarize("abc"), TypeError, "sequence of numbers"),
        (lambda: summarize([1, 2], confidence=1.5), ValueError, "confidence"),
        (lambda: paired([1, 2], [1, 2, 3]), ValueError, "one value per seed"),
        (lambda: t_quantile(1.0, 3), ValueError, "(0, 1)"),
        (lambda: t_quantile(0.9, 0), ValueError, "> 0"),
        (lambda: t_two_sided_p(float("nan"), 3), ValueError, "NaN"),
        (lambda: betainc(1, 1, 1.5), ValueError, "0 <= x <= 1"),
    ],
)
def test_bad_input(call, error, needle):
    with pytest.raises(error, match=None) as info:
        call()
    assert needle in str(info.value)
