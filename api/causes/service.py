"""Missed-segment causes: given by a crew member for a shift they crewed (ShiftGrant from
policy.own_shift), listed for the crew with where each came from. The aggregate doors read
causes through the shift_causes / shift_shortfall views (migration 0031), which carry no person.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from fleetpilot.api.causes.schemas import MissedSegment, NewCause
from fleetpilot.api.errors import invalid, made_on_phone
from fleetpilot.api.policy import OwnPerson, ShiftGrant, audit

MADE_AT_SLACK = timedelta(days=14)  # a queued cause may arrive late; an older "made at" is refused

# The shift's missed segments in plan order, each with its cause (the view) and street name.
MISSED = """
SELECT u.segment_id, st.name AS street, c.cause, c.source, mc.made_at
FROM shift_metrics m
CROSS JOIN LATERAL unnest(m.missed_segments) WITH ORDINALITY AS u(segment_id, i)
LEFT JOIN shift_causes c ON c.shift_id = m.shift_id AND c.segment_id = u.segment_id
LEFT JOIN missed_causes mc ON mc.shift_id = m.shift_id AND mc.segment_id = u.segment_id
LEFT JOIN street_segments st ON st.segment_id = u.segment_id
WHERE m.shift_id = $1
ORDER BY u.i
"""
# The causes I gave, on any shift (my data export).
GIVEN_BY = """
SELECT c.shift_id, c.segment_id, st.name AS street, c.cause, c.made_at
FROM missed_causes c LEFT JOIN street_segments st ON st.segment_id = c.segment_id
WHERE c.person_id = $1
ORDER BY c.made_at, c.shift_id, c.segment_id
"""
IS_MISSED = "SELECT $2 = ANY (missed_segments) FROM shift_metrics WHERE shift_id = $1"
# The phone's key makes a resend a no-op, and a cause chosen earlier than the stored one
# (a queue sent late) does not replace it. Returns a row only when something changed.
UPSERT = """
INSERT INTO missed_causes AS mc (shift_id, segment_id, cause, person_id, client_key, made_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (shift_id, segment_id) DO UPDATE
SET cause = EXCLUDED.cause, person_id = EXCLUDED.person_id, client_key = EXCLUDED.client_key,
    made_at = EXCLUDED.made_at, received_at = now()
WHERE mc.client_key <> EXCLUDED.client_key AND mc.made_at <= EXCLUDED.made_at
RETURNING cause
"""


async def missed(conn: asyncpg.Connection, grant: ShiftGrant) -> list[MissedSegment]:
    return [MissedSegment(**dict(r)) for r in await conn.fetch(MISSED, grant.shift_id)]


async def give_cause(conn: asyncpg.Connection, me: OwnPerson, grant: ShiftGrant, given: NewCause) -> bool:
    """Store the cause of one missed segment of my shift; True when it changed anything. Each
    change is appended to the audit log (who gave which cause, for which shift and segment; an
    admin reads it, it is not an access to anyone's data so it stays out of the crew's access log)."""
    made = made_on_phone(given.made_at, MADE_AT_SLACK)
    if not await conn.fetchval(IS_MISSED, grant.shift_id, given.segment_id):
        raise invalid(("body", "segment_id"), "not a missed segment of this shift", given.segment_id)
    async with conn.transaction():
        changed = await conn.fetchval(
            UPSERT, grant.shift_id, given.segment_id, given.cause, me.person_id, given.client_key, made
        )
        if changed is not None:
            await audit(
                conn,
                me.principal,
                "give_missed_cause",
                shift_id=grant.shift_id,
                detail={"segment_id": given.segment_id, "cause": given.cause, "made_at": made.isoformat()},
            )
    return changed is not None


async def given_by(conn: asyncpg.Connection, me: OwnPerson) -> list[dict]:
    """The causes I gave (shift, segment, street, cause, when), for the export of all my data."""
    return [dict(r) for r in await conn.fetch(GIVEN_BY, me.person_id)]
