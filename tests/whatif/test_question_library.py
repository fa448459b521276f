"""Issue 16, item 5: the library of at least 100 questions, on one world rebuilt from the simulator.

Every question (``test_question``, one case each) answers with a number, a table and a chart on
``sim_history`` (10 trucks × 7 days of fleetsim), passes the k rule (shown groups have k distinct
shifts and people, counted here from the raw shifts and crews; with k out of reach every group is
withheld), and, for a sample, matches an independent computation: from the simulator's ground
truth (``sim_run.truth``) or from the raw leg, visit and shift rows with plain Python loops.
The release through the API (released (unit, week) blocks only) is driven for every question of
the catalogue by tests/whatif/test_release_property.py.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from fleetpilot.analytics.whatif.common import pass_legs
from fleetpilot.analytics.whatif.history import LEG_KINDS
from fleetpilot.analytics.whatif.kpi import working_mask
from fleetpilot.analytics.whatif.privacy import Privacy
from fleetpilot.analytics.whatif.questions import QUESTIONS, Context, ask
from fleetpilot.analytics.whatif.questions.catalog import SPECS
from fleetpilot.analytics.whatif.questions.common import facility_visits
from fleetpilot.analytics.whatif.questions.spec import Chart, Col, register
from fleetpilot.event_kinds import BIN_LIFT, REVERSING

PERSON_ID = re.compile(r"p-[0-9a-f]{6}")
DEFAULT = Privacy()
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def params_for(qid: str, sim_run) -> dict:
    if qid == "zone_speed":
        spot = sim_run.truth["dangerous_intersections"][0]
        return {"lon": spot["lon"], "lat": spot["lat"], "from_hour": 6, "to_hour": 18}
    return {}


@pytest.fixture(scope="module")
def answers(sim_history, sim_run) -> dict[str, dict]:
    return {qid: ask(qid, sim_history, params_for(qid, sim_run)).to_dict() for qid in QUESTIONS}


def test_the_library_holds_at_least_100_questions_mostly_declarative():
    specs = [q for q in QUESTIONS.values() if q.spec is not None]
    assert len(QUESTIONS) >= 100 and len(specs) >= 90, (len(QUESTIONS), len(specs))
    assert {s.id for s in SPECS} == {q.id for q in specs}
    titles = [q.title for q in QUESTIONS.values()]
    assert len(set(titles)) == len(titles), "two questions with one title"
    # No near-duplicates: no two specs measure the same columns over the same rows and grouping.
    shapes = [(s.source, s.group, s.filters, tuple((c.agg, c.of, c.per) for c in s.columns)) for s in SPECS]
    assert len(set(shapes)) == len(shapes), "two specs differ only by their id, title or parameters"
    for q in specs:
        d = q.describe()
        assert d["spec"]["privacy_unit"] in ("rows", "shifts") and d["spec"]["chart"] in ("bar", "line")
        assert d["title"] and d["method"] and all(p["help"] for p in d["params"])


def test_a_spec_naming_what_does_not_exist_is_refused():
    from dataclasses import replace

    base = next(s for s in SPECS if s.id == "lifts_by_route")
    wrong = {
        "unknown measure": {"columns": (Col("x", "h", "sum", "no_such_measure"),)},
        "unknown grouping": {"group": "driver"},
        "unknown filter": {"filters": ("weekend_only",)},
        "unknown column": {"chart": Chart("bar", "nope", "t", "y")},
        "privacy unit 'shifts' needs": {"source": "legs", "group": "hour", "privacy": "shifts"},
    }
    for message, change in wrong.items():
        with pytest.raises(ValueError, match=message):
            register(replace(base, id=f"x_{len(message)}", **change))
    with pytest.raises(ValueError, match="registered twice"):
        register(base)


def test_the_docs_list_every_question():
    from pathlib import Path

    from fleetpilot.commands.whatif import questions_markdown

    docs = (Path(__file__).parents[2] / "docs" / "whatif.md").read_text()
    assert questions_markdown() in docs, "docs/whatif.md: regenerate with `fleetpilot whatif list --markdown`"


def _shift_label(sim_history, group: str) -> list[str] | None:
    """Every shift's label under a grouping that is a property of the shift, from the raw shift rows."""
    s = sim_history.shifts
    out = []
    for i in range(s.size):
        day = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=float(s.start_t[i]))
        if group == "route":
            out.append(str(sim_history.plans.route_ids[s.route[i]]) if s.route[i] >= 0 else None)
        elif group == "weekday":
            out.append(WEEKDAYS[day.weekday()])
        elif group == "day":
            out.append(day.date().isoformat())
        elif group == "week":
            y, w, _ = day.isocalendar()
            out.append(f"{y}-W{w:02d}")
        else:
            return None
    return out


