"""The record's answer to one complaint: was the planned segment serviced on the collection
day, when did the truck pass, how long did it stop, before or after the complaint.

Evidence speaks of routes, segments, trucks and days — never of a person: the crew of the
shift is not read (shift_crew is not joined) and the shift id is not in the answer. The
collection day is the latest day (the complaint's, or up to LOOKBACK_DAYS before, in the
city's days: `city_day`) on which a route that plans the segment had a shift that started
before the complaint was made.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import asyncpg
import numpy as np

from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.open311.match import Segments, by_address, by_position
from fleetpilot.open311.records import Complaint

LOOKBACK_DAYS = 7
STOP_RADIUS_M = 50.0  # a stop this close to the complaint is the truck serving it
# A missed street's cause as the 311 reply says it (api/causes: crews give the first five; a
# blocked-street hazard report gives the last).
CAUSE_WORDS = {
    "blocked_by_works": "the street was blocked by works",
    "parked_cars": "parked cars blocked the truck",
    "no_access": "there was no access",
    "bins_not_out": "the bins were not out",
    "other": "the crew recorded a reason",
    "blocked_street": "the street was reported blocked",
}
# Planned service segments of every route's current plan, with the street's name.
PLANNED = """
SELECT rs.route_id, rs.segment_id, st.name, rs.geometry
FROM route_segments rs
JOIN routes r ON r.route_id = rs.route_id AND r.current_version = rs.version
LEFT JOIN street_segments st ON st.segment_id = rs.segment_id
WHERE rs.service
ORDER BY rs.route_id, rs.seq
"""
# The shifts of these routes that started before the complaint ($4), on the latest day in
# [$2, $3] that has any (no crew read: shift_crew is not joined), with the causes of their
# missed segments (segment -> cause; the view carries no person).
SHIFTS = """
WITH before AS (
    SELECT m.route_id, m.vehicle_id, m.day, m.missed_segments, m.no_data_segments, m.stop_points,
           (SELECT coalesce(json_object_agg(c.segment_id, c.cause), '{}') FROM shift_causes c
            WHERE c.shift_id = m.shift_id)::text AS causes
    FROM shift_metrics m JOIN shifts s ON s.shift_id = m.shift_id
    WHERE m.route_id = ANY($1::text[]) AND m.day BETWEEN $2 AND $3 AND s.starts_at <= $4
)
SELECT * FROM before WHERE day = (SELECT max(day) FROM before) ORDER BY route_id, vehicle_id
"""


@dataclass(frozen=True)
class Evidence:
    service_request_id: str
    # serviced | missed | no_data (the shifts had no positions while servicing it: unknown, not
    # missed) | no_shift (no shift of a planning route) | no_segment (nothing planned there)
    verdict: str
    segment_id: str | None
    route_id: str | None
    vehicle_id: str | None
    collection_day: str | None
    passed_at: datetime | None  # arrival of the truck's stop nearest the complaint
    stopped_s: float | None
    before_complaint: bool | None  # the pass was before the complaint was made
    cause: str | None = None  # missed for this cause (CAUSE_WORDS): not the crew's shortfall

    @classmethod
    def from_row(cls, row) -> Evidence:
        """The evidence as stored in a `complaints` row."""
        day = row["collection_day"]
        return cls(
            row["service_request_id"],
            row["verdict"] or "no_segment",
            row["segment_id"],
            row["route_id"],
            row["vehicle_id"],
            None if day is None else day.isoformat(),
            row["passed_at"],
            row["stopped_s"],
            row["before_complaint"],
            row["cause"],
        )

    def version(self) -> str:
        """A short fingerprint of what the record says (not of when it was read): a note posted
        back to the 311 system is keyed by (complaint, version), so the same evidence is never
        posted twice and changed evidence (late data, a re-opened request) is posted again."""
        passed = (
            None if self.passed_at is None else self.passed_at.astimezone(timezone.utc).isoformat(timespec="seconds")
        )
        stopped = None if self.stopped_s is None else round(self.stopped_s)
        said: tuple = (
            self.verdict,
            self.segment_id,
            self.route_id,
            self.vehicle_id,
            self.collection_day,
            passed,
            stopped,
        )
        if self.cause is not None:  # evidence without a cause keeps the version it always had
            said += (self.cause,)
        return hashlib.sha256(repr(said).encode()).hexdigest()[:12]

    def reply(self, local: callable, public: bool = False) -> str:
        """A suggested reply for the 311 team; `local` formats an instant in the city's time.
        `public`: the note posted to the 311 system, which residents may read (many cities
        publish their 311 requests) — without route and truck, which with a roster name a crew."""
        which = "" if public else f" (route {self.route_id}, truck {self.vehicle_id})"
        route = "" if public else f" (route {self.route_id})"
        if self.verdict == "serviced":
            when = f" at {local(self.passed_at)}; the truck stopped {self.stopped_s:.0f} s" if self.passed_at else ""
            return f"Collected on {self.collection_day}{when}{which}."
        if self.verdict == "missed" and self.cause is not None:
            why = CAUSE_WORDS.get(self.cause, self.cause)
            return f"Not collected on {self.collection_day}{route}: {why}. A return trip is needed."
        if self.verdict == "missed":
            return f"Not collected on {self.collection_day}{route}: a return trip is needed."
        if self.verdict == "no_data":
            return (
                f"Not known for {self.collection_day}{route}: the truck's unit sent no positions"
                " while it serviced this street; ask the crew."
            )
        if self.verdict == "no_shift":
            return "No collection on this street was recorded in the days before the complaint."
        return "No planned collection at this place."


def _nearest_stop(stops: list[dict], lon: float, lat: float) -> dict | None:
    if not stops:
        return None
    frame = LocalFrame(lon, lat)
    x, y = frame.to_xy(np.array([s["lon"] for s in stops]), np.array([s["lat"] for s in stops]))
    distance = np.hypot(x, y)
    best = int(np.argmin(distance))
    return stops[best] if distance[best] <= STOP_RADIUS_M else None


async def evidence(conn: asyncpg.Connection, complaint: Complaint, city_day) -> Evidence:
    planned = await conn.fetch(PLANNED)
    segments = Segments(
        ids=[r["segment_id"] for r in planned],
        names=[r["name"] for r in planned],
        lines=[r["geometry"]["coordinates"] for r in planned],
    )
    if complaint.lon is not None:
        found = by_position(segments, complaint.lon, complaint.lat)
    else:
        found = by_address(segments, complaint.address)
    none = dict.fromkeys(("route_id", "vehicle_id", "collection_day", "passed_at", "stopped_s", "before_complaint"))
    if not found:
        return Evidence(complaint.service_request_id, "no_segment", None, **none)
    segment = found[0]
    routes = sorted(
        {r["route_id"] for r in planned if r["segment_id"] in (found if complaint.lon is None else [segment])}
    )
    day = city_day(complaint.requested_at)
    shifts = await conn.fetch(SHIFTS, routes, day - timedelta(days=LOOKBACK_DAYS), day, complaint.requested_at)
    if not shifts:
        return Evidence(complaint.service_request_id, "no_shift", segment, **none)
    # With only an address, the complaint is about the street: missed if a shift missed any of
    # the street's planned segments (the house's own segment is not known).
    plans: dict[str, set[str]] = {}
    for r in planned:
        plans.setdefault(r["route_id"], set()).add(r["segment_id"])
    if complaint.lon is None:
        for candidate in found:
            if any(candidate in s["missed_segments"] and candidate in plans[s["route_id"]] for s in shifts):
                segment = candidate
                break
    # Only the shifts of routes that plan this segment answer for it.
    shifts = [s for s in shifts if segment in plans[s["route_id"]]]
    if not shifts:
        return Evidence(complaint.service_request_id, "no_shift", segment, **none)
    # A shift with no data where the segment was due neither serviced nor missed it.
    serving = [s for s in shifts if segment not in s["missed_segments"] and segment not in s["no_data_segments"]]
    # A shift that missed it without a cause answers before one that missed it for a cause.
    causes = [json.loads(s["causes"]) for s in shifts]
    missing = [s for s, c in zip(shifts, causes) if segment in s["missed_segments"] and segment not in c]
    explained = [(s, c[segment]) for s, c in zip(shifts, causes) if segment in c]
    shift = (serving or missing or [s for s, _ in explained] or shifts)[0]
    cause = explained[0][1] if not serving and not missing and explained else None
    where = (complaint.lon, complaint.lat)
    if where[0] is None:  # address only: the middle of the planned segment
        line = np.asarray(segments.lines[segments.ids.index(segment)], dtype=float)
        where = tuple(line.mean(axis=0))
    stops = shift["stop_points"] if isinstance(shift["stop_points"], list) else []
    stop = _nearest_stop(stops, *where) if serving else None
    passed = datetime.fromisoformat(stop["arrived_at"].replace("Z", "+00:00")) if stop else None
    return Evidence(
        service_request_id=complaint.service_request_id,
        verdict="serviced" if serving else "missed" if missing or explained else "no_data",
        segment_id=segment,
        route_id=shift["route_id"],
        vehicle_id=shift["vehicle_id"],
        collection_day=shift["day"].isoformat(),
        passed_at=passed,
        stopped_s=float(stop["dwell_s"]) if stop else None,
        before_complaint=None if passed is None else passed <= complaint.requested_at,
        cause=cause,
    )
