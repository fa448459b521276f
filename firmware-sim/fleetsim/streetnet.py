"""A city built on a real street network: a GeoJSON layer of street segments (`--streets FILE`).

The file is the city layer fleetpilot writes (``fleetpilot import-streets FILE --geojson OUT``,
or the streets of a ``city.geojson``): LineString features with ``segment_id``, ``road_class``
(OSM words), ``speed_limit_kmh``, ``one_way`` (drawn in the direction of travel) and ``name``.
The simulator reads only this documented shape, never an OSM file, so it stays a black box.

What the simulator makes of it (deterministic in the seed):
- every vertex of every line is a node and every pair of consecutive vertices a straight
  edge; the edges of one segment keep its id, so plans, coverage and truth speak in segments;
- trucks drive only the largest strongly connected part (one-way streets that lead out of the
  extract are never entered, so a truck never gets stuck);
- collection streets are the residential classes (``COLLECTED``) at least ``MIN_SERVICE_M``
  long (a shorter piece between two junctions has no room for a bin stop); they are split into
  one district per route by recursive bisection of their midpoints, balanced by length;
- an extract has no depot or landfill, so the facilities are placed on the network: each hangs
  off a junction by an access road with its geofence at the far end, clear of every other street
  (the depot to the west, the transfer station to the east, the landfill to the south, the crew
  break room near the centre).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import orjson
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from fleetsim.city import ARTERIAL, RESIDENTIAL, SPEED_LIMIT_KMH, City, Facility
from fleetsim.geo import Projection
from streetroute.traversals import TurnRules, traversal_graph

COLLECTED = ("residential", "living_street", "unclassified")
MIN_SERVICE_M = 30.0
LANDFILL_M = 3000.0  # a landfill lies outside town: 2.7 km of road at 80 km/h, then its 300 m access road
PARALLEL_M = 12.0  # another street this close alongside cannot be told apart by GPS (σ 3 m, 15 m match radius)
CLEARANCE_M = 25.0  # no other street this close to a facility's geofence or access road …
BREAK_CLEARANCE_M = 12.0  # … but a break room sits between city blocks: this close, still > GPS noise


class StreetsError(ValueError):
    """The streets file cannot be used (wrong shape, too small a network)."""


def load_streets(path: str | Path) -> list[dict]:
    """The street features of a GeoJSON layer (see the module doc)."""
    try:
        doc = orjson.loads(Path(path).read_bytes())
    except orjson.JSONDecodeError as exc:
        raise StreetsError(
            f"{path}: not GeoJSON ({exc}); convert an OSM extract or GIS file with "
            "`fleetpilot import-streets FILE --geojson OUT`"
        ) from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise StreetsError(f"{path}: not a GeoJSON FeatureCollection")
    streets = [
        f
        for f in features
        if (f.get("geometry") or {}).get("type") == "LineString"
        and (f.get("properties") or {}).get("kind", "street") == "street"
    ]
    for f in streets:
        missing = [k for k in ("segment_id", "road_class", "speed_limit_kmh") if k not in f["properties"]]
        if missing:
            raise StreetsError(f"{path}: a street lacks {', '.join(missing)}: {str(f['properties'])[:120]}")
    if not streets:
        raise StreetsError(f"{path}: no street LineStrings")
    return streets


def load_restrictions(path: str | Path) -> list[dict]:
    """The layer's turn restrictions: Points at the via node (``kind: turn_restriction``) with
    ``from_segment_ids`` and ``forbidden_to`` (decision 0030); none in a file without them."""
    doc = orjson.loads(Path(path).read_bytes())
    return [
        f
        for f in doc.get("features") or []
        if (f.get("properties") or {}).get("kind") == "turn_restriction"
        and (f.get("geometry") or {}).get("type") == "Point"
    ]


def build_street_city(
    streets: list[dict], seed: int, n_routes: int, name: str = "metro", restrictions: Sequence[dict] = ()
) -> City:
    """The City of `streets` with `n_routes` collection districts and facilities placed on it;
    `restrictions` (load_restrictions) become its forbidden turns between edges."""
    coords = [np.asarray(f["geometry"]["coordinates"], dtype=np.float64)[:, :2] for f in streets]
    every = np.concatenate(coords)
    projection = Projection(float(every[:, 0].mean()), float(every[:, 1].mean()))
    keys = np.round(every * 1e7).astype(np.int64)
    _, first, node_of = np.unique(keys[:, 0] * 4_000_000_000 + keys[:, 1], return_index=True, return_inverse=True)
    node_x, node_y = projection.to_xy(every[first, 0], every[first, 1])
    starts = np.concatenate([[0], np.cumsum([len(c) for c in coords])])

    us, vs, seg = [], [], []
    for i in range(len(streets)):
        n = node_of[starts[i] : starts[i + 1]]
        keep = n[1:] != n[:-1]
        us.append(n[:-1][keep])
        vs.append(n[1:][keep])
        seg.append(np.full(int(keep.sum()), i))
    edge_u, edge_v, edge_seg = np.concatenate(us), np.concatenate(vs), np.concatenate(seg)
    props = [f["properties"] for f in streets]
    seg_class = [str(p["road_class"]) for p in props]
    seg_one_way = np.array([bool(p.get("one_way", False)) for p in props])
    seg_limit = np.array([float(p["speed_limit_kmh"]) for p in props])

    # The part a truck can drive around in: the largest strongly connected component.
    two = ~seg_one_way[edge_seg]
    n_nodes = len(node_x)
    graph = csr_matrix(
        (
            np.ones(len(edge_u) + int(two.sum())),
            (np.concatenate([edge_u, edge_v[two]]), np.concatenate([edge_v, edge_u[two]])),
        ),
        shape=(n_nodes, n_nodes),
    )
    _, label = connected_components(graph, directed=True, connection="strong")
    main = label == np.bincount(label).argmax()
    edge_length = np.hypot(node_x[edge_v] - node_x[edge_u], node_y[edge_v] - node_y[edge_u])
    seg_length = np.bincount(edge_seg, edge_length, minlength=len(streets))
    seg_main = np.bincount(edge_seg, ~(main[edge_u] & main[edge_v]), minlength=len(streets)) == 0
    collected = np.array([c in COLLECTED for c in seg_class]) & seg_main & (seg_length >= MIN_SERVICE_M)
    lines = [shapely.LineString(np.column_stack(projection.to_xy(c[:, 0], c[:, 1]))) for c in coords]
    collected &= ~_shadowed(lines, np.flatnonzero(collected))
    ids = [str(p["segment_id"]) for p in props]
    bans = _turn_bans(ids, edge_seg, edge_u, edge_v, node_x, node_y, projection, restrictions)
    if bans:
        # A street whose ways in or out are all forbidden turns cannot be served by a truck that
        # obeys them: only streets in the largest strongly connected part of the turns plan.
        rules = TurnRules(left_m=0.0, uturn_m=0.0, restricted=bans)
        tg = traversal_graph(edge_u, edge_v, edge_length, seg_one_way[edge_seg], node_x, node_y, -1, rules)
        _, t_label = connected_components(tg.graph, directed=True, connection="strong")
        t_label = t_label[: len(tg.valid)]  # without the S and T vertices
        t_main = (t_label == np.bincount(t_label[tg.valid]).argmax()) & tg.valid
        edge_ok = t_main[0::2] | t_main[1::2]
        collected &= np.bincount(edge_seg, ~edge_ok, minlength=len(streets)) == 0
    if collected.sum() < n_routes:
        raise StreetsError(
            f"the network has {int(collected.sum())} collection streets ({', '.join(COLLECTED)}, "
            f">= {MIN_SERVICE_M:g} m, drivable both ways round); fewer than the {n_routes} routes asked for"
        )
    seg_mid = np.array([c[len(c) // 2] for c in coords])
    mid_x, mid_y = projection.to_xy(seg_mid[:, 0], seg_mid[:, 1])
    seg_district = np.full(len(streets), -1)
    for d, members in enumerate(_bisect(np.flatnonzero(collected), mid_x, mid_y, seg_length, n_routes)):
        seg_district[members] = d

    city = City(
        name=name,
        seed=seed,
        block=0,
        districts_x=n_routes,
        districts_y=1,
        projection=projection,
        node_x=np.asarray(node_x, dtype=np.float64),
        node_y=np.asarray(node_y, dtype=np.float64),
        edge_u=edge_u.astype(np.int64),
        edge_v=edge_v.astype(np.int64),
        edge_class=np.where(collected[edge_seg], RESIDENTIAL, ARTERIAL).astype(np.int8),
        edge_limit_kmh=seg_limit[edge_seg],
        edge_one_way=seg_one_way[edge_seg],
        edge_district=seg_district[edge_seg].astype(np.int64),
        edge_names=[str(props[s].get("name") or seg_class[s]) for s in edge_seg.tolist()],
        edge_segment=edge_seg.astype(np.int64),
        segment_ids=[str(p["segment_id"]) for p in props],
        segment_classes=seg_class,
        segment_names=[p.get("name") for p in props],
        segment_coords=[c.copy() for c in coords],
    )
    city.turn_bans = bans
    ends = np.zeros(n_nodes, dtype=bool)
    ends[[node_of[starts[i]] for i in range(len(streets))]] = True
    ends[[node_of[starts[i + 1] - 1] for i in range(len(streets))]] = True
    _place_facilities(city, np.flatnonzero(ends & main))
    return city


def _turn_bans(
    segment_ids: list[str],
    edge_seg,
    edge_u,
    edge_v,
    node_x,
    node_y,
    projection: Projection,
    restrictions: Sequence[dict],
) -> frozenset[tuple[int, int, int]]:
    """Each forbidden turn between two segments as (edge in, via node, edge out): at the node
    the two segments share nearest the restriction's point (as the API maps them), the edge of
    each that touches it. Segments the file does not hold are left out."""
    index = {sid: i for i, sid in enumerate(segment_ids)}
    touching: dict[tuple[int, int], int] = {}  # (segment, node) -> its edge at that node
    for e, seg in enumerate(edge_seg.tolist()):
        touching.setdefault((seg, int(edge_u[e])), e)
        touching.setdefault((seg, int(edge_v[e])), e)
    nodes_of: dict[int, set[int]] = {}
    for seg, node in touching:
        nodes_of.setdefault(seg, set()).add(node)
    bans = set()
    for f in restrictions:
        lon, lat = f["geometry"]["coordinates"][:2]
        x, y = projection.to_xy(np.array([float(lon)]), np.array([float(lat)]))
        p = f["properties"]
        known = [index[s] for s in p.get("from_segment_ids") or [] if s in index]
        for a in known:
            for b in [index[s] for s in p.get("forbidden_to") or [] if s in index]:
                shared = sorted(nodes_of.get(a, set()) & nodes_of.get(b, set()))
                if not shared:
                    continue
                via = min(shared, key=lambda n: np.hypot(node_x[n] - x[0], node_y[n] - y[0]))
                bans.add((touching[(a, via)], via, touching[(b, via)]))
    return frozenset(bans)


def _shadowed(lines: list, candidates: np.ndarray) -> np.ndarray:
    """Per line: whether most of its length (away from its ends) runs within PARALLEL_M of
    another street, as OSM parking aisles and service ways beside a street do. Coverage is
    measured by matching fixes to the nearest street, so such a street could not be shown
    serviced: it is not planned for collection (docs/streets.md, "Known limits")."""
    out = np.zeros(len(lines), dtype=bool)
    tree = shapely.STRtree(lines)
    for i in candidates.tolist():
        line = lines[i]
        along = np.arange(15.0, line.length - 15.0, 5.0)
        if len(along) == 0:
            continue
        points = shapely.line_interpolate_point(line, along)
        near = tree.query(line.buffer(PARALLEL_M))
        others = [lines[j] for j in near.tolist() if j != i]
        if not others:
            continue
        d = np.min([shapely.distance(points, o) for o in others], axis=0)
        out[i] = np.mean(d <= PARALLEL_M) > 0.5
    return out


def _bisect(members: np.ndarray, x: np.ndarray, y: np.ndarray, weight: np.ndarray, parts: int) -> list[np.ndarray]:
    """Split `members` into `parts` groups of about equal weight, cutting the wider axis each time."""
    if parts == 1:
        return [members]
    left = parts // 2
    axis = x if np.ptp(x[members]) >= np.ptp(y[members]) else y
    order = members[np.argsort(axis[members], kind="stable")]
    cum = np.cumsum(weight[order])
    cut = int(np.searchsorted(cum, cum[-1] * left / parts)) + 1
    cut = min(max(cut, left), len(order) - (parts - left))  # every group gets at least one street
    return _bisect(order[:cut], x, y, weight, left) + _bisect(order[cut:], x, y, weight, parts - left)


COMPASS = [(np.cos(a), np.sin(a)) for a in np.radians(np.arange(0, 360, 45))]


def _place_facilities(city: City, gates: np.ndarray) -> None:
    """Depot west, transfer station east, landfill south, break room central (see module doc)."""
    # Points every 5 m along every street: a placement is clear when none is near it.
    length = np.hypot(
        city.node_x[city.edge_v] - city.node_x[city.edge_u], city.node_y[city.edge_v] - city.node_y[city.edge_u]
    )
    count = np.maximum(np.ceil(length / 5.0), 1).astype(np.int64)
    e = np.repeat(np.arange(len(length)), count + 1)
    f = np.concatenate([np.linspace(0.0, 1.0, c + 1) for c in count.tolist()])
    px = city.node_x[city.edge_u[e]] + f * (city.node_x[city.edge_v[e]] - city.node_x[city.edge_u[e]])
    py = city.node_y[city.edge_u[e]] + f * (city.node_y[city.edge_v[e]] - city.node_y[city.edge_u[e]])
    gx, gy = city.node_x[gates], city.node_y[gates]
    cx, cy = float(np.median(gx)), float(np.median(gy))
    specs = [
        ("depot-1", "depot", "Central Fleet Depot", gates[np.argsort(gx)], (-1.0, 0.0), 200.0, 90.0, 110.0),
        ("transfer-1", "transfer_station", "Transfer Station", gates[np.argsort(-gx)], (1.0, 0.0), 200.0, 70.0, 110.0),
        ("landfill-1", "landfill", "Regional Landfill", gates[np.argsort(gy)], (0.0, -1.0), LANDFILL_M, 220.0, 180.0),
        (
            "break-1",
            "break",
            "Crew Break Room",
            gates[np.argsort(np.hypot(gx - cx, gy - cy))],
            (np.sqrt(0.5), np.sqrt(0.5)),
            60.0,
            25.0,
            30.0,
        ),
    ]
    used: set[int] = set()
    for fid, ftype, fname, ranked, preferred, spur_len, half_w, half_d in specs:
        placed = None
        for gate in ranked[:400].tolist():
            if gate in used:
                continue
            for ux, uy in [preferred, *COMPASS]:
                clearance = BREAK_CLEARANCE_M if ftype == "break" else CLEARANCE_M
                if _clear(city, px, py, gate, (ux, uy), spur_len, half_w, half_d, clearance):
                    placed = (gate, (ux, uy))
                    break
            if placed:
                break
        if placed is None:
            raise StreetsError(f"no room on the network for the {ftype} (a {2 * half_d:g} m site clear of streets)")
        gate, direction = placed
        used.add(gate)
        _add_facility(city, fid, ftype, fname, gate, direction, spur_len, half_w, half_d)


def _site(city: City, gate: int, direction, spur_len: float, half_d: float):
    ux, uy = direction
    sx, sy = city.node_x[gate] + ux * spur_len, city.node_y[gate] + uy * spur_len
    return sx, sy, sx - ux * half_d * 0.4, sy - uy * half_d * 0.4


def _clear(
    city: City, px, py, gate: int, direction, spur_len: float, half_w: float, half_d: float, clearance: float
) -> bool:
    ux, uy = direction
    _, _, cx, cy = _site(city, gate, direction, spur_len, half_d)
    # In the site's frame: a along the access road, b across it.
    a, b = (px - cx) * ux + (py - cy) * uy, -(px - cx) * uy + (py - cy) * ux
    if np.any((np.abs(a) <= half_d + clearance) & (np.abs(b) <= half_w + clearance)):
        return False
    # The access road, beyond the first `clearance` metres from its gate.
    ga, gb = (
        (px - city.node_x[gate]) * ux + (py - city.node_y[gate]) * uy,
        -(px - city.node_x[gate]) * uy + (py - city.node_y[gate]) * ux,
    )
    return not np.any((ga >= clearance) & (ga <= spur_len) & (np.abs(gb) <= clearance))


def _add_facility(city: City, fid, ftype, fname, gate, direction, spur_len, half_w, half_d) -> None:
    ux, uy = direction
    sx, sy, cx, cy = _site(city, gate, direction, spur_len, half_d)
    frm = gate
    if spur_len > 300.0:  # the road out of town first, then the site's own access road
        frm = _add_road(
            city,
            gate,
            sx - ux * 300.0,
            sy - uy * 300.0,
            SPEED_LIMIT_KMH["highway"],
            f"road-{fid}",
            "trunk",
            f"{fname} Road",
        )
    spur = _add_road(city, frm, sx, sy, SPEED_LIMIT_KMH["access"], f"access-{fid}", "service", f"{fname} access road")
    px, py = -uy, ux
    ring = [
        (cx + ux * a * half_d + px * b * half_w, cy + uy * a * half_d + py * b * half_w)
        for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1))
    ]
    city.facilities[fid] = Facility(fid, ftype, fname, int(gate), spur, tuple(ring))


def _add_road(
    city: City, frm: int, x: float, y: float, limit_kmh: float, segment_id: str, road_class: str, name: str
) -> int:
    """A two-way road from node `frm` to a new node at (x, y), a street segment of its own; the new node."""
    node = len(city.node_x)
    city.node_x = np.append(city.node_x, x)
    city.node_y = np.append(city.node_y, y)
    city.edge_u = np.append(city.edge_u, frm)
    city.edge_v = np.append(city.edge_v, node)
    city.edge_class = np.append(city.edge_class, np.int8(ARTERIAL))
    city.edge_limit_kmh = np.append(city.edge_limit_kmh, limit_kmh)
    city.edge_one_way = np.append(city.edge_one_way, False)
    city.edge_district = np.append(city.edge_district, -1)
    city.edge_names.append(name)
    assert city.edge_segment is not None and city.segment_coords is not None
    city.edge_segment = np.append(city.edge_segment, len(city.segment_ids))
    city.segment_ids.append(segment_id)
    city.segment_classes.append(road_class)
    city.segment_names.append(name)
    lon, lat = city.projection.to_lonlat(np.array([city.node_x[frm], x]), np.array([city.node_y[frm], y]))
    city.segment_coords.append(np.column_stack([lon, lat]))
    return node
