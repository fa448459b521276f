"""Missed streets get their cause (issue 18, item 3): a crew gives the cause of a segment their
shift missed, once per phone key, audited; a blocked-street hazard report covering the segment
on that shift is taken as its cause; a missed segment with a cause leaves the crews' shortfall
on the coverage page, the efficiency figures, the goals and the 311 evidence — and the
supervisor never learns who gave it.

Seeded world (tests/api/conftest.py): r-north's odd shifts (n = 1, 3, 5 in the released week 1)
missed seg-c; shift n = 3 is ana's, n = 1 ben's."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, time, timedelta, timezone

import pytest
from gis_city import seed_city
from support import record_evidence, run, with_conn

from fleetpilot.open311.records import Complaint

pytestmark = pytest.mark.integration
SEG_C = (13.405, 52.5101)  # ~11 m from seg-c's middle


def _answer(api, day):
    """The record's evidence for a complaint about seg-c made at 15:00 UTC on day."""
    at = datetime.combine(day, time(15), tzinfo=timezone.utc)
    return record_evidence(
        api.database_url, Complaint("c-1", "SAN-MISSED", "open", "cart not emptied", at, at, *SEG_C, None)
    )


def _range(api, weeks=3) -> dict[str, str]:
    return {"from": str(api.world.week1), "to": str(api.world.week1 + timedelta(weeks=weeks))}


def _shift(api, n: int) -> str:
    """The seeded shift number n of r-north's week 1 (day n of the week)."""
    day = api.world.week1 + timedelta(days=n)
    return api.sql("SELECT shift_id FROM shift_metrics WHERE route_id = 'r-north' AND day = $1", day)[0][0]


def _give(api, shift_id, key, cause="parked_cars", segment="seg-c", role="driver", **extra):
    body = {"client_key": key, "segment_id": segment, "cause": cause, **extra}
    return api.post(f"/api/v1/me/shifts/{shift_id}/causes", role, json=body)


def _seg_c(api) -> dict:
    body = api.get("/api/v1/routes/r-north/coverage", "supervisor", params=_range(api)).json()
    return next(s for s in body["segments"] if s["segment_id"] == "seg-c")


def _blocked_street_report(api, shift_id: str, person: str, made_at: datetime) -> None:
    """A blocked-street hazard on seg-c, reported on shift_id (stored as api/hazards does)."""
    api.sql(
        "INSERT INTO hazards (place_key, segment_id, category, lon, lat) VALUES ('seg-c', 'seg-c', 'blocked_street',"
        " 13.405, 52.51) ON CONFLICT DO NOTHING"
    )
    api.sql(
        "INSERT INTO hazard_reports (hazard_id, person_id, client_key, shift_id, lon, lat, located_by, made_at)"
        " SELECT hazard_id, $1, 'phone-key-' || $1, $2, 13.405, 52.51, 'map', $3 FROM hazards WHERE place_key = 'seg-c'",
        person,
        shift_id,
        made_at,
    )


def test_a_crew_gives_the_cause_once_per_phone_key_and_it_is_audited(api):
    ana = _shift(api, 3)
    first = _give(api, ana, "cause-key-0001")
    assert first.status_code == 200, first.text
    [given] = first.json()["missed"]
    assert (given["segment_id"], given["cause"], given["source"]) == ("seg-c", "parked_cars", "crew")
    assert datetime.fromisoformat(given["made_at"]) > datetime.now(timezone.utc) - timedelta(minutes=1)
    again = _give(api, ana, "cause-key-0001")  # the offline queue sending it again
    assert again.status_code == 200 and again.json() == first.json()
    audit = api.sql("SELECT actor_role, action, shift_id, detail FROM audit_log WHERE action = 'give_missed_cause'")
    assert [(r[0], r[1], r[2], json.loads(r[3])["cause"]) for r in audit] == [
        ("driver", "give_missed_cause", ana, "parked_cars")
    ]
    # Changed later on the phone: the new cause replaces it; a cause chosen earlier than the
    # stored one (a queue sent late) does not.
    assert _give(api, ana, "cause-key-0002", "no_access").json()["missed"][0]["cause"] == "no_access"
    earlier = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat()
    stale = _give(api, ana, "cause-key-0003", "bins_not_out", made_at=earlier)
    assert stale.status_code == 200 and stale.json()["missed"][0]["cause"] == "no_access"
    assert api.sql("SELECT count(*) FROM audit_log WHERE action = 'give_missed_cause'")[0][0] == 2
    assert api.get(f"/api/v1/me/shifts/{ana}/causes", "driver").json()["missed"][0]["cause"] == "no_access"


