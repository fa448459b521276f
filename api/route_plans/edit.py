"""Editing plans on the plans page: the predicted effect of an edit, and the optimiser.

The street graph (street segments, plus the geometry of planned segments the street layer
lacks) is built once per city and plan state and kept, like the city layer; a prediction
then reads the routes' released shifts (decision 0004: (route, ISO week) cells of at least
k shifts and k drivers, the cells the efficiency answers release) and runs the pure model of
`analytics.whatif.plan_edit`. Route-level only: no figure here is about a person.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

import asyncpg
import numpy as np

from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.whatif import plan_edit
from fleetpilot.analytics.whatif.facility_trips import DEFAULT_CAPACITY_KG
from fleetpilot.analytics.whatif.plan_edit import Facilities, PlanFigures, RouteHistory, StreetGraph
from fleetpilot.analytics.whatif.turns import PathRows, TurnRules
from fleetpilot.api.errors import UnknownRoute, invalid
from fleetpilot.api.policy import AggregateScope, released_cell
from fleetpilot.api.route_plans.schemas import (
    BalanceAsk,
    BalanceProposal,
    EditedPlan,
    EditedPlans,
    Figures,
    ImproveAsk,
    Move,
    Prediction,
    Proposal,
    RoutePrediction,
    Step,
)

STATE = """
SELECT current_database() AS db, inet_server_port() AS port,
       (SELECT value FROM fleetpilot_meta WHERE key = 'city_version') AS city,
       (SELECT count(*) FROM route_versions) AS plans
"""
STREETS = "SELECT segment_id, one_way, geometry FROM street_segments ORDER BY segment_id"
# Planned segments the street layer lacks (a plan imported before its city): their latest geometry, two-way.
PLANNED_ONLY = """
SELECT DISTINCT ON (rs.segment_id) rs.segment_id, false AS one_way, rs.geometry
FROM route_segments rs
WHERE NOT EXISTS (SELECT 1 FROM street_segments st WHERE st.segment_id = rs.segment_id)
ORDER BY rs.segment_id, rs.version DESC
"""
# Forbidden turns (migration 0035): from segment, via node, to segment.
TURN_RESTRICTIONS = "SELECT from_segment_id, via_lon, via_lat, to_segment_id FROM street_turn_restrictions"
DEPOT = "SELECT geometry FROM facilities WHERE facility_type = 'depot' ORDER BY facility_id LIMIT 1"
# Where trucks tip (the trips the telemetry counts, RELEASED_HISTORY): the capacity model's facilities.
DISPOSAL = """
SELECT geometry FROM facilities WHERE facility_type IN ('transfer_station', 'landfill') ORDER BY facility_id
"""
CURRENT_PLANS = """
SELECT r.route_id,
       coalesce(array_agg(s.segment_id ORDER BY s.seq) FILTER (WHERE s.service), '{}') AS segments,
       (SELECT count(*) FROM route_stops st WHERE st.route_id = r.route_id AND st.version = r.current_version) AS stops
