"""The privacy filter as pure functions: shift windows, private mode, privacy zones, counts."""

from __future__ import annotations

import pytest

from fleetpilot.ingest.privacy import (
    DAY_MS,
    M_PER_DEG,
    NO_ZONES,
    ShiftWindows,
    Zone,
    ZoneSet,
    filter_events,
    filter_fixes,
)
from fleetpilot.ingest.validate import Events, Telemetry

T0 = 1_795_132_800_000  # a UTC midnight
DAY = T0 // DAY_MS


def tel(fixes, priv=False) -> Telemetry:
    times = [f[0] for f in fixes]
    return Telemetry("truck-1", 7, T0, priv, fixes, min(times), max(times))


def fixes_at(*times, lon=-96.8, lat=32.78) -> list[list]:
    return [[t, lon, lat, 5.0, 90.0, 0.9] for t in times]


def test_shift_windows_merge_and_cover_half_open_intervals():
    w = ShiftWindows([(300, 400), (100, 200), (150, 250), (250, 260), (500, 500)])
    assert (w.starts, w.ends) == ([100, 300], [260, 400])
    assert [w.covers(t) for t in (99, 100, 259, 260, 299, 300, 399, 400)] == [
        False,
        True,
        True,
        False,
        False,
        True,
        True,
        False,
    ]
    assert w.covers_span(100, 259) and not w.covers_span(250, 300) and not w.covers_span(0, 150)
    assert not ShiftWindows(()).covers(5)


def test_on_duty_fixes_pass_unchanged_with_generalised_flag():
    windows = ShiftWindows([(T0, T0 + 3_600_000)])
    counts = {}
    kept = filter_fixes(tel(fixes_at(T0, T0 + 1000)), windows, NO_ZONES, counts)
    assert kept == [[T0, -96.8, 32.78, 5.0, 90.0, 0.9, False], [T0 + 1000, -96.8, 32.78, 5.0, 90.0, 0.9, False]]
    assert counts == {}


def test_fixes_outside_every_shift_are_dropped_and_counted_per_day():
    windows = ShiftWindows([(T0 + 1000, T0 + 3000)])
    counts = {}
    kept = filter_fixes(tel(fixes_at(T0 - 5000, T0, T0 + 1000, T0 + 2000, T0 + 3000)), windows, NO_ZONES, counts)
    assert [f[0] for f in kept] == [T0 + 1000, T0 + 2000]
    assert counts == {("truck-1", DAY - 1, "off_duty"): [1, 0], ("truck-1", DAY, "off_duty"): [2, 0]}


def test_private_mode_drops_everything_on_duty_and_off_duty_counts_first():
    windows = ShiftWindows([(T0, T0 + 2000)])
    counts = {}
    assert filter_fixes(tel(fixes_at(T0, T0 + 1000, T0 + 5000), priv=True), windows, NO_ZONES, counts) == []
    assert counts == {("truck-1", DAY, "private_mode"): [2, 0], ("truck-1", DAY, "off_duty"): [1, 0]}


def test_counts_none_means_drop_without_counting():
    assert filter_fixes(tel(fixes_at(T0)), ShiftWindows(()), NO_ZONES, None) == []


def zone_at(lon=-96.8, lat=32.78, radius=100.0) -> Zone:
    return Zone(lon, lat, radius)


def test_zone_locates_by_distance_in_metres():
    zones = ZoneSet([zone_at()])
    north = 99.0 / M_PER_DEG
    assert zones.locate(-96.8, 32.78 + north) is not None
    assert zones.locate(-96.8, 32.78 + 101.0 / M_PER_DEG) is None
    assert zones.locate(10.0, 10.0) is None
    with pytest.raises(ValueError):
        ZoneSet([], "blur")


def test_snap_generalises_positions_inside_a_zone():
    windows = ShiftWindows([(T0, T0 + 10_000)])
    inside = [T0 + 1000, -96.8003, 32.7801, 3.0, 45.0, 0.8]
    outside = [T0 + 2000, -96.7, 32.78, 3.0, 45.0, 0.8]
    counts = {}
    kept = filter_fixes(tel([inside, outside]), windows, ZoneSet([zone_at()], "snap"), counts)
    assert kept[0] == [T0 + 1000, -96.8, 32.78, 3.0, None, 0.8, True]  # centre, no heading, marked
    assert kept[1][1:3] == [-96.7, 32.78] and kept[1][-1] is False
    assert counts == {("truck-1", DAY, "privacy_zone"): [1, 0]}


def test_drop_policy_removes_positions_inside_a_zone():
    windows = ShiftWindows([(T0, T0 + 10_000)])
    counts = {}
    kept = filter_fixes(
        tel(fixes_at(T0 + 1, T0 + 2) + fixes_at(T0 + 3, lon=-96.7)), windows, ZoneSet([zone_at()], "drop"), counts
    )
    assert [f[0] for f in kept] == [T0 + 3]
    assert counts == {("truck-1", DAY, "privacy_zone"): [2, 0]}


def test_events_follow_the_same_rules():
    windows = ShiftWindows([(T0, T0 + 10_000)])
    evs = [
        {"t": T0 - 1, "k": "harsh_brake", "lon": -96.7, "lat": 32.78, "mag": 4.0, "spd": 9.0},
        {"t": T0 + 5, "k": "bin_lift", "lon": -96.8, "lat": 32.78, "mag": 20.0},
        {"t": T0 + 6, "k": "harsh_accel", "lon": -96.7, "lat": 32.78, "mag": 3.0, "spd": 4.0},
    ]
    msg = Events("truck-1", 8, T0, False, evs, T0 - 1, T0 + 6)
    counts = {}
    kept = filter_events(msg, windows, ZoneSet([zone_at()], "snap"), counts)
    assert kept == [
        [T0 + 5, "bin_lift", -96.8, 32.78, 20.0, None, True],
        [T0 + 6, "harsh_accel", -96.7, 32.78, 3.0, 4.0, False],
    ]
    assert counts == {("truck-1", DAY - 1, "off_duty"): [0, 1], ("truck-1", DAY, "privacy_zone"): [0, 1]}
    private = Events("truck-1", 9, T0, True, evs[1:], T0 + 5, T0 + 6)
    counts = {}
    assert filter_events(private, windows, NO_ZONES, counts) == []
    assert counts == {("truck-1", DAY, "private_mode"): [0, 2]}
