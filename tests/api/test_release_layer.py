"""Issue 13, item 1 (part): k counts drivers; what-if ranges are whole weeks of released
cells; stored answers are withdrawn when k or their data change."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import run

from fleetpilot.api import policy
from fleetpilot.api.policy import Access, Capability
from fleetpilot.api.whatif.service import RELEASE_RULE, fingerprint


def _range(api) -> dict[str, str]:
    return {"from": api.world.week1.isoformat(), "to": (api.world.week1 + timedelta(weeks=3)).isoformat()}


def _week1_shifts(api) -> list[str]:
    week1 = api.world.week1
    return sorted(
        s
        for s, (start, _) in api.world.shift_window.items()
        if week1 <= start.date() < week1 + timedelta(7) and s.startswith(str(start.date())) and "truck-1" in s
    )


def test_one_driver_with_rotating_helpers_is_one_person(api):
    """Week 1 of r-north: 6 shifts, crews of three different people. Make them one driver
    (dan) with three rotating helpers: the week is one driver's figures and is withheld."""
    before = api.get("/api/v1/routes/r-north/efficiency", "supervisor", params=_range(api)).json()
    assert before["periods"][0]["suppressed"] is False
    shifts = _week1_shifts(api)
    assert len(shifts) == 6
    api.sql("UPDATE shift_crew SET crew_role = 'helper' WHERE shift_id = ANY($1::text[])", shifts)
    api.sql_many(
        "INSERT INTO shift_crew (shift_id, person_id, crew_role) VALUES ($1, 'p-zz-dan', 'driver')",
        [(s,) for s in shifts],
    )
    after = api.get("/api/v1/routes/r-north/efficiency", "supervisor", params=_range(api)).json()
    assert after["periods"][0]["suppressed"] is True
    assert after["whole_range"]["suppressed"] is True and after["whole_range"]["shifts"] in (0, None)
    cells = api.get("/api/v1/hotspots/cells", "supervisor", params={**_range(api), "min_passes": 1}).json()
    assert cells["units"] == []  # cell 1's only visible week was week 1
    released = run(_released(api, api.world.week1, api.world.week1 + timedelta(weeks=3)))
    assert not released & set(shifts)


async def _released(api, start: date, end: date, k=(5, 3), tz: str = "UTC") -> frozenset[str]:
    import asyncpg

    conn = await asyncpg.connect(api.database_url)
    try:
        return await policy.released_shifts(conn, policy.AggregateScope(start, end, *k), tz)
    finally:
        await conn.close()


def test_what_if_ranges_are_whole_weeks(shared_api):
    tuesday = shared_api.world.week1 + timedelta(days=1)
    access = Access(Capability.WHATIF, None, (5, 3))
    scope = run(policy.aggregate_scope(None, access, (tuesday, tuesday + timedelta(days=2))))
    assert (scope.start, scope.end) == (shared_api.world.week1, shared_api.world.week1 + timedelta(days=7))


def test_released_shifts_are_exactly_the_visible_route_weeks(shared_api):
    week1 = shared_api.world.week1
    released = run(_released(shared_api, week1, week1 + timedelta(weeks=3)))
    # r-north week 1 (6 shifts, 3 drivers) only; week 2 one driver, week 3 three shifts, r-south 2 shifts.
    assert released == set(_week1_shifts(shared_api))


def _store_answer(api, k: tuple[int, int], start: date, end: date, data: str) -> str:
    rid = uuid.uuid4().hex
    inputs = {
        "params": {},
        "from": start.isoformat(),
        "to": end.isoformat(),
        "tz": "UTC",
        "k_shifts": k[0],
        "k_people": k[1],
        "release": RELEASE_RULE,
    }
    api.sql(
        "INSERT INTO whatif_results (result_id, kind, name, inputs, data_fingerprint, answer, compute_s) "
        "VALUES ($1, 'question', 'tip_trips_per_shift', $2::text::jsonb, $3, '{\"number\": 1}'::jsonb, 0.1)",
        rid,
        json.dumps(inputs),
        data,
    )
    return rid


def _fingerprint(api, start, end, k=(5, 3)) -> str:
    """The data fingerprint an answer over [start, end) under k is stored with: of its released shifts."""
    import asyncpg

    released = run(_released(api, start, end, k))

    async def go():
        conn = await asyncpg.connect(api.database_url)
        try:
            return await fingerprint(conn, start, end, "UTC", released)
        finally:
            await conn.close()

    return run(go())


def test_a_stored_answer_made_under_a_lower_k_is_withdrawn(api):
    start, end = api.world.week1, api.world.week1 + timedelta(weeks=1)
    lowered = _store_answer(api, (2, 2), start, end, _fingerprint(api, start, end, (2, 2)))
    current = _store_answer(api, (5, 3), start, end, _fingerprint(api, start, end))
    gone = api.get(f"/api/v1/whatif/results/{lowered}", "data_officer")
    assert gone.status_code == 410 and "k" in gone.json()["detail"]
    assert api.get(f"/api/v1/whatif/results/{current}", "data_officer").status_code == 200
    # Back under (2, 2) the first is served again, the second withdrawn.
    api.sql("UPDATE privacy_settings SET k_min_shifts = 2, k_min_people = 2")
    assert api.get(f"/api/v1/whatif/results/{lowered}", "data_officer").status_code == 200
    assert api.get(f"/api/v1/whatif/results/{current}", "data_officer").status_code == 410


