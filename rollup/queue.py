"""The rollup queue (migration 0027): how N workers share the shifts to compute.

Any run first *enqueues*: ended shifts without metrics, and the shifts of vehicle-days that
late data marked in rollup_dirty (or every ended shift, for a recompute), in one transaction
that also clears those marks, so the work is never held only in a worker's memory. Workers
then *claim* batches (FOR UPDATE SKIP LOCKED: two workers never get the same shift) under a
lease, and *finish* a batch in the transaction that writes its results: only shifts they
still hold are written; a shift re-queued meanwhile (late data after the claim) is freed to
be computed again instead of being deleted. A worker killed mid-batch writes nothing (its
transaction dies with it) and its lease expires; whoever claims next takes the shifts over.
A worker stops when the queue is empty, waiting out the leases of others first, so one run
of any worker ends with every queued shift done.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime

import asyncpg

LEASE_S = 300.0  # a batch of 50 shifts takes ~10 s; a stalled worker's shifts wait this long

# $1 = now: ended shifts without metrics. Already queued (another worker's claim): left alone.
ENQUEUE_MISSING = """
INSERT INTO rollup_queue (shift_id)
SELECT s.shift_id FROM shifts s
WHERE s.ends_at <= $1 AND NOT EXISTS (SELECT 1 FROM shift_metrics m WHERE m.shift_id = s.shift_id)
ON CONFLICT (shift_id) DO NOTHING
"""
# Shifts to recompute ($1 = now; $2 = every ended shift, else those of the marks $3, $4):
# queued again even when claimed, so a claim older than the new data is not the last word.
ENQUEUE_AGAIN = """
INSERT INTO rollup_queue (shift_id)
SELECT s.shift_id FROM shifts s
WHERE s.ends_at <= $1
  AND ($2 OR EXISTS (SELECT 1 FROM unnest($3::text[], $4::date[]) AS d(vehicle_id, day)
                     WHERE d.vehicle_id = s.vehicle_id
                       AND d.day BETWEEN (s.starts_at AT TIME ZONE 'UTC')::date AND (s.ends_at AT TIME ZONE 'UTC')::date))
ON CONFLICT (shift_id) DO UPDATE SET queued_at = clock_timestamp()
"""
# $1 worker, $2 lease seconds, $3 batch size: free shifts, or those of a lease that ran out.
CLAIM = """
UPDATE rollup_queue q
SET claimed_by = $1, claimed_at = clock_timestamp(), lease_until = clock_timestamp() + make_interval(secs => $2)
FROM (SELECT shift_id FROM rollup_queue
      WHERE lease_until IS NULL OR lease_until < clock_timestamp()
      ORDER BY queued_at, shift_id
      LIMIT $3
      FOR UPDATE SKIP LOCKED) AS c
