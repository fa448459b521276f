"""Stop sequencing: an open path from a fixed first stop, minimising distance plus turn costs.

Cost of an order = Σ leg distances + left_penalty_m × crossing turns + uturn_penalty_m ×
U-turns, where the turn at a stop is the signed angle between the incoming and outgoing
legs: a *crossing* turn (left where traffic drives on the right) is one sharper than 30°
and below 150°; a U-turn is 150° or more (on a refuse truck it usually means reversing).

Heuristic: nearest neighbour, then 2-opt and Or-opt until no move improves. 2-opt is
vectorised over all second cut points at once; its delta is exact including turns,
because reversing a stretch turns each of its crossing turns into a non-crossing one and
vice versa (prefix sums), and only four stops get new neighbours. Or-opt moves a run of
1–3 stops elsewhere; candidates are ranked by distance and the best is accepted only if
the full cost (with turns) drops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streetroute.traversals import CROSSING_MIN_DEG, UTURN_MIN_DEG  # one rule for what a turn is, planner and simulator

MAX_PASSES = 200


@dataclass(frozen=True)
class TurnCosts:
    left_penalty_m: float = 30.0
    uturn_penalty_m: float = 200.0
    drive_side: str = "right"  # "right": left turns cross traffic; "left": right turns do

    def __post_init__(self) -> None:
        if self.drive_side not in ("right", "left"):
            raise ValueError("drive_side must be 'right' or 'left'")


def turn_kinds(
    xy: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, drive_side: str
) -> tuple[np.ndarray, np.ndarray]:
    """(crossing, uturn) booleans for the turn at stop b coming from a and going to c."""
    v1 = xy[b] - xy[a]
    v2 = xy[c] - xy[b]
    cross = v1[..., 0] * v2[..., 1] - v1[..., 1] * v2[..., 0]
    dot = (v1 * v2).sum(-1)
    angle = np.degrees(np.arctan2(cross, dot))
    if drive_side == "left":
        angle = -angle
    degenerate = (np.abs(v1).sum(-1) == 0) | (np.abs(v2).sum(-1) == 0)
    uturn = (np.abs(angle) >= UTURN_MIN_DEG) & ~degenerate
    crossing = (angle > CROSSING_MIN_DEG) & (angle < UTURN_MIN_DEG) & ~degenerate
    return crossing, uturn


def turn_counts(xy: np.ndarray, order: np.ndarray, drive_side: str = "right") -> tuple[int, int]:
    """(crossing turns, U-turns) along ``order``."""
    if len(order) < 3:
        return 0, 0
    crossing, uturn = turn_kinds(xy, order[:-2], order[1:-1], order[2:], drive_side)
    return int(crossing.sum()), int(uturn.sum())


def path_length(dist: np.ndarray, order: np.ndarray) -> float:
    return float(dist[order[:-1], order[1:]].sum()) if len(order) > 1 else 0.0


def path_cost(xy: np.ndarray, dist: np.ndarray, order: np.ndarray, turns: TurnCosts) -> float:
    crossing, uturn = turn_counts(xy, order, turns.drive_side)
    return path_length(dist, order) + turns.left_penalty_m * crossing + turns.uturn_penalty_m * uturn


def distance_matrix(xy: np.ndarray, circuity: float = 1.0) -> np.ndarray:
    """Straight-line metres between all stops × a circuity factor for street detours."""
    d = xy[:, None, :] - xy[None, :, :]
    return np.hypot(d[..., 0], d[..., 1]) * circuity


def nearest_neighbour(dist: np.ndarray, start: int) -> np.ndarray:
    n = len(dist)
    order = [start]
    free = np.ones(n, dtype=bool)
    free[start] = False
    for _ in range(n - 1):
        row = np.where(free, dist[order[-1]], np.inf)
        nxt = int(np.argmin(row))
        order.append(nxt)
        free[nxt] = False
    return np.array(order, dtype=np.int64)


def _turn_penalty(xy, a, b, c, turns: TurnCosts) -> np.ndarray:
    crossing, uturn = turn_kinds(xy, a, b, c, turns.drive_side)
    return turns.left_penalty_m * crossing + turns.uturn_penalty_m * uturn


def two_opt_pass(xy: np.ndarray, dist: np.ndarray, order: np.ndarray, turns: TurnCosts) -> bool:
    """One sweep of turn-aware 2-opt over the first cut; applies improving moves in place."""
    n = len(order)
    improved = False
    for i in range(0, n - 2):
        o = order
        crossing, uturn = turn_kinds(xy, o[:-2], o[1:-1], o[2:], turns.drive_side)
        right, _ = turn_kinds(xy, o[2:], o[1:-1], o[:-2], turns.drive_side)  # the same turns driven backwards
        # Prefix sums over turn positions 1..n-2 (index k-1 holds the turn at position k).
        cum_cross = np.concatenate([[0.0], np.cumsum(crossing)])
        cum_back = np.concatenate([[0.0], np.cumsum(right)])
        j = np.arange(i + 2, n)
        has_next = j + 1 < n
        jn = np.minimum(j + 1, n - 1)
        delta = dist[o[i], o[j]] - dist[o[i], o[i + 1]]
        delta += np.where(has_next, dist[o[i + 1], o[jn]] - dist[o[j], o[jn]], 0.0)
        # Internal stops i+2 … j-1 flip their turn direction.
        lo, hi = i + 2, j - 1
        span = hi >= lo
        delta += turns.left_penalty_m * np.where(
            span,
            (cum_back[np.maximum(hi, lo - 1)] - cum_back[lo - 1])
            - (cum_cross[np.maximum(hi, lo - 1)] - cum_cross[lo - 1]),
            0.0,
        )
        # Explicit turns at the four stops that get new neighbours (old turns removed, new added).
        if i >= 1:
            delta += _turn_penalty(xy, o[i - 1], o[i], o[j], turns) - _turn_penalty(xy, o[i - 1], o[i], o[i + 1], turns)
        # Stop o[j] (new position i+1): from o[i] to o[j-1]; it used to turn o[j-1] → o[j+1].
        delta += _turn_penalty(xy, o[i], o[j], o[j - 1], turns)
        delta -= np.where(has_next, _turn_penalty(xy, o[j - 1], o[j], o[jn], turns), 0.0)
        # Stop o[i+1] (new position j): from o[i+2] to o[j+1]; it used to turn o[i] → o[i+2].
        delta += np.where(has_next, _turn_penalty(xy, o[i + 2], o[i + 1], o[jn], turns), 0.0)
        delta -= _turn_penalty(xy, o[i], o[i + 1], o[i + 2], turns)
        # Stop o[j+1]: now entered from o[i+1] instead of o[j].
        jnn = np.minimum(j + 2, n - 1)
        has_two = j + 2 < n
        delta += np.where(
            has_two,
            _turn_penalty(xy, o[i + 1], o[jn], o[jnn], turns) - _turn_penalty(xy, o[j], o[jn], o[jnn], turns),
            0.0,
        )
        k = int(np.argmin(delta))
        if delta[k] < -1e-9:
            jj = int(j[k])
            candidate = np.concatenate([o[: i + 1], o[i + 1 : jj + 1][::-1], o[jj + 1 :]])
            if path_cost(xy, dist, candidate, turns) < path_cost(xy, dist, o, turns) - 1e-9:
                order[:] = candidate
                improved = True
    return improved


def or_opt_pass(xy: np.ndarray, dist: np.ndarray, order: np.ndarray, turns: TurnCosts) -> bool:
    """Move runs of 1–3 stops (not the first stop) to their best place by distance; keep if cheaper."""
    n = len(order)
    improved = False
    for length in (1, 2, 3):
        s = 1
        while s + length <= n:
            o = order
            seg = o[s : s + length]
            prev = o[s - 1]
            nxt = o[s + length] if s + length < n else -1
            removal = (
                dist[prev, seg[0]] + (dist[seg[-1], nxt] if nxt >= 0 else 0.0) - (dist[prev, nxt] if nxt >= 0 else 0.0)
            )
            rest = np.concatenate([o[:s], o[s + length :]])
            a, b = rest[:-1], rest[1:]
            forward = dist[a, seg[0]] + dist[seg[-1], b] - dist[a, b]
            backward = dist[a, seg[-1]] + dist[seg[0], b] - dist[a, b]
            tail_f = dist[rest[-1], seg[0]]
            tail_b = dist[rest[-1], seg[-1]]
            gains = np.concatenate([forward, [tail_f], backward, [tail_b]]) - removal
            k = int(np.argmin(gains))
            if gains[k] < -1e-9:
                m = len(rest)
                reverse = k >= m
                pos = (k - m if reverse else k) + 1  # insert after rest[pos-1]
                piece = seg[::-1] if reverse else seg
                candidate = np.concatenate([rest[:pos], piece, rest[pos:]])
                if path_cost(xy, dist, candidate, turns) < path_cost(xy, dist, o, turns) - 1e-9:
                    order[:] = candidate
                    improved = True
                    continue
            s += 1
    return improved


def optimise(
    xy: np.ndarray, start: int, turns: TurnCosts = TurnCosts(), circuity: float = 1.0, initial: np.ndarray | None = None
) -> np.ndarray:
    """An order of all stops beginning at ``start``: nearest neighbour (or ``initial``) + 2-opt + Or-opt."""
    dist = distance_matrix(xy, circuity)
    if len(xy) <= 2:
        return np.array([start] + [k for k in range(len(xy)) if k != start], dtype=np.int64)
    order = nearest_neighbour(dist, start) if initial is None else np.array(initial, dtype=np.int64)
    for _ in range(MAX_PASSES):
        changed = two_opt_pass(xy, dist, order, turns)
        changed = or_opt_pass(xy, dist, order, turns) or changed
        if not changed:
            break
    return order
