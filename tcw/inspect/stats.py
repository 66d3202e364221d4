"""The statistics behind the flags, written with ``math`` alone so tcw needs no scipy.

A worker's bad-run rate is compared with the rest of its pool by a one-sided test (is this worker worse?),
and because a pool of a hundred workers makes a hundred tests, the p-values are corrected for multiple
comparisons before any is called significant: Holm controls the chance of flagging even one healthy worker,
Benjamini-Hochberg the expected share of healthy workers among those flagged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist


class RateTest(StrEnum):
    FISHER = "fisher"
    BINOMIAL = "binomial"


class Correction(StrEnum):
    HOLM = "holm"
    BH = "bh"


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _sum_of_logs(terms: Sequence[float]) -> float:
    """``log(sum(exp(t)))`` without underflow when every term is tiny."""
    if not terms:
        return -math.inf
    top = max(terms)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(t - top) for t in terms))


def binomial_sf(successes: int, trials: int, p: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, p)."""
    if successes <= 0:
        return 1.0
    if successes > trials:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [_log_comb(trials, i) + i * log_p + (trials - i) * log_q for i in range(successes, trials + 1)]
    return min(1.0, math.exp(_sum_of_logs(terms)))


def fisher_greater(bad: int, good: int, rest_bad: int, rest_good: int) -> float:
    """One-sided Fisher exact test: P(a worker draws ``bad`` or more bad runs) if runs were spread at random.

    The 2x2 table is (this worker, rest of pool) x (bad, good); under the null hypothesis the worker's count
    of bad runs follows the hypergeometric distribution with the table's margins fixed.
    """
    drawn = bad + good
    total_bad = bad + rest_bad
    population = drawn + rest_bad + rest_good
    if drawn == 0 or total_bad == 0:
        return 1.0
    denominator = _log_comb(population, drawn)
    top = min(drawn, total_bad)
    terms = [
        _log_comb(total_bad, i) + _log_comb(population - total_bad, drawn - i) - denominator
        for i in range(bad, top + 1)
        if drawn - i <= population - total_bad
    ]
    return min(1.0, math.exp(_sum_of_logs(terms)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order."""
    count = len(p_values)
    order = sorted(range(count), key=lambda i: p_values[i])
    adjusted = [1.0] * count
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (count - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order."""
    count = len(p_values)
    order = sorted(range(count), key=lambda i: p_values[i], reverse=True)
    adjusted = [1.0] * count
    running = 1.0
    for position, index in enumerate(order):
        rank = count - position
        running = min(running, p_values[index] * count / rank)
        adjusted[index] = min(1.0, running)
    return adjusted


def adjust(p_values: Sequence[float], correction: Correction) -> list[float]:
    return holm(p_values) if correction is Correction.HOLM else benjamini_hochberg(p_values)


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile by linear interpolation between order statistics; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float | None:
    return quantile(values, 0.5)


def scaled_mad(values: Sequence[float]) -> float | None:
    """Median absolute deviation scaled to estimate a standard deviation (robust to the outliers we seek)."""
    centre = median(values)
    if centre is None:
        return None
    deviation = median([abs(v - centre) for v in values])
    return None if deviation is None else 1.4826 * deviation


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval of a rate; None for no trials.

    Chosen over the textbook normal interval because workers have few runs and rates near 0 or 1, where
    that one collapses to zero width (0 of 5 bad would read as "certainly 0 %") or leaves [0, 1].
    """
    if trials <= 0:
        return None
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    rate = successes / trials
    spread = z * z / trials
    centre = (rate + spread / 2) / (1 + spread)
    half = z * math.sqrt(rate * (1 - rate) / trials + spread / (4 * trials)) / (1 + spread)
    low = 0.0 if successes <= 0 else max(0.0, centre - half)  # exact ends: no 1e-17 left by rounding
    high = 1.0 if successes >= trials else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class BoxSummary:
    """What a box plot draws: quartiles, whiskers at the furthest values within 1.5 IQR (Tukey), and the
    values beyond them, each drawn on its own."""

    low: float
    q1: float
    median: float
    q3: float
    high: float
    outliers: tuple[float, ...]
    count: int


def box_summary(values: Sequence[float]) -> BoxSummary | None:
    """The box plot of ``values`` with the same quantiles as every median and p95 here; None for none."""
    q1, centre, q3 = quantile(values, 0.25), median(values), quantile(values, 0.75)
    if q1 is None or centre is None or q3 is None:
        return None
    reach = 1.5 * (q3 - q1)
    inside = [v for v in values if q1 - reach <= v <= q3 + reach]
    outliers = tuple(sorted(v for v in values if v < q1 - reach or v > q3 + reach))
    return BoxSummary(min(inside), q1, centre, q3, max(inside), outliers, len(values))
