"""A route's segment coverage and efficiency are kept by the API process under the version of the data it was
computed from (migration 0038, decision 0043): a kept answer is served while nothing it is made
of changed, and never after — a new or re-run rollup, a crew's cause, a blocked-street report,
a crew row (whom k counts), a removed shift, a new plan, a renamed street, a changed k. Answers
are kept per caller role, behind the gate.

Seeded world (tests/api/conftest.py): r-north week 1, 6 shifts by 3 people (released; shifts
1, 3, 5 missed seg-c), week 2, 6 shifts of ana alone and week 3, 3 shifts (both withheld)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, time, timedelta, timezone

import asyncpg
import pytest
from support import run

from fleetpilot.api.efficiency.service import KEPT_AGGREGATES, SEGMENT_COVERAGE

pytestmark = pytest.mark.integration


def _range(api) -> dict[str, str]:
    return {"from": str(api.world.week1), "to": str(api.world.week1 + timedelta(weeks=3))}


def _coverage(api, role: str = "supervisor") -> dict:
    response = api.get("/api/v1/routes/r-north/coverage", role, params=_range(api))
    assert response.status_code == 200, response.text
    return response.json()


def _seg(body: dict, segment: str) -> dict:
    return next(s for s in body["segments"] if s["segment_id"] == segment)


def _week1_shift(api, n: int) -> str:
    day = api.world.week1 + timedelta(days=n)
    return api.sql("SELECT shift_id FROM shift_metrics WHERE route_id = 'r-north' AND day = $1", day)[0][0]


def _version(api) -> str:
    return api.sql("SELECT value FROM fleetpilot_meta WHERE key = 'aggregate_version'")[0][0]


def _without_triggers(api, statement: str, *args) -> None:
    """Write as a replica would (no user triggers fire): the data changes, its version does not."""

    async def go():
        conn = await asyncpg.connect(api.database_url)
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                await conn.execute(statement, *args)
        finally:
            await conn.close()

    run(go())


def test_a_kept_answer_is_served_while_its_data_version_stands(api):
    """The proof that answers are kept at all, and that the version is what decides: a change
    made without moving the version is not seen; the same change made as every writer makes
    it (triggers fire) is."""
    before = _coverage(api)
    assert _seg(before, "seg-a")["missed"] == 0
    missed_a = "UPDATE shift_metrics SET missed_segments = '{seg-a}' WHERE shift_id = $1"
    _without_triggers(api, missed_a, _week1_shift(api, 0))
    assert _coverage(api) == before
    api.sql(missed_a, _week1_shift(api, 2))
    after = _coverage(api)
    assert _seg(after, "seg-a")["missed"] == 2  # both shifts: the answer is computed again
    assert _seg(after, "seg-a")["coverage"] == pytest.approx(1 - 2 / 6)


def _rollup_again(api):
    """A re-run rollup of shift 0: its row deleted and written again, now missing seg-b."""
    shift = _week1_shift(api, 0)
    row = api.sql("SELECT * FROM shift_metrics WHERE shift_id = $1", shift)[0]
    api.sql("DELETE FROM shift_metrics WHERE shift_id = $1", shift)
    columns = [k for k in row.keys() if k != "missed_segments"]  # noqa: SIM118 (a Record iterates values)
    api.sql(
        f"INSERT INTO shift_metrics ({', '.join(columns)}, missed_segments) "
        f"VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))}, '{{seg-b}}')",
        *(row[k] for k in columns),
    )
    return lambda body: _seg(body, "seg-b")["missed"] == 1


def _crew_cause(api):
    api.sql(
        "INSERT INTO missed_causes (shift_id, segment_id, cause, client_key, made_at) "
        "VALUES ($1, 'seg-c', 'parked_cars', 'cause-key-kept', now())",
        _week1_shift(api, 3),
    )
    return lambda body: (_seg(body, "seg-c")["caused"], _seg(body, "seg-c")["causes"]) == (1, {"parked_cars": 1})


def _blocked_street_report(api):
    api.sql(
        "INSERT INTO hazards (place_key, segment_id, category, lon, lat) "
        "VALUES ('seg-c', 'seg-c', 'blocked_street', 13.405, 52.51)"
    )
    made_at = datetime.combine(api.world.week1 + timedelta(days=1), time(8), tzinfo=timezone.utc)
    api.sql(
        "INSERT INTO hazard_reports (hazard_id, person_id, client_key, shift_id, lon, lat, located_by, made_at)"
        " SELECT hazard_id, 'p-zz-ben', 'phone-key-kept', $1, 13.405, 52.51, 'map', $2 FROM hazards",
        _week1_shift(api, 1),
        made_at,
    )
    return lambda body: _seg(body, "seg-c")["causes"] == {"blocked_street": 1}


def _crew_of_week2(api):
    """Week 2 (ana alone) gets two more drivers: 3 people, so its cell is released."""
    week2 = [api.world.week1 + timedelta(weeks=1, days=i) for i in range(6)]
    shifts = [r[0] for r in api.sql("SELECT shift_id FROM shift_metrics WHERE day = ANY($1::date[])", week2)]
    api.sql(
        "UPDATE shift_crew SET person_id = CASE WHEN shift_id = $1 THEN 'p-zz-ben' ELSE 'p-zz-cai' END "
        "WHERE shift_id = ANY($2::text[])",
        shifts[0],
        shifts[:2],
    )
    return lambda body: _seg(body, "seg-a")["shifts"] == 12


def _shift_removed(api):
    api.sql("DELETE FROM shifts WHERE shift_id = $1", _week1_shift(api, 5))  # cascades to metrics and crew
    return lambda body: _seg(body, "seg-c")["shifts"] == 5 and _seg(body, "seg-c")["missed"] == 2


def _k_changed(api):
    api.sql("UPDATE privacy_settings SET k_min_people = 4")
    return lambda body: body["suppressed"] and body["segments"] == []


def _new_plan(api):
    api.sql("INSERT INTO route_versions (route_id, version, created_by) VALUES ('r-north', 2, 'test')")
    api.sql(
        "INSERT INTO route_segments (route_id, version, seq, segment_id, service, speed_limit_kmh, geometry) "
        "SELECT route_id, 2, seq, segment_id, service, speed_limit_kmh, geometry FROM route_segments "
        "WHERE route_id = 'r-north' AND version = 1 AND segment_id <> 'seg-b'"
    )
    api.sql("UPDATE routes SET current_version = 2 WHERE route_id = 'r-north'")
    return lambda body: body["version"] == 2 and [s["segment_id"] for s in body["segments"]] == ["seg-a", "seg-c"]


def _street_named(api):
    api.sql(
        "INSERT INTO street_segments (segment_id, name, road_class, speed_limit_kmh, geometry) "
        "VALUES ('seg-a', 'Kept Street', 'residential', 30, '{\"type\": \"LineString\", "
        '"coordinates": [[13.4, 52.5], [13.41, 52.5]]}\')'
    )
    return lambda body: _seg(body, "seg-a")["name"] == "Kept Street"


CHANGES: dict[str, Callable] = {
    "a re-run rollup": _rollup_again,
    "a crew's cause": _crew_cause,
    "a blocked-street report": _blocked_street_report,
    "a crew change that releases a week": _crew_of_week2,
    "a shift removed": _shift_removed,
    "k changed": _k_changed,
    "a new plan version": _new_plan,
    "a street renamed": _street_named,
}


@pytest.mark.parametrize("change", CHANGES, ids=list(CHANGES))
def test_no_kept_answer_outlives_a_change_of_what_it_is_made_of(api, change):
    before = _coverage(api)
    assert _coverage(api) == before  # kept
    shows = CHANGES[change](api)
    assert not shows(before)
    after = _coverage(api, "supervisor")
    assert shows(after), after
    assert shows(_coverage(api, "data_officer"))


def _efficiency(api, role: str = "supervisor") -> dict:
    response = api.get("/api/v1/routes/r-north/efficiency", role, params=_range(api))
    assert response.status_code == 200, response.text
    return response.json()


# The same changes as the efficiency answer shows them (it reads the same rows, no street names).
EFFICIENCY_SHOWS: dict[str, Callable] = {
    "a re-run rollup": lambda body: (
        {"segment_id": "seg-b", "shifts_missed": 1, "share": 1 / 6} in body["missed_segments"]
    ),
    "a crew's cause": lambda body: body["missed_segments"][0]["shifts_missed"] == 2,
    "a blocked-street report": lambda body: body["missed_segments"][0]["shifts_missed"] == 2,
    "a crew change that releases a week": lambda body: body["whole_range"]["shifts"] == 12,
    "a shift removed": lambda body: body["whole_range"]["shifts"] == 5,
    "k changed": lambda body: body["whole_range"]["suppressed"] and body["k_min_people"] == 4,
}


@pytest.mark.parametrize("change", EFFICIENCY_SHOWS, ids=list(EFFICIENCY_SHOWS))
def test_no_kept_efficiency_answer_outlives_a_change_of_what_it_is_made_of(api, change):
    before = _efficiency(api)
    _without_triggers(api, "UPDATE shift_metrics SET distance_m = distance_m + 1000 WHERE route_id = 'r-north'")
    assert _efficiency(api) == before  # kept: a change that moves no version is not seen
    CHANGES[change](api)
    shows = EFFICIENCY_SHOWS[change]
    assert not shows(before)
    after = _efficiency(api)
    assert shows(after), after
    assert (
        after["whole_range"]["suppressed"]
        or after["whole_range"]["distance_km_per_shift"] != (before["whole_range"]["distance_km_per_shift"])
    )  # and computed again from the data as it now is
    assert shows(_efficiency(api, "data_officer"))


def test_answers_are_kept_per_role_and_the_gate_decides_first(api):
    for role in ("supervisor", "data_officer"):
        _coverage(api, role)
        _efficiency(api, role)
    db = api.sql("SELECT current_database()")[0][0]
    kept = {request[:2] for (version, request) in KEPT_AGGREGATES._kept._answers if version[0] == db}
    assert kept == {(r, what) for r in ("supervisor", "data_officer") for what in ("coverage", "efficiency")}
    for path in ("coverage", "efficiency"):
        for role, status in (("driver", 403), ("admin", 403), (None, 401)):
            assert api.get(f"/api/v1/routes/r-north/{path}", role, params=_range(api)).status_code == status


# Per table the coverage reads: (what must be there first, a write that changes a row of it).
WRITES = {
    "shift_metrics": (None, "UPDATE shift_metrics SET coverage = coverage WHERE route_id = 'r-north'"),
    "shifts": (None, "UPDATE shifts SET ends_at = ends_at WHERE route_id = 'r-south'"),
    "shift_crew": (None, "DELETE FROM shift_crew WHERE person_id = 'p-zz-eve'"),
    "missed_causes": (
        None,
        "INSERT INTO missed_causes (shift_id, segment_id, cause, client_key, made_at) "
        "SELECT shift_id, 'seg-x', 'other', 'key-' || shift_id, now() FROM shifts WHERE route_id = 'r-south'",
    ),
    "hazards": (None, "INSERT INTO hazards (place_key, category, lon, lat) VALUES ('p', 'parked_cars', 13.4, 52.5)"),
    "hazard_reports": (
        "INSERT INTO hazards (place_key, category, lon, lat) VALUES ('p', 'parked_cars', 13.4, 52.5)",
        "INSERT INTO hazard_reports (hazard_id, person_id, client_key, lon, lat, located_by, made_at) "
        "SELECT hazard_id, 'p-ana', 'phone-key-' || hazard_id, 13.4, 52.5, 'map', now() FROM hazards",
    ),
    "routes": (None, "UPDATE routes SET name = 'North' WHERE route_id = 'r-north'"),
    "route_segments": (None, "DELETE FROM route_segments WHERE route_id = 'r-south' AND segment_id = 'seg-b'"),
}


def _relations(plan: dict) -> set[str]:
    found = {plan["Relation Name"]} if "Relation Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= _relations(child)
    return found


def test_every_table_the_coverage_reads_moves_a_version(api):
    """What the statement reads (its plan, the views expanded) is what the versions watch: a
    table the coverage comes to read without a trigger of migration 0038 fails here."""
    [[plan]] = api.sql(f"EXPLAIN (FORMAT JSON) {SEGMENT_COVERAGE}", "r-north", api.world.week1, api.world.week1, 5, 3)
    read = _relations(json.loads(plan)[0]["Plan"]) if isinstance(plan, str) else _relations(plan[0]["Plan"])
    watched = {
        r[0]
        for r in api.sql(
            "SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE '%\\_aggregate\\_version'"
        )
    }
    assert watched == set(WRITES)
    # street_segments: their names, in the city's version (migration 0008); the meta rows: the versions.
    assert read - {"street_segments", "fleetpilot_meta"} <= watched
    assert {"shift_metrics", "shift_crew", "missed_causes", "hazard_reports", "route_segments"} <= read


@pytest.mark.parametrize("table", list(WRITES))
def test_a_committed_write_moves_the_version_once_at_commit_and_a_rolled_back_one_not_at_all(api, table):
    setup, write = WRITES[table]
    if setup:
        api.sql(setup)
    start = _version(api)

    async def rolled_back():
        conn = await asyncpg.connect(api.database_url)
        try:
            tx = conn.transaction()
            await tx.start()
            assert (await conn.execute(write)).split()[-1] != "0"
            await tx.rollback()
        finally:
            await conn.close()

    run(rolled_back())
    assert _version(api) == start

    async def committed():
        conn = await asyncpg.connect(api.database_url)
        try:
            async with conn.transaction():
                await conn.execute(write.replace("'key-'", "'key2-'").replace("'phone-key-'", "'phone-key2-'"))
                await conn.execute("UPDATE fleetpilot_meta SET value = value WHERE key = 'nothing'")
                xid = await conn.fetchval("SELECT txid_current()::text")
                inside = await conn.fetchval("SELECT value FROM fleetpilot_meta WHERE key = 'aggregate_version'")
            return xid, inside
        finally:
            await conn.close()

    xid, inside = run(committed())
    assert inside == start  # written at the commit: the meta row is not locked while the writer works
    assert _version(api) == xid != start
