"""A driver's own views: shifts, one shift with its track, trends, access log, export."""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from datetime import datetime, timedelta

import pytest

from fleetpilot.api.shifts.schemas import OpenedShift, ShiftDetail
from fleetpilot.api.shifts.service import MAX_TRACK_POINTS

ME = "/api/v1/me"


def _all_time(api) -> dict[str, str]:
    return {"from": (api.world.week1 - timedelta(days=7)).isoformat()}


def test_my_shifts_are_exactly_my_shifts(shared_api):
    body = shared_api.get(f"{ME}/shifts", "driver", params=_all_time(shared_api)).json()
    ids = [s["shift_id"] for s in body["shifts"]]
    assert set(ids) == shared_api.world.ana_shifts and body["total"] == len(ids)
    starts = [s["starts_at"] for s in body["shifts"]]
    assert starts == sorted(starts, reverse=True)
    assert all(s["distance_km"] > 0 and s["safety_events"] == 1 for s in body["shifts"])


def test_my_shifts_page_and_range(shared_api):
    page = shared_api.get(f"{ME}/shifts", "driver", params={**_all_time(shared_api), "limit": 2, "offset": 1}).json()
    assert len(page["shifts"]) == 2 and page["total"] == len(shared_api.world.ana_shifts)
    week1 = shared_api.world.week1
    first_week = shared_api.get(
        f"{ME}/shifts", "driver", params={"from": week1.isoformat(), "to": (week1 + timedelta(days=7)).isoformat()}
    )
    assert {s["shift_id"][:10] for s in first_week.json()["shifts"]} <= {
        (week1 + timedelta(days=d)).isoformat() for d in range(7)
    }
    assert (
        shared_api.get(f"{ME}/shifts", "driver", params={"from": "2026-02-01", "to": "2026-01-01"}).status_code == 422
    )


def test_one_of_my_shifts_has_metrics_events_in_context_and_delays(shared_api):
    shift_id = shared_api.world.track_shift
    body = shared_api.get(f"{ME}/shifts/{shift_id}", "driver").json()
    assert body["shift_id"] == shift_id and body["duration_s"] == 8 * 3600
    assert body["metrics"]["distance_km"] > 0 and body["metrics"]["details"] == {"fuel_l": 40}
    assert body["events"][0]["kind"] == "harsh_brake"
    assert body["events"][0]["context"] == {
        "segment_id": "seg-a",
        "speed_limit_kmh": 30,
        "hotspot": False,
        "hotspot_place": None,
    }
    assert {d["kind"] for d in body["delays"]} == {"facility_time", "facility_turnaround"}
    assert body["opened_for_purpose"] is None


def test_someone_elses_shift_is_not_found_for_a_driver(shared_api):
    for shift_id in sorted(shared_api.world.others_shifts)[:3] + ["no-such-shift"]:
        for suffix in ("", "/track"):
            response = shared_api.get(f"{ME}/shifts/{shift_id}{suffix}", "driver")
            assert response.status_code == 404, (shift_id, suffix)
            assert response.json() == {"detail": "no such shift"}


def test_my_track_is_the_thinned_route_driven_within_my_shift(shared_api):
    response = shared_api.get(f"{ME}/shifts/{shared_api.world.track_shift}/track", "driver")
    assert response.headers["content-type"] == "application/geo+json"
    features = response.json()["features"]
    driven = [f for f in features if f["properties"]["kind"] == "driven"][0]
    coordinates = driven["geometry"]["coordinates"]
    step = driven["properties"]["step_s"]
    assert step == math.ceil(8 * 3600 / MAX_TRACK_POINTS)
    assert len(coordinates) == driven["properties"]["points"] == math.ceil(600 / step)
    # Only the 52.50 line of this shift: ben's fixes on the same truck (52.60) are outside the window.
    assert {lat for _, lat in coordinates} == {52.5}
    planned = [f for f in features if f["properties"]["kind"] == "planned"]
    assert [p["properties"]["segment_id"] for p in planned] == ["seg-a", "seg-b", "seg-c"]
    assert [f["properties"]["event"] for f in features if f["properties"]["kind"] == "event"] == ["harsh_brake"]


