"""Shortest paths over street *traversals*, with turn costs and forbidden turns.

A node-based shortest path cannot see turns: it may turn round at a junction onto the street it
came from, turn left across traffic anywhere, or take a turn a sign forbids. Here the graph's
vertices are the traversals of street segments (a segment forwards, or backwards if two-way) and
its edges the turns between them at a shared node, weighted by the next traversal's cost plus a
penalty: ``uturn_m`` for turning round onto the same segment (or a hairpin of 150° or more; at a
dead end it is the only way, so it is penalised, not forbidden), ``left_m`` for a turn crossing
oncoming traffic (left where traffic drives on the right; 30°–150°). A restricted turn (OSM
``restriction`` relations, given as (from segment, via node, to segment)) has no edge at all, so
it is never taken.

Traversal ``a`` drives segment ``a // 2``, backwards when ``a`` is odd.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix

TINY_M = 1e-6  # a zero weight would read as "no edge" in the sparse graph
CROSSING_MIN_DEG = 30.0  # a turn sharper than this crosses oncoming traffic (left, driving on the right)
UTURN_MIN_DEG = 150.0  # this sharp is turning round


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
    graph: csr_matrix  # (2·segments + 2 + 2·facilities)², S = 2·segments, T = S + 1
    facilities: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # their nodes

    @property
    def start_vertex(self) -> int:
        return len(self.tail)

    def arrive(self, k: int) -> int:
        """Facility k's vertex, reached from every traversal ending at its node (no turn there)."""
        return len(self.tail) + 2 + 2 * k

    def leave(self, k: int) -> int:
        """Facility k's vertex that every traversal leaving its node starts from."""
        return len(self.tail) + 3 + 2 * k


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


def turn_penalties(
    net_x: np.ndarray,
    net_y: np.ndarray,
    tail: np.ndarray,
    via: np.ndarray,
    head: np.ndarray,
    same: np.ndarray,
    rules: TurnRules,
) -> np.ndarray:
    """``turn_penalty`` of many turns at once: arriving tail → via, leaving via → head."""
    ax, ay = net_x[via] - net_x[tail], net_y[via] - net_y[tail]
    bx, by = net_x[head] - net_x[via], net_y[head] - net_y[via]
    angle = np.degrees(np.arctan2(ax * by - ay * bx, ax * bx + ay * by))  # > 0: a left turn
    crossing = angle if rules.drive_side == "right" else -angle
    left = np.where(crossing > CROSSING_MIN_DEG, rules.left_m, 0.0)
    return np.where(same | (np.abs(angle) >= UTURN_MIN_DEG), rules.uturn_m, left)


def traversal_graph(
    start: np.ndarray,
    end: np.ndarray,
    length_m: np.ndarray,
    one_way: np.ndarray,
    node_x: np.ndarray,
    node_y: np.ndarray,
    depot: int,
    rules: TurnRules,
    cost_m: np.ndarray | None = None,
    facilities: Sequence[int] = (),
) -> TraversalGraph:
    """The traversal graph of segments start → end (node indexes). ``cost_m``: per segment, what
    driving it costs in the penalties' unit (default its metres; the simulator passes travel time
    as metres at a reference speed). ``depot`` < 0: no S and T edges (the vertices stay)."""
    n = len(start)
    tail = np.empty(2 * n, dtype=np.int64)
    head = np.empty(2 * n, dtype=np.int64)
    tail[0::2], head[0::2], tail[1::2], head[1::2] = start, end, end, start
    length = np.repeat(np.asarray(length_m, dtype=np.float64), 2)
    cost = length if cost_m is None else np.repeat(np.asarray(cost_m, dtype=np.float64), 2)
    valid = np.ones(2 * n, dtype=bool)
    valid[1::2] = ~np.asarray(one_way, dtype=bool)
    # Every turn a → b at a node (b leaves where a arrives), on whole arrays: the traversals
    # sorted by tail, and for each a the run of those whose tail is a's head.
    ids = np.flatnonzero(valid)
    by_tail = ids[np.argsort(tail[ids], kind="stable")]
    lo = np.searchsorted(tail[by_tail], head[ids], side="left")
    count = np.searchsorted(tail[by_tail], head[ids], side="right") - lo
    a = np.repeat(ids, count)
    b = by_tail[np.repeat(lo, count) + np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)]
    v = head[a]
    if rules.restricted:
        nodes = np.array(sorted({node for _, node, _ in rules.restricted}), dtype=np.int64)
        at = np.flatnonzero(np.isin(v, nodes))
        banned = [i for i in at.tolist() if (int(a[i]) // 2, int(v[i]), int(b[i]) // 2) in rules.restricted]
        keep = np.ones(len(a), dtype=bool)
        keep[banned] = False
        a, b, v = a[keep], b[keep], v[keep]
    pen = turn_penalties(node_x, node_y, tail[a], v, head[b], a // 2 == b // 2, rules)
    frm = [a]
    to = [b]
    w = [cost[b] + pen]
    s, t = 2 * n, 2 * n + 1
    if depot >= 0:
        out = ids[tail[ids] == depot]
        into = ids[head[ids] == depot]
        frm += [np.full(len(out), s), into]
        to += [out, np.full(len(into), t)]
        w += [cost[out], np.full(len(into), TINY_M)]
    for k, node in enumerate(int(f) for f in facilities):  # arrive 2n+2+2k, leave 2n+3+2k
        out = ids[tail[ids] == node]
        into = ids[head[ids] == node]
        frm += [into, np.full(len(out), t + 2 + 2 * k)]
        to += [np.full(len(into), t + 1 + 2 * k), out]
        w += [np.full(len(into), TINY_M), cost[out]]
    size = 2 * n + 2 + 2 * len(facilities)
    graph = csr_matrix(
        (np.maximum(np.concatenate(w), TINY_M), (np.concatenate(frm), np.concatenate(to))),
        shape=(size, size),
    )
    return TraversalGraph(tail, head, length, valid, graph, np.asarray(facilities, dtype=np.int64))
