"""Library questions written as functions, on simulator demo data: parameters are checked, and
where the simulator's truth knows the answer, it matches (every question's number, table, chart
and k: tests/whatif/test_question_library.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fleetpilot.analytics.whatif.questions import ask

PERSON_ID = re.compile(r"p-[0-9a-f]{6}")


def params_for(qid: str, sim_run) -> dict:
    if qid == "zone_speed":
        spot = sim_run.truth["dangerous_intersections"][0]
        return {"lon": spot["lon"], "lat": spot["lat"], "from_hour": 6, "to_hour": 18}
    return {}


def test_parameters_are_checked(sim_history):
    with pytest.raises(ValueError, match="one of"):
        ask("harsh_rate_segments", sim_history, {"kind": "speeding_ticket"})
    with pytest.raises(ValueError, match="no parameter"):
        ask("truck_hours_by_weekday", sim_history, {"person": "p-123456"})
    with pytest.raises(ValueError, match="unknown question"):
        ask("who_is_slowest", sim_history)
    answer = ask("harsh_rate_segments", sim_history, {"n": "3"}).to_dict()
    assert answer["params"]["n"] == 3 and len(answer["table"]["rows"]) <= 3 and "3 segments" in answer["title"]


def test_tip_trips_and_long_stretches_match_the_simulators_truth(sim_history, sim_run):
    shifts = sim_run.truth["shifts"]
    tips = ask("tip_trips_per_shift", sim_history).to_dict()["number"]["value"]
    assert tips == pytest.approx(np.mean([len(s["facility_visits"]) for s in shifts]), abs=0.05)
    long_share = ask("long_stretches_without_break", sim_history, {"hours": 4.5}).to_dict()["number"]["value"]
    assert long_share == pytest.approx(np.mean([s["longest_without_break_s"] > 4.5 * 3600 for s in shifts]), abs=0.03)


def test_missed_segments_match_the_blocked_streets(sim_history, sim_run):
    answer = ask("missed_segments_by_route", sim_history).to_dict()
    rows = answer["table"]["rows"]
    missed = sum(r[1] * r[2] * r[3] for r in rows)  # shifts × planned × share
    blocked = sum(len(s["skipped_segments"]) for s in sim_run.truth["shifts"])
    assert missed == pytest.approx(blocked, abs=max(3, 0.2 * blocked))


def test_transfer_station_stays_match_the_truth(sim_history, sim_run):
    rows = {r[0]: r for r in ask("turnaround_by_facility", sim_history).to_dict()["table"]["rows"]}
    truth = [
        (v["t_depart"] - v["t_arrive"]) / 60_000
        for s in sim_run.truth["shifts"]
        for v in s["facility_visits"]
        if v["facility_id"] == "transfer-1"
    ]
    assert rows["transfer-1"][2] == len(truth)
    assert rows["transfer-1"][3] == pytest.approx(np.median(truth), rel=0.1)
    lost = ask("facility_queue_hours", sim_history).to_dict()["number"]["value"]
    queued = (
        sum(
            v["queue_s"]
            for s in sim_run.truth["shifts"]
            for v in s["facility_visits"]
            if v["facility_type"] == "transfer_station"
        )
        / 3600
    )
    assert 0 < lost <= queued  # a lower bound, by its definition


def test_the_riskiest_segments_are_at_the_dangerous_intersections(sim_history, sim_run):
    rows = ask("harsh_rate_segments", sim_history, {"n": 3, "kind": "harsh_brake"}).to_dict()["table"]["rows"]
    net = sim_history.network
    index = net.index()
    spots = [sim_history.frame.to_xy(d["lon"], d["lat"]) for d in sim_run.truth["dangerous_intersections"]]
    for row in rows:
        s = index[row[0]]
        ends = [(net.x0[s], net.y0[s]), (net.x1[s], net.y1[s])]
        assert min(np.hypot(ex - sx, ey - sy) for ex, ey in ends for sx, sy in spots) < 30, row
