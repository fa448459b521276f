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
``PathRows`` keeps the shortest paths from each source traversal it was asked for: an edited
plan shares most of its streets with the plan it edits, so only the new ones' paths are searched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
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


class PathRows:
    """Shortest paths over one traversal graph from source vertices, each source's row kept
    (cost, metres, predecessors) up to ``max_bytes``; past that the rows kept are dropped."""

    def __init__(self, tg: TraversalGraph, max_bytes: float = 64e6) -> None:
        self.tg = tg
        self.max_rows = max(int(max_bytes // (20 * tg.graph.shape[0])), 1)  # 8 + 8 + 4 bytes a vertex
        self._rows: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._length = np.r_[tg.length_m, np.zeros(tg.graph.shape[0] - len(tg.length_m))]

    def get(self, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cost, metres, predecessors), one row per source in ``sources``' order."""
        kept = self._rows
        have = {int(v): kept[int(v)] for v in sources if int(v) in kept}  # one look each: a thread may clear
        missing = np.array(sorted({int(v) for v in sources} - set(have)), dtype=np.int64)
        if len(missing):
            dist, pred = dijkstra(self.tg.graph, indices=missing, return_predecessors=True)
            metres = _path_metres(pred, self._length)
            fresh = {int(v): (dist[i], metres[i], pred[i]) for i, v in enumerate(missing)}
            have.update(fresh)
            if len(kept) + len(fresh) > self.max_rows:
                kept.clear()
            kept.update(list(fresh.items())[: self.max_rows])
        rows = [have[int(v)] for v in sources]
        return tuple(np.stack([r[i] for r in rows]) for i in range(3))  # type: ignore[return-value]


@dataclass(frozen=True)
class TurnInstance:
    cost: ArcInstance  # metres + turn penalties: what is minimised
    metres: ArcInstance  # the same paths' metres: what is reported
    traversal: np.ndarray  # per option: its traversal (segment = t // 2, backwards if odd)
    pred: np.ndarray  # (sources, vertices) predecessors, rows as ``row``
    row: dict[int, int]
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
    """The plan's instance; ``paths`` (of ``tg``): rows searched before are reused."""
    segments = np.asarray(segments, dtype=np.int64)
    options = [(t, 2 * s + r) for t, s in enumerate(segments) for r in (0, 1) if tg.valid[2 * s + r]]
    task = np.array([t for t, _ in options], dtype=np.int64)
    trav = np.array([a for _, a in options], dtype=np.int64)
    s_vertex = tg.start_vertex
    leave = np.array([tg.leave(k) for k in range(len(tg.facilities))], dtype=np.int64)
    sources = np.r_[np.unique(trav), s_vertex, leave]
    dist, metres, pred = (paths or PathRows(tg)).get(sources)
    row = {int(v): i for i, v in enumerate(sources)}
    r = np.array([row[int(a)] for a in trav], dtype=np.int64)
    own = tg.length_m[trav]
    same_task = task[:, None] == task[None, :]

    def make(d: np.ndarray) -> ArcInstance:
        dead = np.where(same_task, np.inf, d[r][:, trav] - own[None, :])
        return ArcInstance(
            task=task,
            service_m=tg.length_m[2 * segments],
            deadhead_m=np.maximum(dead, 0.0),
            from_start_m=np.maximum(d[row[s_vertex], trav] - own, 0.0),
            to_end_m=d[r, s_vertex + 1],
            task_xy=task_xy,
            start_xy=start_xy,
        )

    arrive = [tg.arrive(k) for k in range(len(tg.facilities))]
    lv = [row[int(v)] for v in leave]
    reached = np.where(np.isfinite(dist), metres, np.inf)  # a facility out of reach is no free trip
    return TurnInstance(
        make(dist),
        make(metres),
        trav,
        pred,
        row,
        to_facility_m=reached[r][:, arrive].T,
        from_facility_m=np.maximum(reached[lv][:, trav] - own[None, :], 0.0),
        facility_to_end_m=reached[lv, s_vertex + 1],
    )


def steps_between(ti: TurnInstance, a: int, b: int) -> list[int]:
    """The drive-only traversals from option a's traversal to option b's (exclusive)."""
    pred = ti.pred[ti.row[int(ti.traversal[a])]]
    path = []
    v = int(pred[int(ti.traversal[b])])
    while v >= 0 and v != int(ti.traversal[a]):
        path.append(v)
        v = int(pred[v])
    return path[::-1]
