"""fleetpilot retention: remove raw fixes and events past the retention period."""

from __future__ import annotations

import argparse
import asyncio

from fleetpilot.db.connect import connect, resolve_database_url
from fleetpilot.db.maintenance import apply_retention
from fleetpilot.settings import Settings

HELP = "drop raw fixes/events older than the configured retention (rollups stay)"


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_run(resolve_database_url(settings)))


async def _run(url: str) -> int:
    conn = await connect(url)
    try:
        result = await apply_retention(conn)
    finally:
        await conn.close()
    print(
        f"retention cutoff {result.cutoff.isoformat()}: dropped "
        + ", ".join(f"{n} {table} partitions" for table, n in result.dropped.items())
        + f"; what-if legs of {result.whatif_shifts_purged} shifts; {result.rejects_purged} rejects; "
        + f"{result.skew_held_purged} messages held for a clock-skew replay"
    )
    return 0
