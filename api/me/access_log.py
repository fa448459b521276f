"""A person's view of who opened their data, when and why (from the append-only audit log)."""

from __future__ import annotations

import asyncpg

from fleetpilot.api.me.schemas import AccessEntry, AccessLog
from fleetpilot.api.policy import OwnPerson

MY_ACCESS_LOG = """
SELECT a.at, u.username AS actor, a.actor_role, a.action, a.shift_id, a.purpose, count(*) OVER () AS total
FROM audit_log a LEFT JOIN users u ON u.user_id = a.actor_user_id
WHERE a.subject_person_id = $1
ORDER BY a.at DESC, a.audit_id DESC
LIMIT $2 OFFSET $3
"""


async def my_access_log(conn: asyncpg.Connection, me: OwnPerson, limit: int, offset: int) -> AccessLog:
    rows = await conn.fetch(MY_ACCESS_LOG, me.person_id, limit, offset)
    return AccessLog(
        entries=[AccessEntry(**{k: r[k] for k in AccessEntry.model_fields}) for r in rows],
        total=rows[0]["total"] if rows else 0,
    )
