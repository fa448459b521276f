"""Storage-mode-aware upkeep: partitions ahead of time, retention, time rollups.

The SQL functions behind these exist in both modes (see migrations 0002/0003), so only
the continuous-aggregate refresh needs to know which mode is in use.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import asyncpg

from fleetpilot.db.migrate import recorded_mode

TIME_SERIES = ("fixes", "events")
TIME_ROLLUPS = ("fixes_hourly", "events_daily")


async def ensure_partitions(conn: asyncpg.Connection, first_day: date, last_day: date) -> int:
    """Make sure fixes and events accept rows for [first_day, last_day] into day partitions."""
    created = 0
    for table in TIME_SERIES:
        created += await conn.fetchval("SELECT fleetpilot_ensure_partitions($1::regclass, $2, $3)", table, first_day, last_day)
    return created


async def ensure_partitions_ahead(conn: asyncpg.Connection, days_ahead: int, today: date | None = None) -> int:
    today = today or datetime.now(timezone.utc).date()
    return await ensure_partitions(conn, today, today + timedelta(days=days_ahead))


@dataclass(frozen=True)
class RetentionResult:
    cutoff: datetime
    dropped: dict[str, int]


async def apply_retention(conn: asyncpg.Connection, now: datetime | None = None) -> RetentionResult:
    """Remove raw fixes and events older than privacy_settings.retention_days; rollups stay.

    Whole day partitions (or TimescaleDB chunks) that end before the cutoff are dropped.
    In TimescaleDB mode the retention policies are also set to the current value, so the
    background job enforces it between runs.
    """
    days = await conn.fetchval("SELECT retention_days FROM privacy_settings")
    now = now or datetime.now(timezone.utc)
    cutoff = now - timedelta(days=days)
    dropped = {}
    async with conn.transaction():
        for table in TIME_SERIES:
            dropped[table] = await conn.fetchval(
                "SELECT fleetpilot_drop_partitions_before($1::regclass, $2)", table, cutoff
            )
        if await recorded_mode(conn) == "timescale":
            for table in TIME_SERIES:
                await conn.execute("SELECT remove_retention_policy($1::regclass, if_exists => true)", table)
                await conn.execute(
                    "SELECT add_retention_policy($1::regclass, make_interval(days => $2))", table, days
                )
    return RetentionResult(cutoff=cutoff, dropped=dropped)


async def refresh_time_rollups(conn: asyncpg.Connection, start: datetime, end: datetime) -> None:
    """Recompute fixes_hourly and events_daily over [start, end) (e.g. after late data)."""
    if await recorded_mode(conn) == "timescale":
        # Must run outside a transaction block; asyncpg runs this in autocommit.
        for view in TIME_ROLLUPS:
            await conn.execute(f"CALL refresh_continuous_aggregate('{view}', $1::timestamptz, $2::timestamptz)", start, end)
    else:
        await conn.execute("SELECT fleetpilot_refresh_time_rollups($1, $2)", start, end)
