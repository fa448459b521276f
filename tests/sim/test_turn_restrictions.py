"""Issue 21: the simulator obeys the city's turn restrictions (decision 0030), as the planner does.

The streets file carries OSM restrictions as ``kind: turn_restriction`` Points (from segments,
via, forbidden ``to`` segments). The test finds a left turn the simulator makes on a network
without restrictions, forbids exactly that turn, and checks that no simulated drive (to the
route, between its streets, around blocked streets, to and from the facilities) takes it again.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fleetsim.city import build_city, city_geojson
from fleetsim.offline import make_config
from fleetsim.scenario import build_scenario
from fleetsim.shift import simulate_shift

VEHICLES, DAYS = 3, 3


def _streets_layer(tmp_path, restrictions: list[dict]):
    """A synthetic grid written as a real street layer (the shape `fleetsim --streets` reads)."""
    city = build_city(seed=5, n_districts=VEHICLES)
    streets = [f for f in city_geojson(city)["features"] if f["properties"]["kind"] == "street"]
    path = tmp_path / f"streets-{len(restrictions)}.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": streets + restrictions}))
    return path


def _drives(path):
    sc = build_scenario(make_config(n_vehicles=VEHICLES, days=DAYS, seed=2, streets=str(path)))
    return sc, [simulate_shift(sc, shift) for shift in sc.roster.shifts]


def _turns(sc, result):
    """(from segment, via node, to segment, signed angle in degrees, > 0 left) of each turn between segments."""
    city, nodes, edges = sc.city, result.walk_nodes, result.walk_edges
    out = []
    for i in range(1, len(edges)):
        a, b, v = int(edges[i - 1]), int(edges[i]), int(nodes[i])
        if city.edge_segment[a] == city.edge_segment[b]:
            continue
        p, q = int(nodes[i - 1]), int(nodes[i + 1])
        ax, ay = city.node_x[v] - city.node_x[p], city.node_y[v] - city.node_y[p]
        bx, by = city.node_x[q] - city.node_x[v], city.node_y[q] - city.node_y[v]
        angle = float(np.degrees(np.arctan2(ax * by - ay * bx, ax * bx + ay * by)))
        out.append((city.segment_id(a), v, city.segment_id(b), angle))
    return out


def _contiguous(sc, result) -> bool:
    city, nodes, edges = sc.city, result.walk_nodes, result.walk_edges
    for i, e in enumerate(edges.tolist()):
        u, v = int(city.edge_u[e]), int(city.edge_v[e])
        if (nodes[i], nodes[i + 1]) != (u, v) and (city.edge_one_way[e] or (nodes[i], nodes[i + 1]) != (v, u)):
            return False
    return True


@pytest.mark.timeout(600)
def test_a_forbidden_left_turn_is_never_driven(tmp_path):
    sc, results = _drives(_streets_layer(tmp_path, []))
    degree = np.bincount(np.concatenate([sc.city.edge_u, sc.city.edge_v]))
    # A left turn the trucks make at a junction where they could go on otherwise.
    left = next(
        (a, v, b) for r in results for a, v, b, angle in _turns(sc, r) if 45.0 < angle < 135.0 and degree[v] >= 4
    )
    before = sum(t[:3] == left for r in results for t in _turns(sc, r))
    assert before > 0
    lon, lat = sc.city.lonlat([left[1]])
    sign = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [float(lon[0]), float(lat[0])]},
        "properties": {
            "kind": "turn_restriction",
            "restriction": "no_left_turn",
            "from_segment_ids": [left[0]],
            "forbidden_to": [left[2]],
            "source": "test",
        },
    }
    sc, results = _drives(_streets_layer(tmp_path, [sign]))
    assert len(sc.city.turn_bans) == 1
    taken = [(r.shift.shift_id, t) for r in results for t in _turns(sc, r) if t[:3] == left]
    assert taken == [], f"{len(taken)} forbidden left turns driven (were {before} without the sign)"
    # Still whole drives that keep to one-way streets, and every route still served.
    assert all(_contiguous(sc, r) for r in results)
    for plan in sc.plans:
        assert not any(
            (a, v, b) in sc.city.turn_bans for a, v, b in zip(plan.walk_edges, plan.walk[1:], plan.walk_edges[1:])
        )
    served = [len(r.truth["stops"]) for r in results]
    assert min(served) > 0
