"""The crew record: breaks, facility queues, the longest stretch without a break, stops.

By hand on tiny tracks, then against the simulator's ground truth (sim_week: 20 trucks × 5
days). How the simulator queues (fleetsim/shift.py): the truck stops at 3–6 places 8 m apart
starting 70 m before the tip, all inside the facility's geofence, then drives onto the tip,
reverses and tips. Its truth `queue_s` runs from arriving at the first place in the line to
arriving at the tip; ours ends when the truck leaves its last place in the line, so ours is
shorter by the drive onto the tip (30–70 m from standing: ~10–20 s measured) and never longer
but for the 1 Hz sampling of the stop edges.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
import shapely

from fleetpilot.analytics.activity import Geofences, rest_mask, split_activity
from fleetpilot.analytics.record import break_intervals, iso_utc, visit_queues
from fleetpilot.analytics.safety import longest_stretch_s
from fleetpilot.analytics.segmentation import build_track
from fleetpilot.analytics.stops import detect_stops


def _geofences(frame) -> Geofences:
    """As in test_activity: a depot, a landfill at x 5000–5200 m and a break room at 2000–2060 m."""

    def square(x0, y0, size):
        lon, lat = frame.to_lonlat(
            np.array([x0, x0 + size, x0 + size, x0, x0]), np.array([y0, y0, y0 + size, y0 + size, y0])
        )
        return shapely.Polygon(np.column_stack([lon, lat]))

    return Geofences.build(
        ["depot-1", "landfill-1", "break-1"],
        ["depot", "landfill", "break"],
        [square(-200, -50, 100), square(5000, -100, 200), square(2000, 500, 60)],
        frame,
    )


def _queue_of(build, *pieces, lost: slice = slice(0, 0)):
    """Track from (fixes, metres per step, speed m/s) pieces along x from 4000 m (the
    landfill geofence spans x 5000–5200), one fix a second but the rows `lost` (a GPS
    dropout); returns the queue times of its visits."""
    x, speed, here = [], [], 4000.0
    for n, step, v in pieces:
        for _ in range(n):
            here += step
            x.append(here)
            speed.append(v)
    keep = np.ones(len(x), dtype=bool)
    keep[lost] = False
    x, speed, t = np.array(x)[keep], np.array(speed)[keep], np.arange(len(x), dtype=float)[keep]
    track = build_track(build.fixes(x, np.zeros(len(x)), t=t, speed=speed), build.frame)
    geo = _geofences(build.frame)
    found = detect_stops(track)
    split = split_activity(track, found, np.zeros(len(x), dtype=bool), geo)
    site = geo.locate(found.x, found.y)
    return visit_queues(track, split.visits, found.select(site >= 0), site[site >= 0]), split, geo


def test_queue_runs_from_joining_the_line_to_leaving_its_last_place(build):
    # Drive in to x=5030, wait 100 fixes, creep 8 m, wait 60, drive 40 m onto the tip, tip 300, leave.
    queue, split, geo = _queue_of(
        build,
        (103, 10.0, 10.0),
        (100, 0.0, 0.0),
        (4, 2.0, 2.0),
        (60, 0.0, 0.0),
        (10, 4.0, 4.0),
        (300, 0.0, 0.0),
        (100, 10.0, 10.0),
    )
    assert [geo.ids[f] for f in split.visits.facility] == ["landfill-1"]
    # First fix of the first wait (row 103) to the last fix of the second (row 266).
    assert queue.tolist() == [pytest.approx(266 - 103)]


def test_a_dropout_over_joining_the_line_never_makes_the_queue_longer(build):
    """The truck comes off a fast road at 20 m/s, slows to 5 m/s on the access road and joins
    the line; the fixes from its last 20 m/s second to 9 s after it stopped are lost. The stop's
    hidden arrival, estimated at the last seen speed, would be 39 s early (230 m at 20 m/s
    instead of at 5 m/s): the queue is timed from the stationary fixes seen, so it is shorter
    than the true one, by no more than the dropout's share of the line."""
    queue, split, _ = _queue_of(
        build,
        (40, 20.0, 20.0),  # to x 4800
        (46, 5.0, 5.0),  # to x 5030, the end of the line, at row 85
        (100, 0.0, 0.0),  # rows 86–185: first place in the line
        (4, 2.0, 2.0),
        (60, 0.0, 0.0),  # rows 190–249: second place
        (10, 4.0, 4.0),
        (300, 0.0, 0.0),
        (100, 10.0, 10.0),
        lost=slice(40, 95),
    )
    true_queue = 249 - 86
    assert len(split.visits) == 1
    assert true_queue - 9 <= queue[0] <= true_queue


def test_a_visit_served_at_once_has_no_queue(build):
    queue, split, _ = _queue_of(build, (103, 10.0, 10.0), (300, 0.0, 0.0), (100, 10.0, 10.0))
    assert len(split.visits) == 1 and queue.tolist() == [0.0]


