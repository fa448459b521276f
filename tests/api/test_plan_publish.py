"""Publishing a plan to the crew (issue 21, item 4): a saved version applies from a local day
of the city, shifts that started keep the version they drove, and the crew's /me/plan shows
the plan of their route that applies today with what changed since the version they drove.
Then versions compared and the routes' workload balance (below)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from fleetpilot import localtime
from fleetpilot.settings import Settings

ROUTES = "/api/v1/routes"
TZ = Settings(_env_file=None).timezone


def north_plan(order: list[str], note: str, effective_from=None) -> dict:
    """r-north's plan with the world's segments in `order` (ids from tests/api/conftest ROUTE_GEOMETRY,
    plus seg-d, a street the world's plan does not have)."""
    lines = {
        "seg-a": [[13.400, 52.500], [13.410, 52.500]],
        "seg-b": [[13.410, 52.500], [13.410, 52.510]],
        "seg-c": [[13.410, 52.510], [13.400, 52.510]],
        "seg-d": [[13.400, 52.510], [13.400, 52.500]],
    }
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": lines[s]},
            "properties": {"route_id": "r-north", "feature_type": "segment", "seq": n, "segment_id": s},
        }
        for n, s in enumerate(order, 1)
    ]
    body = {"type": "FeatureCollection", "features": features, "note": note}
    if effective_from is not None:
        body["effective_from"] = effective_from.isoformat()
    return body


def _future_shift(api, shift_id: str, starts: datetime) -> None:
    api.sql(
        "INSERT INTO shifts VALUES ($1, 'truck-1', 'r-north', 1, $2, $3)", shift_id, starts, starts + timedelta(hours=8)
    )
    api.sql("INSERT INTO shift_crew (shift_id, person_id) VALUES ($1, 'p-ana')", shift_id)


def test_a_version_applies_from_its_day_and_started_shifts_keep_theirs(api):
    now = datetime.now(timezone.utc)
    today = localtime.today(TZ, now)
    tomorrow_6 = localtime.day_start(today + timedelta(days=1), TZ) + timedelta(hours=6)
    later_today = min(
        now + timedelta(minutes=30), localtime.day_start(today + timedelta(days=1), TZ) - timedelta(minutes=1)
    )
    _future_shift(api, "later-today", later_today)
    _future_shift(api, "tomorrow", tomorrow_6)
    saved = api.post(
        f"{ROUTES}/plans", "supervisor", json=north_plan(["seg-c", "seg-a"], "from tomorrow", today + timedelta(days=1))
    )
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"versions": {"r-north": 2}, "effective_from": (today + timedelta(days=1)).isoformat()}
    versions = {r["shift_id"]: r["route_version"] for r in api.sql("SELECT shift_id, route_version FROM shifts")}
    assert versions["tomorrow"] == 2
    assert versions["later-today"] == 1  # today the old plan still applies
    assert versions[api.world.live_shift] == 1  # started: keeps the version it drives
    route = api.get(f"{ROUTES}/r-north", "supervisor").json()
    assert (route["current_version"], route["applies_today"]) == (2, 1)
    assert [v["effective_from"] for v in route["history"]] == [None, (today + timedelta(days=1)).isoformat()]
    # Saved again from today: the shift later today is not driven yet and gets it; the live one keeps 1.
    api.post(f"{ROUTES}/plans", "supervisor", json=north_plan(["seg-c", "seg-b"], "from today", today))
    versions = {r["shift_id"]: r["route_version"] for r in api.sql("SELECT shift_id, route_version FROM shifts")}
    assert (versions["later-today"], versions["tomorrow"], versions[api.world.live_shift]) == (3, 3, 1)
    assert api.sql("SELECT count(*) AS n FROM shifts WHERE route_version <> 1 AND starts_at < now()")[0]["n"] == 0


def test_a_plan_cannot_apply_from_a_day_that_has_begun(api):
    yesterday = localtime.today(TZ) - timedelta(days=1)
    refused = api.post(f"{ROUTES}/plans", "supervisor", json=north_plan(["seg-a"], "too late", yesterday))
    assert refused.status_code == 422
    assert "before today" in refused.json()["detail"][0]["msg"]
    assert api.get(f"{ROUTES}/r-north", "supervisor").json()["versions"] == 1


def test_the_crew_sees_the_plan_that_applies_and_what_changed(api):
    before = api.get("/api/v1/me/plan", "ben").json()
    assert (before["version"], before["compared_with"]) == (1, None)
    assert [s["segment_id"] for s in before["streets"]] == ["seg-a", "seg-b", "seg-c"]
    assert {s["change"] for s in before["streets"]} == {"same"}

    today = localtime.today(TZ)
    api.post(
        f"{ROUTES}/plans", "supervisor", json=north_plan(["seg-d", "seg-c", "seg-a"], "school works on B street", today)
    )
    plan = api.get("/api/v1/me/plan", "ben").json()
    assert (plan["version"], plan["compared_with"], plan["reason"]) == (2, 1, "school works on B street")
    assert plan["effective_from"] == today.isoformat()
    assert [(s["segment_id"], s["change"], s["was_position"]) for s in plan["streets"]] == [
        ("seg-d", "added", None),
        ("seg-c", "moved", 3),
        ("seg-a", "same", 1),
    ]
    assert [(s["segment_id"], s["was_position"]) for s in plan["removed"]] == [("seg-b", 2)]
    changes = {f["properties"]["segment_id"]: f["properties"]["change"] for f in plan["map"]["features"]}
    assert changes == {"seg-d": "added", "seg-c": "moved", "seg-a": "same", "seg-b": "removed"}


