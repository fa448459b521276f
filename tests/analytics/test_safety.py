"""Safety events on kinematic scripts: harsh braking, acceleration, cornering, speeding,
gaps, glitches, merging with the unit's own events, and long stretches without a break."""

import numpy as np
import pytest

from fleetpilot.analytics.columns import DeviceEvents
from fleetpilot.analytics.safety import (
    SafetyParams,
    concat,
    device_events,
    harsh_cornering,
    harsh_longitudinal,
    long_stretches,
    merge,
    speeding,
)
from fleetpilot.analytics.segmentation import build_track


def _track(build, phases, v0=0.0, keep=None, vehicle=0):
    x, y, v, h = build.drive(phases, v0=v0)
    t = np.arange(len(x), dtype=float)
    if keep is not None:
        x, y, v, h, t = x[keep], y[keep], v[keep], h[keep], t[keep]
    return build_track(build.fixes(x, y, t=t, speed=v, heading=h, vehicle=vehicle), build.frame)


def test_harsh_brake_with_its_context(build):
    # Cruise at 15 m/s, brake at 4 m/s² for 3 s (to 3 m/s), cruise on.
    track = _track(build, [(10, 0, 0), (3, -4.0, 0), (10, 0, 0)], v0=15.0)
    ev = harsh_longitudinal(track)
    assert ev.kind.tolist() == ["harsh_brake"]
    assert ev.magnitude[0] == pytest.approx(4.0, abs=1e-4)
    assert (ev.speed_before[0], ev.speed_after[0], ev.duration_s[0]) == (15.0, 3.0, 3.0)
    assert ev.row[0] == 10 and ev.source[0] == "derived"
    # Located where it happened: 150 m of cruising plus the first braking second (13 m).
    x, y = build.frame.to_xy(ev.lon, ev.lat)
    assert float(y[0]) == pytest.approx(150.0 + 13.0 / 2 + 13.0 / 2, abs=7.0)


def test_normal_braking_and_acceleration_are_not_harsh(build):
    track = _track(build, [(8, 1.4, 0), (20, 0, 0), (7, -1.6, 0), (5, 0, 0)])
    assert len(harsh_longitudinal(track)) == 0


def test_harsh_acceleration_threshold_is_inclusive(build):
    track = _track(build, [(3, 2.5, 0), (5, 0, 0)])
    ev = harsh_longitudinal(track)
    assert ev.kind.tolist() == ["harsh_accel"] and ev.magnitude[0] == pytest.approx(2.5)


def test_no_event_is_invented_across_a_data_gap(build):
    # The speed falls from 15 to 0 m/s while the receiver has no fix for 20 s.
    keep = np.ones(51, dtype=bool)
    keep[12:32] = False
    track = _track(build, [(15, 0, 0), (5, -3.0, 0), (30, 0, 0)], v0=15.0, keep=keep)
    assert track.gap.sum() == 1
    assert len(harsh_longitudinal(track)) == 0


def test_a_single_fix_speed_glitch_is_not_an_event(build):
    x, y, v, h = build.drive([(30, 0, 0)], v0=12.0)
    v = v.copy()
    v[15] = 7.0  # one bad Doppler reading
    track = build_track(build.fixes(x, y, speed=v, heading=h), build.frame)
    assert len(harsh_longitudinal(track)) == 0


def test_harsh_cornering_only_when_fast(build):
    # A 90° right turn over 3 s: 30°/s. At 8 m/s that is 8 · 0.524 = 4.2 m/s² lateral.
    fast = harsh_cornering(_track(build, [(5, 0, 0), (3, 0, 30.0), (5, 0, 0)], v0=8.0))
    assert fast.kind.tolist() == ["harsh_corner"]
    assert fast.magnitude[0] == pytest.approx(8.0 * np.radians(30.0), rel=1e-3)
    # The same turn at 4 m/s: 2.1 m/s², fine.
    assert len(harsh_cornering(_track(build, [(5, 0, 0), (3, 0, 30.0), (5, 0, 0)], v0=4.0))) == 0


def test_a_u_turn_is_not_harsh_cornering(build):
    # Slow down, turn 180° at 2 m/s over 6 s, speed up again.
    track = _track(build, [(5, 0, 0), (3, -2.0, 0), (6, 0, 30.0), (3, 2.0, 0), (5, 0, 0)], v0=8.0)
    assert len(harsh_cornering(track)) == 0
    assert len(harsh_longitudinal(track)) == 0


