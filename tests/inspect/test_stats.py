"""The statistics against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from tcw.inspect import stats
from tcw.inspect.stats import Correction


def test_fisher_one_sided_matches_the_hypergeometric_tail() -> None:
    # [[3, 1], [1, 3]]: P(X >= 3) = (C(4,3)C(4,1) + C(4,4)C(4,0)) / C(8,4) = 17/70.
    assert stats.fisher_greater(3, 1, 1, 3) == pytest.approx(17 / 70)
    assert stats.fisher_greater(0, 4, 4, 0) == pytest.approx(1.0)
    assert stats.fisher_greater(0, 0, 3, 3) == 1.0


def test_fisher_stays_positive_and_tiny_for_extreme_tables() -> None:
    p = stats.fisher_greater(50, 0, 0, 1000)
    assert 0 < p < 1e-60


def test_binomial_tail() -> None:
    assert stats.binomial_sf(3, 10, 0.5) == pytest.approx(968 / 1024)
    assert stats.binomial_sf(0, 10, 0.1) == 1.0
    assert stats.binomial_sf(11, 10, 0.1) == 0.0
    assert stats.binomial_sf(10, 10, 0.1) == pytest.approx(1e-10)


def test_holm_and_benjamini_hochberg_keep_input_order() -> None:
    p = [0.01, 0.04, 0.03]
    assert stats.holm(p) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.benjamini_hochberg(p) == pytest.approx([0.03, 0.04, 0.04])
    assert stats.adjust(p, Correction.HOLM) == stats.holm(p)
    assert stats.holm([]) == []
    assert stats.holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])


def test_quantiles_and_robust_spread() -> None:
    assert stats.median([4, 1, 3, 2]) == 2.5
    assert stats.quantile([1, 2, 3, 4], 0.95) == pytest.approx(3.85)
    assert stats.median([]) is None
    assert stats.scaled_mad([1, 1, 1, 100]) == 0.0
    assert stats.scaled_mad([1, 2, 3, 4, 5]) == pytest.approx(1.4826)
    assert math.isclose(stats.quantile([7], 0.95) or 0, 7)


def test_wilson_interval_against_published_values() -> None:
    # Newcombe (1998), table I: 0 of 10 gives 0 to 0.2775; 81 of 263 gives 0.2553 to 0.3662.
    low, high = stats.wilson_interval(0, 10) or (None, None)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    assert stats.wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    wide, narrow = stats.wilson_interval(5, 10, 0.99), stats.wilson_interval(5, 10, 0.9)
    assert wide and narrow and wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]
    assert stats.wilson_interval(0, 0) is None


def test_box_summary_draws_whiskers_within_one_and_a_half_iqr() -> None:
    box = stats.box_summary([3, 1, 100, 2, 4])
    assert box == stats.BoxSummary(low=1, q1=2, median=3, q3=4, high=4, outliers=(100,), count=5)
    assert stats.box_summary([]) is None
    single = stats.box_summary([7.0])
    assert single and single.low == single.median == single.high == 7.0 and single.outliers == ()
