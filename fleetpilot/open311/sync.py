"""Storing complaints with their evidence, resuming from a cursor (one transaction per page).

A page's complaints, their evidence and the new cursor are written together, so a run that
stops (server down, malformed answer) resumes after the last stored page and skips nothing;
a request seen again is updated in place (duplicates change nothing, a closed request that is
open again counts as re-opened). A malformed answer is dead-lettered (reason, size, hash) and
ends the run with that reason. Complaints with no planned street near them or made before the
pilot's first shift are kept and marked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from fleetpilot.open311.client import GeoReportClient, Unavailable
from fleetpilot.open311.evidence import evidence
from fleetpilot.open311.records import Complaint, Malformed

FIRST_WINDOW = timedelta(days=7)  # the first run reads this far back
# Each run reads again this far before the cursor: GeoReport v2 cannot ask "changed since", so
# a request closed and re-opened (same requested time) is seen only by reading it again.
REREAD = timedelta(days=7)
CURSOR = "SELECT cursor FROM open311_sync"
SAVE_CURSOR = """
INSERT INTO open311_sync (cursor, last_run_at, last_error) VALUES ($1, now(), $2)
ON CONFLICT (singleton) DO UPDATE SET cursor = greatest(open311_sync.cursor, EXCLUDED.cursor),
    last_run_at = now(), last_error = EXCLUDED.last_error
"""
PILOT_START = "SELECT min(starts_at) FROM shifts"
REJECT = "INSERT INTO complaint_rejects (reason, bytes, sha256) VALUES ($1, $2, $3)"
UPSERT = """
INSERT INTO complaints AS c (service_request_id, service_code, status, description, requested_at, updated_at,
    lon, lat, address, outside_city, outside_pilot, verdict, segment_id, route_id, vehicle_id, collection_day,
    passed_at, stopped_s, before_complaint, cause)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
ON CONFLICT (service_request_id) DO UPDATE SET
    times_reopened = c.times_reopened + (c.status = 'closed' AND EXCLUDED.status = 'open')::int,
    service_code = EXCLUDED.service_code, status = EXCLUDED.status, description = EXCLUDED.description,
    updated_at = EXCLUDED.updated_at, lon = EXCLUDED.lon, lat = EXCLUDED.lat, address = EXCLUDED.address,
    outside_city = EXCLUDED.outside_city, outside_pilot = EXCLUDED.outside_pilot, verdict = EXCLUDED.verdict,
    segment_id = EXCLUDED.segment_id, route_id = EXCLUDED.route_id, vehicle_id = EXCLUDED.vehicle_id,
    collection_day = EXCLUDED.collection_day, passed_at = EXCLUDED.passed_at, stopped_s = EXCLUDED.stopped_s,
    before_complaint = EXCLUDED.before_complaint, cause = EXCLUDED.cause, last_seen_at = now()
"""


@dataclass
class SyncResult:
    cursor: datetime  # where the next run resumes
    stored: int = 0
    error: str | None = None


async def _store(conn: asyncpg.Connection, complaint: Complaint, city_day, pilot_start) -> None:
    found = await evidence(conn, complaint, city_day)
    await conn.execute(
        UPSERT,
        complaint.service_request_id,
        complaint.service_code,
        complaint.status,
        complaint.description,
        complaint.requested_at,
        complaint.updated_at,
        complaint.lon,
        complaint.lat,
        complaint.address,
        found.verdict == "no_segment" and complaint.lon is not None,
        pilot_start is None or complaint.requested_at < pilot_start,
        found.verdict,
        found.segment_id,
        found.route_id,
        found.vehicle_id,
        None if found.collection_day is None else datetime.fromisoformat(found.collection_day).date(),
        found.passed_at,
        found.stopped_s,
        found.before_complaint,
        found.cause,
    )


async def sync(conn: asyncpg.Connection, client: GeoReportClient, now: datetime, city_day) -> SyncResult:
    """Read complaints made since the stored cursor (first run: FIRST_WINDOW back) up to `now`."""
    stored_cursor = await conn.fetchval(CURSOR)
    result = SyncResult(stored_cursor or now - FIRST_WINDOW)
    start = result.cursor - REREAD if stored_cursor else result.cursor
    pilot_start = await conn.fetchval(PILOT_START)
    try:
        async for page, cursor in client.requests(start, now):
            async with conn.transaction():
                for complaint in page:
                    await _store(conn, complaint, city_day, pilot_start)
                await conn.execute(SAVE_CURSOR, cursor, None)
            result.stored += len(page)
            result.cursor = max(result.cursor, cursor)
    except Unavailable as exc:  # resumed from the stored cursor next time
        await conn.execute(SAVE_CURSOR, result.cursor, str(exc)[:500])
        result.error = str(exc)
    except Malformed as exc:
        body = exc.body
        await conn.execute(REJECT, str(exc)[:500], len(body), hashlib.sha256(body).hexdigest())
        await conn.execute(SAVE_CURSOR, result.cursor, f"malformed answer: {exc}"[:500])
        result.error = f"malformed answer dead-lettered: {exc}"
    return result
