"""The route driven, simplified for the shift map: every fix within the tolerance of the line,
corners kept, few points, each track on its own."""

from __future__ import annotations

import numpy as np
import shapely

from fleetpilot.analytics.segmentation import build_track
from fleetpilot.analytics.simplify import SimplifyParams, simplified_tracks
from fleetpilot.analytics.stops import detect_stops


def _distances_m(track, line_lonlat: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Metres from the points (x, y) of ``track``'s frame to the line (degrees → local frame)."""
    lx, ly = track.frame.to_xy(line_lonlat[:, 0], line_lonlat[:, 1])
    line = shapely.LineString(np.column_stack([lx, ly]).astype(np.float64))
    return shapely.distance(line, shapely.points(np.asarray(x, np.float64), np.asarray(y, np.float64)))


def _farthest_fix_m(track, line_lonlat: np.ndarray, a: int, b: int) -> float:
    """Metres from the fixes a..b-1 of ``track`` to the line."""
    return float(_distances_m(track, line_lonlat, track.x[a:b], track.y[a:b]).max())


def test_an_l_shaped_drive_keeps_its_three_corners_and_drops_the_straight_fixes(build):
    # 300 m east, then 200 m north, 10 m per second: 51 fixes on two straight streets.
    x = np.concatenate([np.arange(0, 300, 10.0), np.full(21, 300.0)])
    y = np.concatenate([np.zeros(30), np.arange(0, 210, 10.0)])
    track = build_track(build.fixes(x, y, speed=10.0), build.frame)
    (line,) = simplified_tracks(track)
    lx, ly = build.frame.to_xy(line[:, 0], line[:, 1])
    assert len(line) == 3
    assert np.allclose(np.column_stack([lx, ly]), [[0, 0], [300, 0], [300, 200]], atol=1.0)


def test_every_fix_lies_within_the_tolerance_of_the_line_and_tracks_stay_apart(build):
    rng = np.random.default_rng(4)
    # A wandering drive with 4 m GPS noise, and a second vehicle far away.
    steps = rng.normal(0, 1, (600, 2)).cumsum(axis=0) * 8
    noisy = steps + rng.normal(0, 4, steps.shape)
    first = build.fixes(noisy[:, 0], noisy[:, 1], speed=8.0, vehicle=0)
    second = build.fixes(noisy[:, 0] + 5000, noisy[:, 1], speed=8.0, vehicle=1)
    params = SimplifyParams(tolerance_m=5.0)
    both = build_track(build.concat(first, second), build.frame)
    lines = simplified_tracks(both, params=params)
    assert len(lines) == 2
    for i, (a, b) in enumerate(zip(both.starts, both.stops)):
        # 1e-5° rounding moves a vertex by ≤ 0.8 m.
        assert _farthest_fix_m(both, lines[i], a, b) <= params.tolerance_m + 1.0
        assert 10 < len(lines[i]) < 600
    alone = simplified_tracks(build_track(first, build.frame), params=params)[0]
    assert np.array_equal(alone, lines[0])  # the result for a track does not depend on the batch


def test_a_track_of_one_fix_is_that_position_and_no_fixes_no_lines(build):
    one = build_track(build.fixes(np.array([12.0]), np.array([-7.0])), build.frame)
    (line,) = simplified_tracks(one)
    lx, ly = build.frame.to_xy(line[:, 0], line[:, 1])
    assert line.shape == (1, 2) and abs(lx[0] - 12) < 1 and abs(ly[0] + 7) < 1
    assert simplified_tracks(build_track(build.fixes(np.zeros(0), np.zeros(0)), build.frame)) == []


def test_a_truck_standing_at_a_bin_is_one_vertex_not_its_gps_jitter(build):
    rng = np.random.default_rng(9)
    # 200 m east, 90 s standing (6 m jitter), 200 m on: the stop detector finds the stand.
    x = np.concatenate([np.arange(0, 200, 10.0), 200 + rng.normal(0, 6, 90), np.arange(210, 410, 10.0)])
    y = np.concatenate([np.zeros(20), rng.normal(0, 6, 90), np.zeros(20)])
    speed = np.concatenate([np.full(20, 10.0), np.zeros(90), np.full(20, 10.0)])
    track = build_track(build.fixes(x, y, speed=speed), build.frame)
    found = detect_stops(track)
    assert len(found) == 1
    (jittery,) = simplified_tracks(track, params=SimplifyParams(tolerance_m=5.0))
    (line,) = simplified_tracks(track, found, SimplifyParams(tolerance_m=5.0))
    assert len(line) <= 4 < len(jittery)
    assert _distances_m(track, line, found.x, found.y)[0] < 1.0  # through the stop's centre


def test_a_simulated_day_keeps_every_fix_near_its_line_with_a_few_percent_of_the_points(sim_day):
    track, stops = sim_day.analysis.track, sim_day.analysis.stops
    lines = simplified_tracks(track, stops)
    tolerance = SimplifyParams().tolerance_m + 1.0  # 1e-5° rounding moves a vertex by ≤ 0.8 m
    fixes = np.diff(np.append(track.starts, len(track)))
    points = np.array([len(line) for line in lines])
    assert len(lines) == len(track.starts) and (points >= 2).all()
    assert points.sum() < 0.02 * fixes.sum(), (points.sum(), fixes.sum())
    inside = np.zeros(len(track) + 1, dtype=np.int64)
    np.add.at(inside, stops.first, 1)
    np.add.at(inside, stops.last + 1, -1)
    moving = np.cumsum(inside)[:-1] == 0
    for i in (0, len(lines) // 2, len(lines) - 1):
        a, b = int(track.starts[i]), int(track.stops[i])
        on = moving[a:b]
        assert _distances_m(track, lines[i], track.x[a:b][on], track.y[a:b][on]).max() <= tolerance
        mine = stops.track == i  # a standing truck is drawn at its stop's centre
        assert _distances_m(track, lines[i], stops.x[mine], stops.y[mine]).max() <= tolerance
