"""fleetpilot import-streets: a real street network (OSM extract or GIS centre lines) → street_segments."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict
from pathlib import Path

from fleetpilot.db.connect import connect, resolve_database_url
from fleetpilot.settings import Settings
from fleetpilot.streets.network import DEFAULT_SPEED_KMH, layer_geojson, parse_maxspeed, split
from fleetpilot.streets.read import read_lines
from fleetpilot.streets.restrictions import file_turns
from fleetpilot.streets.store import store_streets

HELP = (
    "import a street network from an OSM extract (.osm.pbf) or GIS centre lines (GeoJSON, GeoPackage, "
    "Shapefile): segments split at intersections, OSM turn restrictions as forbidden turns; re-importing is idempotent; plans on changed streets are reported"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="an .osm.pbf extract, or a GeoJSON / GeoPackage / Shapefile of lines")
    parser.add_argument(
        "--keep-missing", action="store_true", help="keep stored segments the file does not hold (default: remove them)"
    )
    parser.add_argument(
        "--geojson",
        type=Path,
        metavar="OUT",
        help="also write the segments as a GeoJSON street layer (what `fleetsim --streets` drives on)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    lines = read_lines(args.file)
    segments = split(lines)
    from_file = sum(parse_maxspeed(ln.maxspeed) is not None for ln in lines if ln.road_class in DEFAULT_SPEED_KMH)
    turns = file_turns(args.file, segments)
    report = asyncio.run(_store(resolve_database_url(settings), segments, from_file, args.keep_missing, turns.turns))
    if args.geojson:
        args.geojson.write_text(json.dumps(layer_geojson(segments, turns.turns)))
    restrictions = {"restriction_relations": turns.relations, "restrictions_skipped": turns.skipped}
    print(json.dumps({"file": str(args.file), "lines_read": len(lines), **asdict(report), **restrictions}, indent=2))
    if report.plans_to_review:
        print(
            f"{len(report.plans_to_review)} current route plan(s) use changed or removed segments: review them "
            "(fleetpilot import-plan, or the plans page)",
        )
    return 0


async def _store(url: str, segments, from_file: int, keep_missing: bool, turns):
    conn = await connect(url)
    try:
        return await store_streets(conn, segments, from_file, keep_missing, turns)
    finally:
        await conn.close()
