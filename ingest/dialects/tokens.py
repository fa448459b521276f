"""Bearer tokens of the HTTP ways in: ``fpt_<token_id>_<secret>``.

One per Traccar server (it forwards for every device it decodes) or per OwnTracks phone
(the token *is* that phone's identity). Only SHA-256 of the secret is stored: the secret is
32 random bytes, so there is nothing for a slow password hash to protect against, and a
constant-time comparison of the digests decides. Revoked tokens stay (audit), refused.
A revocation holds from the next request on: the HTTP door (ingest/http.py) keeps a token's
row once read (its secret's digest, dialect, device), but every transaction that stores a
request's rows reads whether its tokens were revoked (ingest.write.SIDE_TABLES_AND_REVOKED,
in that transaction, which rolls back if any was), and a revoked token's requests are answered 401 with nothing stored. Rows not yet held are
read for all requests waiting at once in one query (`lookup`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import asyncpg

TOKEN = re.compile(r"^fpt_([a-z0-9]{8,32})_([A-Za-z0-9_-]{20,100})$")
LOOKUP = """
SELECT t.token_id, t.dialect, t.device_id, t.revoked_at IS NOT NULL AS revoked, t.secret_sha256, d.external_id
FROM ingest_tokens t LEFT JOIN devices d USING (device_id)
WHERE t.token_id = ANY($1::text[])
"""
# In the transaction that stores requests' rows: which of their tokens were revoked since.
INSERT = """
INSERT INTO ingest_tokens (token_id, dialect, label, device_id, secret_sha256) VALUES ($1, $2, $3, $4, $5)
"""
REVOKE = "UPDATE ingest_tokens SET revoked_at = now() WHERE token_id = $1 AND revoked_at IS NULL"


@dataclass(frozen=True)
class TokenHolder:
    dialect: str
    device_id: str | None  # OwnTracks: the phone; Traccar: None (a server)
    external_id: str | None  # OwnTracks: '<user>/<device>'
    token_id: str | None = None


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def issue(conn: asyncpg.Connection, dialect: str, label: str, device_id: str | None = None) -> tuple[str, str]:
    """A new token: (token_id, the full token, shown once)."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    await conn.execute(INSERT, token_id, dialect, label, device_id, _digest(secret))
    return token_id, f"fpt_{token_id}_{secret}"


async def revoke(conn: asyncpg.Connection, token_id: str) -> bool:
    return (await conn.execute(REVOKE, token_id)).endswith(" 1")


def token_id(token: str) -> str | None:
    """The id part of a well-formed token, else None (nothing to look up)."""
    match = TOKEN.match(token)
    return match.group(1) if match is not None else None


async def lookup(conn: asyncpg.Connection, token_ids: list[str]) -> dict[str, asyncpg.Record]:
    """The stored rows of `token_ids` (unknown ids are absent), in one query."""
    return {row["token_id"]: row for row in await conn.fetch(LOOKUP, token_ids)}


def holder(row, token: str, dialect: str) -> TokenHolder | None:
    """Who `token` speaks for on `dialect`'s endpoint given its stored `row`, or None
    (malformed, unknown, revoked, another dialect's, wrong secret)."""
    match = TOKEN.match(token)
    if match is None or row is None or row["revoked"] or row["dialect"] != dialect:
        return None
    if not hmac.compare_digest(row["secret_sha256"], _digest(match.group(2))):
        return None
    return TokenHolder(row["dialect"], row["device_id"], row["external_id"], row["token_id"])


async def verify(conn: asyncpg.Connection, token: str, dialect: str) -> TokenHolder | None:
    """Who `token` speaks for on `dialect`'s endpoint, or None (one token, one query)."""
    tid = token_id(token)
    if tid is None:
        return None
    return holder((await lookup(conn, [tid])).get(tid), token, dialect)
