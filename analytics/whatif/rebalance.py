"""Scenario (c): hand service segments between neighbouring routes to even out completion times.

Method. A route's workload is its mean worked hours per shift; a segment's workload is its
median collection time per visit. A segment may move from route A to route B when it
touches (shares an end point within ``touch_m`` with) a segment of B's plan, and A without it
stays in no more pieces than before (routes stay contiguous: connected components of the
route's segments, two segments joined when end points are within ``touch_m``, so a gap up to
``touch_m`` is no break). Greedily, the route with the most work gives the touching segment that
lowers the larger of the two routes' workloads most, while the receiving route stays below the
giver (decision 0025); this repeats
until no move helps or ``max_moves`` is reached. History is then replayed day by day: on
each day the giving shift loses the collection time it actually spent on the moved
segments and the receiving route's shift that day gains it. Approach driving to the moved
segments is taken as unchanged (they touch the receiving route). Uncertainty resamples
days.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from fleetpilot.analytics.whatif import charts
from fleetpilot.analytics.whatif.common import Options, bootstrap_weights, build_result, hotspot_segments, segment_mask
from fleetpilot.analytics.whatif.history import LEG_SERVICE, History
from fleetpilot.analytics.whatif.kpi import K, shift_kpis
from fleetpilot.analytics.whatif.privacy import shift_groups_allowed
from fleetpilot.analytics.whatif.result import ScenarioResult, Table
from fleetpilot.analytics.whatif.uncertainty import percentile_interval


def current_plans(history: History) -> np.ndarray:
    """Per network segment, the route whose latest plan collects it (-1: none)."""
    plans = history.plans
    owner = np.full(history.network.size, -1, dtype=np.int64)
    latest: dict[int, int] = {}
    for p in range(plans.size):
        r = int(plans.plan_route[p])
        if r not in latest or plans.plan_version[p] > plans.plan_version[latest[r]]:
            latest[r] = p
    for r, p in sorted(latest.items()):
        owner[plans.segments_of(p)] = r
    return owner


def touching_pairs(history: History, touch_m: float) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) pairs of distinct segments with end points within ``touch_m`` of each other."""
    net = history.network
    ends = np.concatenate([np.column_stack([net.x0, net.y0]), np.column_stack([net.x1, net.y1])])
    owner = np.concatenate([np.arange(net.size), np.arange(net.size)])
    pairs = cKDTree(ends).query_pairs(touch_m, output_type="ndarray")
    i, j = owner[pairs[:, 0]], owner[pairs[:, 1]]
    keep = i != j
    i, j = np.concatenate([i[keep], j[keep]]), np.concatenate([j[keep], i[keep]])
    code = np.unique(i * net.size + j)
    return code // net.size, code % net.size


def plan_moves(
    work: np.ndarray, seg_time: np.ndarray, owner: np.ndarray, pairs: tuple[np.ndarray, np.ndarray], max_moves: int
) -> list[tuple[int, int, int]]:
    """Greedy (segment, from route, to route) moves; ``work`` (hours per route) is updated in place."""
    i, j = pairs
    moves = []
    owner = owner.copy()
    active = np.flatnonzero(work > 0)
    by_i = np.argsort(i, kind="stable")
    starts = np.searchsorted(i[by_i], np.arange(len(owner) + 1))
    neighbours = [j[by_i[starts[k] : starts[k + 1]]] for k in range(len(owner))]
    for _ in range(max_moves):
        giver = active[np.argmax(work[active])]
        cand = (owner[i] == giver) & (owner[j] >= 0) & (owner[j] != giver)
        if not cand.any():
            break
        seg, taker = i[cand], owner[j[cand]]
        t = seg_time[seg]
        new_max = np.maximum(work[giver] - t, work[taker] + t)
        better = (work[taker] + t < work[giver]) & (t > 0)
        if not better.any():
            break
        # The best move that leaves the giver in no more islands than it has (the receiver
        # touches the segment, so it cannot gain one).
        best = next(
            (
                k
                for k in np.lexsort((taker[better], seg[better], new_max[better]))
                if _keeps_whole(seg[better][k], owner, neighbours)
            ),
            None,
        )
        if best is None:
            break
        s, b, dt = int(seg[better][best]), int(taker[better][best]), float(t[better][best])
        moves.append((s, int(giver), b))
        owner[s] = b
        work[giver] -= dt
        work[b] += dt
    return moves


