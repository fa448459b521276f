"""Hazard reports: filed by a crew member for themself (OwnPerson), listed for the city with
the reporters' link cut and the k rule on counts (decision 0004's k_min_people).

A report is snapped to the street segment within SNAP_M of where it was put (its place);
off the streets the place is the point rounded to 3 decimals (~100 m). The same place and
category is one hazard on the city's list, however many report it.

A fixed hazard on a street carries its before/after (``effect``): hard braking per pass on the
place's streets (its segment and those within PLACE_M of where crews put it: an
intersection's approaches) in the WINDOW_WEEKS whole city weeks before the week of the fix and
in those after it (the week of the fix itself is left out: half of it is neither), read from
released (segment, ISO week) cells only (decision 0004, policy.released_cell: the cells the
hotspot doors release), with analytics.before_after's day-bootstrap interval.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import numpy as np
import shapely

from fleetpilot import release_blocks
from fleetpilot.analytics.before_after import BeforeAfter, before_after
from fleetpilot.api.errors import invalid, made_on_phone
from fleetpilot.api.hazards.schemas import Effect, MyReport, NewReport, StatusChange
from fleetpilot.api.policy import OwnPerson, own_shift, released_cell
from fleetpilot.localtime import week_start
from fleetpilot.rollup.known import WINDOW_WEEKS
from fleetpilot.rollup.places import city_streets

SNAP_M = 40.0  # a report this close to a street is about that street
PLACE_M = 20.0  # a fixed hazard's before/after counts the streets this close to where it was reported
MADE_AT_SLACK = timedelta(days=7)  # a queued report may arrive late; an older "made at" is refused

UPSERT_HAZARD = """
INSERT INTO hazards (place_key, segment_id, category, lon, lat) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (place_key, category) DO UPDATE SET place_key = EXCLUDED.place_key
RETURNING hazard_id
"""
# The phone's key makes a resend a no-op: the first row stays.
INSERT_REPORT = """
INSERT INTO hazard_reports (hazard_id, person_id, client_key, shift_id, lon, lat, located_by, note, made_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (person_id, client_key) DO NOTHING
RETURNING report_id
"""
MY_REPORTS = """
SELECT r.report_id, r.hazard_id, h.category, r.lon, r.lat, s.name AS street, r.located_by, r.note, r.shift_id,
       r.made_at, h.status, h.fix_what, h.fixed_on
FROM hazard_reports r JOIN hazards h USING (hazard_id)
LEFT JOIN street_segments s ON s.segment_id = h.segment_id
WHERE r.person_id = $1 {which}
ORDER BY r.made_at DESC, r.report_id DESC
"""
# Per hazard: how many reports and distinct reporters, and the made_at instants (for the parts
# of day). person_id never leaves this query.
CITY_LIST = """
SELECT h.hazard_id, h.category, h.segment_id, h.lon, h.lat, h.status, h.fix_what, h.fixed_on, s.name AS street,
       count(*) AS reports, count(DISTINCT r.person_id) AS reporters, array_agg(r.made_at) AS made,
       array_agg(r.lon) AS at_lon, array_agg(r.lat) AS at_lat,
       (SELECT min(k.place) FROM known_hotspots k WHERE k.segment_id = h.segment_id) AS hotspot
FROM hazards h JOIN hazard_reports r USING (hazard_id)
LEFT JOIN street_segments s ON s.segment_id = h.segment_id
WHERE $1 OR h.status = 'fixed'
GROUP BY h.hazard_id, s.name
ORDER BY h.hazard_id
"""
# Per local day, passes and hard brakes on the place's streets ($1) over [$2, $3), from the
# exposure rows of released (segment, city ISO week) cells only ($4 k shifts, $5 k drivers):
# the cells the hotspot doors release (rollup.blocks judges the same cell from its blocks).
PLACE_DAYS = f"""
WITH place AS (
    SELECT e.segment_id, e.day, date_trunc('week', e.day::timestamp)::date AS week, e.shift_id, e.passes,
           e.harsh_brake
    FROM segment_exposure e
    WHERE e.segment_id = ANY($1::text[]) AND e.day >= $2 AND e.day < $3
), released AS (
    SELECT p.segment_id, p.week FROM place p GROUP BY p.segment_id, p.week
    HAVING {released_cell("p.shift_id", "$4", "$5")}
)
SELECT p.day, sum(p.passes)::bigint AS passes, sum(p.harsh_brake)::bigint AS events
FROM place p JOIN released USING (segment_id, week)
GROUP BY p.day ORDER BY p.day
"""
SET_STATUS = """
UPDATE hazards SET status = $2, fix_what = $3, fixed_on = $4, status_at = now()
WHERE hazard_id = $1 RETURNING hazard_id
"""
# Local hours at which each part of day starts (night wraps past midnight).
PARTS = ((0, "night"), (5, "early morning"), (9, "morning"), (12, "afternoon"), (17, "evening"), (22, "night"))
ORDER = ("early morning", "morning", "afternoon", "evening", "night")


def part_of_day(at: datetime, tz: str) -> str:
    hour = at.astimezone(ZoneInfo(tz)).hour
    return [name for start, name in PARTS if hour >= start][-1]


async def _place(conn: asyncpg.Connection, lon: float, lat: float) -> tuple[str, str | None, float, float]:
    """(place_key, segment_id, lon, lat) of the place a report at lon/lat is about."""
    city = await city_streets(conn)
    if city is not None:
        x, y = city.frame.to_xy(np.array([lon]), np.array([lat]))
        tree = shapely.STRtree(city.lines_m)
        found = tree.query_nearest(shapely.Point(float(x[0]), float(y[0])), max_distance=SNAP_M)
        if len(found):
            at = int(found[0])
            segment = list(city.index)[at]
            middle = shapely.line_interpolate_point(city.lines_m[at], 0.5, normalized=True)
            mlon, mlat = city.frame.to_lonlat(np.array([middle.x]), np.array([middle.y]))
            return segment, segment, float(mlon[0]), float(mlat[0])
    rlon, rlat = round(lon, 3), round(lat, 3)
    return f"point:{rlon:.3f},{rlat:.3f}", None, rlon, rlat


async def file_report(conn: asyncpg.Connection, me: OwnPerson, report: NewReport) -> tuple[MyReport, bool]:
    """Store my report once per client_key; (the report as I see it, whether it was new)."""
    made = made_on_phone(report.made_at, MADE_AT_SLACK)
    if report.shift_id is not None:
        await own_shift(conn, me, report.shift_id)  # 404 for a shift that is not mine
    note = (report.note or "").strip() or None
    key, segment, plon, plat = await _place(conn, report.lon, report.lat)
    async with conn.transaction():
        hazard = await conn.fetchval(UPSERT_HAZARD, key, segment, report.category, plon, plat)
        new = await conn.fetchval(
            INSERT_REPORT,
            hazard,
            me.person_id,
            report.client_key,
            report.shift_id,
            report.lon,
            report.lat,
            report.located_by,
            note,
            made,
        )
    row = await conn.fetchrow(MY_REPORTS.format(which="AND r.client_key = $2"), me.person_id, report.client_key)
    return MyReport(**dict(row)), new is not None


async def my_reports(conn: asyncpg.Connection, me: OwnPerson) -> list[MyReport]:
    return [MyReport(**dict(r)) for r in await conn.fetch(MY_REPORTS.format(which=""), me.person_id)]


async def city_list(conn: asyncpg.Connection, k: tuple[int, int], tz: str, *, fixed_only: bool = False) -> list[dict]:
    """The city's hazards (or its fixed ones), each fixed one with its before/after. Below
    k_people distinct reporters a hazard shows place, category and the set of parts of day
    only: no count, no date, no note, nothing that tells one reporter's report from another's."""
    k_shifts, k_people = k
    hazards = []
    for r in await conn.fetch(CITY_LIST, not fixed_only):
        enough = release_blocks.enough_people(r["reporters"], k_people)  # decisions 0019, 0022
        parts = {part_of_day(t, tz) for t in r["made"]}
        hazards.append(
            {
                "hazard_id": r["hazard_id"],
                "category": r["category"],
                "place": r["street"] or f"near {r['lat']:.3f}, {r['lon']:.3f}",
                "segment_id": r["segment_id"],
                "lon": r["lon"],
                "lat": r["lat"],
                "status": r["status"],
                "reports": r["reports"] if enough else None,
                "reporters": r["reporters"] if enough else None,
                "parts_of_day": [p for p in ORDER if p in parts],
                "fix_what": r["fix_what"],
                "fixed_on": r["fixed_on"],
                "hotspot": r["hotspot"],
                "effect": await _effect(conn, r, k) if r["status"] == "fixed" and r["segment_id"] else None,
            }
        )
    return hazards


async def _effect(conn: asyncpg.Connection, hazard: asyncpg.Record, k: tuple[int, int]) -> Effect:
    """The fixed hazard's before/after (see the module's docstring)."""
    streets = await _place_streets(conn, hazard["segment_id"], hazard["at_lon"], hazard["at_lat"])
    fix_week = week_start(hazard["fixed_on"])
    before = (fix_week - timedelta(weeks=WINDOW_WEEKS), fix_week)
    after = (fix_week + timedelta(weeks=1), fix_week + timedelta(weeks=1 + WINDOW_WEEKS))
    rows = await conn.fetch(PLACE_DAYS, streets, before[0], after[1], *k)
    periods = [[r for r in rows if lo <= r["day"] < hi] for lo, hi in (before, after)]  # the fix's week in neither
    found = before_after(
        *(np.array([r[column] for r in period]) for period in periods for column in ("passes", "events")),
        seed=hazard["hazard_id"],
    )
    return Effect(
        kind="harsh_brake",
        streets=len(streets),
        before_from=before[0],
        before_to=before[1],
        after_from=after[0],
        after_to=after[1],
        passes_before=found.passes_before,
        events_before=found.events_before,
        passes_after=found.passes_after,
        events_after=found.events_after,
        min_passes=found.min_passes,
        enough=found.enough,
        change=found.change,
        lo=found.lo,
        hi=found.hi,
        level=found.level,
        sentence=effect_sentence(found, hazard["fix_what"], hazard["fixed_on"]),
    )


def effect_sentence(found: BeforeAfter, fix_what: str, fixed_on: date) -> str:
    """What a crew reads at the place: the change only when the passes allow one."""
    fix = f"since the city fixed what crews reported ({fix_what}, {fixed_on.isoformat()})"
    if found.passes_before < found.min_passes:
        return f"Not enough passes before the fix to compare: {found.passes_before} of {found.min_passes}."
    if found.passes_after < found.min_passes:
        return f"Not enough passes yet: {found.passes_after} of {found.min_passes} since the fix."
    if found.change is None or found.lo is None or found.hi is None:
        return f"No hard braking was counted here before the fix ({found.passes_before} passes): nothing to compare."
    level = f"{found.level * 100:.0f} %"
    if found.hi < 0:
        return (
            f"Hard braking here fell {-found.change * 100:.0f} % {fix}; "
            f"{level} interval: fell {-found.hi * 100:.0f} to {-found.lo * 100:.0f} %."
        )
    if found.lo > 0:
        return (
            f"Hard braking here rose {found.change * 100:.0f} % {fix}; "
            f"{level} interval: rose {found.lo * 100:.0f} to {found.hi * 100:.0f} %."
        )
    return (
        f"No clear change in hard braking here {fix}: {found.change * 100:+.0f} %, "
        f"{level} interval {found.lo * 100:+.0f} to {found.hi * 100:+.0f} %."
    )


async def _place_streets(conn: asyncpg.Connection, segment: str, lons: list[float], lats: list[float]) -> list[str]:
    """The hazard's segment and the streets within PLACE_M of where its reports were put."""
    city = await city_streets(conn)
    if city is None:
        return [segment]
    x, y = city.frame.to_xy(np.array(lons, dtype=np.float64), np.array(lats, dtype=np.float64))
    near = shapely.STRtree(city.lines_m).query(shapely.points(x, y), predicate="dwithin", distance=PLACE_M)
    ids = list(city.index)
    return sorted({segment, *(ids[int(i)] for i in np.unique(near[1]))})


async def set_status(conn: asyncpg.Connection, hazard_id: int, change: StatusChange) -> bool:
    """Move a hazard along; False when there is no such hazard. What was done and when are
    kept only for `fixed` (a hazard reopened loses them)."""
    fixed = change.status == "fixed"
    if fixed and (change.fix_what is None or change.fixed_on is None):
        raise invalid(("body", "fix_what"), "a fixed hazard needs what was done (fix_what) and the day (fixed_on)")
    args = (change.fix_what, change.fixed_on) if fixed else (None, None)
    return await conn.fetchval(SET_STATUS, hazard_id, change.status, *args) is not None
