"""fleetpilot import-plan: load city.geojson, routes.geojson and roster.json into the database."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from fleetpilot.db.connect import connect, resolve_database_url
from fleetpilot.db.importer import InvalidPlan, import_city, import_roster, import_routes
from fleetpilot.settings import Settings

HELP = "import the city (streets, facilities), route plans and roster (vehicles, people, shifts) from a folder"
FILES = ("city.geojson", "routes.geojson", "roster.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help=f"folder holding any of {', '.join(FILES)} (e.g. a simulator run)")
    parser.add_argument("--by", default="import", help="recorded as the author of new route versions")


def run(args: argparse.Namespace, settings: Settings) -> int:
    found = {name: args.folder / name for name in FILES if (args.folder / name).is_file()}
    if not found:
        raise InvalidPlan(f"{args.folder} holds none of {', '.join(FILES)}")
    loaded = {}
    for name, path in found.items():
        try:
            loaded[name] = json.loads(path.read_text())
        except ValueError as exc:
            raise InvalidPlan(f"{path} is not valid JSON: {exc}") from None
    return asyncio.run(_run(resolve_database_url(settings), loaded, args.by))


async def _run(url: str, loaded: dict, author: str) -> int:
    conn = await connect(url)
    try:
        # Order matters: shifts point at the route version current when they arrive.
        if "city.geojson" in loaded:
            print("city:", await import_city(conn, loaded["city.geojson"]))
        if "routes.geojson" in loaded:
            print(
                "routes (id: current version):", await import_routes(conn, loaded["routes.geojson"], created_by=author)
            )
        if "roster.json" in loaded:
            print("roster:", await import_roster(conn, loaded["roster.json"]))
    finally:
        await conn.close()
    return 0
