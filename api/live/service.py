"""Latest position of each vehicle inside an on-duty shift, no older than the scope allows.

Off duty means private: a vehicle appears only while `as_of` falls inside one of its
shifts, and only fixes inside that shift window are considered (the ingest does not
store off-duty fixes; this query does not rely on that).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from fleetpilot.api.geojson import collection, feature, point
from fleetpilot.api.policy import LiveScope

# Shifts longer than this are not looked for (bounds the index scan on starts_at).
MAX_SHIFT_HOURS = 24

# $1 as_of, $2 max age (s), $3 max shift length (h).
ON_DUTY_POSITIONS = """
WITH now_ AS (SELECT $1::timestamptz AS t)
SELECT DISTINCT ON (s.vehicle_id)
       s.vehicle_id, s.route_id, s.shift_id, f.ts, f.lon, f.lat, f.speed_mps, f.heading_deg,
       extract(epoch FROM now_.t - f.ts)::float8 AS age_s
FROM now_
JOIN shifts s ON s.starts_at <= now_.t AND s.starts_at > now_.t - make_interval(hours => $3) AND s.ends_at > now_.t
CROSS JOIN LATERAL (
    SELECT ts, lon, lat, speed_mps, heading_deg FROM fixes
    WHERE vehicle_id = s.vehicle_id AND ts >= greatest(s.starts_at, now_.t - make_interval(secs => $2)) AND ts <= now_.t
    ORDER BY ts DESC LIMIT 1
) f
ORDER BY s.vehicle_id, f.ts DESC
"""


async def on_duty_positions(conn: asyncpg.Connection, scope: LiveScope) -> dict[str, Any]:
    rows = await conn.fetch(ON_DUTY_POSITIONS, scope.as_of, float(scope.max_age_s), MAX_SHIFT_HOURS)
    return collection(
        [
            feature(
                point(r["lon"], r["lat"]),
                vehicle_id=r["vehicle_id"],
                route_id=r["route_id"],
                shift_id=r["shift_id"],
                ts=r["ts"].isoformat(),
                age_s=float(r["age_s"]),
                speed_mps=r["speed_mps"],
                heading_deg=r["heading_deg"],
            )
            for r in rows
        ]
    )
