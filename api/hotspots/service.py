"""Hotspots from segment_exposure / cell_exposure over a day range, k-suppressed in SQL.

Only units (segments, cells) passed in at least k_min_shifts distinct shifts by at least
k_min_people distinct people leave the database (the others are only counted); the reference rate is taken
over those units only, so nothing about a suppressed unit can be recovered by subtraction.
"""
from __future__ import annotations

import asyncpg
import numpy as np

from fleetpilot.api.hotspots.schemas import Hotspots, HotspotUnit, Level
from fleetpilot.api.hotspots.scoring import score
from fleetpilot.api.policy import AggregateScope

# $1 first day, $2 day after the last, $3 k shifts, $4 k people. Rows: the visible units, each
# with the number of suppressed ones (one row with unit_id NULL when none is visible).
SEGMENTS = """
WITH e AS (
    SELECT segment_id, shift_id, passes, harsh_brake, speeding FROM segment_exposure WHERE day >= $1 AND day < $2
),
agg AS (
    SELECT segment_id, count(DISTINCT shift_id) AS shifts, sum(passes) AS passes,
           sum(harsh_brake) AS harsh_brake, sum(speeding) AS speeding
    FROM e GROUP BY segment_id
),
people AS (
    SELECT e.segment_id, count(DISTINCT c.person_id) AS people
    FROM e JOIN shift_crew c ON c.shift_id = e.shift_id GROUP BY e.segment_id
),
judged AS (
    SELECT agg.*, (agg.shifts >= $3 AND coalesce(p.people, 0) >= $4) AS visible
    FROM agg LEFT JOIN people p ON p.segment_id = agg.segment_id
)
SELECT n.suppressed, v.*
FROM (SELECT count(*) FILTER (WHERE NOT visible) AS suppressed FROM judged) n
LEFT JOIN (
    SELECT j.segment_id AS unit_id, st.name, st.geometry, j.passes, j.harsh_brake, 0::bigint AS harsh_accel,
           0::bigint AS harsh_corner, j.speeding
    FROM judged j LEFT JOIN street_segments st ON st.segment_id = j.segment_id
    WHERE j.visible
) v ON true
"""
CELLS = """
WITH e AS (
    SELECT cell_id, shift_id, passes, harsh_brake, harsh_accel, harsh_corner, speeding
    FROM cell_exposure WHERE day >= $1 AND day < $2
),
agg AS (
    SELECT cell_id, count(DISTINCT shift_id) AS shifts, sum(passes) AS passes, sum(harsh_brake) AS harsh_brake,
           sum(harsh_accel) AS harsh_accel, sum(harsh_corner) AS harsh_corner, sum(speeding) AS speeding
    FROM e GROUP BY cell_id
),
people AS (
    SELECT e.cell_id, count(DISTINCT c.person_id) AS people
    FROM e JOIN shift_crew c ON c.shift_id = e.shift_id GROUP BY e.cell_id
),
judged AS (
    SELECT agg.*, (agg.shifts >= $3 AND coalesce(p.people, 0) >= $4) AS visible
    FROM agg LEFT JOIN people p ON p.cell_id = agg.cell_id
)
SELECT n.suppressed, v.*
FROM (SELECT count(*) FILTER (WHERE NOT visible) AS suppressed FROM judged) n
LEFT JOIN (
    SELECT cell_id::text AS unit_id, NULL::text AS name, NULL::jsonb AS geometry, passes, harsh_brake, harsh_accel,
           harsh_corner, speeding
    FROM judged WHERE visible
) v ON true
"""
QUERIES = {"segment": SEGMENTS, "cell": CELLS}


async def hotspots(conn: asyncpg.Connection, scope: AggregateScope, level: Level, kind: str,
                   min_passes: int = 1) -> Hotspots:
    """Units of `level` scored for event `kind` (a column of the exposure rollup)."""
    rows = await conn.fetch(QUERIES[level], scope.start, scope.end, scope.k_shifts, scope.k_people)
    suppressed = rows[0]["suppressed"]
    shown = [r for r in rows if r["unit_id"] is not None and r["passes"] >= min_passes]
    events = np.array([r[kind] for r in shown], dtype=float)
    passes = np.array([r["passes"] for r in shown], dtype=float)
    scores = score(events, passes)
    units = [HotspotUnit(unit_id=r["unit_id"], name=r["name"], geometry=r["geometry"], passes=r["passes"],
                         events=r[kind], rate_per_1000=float(scores.rate_per_1000[i]),
                         expected=float(scores.expected[i]), z=float(scores.z[i]), p=float(scores.p[i]),
                         q=float(scores.q[i]), significant=bool(scores.significant[i]))
             for i, r in enumerate(shown)]
    units.sort(key=lambda u: (u.q, -u.z, u.unit_id))
    return Hotspots(level=level, kind=kind, start=scope.start, end=scope.end, k_min_shifts=scope.k_shifts,
                    k_min_people=scope.k_people, reference_rate_per_1000=scores.reference_rate_per_1000,
                    suppressed_units=suppressed, units=units)