FROM routes r LEFT JOIN route_segments s ON s.route_id = r.route_id AND s.version = r.current_version
WHERE r.route_id = ANY ($1::text[])
GROUP BY r.route_id
"""
# The routes' shifts in [$2, $3) of (route, ISO week) cells reaching $4 shifts and $5 drivers
# (the efficiency answers' cells), one row per shift; facility trips are the shift's visits to
# a transfer station or landfill (shift_metrics.metrics.facility_visits).
RELEASED_HISTORY = f"""
WITH s AS (
    SELECT m.shift_id, m.route_id, date_trunc('week', m.day::timestamp)::date AS week,
           extract(epoch FROM sh.ends_at - sh.starts_at)::float8 AS shift_s,
           m.distance_m, coalesce(m.deadhead_m, 0) AS deadhead_m, coalesce(m.deadhead_s, 0) AS deadhead_s,
           coalesce(m.collection_s, 0) AS collection_s, coalesce(m.facility_s, 0) AS facility_s,
           (SELECT count(*) FROM jsonb_array_elements(
                CASE WHEN jsonb_typeof(m.metrics -> 'facility_visits') = 'array'
                     THEN m.metrics -> 'facility_visits' ELSE '[]'::jsonb END) v
            WHERE v ->> 'facility_type' IN ('transfer_station', 'landfill'))::float8 AS trips
    FROM shift_metrics m JOIN shifts sh ON sh.shift_id = m.shift_id
    WHERE m.route_id = ANY ($1::text[]) AND m.day >= $2 AND m.day < $3
), cells AS (
    SELECT route_id, week, {released_cell("s.shift_id", "$4", "$5")} AS released
    FROM s GROUP BY route_id, week
)
SELECT s.* FROM s JOIN cells USING (route_id, week) WHERE cells.released ORDER BY s.route_id, s.shift_id
"""
SOLVER = (
    "arc local search (reversal, Or-opt, iterated), started from the plan, turn-aware: U-turns and left turns "
    "penalised, restricted turns never taken (decisions 0020, 0030)"
)
# Turn costs of "Improve sequence" (analytics.whatif.turns); the city's restricted turns are added
# per street graph (``Streets.turns``).
TURNS = TurnRules()
# Kept turn-aware paths per process: plan-to-plan pairs (16 bytes a pair; ~1.4 MB for a
# 150-street plan, so ~180 plans). Whole rows from each street were kept before: a city of 50
# routes (17,468 traversals) would need 5 GB of them, and with 256 MB every edit of the bench's
# random route pairs was cold (2.1 s CPU a request); from kept pairs an edit searches only its
# new streets.
PATHS_BYTES = 256e6
ASSUMPTIONS = [
    "figures are per shift, the mean over the route's released shifts in the period, with a 90 % interval "
    "from resampling those shifts",
    "a changed plan shifts each shift by: service metres × the route's own collection seconds per metre; "
    "modelled deadhead metres (depot → segments → depot on the street network, one-way streets forwards) "
    "at the route's own deadhead speed; and the change in facility trips",
    "facility trips follow the truck's capacity: each shift's load per service metre is read from its own "
    "trips on today's plan (t trips carried t − ½ truckloads), the truck tips before a street would overfill it, "
    "at the transfer station or landfill (the nearest on the street network) where that adds the fewest metres, "
    "and once more at the end; each trip adds the shift's own time at the facility and its detour at deadhead "
    f"speed (truck capacity {DEFAULT_CAPACITY_KG:,.0f} kg; the count depends only on loads relative to it)",
    "the modelled deadhead (between service segments, from and to the depot, to and from the facilities) takes "
    "the city's turn restrictions and the turn costs of Improve sequence: the path minimising metres plus "
    f"{TURNS.uturn_m:.0f} m per U-turn and {TURNS.left_m:.0f} m per turn across oncoming traffic, its metres "
    "counted; traffic and bin volumes per street are not modelled",
]


@dataclass(frozen=True)
class Streets:
    graph: StreetGraph
    index: dict[str, int]
    depot: int | None  # node nearest the depot's centroid
    turns: TurnRules = TURNS  # with the city's forbidden turns
    disposal: tuple[int, ...] = ()  # nodes nearest the transfer stations' and landfills' centroids
    _facilities: dict[int, Facilities] = field(default_factory=dict, compare=False)
    _paths: dict[int, PathRows] = field(default_factory=dict, compare=False)

    def facilities(self, depot: int) -> Facilities:
        """Shortest paths to and from the disposal facilities (kept per depot node)."""
        if depot not in self._facilities:
            self._facilities[depot] = Facilities.of(self.graph, self.disposal, depot)
        return self._facilities[depot]

    def paths(self, depot: int) -> PathRows:
        """Turn-aware shortest paths (``turns``, depot and facilities), kept per depot node: a
        prediction's plans, an edit and the plan it edits, share most of their searches."""
        if depot not in self._paths:
            self._paths[depot] = plan_edit.turn_paths(self.graph, depot, self.turns, self.disposal, PATHS_BYTES)
        return self._paths[depot]


_kept: dict[tuple, Streets] = {}


def _centroid(geometry: dict) -> tuple[float, float]:
    if geometry["type"] == "Point":
        return float(geometry["coordinates"][0]), float(geometry["coordinates"][1])
    ring = np.asarray(geometry["coordinates"][0] if geometry["type"] == "Polygon" else geometry["coordinates"][0][0])
    return float(ring[:, 0].mean()), float(ring[:, 1].mean())


def _restricted(graph: StreetGraph, frame: LocalFrame, turns: list) -> frozenset[tuple[int, int, int]]:
    """(from segment, via node, to segment) indexes: the via is the two segments' shared end nearest
    the stored via point (the end points are matched to 1 cm, as the via was at import)."""
    index = graph.index()
    out = set()
    for r in turns:
        f, t = index.get(r["from_segment_id"]), index.get(r["to_segment_id"])
        if f is None or t is None:
            continue
        shared = {int(graph.start[f]), int(graph.end[f])} & {int(graph.start[t]), int(graph.end[t])}
        if not shared:
            continue
        x, y = (float(v[0]) for v in frame.to_xy(np.array([r["via_lon"]]), np.array([r["via_lat"]])))
        via = min(shared, key=lambda n: (graph.node_x[n] - x) ** 2 + (graph.node_y[n] - y) ** 2)
        out.add((f, via, t))
    return frozenset(out)