WHERE q.shift_id = c.shift_id
RETURNING q.shift_id
"""
# Free shifts (unclaimed, or their lease run out), counted up to $1: a backfill queues many.
FREE_UP_TO = """
SELECT count(*) FROM (
    SELECT 1 FROM rollup_queue WHERE lease_until IS NULL OR lease_until < clock_timestamp() LIMIT $1
) q
"""
CLAIMED_SHIFTS = """
SELECT shift_id, vehicle_id, route_id, route_version, starts_at, ends_at FROM shifts
WHERE shift_id = ANY($1::text[]) ORDER BY starts_at, shift_id
"""
# Seconds until the first lease of another worker runs out (NULL: nothing left at all).
NEXT_EXPIRY = """
SELECT CASE WHEN count(*) > 0  -- (greatest() would turn the empty queue's NULL into 0)
            THEN greatest(extract(epoch FROM min(coalesce(lease_until, clock_timestamp())) - clock_timestamp()), 0)::float8
       END
FROM rollup_queue
"""
# In the writing transaction: the shifts of the batch this worker still holds, locked.
HELD = """
SELECT shift_id FROM rollup_queue WHERE shift_id = ANY($1::text[]) AND claimed_by = $2 FOR UPDATE
"""
DONE = """
DELETE FROM rollup_queue WHERE shift_id = ANY($1::text[]) AND claimed_by = $2 AND queued_at <= claimed_at
"""
FREE_REQUEUED = """
UPDATE rollup_queue SET claimed_by = NULL, claimed_at = NULL, lease_until = NULL
WHERE shift_id = ANY($1::text[]) AND claimed_by = $2
"""
MARKS = "SELECT vehicle_id, day, marked_at FROM rollup_dirty"
# Marks turned into queued shifts, unless re-marked meanwhile or a shift of that day still runs.
CLEAR_MARKS = """
DELETE FROM rollup_dirty d
USING unnest($1::text[], $2::date[], $3::timestamptz[]) AS m(vehicle_id, day, marked_at)
WHERE d.vehicle_id = m.vehicle_id AND d.day = m.day AND d.marked_at <= m.marked_at
  AND NOT EXISTS (SELECT 1 FROM shifts s
                  WHERE s.vehicle_id = d.vehicle_id AND s.ends_at > $4
                    AND d.day BETWEEN (s.starts_at AT TIME ZONE 'UTC')::date
                                  AND (s.ends_at AT TIME ZONE 'UTC')::date)
"""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def enqueue(conn: asyncpg.Connection, now: datetime, *, everything: bool = False) -> tuple[list, int]:
    """Queue the work of this moment; returns the marks read (for the time rollups) and how
    many of them were cleared."""
    async with conn.transaction():
        marks = await conn.fetch(MARKS)
        await conn.execute(ENQUEUE_MISSING, now)
        if everything or marks:
            await conn.execute(
                ENQUEUE_AGAIN, now, everything, [m["vehicle_id"] for m in marks], [m["day"] for m in marks]
            )
        cleared = 0
        if marks:
            result = await conn.execute(
                CLEAR_MARKS,
                [m["vehicle_id"] for m in marks],
                [m["day"] for m in marks],
                [m["marked_at"] for m in marks],
                now,
            )
            cleared = int(result.split()[-1])
    return list(marks), cleared


def tapered(free: int, batch_size: int) -> int:
    """A claim's size: ``batch_size``, or with fewer than two batches free, half of what is
    free (at least a quarter batch). The run's last batches shrink, and with them its tail:
    the last batch is analysed and written after every read has ended (docs/benchmarks/rollup.md)."""
    if free >= 2 * batch_size:
        return batch_size
    return max(-(-free // 2), batch_size // 4, 1)


async def claim_size(conn: asyncpg.Connection, batch_size: int) -> int:
    """The size of the next claim (``tapered``), the free shifts counted up to two batches."""
    return tapered(await conn.fetchval(FREE_UP_TO, 2 * batch_size), batch_size)


async def claim(conn: asyncpg.Connection, worker: str, batch_size: int, lease_s: float) -> list:
    """A batch of shift rows (in start order) now held by ``worker``; empty when none is free."""
    ids = [r["shift_id"] for r in await conn.fetch(CLAIM, worker, float(lease_s), batch_size)]
    return list(await conn.fetch(CLAIMED_SHIFTS, ids)) if ids else []


async def size(conn: asyncpg.Connection) -> int:
    """Shifts queued (claimed or not): the work left."""
    return int(await conn.fetchval("SELECT count(*) FROM rollup_queue"))


async def wait_s(conn: asyncpg.Connection) -> float | None:
    """None when the queue is empty, else seconds until another worker's lease runs out."""
    return await conn.fetchval(NEXT_EXPIRY)


async def held(conn: asyncpg.Connection, shift_ids: list[str], worker: str) -> set[str]:
    """Call inside the writing transaction: the shifts ``worker`` still holds (locked)."""
    return {r["shift_id"] for r in await conn.fetch(HELD, shift_ids, worker)}


async def finish(conn: asyncpg.Connection, shift_ids: list[str], worker: str) -> None:
    """Call inside the writing transaction: done shifts leave, re-queued ones are freed."""
    await conn.execute(DONE, shift_ids, worker)
    await conn.execute(FREE_REQUEUED, shift_ids, worker)
