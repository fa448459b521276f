"""Hazard reports from the cab: filed once per phone key, seen by the reporter with the city's
status, and on the city's list without the reporter, the k rule on counts."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from gis_city import seed_city
from support import run, with_conn

from fleetpilot.localtime import DEFAULT_TIMEZONE

NEAR_SEG_A = (13.405, 52.5001)  # ~11 m off seg-a, Main St (tests/gis_city.py)
pytestmark = pytest.mark.integration


@pytest.fixture
def city(api):
    run(with_conn(api.database_url, seed_city))
    return api


def _report(key: str, category: str = "dangerous_intersection", where=NEAR_SEG_A, **extra) -> dict:
    return {"client_key": key, "category": category, "lon": where[0], "lat": where[1], "located_by": "map", **extra}


def test_a_report_is_stored_once_per_phone_key_and_snapped_to_its_street(city):
    api = city
    shift = api.world.shifts["p-ana"][0]
    made = (datetime.now(timezone.utc) - timedelta(hours=3)).isoformat()
    body = _report("phone-key-0001", note="signal too short for a truck", shift_id=shift, made_at=made)
    first = api.post("/api/v1/me/hazards", "driver", json=body)
    assert first.status_code == 201, first.text
    again = api.post("/api/v1/me/hazards", "driver", json=body)  # the offline queue retrying
    assert again.status_code == 200 and again.json() == first.json()
    rows = api.sql("SELECT h.segment_id, r.note, r.shift_id FROM hazard_reports r JOIN hazards h USING (hazard_id)")
    assert [tuple(r) for r in rows] == [("seg-a", "signal too short for a truck", shift)]
    mine = api.get("/api/v1/me/hazards", "driver").json()["reports"]
    assert [(r["category"], r["status"], r["note"]) for r in mine] == [
        ("dangerous_intersection", "reported", "signal too short for a truck")
    ]
    assert api.get("/api/v1/me/hazards", "ben").json()["reports"] == []  # nobody else's


def test_a_report_refuses_someone_elses_shift_and_a_stale_time(city):
    api = city
    bens = api.world.shifts["p-zz-ben"][0]
    assert api.post("/api/v1/me/hazards", "driver", json=_report("phone-key-0002", shift_id=bens)).status_code == 404
    old = (datetime.now(timezone.utc) - timedelta(days=30)).isoformat()
    assert api.post("/api/v1/me/hazards", "driver", json=_report("phone-key-0003", made_at=old)).status_code == 422
    assert api.post("/api/v1/me/hazards", "driver", json=_report("x")).status_code == 422  # key too short
    assert api.sql("SELECT count(*) FROM hazard_reports")[0][0] == 0


def test_the_city_list_never_names_a_reporter_and_hides_counts_below_k(city):
    """Two people report the same corner (k_min_people = 3): the list shows the place, the
    category and parts of day only. With k lowered to 2 the counts appear. The answer never
    holds a person, a note, a shift or an exact time."""
    api = city
    noon_utc = datetime.now(ZoneInfo(DEFAULT_TIMEZONE)).replace(hour=12, minute=5, second=0, microsecond=0)
    if noon_utc > datetime.now(timezone.utc):
        noon_utc -= timedelta(days=1)
    for n, (who, note) in enumerate((("driver", "Ana's corner"), ("ben", "ben saw it too"), ("driver", None))):
        made = (noon_utc - timedelta(hours=8 * n)).isoformat()
        answer = api.post("/api/v1/me/hazards", who, json=_report(f"phone-key-01{n}x", note=note, made_at=made))
        assert answer.status_code == 201, answer.text
    api.post("/api/v1/me/hazards", "ben", json=_report("phone-key-020x", "road_damage", where=(13.5, 52.7)))
    listed = api.get("/api/v1/hazards", "supervisor")
    assert listed.status_code == 200
    body = listed.json()
    assert body["k_min_people"] == 3
    corner, off_street = body["hazards"]
    assert (corner["place"], corner["segment_id"], corner["category"], corner["status"]) == (
        "Main St",
        "seg-a",
        "dangerous_intersection",
        "reported",
    )
    assert (corner["lon"], corner["lat"]) == (pytest.approx(13.405), pytest.approx(52.50))  # the street's middle
    assert corner["reports"] is None and corner["reporters"] is None
    assert corner["parts_of_day"] == ["afternoon", "evening", "night"]  # 12:05, 04:05, 20:05 local
    assert off_street["place"] == "near 52.700, 13.500" and off_street["segment_id"] is None
    text = listed.text
    for secret in ("p-ana", "p-zz-ben", "ana", "ben", "corner", "saw it", "truck", "made_at", "shift", "note"):
        assert secret not in text, secret
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}", text)  # no day, no clock time
    api.sql("UPDATE privacy_settings SET k_min_people = 2")
    corner = api.get("/api/v1/hazards", "data_officer").json()["hazards"][0]
    assert (corner["reports"], corner["reporters"]) == (3, 2)
    assert json.dumps(corner).count("ana") == 0


def test_a_supervisor_moves_a_hazard_to_fixed_and_the_reporter_sees_what_and_when(city):
    api = city
    assert api.post("/api/v1/me/hazards", "driver", json=_report("phone-key-0300")).status_code == 201
    hazard = api.get("/api/v1/hazards", "supervisor").json()["hazards"][0]["hazard_id"]
    url = f"/api/v1/hazards/{hazard}"
    for status in ("acknowledged", "fix_planned"):
        assert api.client.patch(url, headers=api.headers("supervisor"), json={"status": status}).status_code == 204
        assert api.get("/api/v1/me/hazards", "driver").json()["reports"][0]["status"] == status
    half = api.client.patch(url, headers=api.headers("supervisor"), json={"status": "fixed"})
    assert half.status_code == 422  # fixed says what was done and when
    done = {"status": "fixed", "fix_what": "signal retimed", "fixed_on": "2026-11-30"}
    assert api.client.patch(url, headers=api.headers("supervisor"), json=done).status_code == 204
    mine = api.get("/api/v1/me/hazards", "driver").json()["reports"][0]
    assert (mine["status"], mine["fix_what"], mine["fixed_on"]) == ("fixed", "signal retimed", "2026-11-30")
    assert api.client.patch(url, headers=api.headers("data_officer"), json=done).status_code == 403
    assert api.client.patch("/api/v1/hazards/999", headers=api.headers("supervisor"), json=done).status_code == 404


def test_a_hazard_at_a_known_hotspot_is_one_row_with_both(city):
    """The crew's report and the statistics agree on a street: the list says so on one row."""
    api = city
    api.sql(
        "INSERT INTO known_hotspots (segment_id, kind, passes, events, rate_per_1000, expected, q, first_day,"
        " last_day, place_id, place) VALUES ('seg-a', 'harsh_brake', 400, 30, 75, 8, 0.001, '2026-11-01',"
        " '2026-11-28', 'p1', 'Main St at Elm St')"
    )
    api.post("/api/v1/me/hazards", "driver", json=_report("phone-key-0400"))
    (hazard,) = api.get("/api/v1/hazards", "supervisor").json()["hazards"]
    assert (hazard["segment_id"], hazard["hotspot"]) == ("seg-a", "Main St at Elm St")