def _build(rows: list, depot: dict | None, turns: list, disposal: list[dict]) -> Streets:
    lines = [r["geometry"]["coordinates"] for r in rows]
    lonlat = np.concatenate([np.asarray(line)[:, :2] for line in lines])
    frame = LocalFrame.around(lonlat[:, 0], lonlat[:, 1])
    graph = plan_edit.street_graph([r["segment_id"] for r in rows], lines, [r["one_way"] for r in rows], frame)

    def node(geometry: dict) -> int:
        x, y = frame.to_xy(*(np.array([v]) for v in _centroid(geometry)))
        return graph.nearest_node(float(x[0]), float(y[0]))

    rules = replace(TURNS, restricted=_restricted(graph, frame, turns))
    return Streets(
        graph,
        graph.index(),
        None if depot is None else node(depot),
        rules,
        tuple(sorted({node(g) for g in disposal})),
    )


async def streets(conn: asyncpg.Connection) -> Streets:
    state = tuple(await conn.fetchrow(STATE))
    if state in _kept:
        return _kept[state]
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        state = tuple(await conn.fetchrow(STATE))
        rows = [*await conn.fetch(STREETS), *await conn.fetch(PLANNED_ONLY)]
        depot = await conn.fetchval(DEPOT)
        turns = await conn.fetch(TURN_RESTRICTIONS)
        disposal = [r["geometry"] for r in await conn.fetch(DISPOSAL)]
    if not rows:
        raise invalid(("body",), "the city has no street segments yet (import the city first)")
    built = await asyncio.to_thread(_build, rows, depot, turns, disposal)
    _kept.clear()
    _kept[state] = built
    return built


def _segments(net: Streets, ids: list[str], loc: tuple) -> np.ndarray:
    unknown = [s for s in ids if s not in net.index]
    if unknown:
        raise invalid(loc, f"unknown street segment(s): {', '.join(unknown[:5])}", unknown[:5])
    if len(set(ids)) < len(ids):
        raise invalid(loc, "a segment is listed twice", ids)
    return np.array([net.index[s] for s in ids], dtype=np.int64)


def _depot(net: Streets, segments: np.ndarray) -> int:
    """The depot's node; without a depot in the city, where the plan starts."""
    if net.depot is not None:
        return net.depot
    return int(net.graph.start[segments[0]]) if len(segments) else 0


async def _current(conn: asyncpg.Connection, route_ids: list[str]) -> dict[str, tuple[list[str], int]]:
    found = {r["route_id"]: (list(r["segments"]), r["stops"]) for r in await conn.fetch(CURRENT_PLANS, route_ids)}
    missing = sorted(set(route_ids) - set(found))
    if missing:
        raise UnknownRoute(", ".join(missing))
    return found


def _figures(net: Streets, segments: np.ndarray, depot: int, stops: int) -> PlanFigures:
    """The plan in its order: service metres, modelled deadhead and its capacity-driven trips,
    over the turn-aware paths "Improve sequence" minimises (restricted turns never taken)."""
    inst, seq = plan_edit.plan_instance(net.graph, segments, depot, paths=net.paths(depot))
    return PlanFigures(
        service_m=float(net.graph.length_m[segments].sum()),
        deadhead_m=inst.metres(seq) if len(segments) else 0.0,
        stops=stops,
        segments=len(segments),
        trips=plan_edit.trip_model(net.graph, inst, seq),
    )


def _out(values: dict, plan: PlanFigures) -> Figures:
    return Figures(
        **values,
        service_km=round(plan.service_m / 1000, 3),
        modelled_deadhead_km=round(plan.deadhead_m / 1000, 3),
        segments=plan.segments,
        stops=plan.stops,
    )


async def _histories(conn: asyncpg.Connection, scope: AggregateScope, route_ids: list[str]) -> dict[str, RouteHistory]:
    rows = await conn.fetch(RELEASED_HISTORY, route_ids, scope.start, scope.end, scope.k_shifts, scope.k_people)
    out = {}
    for route_id in route_ids:
        mine = [r for r in rows if r["route_id"] == route_id]
        out[route_id] = RouteHistory(
            *(
                np.array([float(r[c] or 0) for r in mine])
                for c in ("shift_s", "distance_m", "deadhead_m", "deadhead_s", "collection_s", "facility_s", "trips")
            )
        )
    return out


@dataclass(frozen=True)
class _Planned:
    route_id: str
    history: RouteHistory
    current: PlanFigures
    proposed: PlanFigures


