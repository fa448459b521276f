"""Late data recomputes everything derived from the shift, its what-if legs included."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import asyncpg
from support import run

from fleetpilot.rollup.job import run_rollup
from fleetpilot.rollup.whatif.prepare import prepare
from fleetpilot.simload import load_run
from fleetsim.offline import generate_fleet


def test_late_fixes_recompute_the_shifts_what_if_legs(db_url):
    start = (datetime.now(timezone.utc) - timedelta(days=2)).strftime("%Y-%m-%dT06:00:00Z")
    fleet = generate_fleet(n_vehicles=2, days=1, seed=11, hours=4.0, start=start)
    days = (date.today() - timedelta(days=3), date.today() + timedelta(days=1))

    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            await load_run(conn, fleet)
            target = await conn.fetchrow(
                "SELECT shift_id, vehicle_id, starts_at FROM shifts ORDER BY starts_at, shift_id LIMIT 1"
            )
            late_from = target["starts_at"] + timedelta(hours=2)
            # The shift's last two hours have not arrived yet when the rollup and the legs run.
            await conn.execute(
                "CREATE TABLE late AS SELECT * FROM fixes WHERE vehicle_id = $1 AND ts >= $2",
                target["vehicle_id"],
                late_from,
            )
            await conn.execute("DELETE FROM fixes WHERE vehicle_id = $1 AND ts >= $2", target["vehicle_id"], late_from)
            await run_rollup(conn)
            await prepare(conn, *days)
            legs_query = "SELECT shift_id, fixes, prepared_at FROM whatif_prepared"
            before = {r["shift_id"]: dict(r) for r in await conn.fetch(legs_query)}
            span = "SELECT max(t0) FROM whatif_legs WHERE shift_id = $1"
            before_end = await conn.fetchval(span, target["shift_id"])
            # They arrive: stored as the ingest stores them, the vehicle-day marked.
            await conn.execute("INSERT INTO fixes SELECT * FROM late")
            await conn.execute(
                "INSERT INTO rollup_dirty (vehicle_id, day) VALUES ($1, ($2 AT TIME ZONE 'UTC')::date)",
                target["vehicle_id"],
                target["starts_at"],
            )
            await run_rollup(conn)
            report = await prepare(conn, *days)
            after = {r["shift_id"]: dict(r) for r in await conn.fetch(legs_query)}
            after_end = await conn.fetchval(span, target["shift_id"])
            late = await conn.fetchval("SELECT count(*) FROM late")
            return target["shift_id"], before, after, before_end, after_end, report, late
        finally:
            await conn.close()

    shift_id, before, after, before_end, after_end, report, late = run(body())
    assert late > 0
    assert report.shifts == 1  # only the shift late data touched
    assert after[shift_id]["fixes"] == before[shift_id]["fixes"] + late
    assert after_end > before_end  # the legs now reach into the late hours
    for other in before.keys() - {shift_id}:
        assert after[other]["prepared_at"] == before[other]["prepared_at"]