@pytest.mark.parametrize("qid", sorted(QUESTIONS))
def test_question(qid, answers, sim_history, sim_run):
    answer = answers[qid]
    q = QUESTIONS[qid]
    value = answer["number"]["value"]
    assert isinstance(value, (int, float)) and math.isfinite(value), f"{qid}: no number"
    assert answer["number"]["unit"] and answer["number"]["label"]
    table = answer["table"]
    assert table["rows"], f"{qid}: an empty table"
    assert all(len(row) == len(table["columns"]) == len(table["units"]) for row in table["rows"]), qid
    chart = answer["chart"]
    assert chart["data"] and chart["layout"]["title"]["text"], f"{qid}: no chart"
    assert answer["assumptions"][0] == q.method and answer["assumptions"][-1] == DEFAULT.describe()
    assert not PERSON_ID.search(json.dumps(answer)), f"{qid} leaks a person id"
    if q.spec is None:
        return
    spec = q.spec
    trace = chart["data"][0]
    assert trace["x"] == [row[0] for row in table["rows"]], "the chart plots the table's groups"
    column = table["columns"].index(spec.chart.column)
    assert trace["y"] == pytest.approx([spec.chart.scale * row[column] for row in table["rows"]])
    # k, counted from the raw rows: a group shown has k shifts and k people behind it.
    labels = _shift_label(sim_history, spec.group)
    if labels is not None:
        crews = sim_history.shifts.crew_offsets
        for row in table["rows"]:
            members = [i for i, label in enumerate(labels) if label == row[0]]
            people = {int(p) for i in members for p in sim_history.shifts.crew_person[crews[i] : crews[i + 1]]}
            assert len(members) >= DEFAULT.k_shifts and len(people) >= DEFAULT.k_people, (qid, row[0])
    if spec.limit:
        assert len(table["rows"]) <= answer["params"][spec.limit]


def test_with_k_out_of_reach_every_question_withholds_every_group(sim_history, sim_run):
    strict = Context(privacy=Privacy(k_shifts=5, k_people=10_000))
    for qid in QUESTIONS:
        answer = ask(qid, sim_history, params_for(qid, sim_run), strict).to_dict()
        assert answer["table"]["rows"] == [], qid
        if QUESTIONS[qid].spec is not None:
            assert answer["suppressed"] > 0, qid
            assert answer["number"]["value"] in (None, 0), f"{qid}: a number from withheld groups"


# --- a sample checked against the simulator's truth or the raw rows ------------------------------


def _rows(answer: dict) -> dict:
    return {row[0]: dict(zip(answer["table"]["columns"], row)) for row in answer["table"]["rows"]}


def _truth_shifts(sim_run) -> list[dict]:
    return sim_run.truth["shifts"]


def _route_of(sim_run) -> dict[str, str]:
    return {s["shift_id"]: s["route_id"] for s in _truth_shifts(sim_run)}


def test_lifts_match_the_bins_the_simulator_lifted(answers, sim_run):
    by_route = defaultdict(int)
    for s in _truth_shifts(sim_run):
        by_route[s["route_id"]] += sum(stop["lifts"] for stop in s["stops"])
    rows = _rows(answers["lifts_by_route"])
    assert {r: rows[r]["lifts"] for r in rows} == {r: by_route[r] for r in rows}
    assert answers["lifts_by_weekday"]["number"]["value"] == sum(by_route.values())


