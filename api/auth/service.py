"""Sign-in with lockout after repeated failures, and sign-out by token revocation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from fleetpilot.api.auth.passwords import hash_password, needs_rehash, verify_password
from fleetpilot.api.auth.tokens import Claims, TokenKeys, issue_access_token
from fleetpilot.settings import Settings


@dataclass(frozen=True)
class Lockout:
    """After `max_failures` consecutive failures the account is locked for `minutes`; while
    locked no password is even checked, and a failure right after the lock ends re-locks
    it (the counter is only reset by a successful sign-in), so guessing stays slow."""

    max_failures: int
    minutes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Lockout:
        return cls(settings.login_max_failures, settings.login_lockout_minutes)


FIND_USER = """
SELECT user_id, password_hash, role, disabled, locked_until, locked_until > now() AS locked
FROM users WHERE username = $1
"""
RECORD_FAILURE = """
UPDATE users SET failed_logins = failed_logins + 1,
    locked_until = CASE WHEN failed_logins + 1 >= $2 THEN now() + make_interval(mins => $3) ELSE locked_until END
WHERE user_id = $1
"""
RECORD_SUCCESS = "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE user_id = $1"
REHASH = "UPDATE users SET password_hash = $2 WHERE user_id = $1"
REVOKE = "INSERT INTO token_revocations (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING"
FORGET_EXPIRED_REVOCATIONS = "DELETE FROM token_revocations WHERE expires_at < now()"


class SignInRefused(Exception):
    """Wrong username or password, a disabled account, or a locked one (not told apart)."""


@dataclass(frozen=True)
class SignedIn:
    token: str
    claims: Claims


async def sign_in(
    conn: asyncpg.Connection, keys: TokenKeys, lockout: Lockout, username: str, password: str
) -> SignedIn:
    row = await conn.fetchrow(FIND_USER, username)
    if row is not None and row["locked"]:
        raise SignInRefused("account temporarily locked after repeated failed sign-ins")
    # Verify even for unknown users so timing does not reveal which usernames exist.
    matches = await verify_password(row["password_hash"] if row else None, password)
    if row is None or not matches or row["disabled"]:
        if row is not None:
            await conn.execute(RECORD_FAILURE, row["user_id"], lockout.max_failures, lockout.minutes)
        raise SignInRefused("incorrect username or password")
    await conn.execute(RECORD_SUCCESS, row["user_id"])
    if needs_rehash(row["password_hash"]):
        await conn.execute(REHASH, row["user_id"], await hash_password(password, check_rules=False))
    token, claims = issue_access_token(keys, row["user_id"], row["role"])
    return SignedIn(token, claims)


async def sign_out(conn: asyncpg.Connection, jti: str, expires_at: datetime) -> None:
    """Revoke one token until it would have expired anyway."""
    await conn.execute(REVOKE, jti, expires_at)
    await conn.execute(FORGET_EXPIRED_REVOCATIONS)
