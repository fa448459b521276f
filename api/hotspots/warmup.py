"""The hotspot page's default answer, computed when the API starts instead of on its first visit.

A process's first `/hotspots/cells?min_level=elevated` over a month paid for computing the
month's (cell, week) cells — the grouped read of the weekly blocks, on a fresh backend whose
buffers and catalog caches were cold — and scoring them; every later request with the same
state is answered from the per-process caches (service, blocks). So the lifespan starts
`warm_up` in the background: it asks the service for exactly what the page asks for first
(grid cells, harsh braking, elevated and above, the last 30 days as the policy widens them),
with the k read live from the database at that moment.

Nothing is served because of this that would not be served anyway: the answer is stored
under the key of the state it was computed from (blocks version, stale days and their marks,
k, range), and every request still passes the gate and reads that state again — a changed
k, new data or the next day's range is a different key and is computed then.
"""

from __future__ import annotations

import logging

import asyncpg

from fleetpilot.api.db import FairTurns
from fleetpilot.api.hotspots.service import hotspots_json
from fleetpilot.api.policy import AggregateScope, checked_range, whole_weeks
from fleetpilot.event_kinds import HARSH_BRAKE

log = logging.getLogger(__name__)
K = "SELECT k_min_shifts, k_min_people FROM privacy_settings"
# What the hotspot page requests on a first visit (dashboards/static/js/pages/hotspots.js).
PAGE_DEFAULT = {"level": "cell", "kind": HARSH_BRAKE, "min_level": "elevated"}


async def warm_up(pool: asyncpg.Pool, turns: FairTurns, tz: str) -> None:
    """Compute the page's default answer into the caches; any failure only leaves them empty."""
    await turns.take()  # one of the pool's turns, like a request (db.FairTurns)
    try:
        async with pool.acquire() as conn:
            k = await conn.fetchrow(K)
            if k is None:  # not seeded: requests answer 503 anyway
                return
            start, end = whole_weeks(checked_range(None, None, tz))
            await hotspots_json(
                conn,
                AggregateScope(start, end, k["k_min_shifts"], k["k_min_people"]),
                PAGE_DEFAULT["level"],
                PAGE_DEFAULT["kind"],
                None,
                PAGE_DEFAULT["min_level"],
            )
    except Exception:  # noqa: BLE001 - a warm-up must never stop the API
        log.warning("hotspot warm-up failed; the first request computes the answer", exc_info=True)
    finally:
        turns.give_back()
