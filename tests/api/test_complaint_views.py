"""The stored 311 evidence as people read it: the supervisor's queue is cut at the city's
midnights, the 311 team's CSV holds what the queue shows, and the tally per route and week
passes the release rule (decision 0004) — a week of a route with fewer than k shifts or k
drivers shows no count, whatever range is asked for."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from fleetpilot.localtime import day_start

pytestmark = pytest.mark.integration
INSERT = """
INSERT INTO complaints (service_request_id, status, requested_at, address, verdict, segment_id, route_id,
    vehicle_id, collection_day, passed_at, stopped_s, before_complaint)
VALUES ($1, 'open', $2, $3, $4, 'seg-a', 'r-north', 'truck-1', $5, $6, $7, $8)
"""


def _seed(api):
    """Complaints on r-north: three in week 1 (3 drivers: released), two in week 2 (one driver: withheld)."""
    days = {r["day"] for r in api.sql("SELECT day FROM shift_metrics WHERE route_id = 'r-north'")}
    week1 = api.world.week1
    rows = []
    for n, (offset, verdict) in enumerate(
        [(1, "serviced"), (2, "serviced"), (3, "missed"), (8, "serviced"), (9, "missed")]
    ):
        day = week1 + timedelta(days=offset)
        assert day in days
        made = datetime.combine(day, time(20), tzinfo=timezone.utc)
        passed = datetime.combine(day, time(13, 42), tzinfo=timezone.utc) if verdict == "serviced" else None
        rows.append(
            (f"r{n}", made, f"{n} Main Street", verdict, day, passed, 35.0 if passed else None, passed and True)
        )
    api.sql_many(INSERT, rows)
    return week1


def test_the_tally_shows_only_released_route_weeks(api):
    week1 = _seed(api)
    for span in (2, 3, 4):  # several ranges: the withheld week never gains a count
        answer = api.get(
            "/api/v1/complaints/tally",
            "supervisor",
            params={"from": week1.isoformat(), "to": (week1 + timedelta(weeks=span)).isoformat()},
        ).json()
        assert "cells" in answer, answer
        cells = {c["week_start"]: c for c in answer["cells"]}
        assert cells[week1.isoformat()] == {
            "route_id": "r-north", "week_start": week1.isoformat(), "released": True,
            "complaints": 3, "serviced": 2, "missed": 1, "missed_with_cause": 0,
        }  # fmt: skip
        week2 = cells[(week1 + timedelta(weeks=1)).isoformat()]
        assert week2["released"] is False and (week2["complaints"], week2["serviced"], week2["missed"]) == (None,) * 3
        assert week2["missed_with_cause"] is None
    # A street missed for a cause (the crew's, or a blocked-street report) is not counted as missed.
    api.sql("UPDATE complaints SET cause = 'parked_cars' WHERE service_request_id = 'r2'")
    answer = api.get(
        "/api/v1/complaints/tally",
        "supervisor",
        params={"from": week1.isoformat(), "to": (week1 + timedelta(weeks=2)).isoformat()},
    ).json()
    assert (answer["cells"][0]["missed"], answer["cells"][0]["missed_with_cause"]) == (0, 1)
    api.sql("UPDATE complaints SET cause = NULL")
    # With k lowered to one driver, week 2 is released: the rule is what withholds it.
    api.sql("UPDATE privacy_settings SET k_min_people = 1")
    answer = api.get(
        "/api/v1/complaints/tally",
        "data_officer",
        params={"from": week1.isoformat(), "to": (week1 + timedelta(weeks=2)).isoformat()},
    ).json()
    assert [c["complaints"] for c in answer["cells"]] == [3, 2]


def test_the_queue_and_its_csv_follow_the_citys_days(api):
    week1 = _seed(api)
    tz = api.client.app.state.settings.timezone
    day = week1 + timedelta(days=2)
    # r1 is at 20:00 UTC of day 1: in Chicago that is still day 1; one second before day 2's
    # local midnight it is day 1, one second after it is day 2.
    api.sql(
        "UPDATE complaints SET requested_at = $1 WHERE service_request_id = 'r0'",
        day_start(day, tz) - timedelta(seconds=1),
    )
    api.sql(
        "UPDATE complaints SET requested_at = $1 WHERE service_request_id = 'r1'",
        day_start(day, tz) + timedelta(seconds=1),
    )
    only_day2 = {"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()}
    queue = api.get("/api/v1/complaints", "supervisor", params=only_day2).json()
    assert [c["service_request_id"] for c in queue] == ["r1"]
    reply = queue[0]["suggested_reply"]
    local = datetime.combine(day, time(13, 42), tzinfo=timezone.utc).astimezone(ZoneInfo(tz))
    assert f"at {local:%H:%M}" in reply and "the truck stopped 35 s" in reply, reply
    answer = api.get("/api/v1/complaints.csv", "supervisor", params=only_day2)
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["service_request_id"], r["verdict"], r["suggested_reply"]) for r in rows] == [("r1", "serviced", reply)]
    assert rows[0]["evidence_version"] == queue[0]["evidence_version"]
    assert "p-" not in answer.text and "ana" not in answer.text
    assert api.get("/api/v1/complaints.csv", "data_officer", params=only_day2).status_code == 403