def _keeps_whole(seg: int, owner: np.ndarray, neighbours: list[np.ndarray]) -> bool:
    """Whether the route owning ``seg`` stays in as many connected pieces without it: its
    neighbours on that route still reach each other (breadth-first over the route's segments)."""
    route = owner[seg]
    near = [int(n) for n in neighbours[seg] if owner[n] == route]
    if len(near) <= 1:
        return True
    seen, todo = {seg, near[0]}, [near[0]]
    while todo:
        for n in neighbours[todo.pop()]:
            n = int(n)
            if n not in seen and owner[n] == route:
                seen.add(n)
                todo.append(n)
    return all(n in seen for n in near)


def rebalance(
    history: History,
    options: Options = Options(),
    *,
    routes: list[str] | None = None,
    max_moves: int = 50,
    touch_m: float = 5.0,
) -> ScenarioResult:
    """Move up to ``max_moves`` service segments between touching routes (all, or ``routes``)."""
    legs, shifts = history.legs, history.shifts
    route_ids = history.plans.route_ids
    n_routes = len(route_ids)
    owner = current_plans(history)
    if routes is not None:
        unknown = sorted(set(routes) - set(map(str, route_ids)))
        if unknown:
            raise ValueError(f"unknown route(s): {', '.join(unknown)}")
        owner = np.where(np.isin(owner, np.flatnonzero(np.isin(route_ids, routes))), owner, -1)

    hotspots = hotspot_segments(history, options)
    mask = segment_mask(history, hotspots)
    base = shift_kpis(history, mask, options.factors)
    hours = base[:, K["truck_hours"]]
    counts = np.bincount(np.maximum(shifts.route, 0), weights=(shifts.route >= 0), minlength=n_routes)
    work = np.bincount(np.maximum(shifts.route, 0), weights=np.where(shifts.route >= 0, hours, 0), minlength=n_routes)
    work = np.where(counts > 0, work / np.maximum(counts, 1), 0.0)
    work = np.where(np.isin(np.arange(n_routes), owner[owner >= 0]), work, 0.0)
    seg_time = _median_service_hours(history)
    planned_work = work.copy()
    moves = plan_moves(planned_work, seg_time, owner, touching_pairs(history, touch_m), max_moves)

    # Replay: each day, the giving shift loses the time it spent on the moved segments.
    moved_to = np.full(history.network.size, -1, dtype=np.int64)
    for s, _, b in moves:
        moved_to[s] = b
    service = (legs.kind == LEG_SERVICE) & (legs.segment >= 0)
    leaving = service & (moved_to[np.maximum(legs.segment, 0)] >= 0)
    leaving &= shifts.route[legs.shift] != moved_to[np.maximum(legs.segment, 0)]
    _, day_pos = history.shift_days()
    receiver = _shift_of_route_day(shifts.route, day_pos)
    d_hours = np.zeros(shifts.size)
    li = np.flatnonzero(leaving)
    np.add.at(d_hours, legs.shift[li], -legs.duration_s[li] / 3600.0)
    takers = np.array(
        [receiver.get((int(moved_to[legs.segment[k]]), int(day_pos[legs.shift[k]])), -1) for k in li], dtype=np.int64
    )
    got = takers >= 0
    np.add.at(d_hours, takers[got], legs.duration_s[li][got] / 3600.0)
    lost = float(legs.duration_s[li][~got].sum() / 3600.0)

    scen = base.copy()
    f = options.factors
    scen[:, K["truck_hours"]] += d_hours
    scen[:, K["overtime_hours"]] = np.maximum(scen[:, K["truck_hours"]] - f.paid_hours, 0.0)
    scen[:, K["fuel_l"]] += d_hours * f.fuel_l_per_engine_h
    scen[:, K["co2_kg"]] = scen[:, K["fuel_l"]] * f.co2_kg_per_l

    tables, chart = _tables(history, options, base, scen, moves, seg_time, day_pos)
    notes = [f"{len(moves)} segment(s) move"]
    if lost:
        notes.append(f"{lost:.1f} h of collection on days the receiving route had no shift are not reassigned")
    return build_result(
        "rebalance",
        "Rebalance service segments between routes",
        history,
        options,
        {"routes": routes, "max_moves": max_moves, "touch_m": touch_m},
        [
            "a route's workload is its mean worked hours per shift; a segment's is its median collection time per visit",
            f"a segment can move only to a route whose plan has a segment touching it (end points within {touch_m:g} m)",
            "a move never splits the giving route into more pieces (gaps up to the same distance are no break)",
            "moves are chosen greedily from the route with the most work, never making the receiver the busiest",
            "the receiving shift spends the same collection time on a moved segment as the giving shift did",
            "driving to and between moved segments is unchanged (they adjoin the receiving route)",
        ],
        base,
        scen,
        hotspots=hotspots,
        unmodelled={
            "km": "moved segments adjoin the receiver",
            "deadhead_km": "moved segments adjoin the receiver",
            "hotspot_passes": "same streets driven",
            "hotspot_events": "same streets driven",
            "idle_hours": "travel unchanged",
        },
        tables=tables,
        extra_charts=[chart],
        notes=notes,
    )