def test_my_track_is_the_rollups_simplified_line_and_raw_positions_on_demand(api):
    shift_id = api.world.track_shift
    line = [[13.4, 52.5], [13.401, 52.5], [13.401, 52.501]]
    api.sql(
        "INSERT INTO shift_tracks (shift_id, tolerance_m, fixes, points, coordinates) VALUES ($1, 10, 600, 3, $2)",
        shift_id,
        json.dumps(line),
    )
    response = api.get(f"{ME}/shifts/{shift_id}/track", "driver")
    assert response.headers["content-type"] == "application/geo+json"
    features = response.json()["features"]
    driven = features[0]
    assert driven["geometry"] == {"type": "LineString", "coordinates": line}
    assert driven["properties"] == {
        "kind": "driven",
        "shift_id": shift_id,
        "points": 3,
        "simplified": True,
        "tolerance_m": 10.0,
        "fixes": 600,
        "raw_data_available": True,
    }
    # The rest of the map is the same as with the raw positions.
    raw = api.get(f"{ME}/shifts/{shift_id}/track", "driver", params={"detail": "raw"}).json()["features"]
    assert raw[1:] == features[1:]
    assert raw[0]["properties"]["simplified"] is False and raw[0]["properties"]["points"] == math.ceil(
        600 / raw[0]["properties"]["step_s"]
    )
    assert {lat for _, lat in raw[0]["geometry"]["coordinates"]} == {52.5}
    assert api.get(f"{ME}/shifts/{shift_id}/track", "driver", params={"detail": "all"}).status_code == 422


def test_a_shift_past_retention_has_an_empty_track(shared_api):
    shift_id = next(s for s in shared_api.world.ana_shifts if s != shared_api.world.track_shift)
    features = shared_api.get(f"{ME}/shifts/{shift_id}/track", "driver").json()["features"]
    driven = features[0]
    assert driven["geometry"] is None and driven["properties"]["raw_data_available"] is False


def test_the_list_and_trends_read_the_rollups_stored_safety_count(api):
    """A shift rolled up since migration 0030 has its safety moments counted once, by the
    rollup (shift_metrics.safety_events); older rollups (NULL) are counted per request."""
    shift_id = api.world.track_shift
    api.sql("UPDATE shift_metrics SET safety_events = 4 WHERE shift_id = $1", shift_id)
    shifts = api.get(f"{ME}/shifts", "driver", params=_all_time(api)).json()["shifts"]
    counts = {s["shift_id"]: s["safety_events"] for s in shifts}
    assert counts[shift_id] == 4 and set(counts.values()) == {1, 4}
    weeks = api.get(f"{ME}/trends", "driver", params={"weeks": 8}).json()["weeks"]
    assert sum(w["safety_events"] for w in weeks) == len(shifts) - 1 + 4


def test_trends_compare_me_with_my_own_past_only(shared_api):
    body = shared_api.get(f"{ME}/trends", "driver", params={"weeks": 8}).json()
    weeks = body["weeks"]
    assert sum(w["shifts"] for w in weeks) == len(shared_api.world.ana_shifts)
    assert [w["week"] for w in weeks] == sorted(w["week"] for w in weeks)
    first, second = weeks[0], weeks[1]
    # One harsh brake per shift of ~60 km: about 1.6 per 100 km, with an interval around it.
    assert first["safety_events"] == first["shifts"]
    assert first["per_100km"] == pytest.approx(100 * first["safety_events"] / first["distance_km"], abs=1e-3)
    assert first["low"] < first["per_100km"] < first["high"]
    assert first["baseline_per_100km"] is None and first["change"] == "not enough history"
    assert second["baseline_per_100km"] == pytest.approx(first["per_100km"], abs=1e-3)
    assert second["change"] == "no clear change"
    assert first["idle_share"] == pytest.approx(900 / (8 * 3600))
    assert first["break_minutes_per_shift"] == 30.0


def test_access_log_starts_empty(shared_api):
    assert shared_api.get(f"{ME}/access-log", "driver").json() == {"entries": [], "total": 0}


