"""Route plans: one collection route per district, its service order and its stops.

A route serves every residential street of its district once (a two-way street in either
direction, a one-way street in its direction; the crew collects both kerbs in one pass). The
service order is a greedy walk that keeps going straight where it can and, when no unserved
street leaves the current corner, drives (without service) to the nearest corner that has one.
Stops (bin pick-ups) sit every 30–60 m along each service street.

On a real street network (fleetsim.streetnet) a street segment is several straight edges; it
is served whole in one pass (its inner vertices lead nowhere else), its stops are spaced along
the whole segment, the walk enters the district at the segment end nearest the depot, and the
drive to the next unserved street is the shortest one over the whole network (a district's
streets need not join up by themselves), always along one-way streets' direction.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass

import numpy as np

from fleetsim.city import RESIDENTIAL, City


@dataclass(frozen=True)
class RoutePlan:
    """The planned walk of one route, from its entry corner through all its service streets."""

    route_id: str
    name: str
    district: int
    walk: tuple[int, ...]  # node sequence
    walk_edges: tuple[int, ...]  # street edge between walk[i] and walk[i+1]
    walk_service: tuple[bool, ...]  # whether that pass is the planned service pass
    stop_offsets: tuple[tuple[float, ...], ...]  # per walk edge: metres from the pass's start
    stop_ids: tuple[tuple[str, ...], ...]  # per walk edge, matching stop_offsets

    @property
    def service_edges(self) -> list[int]:
        return [e for e, s in zip(self.walk_edges, self.walk_service) if s]

    @property
    def n_stops(self) -> int:
        return sum(len(s) for s in self.stop_ids)


def build_plans(city: City, n_routes: int) -> list[RoutePlan]:
    """Route i serves district i (i < n_routes ≤ city.n_districts)."""
    return [_plan(city, i) for i in range(n_routes)]


def route_id(index: int) -> str:
    return f"route-{index + 1:03d}"


def _plan(city: City, district: int) -> RoutePlan:
    rng = np.random.default_rng(np.random.SeedSequence([city.seed, 0x9A5, district]))
    nodes = city.district_nodes(district)
    service = set(np.flatnonzero((city.edge_district == district) & (city.edge_class == RESIDENTIAL)).tolist())
    depot = city.facility_of_type("depot")
    if city.real_streets:
        ends = {int(n) for e in service for n in (city.edge_u[e], city.edge_v[e]) if _segment_end(city, e, int(n))}
        corners = sorted(n for n in ends if any(e in service for _, e in city.out_arcs[n]))
    else:
        corners = [n for n in nodes if _is_corner(city, n, district)]
    entry = min(
        corners,
        key=lambda n: (city.node_x[n] - city.node_x[depot.gate]) ** 2 + (city.node_y[n] - city.node_y[depot.gate]) ** 2,
    )
    walk, edges, served = [entry], [], []
    heading = None
    while service:
        here = walk[-1]
        options = [(to, e) for to, e in city.out_arcs[here] if e in service and _allowed(city, edges, here, e)]
        if options:
            to, e = min(options, key=lambda o: _turn(city, heading, here, o[0]))
            service.discard(e)
            walk.append(to), edges.append(e), served.append(True)
            heading = (city.node_x[to] - city.node_x[here], city.node_y[to] - city.node_y[here])
            continue
        if city.turn_bans and edges:
            hop = _nearest_unserved_turning(city, walk[-2], edges[-1], service)
        else:
            hop = (_nearest_unserved_by_length if city.real_streets else _nearest_unserved)(city, here, nodes, service)
        for to, e in hop:
            walk.append(to), edges.append(e), served.append(False)
        heading = (
            None
            if len(walk) < 2
            else (city.node_x[walk[-1]] - city.node_x[walk[-2]], city.node_y[walk[-1]] - city.node_y[walk[-2]])
        )
    rid = route_id(district)
    offsets: list[tuple[float, ...]] = []
    ids: list[tuple[str, ...]] = []
    k = 0
    for lo, hi in service_runs(city, edges, served, len(edges)):
        if lo == hi:
            offsets.append(()), ids.append(())
            continue
        # One pass of a street segment (edges lo..hi-1): stops along its whole length.
        lengths = city.edge_length[list(edges[lo:hi])]
        row = []
        at = 15.0 + rng.uniform(0.0, 20.0)
        while at <= float(lengths.sum()) - 15.0:
            row.append(round(at, 2))
            at += rng.uniform(30.0, 60.0)
        start = np.concatenate([[0.0], np.cumsum(lengths)])
        for m in range(hi - lo):
            mine = tuple(round(a - start[m], 2) for a in row if start[m] <= a < start[m + 1])
            offsets.append(mine)
            ids.append(tuple(f"{rid}-{k + n:04d}" for n in range(len(mine))))
            k += len(mine)
    first = city.edge_names[edges[0]].split(" ")[0] if edges else "empty"
    return RoutePlan(
        rid,
        f"Route {district + 1:03d} ({first} district)",
        district,
        tuple(walk),
        tuple(edges),
        tuple(served),
        tuple(offsets),
        tuple(ids),
    )


def service_runs(city: City, edges, served, count: int) -> list[tuple[int, int]]:
    """Walk positions grouped into passes: (i, i) for a pass without service, (lo, hi) for the
    service pass of one street segment over walk edges lo..hi-1 (always one edge on the grid)."""
    runs = []
    i = 0
    while i < count:
        if not served[i]:
            runs.append((i, i))
            i += 1
            continue
        j = i + 1
        while j < count and served[j] and city.same_segment(edges[j], edges[i]):
            j += 1
        runs.append((i, j))
        i = j
    return runs


def _allowed(city: City, edges: list[int], here: int, edge: int) -> bool:
    """Whether the walk, having driven edges[-1] into `here`, may turn onto `edge` (the city's turn restrictions)."""
    return not edges or (edges[-1], here, edge) not in city.turn_bans


def _nearest_unserved_turning(city: City, frm: int, last: int, service: set[int]) -> list[tuple[int, int]]:
    """Arcs (to, edge) of the fastest drive, after driving `last` from node `frm`, to a corner
    where an unserved street may be turned onto (fleetsim.turns: no forbidden turn on the way)."""
    router = city.turn_router
    wanted = {router.traversal(e, int(n)) for e in service for n in (city.edge_u[e], city.edge_v[e])}
    wanted &= set(np.flatnonzero(router.graph.valid).tolist())
    way = router.nearest(router.traversal(last, frm), wanted)
    return [(int(city.edge_u[t // 2] if t % 2 else city.edge_v[t // 2]), t // 2) for t in way]


def _segment_end(city: City, edge: int, node: int) -> bool:
    """Whether `node` is an end of `edge`'s street segment (not one of its inner vertices)."""
    segment = city.segment_edges(edge)
    return node in (int(city.edge_u[segment[0]]), int(city.edge_v[segment[-1]]))


def _nearest_unserved_by_length(city: City, start: int, nodes: set[int], service: set[int]) -> list[tuple[int, int]]:
    """Arcs (to, edge) of the shortest drive (metres) to a node with unserved streets."""
    dist = {start: 0.0}
    prev: dict[int, tuple[int, int]] = {}
    heap = [(0.0, start)]
    while heap:
        d, here = heapq.heappop(heap)
        if d > dist[here]:
            continue
        if here != start and any(e in service for _, e in city.out_arcs[here]):
            path = []
            while here != start:
                before, e = prev[here]
                path.append((here, e))
                here = before
            return path[::-1]
        for to, e in city.out_arcs[here]:
            nd = d + float(city.edge_length[e])
            if nd < dist.get(to, np.inf):
                dist[to], prev[to] = nd, (here, e)
                heapq.heappush(heap, (nd, to))
    raise ValueError(f"the network has unreachable service streets from node {start}")


def _is_corner(city: City, node: int, district: int) -> bool:
    nx = city.districts_x * city.block + 1
    i, j = node % nx, node // nx
    return i % city.block == 0 and j % city.block == 0


def _turn(city: City, heading, here: int, to: int) -> float:
    """Cost of leaving `here` towards `to`: 0 straight on, growing with the turn angle."""
    if heading is None:
        return 0.0
    dx, dy = city.node_x[to] - city.node_x[here], city.node_y[to] - city.node_y[here]
    cos = (heading[0] * dx + heading[1] * dy) / (np.hypot(*heading) * np.hypot(dx, dy))
    return 1.0 - float(cos)


def _nearest_unserved(city: City, start: int, nodes: set[int], service: set[int]) -> list[tuple[int, int]]:
    """Arcs (to, edge) of the shortest hop path within the district to a node with unserved streets."""
    prev: dict[int, tuple[int, int]] = {start: (-1, -1)}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        if here != start and any(e in service for _, e in city.out_arcs[here]):
            path = []
            while here != start:
                before, e = prev[here]
                path.append((here, e))
                here = before
            return path[::-1]
        for to, e in city.out_arcs[here]:
            if to in nodes and to not in prev:
                prev[to] = (here, e)
                queue.append(to)
    raise ValueError(f"district has unreachable service streets near node {start}")


def pass_coordinates(city: City, edge: int, frm: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the two ends of `edge` in driving order starting at node `frm`."""
    u, v = int(city.edge_u[edge]), int(city.edge_v[edge])
    a, b = (u, v) if frm == u else (v, u)
    return city.node_x[[a, b]], city.node_y[[a, b]]


def routes_geojson(city: City, plans: list[RoutePlan]) -> dict:
    """routes.geojson: per route its service passes (LineString, in driving direction) and stops (Point)."""
    features = []
    for plan in plans:
        seq = 0
        stop_seq = 0
        for lo, hi in service_runs(city, plan.walk_edges, plan.walk_service, len(plan.walk_edges)):
            if lo == hi:
                continue
            e = plan.walk_edges[lo]
            walk = np.array(plan.walk[lo : hi + 1])
            lon, lat = city.projection.to_lonlat(city.node_x[walk], city.node_y[walk])
            features.append(
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "LineString",
                        "coordinates": [[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon, lat)],
                    },
                    "properties": {
                        "route_id": plan.route_id,
                        "route_name": plan.name,
                        "feature_type": "segment",
                        "seq": seq,
                        "segment_id": city.segment_id(e),
                        "service": True,
                        "speed_limit_kmh": float(city.edge_limit_kmh[e]),
                    },
                }
            )
            seq += 1
            for i in range(lo, hi):
                xs, ys = pass_coordinates(city, plan.walk_edges[i], plan.walk[i])
                length = float(city.edge_length[plan.walk_edges[i]])
                for offset, sid in zip(plan.stop_offsets[i], plan.stop_ids[i]):
                    f = offset / length
                    lon_s, lat_s = city.projection.to_lonlat(xs[0] + (xs[1] - xs[0]) * f, ys[0] + (ys[1] - ys[0]) * f)
                    features.append(
                        {
                            "type": "Feature",
                            "geometry": {
                                "type": "Point",
                                "coordinates": [round(float(lon_s), 7), round(float(lat_s), 7)],
                            },
                            "properties": {
                                "route_id": plan.route_id,
                                "route_name": plan.name,
                                "feature_type": "stop",
                                "seq": stop_seq,
                                "stop_id": sid,
                                "segment_id": city.segment_id(e),
                            },
                        }
                    )
                    stop_seq += 1
    return {"type": "FeatureCollection", "features": features}


def dangerous_intersections(city: City, plans: list[RoutePlan], count: int, seed: int) -> list[int]:
    """Pick `count` intersections on arterials that trucks pass often (so exposure is high enough
    for a hotspot analysis to find them), not only the very busiest, spaced ≥ 250 m apart."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xDA9]))
    depot, transfer = city.facility_of_type("depot"), city.facility_of_type("transfer_station")
    landfill = city.facility_of_type("landfill")
    gates = {f.gate for f in city.facilities.values()}
    passes: dict[int, int] = {}
    junction = city.junctions
    for plan in plans:
        for walk in (
            city.path(depot.gate, plan.walk[0]),
            city.path(plan.walk[-1], transfer.gate),
            city.path(plan.walk[-1], landfill.gate),
            city.path(landfill.gate, depot.gate),
        ):
            for n in walk[1:-1]:
                if junction[n] and n not in gates:
                    passes[n] = passes.get(n, 0) + 1
    ranked = sorted(passes, key=lambda n: (-passes[n], n))
    pool = ranked[: max(count * 4, 16)]
    order = [pool[i] for i in rng.permutation(len(pool))]
    chosen: list[int] = []
    for n in order:
        if all(np.hypot(city.node_x[n] - city.node_x[c], city.node_y[n] - city.node_y[c]) >= 250.0 for c in chosen):
            chosen.append(n)
        if len(chosen) == count:
            break
    return chosen
