"""Posting the record's answer back to the city's 311 system as a status note (optional, off
by default: FLEETPILOT_OPEN311_WRITE_BACK).

Where the 311 system accepts updates — mySociety's Open311 extension, spoken by FixMyStreet
and its open311-adapter: `POST servicerequestupdates.{fmt}` — each stored complaint the record
answered ("collected" or "not collected") gets one note: the suggested reply without route and
truck (many cities publish their 311 requests, and with a roster those name a crew). Where it
does not, the 311 team takes the CSV instead (supervisor page, `fleetpilot open311`).

Nothing is posted twice: a note is keyed by (complaint, evidence version) in
`complaint_updates`, recorded before the POST and marked posted after the server accepted it;
evidence that changes (late data, a re-read) is a new version and a new note. Its update_id is
derived from the same key, so if the server took a note but its answer was lost, the retry
carries the same update_id for the server to recognise. The client retries a 5xx, 429 or
dropped connection with doubling back-off; a server still down ends the run (the rest wait for
the next run); a note the server refuses (4xx) keeps its reason and is tried again next run.
One writer at a time (an advisory lock), so two runs cannot post the same note together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import asyncpg
import httpx

from fleetpilot.open311.client import GeoReportClient, Unavailable
from fleetpilot.open311.evidence import Evidence

VERDICTS = ["serviced", "missed"]  # the record's answers; the others need a person at the 311 desk
RECENT = timedelta(days=30)  # complaints seen by a sync this recently are candidates
# mySociety's extended statuses, upper case as the POST takes them.
STATUSES = {"open": "OPEN", "closed": "CLOSED"}
LOCK_KEY = 311_0001  # pg advisory lock: one writer at a time
CANDIDATES = """
SELECT c.service_request_id, c.status, c.verdict, c.segment_id, c.route_id, c.vehicle_id, c.collection_day,
       c.passed_at, c.stopped_s, c.before_complaint, c.cause,
       coalesce(array_agg(u.evidence_version) FILTER (WHERE u.posted_at IS NOT NULL), '{}') AS posted
FROM complaints c LEFT JOIN complaint_updates u USING (service_request_id)
WHERE c.verdict = ANY ($1::text[]) AND c.last_seen_at >= $2
GROUP BY c.service_request_id
ORDER BY c.requested_at, c.service_request_id
"""
ATTEMPT = """
INSERT INTO complaint_updates AS u (service_request_id, evidence_version, update_id, description, attempts)
VALUES ($1, $2, $3, $4, 1)
ON CONFLICT (service_request_id, evidence_version) DO UPDATE SET attempts = u.attempts + 1
RETURNING u.posted_at
"""
POSTED = """
UPDATE complaint_updates SET posted_at = now(), remote_update_id = $3, last_error = NULL
WHERE service_request_id = $1 AND evidence_version = $2
"""
FAILED = "UPDATE complaint_updates SET last_error = $3 WHERE service_request_id = $1 AND evidence_version = $2"


@dataclass
class WriteBackResult:
    posted: int = 0
    already: int = 0  # notes of the current evidence posted by an earlier run
    refused: list[str] = field(default_factory=list)  # "<id>: <reason>" per note the server refused
    error: str | None = None  # the server did not answer: the run stopped here


def update_id(service_request_id: str, version: str) -> str:
    return f"fleetpilot-{service_request_id}-{version}"


async def write_back(
    conn: asyncpg.Connection,
    client: GeoReportClient,
    local: Callable[[datetime], str],
    now: datetime | None = None,
) -> WriteBackResult:
    """Post a note for every recent complaint whose current evidence has none yet."""
    now = now or datetime.now(timezone.utc)
    result = WriteBackResult()
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
        result.error = "another write-back is running"
        return result
    try:
        for row in await conn.fetch(CANDIDATES, VERDICTS, now - RECENT):
            evidence = Evidence.from_row(row)
            version = evidence.version()
            if version in row["posted"]:
                result.already += 1
                continue
            note = evidence.reply(lambda t: local(t)[11:], public=True)  # residents may read it
            key = update_id(evidence.service_request_id, version)
            await conn.fetchval(ATTEMPT, evidence.service_request_id, version, key, note)
            update = {
                "service_request_id": evidence.service_request_id,
                "update_id": key,
                "status": STATUSES.get((row["status"] or "open").lower(), "OPEN"),
                "updated_datetime": now.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
                "description": note,
            }
            try:
                remote = await client.post_update(update)
            except Unavailable as exc:
                await conn.execute(FAILED, evidence.service_request_id, version, str(exc)[:500])
                result.error = str(exc)
                break
            except httpx.HTTPStatusError as exc:
                reason = f"HTTP {exc.response.status_code}: {exc.response.text[:200]}"
                await conn.execute(FAILED, evidence.service_request_id, version, reason)
                result.refused.append(f"{evidence.service_request_id}: {reason}")
                continue
            await conn.execute(POSTED, evidence.service_request_id, version, remote)
            result.posted += 1
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    return result
