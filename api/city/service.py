"""Streets, facilities and turn restrictions as one GeoJSON layer for the maps, with a strong validator.

The layer changes only when the city is imported (migration 0008 stores a version with each
write to street_segments or facilities), so each process keeps the bytes of the current
version and their ETag (a hash of the bytes themselves, so equal tags mean equal bodies,
whatever the code that built them). Only the version is read per request; authorization is
the gate's, per request, before any of this.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from fleetpilot.api.compression import GZIP_LEVEL
from fleetpilot.api.geojson import collection, feature, point

STREETS = """
SELECT segment_id, name, road_class, speed_limit_kmh, one_way, geometry FROM street_segments ORDER BY segment_id
"""
# One marker per restriction relation and via node (migration 0035 keeps its forbidden turns).
TURN_RESTRICTIONS = """
SELECT source, restriction, via_lon, via_lat,
       array_agg(DISTINCT from_segment_id ORDER BY from_segment_id) AS from_segment_ids,
       array_agg(DISTINCT to_segment_id ORDER BY to_segment_id) AS to_segment_ids
FROM street_turn_restrictions
GROUP BY source, restriction, via_lon, via_lat
ORDER BY source, via_lon, via_lat
"""
FACILITIES = "SELECT facility_id, facility_type, name, geometry FROM facilities ORDER BY facility_id"
# The layer's identity: database (a process may be pointed at another one) and version.
STATE = """
SELECT current_database() AS db, inet_server_port() AS port,
       (SELECT value FROM fleetpilot_meta WHERE key = 'city_version') AS version
"""


# Browsers ask for gzip: the layer's bytes are compressed once per version and process, not by
# the GZip middleware on every first download (2.7 MB of JSON on the bench month's city, 8 731
# streets: ~80 ms of CPU per request; 276 kB once compressed).


@dataclass(frozen=True)
class CityLayer:
    body: bytes
    etag: str  # strong: quoted hash of body

    @property
    def gzip_etag(self) -> str:
        """The gzip representation's own strong tag (RFC 9110: one per content coding)."""
        return self.etag[:-1] + '-gzip"'


_gzipped: dict[str, bytes] = {}  # etag -> body compressed; one entry


async def gzipped(layer: CityLayer) -> bytes:
    """The layer's body gzip-compressed, made once per version (in a worker thread, so the
    event loop is not held: ~0.1 s of CPU for the bench month's city)."""
    data = _gzipped.get(layer.etag)
    if data is None:
        data = await asyncio.to_thread(gzip.compress, layer.body, GZIP_LEVEL, mtime=0)
        _gzipped.clear()
        _gzipped[layer.etag] = data
    return data


_kept: dict[tuple, CityLayer] = {}  # (db, port, version) -> the layer; one entry


async def city_layer(conn: asyncpg.Connection) -> CityLayer:
    state = tuple(await conn.fetchrow(STATE))
    kept = _kept.get(state)
    if kept is not None:
        return kept
    # Version and rows from one snapshot: the bytes kept are exactly those of that version.
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        state = tuple(await conn.fetchrow(STATE))
        layer = _layer(await conn.fetch(STREETS), await conn.fetch(FACILITIES), await conn.fetch(TURN_RESTRICTIONS))
    if state[2] is not None:  # without migration 0008 nothing is kept (no version to check)
        _kept.clear()
        _kept[state] = layer
    return layer


def _layer(streets: list[asyncpg.Record], facilities: list[asyncpg.Record], turns: list[asyncpg.Record]) -> CityLayer:
    features: list[dict[str, Any]] = [
        feature(
            r["geometry"],
            kind="street",
            segment_id=r["segment_id"],
            name=r["name"],
            road_class=r["road_class"],
            speed_limit_kmh=r["speed_limit_kmh"],
            one_way=r["one_way"],
        )
        for r in streets
    ]
    features += [
        feature(
            r["geometry"],
            kind="facility",
            facility_id=r["facility_id"],
            facility_type=r["facility_type"],
            name=r["name"],
        )
        for r in facilities
    ]
    # Points at the via node; ``forbidden_to`` are the segments a truck may not turn onto from ``from``.
    features += [
        feature(
            point(r["via_lon"], r["via_lat"]),
            kind="turn_restriction",
            restriction=r["restriction"],
            from_segment_ids=list(r["from_segment_ids"]),
            forbidden_to=list(r["to_segment_ids"]),
            source=r["source"],
        )
        for r in turns
    ]
    body = orjson.dumps(collection(features))
    return CityLayer(body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
