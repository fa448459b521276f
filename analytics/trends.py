"""A crew member's own safety trend: events per 100 km by week, against their own past.

Every function here takes one person's shifts and nothing else — there is deliberately no
function that accepts several people, so nothing here can rank, compare or list drivers.
The comparison is with the person's own preceding weeks, which also removes route and
vehicle effects that are stable for that person.
Definitions: docs/analytics.md, "Trends".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaincinv
from scipy.stats import binom


@dataclass(frozen=True)
class TrendParams:
    """baseline_weeks: how many preceding weeks form the person's own baseline · confidence:
    level of the intervals and of the change test · min_baseline_km: below this much
    driving in the baseline (km) no comparison is made."""

    baseline_weeks: int = 8
    confidence: float = 0.95
    min_baseline_km: float = 100.0


@dataclass(frozen=True)
class WeeklyTrend:
    """Per ISO week with driving (Monday dates, ascending): events, km, rate per 100 km with
    an exact Poisson interval (Garwood), the own baseline rate of the preceding weeks with
    its interval, and ``change``: 'fewer', 'more', 'no clear change' or 'not enough history'.
    """

    week: np.ndarray
    events: np.ndarray
    km: np.ndarray
    rate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    baseline: np.ndarray
    baseline_low: np.ndarray
    baseline_high: np.ndarray
    change: np.ndarray

    def records(self) -> list[dict]:
        return [
            {
                "week": str(self.week[i]),
                "events": int(self.events[i]),
                "km": round(float(self.km[i]), 1),
                "per_100km": _round(self.rate[i]),
                "low": _round(self.low[i]),
                "high": _round(self.high[i]),
                "baseline_per_100km": _round(self.baseline[i]),
                "baseline_low": _round(self.baseline_low[i]),
                "baseline_high": _round(self.baseline_high[i]),
                "change": str(self.change[i]),
            }
            for i in range(len(self.week))
        ]


def poisson_interval(count: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) interval for the mean of a Poisson count."""
    count = np.asarray(count, dtype=np.float64)
    alpha = 1.0 - confidence
    # chi2.ppf(q, 2k) / 2 is the inverse regularised gamma function of k at q; the ufunc skips
    # scipy.stats' argument checks (0.12 -> 0.01 ms a call: every trends request makes two).
    low = np.where(count > 0, gammaincinv(np.maximum(count, 1.0), alpha / 2), 0.0)
    high = gammaincinv(count + 1, 1 - alpha / 2)
    return low, high


def binomial_two_sided_p(k: np.ndarray, n: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Exact two-sided binomial test of k successes in n trials at probability ``share``, for
    many tests at once: the summed probability of every outcome no more likely than k (the
    p-value of scipy's ``binomtest``, same relative tolerance 1e-7). One ``binom.pmf`` call
    over all outcomes of all tests: scipy's one test per call cost ~2 ms each, half of a
    driver's trends request (py-spy and cProfile of /me/trends, issue 22).
    """
    k, n, share = np.asarray(k, np.int64), np.asarray(n, np.int64), np.asarray(share, np.float64)
    if len(k) == 0:
        return np.zeros(0)
    test = np.repeat(np.arange(len(n)), n + 1)
    starts = np.concatenate(([0], np.cumsum(n + 1)[:-1]))
    outcome = np.arange(len(test)) - starts[test]
    pmf = binom.pmf(outcome, n[test], share[test])
    observed = binom.pmf(k, n, share)
    tail = np.where(pmf <= observed[test] * (1 + 1e-7), pmf, 0.0)
    return np.minimum(1.0, np.add.reduceat(tail, starts))


def weekly_trend(
    day: np.ndarray, events: np.ndarray, km: np.ndarray, params: TrendParams = TrendParams()
) -> WeeklyTrend:
    """One person's trend from their shifts: ``day`` (datetime64[D] per shift), ``events``
    (count per shift, e.g. harsh events) and ``km`` (distance per shift)."""
    day = np.asarray(day, dtype="datetime64[D]")
    # ISO weeks start on Monday; 1970-01-01 was a Thursday.
    monday = day - ((day.astype(np.int64) + 3) % 7).astype("timedelta64[D]")
    week, inverse = np.unique(monday, return_inverse=True)
    ev = np.bincount(inverse, np.asarray(events, dtype=np.float64), minlength=len(week))
    dist = np.bincount(inverse, np.asarray(km, dtype=np.float64), minlength=len(week))
    per = np.divide(100.0, dist, out=np.full(len(week), np.nan), where=dist > 0)
    lo, hi = poisson_interval(ev, params.confidence)

    # Baseline: pooled events and km over the preceding `baseline_weeks` calendar weeks.
    cum_ev = np.concatenate(([0.0], np.cumsum(ev)))
    cum_km = np.concatenate(([0.0], np.cumsum(dist)))
    first = np.searchsorted(week, week - np.timedelta64(7 * params.baseline_weeks, "D"))
    base_ev = cum_ev[np.arange(len(week))] - cum_ev[first]
    base_km = cum_km[np.arange(len(week))] - cum_km[first]
    base_per = np.divide(100.0, base_km, out=np.full(len(week), np.nan), where=base_km > 0)
    b_lo, b_hi = poisson_interval(base_ev, params.confidence)

    change = np.full(len(week), "not enough history", dtype=object)
    alpha = 1.0 - params.confidence
    tested = np.flatnonzero((base_km >= params.min_baseline_km) & (dist > 0))
    total = (ev[tested] + base_ev[tested]).astype(np.int64)
    change[tested[total == 0]] = "no clear change"
    tested, total = tested[total > 0], total[total > 0]
    p = binomial_two_sided_p(ev[tested].astype(np.int64), total, dist[tested] / (dist[tested] + base_km[tested]))
    more = ev[tested] / dist[tested] > base_ev[tested] / base_km[tested]
    change[tested] = np.where(p >= alpha, "no clear change", np.where(more, "more", "fewer"))
    return WeeklyTrend(
        week,
        ev.astype(np.int64),
        dist,
        ev * per,
        lo * per,
        hi * per,
        base_ev * base_per,
        b_lo * base_per,
        b_hi * base_per,
        change.astype(str),
    )


def _round(value: float) -> float | None:
    return round(float(value), 3) if np.isfinite(value) else None
