"""The effect of a route plan edit before it is saved, and the plans page's optimiser.

A plan is a route's service segments in driving order. Three pure steps, all route-level:

- ``street_graph``: the city's street segments as a directed graph (one-way streets only
  forwards, i.e. from a segment's first to its last vertex), end points matched to 1 cm;
- ``plan_instance`` / ``sequence``: a plan as the arc-routing instance of
  ``arcroute`` (depot gate → service segments → depot gate, deadhead on shortest street paths)
  and its sequence re-optimised by the solver decision 0020 chose (arc local search, started
  from the plan, so the proposal is never worse than the plan); ``connect`` fills in the drive-only
  segments of the shortest paths between them;
- ``predict``: a route's shift figures for a plan from the route's own history (released
  shifts only; the caller selects them): the history's per-shift figures shifted by what the
  plan changes — service metres × the route's collection seconds per service metre, the
  modelled deadhead metres (of this plan minus of the current plan) at the route's deadhead
  speed, facility trips × the route's time per trip and the detours they take (trips modelled
  from the truck's capacity, ``TripModel``: each shift's load per service metre from its own
  trips on today's plan, both plans' tips modelled at that load; else in proportion to stops) — with percentile
  intervals from resampling the shifts (``uncertainty``). Overtime risk is the share of the
  shifted shifts longer than ``paid_hours``.

``balance`` moves service segments between routes whose predicted shift lengths differ, only to
a route that has a segment touching the moved one and never one whose removal splits the giving
route into more pieces (``rebalance.plan_moves``; touching = sharing a street-graph node, i.e. end
points within 1 cm), so routes stay contiguous, until the longest and shortest are within a
tolerance.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.whatif.arcroute import ArcInstance, best_directions, deadhead_of
from fleetpilot.analytics.whatif.arcsearch import sequence_local
from fleetpilot.analytics.whatif.facility_trips import DEFAULT_CAPACITY_KG, DEFAULT_KG_PER_SERVICE_M, Trips, plan_trips
from fleetpilot.analytics.whatif.rebalance import plan_moves
from fleetpilot.analytics.whatif.turns import (
    PathRows,
    TurnInstance,
    TurnRules,
    steps_between,
    traversal_graph,
    turn_instance,
)
from fleetpilot.analytics.whatif.uncertainty import day_weights, percentile_interval

GRID = 1e7  # end point matching: 1e-7 degrees (~1 cm)
SERVICE_MPS = 8.0 / 3.6  # collecting, when a route has no history: crawl between bins, lifts included
DEADHEAD_MPS = 24.0 / 3.6  # driving without service: 80 % of a 30 km/h residential limit
PAID_HOURS = 8.0
REPLICATES = 200
LEVEL = 0.9
MIN_SEARCH_S = 0.05
TIE_M = 1e-3  # metres per mid-route trip, for ties (TripModel.mid_route)  # the search's least time once the instance is built (a descent at least)


@dataclass(frozen=True)
class StreetGraph:
    """Street segments as directed edges between matched end points (metres in ``frame``)."""

    segment_ids: np.ndarray
    start: np.ndarray  # node of the first vertex
    end: np.ndarray  # node of the last vertex
    length_m: np.ndarray
    one_way: np.ndarray
    node_x: np.ndarray
    node_y: np.ndarray
    graph: csr_matrix  # node → node, shortest segment's metres

    @property
    def n_nodes(self) -> int:
        return len(self.node_x)

    def index(self) -> dict[str, int]:
        return {str(s): i for i, s in enumerate(self.segment_ids)}

    def nearest_node(self, x: float, y: float) -> int:
        return int(np.argmin((self.node_x - x) ** 2 + (self.node_y - y) ** 2))


def street_graph(
    segment_ids: Sequence[str], lines: Sequence[Sequence[Sequence[float]]], one_way: Sequence[bool], frame: LocalFrame
) -> StreetGraph:
    """The graph of street segments given as lon/lat lines (first → last vertex is forwards)."""
    if not len(segment_ids):
        raise ValueError("the city has no street segments")
    ends = np.array([[line[0][0], line[0][1], line[-1][0], line[-1][1]] for line in lines], dtype=np.float64)
    keys = np.round(np.concatenate([ends[:, :2], ends[:, 2:]]) * GRID).astype(np.int64)
    _, first, node = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    node = node.ravel()
    n = len(segment_ids)
    start, end = node[:n], node[n:]
    lonlat = np.concatenate([ends[:, :2], ends[:, 2:]])[first]
    node_x, node_y = (np.asarray(v, dtype=np.float64) for v in frame.to_xy(lonlat[:, 0], lonlat[:, 1]))
    length = np.zeros(n)
    for i, line in enumerate(lines):
        pts = np.asarray(line, dtype=np.float64)[:, :2]
        x, y = frame.to_xy(pts[:, 0], pts[:, 1])
        length[i] = float(np.hypot(np.diff(np.asarray(x, np.float64)), np.diff(np.asarray(y, np.float64))).sum())
    length = np.maximum(length, 0.01)  # a zero weight would read as "no edge" in the sparse graph
    way = np.asarray(one_way, dtype=bool)
    frm = np.concatenate([start, end[~way]])
    to = np.concatenate([end, start[~way]])
    w = np.concatenate([length, length[~way]])
    order = np.lexsort((w, to, frm))  # the shortest of parallel segments first
    keep = order[np.r_[True, (np.diff(frm[order]) != 0) | (np.diff(to[order]) != 0)]]
    graph = csr_matrix((w[keep], (frm[keep], to[keep])), shape=(len(node_x), len(node_x)))
    return StreetGraph(np.asarray(segment_ids), start, end, length, way, node_x, node_y, graph)


@dataclass(frozen=True)
class PlanInstance:
    """A plan's service segments as an arc-routing instance; option o drives segment
    ``segment[task[o]]`` reversed when ``reverse[o]``."""

    arc: ArcInstance
    segment: np.ndarray  # per task: street segment index
    reverse: np.ndarray  # per option
    predecessors: np.ndarray | None  # (sources, nodes) shortest-path trees, rows as ``source_row``; turn-aware: None
    source_row: dict[int, int]
    depot: int
    turns: TurnInstance | None = None  # turn-aware: ``arc`` holds metres + turn penalties

    def metres(self, seq: np.ndarray) -> float:
        """Deadhead metres of a sequence (without turn penalties)."""
        return deadhead_of(self.turns.metres if self.turns else self.arc, seq)


def turn_paths(
    net: StreetGraph, depot: int, rules: TurnRules, facilities: Sequence[int] = (), max_bytes: float = 64e6
) -> PathRows:
    """The street graph's traversals with ``rules`` (depot and facility vertices included), for
    ``plan_instance``'s ``paths``: keep it per city and depot, and each plan reuses the paths
    searched for another (``turns.PathRows``)."""
    tg = traversal_graph(
        net.start, net.end, net.length_m, net.one_way, net.node_x, net.node_y, depot, rules, facilities=facilities
    )
    return PathRows(tg, max_bytes)


def plan_instance(
    net: StreetGraph,
    segments: np.ndarray,
    depot: int,
    turns: TurnRules | None = None,
    paths: PathRows | None = None,
) -> tuple[PlanInstance, np.ndarray]:
    """The instance of a plan (street segment indexes in driving order) and the plan as a
    sequence of options (each segment in the direction deadhead prefers for that order).
    With ``turns``: deadhead over street traversals with turn costs and restrictions (``turns``);
    ``paths``: ``turn_paths(net, depot, turns, ...)`` kept by the caller (its facilities too)."""
    segments = np.asarray(segments, dtype=np.int64)
    if turns is not None or paths is not None:
        if paths is None:
            assert turns is not None
            paths = turn_paths(net, depot, turns)
        return _turn_plan_instance(net, segments, depot, paths)
    task = np.repeat(np.arange(len(segments)), np.where(net.one_way[segments], 1, 2))
    reverse = np.zeros(len(task), dtype=bool)
    first = np.r_[True, task[1:] != task[:-1]]
    reverse[~first] = True
    seg = segments[task]
    s_node = np.where(reverse, net.end[seg], net.start[seg])
    e_node = np.where(reverse, net.start[seg], net.end[seg])
    sources = np.unique(np.r_[e_node, depot])
    dist, pred = dijkstra(net.graph, indices=sources, return_predecessors=True)
    row = {int(n): i for i, n in enumerate(sources)}
    e_rows = np.array([row[int(e)] for e in e_node], dtype=np.int64)
    arc = ArcInstance(
        task=task,
        service_m=net.length_m[segments],
        deadhead_m=dist[e_rows][:, s_node],
        from_start_m=dist[row[int(depot)], s_node],
        to_end_m=dist[e_rows, depot],
        task_xy=np.column_stack(
            [
                (net.node_x[net.start[segments]] + net.node_x[net.end[segments]]) / 2,
                (net.node_y[net.start[segments]] + net.node_y[net.end[segments]]) / 2,
            ]
        ),
        start_xy=np.array([net.node_x[depot], net.node_y[depot]]),
    )
    inst = PlanInstance(arc, segments, reverse, pred, row, depot)
    if not len(segments):
        return inst, np.zeros(0, dtype=np.int64)
    return inst, best_directions(arc, np.arange(len(segments)))


def _turn_plan_instance(
    net: StreetGraph, segments: np.ndarray, depot: int, paths: PathRows
) -> tuple[PlanInstance, np.ndarray]:
    xy = np.column_stack(
        [
            (net.node_x[net.start[segments]] + net.node_x[net.end[segments]]) / 2,
            (net.node_y[net.start[segments]] + net.node_y[net.end[segments]]) / 2,
        ]
    )
    ti = turn_instance(paths.tg, segments, xy, np.array([net.node_x[depot], net.node_y[depot]]), paths)
    inst = PlanInstance(ti.cost, segments, ti.traversal % 2 == 1, None, {}, depot, ti)
    if not len(segments):
        return inst, np.zeros(0, dtype=np.int64)
    return inst, best_directions(ti.cost, np.arange(len(segments)))


def modelled_deadhead_m(net: StreetGraph, segments: np.ndarray, depot: int, turns: TurnRules | None = None) -> float:
    """Deadhead metres of the plan in its order (each two-way segment in its best direction)."""
    if not len(segments):
        return 0.0
    inst, seq = plan_instance(net, segments, depot, turns)
    return inst.metres(seq)


@dataclass(frozen=True)
class Step:
    segment: int  # street segment index
    reverse: bool  # driven from its last vertex to its first
    service: bool  # False: driven without collecting (a connection between service segments)


def connect(net: StreetGraph, inst: PlanInstance, seq: np.ndarray) -> list[Step]:
    """The plan of a sequence of options: its service segments with the drive-only segments of
    the shortest street paths between them (depot paths excluded, as in today's plans)."""
    edge: dict[tuple[int, int], tuple[int, bool]] = {}
    for i in np.argsort(-net.length_m):  # the shortest parallel segment wins, as in the graph
        edge[(int(net.start[i]), int(net.end[i]))] = (int(i), False)
        if not net.one_way[i]:
            edge[(int(net.end[i]), int(net.start[i]))] = (int(i), True)
    steps: list[Step] = []
    prev_end: int | None = None
    prev_o = -1
    for o in seq:
        seg = int(inst.segment[inst.arc.task[o]])
        rev = bool(inst.reverse[o])
        s_node = int(net.end[seg] if rev else net.start[seg])
        if inst.turns is not None:
            if steps:
                steps.extend(Step(int(t) // 2, bool(t % 2), False) for t in steps_between(inst.turns, prev_o, int(o)))
            prev_o = int(o)
        elif prev_end is not None and prev_end != s_node:
            assert inst.predecessors is not None  # node paths always keep their trees
            pred = inst.predecessors[inst.source_row[prev_end]]
            path = [s_node]
            while path[-1] != prev_end and pred[path[-1]] >= 0:
                path.append(int(pred[path[-1]]))
            path.reverse()
            for a, b in zip(path[:-1], path[1:]):
                i, r = edge[(a, b)]
                steps.append(Step(i, r, False))
        steps.append(Step(seg, rev, True))
        prev_end = int(net.start[seg] if rev else net.end[seg])
    return steps


def proposal(
    net: StreetGraph,
    segments: np.ndarray,
    depot: int,
    seconds: float,
    turns: TurnRules | None = None,
    paths: PathRows | None = None,
) -> tuple[PlanInstance, np.ndarray, np.ndarray]:
    """Decision 0020's proposal: the arc search (integer programme, then local search) from the
    plan's own order, instance and search within ``seconds`` of this thread's CPU (and of the wall
    clock). Returns the instance, the plan's and the proposal's sequences of options (the proposal never worse than the plan; with ``turns``, in metres +
    turn penalties)."""
    began, began_cpu = time.perf_counter(), time.thread_time()
    inst, planned = plan_instance(net, segments, depot, turns, paths)
    if len(segments) < 2:
        return inst, planned, planned
    # ``seconds`` covers building the instance too (shortest paths: ~0.5 s of CPU on a district).
    cpu_left = max(seconds - (time.thread_time() - began_cpu), MIN_SEARCH_S)
    wall_left = max(seconds - (time.perf_counter() - began), MIN_SEARCH_S)
    run = sequence_local(inst.arc, cpu_left, initial=planned, wall_seconds=wall_left)
    better = deadhead_of(inst.arc, run.seq) <= deadhead_of(inst.arc, planned)
    return inst, planned, run.seq if better else planned  # warm-started: never worse, checked anyway


def sequence(
    net: StreetGraph,
    segments: np.ndarray,
    depot: int,
    seconds: float,
    turns: TurnRules | None = None,
    paths: PathRows | None = None,
) -> tuple[list[Step], float, float]:
    """``proposal`` as a plan of steps, with the modelled deadhead metres before and after."""
    inst, planned, seq = proposal(net, segments, depot, seconds, turns, paths)
    return connect(net, inst, seq), inst.metres(planned), inst.metres(seq)


def facility_trips(
    net: StreetGraph,
    inst: PlanInstance,
    seq: np.ndarray,
    facility: int,
    capacity_kg: float = DEFAULT_CAPACITY_KG,
    kg_per_service_m: float = DEFAULT_KG_PER_SERVICE_M,
) -> Trips:
    """Where a sequence of options tips at the facility's node (``facility_trips.plan_trips``):
    each street's load from its service metres, deadhead on the street graph (one-way aware)."""
    model = trip_model(net, inst, seq, Facilities.of(net, [facility], int(inst.depot)))
    return model.mid_route(kg_per_service_m, capacity_kg)


@dataclass(frozen=True)
class Facilities:
    """Disposal facilities (transfer stations, landfills) as street-graph nodes, with shortest
    street paths to and from each (one-way aware) and from each back to the depot."""

    to_m: np.ndarray  # (facilities, nodes): node → facility
    from_m: np.ndarray  # (facilities, nodes): facility → node
    to_depot_m: np.ndarray  # (facilities,)

    @classmethod
    def of(cls, net: StreetGraph, nodes: Sequence[int], depot: int) -> Facilities:
        at = np.asarray(nodes, dtype=np.int64)
        if not len(at):
            empty = np.zeros((0, net.n_nodes))
            return cls(empty, empty, np.zeros(0))
        from_m = np.atleast_2d(dijkstra(net.graph, indices=at))
        to_m = np.atleast_2d(dijkstra(net.graph.T.tocsr(), indices=at))
        return cls(to_m, from_m, from_m[:, depot])


@dataclass(frozen=True)
class TripModel:
    """A plan in its driving order as the capacity model sees it: a load per street (from its
    service metres), the deadhead between streets straight on and through the nearest facility,
    and the last street's way home through the facility instead of straight to the depot."""

    service_m: np.ndarray  # (n,) per street, in driving order
    direct_m: np.ndarray  # (n-1,)
    via_m: np.ndarray  # (n-1,)
    final_extra_m: float  # the final tip's detour (last street → facility → depot, over → depot)

    def mid_route(self, kg_per_service_m: float, capacity_kg: float = DEFAULT_CAPACITY_KG) -> Trips:
        # A street heavier than the truck (an extreme load estimate) is clipped: it still fills it.
        load = np.minimum(self.service_m * kg_per_service_m, capacity_kg)
        # A millimetre per trip: of equally short ways, the one with the fewest trips (a facility
        # on the way, or none known, would otherwise make every gap a free trip).
        trips = plan_trips(load, capacity_kg, self.direct_m, self.via_m + TIE_M)
        return Trips(trips.before, max(trips.extra_m - TIE_M * len(trips.before), 0.0), trips.count)

    def at(self, kg_per_service_m: float, capacity_kg: float = DEFAULT_CAPACITY_KG) -> tuple[int, float]:
        """Trips (mid-route + the final tip) and the deadhead metres they add to the plan."""
        if not len(self.service_m):
            return 0, 0.0
        trips = self.mid_route(kg_per_service_m, capacity_kg)
        return trips.count, trips.extra_m + self.final_extra_m


def trip_model(
    net: StreetGraph, inst: PlanInstance, seq: np.ndarray, facilities: Facilities | None = None
) -> TripModel:
    """The trip model of a sequence of options of a ``plan_instance``: a turn-aware instance
    built with facilities (``turn_paths``) takes its trips over the same turns; otherwise
    ``facilities`` (node to node, one-way aware). Without a reachable facility a trip adds no
    metres (its position is unknown), only its count."""
    seq = np.asarray(seq, dtype=np.int64)
    arc = inst.arc
    if not len(seq):
        return TripModel(np.zeros(0), np.zeros(0), np.zeros(0), 0.0)
    paths = inst.turns.metres if inst.turns else arc
    direct = paths.deadhead_m[seq[:-1], seq[1:]]
    to_depot = float(paths.to_end_m[seq[-1]])
    if inst.turns is not None and len(inst.turns.facility_to_end_m):
        ti = inst.turns
        via = (ti.to_facility_m[:, seq[:-1]] + ti.from_facility_m[:, seq[1:]]).min(axis=0)
        home = float((ti.to_facility_m[:, seq[-1]] + ti.facility_to_end_m).min())
    elif facilities is not None and len(facilities.to_depot_m):
        seg = inst.segment[arc.task[seq]]
        s_node = np.where(inst.reverse[seq], net.end[seg], net.start[seg])
        e_node = np.where(inst.reverse[seq], net.start[seg], net.end[seg])
        via = (facilities.to_m[:, e_node[:-1]] + facilities.from_m[:, s_node[1:]]).min(axis=0)
        home = float((facilities.to_m[:, e_node[-1]] + facilities.to_depot_m).min())
    else:
        via, home = direct, to_depot
    final = home - to_depot if np.isfinite(home) and np.isfinite(to_depot) else 0.0
    via = np.where(np.isfinite(via) & np.isfinite(direct), via, np.where(np.isfinite(direct), direct, 0.0))
    direct = np.where(np.isfinite(direct), direct, 0.0)
    return TripModel(arc.service_m[arc.task[seq]], direct, np.maximum(via, direct), max(final, 0.0))


# --- prediction ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteHistory:
    """A route's released shifts (one value per shift); seconds and metres."""

    shift_s: np.ndarray
    distance_m: np.ndarray
    deadhead_m: np.ndarray
    deadhead_s: np.ndarray
    collection_s: np.ndarray
    facility_s: np.ndarray
    trips: np.ndarray  # visits to a transfer station or landfill

    @property
    def size(self) -> int:
        return len(self.shift_s)


@dataclass(frozen=True)
class PlanFigures:
    """What a plan is, before any history: counts and modelled metres."""

    service_m: float
    deadhead_m: float  # modelled (depot → segments → depot on the street graph)
    stops: int
    segments: int
    trips: TripModel | None = None  # capacity-driven facility trips; None: in proportion to stops


FIGURES = ("shift_h", "driving_km", "deadhead_km", "facility_trips", "facility_h", "overtime_risk")


def _interval(samples: np.ndarray, value: float) -> dict[str, float]:
    lo, hi = percentile_interval(samples, LEVEL)
    return {"value": round(float(value), 3), "lo": round(float(lo), 3), "hi": round(float(hi), 3)}


def load_per_service_m(trips: float, service_m: float, capacity_kg: float = DEFAULT_CAPACITY_KG) -> float:
    """A shift's load per service metre from its trips on today's plan: t trips (the final tip
    among them) carried between t − 1 and t truck loads; the middle, (t − ½) loads, over the plan's
    service metres. A shift without a recorded trip counts as one (the final tip)."""
    return (max(trips, 1.0) - 0.5) * capacity_kg / max(service_m, 1.0)


def _trip_change(
    h: RouteHistory, current: PlanFigures, proposed: PlanFigures
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per shift: the change of facility trips, of the deadhead metres they take, and those
    metres on today's plan; both plans' trips modelled at the shift's load (``load_per_service_m``)."""
    assert current.trips is not None and proposed.trips is not None
    d_trips, d_m, now_ms = np.zeros(h.size), np.zeros(h.size), np.zeros(h.size)
    for t in np.unique(h.trips):  # few distinct counts: one model run per count and plan
        kg = load_per_service_m(float(t), current.service_m)
        (now, now_m), (new, new_m) = current.trips.at(kg), proposed.trips.at(kg)
        mine = h.trips == t
        d_trips[mine], d_m[mine], now_ms[mine] = new - now, new_m - now_m, now_m
    return d_trips, d_m, now_ms


def predict(
    history: RouteHistory, current: PlanFigures, proposed: PlanFigures, paid_hours: float = PAID_HOURS, seed: int = 0
) -> dict[str, dict[str, float] | None]:
    """Per figure of FIGURES: mean per shift (today's plan as driven: ``current``; or
    ``proposed``) with its interval; None without history."""
    if history.size == 0:
        return dict.fromkeys(FIGURES)
    h = history
    service_rate = h.collection_s / max(current.service_m, 1.0)  # s per service metre, per shift
    dh_mps = np.where(h.deadhead_s > 0, h.deadhead_m / np.maximum(h.deadhead_s, 1e-9), DEADHEAD_MPS)
    # Time at the facility per trip: the shift's own, else the route's (a shift without a trip).
    route_per_trip = h.facility_s[h.trips > 0].sum() / max(h.trips.sum(), 1.0)
    per_trip = np.where(h.trips > 0, h.facility_s / np.maximum(h.trips, 1), route_per_trip)
    d_service_m = proposed.service_m - current.service_m
    d_deadhead_m = proposed.deadhead_m - current.deadhead_m
    if proposed.trips is not None and current.trips is not None:
        # Capacity-driven: each shift's load from its own trips, both plans' tips modelled at it.
        d_trips, d_trip_m, trip_m = _trip_change(h, current, proposed)
    else:
        trip_ratio = proposed.stops / current.stops if current.stops else 1.0
        d_trips, d_trip_m, trip_m = h.trips * (trip_ratio - 1), np.zeros(h.size), np.zeros(h.size)
    trips = np.maximum(h.trips + d_trips, 0.0)
    # Time on facility trips: at the facility (the shift's own time per trip) and the modelled
    # detours to it (at the route's deadhead speed); its change is what the trips add to the shift.
    at_facility_s = np.maximum(h.facility_s + (trips - h.trips) * per_trip, 0.0)
    d_s = service_rate * d_service_m + d_deadhead_m / dh_mps + (at_facility_s - h.facility_s) + d_trip_m / dh_mps
    shift_h = (h.shift_s + d_s) / 3600
    values = {
        "shift_h": shift_h,
        "driving_km": (h.distance_m + d_service_m + d_deadhead_m + d_trip_m) / 1000,
        "deadhead_km": np.maximum(h.deadhead_m + d_deadhead_m + d_trip_m, 0) / 1000,
        "facility_trips": trips,
        "facility_h": (at_facility_s + np.maximum(trip_m + d_trip_m, 0.0) / dh_mps) / 3600,
        "overtime_risk": (shift_h > paid_hours).astype(np.float64),
    }
    w = day_weights(h.size, REPLICATES, seed) / h.size  # resampled shifts, as weights of a mean
    return {name: _interval(w @ v, float(v.mean())) for name, v in values.items()}


# --- balance --------------------------------------------------------------------------------


def touching(net: StreetGraph, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) positions in ``segments`` of distinct segments sharing an end point."""
    ends = np.concatenate([net.start[segments], net.end[segments]])
    pos = np.concatenate([np.arange(len(segments))] * 2)
    order = np.argsort(ends, kind="stable")
    ends, pos = ends[order], pos[order]
    i, j = [], []
    bounds = np.flatnonzero(np.r_[True, ends[1:] != ends[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:]):
        group = np.unique(pos[a:b])
        if len(group) > 1:
            gi, gj = np.meshgrid(group, group)
            keep = gi != gj
            i.append(gi[keep])
            j.append(gj[keep])
    if not i:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    code = np.unique(np.concatenate(i) * len(segments) + np.concatenate(j))
    return code // len(segments), code % len(segments)


def balance(
    net: StreetGraph,
    plans: list[np.ndarray],
    hours: np.ndarray,
    seconds_per_m: np.ndarray,
    tolerance_h: float,
    max_moves: int = 40,
) -> list[tuple[int, int, int]]:
    """Moves (street segment index, from plan, to plan) that even out ``hours`` (predicted shift
    hours per plan) to within ``tolerance_h``; a segment moves only to a plan touching it.
    ``seconds_per_m``: each plan's collection seconds per service metre."""
    segments = np.concatenate(plans) if plans else np.zeros(0, dtype=np.int64)
    owner = np.concatenate([np.full(len(p), k) for k, p in enumerate(plans)]).astype(np.int64)
    work = np.asarray(hours, dtype=np.float64).copy()
    seg_time = net.length_m[segments] * seconds_per_m[owner] / 3600
    moves: list[tuple[int, int, int]] = []
    pairs = touching(net, segments)
    while len(moves) < max_moves and work.max() - work.min() > tolerance_h:
        step = plan_moves(work, seg_time, owner, pairs, 1)
        if not step:
            break
        pos, a, b = step[0]
        owner[pos] = b
        moves.append((int(segments[pos]), a, b))
    return moves
