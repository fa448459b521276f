"""Issuing, listing and revoking read-only API keys; every change is in the audit log."""

from __future__ import annotations

import secrets

import asyncpg

from fleetpilot.api.api_keys.schemas import ApiKeyIn, ApiKeyIssued, ApiKeyOut
from fleetpilot.api.policy import API_KEY_PREFIX, Principal, api_key_hash, audit

# 32 random bytes: guessing is hopeless, so a fast hash of the key is as safe as a slow one.
KEY_BYTES = 32
SHOWN_PREFIX_CHARS = 10
COLUMNS = "key_id, name, key_prefix, created_at, revoked_at, last_used_at"
INSERT = f"""
INSERT INTO api_keys (name, key_hash, key_prefix, created_by) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}
"""
LIST = f"SELECT {COLUMNS} FROM api_keys ORDER BY key_id"
REVOKE = f"""
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()), revoked_by = coalesce(revoked_by, $2)
WHERE key_id = $1 RETURNING {COLUMNS}
"""


class NoSuchKey(LookupError):
    """No API key has that id (the router answers 404)."""


async def issue(conn: asyncpg.Connection, actor: Principal, body: ApiKeyIn) -> ApiKeyIssued:
    key = API_KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
    async with conn.transaction():
        row = await conn.fetchrow(INSERT, body.name, api_key_hash(key), key[:SHOWN_PREFIX_CHARS], actor.user_id)
        await audit(conn, actor, "issue_api_key", detail={"key_id": row["key_id"], "name": body.name})
    return ApiKeyIssued(**dict(row), key=key)


async def keys(conn: asyncpg.Connection) -> list[ApiKeyOut]:
    return [ApiKeyOut(**dict(r)) for r in await conn.fetch(LIST)]


async def revoke(conn: asyncpg.Connection, actor: Principal, key_id: int) -> ApiKeyOut:
    """Revoke a key (at once: every request looks the key up). Revoking twice changes nothing."""
    async with conn.transaction():
        row = await conn.fetchrow(REVOKE, key_id, actor.user_id)
        if row is None:
            raise NoSuchKey(key_id)
        await audit(conn, actor, "revoke_api_key", detail={"key_id": key_id, "name": row["name"]})
    return ApiKeyOut(**dict(row))
