"""The time split (it always adds up to the shift) and facility visits."""

import functools

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetpilot.analytics.activity import (
    BREAK,
    CLASSES,
    COLLECTION,
    DEADHEAD,
    FACILITY,
    IDLE,
    Geofences,
    rest_mask,
    split_activity,
    turnaround,
)
from fleetpilot.analytics.segmentation import build_track
from fleetpilot.analytics.stops import detect_stops


def _square(frame, x0, y0, size):
    xs = np.array([x0, x0 + size, x0 + size, x0, x0])
    ys = np.array([y0, y0, y0 + size, y0 + size, y0])
    lon, lat = frame.to_lonlat(xs, ys)
    return shapely.Polygon(np.column_stack([lon, lat]))


@functools.cache
def _geofences(frame):
    return Geofences.build(
        ["depot-1", "landfill-1", "break-1"],
        ["depot", "landfill", "break"],
        [_square(frame, -200, -50, 100), _square(frame, 5000, -100, 200), _square(frame, 2000, 500, 60)],
        frame,
    )


def test_geofence_lookup_matches_exact_point_in_polygon(build):
    geo = _geofences(build.frame)
    rng = np.random.default_rng(3)
    x = rng.uniform(-300, 5300, 20000).astype(np.float32)
    y = rng.uniform(-200, 700, 20000).astype(np.float32)
    where = geo.locate(x, y)
    for k, poly in enumerate(geo.polygons):
        exact = shapely.contains_xy(poly, x.astype(float), y.astype(float))
        np.testing.assert_array_equal(where == k, exact)


def test_a_shift_split_by_hand(build):
    """Fixes every second: depot 0–99 s, deadhead 100–199 s, collection 200–299 s (with a
    30 s bin stop), idling on the route 300–539 s, collection 540–599 s, landfill 600–899 s;
    the shift window runs to 1000 s."""
    frame = build.frame
    geo = _geofences(frame)
    n = 900
    i = np.arange(n)
    speed = np.zeros(n)
    speed[100:200] = 10.0
    speed[200:600] = 2.0
    speed[230:260] = 0.0  # bin stop
    speed[300:540] = 0.0  # idling
    x = np.full(n, -150.0)  # in the depot
    x[100:200] = (i[100:200] - 100) * 10.0
    x[200:600] = 1000.0 + np.concatenate([[0.0], np.cumsum(speed[200:599])])
    x[600:] = 5100.0  # in the landfill
    fixes = build.fixes(x, np.zeros(n), speed=speed)
    track = build_track(fixes, frame)
    on_route = (i >= 200) & (i < 600)
    split = split_activity(
        track, detect_stops(track), on_route, geo, windows=np.array([[fixes.t[0], fixes.t[0] + 1_000_000]])
    )
    assert split.per_track(0) == pytest.approx(
        {"collection": 160.0, "deadhead": 100.0, "facility": 399.0, "break": 0.0, "idle": 240.0, "no_data": 101.0}
    )
    assert split.classes[[50, 150, 240, 400, 550, 700]].tolist() == [
        FACILITY,
        DEADHEAD,
        COLLECTION,
        IDLE,
        COLLECTION,
        FACILITY,
    ]
    visits = split.visits
    assert [geo.ids[f] for f in visits.facility] == ["depot-1", "landfill-1"]
    assert turnaround(split, geo, 1)[0] == pytest.approx(299.0)


def test_a_break_room_stay_is_a_break_and_a_rest(build):
    geo = _geofences(build.frame)
    x = np.concatenate([np.arange(100) * 10.0 + 1000, np.full(1200, 2030.0), np.arange(100) * 10.0 + 2100])
    y = np.concatenate([np.zeros(100), np.full(1200, 530.0), np.zeros(100)])
    speed = np.where(np.arange(len(x)) < 100, 10.0, np.where(np.arange(len(x)) < 1300, 0.0, 10.0))
    track = build_track(build.fixes(x, y, speed=speed), build.frame)
    split = split_activity(track, detect_stops(track), np.zeros(len(x), dtype=bool), geo)
    assert split.per_track(0)["break"] == pytest.approx(1200)
    assert rest_mask(split, geo).sum() == 1200
    assert split.classes[500] == BREAK


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([1, 1, 1, 1, 2, 5, 30, 400, 2000]), min_size=2, max_size=300),
    st.integers(0, 2**31 - 1),
    st.integers(0, 3000),
    st.integers(0, 3000),
)
def test_time_split_always_adds_up_to_the_shift(build, steps, seed, lead_s, tail_s):
    """Whatever the sampling (dropouts, long gaps), stops and routes, the classes sum to the
    shift window: no second is lost or counted twice."""
    rng = np.random.default_rng(seed)
    t = np.concatenate([[0.0], np.cumsum(steps)]).astype(float)
    n = len(t)
    speed = np.where(rng.random(n) < 0.4, 0.0, rng.uniform(0, 15, n))
    x = np.cumsum(speed) + rng.normal(0, 3, n) + rng.choice([-150.0, 1000.0, 5100.0], n, p=[0.2, 0.7, 0.1])
    fixes = build.fixes(x, rng.normal(0, 3, n), t=t, speed=speed)
    track = build_track(fixes, build.frame)
    window = np.array([[fixes.t[0] - lead_s * 1000, fixes.t[-1] + tail_s * 1000]])
    split = split_activity(track, detect_stops(track), rng.random(n) < 0.5, _geofences(build.frame), window)
    total = split.seconds.sum(axis=1)[0]
    assert total == pytest.approx((window[0, 1] - window[0, 0]) / 1000, abs=1e-3)
    assert np.all(split.seconds >= 0)
    assert len(CLASSES) == split.seconds.shape[1]