def test_speeding_needs_the_minimum_duration_and_stops_at_gaps(build):
    n = 61
    limit = np.full(n, 50 / 3.6)
    over = np.full(n, 50 / 3.6)
    over[10:30] = 60 / 3.6  # 20 fixes (19 s) 10 km/h over the limit
    over[40:46] = 60 / 3.6  # 6 fixes: too short
    x = np.concatenate([[0.0], np.cumsum(over[:-1])])
    track = build_track(build.fixes(x, np.zeros(n), speed=over), build.frame)
    ev = speeding(track, limit)
    assert len(ev) == 1
    assert ev.duration_s[0] == 19.0 and ev.magnitude[0] == pytest.approx(10 / 3.6, rel=1e-5)
    assert ev.limit_mps[0] == pytest.approx(50 / 3.6)
    # Take out 5 s in the middle of the long episode: two 7–9 s pieces, neither long enough.
    keep = np.ones(n, dtype=bool)
    keep[18:23] = False
    gappy = build_track(
        build.fixes(x[keep], np.zeros(keep.sum()), t=np.arange(n)[keep].astype(float), speed=over[keep]), build.frame
    )
    assert len(speeding(gappy, limit[keep])) == 0
    # Unknown limits never make speeding.
    assert len(speeding(track, np.full(n, np.nan))) == 0


def _device(track, kind, seconds, mag=4.5):
    t0 = track.fixes.t[0]
    n = len(seconds)
    return DeviceEvents.from_columns(
        {
            "vehicle": np.zeros(n, dtype=np.int32),
            "t": t0 + np.asarray(seconds, dtype=np.int64) * 1000,
            "kind": np.array([kind] * n),
            "mag": np.full(n, mag),
        }
    )


def test_device_and_derived_events_merge_without_double_counting(build):
    track = _track(build, [(10, 0, 0), (3, -4.0, 0), (30, 0, 0)], v0=15.0)
    derived = harsh_longitudinal(track)
    # The unit reports the same brake 1 s later, and another brake we did not see at 35 s.
    reported = device_events(track, _device(track, "harsh_brake", [11, 35]))
    assert reported.speed_before[1] == 3.0 and reported.row[1] == 35
    merged = merge(derived, reported)
    assert merged.source.tolist() == ["both", "device"]
    assert merged.magnitude[0] == pytest.approx(4.5)  # the unit measured it harder
    # Two device reports of one brake: one merges, the other stays separate (no silent loss).
    twice = merge(derived, device_events(track, _device(track, "harsh_brake", [10, 12])))
    assert sorted(twice.source.tolist()) == ["both", "device"]
    # A different kind never merges.
    other = merge(derived, device_events(track, _device(track, "harsh_corner", [11])))
    assert sorted(other.source.tolist()) == ["derived", "device"]


def test_device_events_of_unknown_vehicles_are_dropped(build):
    track = _track(build, [(10, 0, 0)], v0=5.0)
    stray = DeviceEvents.from_columns(
        {"vehicle": np.array([9], dtype=np.int32), "t": track.fixes.t[:1], "kind": np.array(["harsh_brake"])}
    )
    assert len(device_events(track, stray)) == 0


def test_long_stretch_without_a_break(build):
    # Five hours of work sampled every 10 s; a rest of 20 minutes after 2.5 h splits it.
    t = np.arange(0, 5 * 3600 + 1, 10.0)
    n = len(t)
    fixes = build.fixes(t * 5.0, np.zeros(n), t=t, speed=5.0)
    track = build_track(fixes, build.frame)
    params = SafetyParams()
    none = np.zeros(n, dtype=bool)
    ev = long_stretches(track, none, params)
    assert ev.kind.tolist() == ["long_stretch"] and ev.duration_s[0] == 5 * 3600
    rest = (t >= 2.5 * 3600) & (t < 2.5 * 3600 + 1200)
    assert len(long_stretches(track, rest, params)) == 0
    short_rest = (t >= 2.5 * 3600) & (t < 2.5 * 3600 + 300)  # 5 minutes is not a break
    assert len(long_stretches(track, short_rest, params)) == 1


def test_concat_sorts_by_track_and_time(build):
    a = harsh_longitudinal(_track(build, [(10, 0, 0), (3, -4.0, 0), (5, 0, 0), (3, 3.0, 0)], v0=15.0))
    both = concat([a.select(np.array([False, True])), a.select(np.array([True, False]))])
    assert both.kind.tolist() == ["harsh_brake", "harsh_accel"]
    assert len(both.records()) == 2 and both.records()[0]["source"] == "derived"
