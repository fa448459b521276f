"""Stop detection on hand-made tracks: one stop, noise, jumps, dropouts, creeping."""

import numpy as np
import pytest

from fleetpilot.analytics.segmentation import build_track
from fleetpilot.analytics.stops import StopParams, detect_stops


def _drive_stop_drive(build, stop_s=30, noise=0.0, seed=0):
    """60 s at 5 m/s east, a stop of `stop_s` seconds at x = 300 m, 60 s at 5 m/s."""
    speed = np.concatenate([np.full(60, 5.0), np.zeros(stop_s), np.full(61, 5.0)])
    x = np.concatenate([[0.0], np.cumsum(speed[:-1])])
    rng = np.random.default_rng(seed)
    return x + rng.normal(0, noise, len(x)), rng.normal(0, noise, len(x)), speed


def test_a_single_stop(build):
    x, y, v = _drive_stop_drive(build)
    stops = detect_stops(build_track(build.fixes(x, y, speed=v), build.frame))
    assert len(stops) == 1
    assert stops.dwell_s[0] == 29.0  # first to last stationary fix
    assert stops.x[0] == pytest.approx(300.0, abs=1e-3)
    assert (stops.first[0], stops.last[0]) == (60, 89)


def test_no_stop_while_moving_and_none_shorter_than_the_minimum(build):
    x, y, v = _drive_stop_drive(build, stop_s=8)
    assert len(detect_stops(build_track(build.fixes(x, y, speed=v), build.frame))) == 0
    assert len(detect_stops(build_track(build.fixes(np.arange(100) * 5.0, np.zeros(100), speed=5.0), build.frame))) == 0


def test_gps_noise_and_a_multipath_jump_do_not_split_or_move_a_stop(build):
    x, y, v = _drive_stop_drive(build, stop_s=60, noise=3.0, seed=4)
    x[75] += 55.0  # a multipath jump in the middle of the stop
    stops = detect_stops(build_track(build.fixes(x, y, speed=v), build.frame))
    assert len(stops) == 1
    assert np.hypot(stops.x[0] - 300.0, stops.y[0]) < 3.0
    assert stops.radius_m[0] < 20.0


def test_a_speed_glitch_inside_a_stop_is_bridged(build):
    x, y, v = _drive_stop_drive(build, stop_s=40)
    v = v.copy()
    v[75] = 1.2  # the Doppler speed flickers for one fix; the truck does not move
    assert len(detect_stops(build_track(build.fixes(x, y, speed=v), build.frame))) == 1


def test_a_dropout_inside_a_stop_keeps_one_stop(build):
    x, y, v = _drive_stop_drive(build, stop_s=60)
    keep = np.ones(len(x), dtype=bool)
    keep[70:90] = False  # 20 s without fixes while parked
    t = np.arange(len(x), dtype=float)[keep]
    stops = detect_stops(build_track(build.fixes(x[keep], y[keep], t=t, speed=v[keep]), build.frame))
    assert len(stops) == 1 and stops.dwell_s[0] == 59.0 and not stops.hidden[0]


def test_arrival_hidden_in_a_dropout_is_estimated_from_the_last_speed(build):
    x, y, v = _drive_stop_drive(build, stop_s=60)
    keep = np.ones(len(x), dtype=bool)
    keep[50:70] = False  # fixes lost from 10 s before the arrival (t = 60) to 10 s after
    t = np.arange(len(x), dtype=float)[keep]
    stops = detect_stops(build_track(build.fixes(x[keep], y[keep], t=t, speed=v[keep]), build.frame))
    assert len(stops) == 1 and stops.hidden[0]
    # Last fix before the gap: t = 49 s, x = 245 m, 5 m/s; the stop is at x = 300 m.
    assert (stops.t_start[0] - build.fixes([0.0], [0.0]).t[0]) / 1000 == pytest.approx(49 + 55 / 5, abs=0.01)


def test_creeping_is_cut_so_no_stop_is_wider_than_the_radius(build):
    # 0.4 m/s (below the stationary threshold) for 150 s: 60 m in all.
    v = np.full(151, 0.4)
    x = np.arange(151) * 0.4
    params = StopParams()
    stops = detect_stops(build_track(build.fixes(x, np.zeros(151), speed=v), build.frame), params)
    # Each piece holds the fixes within 20 m of its start: 53, 53 and 45 fixes.
    assert len(stops) == 3
    assert stops.first.tolist() == [0, 53, 106]
    assert np.all(stops.radius_m <= params.radius_m)


def test_stops_of_two_vehicles_are_kept_apart(build):
    x, y, v = _drive_stop_drive(build)
    a = build.fixes(x, y, speed=v, vehicle=3)
    b = build.fixes(x + 1000, y, speed=v, vehicle=4)
    stops = detect_stops(build_track(build.concat(a, b), build.frame))
    assert stops.track.tolist() == [0, 1]
