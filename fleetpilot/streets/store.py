"""Writing an imported street network to street_segments: idempotent, and loud about plans.

The file is the city's network: segments it holds are added or updated, segments it no
longer holds are removed. Nothing is written for an unchanged segment, so importing the same
file twice changes nothing (not even the city layer's version, migration 0008). Route plans
are never rewritten here: a current plan that references a changed or removed segment is
reported, for a supervisor to re-plan (docs/streets.md).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import asyncpg

from fleetpilot.db.importer import UPSERT_STREET, init_codecs
from fleetpilot.streets.network import Segment, lengths_m
from fleetpilot.streets.restrictions import Turn

EXISTING = "SELECT segment_id, name, road_class, speed_limit_kmh, one_way, geometry FROM street_segments"
# Current plans' segments among $1 (changed or removed ids).
PLANS_TOUCHED = """
SELECT rs.route_id, array_agg(DISTINCT rs.segment_id ORDER BY rs.segment_id) AS segments
FROM routes r JOIN route_segments rs ON rs.route_id = r.route_id AND rs.version = r.current_version
WHERE rs.segment_id = ANY($1::text[])
GROUP BY rs.route_id ORDER BY rs.route_id
"""
TURNS = "SELECT from_segment_id, via_lon, via_lat, to_segment_id, restriction, source FROM street_turn_restrictions"
UPSERT_TURN = """
INSERT INTO street_turn_restrictions (from_segment_id, via_lon, via_lat, to_segment_id, restriction, source)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (from_segment_id, via_lon, via_lat, to_segment_id) DO UPDATE
SET restriction = EXCLUDED.restriction, source = EXCLUDED.source
"""
DELETE_TURN = """
DELETE FROM street_turn_restrictions
WHERE from_segment_id = $1 AND via_lon = $2 AND via_lat = $3 AND to_segment_id = $4
"""


@dataclass
class StreetsReport:
    segments: int
    km: float
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    classes: dict[str, int] = field(default_factory=dict)
    lines_with_maxspeed: int = 0  # input lines whose limit came from the file (the rest: class defaults)
    one_way: int = 0
    plans_to_review: dict[str, list[str]] = field(default_factory=dict)  # route -> changed/removed segments
    turn_restrictions: int | None = None  # forbidden turns the file gives (None: not read, left as stored)
    turns_added: int = 0
    turns_removed: int = 0


def _row(s: Segment) -> tuple:
    return (s.segment_id, s.name, s.road_class, s.speed_limit_kmh, s.one_way, s.geojson())


def _same(stored: asyncpg.Record, row: tuple) -> bool:
    _, name, road_class, speed, one_way, geometry = row
    return (
        stored["name"] == name
        and stored["road_class"] == road_class
        and abs(float(stored["speed_limit_kmh"]) - speed) < 0.05
        and stored["one_way"] == one_way
        and stored["geometry"] == geometry
    )


async def store_streets(
    conn: asyncpg.Connection,
    segments: list[Segment],
    from_maxspeed: int = 0,
    keep_missing: bool = False,
    turns: list[Turn] | None = None,
) -> StreetsReport:
    """Make street_segments hold `segments` (and, with keep_missing, whatever else it held), and
    street_turn_restrictions hold `turns` likewise (None: the restrictions are left as they are,
    but for those on removed segments)."""
    await init_codecs(conn)
    rows = [_row(s) for s in segments]
    report = StreetsReport(
        segments=len(rows),
        km=round(float(lengths_m(segments).sum()) / 1000, 3),
        classes=dict(Counter(s.road_class for s in segments).most_common()),
        lines_with_maxspeed=from_maxspeed,
        one_way=sum(s.one_way for s in segments),
    )
    async with conn.transaction():
        existing = {r["segment_id"]: r for r in await conn.fetch(EXISTING)}
        write = [row for row in rows if row[0] not in existing or not _same(existing[row[0]], row)]
        report.added = sum(row[0] not in existing for row in write)
        report.changed = len(write) - report.added
        report.unchanged = len(rows) - len(write)
        new_ids = {row[0] for row in rows}
        removed = [] if keep_missing else sorted(set(existing) - new_ids)
        report.removed = len(removed)
        if write:
            await conn.executemany(UPSERT_STREET, write)
        if removed:
            await conn.execute("DELETE FROM street_segments WHERE segment_id = ANY($1::text[])", removed)
        if turns is not None:
            await _store_turns(conn, turns, keep_missing, report)
        touched = removed + [row[0] for row in write if row[0] in existing]
        if touched:
            report.plans_to_review = {
                r["route_id"]: list(r["segments"]) for r in await conn.fetch(PLANS_TOUCHED, touched)
            }
    return report


def _turn_row(t: Turn | asyncpg.Record) -> tuple:
    if isinstance(t, Turn):
        return (t.from_segment_id, t.via_lon, t.via_lat, t.to_segment_id, t.restriction, t.source)
    return tuple(t)


async def _store_turns(conn: asyncpg.Connection, turns: list[Turn], keep_missing: bool, report: StreetsReport) -> None:
    """Only the differences are written, so an unchanged file leaves the city's version alone."""
    new = {row[:4]: row for row in map(_turn_row, turns)}
    old = {row[:4]: row for row in map(_turn_row, await conn.fetch(TURNS))}
    gone = [] if keep_missing else [key for key in old if key not in new]
    write = [row for key, row in new.items() if old.get(key) != row]
    if gone:
        await conn.executemany(DELETE_TURN, gone)
    if write:
        await conn.executemany(UPSERT_TURN, write)
    report.turn_restrictions = len(new)
    report.turns_added = sum(row[:4] not in old for row in write)
    report.turns_removed = len(gone)
