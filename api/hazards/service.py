"""Hazard reports: filed by a crew member for themself (OwnPerson), listed for the city with
the reporters' link cut and the k rule on counts (decision 0004's k_min_people).

A report is snapped to the street segment within SNAP_M of where it was put (its place);
off the streets the place is the point rounded to 3 decimals (~100 m). The same place and
category is one hazard on the city's list, however many report it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import numpy as np
import shapely

from fleetpilot import release_blocks
from fleetpilot.api.errors import invalid, made_on_phone
from fleetpilot.api.hazards.schemas import MyReport, NewReport, StatusChange
from fleetpilot.api.policy import OwnPerson, own_shift
from fleetpilot.rollup.places import city_streets

SNAP_M = 40.0  # a report this close to a street is about that street
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
       (SELECT min(k.place) FROM known_hotspots k WHERE k.segment_id = h.segment_id) AS hotspot
FROM hazards h JOIN hazard_reports r USING (hazard_id)
LEFT JOIN street_segments s ON s.segment_id = h.segment_id
GROUP BY h.hazard_id, s.name
ORDER BY h.hazard_id
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


async def city_list(conn: asyncpg.Connection, k_people: int, tz: str) -> list[dict]:
    """The city's hazards. Below k_people distinct reporters a hazard shows place, category
    and the set of parts of day only: no count, no date, no note, nothing that tells one
    reporter's report from another's."""
    hazards = []
    for r in await conn.fetch(CITY_LIST):
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
            }
        )
    return hazards


async def set_status(conn: asyncpg.Connection, hazard_id: int, change: StatusChange) -> bool:
    """Move a hazard along; False when there is no such hazard. What was done and when are
    kept only for `fixed` (a hazard reopened loses them)."""
    fixed = change.status == "fixed"
    if fixed and (change.fix_what is None or change.fixed_on is None):
        raise invalid(("body", "fix_what"), "a fixed hazard needs what was done (fix_what) and the day (fixed_on)")
    args = (change.fix_what, change.fixed_on) if fixed else (None, None)
    return await conn.fetchval(SET_STATUS, hazard_id, change.status, *args) is not None
