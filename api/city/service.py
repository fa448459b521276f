"""Streets and facilities as one GeoJSON layer for the maps."""
from __future__ import annotations

from typing import Any

import asyncpg

from fleetpilot.api.geojson import collection, feature

STREETS = """
SELECT segment_id, name, road_class, speed_limit_kmh, one_way, geometry FROM street_segments ORDER BY segment_id
"""
FACILITIES = "SELECT facility_id, facility_type, name, geometry FROM facilities ORDER BY facility_id"


async def city_layer(conn: asyncpg.Connection) -> dict[str, Any]:
    features = [feature(r["geometry"], kind="street", segment_id=r["segment_id"], name=r["name"],
                        road_class=r["road_class"], speed_limit_kmh=r["speed_limit_kmh"], one_way=r["one_way"])
                for r in await conn.fetch(STREETS)]
    features += [feature(r["geometry"], kind="facility", facility_id=r["facility_id"],
                         facility_type=r["facility_type"], name=r["name"])
                 for r in await conn.fetch(FACILITIES)]
    return collection(features)
