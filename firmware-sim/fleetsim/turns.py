"""Driving that obeys a city's turn restrictions: the planner's traversal graph, shared.

A streets file may carry OSM turn restrictions (``kind: turn_restriction`` Points at the via
node with ``from_segment_ids`` and ``forbidden_to``, as fleetpilot's /city layer and
``import-streets --geojson`` write them; decision 0030). Where a city has any, every drive of
the simulator goes over street *traversals* (``streetroute.traversals``, the graph the planner
sequences on), where a forbidden turn has no edge: the truck never takes one, on its way
between service streets, around a blocked street or to and from a facility, and a drive ends
on the street the route goes on with, never at a corner from which that street is a forbidden
turn. Costs are the node router's (travel time at 80 % of the limit, as metres at REF_MPS),
plus UTURN_M for turning round (at a dead end the only way); left turns cost nothing extra,
as they do not in the node router. A city without restrictions keeps the node router.
"""

from __future__ import annotations

import heapq
from functools import cached_property

import numpy as np
from scipy.sparse import diags
from scipy.sparse.csgraph import dijkstra

from fleetsim.city import City
from streetroute.traversals import TraversalGraph, TurnRules, traversal_graph

REF_MPS = 1.0  # a cost is seconds of driving, written as metres at 1 m/s
UTURN_M = 120.0  # turning a truck round (a reversing manoeuvre): two minutes' driving


class TurnRouter:
    """Fastest drives over the traversals of ``city``'s edges (traversal t: edge t // 2, from
    edge_v to edge_u when t is odd), without the city's forbidden turns."""

    def __init__(self, city: City):
        self.city = city
        self._trees: dict[tuple[int, bool], tuple[np.ndarray, np.ndarray]] = {}

    @cached_property
    def graph(self) -> TraversalGraph:
        c = self.city
        seconds = c.edge_length / (c.edge_limit_kmh / 3.6 * 0.8)
        rules = TurnRules(left_m=0.0, uturn_m=UTURN_M, restricted=c.turn_bans)
        return traversal_graph(
            c.edge_u, c.edge_v, c.edge_length, c.edge_one_way, c.node_x, c.node_y, -1, rules, seconds * REF_MPS
        )

    def traversal(self, edge: int, frm: int) -> int:
        return 2 * edge + (0 if frm == int(self.city.edge_u[edge]) else 1)

    def entering(self, facility_id: str) -> int:
        """The traversal into a facility: its access road, a dead end, towards the spur."""
        spur = self.city.facilities[facility_id].spur
        return int(np.flatnonzero((self.graph.head == spur) & self.graph.valid)[0])

    @cached_property
    def _targets(self) -> set[int]:
        return {self.entering(f) for f in self.city.facilities}

    def _tree(self, vertex: int, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
        """(dist, pred) of the tree out of ``vertex`` (into it if ``reverse``); kept for the
        facilities' traversals, which every shift drives to and from."""
        key = (vertex, reverse)
        if key in self._trees:
            return self._trees[key]
        g = self.graph.graph.T.tocsr() if reverse else self.graph.graph
        tree = dijkstra(g, indices=vertex, return_predecessors=True)
        if vertex in self._targets:
            self._trees[key] = tree
        return tree

    def route(self, a: int, b: int, blocked: frozenset[int] = frozenset()) -> list[int]:
        """Traversals after ``a`` up to and including ``b``: the fastest drive, around ``blocked`` edges."""
        if blocked:
            keep = np.ones(self.graph.graph.shape[0])
            keep[[2 * e + r for e in blocked for r in (0, 1)]] = 0.0
            keep[[a, b]] = 1.0
            g = (diags(keep) @ self.graph.graph @ diags(keep)).tocsr()
            g.eliminate_zeros()
            _, pred = dijkstra(g, indices=a, return_predecessors=True)
            return _back(pred, a, b)
        if b in self._targets:  # into a facility: its reverse tree answers every start
            _, pred = self._tree(b, reverse=True)
            path, v = [], a
            while v != b:
                v = int(pred[v])
                if v < 0:
                    raise ValueError(f"traversal {b} is unreachable from {a}")
                path.append(v)
            return path
        return _back(self._tree(a, reverse=False)[1], a, b)

    def to_node(self, a: int, node: int, blocked: frozenset[int] = frozenset()) -> list[int]:
        """Traversals after ``a`` to the nearest arrival at ``node`` (any street into it)."""
        arrivals = np.flatnonzero((self.graph.head == node) & self.graph.valid)
        arrivals = arrivals[[t // 2 not in blocked for t in arrivals.tolist()]]
        dist, _ = self._tree(a, reverse=False)
        best = int(arrivals[np.argmin(dist[arrivals])])
        return self.route(a, best, blocked)

    def nearest(self, a: int, wanted: set[int]) -> list[int]:
        """Traversals after ``a`` up to (not including) the nearest traversal in ``wanted``
        reached by an allowed turn (Dijkstra stopped at the first one; plans' next street)."""
        g = self.graph.graph
        dist = {a: 0.0}
        prev: dict[int, int] = {}
        heap = [(0.0, a)]
        while heap:
            d, v = heapq.heappop(heap)
            if d > dist[v]:
                continue
            if v in wanted and v != a:
                path = []
                while v != a:
                    v = prev[v]
                    path.append(v)
                return path[::-1][1:]
            for i in range(g.indptr[v], g.indptr[v + 1]):
                w, nd = int(g.indices[i]), d + float(g.data[i])
                if nd < dist.get(w, np.inf):
                    dist[w], prev[w] = nd, v
                    heapq.heappush(heap, (nd, w))
        raise ValueError(f"no street wanted is reachable from traversal {a}")


def _back(pred: np.ndarray, a: int, b: int) -> list[int]:
    path = [b]
    while path[-1] != a:
        v = int(pred[path[-1]])
        if v < 0:
            raise ValueError(f"traversal {b} is unreachable from {a}")
        path.append(v)
    return path[::-1][1:]