async def _plans(conn: asyncpg.Connection, scope: AggregateScope, plans: list[EditedPlan]) -> list[_Planned]:
    net = await streets(conn)
    ids = [p.route_id for p in plans]
    current = await _current(conn, ids)
    histories = await _histories(conn, scope, ids)
    out = []
    for i, plan in enumerate(plans):
        now_ids, now_stops = current[plan.route_id]
        now = _segments(net, [s for s in now_ids if s in net.index], ("body", "routes", i, "segments"))
        new = _segments(net, plan.segments, ("body", "routes", i, "segments"))
        depot = _depot(net, now if len(now) else new)
        # Off the event loop: a plan's first turn-aware paths take ~0.2 s of CPU on a district.
        today = await asyncio.to_thread(_figures, net, now, depot, now_stops)
        edited = await asyncio.to_thread(_figures, net, new, depot, plan.stops)
        out.append(_Planned(plan.route_id, histories[plan.route_id], today, edited))
    return out


async def predict(conn: asyncpg.Connection, scope: AggregateScope, body: EditedPlans) -> Prediction:
    """Each route's figures today and with its edited plan (see ASSUMPTIONS)."""
    routes = []
    for p in await _plans(conn, scope, body.routes):
        routes.append(
            RoutePrediction(
                route_id=p.route_id,
                suppressed=p.history.size == 0,
                shifts=p.history.size,
                today=_out(plan_edit.predict(p.history, p.current, p.current), p.current),
                proposed=_out(plan_edit.predict(p.history, p.current, p.proposed), p.proposed),
            )
        )
    return Prediction(
        period_start=scope.start.isoformat(),
        period_end=scope.end.isoformat(),
        paid_hours=plan_edit.PAID_HOURS,
        level=plan_edit.LEVEL,
        assumptions=ASSUMPTIONS,
        routes=routes,
    )


async def improve(conn: asyncpg.Connection, route_id: str, body: ImproveAsk) -> Proposal:
    """A re-sequenced plan of the route's service segments (never worse than the given order)."""
    net = await streets(conn)
    now_ids, _ = (await _current(conn, [route_id]))[route_id]
    segments = _segments(net, body.segments, ("body", "segments"))
    now = np.array([net.index[s] for s in now_ids if s in net.index], dtype=np.int64)
    depot = _depot(net, now if len(now) else segments)
    steps, before, after = await asyncio.to_thread(
        plan_edit.sequence, net.graph, segments, depot, body.seconds, net.turns, net.paths(depot)
    )
    ids = net.graph.segment_ids
    return Proposal(
        route_id=route_id,
        solver=SOLVER,
        steps=[Step(segment_id=str(ids[s.segment]), reverse=s.reverse, service=s.service) for s in steps],
        deadhead_km_before=round(before / 1000, 3),
        deadhead_km_after=round(after / 1000, 3),
    )


def _shift_h(p: _Planned) -> float:
    figure = plan_edit.predict(p.history, p.current, p.proposed)["shift_h"]
    if figure is None:
        raise ValueError(f"route {p.route_id} has no released shifts")
    return figure["value"]


async def balance(conn: asyncpg.Connection, scope: AggregateScope, body: BalanceAsk) -> BalanceProposal:
    """Segment moves evening out the routes' predicted shift lengths, to touching routes only."""
    if len(body.routes) < 2:
        raise invalid(("body", "routes"), "balancing needs two routes or more", len(body.routes))
    planned = await _plans(conn, scope, body.routes)
    net = await streets(conn)
    plans = [np.array([net.index[s] for s in p.segments], dtype=np.int64) for p in body.routes]
    from_history = all(p.history.size for p in planned)
    if from_history:
        hours = np.array([_shift_h(p) for p in planned])
        rate = np.array([p.history.collection_s.mean() / max(p.current.service_m, 1.0) for p in planned])
    else:  # the plans alone: service and modelled deadhead at the model's default speeds
        hours = np.array(
            [
                (p.proposed.service_m / plan_edit.SERVICE_MPS + p.proposed.deadhead_m / plan_edit.DEADHEAD_MPS) / 3600
                for p in planned
            ]
        )
        rate = np.full(len(planned), 1 / plan_edit.SERVICE_MPS)
    moves = plan_edit.balance(net.graph, plans, hours, rate, body.tolerance_h)
    ids = net.graph.segment_ids
    return BalanceProposal(
        basis="history" if from_history else "plan model",
        tolerance_h=body.tolerance_h,
        moves=[
            Move(segment_id=str(ids[s]), from_route=body.routes[a].route_id, to_route=body.routes[b].route_id)
            for s, a, b in moves
        ],
    )
