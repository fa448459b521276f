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
what is reported; ``steps_between`` gives the drive-only traversals of a path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from fleetpilot.analytics.whatif.arcroute import ArcInstance
from fleetpilot.analytics.whatif.tour import CROSSING_MIN_DEG, UTURN_MIN_DEG

TINY_M = 1e-6  # a zero weight would read as "no edge" in the sparse graph


@dataclass(frozen=True)
class TurnRules:
    left_m: float = 30.0  # ≈ the wait for a gap in oncoming traffic, as metres driven
    uturn_m: float = 1000.0  # turning a refuse truck round (usually reversing): only if nothing else
    drive_side: str = "right"
    restricted: frozenset[tuple[int, int, int]] = field(default_factory=frozenset)  # (from seg, node, to seg)

    def __post_init__(self) -> None:
        if self.drive_side not in ("right", "left"):
            raise ValueError("drive_side must be 'right' or 'left'")


@dataclass(frozen=True)
class TraversalGraph:
    """Traversal a drives segment a // 2, backwards when a is odd; S and T: depot start and end."""

    tail: np.ndarray
    head: np.ndarray
    length_m: np.ndarray
    valid: np.ndarray
    graph: csr_matrix  # (2·segments + 2)², S = 2·segments, T = S + 1


def turn_penalty(
    net_x: np.ndarray, net_y: np.ndarray, a: tuple[int, int], b: tuple[int, int], same: bool, rules: TurnRules
) -> float:
    """Penalty of arriving along a = (tail, head) and leaving along b = (head, next)."""
    if same:
        return rules.uturn_m
    ax, ay = net_x[a[1]] - net_x[a[0]], net_y[a[1]] - net_y[a[0]]
    bx, by = net_x[b[1]] - net_x[b[0]], net_y[b[1]] - net_y[b[0]]
    angle = float(np.degrees(np.arctan2(ax * by - ay * bx, ax * bx + ay * by)))  # > 0: a left turn
    if abs(angle) >= UTURN_MIN_DEG:
        return rules.uturn_m
    crossing = angle if rules.drive_side == "right" else -angle
    return rules.left_m if crossing > CROSSING_MIN_DEG else 0.0


def traversal_graph(
    start: np.ndarray,
    end: np.ndarray,
    length_m: np.ndarray,
    one_way: np.ndarray,
    node_x: np.ndarray,
    node_y: np.ndarray,
    depot: int,
    rules: TurnRules,
) -> TraversalGraph:
    n = len(start)
    tail = np.empty(2 * n, dtype=np.int64)
    head = np.empty(2 * n, dtype=np.int64)
    tail[0::2], head[0::2], tail[1::2], head[1::2] = start, end, end, start
    length = np.repeat(np.asarray(length_m, dtype=np.float64), 2)
    valid = np.ones(2 * n, dtype=bool)
    valid[1::2] = ~np.asarray(one_way, dtype=bool)
    ids = [int(a) for a in np.flatnonzero(valid)]
    leaving: dict[int, list[int]] = {}
    for b in ids:
        leaving.setdefault(int(tail[b]), []).append(b)
    frm: list[int] = []
    to: list[int] = []
    w: list[float] = []
    for a in ids:
        v = int(head[a])
        for b in leaving.get(v, []):
            if (a // 2, v, b // 2) in rules.restricted:
                continue
            pen = turn_penalty(node_x, node_y, (int(tail[a]), v), (v, int(head[b])), a // 2 == b // 2, rules)
            frm.append(a)
            to.append(b)
            w.append(float(length[b]) + pen)
    s, t = 2 * n, 2 * n + 1
    for b in leaving.get(depot, []):
        frm.append(s)
        to.append(b)
        w.append(float(length[b]))
    for a in ids:
        if int(head[a]) == depot:
            frm.append(a)
            to.append(t)
            w.append(TINY_M)
    graph = csr_matrix((np.maximum(w, TINY_M), (frm, to)), shape=(2 * n + 2, 2 * n + 2))
    return TraversalGraph(tail, head, length, valid, graph)


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


@dataclass(frozen=True)
class TurnInstance:
    cost: ArcInstance  # metres + turn penalties: what is minimised
    metres: ArcInstance  # the same paths' metres: what is reported
    traversal: np.ndarray  # per option: its traversal (segment = t // 2, backwards if odd)
    pred: np.ndarray  # (sources, vertices) predecessors, rows as ``row``
    row: dict[int, int]


def turn_instance(tg: TraversalGraph, segments: np.ndarray, task_xy: np.ndarray, start_xy: np.ndarray) -> TurnInstance:
    segments = np.asarray(segments, dtype=np.int64)
    options = [(t, 2 * s + r) for t, s in enumerate(segments) for r in (0, 1) if tg.valid[2 * s + r]]
    task = np.array([t for t, _ in options], dtype=np.int64)
    trav = np.array([a for _, a in options], dtype=np.int64)
    s_vertex = len(tg.tail)
    sources = np.r_[np.unique(trav), s_vertex]
    dist, pred = dijkstra(tg.graph, indices=sources, return_predecessors=True)
    metres = _path_metres(pred, np.r_[tg.length_m, 0.0, 0.0])
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

    return TurnInstance(make(dist), make(metres), trav, pred, row)


def steps_between(ti: TurnInstance, a: int, b: int) -> list[int]:
    """The drive-only traversals from option a's traversal to option b's (exclusive)."""
    pred = ti.pred[ti.row[int(ti.traversal[a])]]
    path = []
    v = int(pred[int(ti.traversal[b])])
    while v >= 0 and v != int(ti.traversal[a]):
        path.append(v)
        v = int(pred[v])
    return path[::-1]
