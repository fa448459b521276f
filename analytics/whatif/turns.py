"""Turn-aware deadhead: shortest paths over street *traversals*, with turn costs and restrictions.

A node-based shortest path cannot see turns: it may turn round at a junction onto the street it
came from, turn left across traffic anywhere, or take a turn a sign forbids. Here the graph's
vertices are the traversals of street segments (a segment forwards, or backwards if two-way) and
its edges the turns between them at a shared node, weighted by the next traversal's metres plus a
penalty: ``uturn_m`` for turning round onto the same segment (or a hairpin of 150° or more; at a
dead end it is the only way, so it is penalised, not forbidden), ``left_m`` for a turn crossing
oncoming traffic (left where traffic drives on the right; 30°–150°, as in ``tour``). A
restricted turn (OSM ``restriction`` relations ``no_*``, given as (from segment, via node, to
segment)) has no edge at all, so it is never taken.

``turn_instance`` is a plan's arc-routing instance on that graph: its ``cost`` instance (metres +
penalties) is what the sequencers minimise, its ``metres`` instance (the same paths' metres)
what is reported; ``steps_between`` gives the drive-only traversals of a path. Facilities
(transfer stations, landfills) are vertices too, one to arrive at and one to leave from (the
truck turns inside the yard: no penalty there), so the trips to them take the same turns.
``PathRows`` keeps the paths between each plan's traversals it was asked for: an edited plan
shares most of its streets with the plan it edits, so only the new ones' paths are searched.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from fleetpilot.analytics.whatif.arcroute import ArcInstance

# The traversal graph is shared with the simulator (streetroute): a simulated truck and a
# proposed plan obey the same one-way streets and forbidden turns.
from streetroute.traversals import TraversalGraph as TraversalGraph
from streetroute.traversals import TurnRules as TurnRules
from streetroute.traversals import traversal_graph as traversal_graph
from streetroute.traversals import turn_penalty as turn_penalty


def _path_metres(pred: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Per source row and vertex: metres of the path's traversals after the source (pointer
    jumping over the predecessor trees, O(log depth) numpy passes)."""
    has = pred >= 0
    acc = np.where(has, length[None, :], 0.0)
    p = np.where(has, pred, np.arange(pred.shape[1])[None, :])
    while True:
        nxt = np.take_along_axis(p, p, axis=1)
        moving = nxt != p  # a pointer at the root (the source, or itself if unreachable) is done
        if not moving.any():
            return acc
        add = np.take_along_axis(acc, p, axis=1)
        acc = np.where(moving, acc + add, acc)
        p = np.where(moving, nxt, p)


def _pair_metres(
    pred: np.ndarray, rows: np.ndarray, sources: np.ndarray, targets: np.ndarray, length: np.ndarray
) -> np.ndarray:
    """Metres of the paths from ``sources`` to ``targets`` (pairs; the paths' trees are ``pred``
    rows ``rows``): each path walked back from its target, all pairs at once. Only the pairs an
    instance needs, not every vertex of every row (``_path_metres``: most of a cold prediction)."""
    out = np.zeros(len(targets))
    live = np.flatnonzero((targets != sources) & (pred[rows, targets] >= 0))
    at = targets[live]
    while len(live):
        out[live] += length[at]
        at = pred[rows[live], at]
        more = (at != sources[live]) & (at >= 0)
        live, at = live[more], at[more]
    return out


def _pair_metres_back(
    succ: np.ndarray, rows: np.ndarray, sources: np.ndarray, targets: np.ndarray, length: np.ndarray
) -> np.ndarray:
    """``_pair_metres`` over trees searched backwards from each target (``succ``: the next
    traversal on the way to the row's target): each path walked forwards from its source."""
    out = np.zeros(len(sources))
    live = np.flatnonzero((targets != sources) & (succ[rows, sources] >= 0))
    at = succ[rows[live], sources[live]]
    while len(live):
        out[live] += length[at]
        more = (at != targets[live]) & (at >= 0)
        live, at = live[more], at[more]
        at = succ[rows[live], at]
    return out