def test_export_holds_all_my_data_and_nobody_elses(api):
    mine = {"client_key": "phone-key-0500", "category": "road_damage", "lon": 13.405, "lat": 52.5, "located_by": "map"}
    assert api.post(f"{ME}/hazards", "driver", json={**mine, "note": "pothole by the bins"}).status_code == 201
    bens = {**mine, "client_key": "phone-key-0501", "note": "zz ben's own note"}
    assert api.post(f"{ME}/hazards", "ben", json=bens).status_code == 201
    # Causes of missed streets: ana's on her shift, ben's on his (r-north's odd shifts missed seg-c).
    odd = api.sql("SELECT shift_id FROM shift_metrics WHERE missed_segments = '{seg-c}' ORDER BY day")
    ana_shift = next(r[0] for r in odd if r[0] in api.world.ana_shifts)
    ben_shift = next(r[0] for r in odd if r[0] in api.world.shifts["p-zz-ben"])
    cause = {"client_key": "cause-key-0500", "segment_id": "seg-c", "cause": "parked_cars"}
    assert api.post(f"{ME}/shifts/{ana_shift}/causes", "driver", json=cause).status_code == 200
    assert api.post(f"{ME}/shifts/{ben_shift}/causes", "ben", json={**cause, "cause": "no_access"}).status_code == 200
    response = api.get(f"{ME}/export", "driver")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert set(archive.namelist()) == {
        "README.txt",
        "account.json",
        "shifts.json",
        "access_log.json",
        "hazard_reports.json",
        "missed_causes.json",
        "fixes.csv",
        "tracks.geojson",
    }
    shifts = json.loads(archive.read("shifts.json"))
    assert {s["shift_id"] for s in shifts} == api.world.ana_shifts
    fixes = list(csv.DictReader(io.StringIO(archive.read("fixes.csv").decode())))
    assert len(fixes) == 600 and {f["shift_id"] for f in fixes} == {api.world.track_shift}
    tracks = json.loads(archive.read("tracks.geojson"))
    lengths = {f["properties"]["shift_id"]: len(f["geometry"]["coordinates"]) for f in tracks["features"]}
    assert lengths[api.world.track_shift] == 600 and sum(lengths.values()) == 600
    reports = json.loads(archive.read("hazard_reports.json"))
    assert [(r["category"], r["note"]) for r in reports] == [("road_damage", "pothole by the bins")]
    causes = json.loads(archive.read("missed_causes.json"))
    assert [(c["shift_id"], c["segment_id"], c["cause"]) for c in causes] == [(ana_shift, "seg-c", "parked_cars")]
    for name in archive.namelist():
        assert b"zz" not in archive.read(name), f"{name} mentions another person's data"
    # The export itself is recorded, and the person sees it in their access log.
    log = api.get(f"{ME}/access-log", "driver").json()["entries"]
    assert [e["action"] for e in log] == ["export_own_data"]


def test_only_safety_moments_count_in_my_shift_list_and_trends(api):
    """Reversing is part of the job and must not count; harsh events and long stretches do."""
    shift_id = api.world.track_shift
    starts = api.world.shift_window[shift_id][0]
    api.sql_many(
        "INSERT INTO shift_events (shift_id, ts, kind, source, lon, lat, context) "
        "VALUES ($1, $2, $3, 'device', 13.4, 52.5, '{}')",
        [
            (shift_id, starts + timedelta(minutes=m), kind)
            for m, kind in (
                (1, "reversing"),
                (2, "reversing"),
                (3, "reversing"),
                (4, "harsh_accel"),
                (5, "long_stretch"),
            )
        ],
    )
    shifts = api.get(f"{ME}/shifts", "driver", params=_all_time(api)).json()["shifts"]
    counts = {s["shift_id"]: s["safety_events"] for s in shifts}
    assert counts[shift_id] == 3 and all(n == 1 for s, n in counts.items() if s != shift_id)
    weeks = api.get(f"{ME}/trends", "driver", params={"weeks": 8}).json()["weeks"]
    assert [w["safety_events"] - w["shifts"] for w in weeks] == [2] + [0] * (len(weeks) - 1)
    # The shift view still shows every event, reversing included.
    events = api.get(f"{ME}/shifts/{shift_id}", "driver").json()["events"]
    assert [e["kind"] for e in events].count("reversing") == 3 and len(events) == 6


