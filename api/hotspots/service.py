"""Hotspots from segment_exposure / cell_exposure over a day range, k-suppressed in SQL.

Cells are tested with Getis-Ord Gi* and FDR control (``fleetpilot.analytics.hotspots``, on
the grid the rollup job used); segments with a Poisson exceedance test (see scoring).
Only units (segments, cells) passed in at least k_min_shifts distinct shifts by at least
k_min_people distinct people leave the database (the others are only counted); the
reference rate is taken over those units only, so nothing about a suppressed unit can be
recovered by subtraction.
"""
from __future__ import annotations

import asyncpg
import numpy as np

from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.hotspots import Grid, HotspotParams, hotspots as gi_star_hotspots
from fleetpilot.api.hotspots.schemas import Hotspots, HotspotUnit, Level
from fleetpilot.api.hotspots.scoring import poisson_exceedance
from fleetpilot.api.policy import AggregateScope

# Distinct people per unit without sorting millions of (unit, person) pairs: every shift's
# crew becomes a bit mask over all people, a unit ORs the masks of its rows, and the set
# bits are its people. A unit's shifts are its rows (migration 0006: one row per shift).
CREW_MASKS = """
person_bits AS (
    SELECT person_id, (row_number() OVER (ORDER BY person_id) - 1)::int AS bit, count(*) OVER () AS width
    FROM people
),
crew_masks AS (
    SELECT c.shift_id, bit_or(set_bit(repeat('0', p.width::int)::varbit, p.bit, 1)) AS mask
    FROM shift_crew c JOIN person_bits p ON p.person_id = c.person_id
    GROUP BY c.shift_id
)"""
# $1 first day, $2 day after the last, $3 k shifts, $4 k people. Rows: the visible units, each
# with the number of suppressed ones (one row with unit_id NULL when none is visible).
SEGMENTS = f"""
WITH {CREW_MASKS},
judged AS (
    SELECT e.segment_id, sum(e.passes) AS passes, sum(e.harsh_brake) AS harsh_brake, sum(e.speeding) AS speeding,
           count(*) >= $3 AND coalesce(bit_count(bit_or(m.mask)), 0) >= $4 AS visible
    FROM segment_exposure e LEFT JOIN crew_masks m ON m.shift_id = e.shift_id
    WHERE e.day >= $1 AND e.day < $2
    GROUP BY e.segment_id
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
CELLS = f"""
WITH {CREW_MASKS},
judged AS (
    SELECT e.cell_id, sum(e.passes) AS passes, sum(e.harsh_brake) AS harsh_brake,
           sum(e.harsh_accel) AS harsh_accel, sum(e.harsh_corner) AS harsh_corner, sum(e.speeding) AS speeding,
           count(*) >= $3 AND coalesce(bit_count(bit_or(m.mask)), 0) >= $4 AS visible
    FROM cell_exposure e LEFT JOIN crew_masks m ON m.shift_id = e.shift_id
    WHERE e.day >= $1 AND e.day < $2
    GROUP BY e.cell_id
)
SELECT n.suppressed, v.*
FROM (SELECT count(*) FILTER (WHERE NOT visible) AS suppressed FROM judged) n
LEFT JOIN (
    SELECT cell_id::text AS unit_id, NULL::text AS name, NULL::jsonb AS geometry, passes, harsh_brake, harsh_accel,
           harsh_corner, speeding
    FROM judged WHERE visible
) v ON true
"""
# Enough memory for the per-unit aggregate states of a month of a city without spilling to disk.
WORK_MEM = "SELECT set_config('work_mem', '32MB', true)"
QUERIES = {"segment": SEGMENTS, "cell": CELLS}
# The local frame the rollup job fixed at its first run (fleetpilot.rollup.FRAME_KEY); the
# grid's cell size is the analytics default the rollup job also uses.
FRAME = "SELECT value FROM fleetpilot_meta WHERE key = 'analytics_frame'"
DEFAULT_MIN_PASSES = {"segment": 1, "cell": HotspotParams().min_passes}


async def hotspots(conn: asyncpg.Connection, scope: AggregateScope, level: Level, kind: str,
                   min_passes: int | None = None) -> Hotspots:
    """Units of `level` scored for event `kind` (a column of the exposure rollup)."""
    min_passes = DEFAULT_MIN_PASSES[level] if min_passes is None else min_passes
    async with conn.transaction():  # set_config(..., true) lasts for this transaction only
        await conn.execute(WORK_MEM)
        rows = await conn.fetch(QUERIES[level], scope.start, scope.end, scope.k_shifts, scope.k_people)
    shown = [r for r in rows if r["unit_id"] is not None]
    passes = np.array([r["passes"] for r in shown], dtype=np.float64)
    events = np.array([r[kind] for r in shown], dtype=np.float64)
    tested = passes >= min_passes
    rate = float(events[tested].sum() / passes[tested].sum()) if passes[tested].sum() > 0 else None
    if level == "cell":
        grid = await _grid(conn)
        units = _cells(shown, events, passes, min_passes, grid)
    else:
        grid = None
        units = _segments([r for r, t in zip(shown, tested) if t], events[tested], passes[tested])
    units.sort(key=lambda u: (not u.significant, u.q, -u.z, u.unit_id))
    return Hotspots(level=level, kind=kind, method="gi_star" if level == "cell" else "poisson_exceedance",
                    start=scope.start, end=scope.end, k_min_shifts=scope.k_shifts, k_min_people=scope.k_people,
                    min_passes=min_passes, cell_m=grid.cell_m if grid else None,
                    reference_rate_per_1000=None if rate is None else 1000 * rate,
                    suppressed_units=rows[0]["suppressed"], units=units)


async def _grid(conn: asyncpg.Connection) -> Grid | None:
    stored = await conn.fetchval(FRAME)
    if stored is None:
        return None
    lon0, lat0 = (float(v) for v in stored.split(","))
    return Grid(LocalFrame(lon0, lat0))


def _squares(grid: Grid, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres (lon, lat) and outlines ((n, 5, 2) closed rings) of grid cells, in degrees."""
    lon, lat = grid.centre(cells)
    x, y = grid.frame.to_xy(lon, lat)
    half = grid.cell_m / 2
    dx = np.array([-half, half, half, -half, -half])
    dy = np.array([-half, -half, half, half, -half])
    ring_lon, ring_lat = grid.frame.to_lonlat((x[:, None] + dx).ravel(), (y[:, None] + dy).ravel())
    rings = np.round(np.stack([ring_lon, ring_lat], axis=1).reshape(len(cells), 5, 2), 7)
    return lon, lat, rings


