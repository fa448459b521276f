"""Legs from fixes (the database path's first step) against the simulator's truth."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fleetpilot.analytics.columns import DeviceEvents, Fixes
from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.segmentation import build_track
from fleetpilot.analytics.whatif.assemble import build_city
from fleetpilot.analytics.whatif.history import HARSH_KINDS, LEG_FACILITY, LEG_GAP, LEG_SERVICE, LEG_TRAVEL
from fleetpilot.analytics.whatif.kpi import working_mask
from fleetpilot.analytics.whatif.legs import LegParams, legs_of_shift
from fleetpilot.event_kinds import BIN_LIFT


def test_every_shift_is_cut_into_legs_that_account_for_its_time(sim_history):
    legs = sim_history.legs
    covered = np.bincount(legs.shift, weights=legs.duration_s, minlength=sim_history.shifts.size)
    window = sim_history.shifts.end_t - sim_history.shifts.start_t
    assert np.all(covered <= window + 1) and np.all(covered >= 0.98 * window)
    assert np.all(np.diff(legs.t0)[np.diff(legs.shift) == 0] > 0)


def test_facility_visits_stops_and_events_match_the_truth(sim_history, sim_run):
    truth = {s["shift_id"]: s for s in sim_run.truth["shifts"]}
    legs, fac = sim_history.legs, sim_history.facilities
    for i, shift_id in enumerate(sim_history.shifts.shift_ids):
        t = truth[shift_id]
        mine = legs.shift == i
        stays = mine & (legs.kind == LEG_FACILITY)
        types = fac.facility_types[legs.facility[stays]]
        assert np.isin(types, ("transfer_station", "landfill")).sum() == len(t["facility_visits"]), shift_id
        harsh = sum(1 for e in t["harsh_events"] if e["kind"] in HARSH_KINDS)
        assert legs.harsh[mine].sum() == harsh
        served = np.sum(sim_history.visits.shift == i)
        assert abs(served - len(t["stops"])) <= max(3, 0.03 * len(t["stops"])), shift_id


def test_the_working_span_is_depot_to_depot(sim_history, sim_run):
    truth = {s["shift_id"]: s for s in sim_run.truth["shifts"]}
    legs = sim_history.legs
    work = working_mask(sim_history)
    for i, shift_id in enumerate(sim_history.shifts.shift_ids[:10]):
        t = truth[shift_id]
        mine = (legs.shift == i) & work & (legs.kind != LEG_GAP)
        span_h = legs.duration_s[mine].sum() / 3600
        assert span_h == np.float64(span_h)
        assert abs(span_h - (t["depot_return"] - t["depot_departure"]) / 3.6e6) < 0.1, shift_id


def _with_legs(history, legs):
    return replace(history, legs=legs)


def _split_with_gap(legs, i):
    """Leg ``i`` cut in three: itself, a data gap, itself again (a unit dropping off the
    network for the middle third)."""
    order = np.insert(np.arange(legs.size), [i, i], [i, i])
    out = legs.take(order)
    third = legs.duration_s[i] / 3
    kind, facility, t0, duration = out.kind.copy(), out.facility.copy(), out.t0.copy(), out.duration_s.copy()
    duration[i : i + 3] = third
    t0[i + 1], t0[i + 2] = legs.t0[i] + third, legs.t0[i] + 2 * third
    kind[i + 1], facility[i + 1] = LEG_GAP, -1
    return replace(out, kind=kind, facility=facility, t0=t0, duration_s=duration)


def test_a_data_gap_while_parked_at_the_depot_is_not_work(sim_history):
    """A unit that drops off the network in the yard after the shift (depot, gap, depot) made
    the working span run to the end of the gap: phantom overtime and a 'depot return'."""
    legs, fac = sim_history.legs, sim_history.facilities
    mine = np.flatnonzero(legs.shift == 0)
    at_depot = mine[(legs.kind[mine] == LEG_FACILITY) & (fac.facility_types[legs.facility[mine]] == "depot")]
    last_stay = at_depot[-1]
    before = working_mask(sim_history)
    assert before[mine].any() and not before[last_stay], "the shift ends with a stay in the depot"

    after = working_mask(_with_legs(sim_history, _split_with_gap(legs, last_stay)))
    expected = np.insert(before, [last_stay, last_stay], False)
    assert np.array_equal(after, expected)


def test_a_data_gap_on_the_way_back_is_work(sim_history):
    legs, fac = sim_history.legs, sim_history.facilities
    mine = np.flatnonzero(legs.shift == 0)
    at_depot = mine[(legs.kind[mine] == LEG_FACILITY) & (fac.facility_types[legs.facility[mine]] == "depot")]
    drive_home = at_depot[-1] - 1
    assert legs.kind[drive_home] in (LEG_TRAVEL, LEG_SERVICE)
    kind = legs.kind.copy()
    kind[drive_home] = LEG_GAP
    gappy = _with_legs(sim_history, replace(legs, kind=kind))
    assert np.array_equal(working_mask(gappy), working_mask(sim_history))


# --- legs on a hand-made junction -------------------------------------------------------------

_FRAME = LocalFrame(-96.797, 32.776)


def _lonlat(points):
    lon, lat = _FRAME.to_lonlat(*np.asarray(points, dtype=np.float64).T)
    return np.column_stack([lon, lat]).tolist()


def _junction_city():
    """A through street (west and east of a junction at 0, 0) and a side street leaving the
    junction at 60° (as curved and real streets do), 120 m long; a depot far away."""
    side_end = 120 * np.array([np.cos(np.radians(60)), np.sin(np.radians(60))])
    streets = [
        ("west", "residential", 30, _lonlat([(-200, 0), (0, 0)])),
        ("east", "residential", 30, _lonlat([(0, 0), (200, 0)])),
        ("side", "residential", 30, _lonlat([(0, 0), side_end])),
    ]
    depot = [_lonlat([(-900, -900), (-860, -900), (-860, -860), (-900, -860), (-900, -900)])]
    return build_city(streets, [("depot-1", "depot", depot)]), side_end / 120


def _side_legs(into_side_m, speed_mps, lift_at=None):
    """Legs of a truck that drives the through street and, at the junction, goes ``into_side_m``
    along the side street (a planned service street) and back at ``speed_mps``."""
    city, side = _junction_city()
    west = np.column_stack([np.arange(-120.0, 0.0, 8.0), np.zeros(15)])
    into = np.arange(0.0, into_side_m, speed_mps)
    mouth = np.r_[into, into[::-1]][:, None] * side
    east = np.column_stack([np.arange(8.0, 120.0, 8.0), np.zeros(14)])
    xy = np.vstack([west, mouth, east])
    speed = np.r_[np.full(15, 8.0), np.full(len(mouth), speed_mps), np.full(14, 8.0)]
    lon, lat = _FRAME.to_lonlat(xy[:, 0], xy[:, 1])
    t = 1_800_000_000_000 + 1000 * np.arange(len(xy))
    fixes = Fixes.from_columns({"vehicle": np.zeros(len(t), int), "t": t, "lon": lon, "lat": lat, "speed": speed})
    at = [] if lift_at is None else [t[15 + lift_at]]
    events = DeviceEvents.from_columns(
        {"vehicle": np.zeros(len(at), int), "t": np.array(at), "kind": np.array(at and [BIN_LIFT])}
    )
    service = city.network.segment_ids == "side"
    legs = legs_of_shift(build_track(fixes, city.frame), city.streets, service, city.geofences, events.t, events.kind)
    on_side = legs.segment == int(np.flatnonzero(service)[0])
    assert on_side.any() and legs.duration_s[on_side].sum() >= 3 * LegParams().min_run_s
    return legs.kind[on_side]


def test_turning_round_in_the_mouth_of_a_street_is_not_collecting_it():
    """A truck that finds a planned street blocked turns round in its mouth, slowly, within the
    junction's match radius; those fixes are as near the cross street and show no work on the
    street (the irregular city's curved blocked streets got 'collected' this way)."""
    assert set(_side_legs(into_side_m=10.0, speed_mps=1.5)) == {LEG_TRAVEL}
    assert set(_side_legs(into_side_m=60.0, speed_mps=3.0)) == {LEG_SERVICE}
    assert set(_side_legs(into_side_m=10.0, speed_mps=1.5, lift_at=3)) == {LEG_SERVICE}  # a bin lift is work