def test_an_event_on_a_known_hotspot_of_its_kind_is_flagged(api):
    shift_id = api.world.track_shift
    starts = api.world.shift_window[shift_id][0]
    api.sql_many(
        "INSERT INTO shift_events (shift_id, ts, kind, source, lon, lat, context) "
        "VALUES ($1, $2, $3, 'derived', 13.4, 52.5, $4::jsonb)",
        [
            (shift_id, starts + timedelta(minutes=1), "speeding", '{"segment_id": "seg-a"}'),
            (shift_id, starts + timedelta(minutes=2), "harsh_brake", '{"segment_id": "seg-b", "street": "B St"}'),
            (shift_id, starts + timedelta(minutes=3), "harsh_brake", "{}"),
        ],
    )
    # seg-a is a known harsh-braking hotspot (not a speeding one); seg-b is not a hotspot.
    api.sql(
        "INSERT INTO known_hotspots (segment_id, kind, passes, events, rate_per_1000, expected, q, first_day, "
        "last_day, place_id, place) VALUES ('seg-a', 'harsh_brake', 1000, 40, 40, 10, 0.001, current_date - 90, "
        "current_date, 'segment:seg-a', 'A Street between B Street and C Street')"
    )
    events = api.get(f"{ME}/shifts/{shift_id}", "driver").json()["events"]
    flags = [
        (e["kind"], e["context"].get("segment_id"), e["context"]["hotspot"], e["context"]["hotspot_place"])
        for e in events
    ]
    assert flags == [
        ("speeding", "seg-a", False, None),
        ("harsh_brake", "seg-b", False, None),
        ("harsh_brake", None, False, None),
        ("harsh_brake", "seg-a", True, "A Street between B Street and C Street"),
    ]
    assert events[1]["context"]["street"] == "B St"


CREW_RECORD = {
    "breaks": [
        {"starts_at": "2026-11-20T09:46:00Z", "ends_at": "2026-11-20T10:23:58Z", "facility_id": "break-1"},
        {"starts_at": "2026-11-20T12:00:00Z", "ends_at": "2026-11-20T12:16:00Z", "facility_id": None},
    ],
    "facility_visits": [
        {
            "facility_id": "transfer-1",
            "facility_type": "transfer_station",
            "arrived_at": "2026-11-20T09:14:23Z",
            "departed_at": "2026-11-20T09:43:00Z",
            "queue_s": 1047.0,
        },
        {
            "facility_id": "landfill-1",
            "facility_type": "landfill",
            "arrived_at": "2026-11-20T12:42:16Z",
            "departed_at": "2026-11-20T13:08:29Z",
            "queue_s": 589.5,
        },
    ],
    "longest_without_break_s": 11284.0,
}


STOPS = [
    {"lon": 13.40512, "lat": 52.50001, "arrived_at": "2026-11-20T08:23:20+00:00", "dwell_s": 45.0},
    {"lon": 13.4061, "lat": 52.5, "arrived_at": "2026-11-20T08:25:00+00:00", "dwell_s": 12.5},
]


def test_my_shift_has_its_hours_breaks_queues_and_stops_as_the_rollup_stored_them(api):
    """The rollup's crew record (metrics jsonb) and stop list (stop_points, stored in the
    shape sent) come out as details and as stops with ISO times; the queue times also
    add up to a shift-level delay. The same document is what a purpose-bound opening shows."""
    shift_id = api.world.track_shift
    api.sql(
        "UPDATE shift_metrics SET metrics = metrics || $2::jsonb, stop_points = $3::jsonb WHERE shift_id = $1",
        shift_id,
        json.dumps(CREW_RECORD),
        json.dumps(STOPS),
    )
    body = api.get(f"{ME}/shifts/{shift_id}", "driver").json()
    ShiftDetail.model_validate(body)  # the documented schema holds for a real document
    details = body["metrics"]["details"]
    assert details["fuel_l"] == 40  # what was there stays
    assert details["breaks"] == CREW_RECORD["breaks"]
    assert details["facility_visits"] == CREW_RECORD["facility_visits"]
    assert details["longest_without_break_s"] == 11284.0
    assert [(s["lon"], s["lat"], s["dwell_s"]) for s in body["stops"]] == [
        (13.40512, 52.50001, 45.0),
        (13.4061, 52.5, 12.5),
    ]
    arrived = [datetime.fromisoformat(s["arrived_at"]) for s in body["stops"]]
    assert [a.timestamp() for a in arrived] == [1795163000, 1795163100] and arrived[0].utcoffset() == timedelta(0)
    queue = next(d for d in body["delays"] if d["kind"] == "facility_queue")
    assert queue["seconds"] == 1047.0 + 589.5
    # A shift the rollup has not stored stops for has none, and no queue delay.
    other = api.get(f"{ME}/shifts/{sorted(api.world.ana_shifts - {shift_id})[0]}", "driver").json()
    assert other["stops"] == [] and "facility_queue" not in {d["kind"] for d in other["delays"]}
    opened = api.post(
        f"/api/v1/shifts/{shift_id}/open",
        "supervisor",
        json={"purpose": "incident 2026-0042: resident reported a damaged bin"},
    )
    assert opened.status_code == 200, opened.text
    OpenedShift.model_validate(opened.json())
    shift = opened.json()["shift"]
    assert shift["stops"] == body["stops"] and shift["metrics"]["details"] == details
    assert shift["opened_for_purpose"].startswith("incident 2026-0042")


