"""The city's clock: local days, ISO weeks and day bounds, around midnight and daylight saving."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from fleetpilot.localtime import day_bounds, day_start, local_day, local_iso, local_week, today, week_start, zone
from fleetpilot.settings import Settings

CHICAGO = "America/Chicago"
UTC = timezone.utc


def test_an_evening_shift_belongs_to_the_local_day_not_the_utc_one():
    # 19:30 CST on Sunday 1 Nov 2026 is 01:30Z on Monday 2 Nov.
    instant = datetime(2026, 11, 2, 1, 30, tzinfo=UTC)
    assert local_day(instant, CHICAGO) == date(2026, 11, 1)
    assert local_day(instant, "UTC") == date(2026, 11, 2)


def test_the_iso_week_follows_the_local_day_across_sunday_midnight():
    sunday_evening = datetime(2026, 11, 2, 1, 30, tzinfo=UTC)  # still Sunday in Chicago
    monday_morning = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)  # 00:00 CST Monday
    assert local_week(sunday_evening, CHICAGO) == date(2026, 10, 26)
    assert local_week(monday_morning - timedelta(microseconds=1), CHICAGO) == date(2026, 10, 26)
    assert local_week(monday_morning, CHICAGO) == date(2026, 11, 2)
    assert local_week(sunday_evening, "UTC") == date(2026, 11, 2)  # the UTC week would differ


def test_week_start_is_the_monday_of_the_iso_week():
    assert week_start(date(2026, 11, 2)) == date(2026, 11, 2)  # a Monday
    assert week_start(date(2026, 11, 8)) == date(2026, 11, 2)  # the Sunday after
    assert week_start(date(2027, 1, 1)) == date(2026, 12, 28)  # ISO week 53 of 2026 crosses the year
    assert date(2027, 1, 1).isocalendar()[:2] == (2026, 53)


def test_a_daylight_saving_day_has_25_or_23_hours():
    start, end = day_bounds(date(2026, 11, 1), date(2026, 11, 2), CHICAGO)  # CDT → CST
    assert start == datetime(2026, 11, 1, 5, 0, tzinfo=UTC) and end == datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    assert end - start == timedelta(hours=25)
    start, end = day_bounds(date(2026, 3, 8), date(2026, 3, 9), CHICAGO)  # CST → CDT
    assert end - start == timedelta(hours=23)


def test_day_bounds_cover_exactly_the_instants_of_their_local_days():
    start, end = day_bounds(date(2026, 10, 31), date(2026, 11, 2), CHICAGO)
    assert local_day(start, CHICAGO) == date(2026, 10, 31)
    assert local_day(start - timedelta(microseconds=1), CHICAGO) == date(2026, 10, 30)
    assert local_day(end - timedelta(microseconds=1), CHICAGO) == date(2026, 11, 1)
    assert local_day(end, CHICAGO) == date(2026, 11, 2)


def test_a_skipped_midnight_starts_the_day_after_the_gap():
    # America/Santiago springs forward at 24:00 on Saturday 5 Sep 2026: 00:00–00:59 do not exist.
    start = day_start(date(2026, 9, 6), "America/Santiago")
    assert local_day(start, "America/Santiago") == date(2026, 9, 6)
    assert local_day(start - timedelta(microseconds=1), "America/Santiago") == date(2026, 9, 5)


def test_local_iso_carries_the_offset_of_the_instant():
    assert local_iso(datetime(2026, 11, 1, 6, 30, tzinfo=UTC), CHICAGO) == "2026-11-01T01:30:00-05:00"  # CDT
    assert local_iso(datetime(2026, 11, 1, 7, 30, tzinfo=UTC), CHICAGO) == "2026-11-01T01:30:00-06:00"  # CST


def test_today_is_the_citys_day():
    now = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    assert today(CHICAGO, now) == date(2026, 12, 5) and today("Europe/Helsinki", now) == date(2026, 12, 6)


def test_the_setting_defaults_to_the_demo_citys_zone_and_rejects_unknown_zones():
    assert Settings(_env_file=None).timezone == CHICAGO
    assert Settings(timezone="Europe/Helsinki", _env_file=None).timezone == "Europe/Helsinki"
    with pytest.raises(ValueError, match="unknown IANA time zone"):
        Settings(timezone="Mars/Olympus", _env_file=None)
    with pytest.raises(ValueError):
        zone("../../etc/passwd")


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match="aware"):
        local_day(datetime(2026, 11, 1, 12, 0), CHICAGO)