def test_a_cause_is_refused_for_a_shift_not_mine_or_a_segment_not_missed(api):
    ana, bens = _shift(api, 3), _shift(api, 1)
    assert _give(api, bens, "cause-key-0010").status_code == 404  # ben's shift
    assert api.get(f"/api/v1/me/shifts/{bens}/causes", "driver").status_code == 404
    assert _give(api, ana, "cause-key-0011", segment="seg-a").status_code == 422  # driven, not missed
    assert _give(api, ana, "cause-key-0012", cause="blocked_street").status_code == 422  # only from a report
    assert _give(api, ana, "short").status_code == 422
    old = (datetime.now(timezone.utc) - timedelta(days=30)).isoformat()
    assert _give(api, ana, "cause-key-0013", made_at=old).status_code == 422
    assert api.sql("SELECT count(*) FROM missed_causes")[0][0] == 0
    assert api.sql("SELECT count(*) FROM audit_log WHERE action = 'give_missed_cause'")[0][0] == 0


def test_caused_misses_leave_the_shortfall_of_coverage_efficiency_and_goals(api):
    """Week 1: seg-c missed by shifts 1, 3, 5. Ana gives shift 3's cause; ben's blocked-street
    report on shift 1 is its cause. seg-c: 1 missed, 2 for a cause, coverage 1 − 1/4."""
    before = _seg_c(api)
    assert (before["missed"], before["caused"], before["coverage"]) == (3, 0, 0.5)
    assert _give(api, _shift(api, 3), "cause-key-0020").status_code == 200
    starts = datetime.combine(api.world.week1 + timedelta(days=1), time(8), tzinfo=timezone.utc)
    _blocked_street_report(api, _shift(api, 1), "p-zz-ben", starts)
    seg_c = _seg_c(api)
    assert (seg_c["shifts"], seg_c["missed"], seg_c["caused"], seg_c["no_data"]) == (6, 1, 2, 0)
    assert seg_c["causes"] == {"parked_cars": 1, "blocked_street": 1}
    assert seg_c["coverage"] == pytest.approx(0.75)
    # Ben sees the hazard report's cause on his shift's view.
    bens = api.get(f"/api/v1/me/shifts/{_shift(api, 1)}/causes", "ben").json()["missed"]
    assert [(m["cause"], m["source"]) for m in bens] == [("blocked_street", "hazard_report")]

    # Efficiency: shifts 1 and 3 now covered every known segment without a cause (3 planned,
    # 1 missed for a cause: 2 / 2); the most missed list counts shift 5 only.
    eff = api.get("/api/v1/routes/r-north/efficiency", "supervisor", params=_range(api)).json()
    assert eff["whole_range"]["coverage_mean"] == pytest.approx((0.8 * 3 + 0.9 + 1.0 + 1.0) / 6)
    assert eff["missed_segments"] == [{"segment_id": "seg-c", "shifts_missed": 1, "share": 1 / 6}]