def test_planned_segments_carry_each_shifts_flags_and_a_plan_saved_again_is_read_afresh(api):
    """The track's planned features are built once per plan version and server process
    (service.PlannedFeatures): each shift still gets its own missed and no-data flags, and a
    version deleted and saved again with other streets is not answered from before."""
    from tests.api.conftest import ROUTE_GEOMETRY

    first, second = sorted(api.world.ana_shifts)[:2]
    api.sql(
        "UPDATE shift_metrics SET missed_segments = '{seg-b}', no_data_segments = '{seg-c}' WHERE shift_id = $1", first
    )
    api.sql("UPDATE shift_metrics SET missed_segments = '{}', no_data_segments = '{}' WHERE shift_id = $1", second)

    def planned(shift_id: str) -> list[tuple]:
        features = api.get(f"{ME}/shifts/{shift_id}/track", "driver").json()["features"]
        return [
            (p["segment_id"], p["seq"], p["service"], p["missed"], p["no_data"], f["geometry"]["coordinates"])
            for f in features
            if (p := f["properties"])["kind"] == "planned"
        ]

    line = {seg: json.loads(json.dumps(coords)) for seg, coords in ROUTE_GEOMETRY.items()}
    flags_first = {"seg-a": (False, False), "seg-b": (True, False), "seg-c": (False, True)}
    for _ in range(2):  # the second round is answered from the kept features
        assert planned(first) == [(s, i, True, *flags_first[s], line[s]) for i, s in enumerate(line, 1)]
        assert planned(second) == [(s, i, True, False, False, line[s]) for i, s in enumerate(line, 1)]
    api.sql("DELETE FROM route_versions WHERE route_id = 'r-north' AND version = 1")
    assert planned(first) == []  # no plan version: no planned segments, as before
    api.sql("INSERT INTO route_versions (route_id, version, created_by) VALUES ('r-north', 1, 'again')")
    api.sql(
        "INSERT INTO route_segments (route_id, version, seq, segment_id, service, geometry) "
        "VALUES ('r-north', 1, 1, 'seg-c', false, $1::jsonb)",
        json.dumps({"type": "LineString", "coordinates": line["seg-c"]}),
    )
    assert planned(first) == [("seg-c", 1, False, False, True, line["seg-c"])]


def test_kept_trends_answers_follow_a_changed_shift_and_stay_each_persons(api):
    """The server keeps trends answers per person (me.trends.TrendAnswers), keyed by the rows
    the answer is computed from: a shift the rollup changes shows at once, and another
    crew member asking the same is answered from their own shifts."""
    before = api.get(f"{ME}/trends", "driver", params={"weeks": 8}).json()
    assert api.get(f"{ME}/trends", "driver", params={"weeks": 8}).json() == before
    shift_id = api.world.track_shift
    api.sql("UPDATE shift_metrics SET safety_events = 7 WHERE shift_id = $1", shift_id)
    after = api.get(f"{ME}/trends", "driver", params={"weeks": 8}).json()
    assert sum(w["safety_events"] for w in after["weeks"]) == sum(w["safety_events"] for w in before["weeks"]) + 6
    ben = api.get(f"{ME}/trends", "ben", params={"weeks": 8}).json()
    assert sum(w["shifts"] for w in ben["weeks"]) == len(api.world.shifts["p-zz-ben"]) != len(api.world.ana_shifts)


def test_a_kept_plan_answer_follows_a_street_named_since(api):
    """The server keeps plan answers per person (me.plan.PlanAnswers), keyed by what they are
    made of: a street the city names (a write to street_segments) shows at once."""
    before = api.get(f"{ME}/plan", "driver").json()
    assert api.get(f"{ME}/plan", "driver").json() == before
    segment = before["streets"][0]["segment_id"]
    assert before["streets"][0]["name"] is None  # the seeded world has no street names
    api.sql(
        "INSERT INTO street_segments (segment_id, name, road_class, speed_limit_kmh, geometry) "
        "VALUES ($1, 'Ana Lane', 'residential', 30, $2)",
        segment,
        '{"type": "LineString", "coordinates": [[13.4, 52.5], [13.401, 52.5]]}',
    )
    after = api.get(f"{ME}/plan", "driver").json()
    assert after["streets"][0]["name"] == "Ana Lane"
    assert after["map"]["features"][0]["properties"]["name"] == "Ana Lane"
