"""Legs from fixes (the database path's first step) against the simulator's truth."""

from __future__ import annotations

import numpy as np

from fleetpilot.analytics.whatif.history import HARSH_KINDS, LEG_FACILITY, LEG_GAP
from fleetpilot.analytics.whatif.kpi import working_mask


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
