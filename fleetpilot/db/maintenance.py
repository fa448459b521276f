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
# Bucket widths of the time rollups; they must match the definitions in migration 0003.
TIME_ROLLUPS = {"fixes_hourly": timedelta(hours=1), "events_daily": timedelta(days=1)}
# time_bucket/date_bin origin: buckets of an hour or a day start on UTC hours/midnights.
BUCKET_ORIGIN = datetime(2000, 1, 1, tzinfo=timezone.utc)


async def ensure_partitions(conn: asyncpg.Connection, first_day: date, last_day: date) -> int:
    """Make sure fixes and events accept rows for [first_day, last_day] into day partitions."""
    created = 0
    for table in TIME_SERIES:
        created += await conn.fetchval(
            "SELECT fleetpilot_ensure_partitions($1::regclass, $2, $3)", table, first_day, last_day
        )
    return created


async def ensure_partitions_ahead(conn: asyncpg.Connection, days_ahead: int, today: date | None = None) -> int:
    today = today or datetime.now(timezone.utc).date()
    return await ensure_partitions(conn, today, today + timedelta(days=days_ahead))


# Every run of apply_retention records when (the rollup stage's upkeep reads it).
LAST_RETENTION_KEY = "retention_last_run"
RECORD_RETENTION_RUN = """
INSERT INTO fleetpilot_meta (key, value) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
"""


# ...and each run is kept for the privacy record of the pilot report (migration 0025).
LOG_RETENTION_RUN = """
INSERT INTO retention_runs (run_at, cutoff, partitions_dropped, positions_expired, rejects_purged)
VALUES ($1, $2, $3, $4, $5)
"""


@dataclass(frozen=True)
class RetentionResult:
    cutoff: datetime
    dropped: dict[str, int]  # table -> day partitions (or chunks) dropped
    whatif_shifts_purged: int = 0  # shifts whose what-if legs went with their raw fixes
    rejects_purged: int = 0  # dead letters received before their own cutoff (deadletter_days)
    skew_held_purged: int = 0  # messages held for a clock-skew replay (or their hashes) past skew_hold_hours
    shifts_positions_expired: int = 0  # expired shifts whose stop points went (events, exposure rows too)


async def apply_retention(conn: asyncpg.Connection, now: datetime | None = None) -> RetentionResult:
    """Remove raw fixes and events older than privacy_settings.retention_days; rollups stay.
    Per-shift positions derived from them (stop points, event positions, per-shift exposure
    rows) go with them (fleetpilot_expire_shift_positions, migration 0018); dead letters have
    their own, shorter window (privacy_settings.deadletter_days), and messages held whole for a
    clock-skew replay a still shorter one (skew_hold_hours, migration 0024; decision 0015).

    Whole day partitions (or TimescaleDB chunks) that end before the cutoff are dropped.
    In TimescaleDB mode the background job fleetpilot_retention_job (migration 0002)
    does the same every hour with the live setting; this call enforces it right away.
    """
    days, deadletter_days, skew_hold_hours = await conn.fetchrow(
        "SELECT retention_days, deadletter_days, skew_hold_hours FROM privacy_settings"
    )
    now = now or datetime.now(timezone.utc)
    cutoff = now - timedelta(days=days)
    dropped = {}
    async with conn.transaction():
        for table in TIME_SERIES:
            dropped[table] = await conn.fetchval(
                "SELECT fleetpilot_drop_partitions_before($1::regclass, $2)", table, cutoff
            )
        # What-if legs are derived from raw fixes, so they go with them (migration 0005).
        purged = await conn.fetchval("SELECT whatif_purge_expired($1)", cutoff)
        positions = await conn.fetchval("SELECT fleetpilot_expire_shift_positions($1)", cutoff)
        rejects = await conn.fetchval(
            "WITH gone AS (DELETE FROM rejects WHERE received_at < $1 RETURNING 1) SELECT count(*) FROM gone",
            now - timedelta(days=deadletter_days),
        )
        held = await conn.fetchval(
            "WITH gone AS (DELETE FROM skew_held WHERE received_at < $1 RETURNING 1) SELECT count(*) FROM gone",
            now - timedelta(hours=skew_hold_hours),
        )
        await conn.execute(RECORD_RETENTION_RUN, LAST_RETENTION_KEY, now.isoformat())
        await conn.execute(LOG_RETENTION_RUN, now, cutoff, sum(dropped.values()), positions, rejects)
    return RetentionResult(
        cutoff=cutoff,
        dropped=dropped,
        whatif_shifts_purged=purged,
        rejects_purged=rejects,
        skew_held_purged=held,
        shifts_positions_expired=positions,
    )


async def refresh_time_rollups(conn: asyncpg.Connection, start: datetime, end: datetime) -> None:
    """Recompute fixes_hourly and events_daily for whole buckets overlapping [start, end).

    Used e.g. after late data; both modes widen the window to whole buckets, since a
    TimescaleDB refresh only rewrites buckets that lie entirely inside its window (and
    refuses a window narrower than one bucket).
    """
    if await recorded_mode(conn) == "timescale":
        # refresh_continuous_aggregate must run outside a transaction block; asyncpg runs
        # each statement in autocommit unless a transaction was opened.
        for view, width in TIME_ROLLUPS.items():
            await conn.execute(
                "CALL refresh_continuous_aggregate($1::regclass, $2::timestamptz, $3::timestamptz)",
                view,
                _bucket_floor(start, width),
                _bucket_ceil(end, width),
            )
    else:
        await conn.execute("SELECT fleetpilot_refresh_time_rollups($1, $2)", start, end)


def _bucket_floor(ts: datetime, width: timedelta) -> datetime:
    """Start of the bucket of `width` holding `ts` (timezone-aware)."""
    return ts - (ts - BUCKET_ORIGIN) % width


def _bucket_ceil(ts: datetime, width: timedelta) -> datetime:
    """End of the last bucket of `width` that starts before `ts`: ts itself when aligned."""
    floor = _bucket_floor(ts, width)
    return floor if floor == ts else floor + width
