"""A person's trend against their own past: weeks, intervals, the change verdict."""

import inspect

import numpy as np
import pytest
from scipy.stats import binomtest

from fleetpilot.analytics import trends
from fleetpilot.analytics.trends import TrendParams, binomial_two_sided_p, poisson_interval, weekly_trend


def test_garwood_intervals_by_the_book():
    low, high = poisson_interval(np.array([0, 1, 10]))
    np.testing.assert_allclose(low, [0.0, 0.0253, 4.7954], atol=1e-4)
    np.testing.assert_allclose(high, [3.6889, 5.5716, 18.3904], atol=1e-4)


def test_shifts_group_into_iso_weeks_with_rates_per_100_km():
    days = np.array(["2026-11-16", "2026-11-22", "2026-11-23"], dtype="datetime64[D]")  # Mon, Sun, Mon
    trend = weekly_trend(days, events=np.array([1, 2, 0]), km=np.array([100.0, 50.0, 80.0]))
    assert [str(w) for w in trend.week] == ["2026-11-16", "2026-11-23"]
    assert trend.events.tolist() == [3, 0]
    np.testing.assert_allclose(trend.rate, [2.0, 0.0])  # 3 events in 150 km
    assert trend.low[0] < 2.0 < trend.high[0] and trend.low[1] == 0.0
    assert trend.change.tolist() == ["not enough history", "no clear change"]  # 150 km of history by week 2


def _weeks(n, start="2026-01-05"):
    return np.datetime64(start) + np.arange(n) * 7


def test_a_clear_rise_against_the_own_baseline_is_flagged_and_noise_is_not():
    rng = np.random.default_rng(2)
    weeks = 16
    km = np.full(weeks, 250.0)
    events = rng.poisson(km / 100 * 1.0)  # one event per 100 km, steady
    events[-1] = 15  # six times the usual rate in the last week
    trend = weekly_trend(_weeks(weeks), events, km)
    assert trend.change[-1] == "more"
    assert set(trend.change[8:-1]) <= {"no clear change"}
    baseline = trend.baseline[-1]
    assert trend.baseline_low[-1] < baseline < trend.baseline_high[-1]
    assert baseline == pytest.approx(events[-9:-1].sum() / km[-9:-1].sum() * 100)


def test_a_clear_improvement_is_flagged_as_fewer():
    km = np.full(12, 300.0)
    events = np.full(12, 9)
    events[-1] = 0
    assert weekly_trend(_weeks(12), events, km, TrendParams(baseline_weeks=8)).change[-1] == "fewer"


def test_the_change_test_is_scipys_exact_binomial_test_for_many_weeks_at_once():
    rng = np.random.default_rng(11)
    n = np.concatenate([[1, 1, 2, 10, 10, 40], rng.integers(1, 300, 200)])
    share = np.concatenate([[0.5, 0.01, 0.5, 0.1, 0.5, 0.125], rng.uniform(0.01, 0.6, 200)])
    k = np.concatenate([[0, 1, 1, 1, 5, 5], rng.binomial(n[6:], np.clip(share[6:] * rng.uniform(0.3, 2.5, 200), 0, 1))])
    expected = [binomtest(int(a), int(b), float(c)).pvalue for a, b, c in zip(k, n, share)]
    assert binomial_two_sided_p(k, n, share) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert binomial_two_sided_p(np.zeros(0), np.zeros(0), np.zeros(0)).shape == (0,)


def test_records_are_plain_values():
    rec = weekly_trend(_weeks(2), np.array([0, 1]), np.array([0.0, 120.0])).records()
    assert rec[0]["per_100km"] is None and rec[1]["events"] == 1 and isinstance(rec[1]["km"], float)


def test_nothing_here_takes_several_people():
    """The module's functions take one person's arrays; none has a person or driver
    argument, so none can rank, compare or list people."""
    for name, fn in inspect.getmembers(trends, inspect.isfunction):
        if fn.__module__ == trends.__name__:
            params = set(inspect.signature(fn).parameters)
            assert not params & {"person", "people", "driver", "drivers", "person_id"}, name