def test_a_fixed_hazard_shows_its_before_and_after_from_released_weeks_only(city):
    """seg-a is passed in weeks 1-3 (tests/api/conftest.py); only week 1 is released (k = 5
    shifts, 3 drivers). Fixed in week 2: before is week 1, after is week 3, withheld, so
    nothing is said yet. With k lowered, week 3 counts and the fall shows, with its interval,
    on the supervisor's list and on every crew's list of fixed hazards alike."""
    api = city
    week1 = api.world.week1
    api.sql(
        # Days differ (as real days do): 6-14 hard brakes a day before, 0-1 after, 40 passes each.
        "UPDATE segment_exposure SET passes = 40, "
        "harsh_brake = CASE WHEN day < $1 THEN 6 + 4 * (extract(dow FROM day)::int % 3) ELSE extract(dow FROM day)::int % 2 END",
        week1 + timedelta(weeks=1),
    )
    assert api.post("/api/v1/me/hazards", "driver", json=_report("phone-key-0500")).status_code == 201
    hazard = api.get("/api/v1/hazards", "supervisor").json()["hazards"][0]
    assert hazard["effect"] is None  # not fixed: no before/after
    fixed_on = week1 + timedelta(weeks=1, days=2)
    done = {"status": "fixed", "fix_what": "signal retimed", "fixed_on": fixed_on.isoformat()}
    patched = api.client.patch(f"/api/v1/hazards/{hazard['hazard_id']}", headers=api.headers("supervisor"), json=done)
    assert patched.status_code == 204
    effect = api.get("/api/v1/hazards", "supervisor").json()["hazards"][0]["effect"]
    assert (effect["passes_before"], effect["events_before"], effect["passes_after"]) == (8 * 40, 84, 0)
    assert (effect["before_to"], effect["after_from"]) == (
        (week1 + timedelta(weeks=1)).isoformat(),
        (week1 + timedelta(weeks=2)).isoformat(),
    )
    assert not effect["enough"] and effect["change"] is None
    assert effect["sentence"] == "Not enough passes yet: 0 of 100 since the fix."

    api.sql("UPDATE privacy_settings SET k_min_shifts = 1, k_min_people = 1")
    effect = api.get("/api/v1/hazards", "data_officer").json()["hazards"][0]["effect"]
    assert (effect["passes_before"], effect["events_before"]) == (8 * 40, 84)  # week 2 is the fix's own week
    assert (effect["passes_after"], effect["events_after"]) == (3 * 40, 2)
    assert effect["enough"] and effect["change"] == pytest.approx((2.5 / 120) / (84.5 / 320) - 1)
    assert effect["lo"] <= effect["change"] <= effect["hi"] < 0
    assert effect["sentence"].startswith(
        f"Hard braking here fell 92 % since the city fixed what crews reported (signal retimed, {fixed_on}); "
    )
    crews = api.get("/api/v1/hazards/fixed", "ben").json()["hazards"]  # any crew, not only the reporter
    assert [(h["hazard_id"], h["place"], h["fix_what"], h["effect"]) for h in crews] == [
        (hazard["hazard_id"], "Main St", "signal retimed", effect)
    ]
    assert set(crews[0]) == {"hazard_id", "category", "place", "lon", "lat", "fix_what", "fixed_on", "effect"}
    assert api.get("/api/v1/hazards/fixed", "supervisor").status_code == 200
