"""fleetpilot goals: the KPI catalogue, the pilot's goals, and defining or changing one (versioned, audited)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import date

from fleetpilot.db.connect import connect, resolve_database_url
from fleetpilot.settings import Settings

HELP = "the pilot's goals: list the KPI catalogue and the goals, define or change one (a new version, audited)"
# The user a change is recorded for: a data officer or an admin, as through the API.
WRITERS = ("data_officer", "admin")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("catalogue", help="the KPIs a goal can measure, with their definitions")
    sub.add_parser("list", help="the current version of every goal")
    put = sub.add_parser("set", help="define a goal, or change one (its earlier versions stay)")
    put.add_argument("goal_id", help="short id: lower-case letters, digits and dashes")
    put.add_argument("--as", dest="username", required=True, help="the data officer or admin making the change")
    put.add_argument("--kpi", required=True, help="a key of `fleetpilot goals catalogue`")
    put.add_argument("--title", required=True)
    put.add_argument("--definition", required=True, help="what the city means by the goal, in words")
    put.add_argument("--baseline-from", type=date.fromisoformat, required=True, help="first local day of the baseline")
    put.add_argument("--baseline-to", type=date.fromisoformat, required=True, help="local day after the baseline")
    put.add_argument("--target", type=float, required=True)
    put.add_argument("--direction", choices=("at_least", "at_most"), required=True)
    put.add_argument("--department", required=True, help="the department that owns the goal")
    put.add_argument("--retire", action="store_true", help="the goal no longer counts (its history stays)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from fleetpilot.api.goals import service

    if args.action == "catalogue":
        for kpi in service.catalogue():
            print(f"{kpi['key']:<28} {kpi['title']} ({kpi['unit']}; better: {kpi['better']})\n    {kpi['definition']}")
        return 0
    return asyncio.run(_run(args, resolve_database_url(settings)))


async def _run(args: argparse.Namespace, url: str) -> int:
    from fleetpilot.api import policy
    from fleetpilot.api.goals import service
    from fleetpilot.errors import ConfigError

    conn = await connect(url)
    try:
        if args.action == "list":
            for g in await service.list_goals(conn):
                sign = "≥" if g["direction"] == "at_least" else "≤"
                print(
                    f"{g['goal_id']} v{g['version']}: {g['title']} — {g['kpi']} {sign} {g['target']:g} "
                    f"(baseline {g['baseline_from']} to {g['baseline_to']}; {g['department']})"
                )
            return 0
        user = await conn.fetchrow(
            "SELECT user_id, username, role, person_id FROM users WHERE username = $1 AND NOT disabled", args.username
        )
        if user is None or user["role"] not in WRITERS:
            raise ConfigError(f"{args.username!r} is not an enabled data officer or admin")
        goal = service.GoalIn(
            goal_id=args.goal_id,
            kpi=args.kpi,
            title=args.title,
            definition=args.definition,
            baseline_from=args.baseline_from,
            baseline_to=args.baseline_to,
            target=args.target,
            direction=args.direction,
            department=args.department,
            retired=args.retire,
        )
        try:
            version = await service.save_goal(conn, goal, policy.Principal(**dict(user)))
        except (service.GoalError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
        except Exception as exc:  # the table's checks (id, lengths): one line, not a traceback
            if type(exc).__module__.startswith("asyncpg"):
                raise ConfigError(str(exc)) from None
            raise
        print(f"goal {args.goal_id} v{version} saved")
        return 0
    finally:
        await conn.close()
