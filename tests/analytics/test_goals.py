"""The goals' estimates: ratios of sums, weekly totals, day-bootstrap intervals, verdicts."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from fleetpilot.analytics.goals import KPIS, Estimate, estimate, hotspots_open, verdict, weekly_mean


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


def test_a_place_counts_as_fixed_from_the_week_of_its_fix_with_all_its_segments():
    """Segments a and b form one place; c is alone; d is significant for two kinds, in b's place for one."""
    hotspots = [("a", "p1"), ("b", "p1"), ("c", None), ("d", "p2"), ("d", "p1")]
    sunday = date(2026, 11, 29)
    assert hotspots_open(hotspots, {}, sunday) == (4, 0)
    assert hotspots_open(hotspots, {"a": sunday}, sunday) == (1, 3)  # a, b and d share place p1
    assert hotspots_open(hotspots, {"a": sunday + timedelta(days=1)}, sunday) == (4, 0)  # fixed the week after
    assert hotspots_open(hotspots, {"c": date(2026, 11, 1), "z": date(2026, 11, 1)}, sunday) == (3, 1)


def test_a_period_of_weekly_counts_is_their_mean_within_its_interval():
    e = weekly_mean(np.array([4.0, 6.0, 5.0, 9.0]))
    assert (e.value, e.days) == (6.0, 4) and 4.0 <= e.lo < e.value < e.hi <= 9.0
    assert weekly_mean(np.array([3.0])) == Estimate(3.0, 3.0, 3.0, 1)
    assert weekly_mean(np.array([])).value is None
