"""fleetpilot migrate: bring the database schema up to date."""

from __future__ import annotations

import argparse
import asyncio

from fleetpilot.db.connect import connect, resolve_database_url
from fleetpilot.db.migrate import recorded_mode
from fleetpilot.db.schema import prepare
from fleetpilot.settings import Settings
from fleetpilot.urls import redact

HELP = "apply pending schema migrations (TimescaleDB when available, else native partitioning)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mode", choices=["auto", "timescale", "native"], help="storage mode for a new database (default: settings)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.mode:
        settings = settings.model_copy(update={"storage_mode": args.mode})
    url = resolve_database_url(settings)
    return asyncio.run(_run(url, settings))


async def _run(url: str, settings: Settings) -> int:
    conn = await connect(url)
    try:
        applied = await prepare(conn, settings)
        mode = await recorded_mode(conn)
    finally:
        await conn.close()
    print(f"database: {redact(url)}")
    print(f"storage mode: {mode}")
    if applied:
        for migration in applied:
            print(
                f"applied {migration.version:04d}_{migration.name} ({mode if 'common' not in migration.variants else 'common'})"
            )
    else:
        print("schema up to date; nothing to apply")
    return 0