def test_a_plan_saved_for_a_later_day_shows_as_coming(api):
    tomorrow = localtime.today(TZ) + timedelta(days=1)
    api.post(f"{ROUTES}/plans", "supervisor", json=north_plan(["seg-b", "seg-a"], "next week's order", tomorrow))
    plan = api.get("/api/v1/me/plan", "driver").json()
    assert (plan["version"], plan["next_version"], plan["next_from"]) == (1, 2, tomorrow.isoformat())


def test_only_a_crew_member_has_a_plan_page(api):
    assert api.get("/api/v1/me/plan", "supervisor").status_code == 403
    assert api.get("/api/v1/me/plan", None).status_code == 401


# --- versions compared (issue 21, item 5) and the routes' balance (issue 18, item 4) ----------
# Route-level figures from released cells only (decision 0004). The seeded world (k = 5 shifts,
# 3 drivers): r-north week 1 has 6 shifts by 3 people (released), weeks 2 and 3 are withheld;
# r-south is always withheld. Every shift is 8 h on duty and drove version 1.


def _days(api, weeks: int = 4) -> dict[str, str]:
    return {"from": api.world.week1.isoformat(), "to": (api.world.week1 + timedelta(weeks=weeks)).isoformat()}


def test_two_versions_side_by_side_with_how_their_shifts_worked_out(api):
    api.post(f"{ROUTES}/plans", "supervisor", json=north_plan(["seg-c", "seg-a", "seg-d"], "seg-d instead of seg-b"))
    answer = api.get(f"{ROUTES}/r-north/compare", "supervisor", params={"a": 1, "b": 2, **_days(api)})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [s["segment_id"] for s in body["added"]] == ["seg-d"]
    assert [s["segment_id"] for s in body["removed"]] == ["seg-b"]
    assert [(m["segment_id"], m["was"], m["now"]) for m in body["moved"]] == [("seg-c", 3, 1)]
    assert (body["a"]["plan"]["streets"], body["b"]["plan"]["streets"]) == (3, 3)
    assert body["b"]["note"] == "seg-d instead of seg-b"
    a, b = body["a"]["performance"], body["b"]["performance"]
    # Week 1 only (weeks 2 and 3 are withheld and counted), the same week efficiency releases.
    efficiency = api.get(f"{ROUTES}/r-north/efficiency", "supervisor", params=_days(api)).json()["whole_range"]
    assert (a["shifts"], a["weeks"], a["withheld_weeks"]) == (efficiency["shifts"], 1, 2) == (6, 1, 2)
    assert a["coverage_mean"] == pytest.approx(efficiency["coverage_mean"])
    assert (a["hours_per_shift"], a["overtime_h_per_shift"], a["overtime_share"]) == (8.0, 0.0, 0.0)
    assert b == {**dict.fromkeys(b), "suppressed": True, "withheld_weeks": 0}  # nobody drove it yet


def test_a_week_split_between_versions_counts_only_when_both_parts_reach_k(api):
    api.post(f"{ROUTES}/plans", "supervisor", json=north_plan(["seg-a", "seg-c"], "no seg-b"))
    # Two of week 1's six shifts drove version 2: 4 + 2 shifts, both parts under k = 5.
    api.sql(
        "UPDATE shifts SET route_version = 2 WHERE shift_id IN (SELECT shift_id FROM shift_metrics "
        "WHERE route_id = 'r-north' AND day >= $1 AND day < $2 ORDER BY day LIMIT 2)",
        api.world.week1,
        api.world.week1 + timedelta(weeks=1),
    )
    body = api.get(f"{ROUTES}/r-north/compare", "data_officer", params={"a": 1, "b": 2, **_days(api)}).json()
    assert (body["a"]["performance"]["suppressed"], body["a"]["performance"]["withheld_weeks"]) == (True, 3)
    assert (body["b"]["performance"]["suppressed"], body["b"]["performance"]["withheld_weeks"]) == (True, 1)
    # With k = 2 shifts both parts are released, and they add up to the route's week.
    api.sql("UPDATE privacy_settings SET k_min_shifts = 2, k_min_people = 1")
    body = api.get(f"{ROUTES}/r-north/compare", "data_officer", params={"a": 1, "b": 2, **_days(api, 1)}).json()
    assert (body["a"]["performance"]["shifts"], body["b"]["performance"]["shifts"]) == (4, 2)


def test_comparing_an_unknown_version_or_route_is_404_and_crews_are_refused(shared_api):
    days = _days(shared_api)
    assert shared_api.get(f"{ROUTES}/r-north/compare", "supervisor", params={"a": 1, "b": 9, **days}).status_code == 404
    assert shared_api.get(f"{ROUTES}/nope/compare", "supervisor", params={"a": 1, "b": 1, **days}).status_code == 404
    assert shared_api.get(f"{ROUTES}/r-north/compare", "driver", params={"a": 1, "b": 1, **days}).status_code == 403


def test_balance_shows_each_routes_load_from_released_weeks_only(shared_api):
    body = shared_api.get(f"{ROUTES}/workload", "supervisor", params=_days(shared_api)).json()
    routes = {r["route_id"]: r for r in body["routes"]}
    north, south = routes["r-north"]["performance"], routes["r-south"]["performance"]
    assert (north["shifts"], north["withheld_weeks"], north["hours_per_shift"]) == (6, 2, 8.0)
    assert north["queue_min_per_shift"] == pytest.approx(2400 / 60)  # facility_s of the seeded metrics
    assert south == {**dict.fromkeys(south), "suppressed": True, "withheld_weeks": 1}
    assert routes["r-north"]["plan"]["streets"] == 3 and routes["r-north"]["version"] == 1
    assert (body["hours_mean"], body["hours_spread"]) == (8.0, None)  # one route with released figures
    assert "person" not in str(body) and "p-" not in str(body)
    assert shared_api.get(f"{ROUTES}/workload", "driver", params=_days(shared_api)).status_code == 403
