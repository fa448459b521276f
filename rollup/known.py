"""known_hotspots: street segments that are significant fleet hotspots over the last 90 days
(the 13 whole ISO weeks up to and including the current one).

Judged exactly as the data officer's /hotspots/segments over that range (each segment summed
over its k-visible (segment, ISO week) cells only, decision 0004; Poisson exceedance against
the fleet's rate over those sums, Benjamini–Hochberg), for each segment event kind. The rollup job rewrites the table after each run that changed exposure; the
driver's shift view marks an event on such a segment as a known hotspot, by the name of its
place (touching significant segments merged and named by rollup.places, as on the pages).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import asyncpg
import numpy as np

from fleetpilot.analytics.exceedance import poisson_exceedance
from fleetpilot.event_kinds import SEGMENT_EXPOSURE
from fleetpilot.rollup.blocks import monday, visible_units
from fleetpilot.rollup.places import FDR, CityStreets, city_streets, segment_places

WINDOW_WEEKS = 13
KINDS = SEGMENT_EXPOSURE
K = "SELECT k_min_shifts, k_min_people FROM privacy_settings"
# The day and k the table was judged with (fleetpilot_meta), so a new day or k recomputes it.
BASIS_KEY = "known_hotspots_basis"
BASIS = "SELECT value FROM fleetpilot_meta WHERE key = $1"
SET_BASIS = """
INSERT INTO fleetpilot_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
"""
INSERT = """
INSERT INTO known_hotspots (segment_id, kind, passes, events, rate_per_1000, expected, q, first_day, last_day,
                            place_id, place)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""


async def refresh_known_hotspots(conn: asyncpg.Connection, today: date, *, exposure_changed: bool = True) -> int | None:
    """Rewrite known_hotspots for the 13 ISO weeks up to the one of `today`; rows written, or
    None when nothing it depends on changed (exposure, the day, k) since it was last written."""
    k = await conn.fetchrow(K)
    basis = f"{today.isoformat()} k={k['k_min_shifts']},{k['k_min_people']}" if k else f"{today.isoformat()} no k"
    if not exposure_changed and await conn.fetchval(BASIS, BASIS_KEY) == basis:
        return None
    if k is None:  # privacy settings not seeded: nothing may be judged visible
        rows: list[tuple] = []
    else:
        rows = (await significant_hotspots(conn, monday(today), k["k_min_shifts"], k["k_min_people"])).rows
    async with conn.transaction():
        await conn.execute("DELETE FROM known_hotspots")
        await conn.executemany(INSERT, rows)
        await conn.execute(SET_BASIS, BASIS_KEY, basis)
    return len(rows)


@dataclass(frozen=True)
class Judged:
    """The significant (segment, kind) rows (as INSERT) of the window ending with a week, and how
    many segments of the window were withheld (no k-visible week)."""

    rows: list[tuple]
    withheld: int
    visible: int


async def significant_hotspots(
    conn: asyncpg.Connection, week: date, k_shifts: int, k_people: int, city: CityStreets | None = None
) -> Judged:
    """The hotspots as known_hotspots would have judged them in the ISO week starting `week`:
    whole ISO weeks, as the API releases aggregates (decision 0004), the 13 weeks up to and
    including that one, of k-visible (segment, week) cells only."""
    end = week + timedelta(days=7)
    start = end - timedelta(weeks=WINDOW_WEEKS)
    visible = await visible_units(conn, "segment", start, end, k_shifts, k_people)
    units = [r for r in visible.rows if r["unit_id"] is not None and r["passes"] > 0]
    withheld = int(visible.rows[0]["suppressed"]) if visible.rows else 0
    if not units:
        return Judged([], withheld, 0)
    city = city if city is not None else await city_streets(conn)
    rows = [row for kind in KINDS for row in _significant(units, kind, start, end - timedelta(days=1), city)]
    return Judged(rows, withheld, len(units))


def _significant(units, kind: str, first: date, last: date, city: CityStreets | None) -> list[tuple]:
    passes = np.array([float(u["passes"]) for u in units])
    events = np.array([float(u[kind]) for u in units])
    scores = poisson_exceedance(events, passes, alpha=FDR)
    places, place_of = segment_places(
        city,
        [u["unit_id"] for u in units],
        events,
        passes,
        scores.q,
        scores.significant,
        scores.reference_rate,
        kind,
        FDR,
    )
    return [
        (
            u["unit_id"],
            kind,
            int(passes[i]),
            int(events[i]),
            1000 * events[i] / passes[i],
            float(scores.expected[i]),
            float(scores.q[i]),
            first,
            last,
            places[place_of[i]].place_id if place_of[i] >= 0 else None,
            places[place_of[i]].name if place_of[i] >= 0 else None,
        )
        for i, u in enumerate(units)
        if scores.significant[i]
    ]