def test_breaks_in_the_break_room_and_elsewhere_and_the_longest_stretch(build):
    """Drive 100 s, 20 min in the break room, drive 2000 s, 16 min stopped on a street, drive 100 s."""
    geo: Geofences = _geofences(build.frame)
    drive = np.arange(100) * 10.0
    x = np.concatenate(
        [drive + 1000, np.full(1200, 2030.0), np.arange(2000) * 2.0 + 2100, np.full(960, 6200.0), drive + 6210]
    )
    y = np.concatenate([np.zeros(100), np.full(1200, 530.0), np.zeros(2000), np.zeros(960), np.zeros(100)])
    speed = np.concatenate([np.full(100, 10.0), np.zeros(1200), np.full(2000, 2.0), np.zeros(960), np.full(100, 10.0)])
    track = build_track(build.fixes(x, y, speed=speed), build.frame)
    stops = detect_stops(track)
    split = split_activity(track, stops, np.zeros(len(x), dtype=bool), geo)
    breaks = break_intervals(track, split)
    t0 = track.fixes.t[0]
    assert ((breaks.t_start - t0) // 1000).tolist() == [100, 3300]
    assert ((breaks.t_end - t0) // 1000).tolist() == [1299, 4259]
    assert [geo.ids[k] if k >= 0 else None for k in breaks.facility] == ["break-1", None]
    # Work between the two breaks: rows 1300..3299.
    assert longest_stretch_s(track, rest_mask(split, geo)).tolist() == [pytest.approx(1999.0)]
    assert iso_utc(breaks.t_start[:1]) == ["2026-11-20T06:01:40Z"]


def _t(iso: str) -> int:
    return int(np.datetime64(iso.rstrip("Z"), "ms").astype(np.int64))


def _dropout_s(shift: dict, a: int, b: int) -> float:
    """Seconds of GPS dropout of the shift within [a, b] (epoch ms)."""
    return sum(max(0, min(e, b) - max(s, a)) for s, e in shift["gps"]["dropouts"]) / 1000


@pytest.fixture(scope="module")
def records(sim_week):
    return sim_week.analysis.shift_metrics(sim_week.city)


def test_every_facility_queue_the_simulator_injected_is_found(sim_week, records):
    """Every transfer-station and landfill visit is found, in order, with its queue time
    between 30 s under the truth (the drive onto the tip, ≤ 20 s, plus margin) and 5 s over
    it (stop edges at 1 Hz); a GPS dropout over the end of the line can hide up to its own
    length more, so that much is allowed too."""
    errors = []
    for shift, record in zip(sim_week.truth, records):
        true, found = shift["facility_visits"], record["metrics"]["facility_visits"]
        assert [(v["facility_id"], v["facility_type"]) for v in found] == [
            (v["facility_id"], v["facility_type"]) for v in true
        ], shift["shift_id"]
        for t, f in zip(true, found):
            error = f["queue_s"] - t["queue_s"]
            assert -30 - _dropout_s(shift, t["t_arrive"], t["t_depart"]) <= error <= 5, (shift["shift_id"], t, f)
            # We time gate to gate (first fix inside the fence), the truth from the first place in
            # the line: we arrive earlier, unless a dropout over that moment hid the way in.
            hid_arrival = [e for s_, e in shift["gps"]["dropouts"] if s_ <= t["t_arrive"] <= e]
            assert _t(f["arrived_at"]) <= max([t["t_arrive"], *hid_arrival]) + 1000
            assert abs(_t(f["departed_at"]) - t["t_depart"]) <= 120_000
            errors.append(error)
    assert len(errors) >= 150 and all(t["queue_s"] > 0 for s in sim_week.truth for t in s["facility_visits"])
    assert np.median(errors) == pytest.approx(-12, abs=6)


def test_every_break_the_simulator_injected_is_found(sim_week, records):
    """One break per shift that took one, none otherwise, at the break room. Ours runs from
    entering to leaving the break room's geofence, the truth from parking to pulling out: the
    drive and parking manoeuvre inside the fence (≤ 40 s measured) separates them, 60 s allowed."""
    took = 0
    for shift, record in zip(sim_week.truth, records):
        true, found = shift["breaks"], record["metrics"]["breaks"]
        assert len(found) == len(true), shift["shift_id"]
        for t, f in zip(true, found):
            assert f["facility_id"] == t["facility_id"]
            assert abs(_t(f["starts_at"]) - t["t_start"]) <= 60_000 and abs(_t(f["ends_at"]) - t["t_end"]) <= 60_000, (
                shift["shift_id"],
                t,
                f,
            )
        took += len(true)
    assert took >= 80


def test_longest_stretch_without_a_break_matches_the_truth(sim_week, records):
    """Ours runs from leaving one rest's geofence (depot, break room) to entering the next;
    the truth from pulling out to parking: shorter by the drives inside the fences (≤ 2 min
    measured), never longer. 3 minutes allowed."""
    for shift, record in zip(sim_week.truth, records):
        error = record["metrics"]["longest_without_break_s"] - shift["longest_without_break_s"]
        assert -180 <= error <= 5, (shift["shift_id"], error)


def test_stop_points_are_the_collection_stops_in_the_shape_sent(sim_week, records):
    stops = sim_week.analysis.stops
    for k, record in enumerate(records[:5]):
        points = record["stop_points"]
        assert len(points) == record["stops"] == np.sum(stops.track == k)
        first = points[0]
        assert set(first) == {"lon", "lat", "arrived_at", "dwell_s"}
        assert (
            round(first["lon"], 5) == first["lon"] and round(first["lat"], 5) == first["lat"] and first["dwell_s"] >= 10
        )
        assert first["arrived_at"].endswith("Z")  # as the crew record's other times
        arrived = [datetime.fromisoformat(p["arrived_at"]) for p in points]
        assert arrived == sorted(arrived)
