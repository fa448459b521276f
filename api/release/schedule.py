"""The scheduled open-data release: weekly, by the rollup service (`fleetpilot rollup --every`).

Each cycle the service asks `release_if_due`. Once a week of the city has ended (Monday 00:00
local), the release of the FLEETPILOT_RELEASE_WEEKS whole ISO weeks just ended is due; it is
written unless a release of exactly that period exists that may still be served (bundle.stale:
made under the live k, and its fingerprint still that of its period's released figures), so
the job is idempotent (a restart, a second rollup process, or a `fleetpilot release` run by
hand for the same period does not make another), a release whose data changed is written
again (decision 0022), and the transparency page links the newest. A pg advisory lock keeps two rollup
processes from writing the same release at once. The bundle is `bundle.release`'s, with the
release rule of every aggregate (decision 0004).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from fleetpilot import localtime
from fleetpilot.api.db import open_pool
from fleetpilot.api.release.bundle import Release, build, stale

LOCK_KEY = 2_026_0015  # pg advisory lock: one scheduled release at a time
RELEASED = """
SELECT period_start, period_end, k_min_shifts, k_min_people, data_fingerprint FROM open_data_releases
WHERE period_start = $1 AND period_end = $2 ORDER BY release_id DESC LIMIT 1
"""


def due_period(today: date, weeks: int) -> tuple[date, date]:
    """The `weeks` whole ISO weeks ending at the Monday that starts `today`'s week (local days)."""
    end = localtime.week_start(today)
    return end - timedelta(weeks=weeks), end


def release_directory(data_dir: Path, period: tuple[date, date]) -> Path:
    """Where a release is written (as `fleetpilot release` writes it by default)."""
    return Path(data_dir) / "releases" / f"{period[0]}_{period[1]}"


async def release_if_due(
    database_url: str, data_dir: Path, tz: str, weeks: int, now: datetime | None = None
) -> Release | None:
    """Write the release now due, if it is not written yet; None when nothing was due (or
    `weeks` is 0: no scheduled release)."""
    if weeks <= 0:
        return None
    period = due_period(localtime.today(tz, now), weeks)
    pool = await open_pool(database_url, max_size=1)  # json decoded as the layers expect it
    try:
        async with pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
                return None  # another process is writing it
            try:
                made = await conn.fetchrow(RELEASED, *period)
                if made is not None and await stale(conn, dict(made)) is None:
                    return None
                return await build(conn, period, release_directory(data_dir, period))
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    finally:
        await pool.close()
