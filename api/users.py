"""User accounts: creating and listing them (used by `fleetpilot users`, the admin API and the demo)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from fleetpilot.api.auth.passwords import WeakPassword, hash_password
from fleetpilot.api.policy import ROLES
from fleetpilot.errors import FleetpilotError


class UserError(FleetpilotError):
    """A user cannot be created or changed as asked (duplicate name, bad role, unknown person...)."""


@dataclass(frozen=True)
class User:
    user_id: int
    username: str
    role: str
    person_id: str | None
    disabled: bool
    locked_until: datetime | None
    created_at: datetime


INSERT_USER = """
INSERT INTO users (username, password_hash, role, person_id, must_change_password) VALUES ($1, $2, $3, $4, $5)
RETURNING user_id
"""
LIST_USERS = """
SELECT user_id, username, role, person_id, disabled, locked_until, created_at FROM users ORDER BY user_id
"""
GET_USER = """
SELECT user_id, username, role, person_id, disabled, locked_until, created_at FROM users WHERE user_id = $1
"""
PERSON_EXISTS = "SELECT EXISTS (SELECT 1 FROM people WHERE person_id = $1)"
USERNAME_CHARS = 3, 64


def check_account(username: str, role: str, person_id: str | None) -> None:
    """The account rules: a known role, a sane name, and driver ⇔ linked to one person."""
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not USERNAME_CHARS[0] <= len(username) <= USERNAME_CHARS[1] or username != username.strip():
        raise UserError(f"usernames have {USERNAME_CHARS[0]}..{USERNAME_CHARS[1]} characters, no surrounding spaces")
    if (role == "driver") != (person_id is not None):
        raise UserError("a driver account is linked to exactly one person (--person); other roles to none")


async def create_user(
    conn: asyncpg.Connection,
    username: str,
    password: str,
    role: str,
    person_id: str | None = None,
    *,
    must_change_password: bool = False,
) -> int:
    """Create an account and return its user_id; the password is stored only as an Argon2id hash.
    `must_change_password`: the account reaches no data until its owner sets a new password
    (for accounts made by an admin, who knows the first password)."""
    check_account(username, role, person_id)
    if person_id is not None and not await conn.fetchval(PERSON_EXISTS, person_id):
        raise UserError(f"person {person_id!r} does not exist (import the roster first)")
    try:
        password_hash = await hash_password(password)
    except WeakPassword as exc:
        raise UserError(str(exc)) from None
    try:
        return await conn.fetchval(INSERT_USER, username, password_hash, role, person_id, must_change_password)
    except asyncpg.UniqueViolationError as exc:
        what = "person already has an account" if "person_id" in str(exc) else f"username {username!r} is taken"
        raise UserError(what) from None


async def list_users(conn: asyncpg.Connection) -> list[User]:
    return [User(**dict(r)) for r in await conn.fetch(LIST_USERS)]


async def get_user(conn: asyncpg.Connection, user_id: int) -> User | None:
    row = await conn.fetchrow(GET_USER, user_id)
    return User(**dict(row)) if row else None
