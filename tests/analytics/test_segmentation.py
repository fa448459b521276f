"""Tracks: distance, gaps, multipath jumps and speed, on hand-computable tracks."""

import numpy as np
import pytest

from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.segmentation import build_track, trip_ids


def test_straight_line_at_constant_speed(build):
    # 101 fixes, 1 s apart, 10 m/s due east: 1000 m whether we trust speed or positions. From
    # positions of unknown accuracy (10 m assumed) the speed is debiased for noise these exact
    # positions do not have, and the ends are fitted one-sided: ~1 % short.
    x = np.arange(101) * 10.0
    with_speed = build_track(build.fixes(x, np.zeros(101), speed=10.0), build.frame)
    without = build_track(build.fixes(x, np.zeros(101)), build.frame)
    assert with_speed.per_track_sum(with_speed.travelled_m)[0] == pytest.approx(1000.0, abs=1e-3)
    assert without.per_track_sum(without.travelled_m)[0] == pytest.approx(1000.0, rel=0.015)
    np.testing.assert_allclose(without.speed[5:-5], 10.0, rtol=0.015)
    np.testing.assert_allclose(without.x, with_speed.x, atol=1e-3)  # a straight line fits itself


def test_parked_receiver_noise_adds_no_distance(build):
    rng = np.random.default_rng(1)
    n = 600
    track = build_track(
        build.fixes(rng.normal(0, 3, n), rng.normal(0, 3, n), speed=rng.uniform(0, 0.3, n)), build.frame
    )
    assert track.per_track_sum(track.travelled_m)[0] == 0.0


def test_dropout_uses_the_straight_line_and_a_long_gap_counts_nothing(build):
    # 10 m/s east; fixes missing for 30 s (a dropout) and later for 10 minutes (unit off).
    t = np.concatenate([np.arange(0, 11), np.arange(41, 51), np.arange(651, 661)]).astype(float)
    x = t * 10.0
    track = build_track(build.fixes(x, np.zeros(len(t)), t=t, speed=10.0), build.frame)
    assert track.gap.sum() == 2 and track.trip_break.sum() == 1  # a long gap is a gap that also ends the trip
    # 10 steps, 31 s across the dropout (t = 10 → 41), 9 steps, then 9 steps after the long gap.
    assert track.per_track_sum(track.travelled_m)[0] == pytest.approx(10 * (10 + 31 + 9 + 9), abs=0.01)
    assert list(np.unique(trip_ids(track))) == [0, 1]


def test_two_vehicles_are_never_joined(build):
    a = build.fixes(np.arange(10) * 5.0, np.zeros(10), speed=5.0, vehicle=1)
    b = build.fixes(np.arange(10) * 5.0 + 5000, np.zeros(10), speed=5.0, vehicle=2)
    track = build_track(build.concat(a, b), build.frame)
    np.testing.assert_allclose(track.per_track_sum(track.travelled_m), [45.0, 45.0], atol=1e-3)
    assert not track.linked[9] and track.trip_break[9]


def test_a_multipath_jump_is_replaced_and_does_not_add_distance(build):
    x = np.arange(60) * 8.0
    y = np.zeros(60)
    y[30] = 60.0  # one fix thrown 60 m sideways
    track = build_track(build.fixes(x, y), build.frame)  # no reported speed: positions matter
    assert np.flatnonzero(track.outlier).tolist() == [30]
    assert abs(track.y[30]) < 0.01
    # From positions the moving steps are shrunk by the slope noise expected at the assumed 10 m
    # accuracy (SegmentationParams.step_debias, decision 0027): −0.4 % on these noise-free fixes.
    assert track.per_track_sum(track.travelled_m)[0] == pytest.approx(59 * 8.0, rel=0.005)


def test_a_u_turn_is_not_an_outlier(build):
    x, y, v, h = build.drive([(10, 0, 0), (4, -2.0, 0), (6, 0, 30), (4, 2.0, 0), (10, 0, 0)], v0=8.0)
    track = build_track(build.fixes(x, y, speed=v, heading=h), build.frame)
    assert not track.outlier.any()
    assert track.per_track_sum(track.travelled_m)[0] == pytest.approx(np.sum(0.5 * (v[1:] + v[:-1])), rel=1e-4)


@pytest.mark.parametrize("lon0, lat0", [(179.999, 0.0), (-179.9995, -45.0), (25.0, 78.9), (0.0, 89.995)])
def test_distance_across_the_antimeridian_and_near_the_pole(build, lon0, lat0):
    """A 1 km straight run at 10 m/s centred on an awkward place: the distance from speed
    and from positions (speed unknown) both come out at 1 km."""
    frame = LocalFrame(lon0, lat0)
    x = np.arange(101) * 10.0 - 500.0
    y = np.arange(101) * 2.0 - 100.0
    expected = 100 * np.hypot(10.0, 2.0)
    for speed in (float(np.hypot(10.0, 2.0)), None):
        fixes = build.fixes(x, y, speed=speed, frame=frame)
        if abs(lon0) > 179:  # the run really crosses the antimeridian
            assert fixes.lon.min() < -179.99 and fixes.lon.max() > 179.99
        track = build_track(fixes)  # frame found from the data
        # Speed unknown: the fitted steps are shrunk by the slope noise expected at the assumed
        # 10 m accuracy (step_debias, decision 0027), −0.2 % on noise-free fixes.
        rel = 1e-4 if speed is not None else 0.005
        assert track.per_track_sum(track.travelled_m)[0] == pytest.approx(expected, rel=rel)


def test_unsorted_fixes_are_refused(build):
    with pytest.raises(ValueError, match="sorted"):
        build.fixes(np.arange(5.0), np.zeros(5), t=[0, 1, 3, 2, 4])


def _ar1_noise(rng, n, sigma_m, correlation_s=10.0):
    """Per-axis AR(1) position error at 1 Hz (a tracker's: σ ≈ 5 m, correlated over 10 s)."""
    phi = np.exp(-1.0 / correlation_s)
    e = np.zeros(n)
    eps = rng.standard_normal(n)
    e[0] = eps[0]
    for i in range(1, n):
        e[i] = phi * e[i - 1] + np.sqrt(1 - phi * phi) * eps[i]
    return sigma_m * e


def test_a_speed_missing_on_every_third_fix_is_interpolated_between_reported_ones(build):
    """A tracker that drops its speed now and then while moving: the hole is interpolated
    from the reported speeds either side (fitted from 5 m noisy positions, such fixes were up
    to 1.6 m/s off here), and the fix stays `derived` (no harsh event from it)."""
    x, y, v, h = build.drive([(30, 1.0, 0.0), (240, 0.0, 2.0), (30, -1.0, 0.0)], v0=2.0)
    rng = np.random.default_rng(7)
    speed = v.copy()
    speed[1:-1:3] = np.nan
    noisy = build.fixes(x + _ar1_noise(rng, len(x), 5.0), y + _ar1_noise(rng, len(x), 5.0), speed=speed, heading=h)
    track = build_track(noisy, build.frame)
    true_m = float(np.hypot(np.diff(x), np.diff(y)).sum())
    assert track.derived[1:-1:3].all() and not track.derived[::3].any()
    assert track.speed[1:-1:3] == pytest.approx(v[1:-1:3], abs=0.6)
    assert abs(track.travelled_m.sum() / true_m - 1) < 0.005