@dataclass(frozen=True, eq=False)
class _Pairs:
    """Cost and metres between a plan's traversals (sorted), from them and from the extra
    sources (depot start, facility exits) that follow them as rows."""

    trav: np.ndarray
    cost: np.ndarray
    metres: np.ndarray

    @property
    def bytes(self) -> int:
        return int(self.cost.nbytes + self.metres.nbytes)


CHUNK = 64  # sources (or targets) searched at once: 64 rows of 12 bytes a traversal


class PathRows:
    """Shortest paths over one traversal graph, for the plans of one city and depot: the pairs
    between a plan's traversals are kept (``pairs``) up to ``max_bytes``, the oldest dropped first.

    A search reaches only as far as its targets need (Dijkstra's ``limit``, doubled until every
    target is reached or the search is whole): a route's streets lie within a district, so most
    searches stop after a few thousand of the city's traversals. Paths to a vertex (the depot's
    end, a facility) come from one search backwards from it."""

    def __init__(self, tg: TraversalGraph, max_bytes: float = 64e6) -> None:
        self.tg = tg
        self._to: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # target: (cost, metres) from every vertex
        self._length = np.r_[tg.length_m, np.zeros(tg.graph.shape[0] - len(tg.length_m))]
        self._reversed: csr_matrix | None = None
        self._pairs: list[_Pairs] = []  # most recently used last
        self._pair_bytes = max_bytes
        self._lock = threading.Lock()

    def search(self, sources: np.ndarray, targets: np.ndarray, first_limit: float) -> tuple[np.ndarray, np.ndarray]:
        """(cost, metres) from each of ``sources`` to each of ``targets`` (inf: out of reach);
        searches start at ``first_limit`` (cost units). ``CHUNK`` sources at a time: a search's
        rows span the whole graph (12 bytes a traversal), which a large city makes large."""
        sources = np.asarray(sources, dtype=np.int64)
        cost = np.full((len(sources), len(targets)), np.inf)
        metres = np.full(cost.shape, np.inf)
        for lo in range(0, len(sources), CHUNK):
            chunk = sources[lo : lo + CHUNK]
            dist = np.full((len(chunk), self.tg.graph.shape[0]), np.inf)
            pred = np.full(dist.shape, -9999, dtype=np.int32)
            todo = np.arange(len(chunk))
            limit = max(float(first_limit), 1.0)
            while len(todo):
                if limit > 64 * first_limit:
                    limit = np.inf
                d, p = dijkstra(self.tg.graph, indices=chunk[todo], return_predecessors=True, limit=limit)
                dist[todo], pred[todo] = d, p
                todo = todo[~(np.isfinite(d[:, targets]).all(axis=1) | (limit == np.inf))]
                limit *= 2
            n, m = len(chunk), len(targets)
            walked = _pair_metres(
                pred, np.repeat(np.arange(n), m), np.repeat(chunk, m), np.tile(targets, n), self._length
            )
            cost[lo : lo + n] = dist[:, targets]
            metres[lo : lo + n] = np.where(np.isfinite(cost[lo : lo + n]), walked.reshape(n, m), np.inf)
        return cost, metres

    def backward(self, targets: np.ndarray, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``search``'s (cost, metres) from ``sources`` to ``targets``, searched backwards from each
        target (whole searches, ``CHUNK`` targets at a time): for a few targets and many sources."""
        if self._reversed is None:
            self._reversed = self.tg.graph.T.tocsr()
        targets = np.asarray(targets, dtype=np.int64)
        cost = np.full((len(sources), len(targets)), np.inf)
        metres = np.full(cost.shape, np.inf)
        for lo in range(0, len(targets), CHUNK):
            chunk = targets[lo : lo + CHUNK]
            back, succ = dijkstra(self._reversed, indices=chunk, return_predecessors=True)
            n, m = len(sources), len(chunk)
            walked = _pair_metres_back(
                succ, np.tile(np.arange(m), n), np.repeat(sources, m), np.tile(chunk, n), self._length
            ).reshape(n, m)
            reach = back[:, sources].T
            cost[:, lo : lo + m] = reach
            metres[:, lo : lo + m] = np.where(np.isfinite(reach), walked, np.inf)
        return cost, metres

    def path(self, a: int, b: int, cost: float) -> list[int]:
        """The traversals strictly between ``a`` and ``b`` on the cheapest path, which costs
        ``cost`` (the search stops just past it)."""
        _, pred = dijkstra(self.tg.graph, indices=[a], return_predecessors=True, limit=cost + 1.0)
        out = []
        v = int(pred[0, b])
        while v >= 0 and v != a:
            out.append(v)
            v = int(pred[0, v])
        return out[::-1]

    def pairs(self, trav: np.ndarray, extra: np.ndarray, first_limit: float) -> tuple[np.ndarray, np.ndarray]:
        """(cost, metres) from ``trav`` (sorted, unique) and then ``extra`` to ``trav``. Built from
        the kept plan sharing most traversals: an edit searches only from its new traversals
        (forwards) and to them (backwards), not from every street of the plan again."""
        with self._lock:
            near = max(self._pairs, key=lambda e: int(np.isin(trav, e.trav).sum()), default=None)
        old = np.isin(trav, near.trav) if near is not None else np.zeros(len(trav), dtype=bool)
        sources = np.r_[trav, extra]
        if near is None or old.sum() < len(trav) / 2:
            cost, metres = self.search(sources, trav, first_limit)
        else:
            k, e = len(trav), len(extra)
            cost, metres = np.empty((k + e, k)), np.empty((k + e, k))
            at = np.searchsorted(near.trav, trav[old])
            rows_old = np.r_[np.flatnonzero(old), k + np.arange(e)]
            near_rows = np.r_[at, len(near.trav) + np.arange(e)]
            cost[np.ix_(rows_old, np.flatnonzero(old))] = near.cost[np.ix_(near_rows, at)]
            metres[np.ix_(rows_old, np.flatnonzero(old))] = near.metres[np.ix_(near_rows, at)]
            new = trav[~old]
            if len(new):
                rows_new = ~np.r_[old, np.ones(e, dtype=bool)]
                cost[rows_new], metres[rows_new] = self.search(new, trav, first_limit)
                to_cost, to_metres = self.backward(new, sources[rows_old])
                cost[np.ix_(rows_old, np.flatnonzero(~old))] = to_cost
                metres[np.ix_(rows_old, np.flatnonzero(~old))] = to_metres
        entry = _Pairs(trav, cost, metres)
        with self._lock:
            if near is not None and near in self._pairs:
                self._pairs.remove(near)
                self._pairs.append(near)
            self._pairs.append(entry)
            while sum(p.bytes for p in self._pairs) > self._pair_bytes and len(self._pairs) > 1:
                self._pairs.pop(0)
        return cost, metres

    def to(self, target: int) -> tuple[np.ndarray, np.ndarray]:
        """Per vertex: cost and metres of its cheapest path to ``target`` (searched backwards)."""
        if target not in self._to:
            if self._reversed is None:
                self._reversed = self.tg.graph.T.tocsr()
            dist, succ = dijkstra(self._reversed, indices=[target], return_predecessors=True)
            # Backwards, a vertex's "predecessor" is the next traversal on its way to the target:
            # metres after the vertex are the chain's metres less its own.
            metres = _path_metres(succ, self._length)[0] - np.where(succ[0] >= 0, self._length, 0.0)
            self._to[target] = (dist[0], metres)
        return self._to[target]


@dataclass(frozen=True)
class TurnInstance:
    cost: ArcInstance  # metres + turn penalties: what is minimised
    metres: ArcInstance  # the same paths' metres: what is reported
    traversal: np.ndarray  # per option: its traversal (segment = t // 2, backwards if odd)
    paths: PathRows  # where the paths came from (``steps_between`` searches them again)
    # Per facility of the graph (rows) and option: metres of the cheapest path from the option's
    # end to the facility, and from the facility to the option's start; facility → end node.
    to_facility_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    from_facility_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    facility_to_end_m: np.ndarray = field(default_factory=lambda: np.zeros(0))


def turn_instance(
    tg: TraversalGraph,
    segments: np.ndarray,
    task_xy: np.ndarray,
    start_xy: np.ndarray,
    paths: PathRows | None = None,
) -> TurnInstance:
    """The plan's instance; ``paths`` (of ``tg``): pairs searched for an earlier plan are reused,
    so an edit of it searches only from and to its new streets (``PathRows.pairs``)."""
    segments = np.asarray(segments, dtype=np.int64)
    options = [(t, 2 * s + r) for t, s in enumerate(segments) for r in (0, 1) if tg.valid[2 * s + r]]
    task = np.array([t for t, _ in options], dtype=np.int64)
    trav = np.array([a for _, a in options], dtype=np.int64)
    s_vertex = tg.start_vertex
    leave = np.array([tg.leave(k) for k in range(len(tg.facilities))], dtype=np.int64)
    unique = np.unique(trav)
    sources = np.r_[unique, s_vertex, leave]
    paths = paths or PathRows(tg)
    # Searches reach first as far as the plan's own spread (its streets' midpoints) and a U-turn.
    spread = float(np.hypot(*np.ptp(task_xy, axis=0))) if len(task_xy) else 0.0
    cost, metres = paths.pairs(unique, np.r_[s_vertex, leave], spread + 1000.0)
    at = np.searchsorted(unique, trav)
    cost, metres = cost[:, at], metres[:, at]  # columns as the options
    row = {int(v): i for i, v in enumerate(sources)}
    r = np.array([row[int(a)] for a in trav], dtype=np.int64)
    own = tg.length_m[trav]
    same_task = task[:, None] == task[None, :]
    home_cost, home_m = paths.to(s_vertex + 1)
    home_m = np.where(np.isfinite(home_cost), home_m, np.inf)

    def make(d: np.ndarray, home: np.ndarray) -> ArcInstance:
        dead = np.where(same_task, np.inf, d[r] - own[None, :])
        return ArcInstance(
            task=task,
            service_m=tg.length_m[2 * segments],
            deadhead_m=np.maximum(dead, 0.0),
            from_start_m=np.maximum(d[row[s_vertex]] - own, 0.0),
            to_end_m=home[trav],
            task_xy=task_xy,
            start_xy=start_xy,
        )

    lv = [row[int(v)] for v in leave]
    # A facility out of reach is no free trip: its metres are inf.
    to_facility = [paths.to(tg.arrive(k)) for k in range(len(tg.facilities))]
    to_facility_m = np.array([np.where(np.isfinite(c[trav]), m[trav], np.inf) for c, m in to_facility])
    return TurnInstance(
        make(cost, home_cost),
        make(metres, home_m),
        trav,
        paths,
        to_facility_m=to_facility_m.reshape(len(tg.facilities), len(trav)),
        from_facility_m=np.maximum(metres[lv] - own[None, :], 0.0),
        facility_to_end_m=home_m[leave],
    )


def steps_between(ti: TurnInstance, a: int, b: int) -> list[int]:
    """The drive-only traversals from option a's traversal to option b's (exclusive)."""
    ta, tb = int(ti.traversal[a]), int(ti.traversal[b])
    return ti.paths.path(ta, tb, float(ti.cost.deadhead_m[a, b]) + float(ti.paths.tg.length_m[tb]))
