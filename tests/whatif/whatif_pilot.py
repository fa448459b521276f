"""The small pilot database of the service and page tests: its period, k and helpers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg

from fleetpilot.analytics.whatif.privacy import Privacy

FIRST_DAY = datetime.now(timezone.utc).date() - timedelta(days=4)
PERIOD = (FIRST_DAY, FIRST_DAY + timedelta(days=2))  # [from, to) UTC days of the loaded shifts
K = Privacy(k_shifts=2, k_people=2)  # the pilot database's k (2 trucks × 2 days)


async def with_conn(url: str, work):
    conn = await asyncpg.connect(url)
    try:
        return await work(conn)
    finally:
        await conn.close()
