"""Before and after a fix: the change of events per pass and its day-bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest

from fleetpilot.analytics.before_after import MIN_PASSES, before_after


def _days(rng, n_days: int, passes_per_day: int, rate: float) -> tuple[np.ndarray, np.ndarray]:
    passes = rng.poisson(passes_per_day, n_days) + 1
    return passes, rng.binomial(passes, rate)


def test_a_real_fall_is_found_and_its_interval_excludes_no_change():
    rng = np.random.default_rng(1)
    found = before_after(*_days(rng, 28, 8, 0.40), *_days(rng, 21, 8, 0.10))
    assert found.enough and found.change is not None and found.lo is not None and found.hi is not None
    assert found.lo <= found.change <= found.hi < 0
    assert -0.85 < found.change < -0.6  # the truth: -75 %


def test_no_change_gives_an_interval_around_zero():
    rng = np.random.default_rng(2)
    hits = 0
    for _ in range(20):
        found = before_after(*_days(rng, 28, 8, 0.2), *_days(rng, 21, 8, 0.2))
        hits += found.lo <= 0 <= found.hi
    assert hits >= 17  # a 95 % interval: about 19 of 20


def test_nothing_is_a_change_before_enough_passes():
    rng = np.random.default_rng(3)
    before = _days(rng, 28, 8, 0.4)
    few = (np.array([10, 12]), np.array([0, 0]))
    found = before_after(*before, *few)
    assert not found.enough and found.change is None and found.lo is None
    assert (found.passes_after, found.min_passes) == (22, MIN_PASSES)


def test_a_period_without_events_still_has_an_interval_of_some_width():
    rng = np.random.default_rng(4)
    passes = rng.poisson(8, 20) + 1
    found = before_after(*_days(rng, 28, 8, 0.4), passes, np.zeros(20, dtype=int))
    rate_before = (found.events_before + 0.5) / found.passes_before
    assert found.change == pytest.approx((0.5 / found.passes_after) / rate_before - 1)  # never "fell 100 %"
    assert found.lo is not None and found.hi is not None and found.lo < found.change < found.hi < 0


def test_the_same_days_give_the_same_interval():
    rng = np.random.default_rng(5)
    days = (*_days(rng, 28, 8, 0.4), *_days(rng, 21, 8, 0.1))
    assert before_after(*days) == before_after(*days)