def test_truck_hours_and_street_start_match_the_depot_departures(answers, sim_run, sim_history):
    truth = _truth_shifts(sim_run)
    hours = np.mean([(s["depot_return"] - s["depot_departure"]) / 3_600_000 for s in truth])
    assert answers["truck_hours_by_route"]["number"]["value"] == pytest.approx(hours, rel=0.02)
    index = {str(sid): i for i, sid in enumerate(sim_history.shifts.shift_ids)}
    offset = {s["shift_id"]: sim_history.shifts.start_t[index[s["shift_id"]]] - s["start"] / 1000 for s in truth}
    starts = defaultdict(list)
    for s in truth:
        starts[s["route_id"]].append(((s["depot_departure"] / 1000 + offset[s["shift_id"]]) % 86400) / 3600)
    for route, row in _rows(answers["street_start_by_route"]).items():
        assert row["median_start_hour"] == pytest.approx(np.median(starts[route]), abs=0.1), route


def test_stops_served_and_breaks_match_the_truth(answers, sim_run):
    truth = _truth_shifts(sim_run)
    served = sum(len(s["stops"]) for s in truth) / sum(s["planned_stops"] for s in truth)
    assert answers["stops_served_by_route"]["number"]["value"] == pytest.approx(served, abs=0.02)
    without = np.mean([not any(b["t_end"] - b["t_start"] >= 15 * 60_000 for b in s["breaks"]) for s in truth])
    assert answers["breaks_by_route"]["number"]["value"] == pytest.approx(without, abs=0.03)


def test_tip_visits_and_queues_match_the_truth(answers, sim_run):
    truth = _truth_shifts(sim_run)
    visits = defaultdict(int)
    queued = defaultdict(float)
    for s in truth:
        for v in s["facility_visits"]:
            visits[v["facility_id"]] += 1
            queued[v["facility_id"]] += v["queue_s"] / 3600
    shown = _rows(answers["visits_by_facility"])
    for facility, n in visits.items():
        assert shown[facility]["visits"] == n, facility
    for facility, row in _rows(answers["queue_by_facility"]).items():
        assert 0 < row["lost_truck_hours"] <= queued[facility] + 1e-9, facility  # a lower bound, by definition
    trips = np.mean([len(s["facility_visits"]) for s in truth])
    assert answers["tip_trips_by_weekday"]["number"]["value"] == pytest.approx(trips, abs=0.05)


def test_missed_segments_match_the_blocked_streets(answers, sim_run):
    missed = sum(len(s["skipped_segments"]) for s in _truth_shifts(sim_run))
    rows = answers["missed_segments_by_weekday"]["table"]["rows"]
    assert sum(r[2] for r in rows) == pytest.approx(missed, abs=max(3, 0.2 * missed))


def test_harsh_events_per_route_match_the_truth(answers, sim_run):
    events = defaultdict(int)
    for s in _truth_shifts(sim_run):
        events[s["route_id"]] += len(s["harsh_events"])
    for route, row in _rows(answers["harsh_per_1000km_by_route"]).items():
        assert row["harsh_events"] == pytest.approx(events[route], abs=2), route


def _legs(sim_history) -> list[dict]:
    legs = sim_history.legs
    work = working_mask(sim_history)
    passes = pass_legs(sim_history)
    out = []
    for i in range(legs.size):
        out.append(
            {
                "shift": int(legs.shift[i]),
                "kind": LEG_KINDS[legs.kind[i]],
                "segment": int(legs.segment[i]),
                "t0": float(legs.t0[i]),
                "s": float(legs.duration_s[i]),
                "moving": float(legs.moving_s[i]),
                "m": float(legs.length_m[i]),
                "top": float(legs.max_speed_mps[i]),
                "lifts": int(legs.event(BIN_LIFT)[i]),
                "reversing": int(legs.event(REVERSING)[i]),
                "harsh": int(legs.harsh[i]),
                "working": bool(work[i]),
                "pass": bool(passes[i]),
            }
        )
    return out


@pytest.fixture(scope="module")
def raw_legs(sim_history) -> list[dict]:
    return _legs(sim_history)