def test_a_stored_answer_is_withdrawn_when_its_data_change(api):
    start, end = api.world.week1, api.world.week1 + timedelta(weeks=1)
    rid = _store_answer(api, (5, 3), start, end, _fingerprint(api, start, end))
    assert api.get(f"/api/v1/whatif/results/{rid}", "data_officer").status_code == 200
    shift = _week1_shifts(api)[0]
    api.sql("UPDATE shift_crew SET crew_role = 'helper' WHERE shift_id = $1", shift)  # the crew changed
    assert api.get(f"/api/v1/whatif/results/{rid}", "data_officer").status_code == 410


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    first=st.integers(-10, 25),
    length=st.integers(1, 30),
    k_shifts=st.integers(2, 7),
    k_people=st.integers(1, 4),
)
def test_released_shifts_of_any_range_are_the_union_of_its_weeks(shared_api, first, length, k_shifts, k_people):
    """A what-if answer is computed from policy.released_shifts of its (whole-week) range: for
    any range and k, that set is the union of the released sets of the weeks in it, so no
    range, and no difference of two ranges, holds a shift of a withheld (unit, week) cell."""
    week1 = shared_api.world.week1
    access = Access(Capability.WHATIF, None, (k_shifts, k_people))
    days = (week1 + timedelta(days=first), week1 + timedelta(days=first + length))
    scope = run(policy.aggregate_scope(None, access, days))
    whole = run(_released(shared_api, scope.start, scope.end, (k_shifts, k_people)))
    weeks = set()
    monday = scope.start
    while monday < scope.end:
        weeks |= run(_released(shared_api, monday, monday + timedelta(days=7), (k_shifts, k_people)))
        monday += timedelta(days=7)
    assert whole == weeks
    for shift in whole:  # every released shift's cell reaches k on its own
        start = shared_api.world.shift_window[shift][0].date()
        cell = run(
            _released(
                shared_api,
                start - timedelta(days=start.weekday()),
                start - timedelta(days=start.weekday()) + timedelta(days=7),
                (k_shifts, k_people),
            )
        )
        assert shift in cell


def test_what_if_cells_are_weeks_of_the_city_not_of_utc(api):
    """A shift that starts on Sunday evening in the city (Monday in UTC) belongs to the city's
    week before, as in shift_metrics and the efficiency answers. Route r-east: that one
    shift alone in its city week (withheld), then 5 shifts by 3 drivers the next week
    (released). Under UTC weeks (the old rule) the lone shift joined the released week's
    cell and entered every what-if answer over it."""
    tz = "America/Chicago"
    monday = api.world.week1 + timedelta(weeks=1)
    lone = "lone-zz-sunday"
    sunday_evening = datetime.combine(monday - timedelta(days=1), time(20), ZoneInfo(tz))  # 02:00 UTC Monday
    rows = [(lone, sunday_evening, "p-zz-dan")]
    for i, person in enumerate(["p-ana", "p-zz-ben", "p-zz-cai", "p-ana", "p-zz-ben"]):
        rows.append((f"east-{i}", datetime.combine(monday + timedelta(days=i), time(7), ZoneInfo(tz)), person))
    api.sql("INSERT INTO routes (route_id, name, current_version) VALUES ('r-east', 'r-east', 1)")
    for shift_id, starts, person in rows:
        api.sql(
            "INSERT INTO shifts VALUES ($1, 'truck-2', 'r-east', 1, $2::timestamptz, $2::timestamptz + interval '8 hours')",
            shift_id,
            starts.astimezone(timezone.utc),
        )
        api.sql("INSERT INTO shift_crew (shift_id, person_id) VALUES ($1, $2)", shift_id, person)
    next_week = run(_released(api, monday, monday + timedelta(days=7), tz=tz))
    assert {f"east-{i}" for i in range(5)} <= next_week and lone not in next_week
    both = run(_released(api, monday - timedelta(days=7), monday + timedelta(days=7), tz=tz))
    assert lone not in both  # its own city week has one shift: withheld whatever the range


def test_a_withheld_cell_does_not_change_the_fingerprint_of_an_answer(api):
    """The stored answer's data fingerprint is of the shifts it may use: a change inside a
    withheld cell (week 2 of r-north, one driver) changes neither it nor the answer's id."""
    start, end = api.world.week1, api.world.week1 + timedelta(weeks=2)
    before = _fingerprint(api, start, end)
    week2 = [s for s in api.world.shifts["p-ana"] if api.world.shift_window[s][0].date() >= start + timedelta(7)]
    api.sql("UPDATE shifts SET ends_at = ends_at + interval '1 hour' WHERE shift_id = ANY($1::text[])", week2)
    assert _fingerprint(api, start, end) == before
    week1 = _week1_shifts(api)[0]
    api.sql("UPDATE shifts SET ends_at = ends_at + interval '1 hour' WHERE shift_id = $1", week1)
    assert _fingerprint(api, start, end) != before  # a released cell's change does
