"""Bearer tokens of the HTTP ways in: ``fpt_<token_id>_<secret>``.

One per Traccar server (it forwards for every device it decodes) or per OwnTracks phone
(the token *is* that phone's identity). Only SHA-256 of the secret is stored: the secret is
32 random bytes, so there is nothing for a slow password hash to protect against, and a
constant-time comparison of the digests decides. Revoked tokens stay (audit), refused.
Every request reads its token's row, so a revocation holds from the next request on.
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
SELECT t.dialect, t.device_id, t.revoked_at IS NOT NULL AS revoked, t.secret_sha256, d.external_id
FROM ingest_tokens t LEFT JOIN devices d USING (device_id)
WHERE t.token_id = $1
"""
INSERT = """
INSERT INTO ingest_tokens (token_id, dialect, label, device_id, secret_sha256) VALUES ($1, $2, $3, $4, $5)
"""
REVOKE = "UPDATE ingest_tokens SET revoked_at = now() WHERE token_id = $1 AND revoked_at IS NULL"


@dataclass(frozen=True)
class TokenHolder:
    dialect: str
    device_id: str | None  # OwnTracks: the phone; Traccar: None (a server)
    external_id: str | None  # OwnTracks: '<user>/<device>'


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


async def verify(conn: asyncpg.Connection, token: str, dialect: str) -> TokenHolder | None:
    """Who `token` speaks for on `dialect`'s endpoint, or None (malformed, unknown, revoked,
    another dialect's)."""
    match = TOKEN.match(token)
    if match is None:
        return None
    row = await conn.fetchrow(LOOKUP, match.group(1))
    if row is None or row["revoked"] or row["dialect"] != dialect:
        return None
    if not hmac.compare_digest(row["secret_sha256"], _digest(match.group(2))):
        return None
    return TokenHolder(row["dialect"], row["device_id"], row["external_id"])
