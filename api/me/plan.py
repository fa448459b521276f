"""The plan of my route as the crew sees it (issue 21, item 4).

My route is the route of my shift that is on or next (the first that has not ended), else of
my latest shift. Its plan is the version that applies on the city's day today (migration 0032,
`route_version_on`): a version saved to apply from tomorrow shows as coming, not yet as mine.
What changed is told against the version of my route I drove last (the newest version other
than this one among my shifts that have started); a crew member who has driven only this
version, or never, sees the plan without changes. The plan is the city's, about streets; the
only person in it is me (my shifts pick the route).
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import asyncpg

from fleetpilot import localtime
from fleetpilot.api.geojson import collection, feature
from fleetpilot.api.kept import KeptAnswers
from fleetpilot.api.me.schemas import MyPlan, PlanStreet
from fleetpilot.api.policy import OwnPerson
from fleetpilot.api.route_plans.changes import street_changes, unique_order
from fleetpilot.api.route_plans.service import service_order, version_facts, version_segments

# My shifts that have a route, oldest first; $2 now.
MY_ROUTE_SHIFTS = """
SELECT s.route_id, s.route_version, s.starts_at, s.ends_at, s.starts_at <= $2 AS started
FROM shift_crew c JOIN shifts s ON s.shift_id = c.shift_id
WHERE c.person_id = $1 AND s.route_id IS NOT NULL
ORDER BY s.starts_at
"""
APPLIES = """
SELECT r.name, route_version_on(r.route_id, $2) AS version,
       (SELECT min(v.version) FROM route_versions v
        WHERE v.route_id = r.route_id AND v.effective_from > $2
          AND v.version > coalesce(route_version_on(r.route_id, $2), 0)) AS next_version,
       -- The rest of what an answer is made of, for the kept answers (PlanAnswers): the route's
       -- saved versions (never changed: a change is a new version), the streets' version
       -- (their names; migration 0008) and which database this is.
       (SELECT array_agg(v.created_at ORDER BY v.version) FROM route_versions v WHERE v.route_id = r.route_id) AS saved,
       (SELECT value FROM fleetpilot_meta WHERE key = 'city_version') AS city_version,
       current_database() AS db, inet_server_port() AS port
