"""Sign-in with lockout after repeated failures, and sign-out by token revocation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from fleetpilot.api.auth.passwords import WeakPassword, hash_password, needs_rehash, verify_password
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


# Every attempt is counted as a failure *before* its password is checked, in one statement
# that also locks the account at the limit; a locked account's row is not returned. The row
# lock serialises parallel attempts and each re-reads `locked_until` after the previous one
# committed, so no more than `max_failures` attempts can have their password checked,
# however many arrive at once. A success then resets the counter.
CLAIM_ATTEMPT = """
UPDATE users SET failed_logins = failed_logins + 1,
    locked_until = CASE WHEN failed_logins + 1 >= $2 THEN now() + make_interval(mins => $3) ELSE locked_until END
WHERE username = $1 AND (locked_until IS NULL OR locked_until <= now())
RETURNING user_id, password_hash, role, disabled, token_version
"""
RECORD_SUCCESS = "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE user_id = $1"
REHASH = "UPDATE users SET password_hash = $2 WHERE user_id = $1"
REVOKE = "INSERT INTO token_revocations (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING"
FORGET_EXPIRED_REVOCATIONS = "DELETE FROM token_revocations WHERE expires_at < now()"
# A new password chosen by its owner: ends every other token (version) and the reset flag.
SET_OWN_PASSWORD = """
UPDATE users SET password_hash = $2, must_change_password = false, token_version = token_version + 1
WHERE user_id = $1 RETURNING token_version, role
"""
OWN_HASH = "SELECT password_hash FROM users WHERE user_id = $1"
# One answer for an unknown user, a wrong password, a disabled and a locked account.
REFUSED = "incorrect username or password, or the account is temporarily locked after repeated failures"


class SignInRefused(Exception):
    """Wrong username or password, a disabled account, or a locked one (not told apart)."""


@dataclass(frozen=True)
class SignedIn:
    token: str
    claims: Claims


async def sign_in(
    conn: asyncpg.Connection, keys: TokenKeys, lockout: Lockout, username: str, password: str
) -> SignedIn:
    row = await conn.fetchrow(CLAIM_ATTEMPT, username, lockout.max_failures, lockout.minutes)
    # Exactly one verification on every path (unknown and locked users verify a dummy hash),
    # so neither the answer nor its timing tells which user names exist or are locked.
    matches = await verify_password(row["password_hash"] if row else None, password)
    if row is None or not matches or row["disabled"]:
        raise SignInRefused(REFUSED)
    await conn.execute(RECORD_SUCCESS, row["user_id"])
    if needs_rehash(row["password_hash"]):
        await conn.execute(REHASH, row["user_id"], await hash_password(password, check_rules=False))
    token, claims = issue_access_token(keys, row["user_id"], row["role"], version=row["token_version"])
    return SignedIn(token, claims)


async def change_own_password(
    conn: asyncpg.Connection, keys: TokenKeys, user_id: int, current: str, new: str
) -> SignedIn:
    """The owner sets a new password (knowing the current one); every earlier token ends and
    a fresh one is returned. Raises SignInRefused for a wrong current password, WeakPassword
    for a new one that breaks the rules."""
    stored = await conn.fetchval(OWN_HASH, user_id)
    if not await verify_password(stored, current):
        raise SignInRefused("the current password is not correct")
    if new == current:
        raise WeakPassword("choose a password different from the current one")
    new_hash = await hash_password(new)
    row = await conn.fetchrow(SET_OWN_PASSWORD, user_id, new_hash)
    token, claims = issue_access_token(keys, user_id, row["role"], version=row["token_version"])
    return SignedIn(token, claims)


async def sign_out(conn: asyncpg.Connection, jti: str, expires_at: datetime) -> None:
    """Revoke one token until it would have expired anyway."""
    await conn.execute(REVOKE, jti, expires_at)
    await conn.execute(FORGET_EXPIRED_REVOCATIONS)
