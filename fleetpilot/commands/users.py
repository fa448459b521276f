"""fleetpilot users: create and list the API's user accounts."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from datetime import datetime, timezone

from fleetpilot.db.connect import connect, resolve_database_url
from fleetpilot.settings import Settings

HELP = "create (users add) and list (users list) API accounts: driver, supervisor, data_officer, admin"
ROLES = ("driver", "supervisor", "data_officer", "admin")
GENERATED_PASSWORD_BYTES = 12


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="create a user; prints a generated password unless --password-stdin")
    add.add_argument("--username", required=True)
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--person", help="the person a driver account belongs to (pseudonymous id, e.g. p-…)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    sub.add_parser("list", help="list users (no passwords)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    url = resolve_database_url(settings)
    if args.action == "list":
        return asyncio.run(_list(url))
    generated = not args.password_stdin
    password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES) if generated else sys.stdin.readline().rstrip("\r\n")
    user_id = asyncio.run(_add(url, args.username, password, args.role, args.person))
    print(
        f"created user {args.username} (id {user_id}, role {args.role}"
        + (f", person {args.person})" if args.person else ")")
    )
    if generated:
        print(f"password: {password}")
    return 0


async def _add(url: str, username: str, password: str, role: str, person: str | None) -> int:
    from fleetpilot.api.users import create_user

    conn = await connect(url)
    try:
        return await create_user(conn, username, password, role, person)
    finally:
        await conn.close()


async def _list(url: str) -> int:
    from fleetpilot.api.users import list_users

    conn = await connect(url)
    try:
        users = await list_users(conn)
    finally:
        await conn.close()
    print(f"{'id':>4}  {'username':<24} {'role':<13} {'person':<16} state")
    for user in users:
        locked = user.locked_until is not None and user.locked_until > datetime.now(timezone.utc)
        state = "disabled" if user.disabled else ("locked" if locked else "active")
        print(f"{user.user_id:>4}  {user.username:<24} {user.role:<13} {user.person_id or '-':<16} {state}")
    return 0
