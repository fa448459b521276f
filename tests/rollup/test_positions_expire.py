"""Issue 13, item 2: when raw fixes expire, no per-shift position survives them.

Before: 96 expired shifts kept 29,054 stop points, 1,829 event positions and their per-shift
street exposure forever. Now retention clears stop points and event positions and removes
the simplified route driven (shift_tracks, migration 0030) and per-shift exposure rows of
expired shifts, while the weekly/daily exposure blocks (aggregates
over many shifts) keep their sums, so hotspot figures of old weeks do not change."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg
from support import run

from fleetpilot.db.maintenance import apply_retention
from fleetpilot.rollup.blocks import refresh_blocks

NOW = datetime(2026, 6, 15, 12, tzinfo=timezone.utc)
STOPS = '[{"lon": 13.412345, "lat": 52.512345, "arrived_at": "2026-01-05T08:00:00Z", "dwell_s": 60}]'


async def _seed(conn: asyncpg.Connection, days_ago: list[int]) -> list[str]:
    await conn.execute("INSERT INTO vehicles (vehicle_id, city) VALUES ('truck-1', 'metro')")
    await conn.execute("INSERT INTO people (person_id) VALUES ('p-one')")
    shifts = []
    for n, ago in enumerate(days_ago):
        shift_id = f"s{n}-{ago}d"
        starts = NOW - timedelta(days=ago, hours=8)
        await conn.execute(
            "INSERT INTO shifts (shift_id, vehicle_id, starts_at, ends_at) VALUES ($1, 'truck-1', $2, $3)",
            shift_id,
            starts,
            starts + timedelta(hours=8),
        )
        await conn.execute("INSERT INTO shift_crew (shift_id, person_id) VALUES ($1, 'p-one')", shift_id)
        day = starts.date()
        await conn.execute(
            "INSERT INTO shift_metrics (shift_id, vehicle_id, day, fixes, distance_m, stop_points) "
            "VALUES ($1, 'truck-1', $2, 100, 1000, $3::jsonb)",
            shift_id,
            day,
            STOPS,
        )
        await conn.execute(
            "INSERT INTO shift_tracks (shift_id, tolerance_m, fixes, points, coordinates) "
            "VALUES ($1, 10, 100, 2, '[[13.41, 52.51], [13.42, 52.51]]')",
            shift_id,
        )
        await conn.execute(
            "INSERT INTO shift_events (shift_id, ts, kind, source, lon, lat, context) "
            "VALUES ($1, $2, 'harsh_brake', 'device', 13.412345, 52.512345, "
            '\'{"segment_id": "seg-a", "speed_limit_kmh": 30}\')',
            shift_id,
            starts + timedelta(hours=1),
        )
        await conn.execute(
            "INSERT INTO cell_exposure (cell_id, day, shift_id, passes, harsh_brake) VALUES (7, $1, $2, 3, 1)",
            day,
            shift_id,
        )
        await conn.execute(
            "INSERT INTO segment_exposure (segment_id, day, shift_id, passes, harsh_brake) "
            "VALUES ('seg-a', $1, $2, 2, 1)",
            day,
            shift_id,
        )
        shifts.append(shift_id)
    return shifts


POSITIONS = """
SELECT s.shift_id,
       (SELECT jsonb_array_length(stop_points) FROM shift_metrics m WHERE m.shift_id = s.shift_id) AS stops,
       (SELECT count(*) FROM shift_tracks t WHERE t.shift_id = s.shift_id) AS tracks,
       (SELECT count(*) FROM shift_events e WHERE e.shift_id = s.shift_id AND e.lon IS NOT NULL) AS event_positions,
       (SELECT count(*) FROM shift_events e WHERE e.shift_id = s.shift_id AND e.context ? 'segment_id') AS event_streets,
       (SELECT count(*) FROM shift_events e WHERE e.shift_id = s.shift_id) AS events,
       (SELECT count(*) FROM cell_exposure c WHERE c.shift_id = s.shift_id)
     + (SELECT count(*) FROM segment_exposure g WHERE g.shift_id = s.shift_id) AS exposure_rows
FROM shifts s ORDER BY s.shift_id
"""
BLOCK_SUMS = """
SELECT (SELECT coalesce(sum(passes), 0) FROM cell_daily) AS cell_passes,
       (SELECT coalesce(sum(passes), 0) FROM segment_weekly) AS segment_passes
"""


def test_no_per_shift_position_survives_retention_but_the_blocks_keep_their_sums(db_url):
    async def go():
        conn = await asyncpg.connect(db_url)
        try:
            retention = await conn.fetchval("SELECT retention_days FROM privacy_settings")
            expired_days, kept_days = [retention + 10, retention + 20, retention + 30], [1, 2]
            shifts = await _seed(conn, expired_days + kept_days)
            await refresh_blocks(conn)  # the rollup job's block rebuild: blocks are up to date
            before = dict(await conn.fetchrow(BLOCK_SUMS))
            result = await apply_retention(conn, now=NOW)
            rows = {r["shift_id"]: dict(r) for r in await conn.fetch(POSITIONS)}
            stale = await conn.fetchval("SELECT count(*) FROM exposure_stale_days")
            after = dict(await conn.fetchrow(BLOCK_SUMS))
            return shifts, rows, result, before, after, stale
        finally:
            await conn.close()

    shifts, rows, result, before, after, stale = run(go())
    expired, kept = shifts[:3], shifts[3:]
    assert result.shifts_positions_expired == 3
    for shift_id in expired:
        row = rows[shift_id]
        positions = (row["stops"], row["tracks"], row["event_positions"], row["event_streets"], row["exposure_rows"])
        assert positions == (0, 0, 0, 0, 0), row
        assert row["events"] == 1  # the crew's safety record keeps the event, without where
    for shift_id in kept:
        row = rows[shift_id]
        assert (row["stops"], row["tracks"], row["event_positions"], row["exposure_rows"]) == (1, 1, 1, 2), row
    assert before == after and before["cell_passes"] == 15  # aggregates unchanged, not rebuilt from nothing
    assert stale == 0


def test_exposure_rows_of_a_stale_day_wait_for_their_blocks(db_url):
    """A day whose blocks were not rebuilt yet keeps its rows (they are its only record)
    until the rollup job has rebuilt the blocks; the next retention run removes them."""

    async def go():
        conn = await asyncpg.connect(db_url)
        try:
            retention = await conn.fetchval("SELECT retention_days FROM privacy_settings")
            (shift_id,) = await _seed(conn, [retention + 5])
            first = await apply_retention(conn, now=NOW)  # blocks never built: the day is stale
            waiting = await conn.fetchval("SELECT count(*) FROM cell_exposure WHERE shift_id = $1", shift_id)
            await refresh_blocks(conn)
            await apply_retention(conn, now=NOW)
            gone = await conn.fetchval("SELECT count(*) FROM cell_exposure WHERE shift_id = $1", shift_id)
            passes = await conn.fetchval("SELECT sum(passes) FROM cell_daily")
            return first, waiting, gone, passes
        finally:
            await conn.close()

    first, waiting, gone, passes = run(go())
    assert first.shifts_positions_expired == 1 and waiting == 1 and gone == 0 and passes == 3