def _cells(rows, events: np.ndarray, passes: np.ndarray, min_passes: int, grid: Grid | None) -> list[HotspotUnit]:
    cells = np.array([int(r["unit_id"]) for r in rows], dtype=np.int64)
    found = gi_star_hotspots(cells, passes, events, HotspotParams(min_passes=min_passes))
    if grid is not None and len(found.cell):
        lon, lat, rings = _squares(grid, found.cell)
    units = []
    for i, cell in enumerate(found.cell.tolist()):
        shape = {"type": "Polygon", "coordinates": [rings[i].tolist()]} if grid else None
        units.append(HotspotUnit(
            unit_id=str(cell), name=None, geometry=shape, lon=float(lon[i]) if grid else None,
            lat=float(lat[i]) if grid else None, passes=int(found.passes[i]), events=int(found.events[i]),
            rate_per_1000=float(1000 * found.rate[i]), expected=None, z=float(found.z[i]), p=float(found.p[i]),
            q=float(found.q[i]), significant=bool(found.significant[i]),
            cluster=int(found.cluster[i]) if found.cluster[i] >= 0 else None))
    return units


def _segments(rows, events: np.ndarray, passes: np.ndarray) -> list[HotspotUnit]:
    scores = poisson_exceedance(events, passes)
    return [HotspotUnit(
        unit_id=r["unit_id"], name=r["name"], geometry=r["geometry"], lon=None, lat=None, passes=int(passes[i]),
        events=int(events[i]), rate_per_1000=float(1000 * events[i] / passes[i]), expected=float(scores.expected[i]),
        z=float(scores.z[i]), p=float(scores.p[i]), q=float(scores.q[i]), significant=bool(scores.significant[i]),
        cluster=None) for i, r in enumerate(rows)]
