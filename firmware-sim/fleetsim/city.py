"""A deterministic synthetic city: street grid, road classes, one-way streets and facilities.

Layout: a grid of collection *districts*, each ``block`` × ``block`` city blocks of residential
streets, bordered by two-way arterials. Block sizes vary (80–140 m) and intersections are
jittered by a metre or two so streets are not ruler-straight. Some residential streets are
one-way (a whole street within a district, alternating direction). Facilities hang off the
network by an access road (a *spur*): the depot on the west edge, the transfer station on
the east edge, the landfill at the end of a highway south of the city, the crews' break room
near the centre. Everything derives from (seed, number of districts), so a seed names a city.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from fleetsim.geo import Projection
from fleetsim.names import ARTERIAL_SUFFIX, RESIDENTIAL_SUFFIX_X, RESIDENTIAL_SUFFIX_Y, STREET_STEMS

RESIDENTIAL, ARTERIAL = 0, 1
ROAD_CLASS_NAMES = ("residential", "arterial")
SPEED_LIMIT_KMH = {"residential": 30.0, "arterial": 50.0, "ring": 60.0, "highway": 80.0, "access": 20.0}
DEFAULT_CENTRE = (-96.797, 32.776)  # lon, lat: any mid-latitude place works


@dataclass(frozen=True)
class Facility:
    """A geofenced site reached by an access road from `gate` (network node) to `spur` (node inside)."""

    facility_id: str
    facility_type: str  # depot | transfer_station | landfill | break
    name: str
    gate: int
    spur: int
    polygon_xy: tuple[tuple[float, float], ...]  # closed ring, metres


@dataclass
class City:
    """Street network in local metres. Edges are undirected streets; `one_way` ones run u→v."""

    name: str
    seed: int
    block: int
    districts_x: int
    districts_y: int
    projection: Projection
    node_x: np.ndarray
    node_y: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_class: np.ndarray  # RESIDENTIAL | ARTERIAL
    edge_limit_kmh: np.ndarray
    edge_one_way: np.ndarray
    edge_district: np.ndarray  # district index for residential streets inside a district, else -1
    edge_names: list[str]
    facilities: dict[str, Facility] = field(default_factory=dict)
    # A real street network (fleetsim.streetnet): the street segment of each edge (a segment's
    # polyline is several straight edges), the segments' ids, road classes and lon/lat lines.
    # None on the synthetic city, where every edge is a segment of its own.
    edge_segment: np.ndarray | None = None
    segment_ids: list[str] = field(default_factory=list)
    segment_classes: list[str] = field(default_factory=list)
    segment_names: list[str | None] = field(default_factory=list)
    segment_coords: list[np.ndarray] | None = None
    # Forbidden turns (edge in, via node, edge out), from the streets file's OSM restrictions
    # (fleetsim.streetnet); where there are any, every drive obeys them (fleetsim.turns).
    turn_bans: frozenset[tuple[int, int, int]] = frozenset()

    @cached_property
    def turn_router(self):
        from fleetsim.turns import TurnRouter  # a city without restrictions never builds one

        return TurnRouter(self)

    @property
    def real_streets(self) -> bool:
        return self.edge_segment is not None

    @property
    def n_nodes(self) -> int:
        return len(self.node_x)

    @property
    def n_districts(self) -> int:
        return self.districts_x * self.districts_y

    @cached_property
    def edge_length(self) -> np.ndarray:
        return np.hypot(
            self.node_x[self.edge_v] - self.node_x[self.edge_u], self.node_y[self.edge_v] - self.node_y[self.edge_u]
        )

    def segment_id(self, edge: int) -> str:
        if self.edge_segment is not None:
            return self.segment_ids[int(self.edge_segment[edge])]
        return f"seg-{edge:06d}"

    def same_segment(self, a: int, b: int) -> bool:
        """Whether a and b are two pieces of one street segment (never on the synthetic city; an
        edge followed by itself is a U-turn, not the street going on)."""
        return a != b and self.edge_segment is not None and bool(self.edge_segment[a] == self.edge_segment[b])

    @cached_property
    def _segment_edges(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        if self.edge_segment is not None:
            for e, s in enumerate(self.edge_segment.tolist()):
                out.setdefault(s, []).append(e)
        return out

    def segment_edges(self, edge: int) -> list[int]:
        """Every edge of `edge`'s street segment (just `edge` on the synthetic city)."""
        if self.edge_segment is None:
            return [edge]
        return self._segment_edges[int(self.edge_segment[edge])]

    @cached_property
    def junctions(self) -> np.ndarray:
        """Per node: an intersection on an arterial (where dangerous intersections are chosen)."""
        if self.edge_segment is None:
            nx = self.districts_x * self.block + 1
            n_grid = nx * (self.districts_y * self.block + 1)
            n = np.arange(self.n_nodes)
            return (n < n_grid) & (((n % nx) % self.block == 0) | ((n // nx) % self.block == 0))
        ends = np.concatenate([self.edge_u, self.edge_v])
        degree = np.bincount(ends, minlength=self.n_nodes)
        arterial = np.zeros(self.n_nodes, dtype=bool)
        fast = np.flatnonzero(self.edge_class == ARTERIAL)
        arterial[self.edge_u[fast]] = arterial[self.edge_v[fast]] = True
        return (degree >= 3) & arterial

    @cached_property
    def arcs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Directed arcs (from, to, edge): both directions of two-way streets, one of one-way."""
        two = ~self.edge_one_way
        frm = np.concatenate([self.edge_u, self.edge_v[two]])
        to = np.concatenate([self.edge_v, self.edge_u[two]])
        edge = np.concatenate([np.arange(len(self.edge_u)), np.flatnonzero(two)])
        return frm, to, edge

    @cached_property
    def arc_lookup(self) -> dict[tuple[int, int], int]:
        """(from node, to node) → street edge index, for turning node walks into edges."""
        frm, to, edge = self.arcs
        return dict(zip(zip(frm.tolist(), to.tolist()), edge.tolist()))

    @cached_property
    def out_arcs(self) -> list[list[tuple[int, int]]]:
        """Per node, the (to node, edge) pairs a vehicle may drive."""
        result: list[list[tuple[int, int]]] = [[] for _ in range(self.n_nodes)]
        frm, to, edge = self.arcs
        for a, b, e in zip(frm.tolist(), to.tolist(), edge.tolist()):
            result[a].append((b, e))
        return result

    @cached_property
    def _travel_time_graph(self) -> csr_matrix:
        frm, to, edge = self.arcs
        # Travel time at 80 % of the limit; arterials are preferred as real dispatchers do.
        seconds = self.edge_length[edge] / (self.edge_limit_kmh[edge] / 3.6 * 0.8)
        # Two streets between the same two nodes: keep the faster (a sparse matrix would add them).
        order = np.lexsort((seconds, to, frm))
        first = np.concatenate([[True], (np.diff(frm[order]) != 0) | (np.diff(to[order]) != 0)])
        keep = order[first]
        return csr_matrix((seconds[keep], (frm[keep], to[keep])), shape=(self.n_nodes, self.n_nodes))

    def _tree(self, node: int, reverse: bool) -> np.ndarray:
        graph = self._travel_time_graph.T.tocsr() if reverse else self._travel_time_graph
        _, pred = dijkstra(graph, indices=node, return_predecessors=True)
        return pred

    @cached_property
    def _trees(self) -> dict[tuple[int, bool], np.ndarray]:
        return {}

    def path(self, a: int, b: int) -> list[int]:
        """Fastest node walk from a to b. One of them must be a facility gate or spur
        (shortest-path trees are computed from facilities only, a handful of Dijkstra runs)."""
        if a == b:
            return [a]
        anchors = {n for f in self.facilities.values() for n in (f.gate, f.spur)}
        if a in anchors:
            pred = self._cached_tree(a, reverse=False)
            walk = [b]
            while walk[-1] != a:
                prev = int(pred[walk[-1]])
                if prev < 0:
                    raise ValueError(f"node {b} is unreachable from {a}")
                walk.append(prev)
            return walk[::-1]
        if b in anchors:
            pred = self._cached_tree(b, reverse=True)
            walk = [a]
            while walk[-1] != b:
                prev = int(pred[walk[-1]])
                if prev < 0:
                    raise ValueError(f"node {b} is unreachable from {a}")
                walk.append(prev)
            return walk
        raise ValueError("path() needs a facility node at one end")

    def _cached_tree(self, node: int, reverse: bool) -> np.ndarray:
        key = (node, reverse)
        if key not in self._trees:
            self._trees[key] = self._tree(node, reverse)
        return self._trees[key]

    def district_nodes(self, district: int) -> set[int]:
        """Nodes on or inside the border of a district (a real network: every node, since a
        district's streets need not join up without the streets around them)."""
        if self.edge_segment is not None:
            return set(range(self.n_nodes))
        nx = self.districts_x * self.block + 1
        dx, dy = district % self.districts_x, district // self.districts_x
        return {
            j * nx + i
            for j in range(dy * self.block, (dy + 1) * self.block + 1)
            for i in range(dx * self.block, (dx + 1) * self.block + 1)
        }

    def facility_of_type(self, facility_type: str) -> Facility:
        return next(f for f in self.facilities.values() if f.facility_type == facility_type)

    def lonlat(self, nodes) -> tuple[np.ndarray, np.ndarray]:
        nodes = np.asarray(nodes, dtype=np.int64)
        return self.projection.to_lonlat(self.node_x[nodes], self.node_y[nodes])


def build_city(
    seed: int, n_districts: int, name: str = "metro", block: int = 9, centre: tuple[float, float] = DEFAULT_CENTRE
) -> City:
    """Build the city for `seed` with at least `n_districts` collection districts."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC17]))
    ddx = max(1, math.ceil(math.sqrt(n_districts)))
    ddy = max(1, math.ceil(n_districts / ddx))
    nx, ny = ddx * block + 1, ddy * block + 1
    gaps_x = rng.uniform(90.0, 140.0, nx - 1)
    gaps_y = rng.uniform(80.0, 130.0, ny - 1)
    xs = np.concatenate([[0.0], np.cumsum(gaps_x)])
    ys = np.concatenate([[0.0], np.cumsum(gaps_y)])
    xs -= xs[-1] / 2
    ys -= ys[-1] / 2
    gx, gy = np.meshgrid(xs, ys)  # index [j, i]
    jitter = rng.normal(0.0, 1.5, (2, ny, nx))
    node_x = (gx + jitter[0]).ravel()
    node_y = (gy + jitter[1]).ravel()

    def nid(i, j):
        return j * nx + i

    stems = rng.permutation(len(STREET_STEMS))
    row_names = [STREET_STEMS[stems[j % len(stems)]] for j in range(ny)]
    col_names = [STREET_STEMS[stems[(ny + i) % len(stems)]] for i in range(nx)]
    # Residential rows that are one-way, alternating direction so districts stay connected.
    one_way_row = rng.random(ny) < 0.3

    us, vs, classes, limits, one_way, district, names = [], [], [], [], [], [], []

    def add(u, v, cls, limit, oneway, dist, nm):
        us.append(u), vs.append(v), classes.append(cls), limits.append(limit)
        one_way.append(oneway), district.append(dist), names.append(nm)

    for j in range(ny):
        arterial = j % block == 0
        ring = j in (0, ny - 1)
        for i in range(nx - 1):
            if arterial:
                add(
                    nid(i, j),
                    nid(i + 1, j),
                    ARTERIAL,
                    SPEED_LIMIT_KMH["ring" if ring else "arterial"],
                    False,
                    -1,
                    f"{row_names[j]} {ARTERIAL_SUFFIX[j % 4]}",
                )
            else:
                oneway = bool(one_way_row[j])
                u, v = (nid(i, j), nid(i + 1, j)) if j % 2 == 0 or not oneway else (nid(i + 1, j), nid(i, j))
                add(
                    u,
                    v,
                    RESIDENTIAL,
                    SPEED_LIMIT_KMH["residential"],
                    oneway,
                    (j // block) * ddx + i // block,
                    f"{row_names[j]} {RESIDENTIAL_SUFFIX_X[j % 4]}",
                )
    for i in range(nx):
        arterial = i % block == 0
        ring = i in (0, nx - 1)
        for j in range(ny - 1):
            if arterial:
                add(
                    nid(i, j),
                    nid(i, j + 1),
                    ARTERIAL,
                    SPEED_LIMIT_KMH["ring" if ring else "arterial"],
                    False,
                    -1,
                    f"{col_names[i]} {ARTERIAL_SUFFIX[(i + 1) % 4]}",
                )
            else:
                add(
                    nid(i, j),
                    nid(i, j + 1),
                    RESIDENTIAL,
                    SPEED_LIMIT_KMH["residential"],
                    False,
                    (j // block) * ddx + i // block,
                    f"{col_names[i]} {RESIDENTIAL_SUFFIX_Y[i % 4]}",
                )

    extra_x, extra_y = [], []
    next_node = [nx * ny]

    def new_node(x, y) -> int:
        extra_x.append(x), extra_y.append(y)
        next_node[0] += 1
        return next_node[0] - 1

    facilities: dict[str, Facility] = {}

    def facility(fid, ftype, fname, gate, direction, spur_len, half_w, half_d):
        # The spur runs from the gate in `direction`; the geofence is centred beyond its middle,
        # so the gate (on the public street) is outside and the spur end inside.
        ux, uy = direction
        gx_, gy_ = _node_xy(gate, node_x, node_y, extra_x, extra_y, nx * ny)
        sx, sy = gx_ + ux * spur_len, gy_ + uy * spur_len
        spur = new_node(sx, sy)
        add(gate, spur, RESIDENTIAL, SPEED_LIMIT_KMH["access"], False, -1, f"{fname} access road")
        cx, cy = sx - ux * (half_d * 0.4), sy - uy * (half_d * 0.4)
        px, py = -uy, ux  # perpendicular
        ring = [
            (cx + ux * a * half_d + px * b * half_w, cy + uy * a * half_d + py * b * half_w)
            for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1))
        ]
        facilities[fid] = Facility(fid, ftype, fname, gate, spur, tuple(ring))

    mid_j = block * (ddy // 2)
    facility("depot-1", "depot", "Central Fleet Depot", nid(0, mid_j), (-1.0, 0.0), 200.0, 90.0, 110.0)
    facility(
        "transfer-1",
        "transfer_station",
        "Eastside Transfer Station",
        nid(nx - 1, mid_j),
        (1.0, 0.0),
        200.0,
        70.0,
        110.0,
    )
    # Highway south to the landfill: 6 links of ~500 m from the middle of the southern ring.
    hw_start = nid(block * (ddx // 2), 0)
    prev = hw_start
    hx, hy = node_x[hw_start], node_y[hw_start]
    for _k in range(6):
        hy -= 500.0
        hx += rng.normal(0.0, 40.0)
        node = new_node(hx, hy)
        add(prev, node, ARTERIAL, SPEED_LIMIT_KMH["highway"], False, -1, "Landfill Highway")
        prev = node
    facility("landfill-1", "landfill", "Southern Regional Landfill", prev, (0.0, -1.0), 300.0, 220.0, 180.0)
    centre_node = nid(block * (ddx // 2), block * (ddy // 2))
    facility("break-1", "break", "Crew Break Room", centre_node, (math.sqrt(0.5), math.sqrt(0.5)), 60.0, 25.0, 30.0)

    return City(
        name=name,
        seed=seed,
        block=block,
        districts_x=ddx,
        districts_y=ddy,
        projection=Projection(*centre),
        node_x=np.concatenate([node_x, extra_x]),
        node_y=np.concatenate([node_y, extra_y]),
        edge_u=np.array(us, dtype=np.int64),
        edge_v=np.array(vs, dtype=np.int64),
        edge_class=np.array(classes, dtype=np.int8),
        edge_limit_kmh=np.array(limits, dtype=np.float64),
        edge_one_way=np.array(one_way, dtype=bool),
        edge_district=np.array(district, dtype=np.int64),
        edge_names=names,
        facilities=facilities,
    )


def _street_features(city: City) -> list[dict]:
    """A real network's segments as they were read (their own lines, ids and classes)."""
    assert city.edge_segment is not None and city.segment_coords is not None
    first = {}
    for e, seg in enumerate(city.edge_segment.tolist()):
        first.setdefault(seg, e)
    features = []
    for seg, coords in enumerate(city.segment_coords):
        e = first[seg]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": np.round(coords, 7).tolist()},
                "properties": {
                    "kind": "street",
                    "segment_id": city.segment_ids[seg],
                    "name": city.segment_names[seg],
                    "road_class": city.segment_classes[seg],
                    "speed_limit_kmh": float(city.edge_limit_kmh[e]),
                    "one_way": bool(city.edge_one_way[e]),
                },
            }
        )
    return features


def _node_xy(node, node_x, node_y, extra_x, extra_y, n_grid) -> tuple[float, float]:
    if node < n_grid:
        return float(node_x[node]), float(node_y[node])
    return extra_x[node - n_grid], extra_y[node - n_grid]


def city_geojson(city: City) -> dict:
    """city.geojson: streets (LineString) and facility geofences (Polygon), WGS84."""
    lon, lat = city.projection.to_lonlat(city.node_x, city.node_y)
    lon, lat = np.round(lon, 7), np.round(lat, 7)
    features = [] if city.segment_coords is None else _street_features(city)
    for e in range(len(city.edge_u) if city.segment_coords is None else 0):
        u, v = int(city.edge_u[e]), int(city.edge_v[e])
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[float(lon[u]), float(lat[u])], [float(lon[v]), float(lat[v])]],
                },
                "properties": {
                    "kind": "street",
                    "segment_id": city.segment_id(e),
                    "name": city.edge_names[e],
                    "road_class": ROAD_CLASS_NAMES[city.edge_class[e]],
                    "speed_limit_kmh": float(city.edge_limit_kmh[e]),
                    "one_way": bool(city.edge_one_way[e]),
                },
            }
        )
    for f in city.facilities.values():
        xs, ys = zip(*f.polygon_xy)
        plon, plat = city.projection.to_lonlat(np.array(xs), np.array(ys))
        ring = [[round(float(a), 7), round(float(b), 7)] for a, b in zip(plon, plat)]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "kind": "facility",
                    "facility_id": f.facility_id,
                    "facility_type": f.facility_type,
                    "name": f.name,
                },
            }
        )
    return {"type": "FeatureCollection", "name": city.name, "features": features}