def test_leg_questions_match_loops_over_the_raw_legs(answers, raw_legs, sim_history):
    net = sim_history.network
    # deadhead share by week (one week in this world): km off collection legs / all km
    dead = sum(leg["m"] for leg in raw_legs if leg["kind"] != "service")
    total = sum(leg["m"] for leg in raw_legs)
    assert answers["deadhead_share_by_week"]["number"]["value"] == pytest.approx(dead / total, rel=1e-9)
    # km by road class: street passes only
    by_class = defaultdict(float)
    for leg in raw_legs:
        if leg["pass"]:
            by_class[str(net.road_class[leg["segment"]])] += leg["m"] / 1000
    for cls, row in _rows(answers["km_by_road_class"]).items():
        assert row["km"] == pytest.approx(by_class[cls], rel=1e-9)
    # speeding share by hour: top speed above the limit + 5 km/h on passes of limited streets
    passes, over = defaultdict(int), defaultdict(int)
    for leg in raw_legs:
        limit = float(net.speed_limit_mps[leg["segment"]]) if leg["segment"] >= 0 else 0.0
        if leg["pass"] and limit > 0:
            hour = int(leg["t0"] // 3600 % 24)
            passes[hour] += 1
            over[hour] += leg["top"] > limit + 5 / 3.6
    for hour, row in _rows(answers["speeding_share_by_hour"]).items():
        assert (row["passes"], row["speeding_passes"]) == (passes[hour], over[hour]), hour
    # the hour with the most bins lifted
    lifts = defaultdict(int)
    for leg in raw_legs:
        if leg["kind"] == "service":
            lifts[int(leg["t0"] // 3600 % 24)] += leg["lifts"]
    assert answers["collection_by_hour"]["number"]["value"] == max(lifts, key=lifts.get)
    # reversing per 1,000 passes by road class
    rev, n = defaultdict(int), defaultdict(int)
    for leg in raw_legs:
        if leg["pass"]:
            cls = str(net.road_class[leg["segment"]])
            rev[cls] += leg["reversing"]
            n[cls] += 1
    for cls, row in _rows(answers["reversing_by_road_class"]).items():
        assert row["per_1000_passes"] == pytest.approx(1000 * rev[cls] / n[cls], rel=1e-9)


def test_segment_rankings_match_loops_over_the_raw_legs(answers, raw_legs, sim_history):
    ids = sim_history.network.segment_ids
    lifts, passes, shifts = defaultdict(int), defaultdict(int), defaultdict(set)
    for leg in raw_legs:
        if leg["kind"] == "service":
            lifts[leg["segment"]] += leg["lifts"]
            passes[leg["segment"]] += 1
            shifts[leg["segment"]].add(leg["shift"])
    rows = answers["heavy_segments"]["table"]["rows"]
    # The k rule may withhold a segment; the top shown is the top among those with k shifts.
    eligible = [s for s in passes if len(shifts[s]) >= DEFAULT.k_shifts]
    best = max(eligible, key=lambda s: lifts[s] / passes[s])
    assert rows[0][-1] == pytest.approx(lifts[best] / passes[best], rel=1e-9)
    assert [r[-1] for r in rows] == sorted((r[-1] for r in rows), reverse=True)
    assert str(ids[best]) in {r[0] for r in rows if r[-1] == rows[0][-1]}


def test_visit_questions_match_loops_over_the_raw_visits(answers, sim_history):
    v = facility_visits(sim_history)
    types = sim_history.facilities.facility_types
    arrivals = defaultdict(int)
    for f, t0 in zip(v.facility, v.t0):
        if types[f] in ("transfer_station", "landfill"):
            arrivals[int(t0 // 3600 % 24)] += 1
    rows = _rows(answers["tip_arrivals_by_hour"])
    assert {h: r["visits"] for h, r in rows.items()} == {h: arrivals[h] for h in rows}
    hours = defaultdict(float)
    for f, d in zip(v.facility, v.duration_s):
        hours[str(types[f])] += d / 3600
    for kind, row in _rows(answers["stays_by_facility_type"]).items():
        assert row["hours"] == pytest.approx(hours[kind], rel=1e-9)


def test_fuel_per_lift_uses_the_factors_shown(answers, sim_history):
    answer = answers["fuel_per_100_lifts_by_route"]
    assert any("0.45 L/km" in a for a in answer["assumptions"])
    rows = answer["table"]["rows"]
    assert answer["number"]["value"] == pytest.approx(100 * sum(r[1] for r in rows) / sum(r[2] for r in rows))
