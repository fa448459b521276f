"""Hotspots over whole ISO weeks, k-suppressed in SQL per (unit, week) cell.

Cells are tested with Getis-Ord Gi* and FDR control (``fleetpilot.analytics.hotspots``, on
the grid the rollup job used); segments with a Poisson exceedance test (see scoring).
A (unit, ISO week) cell — a segment or grid cell in one week — is visible when it alone was
passed in at least k_min_shifts distinct shifts by at least k_min_people distinct people
(docs/decisions/0004). Every figure — a unit's passes and events, its rate, the Gi* and
Poisson inputs, the reference rate — is summed from visible cells only; hidden cells are
only counted. An answer is thus a function of visible cells alone, and no difference of two
ranges' answers recovers a hidden week. The sums come from the day/week blocks (see blocks).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict

import asyncpg
import numpy as np

from fleetpilot.analytics.exceedance import poisson_exceedance
from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.hotspots import Grid, HotspotParams
from fleetpilot.analytics.hotspots import hotspots as gi_star_hotspots
from fleetpilot.api.hotspots.schemas import HotspotPlace, Hotspots, HotspotUnit, Level, MinLevel
from fleetpilot.api.policy import AggregateScope
from fleetpilot.rollup.blocks import visible_units
from fleetpilot.rollup.places import FDR, cell_places, city_streets, segment_places

STREETS = "SELECT segment_id, name, geometry FROM street_segments WHERE segment_id = ANY($1::text[])"
# The local frame the rollup job fixed at its first run (fleetpilot.rollup.job.FRAME_KEY); the
# grid's cell size is the analytics default the rollup job also uses.
FRAME = "SELECT value FROM fleetpilot_meta WHERE key = 'analytics_frame'"
DEFAULT_MIN_PASSES = {"segment": 1, "cell": HotspotParams().min_passes}
# The streets' version (migration 0008: set by every write to the city), one meta row; the
# count and max(xmin) over street_segments read the whole heap (~10 ms for a city) and are
# only the fallback of a database without that migration.
STREETS_VERSION = """
SELECT coalesce((SELECT value FROM fleetpilot_meta WHERE key = 'city_version'),
                (SELECT count(*) || ',' || coalesce(max(xmin::text::bigint), 0) FROM street_segments))