def _median_service_hours(history: History) -> np.ndarray:
    """Median collection hours per visit of every segment (0 if never collected)."""
    legs = history.legs
    service = np.flatnonzero((legs.kind == LEG_SERVICE) & (legs.segment >= 0))
    seg, dur = legs.segment[service], legs.duration_s[service] / 3600.0
    order = np.lexsort((dur, seg))
    seg, dur = seg[order], dur[order]
    out = np.zeros(history.network.size)
    if seg.size:
        starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
        ends = np.r_[starts[1:], seg.size]
        lo, hi = (starts + ends - 1) // 2, (starts + ends) // 2
        out[seg[starts]] = (dur[lo] + dur[hi]) / 2
    return out


def _shift_of_route_day(route: np.ndarray, day_pos: np.ndarray) -> dict[tuple[int, int], int]:
    """(route, day position) → the first shift of that route that day."""
    found: dict[tuple[int, int], int] = {}
    for s in np.lexsort((np.arange(len(route)), day_pos, route)):
        found.setdefault((int(route[s]), int(day_pos[s])), int(s))
    return found


def _tables(
    history: History,
    options: Options,
    base: np.ndarray,
    scen: np.ndarray,
    moves: list[tuple[int, int, int]],
    seg_time: np.ndarray,
    day_pos: np.ndarray,
) -> tuple[list[Table], dict]:
    shifts = history.shifts
    names = history.plans.route_ids
    n_routes = len(names)
    ok = shift_groups_allowed(history, shifts.route, n_routes, options.privacy)
    rows, labels, before, after = [], [], [], []
    for r in range(n_routes):
        sel = shifts.route == r
        if not sel.any():
            continue
        if not ok[r]:
            rows.append([str(names[r]), None, None, "suppressed (k)"])
            continue
        hb, ha = float(base[sel, K["truck_hours"]].mean()), float(scen[sel, K["truck_hours"]].mean())
        rows.append([str(names[r]), hb, ha, ""])
        labels.append(str(names[r]))
        before.append(hb)
        after.append(ha)
    by_route = Table("hours per shift by route", ["route", "before", "after", "note"], rows, ["", "h", "h", ""])
    move_rows = [
        [str(history.network.segment_ids[s]), str(names[a]), str(names[b]), float(seg_time[s] * 60)]
        for s, a, b in moves
    ]
    moved = Table("moves", ["segment", "from_route", "to_route", "minutes_per_visit"], move_rows, ["", "", "", "min"])
    spread = _daily_spread(history, base, scen, day_pos, options)
    chart = charts.grouped_bars(labels, {"before": before, "after": after}, "Hours per shift by route", "route", "h")
    return [spread, by_route, moved], chart


def _daily_spread(history: History, base: np.ndarray, scen: np.ndarray, day_pos: np.ndarray, options: Options) -> Table:
    """Mean over days of (latest − earliest route completion), with a bootstrap interval on its change."""
    route = history.shifts.route
    n_days = int(day_pos.max()) + 1 if day_pos.size else 0

    def spread(hours: np.ndarray) -> np.ndarray:
        hi = np.full(n_days, -np.inf)
        lo = np.full(n_days, np.inf)
        sel = route >= 0
        np.maximum.at(hi, day_pos[sel], hours[sel])
        np.minimum.at(lo, day_pos[sel], hours[sel])
        return np.where(np.isfinite(hi), hi - lo, 0.0)

    sb, ss = spread(base[:, K["truck_hours"]]), spread(scen[:, K["truck_hours"]])
    w = bootstrap_weights(history, options)
    delta = (w @ (ss - sb)) / max(n_days, 1)
    lo, hi = percentile_interval(delta, options.level) if len(delta) else (0.0, 0.0)
    return Table(
        "completion spread (latest − earliest route, per day)",
        ["before", "after", "delta", "delta_lo", "delta_hi"],
        [[float(sb.mean()), float(ss.mean()), float((ss - sb).mean()), float(lo), float(hi)]],
        ["h", "h", "h", "h", "h"],
    )