FROM routes r WHERE r.route_id = $1
"""


class NoRoute(LookupError):
    """I have no shift on a route, or my route has no plan that applies yet."""


class PlanAnswers:
    """The plan answers (JSON) per person, kept by the server process and keyed by everything
    they are made of: my shifts' routes and versions as just read, which of them has started,
    the route picked, the route's row (name, version that applies, next version, its saved
    versions, the streets' version) and the day. Anything new is a new key, so a kept answer
    is never stale. What is saved: reading ~160 segments of two versions with their geometry,
    comparing them and building and validating the map (bench api, 6 Dec: ~5 ms of server and
    ~2 ms of database CPU per request, the crew page's dearest read). The crew page asks again
    on every shift picked (it reloads). Only the person's own answer is kept, for that person
    (api.kept, decision 0029)."""

    def __init__(self, size: int = 4096) -> None:
        self._kept = KeptAnswers(size)

    async def answer(self, conn: asyncpg.Connection, me: OwnPerson, tz: str, now: datetime | None = None) -> bytes:
        now = now or datetime.now(timezone.utc)
        today = localtime.today(tz, now)
        shifts, route_id, route = await _route(conn, me, today, now)
        key = (
            me.person_id,
            tz,
            today,
            route_id,
            tuple(map(tuple, shifts)),
            tuple(tuple(v) if isinstance(v, list) else v for v in route),
        )

        async def make() -> bytes:
            return (await _plan(conn, tz, today, shifts, route_id, route)).model_dump_json().encode()

        return await self._kept.get(key, make)


PLAN_ANSWERS = PlanAnswers()


async def _route(
    conn: asyncpg.Connection, me: OwnPerson, today: date, now: datetime
) -> tuple[list[asyncpg.Record], str, asyncpg.Record]:
    """My shifts on routes, my route and its row (APPLIES); NoRoute if there is none or no plan applies."""
    shifts = await conn.fetch(MY_ROUTE_SHIFTS, me.person_id, now)
    if not shifts:
        raise NoRoute("you have no shift on a route yet")
    on_or_next = [s for s in shifts if s["ends_at"] > now]
    route_id = (on_or_next[0] if on_or_next else shifts[-1])["route_id"]
    route = await conn.fetchrow(APPLIES, route_id, today)
    if route is None or route["version"] is None:
        raise NoRoute(f"no plan of route {route_id} applies yet")
    return shifts, route_id, route


async def _plan(
    conn: asyncpg.Connection,
    tz: str,
    today: date,
    shifts: list[asyncpg.Record],
    route_id: str,
    route: asyncpg.Record,
) -> MyPlan:
    version = route["version"]
    facts = await version_facts(conn, route_id, version)
    driven = [s for s in shifts if s["route_id"] == route_id and s["started"] and s["route_version"] != version]
    last = driven[-1] if driven else None
    segments = await version_segments(conn, route_id, version)
    names = {s["segment_id"]: s["name"] for s in segments}
    before: list[str] = []
    old_segments: list[asyncpg.Record] = []
    if last is not None and last["route_version"] is not None:
        old_segments = await version_segments(conn, route_id, last["route_version"])
        before = service_order(old_segments)
        names.update({s["segment_id"]: s["name"] for s in old_segments if s["segment_id"] not in names})
    after = service_order(segments)
    streets, removed = _street_list(before, after, names, compare=last is not None)
    change_of = {s.segment_id: s.change for s in [*streets, *removed]}
    removed_ids = {s.segment_id for s in removed}
    features = [
        feature(
            s["geometry"],
            segment_id=s["segment_id"],
            name=s["name"],
            seq=s["seq"],
            service=s["service"],
            change=change_of.get(s["segment_id"], "same") if s["service"] else "drive",
        )
        for s in segments
    ]
    features += [
        feature(s["geometry"], segment_id=s["segment_id"], name=s["name"], seq=None, service=True, change="removed")
        for s in old_segments
        if s["segment_id"] in removed_ids and s["service"]
    ]
    return MyPlan(
        route_id=route_id,
        route_name=route["name"],
        today=today,
        version=version,
        effective_from=facts["effective_from"],
        saved_at=facts["created_at"],
        reason=facts["note"],
        compared_with=last["route_version"] if last else None,
        drove_on=localtime.local_day(last["starts_at"], tz) if last else None,
        stops=facts["stops"],
        streets=streets,
        removed=removed,
        next_version=route["next_version"],
        next_from=(await version_facts(conn, route_id, route["next_version"]))["effective_from"]
        if route["next_version"]
        else None,
        map=collection(features),
    )


def _street_list(
    before: list[str], after: list[str], names: dict[str, str | None], compare: bool
) -> tuple[list[PlanStreet], list[PlanStreet]]:
    """The plan's streets marked against `before` (every one 'same' when there is nothing to compare)."""
    order = unique_order(after)
    if not compare:
        return [
            PlanStreet(position=i, segment_id=s, name=names.get(s), change="same", was_position=None)
            for i, s in enumerate(order, 1)
        ], []
    changes = street_changes(before, after)
    was = {s: i for i, s in enumerate(unique_order(before), 1)}
    added, moved = set(changes.added), {m.segment_id for m in changes.moved}
    streets = [
        PlanStreet(
            position=i,
            segment_id=s,
            name=names.get(s),
            change="added" if s in added else "moved" if s in moved else "same",
            was_position=was.get(s),
        )
        for i, s in enumerate(order, 1)
    ]
    removed = [
        PlanStreet(position=None, segment_id=s, name=names.get(s), change="removed", was_position=was[s])
        for s in changes.removed
    ]
    return streets, removed