def test_goals_leave_out_no_data_and_caused_segments(api):
    """missed_per_1000 is missed over known planned visits: a no-data segment and a segment
    missed for a cause are neither (before this, a no-data segment counted as planned)."""
    week = api.world.week1
    goal = {
        "kpi": "missed_per_1000",
        "title": "Fewer missed streets",
        "definition": "Planned streets not collected, per 1,000.",
        "baseline_from": str(week),
        "baseline_to": str(week + timedelta(weeks=1)),
        "target": 10.0,
        "direction": "at_most",
        "department": "Sanitation",
    }
    assert api.client.put("/api/v1/goals/missed", json=goal, headers=api.headers("data_officer")).status_code == 200

    def value():
        card = api.get("/api/v1/goals/scorecard", "supervisor", params=_range(api, 4)).json()
        return card["goals"][0]["weeks"][0]["value"]

    assert value() == pytest.approx(1000 * 3 / 18)  # r-north week 1: 6 shifts x 3 planned, 3 missed
    # Shift 0 had no data on seg-a and seg-b: 2 fewer known visits, no fewer misses.
    api.sql(
        "UPDATE shift_metrics SET no_data_segments = '{seg-a,seg-b}' WHERE shift_id = $1",
        _shift(api, 0),
    )
    assert value() == pytest.approx(1000 * 3 / 16)
    assert _give(api, _shift(api, 3), "cause-key-0030").status_code == 200
    assert value() == pytest.approx(1000 * 2 / 15)


def test_the_311_evidence_says_the_cause_and_the_tally_keeps_it_apart(api):
    run(with_conn(api.database_url, seed_city))
    day3 = api.world.week1 + timedelta(days=3)
    plain = _answer(api, day3)
    assert (plain.verdict, plain.cause) == ("missed", None)
    assert _give(api, _shift(api, 3), "cause-key-0040", "blocked_by_works").status_code == 200
    found = _answer(api, day3)
    assert (found.verdict, found.segment_id, found.cause) == ("missed", "seg-c", "blocked_by_works")
    assert "blocked by works" in found.reply(str) and "blocked by works" in found.reply(str, public=True)
    assert found.version() != plain.version()  # a changed answer is posted to 311 again
    assert dataclasses.replace(found, cause=None).version() == plain.version()  # others keep theirs
    text = json.dumps(dataclasses.asdict(found), default=str)
    assert "p-" not in text and "ana" not in text and "shift_id" not in text and "cause-key" not in text


def test_a_supervisor_never_learns_who_gave_a_cause(api):
    """Decision 0019: what leaves for a supervisor is the route, the street and the cause over
    released weeks — no person, no shift, no phone key, no time it was given."""
    ana = _shift(api, 3)
    assert _give(api, ana, "cause-key-0050", "bins_not_out").status_code == 200
    starts = datetime.combine(api.world.week1 + timedelta(days=1), time(8), tzinfo=timezone.utc)
    _blocked_street_report(api, _shift(api, 1), "p-zz-ben", starts)
    for role in ("supervisor", "data_officer"):
        for path in ("/api/v1/routes/r-north/coverage", "/api/v1/routes/r-north/efficiency"):
            answer = api.get(path, role, params=_range(api))
            assert answer.status_code == 200
            text = answer.text
            for secret in ("p-ana", "p-zz", "ana", "ben", "cause-key", ana, "crew", "hazard_report", "made_at"):
                assert secret not in text, (path, secret)
        # The shifts of the crew are not theirs to ask about.
        assert api.get(f"/api/v1/me/shifts/{ana}/causes", role).status_code == 403
    # A withheld week's causes never show: week 2 is ana's alone.
    week2 = api.world.shifts["p-ana"][3]
    api.sql("UPDATE shift_metrics SET missed_segments = '{seg-b}' WHERE shift_id = $1", week2)
    assert _give(api, week2, "cause-key-0051", "other", segment="seg-b").status_code == 200
    week2_only = {"from": str(api.world.week1 + timedelta(weeks=1)), "to": str(api.world.week1 + timedelta(weeks=2))}
    body = api.get("/api/v1/routes/r-north/coverage", "supervisor", params=week2_only).json()
    assert body["suppressed"] and body["segments"] == []
