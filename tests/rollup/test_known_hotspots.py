"""The rollup side of the known-hotspot contract: events carry their street, and the
segments at the simulator's dangerous intersections become known hotspots."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest
from support import run

from fleetpilot.api.goals.service import scorecard
from fleetpilot.api.hotspots.service import hotspots
from fleetpilot.api.policy import AggregateScope
from fleetpilot.rollup.job import run_rollup
from fleetpilot.simload import load_run
from fleetsim.offline import generate_fleet


@pytest.fixture(scope="module")
def fleet():
    start = (datetime.now(timezone.utc) - timedelta(days=3)).strftime("%Y-%m-%dT06:00:00Z")
    return generate_fleet(n_vehicles=8, days=2, seed=11, hours=10.0, start=start)


def _metres(lon1, lat1, lon2, lat2) -> float:
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return 6_371_008.8 * math.hypot(x, math.radians(lat2 - lat1))


def _near(geometry: dict, lon: float, lat: float, metres: float) -> bool:
    return any(_metres(x, y, lon, lat) <= metres for x, y in geometry["coordinates"])


def test_dangerous_intersections_become_known_hotspots_and_events_name_their_street(db_url, fleet):
    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            await load_run(conn, fleet)
            result = await run_rollup(conn)
            known = await conn.fetch(
                "SELECT k.*, s.geometry::text AS g FROM known_hotspots k JOIN street_segments s USING (segment_id)"
            )
            events = await conn.fetch("SELECT kind, lon, lat, context::text AS c FROM shift_events")
            streets = {
                r["segment_id"]: r["name"] for r in await conn.fetch("SELECT segment_id, name FROM street_segments")
            }
            # The same judgement as the data officer's page over the same whole weeks.
            first, last = known[0]["first_day"], known[0]["last_day"]
            k = await conn.fetchrow("SELECT k_min_shifts, k_min_people FROM privacy_settings")
            page = await hotspots(conn, AggregateScope(first, last + timedelta(days=1), *k), "segment", "harsh_brake")
            shown = {u.unit_id for u in page.units if u.significant}
            # Nothing new: not rejudged. A higher k with no new data: rejudged, and nothing is visible.
            again = await run_rollup(conn)
            await conn.execute("UPDATE privacy_settings SET k_min_shifts = 1000")
            raised = await run_rollup(conn)
            left = await conn.fetchval("SELECT count(*) FROM known_hotspots")
            return result, known, events, streets, (again, raised, left), shown

        finally:
            await conn.close()

    result, known, events, streets, (again, raised, left), shown = run(body())
    dangerous = fleet.truth["dangerous_intersections"]
    assert result.block_days == 2 and result.known_hotspots == len(known)

    brakes = [r for r in known if r["kind"] == "harsh_brake"]
    assert brakes and all(r["q"] <= 0.05 and r["events"] > r["expected"] for r in brakes)
    # Hard braking happens on the approach: a known segment ends at each dangerous intersection
    # the fleet drove through, and (almost) every known segment ends at one of them.
    near = [any(_near(json.loads(r["g"]), d["lon"], d["lat"], 25) for d in dangerous) for r in brakes]
    assert sum(near) >= len(brakes) - 1
    assert sum(any(_near(json.loads(r["g"]), d["lon"], d["lat"], 25) for r in brakes) for d in dangerous) >= 2

    contexts = [json.loads(r["c"]) for r in events]
    matched = [c for c in contexts if "segment_id" in c]
    assert len(matched) >= 0.9 * len(contexts)  # trucks drive on streets; long stretches may start at the depot
    for c in matched:
        assert c["segment_id"] in streets
        assert c.get("street") == streets[c["segment_id"]] or (streets[c["segment_id"]] is None and "street" not in c)
    assert again.block_days == 0 and again.known_hotspots is None
    assert raised.block_days == 0 and raised.known_hotspots == 0 and left == 0
    known_ids = {r["segment_id"] for r in brakes}
    assert known_ids == shown
    assert all((r["first_day"].weekday(), r["last_day"].weekday()) == (0, 6) for r in known)
    assert any(r["kind"] == "harsh_brake" and json.loads(r["c"]).get("segment_id") in known_ids for r in events)


def test_the_hotspot_goal_has_weekly_history_less_the_places_the_city_fixed(db_url, fleet):
    """Issue 16: "significant hotspots open vs fixed" per ISO week, as known_hotspots judges the
    13 weeks up to it (k-visible cells only), a place counting as fixed from the week a hazard
    on it was fixed (migration 0029). Expected figures come from the table the rollup wrote."""

    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            await load_run(conn, fleet)
            await run_rollup(conn)
            known = await conn.fetch(
                "SELECT segment_id, place_id, last_day FROM known_hotspots ORDER BY segment_id, kind"
            )
            week = known[0]["last_day"] - timedelta(days=6)  # the Monday of the rollup's current week
            places: dict[str, set] = {}
            for r in known:
                places.setdefault(r["segment_id"], set()).add(r["place_id"] or f"segment:{r['segment_id']}")
            # One place fixed in the week (its Wednesday), another segment's fix only the week after.
            first = next(iter(places))
            later = next(s for s in places if not places[s] & places[first])
            for segment, day in ((first, week + timedelta(days=2)), (later, week + timedelta(days=7))):
                await conn.execute(
                    "INSERT INTO hazards (place_key, segment_id, category, lon, lat, status, fix_what, fixed_on) "
                    "VALUES ($1, $1, 'dangerous_intersection', 0, 0, 'fixed', 'signal retimed', $2)",
                    segment,
                    day,
                )
            k = await conn.fetchrow("SELECT k_min_shifts, k_min_people FROM privacy_settings")
            goal = {
                "goal_id": "hotspots",
                "version": 1,
                "kpi": "hotspots_open",
                "title": "Fewer dangerous places",
                "definition": "Significant hotspots open at the end of each week.",
                "target": 0.0,
                "direction": "at_most",
                "department": "Streets",
                "baseline_from": week,
                "baseline_to": week + timedelta(days=7),
                "history": [],
                "created_at": None,
            }
            two = AggregateScope(week, week + timedelta(weeks=2), *k)
            card = await scorecard(conn, two, "America/Chicago", [goal])
            await conn.execute("UPDATE privacy_settings SET k_min_shifts = 1000")
            hidden = await scorecard(conn, AggregateScope(week, week + timedelta(weeks=1), 1000, k[1]), "UTC", [goal])
            return places, first, later, card.goals[0], hidden.goals[0]
        finally:
            await conn.close()

    places, first, later, goal, hidden = run(body())
    fixed = {s for s, of in places.items() if of & places[first]}
    assert first in fixed and later not in fixed and len(places) > len(fixed)
    this, following = goal["weeks"]
    assert (this["value"], this["fixed"], this["status"]) == (len(places) - len(fixed), len(fixed), "ok")
    assert this["lo"] == this["value"] == this["hi"]
    # The next week's window still holds the fleet's days; the later fix now counts too.
    later_fixed = fixed | {s for s, of in places.items() if of & places[later]}
    assert (following["value"], following["fixed"]) == (len(places) - len(later_fixed), len(later_fixed))
    assert goal["period"]["value"] == pytest.approx((this["value"] + following["value"]) / 2)
    assert goal["period"]["lo"] <= goal["period"]["value"] <= goal["period"]["hi"]
    assert goal["baseline"]["value"] == pytest.approx(this["value"])  # the baseline is this week
    assert hidden["weeks"][0]["status"] == "withheld (k)" and hidden["weeks"][0]["value"] is None
    assert hidden["suppressed"] is True and hidden["verdict"] == "no data"
