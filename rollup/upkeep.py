"""Storage upkeep the rollup service (`fleetpilot rollup --every`) runs each cycle.

Day partitions ahead of time (native mode; a no-op with TimescaleDB), retention once a
day, so raw data past the period goes without anyone remembering to run it, and TimescaleDB's
background jobs when its scheduler fails them (tsjobs.py, decision 0003). The work itself
is storage's (fleetpilot.db.maintenance); this module decides when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import asyncpg

from fleetpilot.db.maintenance import LAST_RETENTION_KEY, RetentionResult, apply_retention, ensure_partitions_ahead
from fleetpilot.rollup import tsjobs

# Retention runs when the last run, by this service, the CLI or the admin's button, is older than this.
RETENTION_EVERY = timedelta(days=1)


@dataclass(frozen=True)
class UpkeepResult:
    partitions_created: int
    retention: RetentionResult | None  # None: the last run is less than RETENTION_EVERY old
    timescale_jobs_run: tuple[int, ...] = ()  # TimescaleDB jobs the upkeep ran (CALL run_job)


async def upkeep(
    conn: asyncpg.Connection, partitions_ahead_days: int, now: datetime | None = None, owner_url: str | None = None
) -> UpkeepResult:
    """The storage upkeep the rollup service runs each cycle: day partitions for the coming
    `partitions_ahead_days` (native mode; a no-op with TimescaleDB), retention once a day,
    so raw data past the period goes without anyone remembering to run it, and TimescaleDB
    jobs the scheduler fails, run as their owner (`owner_url`; tsjobs.run_due)."""
    now = now or datetime.now(timezone.utc)
    created = await ensure_partitions_ahead(conn, partitions_ahead_days, now.date())
    last = await conn.fetchval("SELECT value FROM fleetpilot_meta WHERE key = $1", LAST_RETENTION_KEY)
    due = last is None or now - datetime.fromisoformat(last) >= RETENTION_EVERY
    retention = await apply_retention(conn, now) if due else None
    return UpkeepResult(created, retention, tuple(await tsjobs.run_due(conn, now, owner_url)))