"""
# Bodies of the last answers (a month of cells with every unit is ~6 MB).
RESPONSES_KEPT = 6
_responses: OrderedDict[tuple, str] = OrderedDict()
# Per event loop (a lock belongs to one), a few locks shared by hash of the request.
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[asyncio.Lock]] = weakref.WeakKeyDictionary()


async def hotspots_json(
    conn: asyncpg.Connection,
    scope: AggregateScope,
    level: Level,
    kind: str,
    min_passes: int | None = None,
    min_level: MinLevel = "all",
) -> str:
    """`hotspots` as JSON, reused while its inputs are unchanged: the visible units' state
    and, for segments, the streets' version (any write to them sets a new one).
    Identical requests arriving together are answered one after the other, so only the
    first computes."""
    locks = _LOCKS.setdefault(asyncio.get_running_loop(), [asyncio.Lock() for _ in range(16)])
    async with locks[hash((level, kind, min_passes, min_level, scope)) % len(locks)]:
        return await _hotspots_json(conn, scope, level, kind, min_passes, min_level)


async def _hotspots_json(
    conn: asyncpg.Connection,
    scope: AggregateScope,
    level: Level,
    kind: str,
    min_passes: int | None,
    min_level: MinLevel,
) -> str:
    visible = await visible_units(conn, level, scope.start, scope.end, scope.k_shifts, scope.k_people)
    # Places of both levels are named by the streets, and cells are placed by the frame.
    streets = await conn.fetchval(STREETS_VERSION)
    frame = await conn.fetchval(FRAME)
    key = (visible.key, kind, min_passes, min_level, streets, frame)
    body = _responses.get(key)
    if body is None:
        body = (await _hotspots(conn, scope, level, kind, min_passes, min_level, visible.rows)).model_dump_json()
        _responses[key] = body
        while len(_responses) > RESPONSES_KEPT:
            _responses.popitem(last=False)
    else:
        _responses.move_to_end(key)
    return body


async def hotspots(
    conn: asyncpg.Connection,
    scope: AggregateScope,
    level: Level,
    kind: str,
    min_passes: int | None = None,
    min_level: MinLevel = "all",
) -> Hotspots:
    """Units of `level` scored for event `kind` (a column of the exposure rollup); of the
    tested units those at `min_level` or above are listed (scores are over all of them)."""
    visible = await visible_units(conn, level, scope.start, scope.end, scope.k_shifts, scope.k_people)
    return await _hotspots(conn, scope, level, kind, min_passes, min_level, visible.rows)


async def _hotspots(
    conn: asyncpg.Connection,
    scope: AggregateScope,
    level: Level,
    kind: str,
    min_passes: int | None,
    min_level: MinLevel,
    rows,
) -> Hotspots:
    min_passes = DEFAULT_MIN_PASSES[level] if min_passes is None else min_passes
    shown = [r for r in rows if r["unit_id"] is not None]
    passes = np.array([r["passes"] for r in shown], dtype=np.float64)
    events = np.array([r[kind] for r in shown], dtype=np.float64)
    tested = passes >= min_passes
    rate = float(events[tested].sum() / passes[tested].sum()) if passes[tested].sum() > 0 else None
    city = await city_streets(conn)
    if level == "cell":
        grid = await _grid(conn)
        units, places = _cells(shown, events, passes, min_passes, grid, min_level, city, rate, kind)
    else:
        grid = None
        units, places = await _segments(
            conn, [r for r, t in zip(shown, tested) if t], events[tested], passes[tested], min_level, city, rate, kind
        )
    units.sort(key=lambda u: (not u.significant, u.q, -u.z, u.unit_id))
    return Hotspots(
        level=level,
        kind=kind,
        method="gi_star" if level == "cell" else "poisson_exceedance",
        start=scope.start,
        end=scope.end,
        k_min_shifts=scope.k_shifts,
        k_min_people=scope.k_people,
        min_passes=min_passes,
        cell_m=grid.cell_m if grid else None,
        reference_rate_per_1000=None if rate is None else 1000 * rate,
        suppressed_units=rows[0]["suppressed"],
        suppressed_cells=rows[0]["suppressed_cells"],
        tested_units=int(tested.sum()),
        min_level=min_level,
        fdr=FDR,
        places=[HotspotPlace(**p.__dict__) for p in places],
        units=units,
    )


def _keep(significant: np.ndarray, z: np.ndarray, min_level: MinLevel) -> np.ndarray:
    if min_level == "significant":
        return significant
    if min_level == "elevated":
        return significant | (z > 0)
    return np.ones(len(z), dtype=bool)


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


def _cells(
    rows,
    events: np.ndarray,
    passes: np.ndarray,
    min_passes: int,
    grid: Grid | None,
    min_level: MinLevel,
    city,
    fleet_rate: float | None,
    kind: str,
):
    cells = np.array([int(r["unit_id"]) for r in rows], dtype=np.int64)
    found = gi_star_hotspots(cells, passes, events, HotspotParams(min_passes=min_passes, fdr=FDR))
    if grid is not None:
        places, place_of = cell_places(
            city, grid, found.cell, found.events, found.passes, found.q, found.significant, fleet_rate, kind, FDR
        )
    else:
        places, place_of = [], np.full(len(found.cell), -1)
    keep = np.flatnonzero(_keep(found.significant, found.z, min_level))
    place_ids = [places[i].place_id if i >= 0 else None for i in place_of[keep].tolist()]
    n = len(keep)
    if grid is not None and n:
        lon, lat, rings = (a.tolist() for a in _squares(grid, found.cell[keep]))  # one conversion, not one per unit
    else:
        lon, lat, rings = [None] * n, [None] * n, None
    cluster = found.cluster[keep]
    columns = zip(
        found.cell[keep].tolist(),
        found.passes[keep].tolist(),
        found.events[keep].tolist(),
        (1000 * found.rate[keep]).tolist(),
        found.z[keep].tolist(),
        found.p[keep].tolist(),
        found.q[keep].tolist(),
        found.significant[keep].tolist(),
        np.where(cluster >= 0, cluster, -1).tolist(),
    )
    return [
        HotspotUnit(
            unit_id=str(cell),
            name=None,
            geometry={"type": "Polygon", "coordinates": [rings[j]]} if rings else None,
            lon=lon[j],
            lat=lat[j],
            passes=int(n_passes),
            events=int(n_events),
            rate_per_1000=rate,
            expected=None,
            z=z,
            p=p,
            q=q,
            significant=sig,
            cluster=c if c >= 0 else None,
            place_id=place_ids[j],
        )
        for j, (cell, n_passes, n_events, rate, z, p, q, sig, c) in enumerate(columns)
    ], places


async def _segments(
    conn: asyncpg.Connection,
    rows,
    events: np.ndarray,
    passes: np.ndarray,
    min_level: MinLevel,
    city,
    fleet_rate: float | None,
    kind: str,
):
    scores = poisson_exceedance(events, passes, alpha=FDR)
    places, place_of = segment_places(
        city, [r["unit_id"] for r in rows], events, passes, scores.q, scores.significant, fleet_rate, kind, FDR
    )
    keep = np.flatnonzero(_keep(scores.significant, scores.z, min_level)).tolist()
    streets = {r["segment_id"]: r for r in await conn.fetch(STREETS, [rows[i]["unit_id"] for i in keep])}
    units = []
    for i in keep:
        unit_id = rows[i]["unit_id"]
        street = streets.get(unit_id)
        units.append(
            HotspotUnit(
                unit_id=unit_id,
                name=street["name"] if street else None,
                geometry=street["geometry"] if street else None,
                lon=None,
                lat=None,
                passes=int(passes[i]),
                events=int(events[i]),
                rate_per_1000=float(1000 * events[i] / passes[i]),
                expected=float(scores.expected[i]),
                z=float(scores.z[i]),
                p=float(scores.p[i]),
                q=float(scores.q[i]),
                significant=bool(scores.significant[i]),
                cluster=None,
                place_id=places[place_of[i]].place_id if place_of[i] >= 0 else None,
            )
        )
    return units, places
