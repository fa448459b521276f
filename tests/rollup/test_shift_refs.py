"""The rollup's four largest derived tables keep their reference to shifts by statement
triggers (migration 0036, decision 0037) instead of a foreign key: on real PostgreSQL, a row of
a shift that does not exist is refused (insert or update, one row or among many), deleting a
shift deletes its rows and no others, and a shift's id cannot be changed."""

from __future__ import annotations

from datetime import date, datetime, timezone

import asyncpg
import pytest
from support import run

DAY = date(2026, 12, 1)
AT = datetime(2026, 12, 1, 6, tzinfo=timezone.utc)
# Rows of the shifts $1 (one per shift), their unit or number counted on from $2.
ROWS = {
    "cell_exposure": "INSERT INTO cell_exposure (cell_id, day, shift_id, passes) SELECT $2::int + n, $3, x, 1",
    "segment_exposure": "INSERT INTO segment_exposure (segment_id, day, shift_id, passes) SELECT ($2::int + n)::text, $3, x, 1",
    "whatif_legs": "INSERT INTO whatif_legs (shift_id, leg, kind, t0, duration_s, moving_s, length_m, max_speed_mps) "
    "SELECT x, $2::int + n, 'travel', $4, 1, 1, 1, 1",
    "whatif_stop_visits": "INSERT INTO whatif_stop_visits (shift_id, stop_seq, first_at) SELECT x, $2::int + n, $4",
}
FROM = " FROM unnest($1::text[]) WITH ORDINALITY AS u(x, n) WHERE $3::date IS NOT NULL AND $4::timestamptz IS NOT NULL"


async def _insert(conn, table: str, shifts: list[str], base: int) -> None:
    await conn.execute(ROWS[table] + FROM, shifts, base, DAY, AT)


async def _world(conn) -> None:
    await conn.execute("INSERT INTO vehicles (vehicle_id, city) VALUES ('v1', 'test')")
    for shift in ("s1", "s2", "s3"):
        await conn.execute(
            "INSERT INTO shifts (shift_id, vehicle_id, starts_at, ends_at) VALUES ($1, 'v1', $2::timestamptz, $2::timestamptz + interval '8 hours')",
            shift,
            AT,
        )
    for table in ROWS:
        await _insert(conn, table, ["s1", "s2", "s3"], 0)


def test_rows_of_missing_shifts_are_refused(db_url):
    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            await _world(conn)
            refused = {}
            for table in ROWS:
                with pytest.raises(asyncpg.ForeignKeyViolationError) as one:
                    await _insert(conn, table, ["no-such-shift"], 10)
                # Among rows of existing shifts, in one statement (as the rollup writes them).
                with pytest.raises(asyncpg.ForeignKeyViolationError):
                    await _insert(conn, table, ["s1", "gone", "s2"], 20)
                with pytest.raises(asyncpg.ForeignKeyViolationError):
                    await conn.execute(f"UPDATE {table} SET shift_id = 'no-such-shift' WHERE shift_id = 's3'")
                refused[table] = (one.value.detail, await conn.fetchval(f"SELECT count(*) FROM {table}"))
            return refused
        finally:
            await conn.close()

    refused = run(body())
    for table, (detail, count) in refused.items():
        assert "no-such-shift" in detail, table
        assert count == 3, table  # nothing of the refused statements stayed


def test_deleting_a_shift_deletes_its_rows_only(db_url):
    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            await _world(conn)
            await conn.execute("DELETE FROM shifts WHERE shift_id IN ('s1', 's2')")
            left = {t: await conn.fetch(f"SELECT DISTINCT shift_id FROM {t}") for t in ROWS}
            with pytest.raises(asyncpg.ForeignKeyViolationError):
                await conn.execute("UPDATE shifts SET shift_id = 's9' WHERE shift_id = 's3'")
            await conn.execute("UPDATE shifts SET route_version = 2 WHERE shift_id = 's3'")  # other columns: fine
            return left
        finally:
            await conn.close()

    left = run(body())
    assert {t: [r["shift_id"] for r in rows] for t, rows in left.items()} == {t: ["s3"] for t in ROWS}


def test_stale_days_are_marked_in_day_order(db_url):
    """Every writer locks the stale marks of its days in one order (migration 0041), so two
    writers sharing days cannot each hold one the other waits for."""

    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            await _world(conn)
            await conn.execute("DELETE FROM exposure_stale_days")
            # Twenty days, the rows in reverse day order, in one statement (as the rollup writes).
            await conn.execute(
                "INSERT INTO cell_exposure (cell_id, day, shift_id, passes) "
                "SELECT 100 + g, $1::date + (20 - g), 's1', 1 FROM generate_series(1, 20) g",
                DAY,
            )
            exposure = await conn.fetch("SELECT day FROM exposure_stale_days ORDER BY ctid")
            await conn.execute("DELETE FROM exposure_stale_days")
            # A crew change marks its shifts' days (from their metrics) the same way.
            await conn.execute("INSERT INTO people (person_id) VALUES ('p-1')")
            for n, shift in enumerate(("s1", "s2", "s3")):
                await conn.execute(
                    "INSERT INTO shift_metrics (shift_id, vehicle_id, day, fixes, distance_m) VALUES ($1, 'v1', $2, 1, 0)",
                    shift,
                    date(2026, 12, 20 - 5 * n),
                )
            await conn.execute(
                "INSERT INTO shift_crew (shift_id, person_id, crew_role) "
                "SELECT s, 'p-1', 'driver' FROM unnest(ARRAY['s3', 's1', 's2']) s"
            )
            crew = await conn.fetch("SELECT day FROM exposure_stale_days ORDER BY ctid")
            return [r["day"] for r in exposure], [r["day"] for r in crew]
        finally:
            await conn.close()

    exposure, crew = run(body())
    assert len(exposure) == 20 and exposure == sorted(exposure)
    assert crew == [date(2026, 12, 10), date(2026, 12, 15), date(2026, 12, 20)]
