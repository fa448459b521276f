"""A little city for the tests of the outward doors (OGC layers, open-data release): streets,
a facility, a planned stop and the analytics frame, added to the API tests' seeded world so
that every layer has geometry. Importable as `gis_city`."""

from __future__ import annotations

import json

import asyncpg

STREETS = (("seg-a", [[13.40, 52.50], [13.41, 52.50]]), ("seg-b", [[13.41, 52.50], [13.41, 52.51]]))
DEPOT = {"type": "Polygon", "coordinates": [[[13.39, 52.49], [13.395, 52.49], [13.395, 52.495], [13.39, 52.49]]]}


async def seed_city(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "INSERT INTO fleetpilot_meta (key, value) VALUES ('analytics_frame', '13.4,52.5') ON CONFLICT DO NOTHING"
    )
    for segment, line in STREETS:
        await conn.execute(
            "INSERT INTO street_segments (segment_id, name, road_class, speed_limit_kmh, geometry) "
            "VALUES ($1, 'Main St', 'residential', 30, $2::text::jsonb) ON CONFLICT DO NOTHING",
            segment,
            f'{{"type": "LineString", "coordinates": {line}}}',
        )
    await conn.execute(
        "INSERT INTO route_stops (route_id, version, seq, stop_id, segment_id, lon, lat) "
        "VALUES ('r-north', 1, 1, 'stop-1', 'seg-a', 13.405, 52.5) ON CONFLICT DO NOTHING"
    )
    await conn.execute(
        "INSERT INTO facilities (facility_id, facility_type, name, geometry) "
        "VALUES ('depot-1', 'depot', 'North depot', $1::text::jsonb) ON CONFLICT DO NOTHING",
        json.dumps(DEPOT),
    )
