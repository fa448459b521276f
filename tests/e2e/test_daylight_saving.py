"""A night shift across the end of daylight saving (America/Chicago, night of 1 Nov 2026), end
to end: simulator schedule → database → rollup (local day and ISO week) → the driver's API
(local days) and the driver's export (local time beside UTC)."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime, timedelta, timezone

import asyncpg
from fastapi.testclient import TestClient
from support import run

from fleetpilot.api.app import create_app
from fleetpilot.api.auth.tokens import issue_access_token
from fleetpilot.api.users import create_user
from fleetpilot.rollup.job import run_rollup
from fleetpilot.simload import load_run
from fleetsim.offline import generate_fleet

CHICAGO = "America/Chicago"
UTC = timezone.utc


def test_a_night_shift_across_the_clock_change_is_filed_and_shown_in_local_time(settings, db_url):
    # 22:00 CDT (UTC-5) on Saturday 31 Oct; the clocks go back from 02:00 CDT to 01:00 CST on
    # Sunday 1 Nov. The second day starts at 22:00 CST (UTC-6): 25 hours later, not 24.
    fleet = generate_fleet(
        n_vehicles=1,
        days=2,
        seed=7,
        hours=6.0,
        start="2026-10-31T22:00:00-05:00",
        timezone=CHICAGO,
        stagger_minutes=0.0,
    )

    async def load():
        conn = await asyncpg.connect(db_url)
        try:
            await load_run(conn, fleet)
            await run_rollup(conn, tz=CHICAGO)
            shifts = await conn.fetch(
                "SELECT s.shift_id, s.starts_at, s.ends_at, m.day, date_trunc('week', m.day::timestamp)::date AS week"
                " FROM shifts s JOIN shift_metrics m USING (shift_id) ORDER BY s.starts_at"
            )
            exposure_days = {r["day"] for r in await conn.fetch("SELECT DISTINCT day FROM segment_exposure")}
            person = await conn.fetchval(
                "SELECT person_id FROM shift_crew WHERE shift_id = $1 ORDER BY person_id LIMIT 1", shifts[0]["shift_id"]
            )
            both = await conn.fetchval(
                "SELECT count(*) FROM shift_crew WHERE person_id = $1 AND shift_id = ANY($2::text[])",
                person,
                [s["shift_id"] for s in shifts],
            )
            user_id = await create_user(conn, "night-driver", "a-long-password-1", "driver", person)
            return shifts, exposure_days, user_id, both
        finally:
            await conn.close()

    shifts, exposure_days, user_id, both = run(load())
    first, second = shifts
    # The simulator's schedule: the same local wall-clock start on both local days.
    assert first["starts_at"] == datetime(2026, 11, 1, 3, 0, tzinfo=UTC)  # 22:00 CDT
    assert second["starts_at"] == datetime(2026, 11, 2, 4, 0, tzinfo=UTC)  # 22:00 CST
    assert second["starts_at"] - first["starts_at"] == timedelta(hours=25)
    assert first["shift_id"].endswith("-20261031") and second["shift_id"].endswith("-20261101")
    # The first shift runs through the repeated hour: 6 h of elapsed time, 22:00 CDT → 03:00 CST.
    assert first["ends_at"] - first["starts_at"] == timedelta(hours=6)
    # Rollup: local days (UTC would say 1 and 2 Nov) and the local ISO week (UTC: week of 2 Nov).
    assert [s["day"] for s in shifts] == [date(2026, 10, 31), date(2026, 11, 1)]
    assert [s["week"] for s in shifts] == [date(2026, 10, 26), date(2026, 10, 26)]
    assert exposure_days == {date(2026, 10, 31), date(2026, 11, 1)}

    app = create_app(settings.model_copy(update={"timezone": CHICAGO}), pool_size=2, warm_up=False)
    with TestClient(app) as client:
        token = issue_access_token(app.state.token_keys, user_id, "driver")[0]
        headers = {"Authorization": f"Bearer {token}"}
        # Saturday 31 Oct in Chicago holds the first shift, although it began on 1 Nov in UTC.
        page = client.get("/api/v1/me/shifts", params={"from": "2026-10-31", "to": "2026-11-01"}, headers=headers)
        assert page.status_code == 200, page.text
        listed = [s["shift_id"] for s in page.json()["shifts"]]
        assert listed == [first["shift_id"]]
        # Sunday 1 Nov (25 hours) holds the second one, if this person crewed both.
        sunday = client.get("/api/v1/me/shifts", params={"from": "2026-11-01", "to": "2026-11-02"}, headers=headers)
        assert [s["shift_id"] for s in sunday.json()["shifts"]] == ([second["shift_id"]] if both == 2 else [])
        # The pages learn the zone from config.json.
        assert client.get("/app-assets/config.json").json()["timezone"] == CHICAGO

        export = client.get("/api/v1/me/export", headers=headers)
        assert export.status_code == 200, export.text
    archive = zipfile.ZipFile(io.BytesIO(export.content))
    rows = [r for r in csv.DictReader(io.StringIO(archive.read("fixes.csv").decode())) if r["shift_id"] == listed[0]]
    assert rows, "the export holds the night shift's fixes"
    offsets = set()
    for r in rows:
        utc = datetime.fromisoformat(r["ts"])
        local = datetime.fromisoformat(r["ts_local"])
        assert local == utc  # the same instant …
        assert local.utcoffset() in (timedelta(hours=-5), timedelta(hours=-6))  # … on the city's clock
        offsets.add(local.utcoffset())
    # Fixes before 07:00Z are CDT, after it CST: the export shows both sides of the change.
    assert offsets == {timedelta(hours=-5), timedelta(hours=-6)}
    before = [r for r in rows if datetime.fromisoformat(r["ts"]) < datetime(2026, 11, 1, 7, tzinfo=UTC)]
    assert before and all(r["ts_local"].endswith("-05:00") for r in before)
    assert all(r["ts_local"].endswith("-06:00") for r in rows if r not in before)
    # Local wall-clock times repeat through 01:00–02:00 (the hour lived twice), UTC never does.
    walls = [r["ts_local"][11:16] for r in rows]
    assert "01:30" in walls and walls.count("01:30") >= 2
