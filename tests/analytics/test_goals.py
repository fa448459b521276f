"""The goals' estimates: ratios of sums, weekly totals, day-bootstrap intervals, verdicts."""

from __future__ import annotations

import numpy as np

from fleetpilot.analytics.goals import KPIS, Estimate, estimate, verdict


def test_a_ratio_is_the_ratio_of_the_sums_and_lies_in_its_interval():
    rng = np.random.default_rng(3)
    dead, dist = rng.uniform(20, 40, 20), rng.uniform(90, 110, 20)
    e = estimate(KPIS["deadhead_share"], dead, dist)
    assert np.isclose(e.value, 100 * dead.sum() / dist.sum())
    assert e.lo < e.value < e.hi and e.days == 20


def test_a_total_is_per_week_and_its_interval_is_on_the_same_scale():
    """Two weeks of 7 days at 10 h of overtime a day: 70 h per week, not 10 (a day) or 140 (the period)."""
    daily = np.full(14, 10.0) + np.linspace(-1, 1, 14)
    e = estimate(KPIS["overtime_hours"], daily, np.ones(14), weeks=2)
    assert np.isclose(e.value, daily.sum() / 2)
    assert e.lo <= e.value <= e.hi and e.hi - e.lo < 0.2 * e.value


def test_no_days_no_value():
    assert estimate(KPIS["coverage"], np.array([]), np.array([])).value is None


def test_met_and_missed_only_when_the_whole_interval_is_on_one_side():
    assert verdict(Estimate(5.0, 4.0, 6.0, 7), 7.0, "at_most") == "met"
    assert verdict(Estimate(5.0, 4.0, 6.0, 7), 3.0, "at_most") == "missed"
    assert verdict(Estimate(5.0, 4.0, 6.0, 7), 5.5, "at_most") == "too close to call"
    assert verdict(Estimate(5.0, 4.0, 6.0, 7), 3.0, "at_least") == "met"
    assert verdict(Estimate(None, None, None, 0), 3.0, "at_least") == "no data"
