"""One vehicle-day: what the truck does, what its GPS reports and what its unit detects.

The day, in driving order: clock-in at the depot (pre-trip check, then ignition on), deadhead
to the route, collection part A (bin stops every 30–60 m, 15–90 s each with 1–3 bin lifts),
a trip to the transfer station (queue, tip), usually a break at the break room, collection
part B, a landfill trip (queue, tip), return to the depot, ignition off, and parked until
clock-out. Blocked streets are skipped with a detour; U-turns and parking are reversing
manoeuvres; harsh braking is likely at the few dangerous intersections and rare elsewhere.

Everything is computed on whole arrays (fleetsim.path, fleetsim.motion); the only per-item
Python is building the node walk and the two passes of the speed profile, a few thousand
steps per shift. The ground truth is read off the same motion that is sampled, so it is exact.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from fleetsim import device
from fleetsim.city import City
from fleetsim.config import SimConfig
from fleetsim.gps import observe
from fleetsim.motion import SLOTS, Knots, concat, knots, plan_motion
from fleetsim.path import UTURN_RAD, build_path
from fleetsim.roster import Shift
from fleetsim.scenario import Scenario
from fleetsim.streams import streams
from fleetsim.wire import BIN_LIFT, HARSH_ACCEL, HARSH_BRAKE, HARSH_CORNER, IGNITION_OFF, IGNITION_ON, REVERSING

LATERAL_COMFORT = 1.6  # m/s², < 70 % of the 3.0 m/s² harsh-cornering threshold
HARSH_MIN_S = 2.0  # injected harsh braking/acceleration lasts at least this long
END_DWELL_S = 1e7  # parked at the depot until the unit goes private
SHARP = np.radians(60.0)
# Knot tags: category * 1e6 + index
STOP, FACILITY, BRAKE, ACCEL, START, END = 1, 2, 3, 4, 5, 6
TAG = 1_000_000


@dataclass
class ShiftResult:
    """Fixes and events as the unit reports them (before any connectivity effect) and the truth.

    fixes: t (epoch ms), lon, lat, speed (m/s), heading (deg), hdop, priv (unit flags private)
    events: t, kind (code, see fleetsim.wire.EVENT_KINDS), lon, lat, mag, speed, priv"""

    shift: Shift
    fixes: dict[str, np.ndarray]
    events: dict[str, np.ndarray]
    truth: dict
    leaking: bool
    walk_nodes: np.ndarray | None = None  # the day's node walk, in driving order (tests read its turns)
    walk_edges: np.ndarray | None = None  # the street edge between walk_nodes[i] and walk_nodes[i + 1]


class _Walk:
    """A growing node walk with, per edge, whether it is a service pass and its stops."""

    def __init__(self, city: City, start: int):
        self.city = city
        self.nodes = [start]
        self.edges: list[int] = []
        self.service: list[bool] = []
        self.stops: list[tuple[tuple[float, ...], tuple[str, ...]]] = []

    def drive(self, nodes: list[int]) -> None:
        assert nodes[0] == self.nodes[-1], "walk pieces must join"
        for n in nodes[1:]:
            self.edges.append(self.city.arc_lookup[(self.nodes[-1], n)])
            self.nodes.append(n)
            self.service.append(False)
            self.stops.append(((), ()))

    def drive_traversals(self, traversals: list[int]) -> None:
        """Drive without service along traversals (edge t // 2, backwards when t is odd; fleetsim.turns)."""
        for t in traversals:
            edge = t // 2
            nxt = int(self.city.edge_u[edge] if t % 2 else self.city.edge_v[edge])
            self.edges.append(edge)
            self.nodes.append(nxt)
            self.service.append(False)
            self.stops.append(((), ()))

    def serve(self, to: int, edge: int, offsets: tuple[float, ...], ids: tuple[str, ...]) -> None:
        self.edges.append(edge)
        self.nodes.append(to)
        self.service.append(True)
        self.stops.append((offsets, ids))

    @property
    def here(self) -> int:
        return self.nodes[-1]


def _detour(city: City, a: int, b: int, nodes: set[int], blocked: set[int]) -> list[int] | None:
    """Fewest-hops walk a → b inside `nodes` avoiding `blocked` streets (None if there is none)."""
    prev = {a: -1}
    queue = deque([a])
    while queue:
        here = queue.popleft()
        if here == b:
            walk = [b]
            while prev[walk[-1]] != -1:
                walk.append(prev[walk[-1]])
            return walk[::-1]
        for to, e in city.out_arcs[here]:
            if to in nodes and to not in prev and e not in blocked:
                prev[to] = here
                queue.append(to)
    return None


def simulate_shift(sc: Scenario, shift: Shift) -> ShiftResult:
    """Simulate `shift` of scenario `sc` (deterministic in the config's seed, the day and the vehicle)."""
    cfg: SimConfig = sc.config
    city, plan, beh = sc.city, sc.plans[shift.route], cfg.behaviour
    rb, rg = streams(cfg.seed, shift.day, shift.vehicle, "behaviour", "gps")
    speed_factor = rb.uniform(0.85, 1.0)
    accel, decel = rb.uniform(0.9, 1.3), rb.uniform(1.1, 1.6)  # < 70 % of harsh thresholds
    # A leaking unit (see faults.leak) always takes its break, in private mode, so a leak run
    # always has private-mode traffic to count (the draw is made either way: same streams).
    take_break = bool(rb.random() >= beh.p_skip_break) or (cfg.faults.leak and shift.vehicle % 4 == 0)
    blocked: set[int] = set()
    if rb.random() < beh.p_blocked_street and plan.service_edges:
        k = int(rb.integers(1, 4))
        chosen = rb.choice(plan.service_edges, size=min(k, len(plan.service_edges)), replace=False).tolist()
        blocked = {e for c in chosen for e in city.segment_edges(c)}  # the whole street segment

    # --- the node walk of the day
    depot = city.facility_of_type("depot")
    transfer = city.facility_of_type("transfer_station")
    landfill = city.facility_of_type("landfill")
    brk = city.facility_of_type("break")
    stops_per_edge = np.array([len(s) for s in plan.stop_ids])
    cum = np.cumsum(stops_per_edge)
    split = int(np.searchsorted(cum, 0.55 * cum[-1])) + 1 if len(cum) and cum[-1] else len(plan.walk_edges)
    while (
        0 < split < len(plan.walk_edges)
        and plan.walk_service[split]
        and city.same_segment(plan.walk_edges[split - 1], plan.walk_edges[split])
    ):
        split += 1  # a real street segment is served in one go, not left mid-way for the transfer station
    district_nodes = city.district_nodes(plan.district)
    skipped: list[int] = []
    walk = _Walk(city, depot.spur)
    # Where the city has turn restrictions every drive obeys them (fleetsim.turns); else the node router.
    turns = city.turn_router if city.turn_bans else None
    entering = {} if turns is None else {city.facilities[f].spur: turns.entering(f) for f in city.facilities}

    def arrived() -> int:
        """The traversal the truck is on (at the start: as if it had just driven into the depot)."""
        assert turns is not None
        return turns.traversal(walk.edges[-1], walk.nodes[-2]) if walk.edges else entering[depot.spur]

    def around_blocked(here: int, way: list[int], must: bool, driven: slice = slice(None)) -> list[int] | None:
        """`way`, or the fastest drive to its end around the blocked streets if its `driven` part
        takes one; without a way round: None if `must`, else `way` (as the node router does)."""
        assert turns is not None
        if not blocked or not any(t // 2 in blocked for t in way[driven]):
            return way
        try:
            return turns.route(here, way[-1], frozenset(blocked))
        except ValueError:
            return None if must else way

    def drive_on(then: int, must_avoid: bool = False) -> bool:
        """Turn-aware: drive from here to where plan edge `then` starts, arriving so the truck may
        turn onto it, around the blocked streets if there is a way (False: no drive at all, or
        none around them when `must_avoid`)."""
        assert turns is not None
        here, target = arrived(), turns.traversal(plan.walk_edges[then], plan.walk[then])
        try:
            way = around_blocked(here, turns.route(here, target), must_avoid, slice(-1))  # `then` is driven next
        except ValueError:
            return False
        if way is None:
            return False
        walk.drive_traversals(way[:-1])
        return True

    if turns is None:
        walk.drive(city.path(depot.spur, plan.walk[0]))
    elif plan.walk_edges:
        drive_on(0)

    def collect(lo: int, hi: int) -> None:
        i = lo
        while i < hi:
            e, to = plan.walk_edges[i], plan.walk[i + 1]
            if e in blocked:
                # Around the whole blocked segment (its edges are consecutive in the walk).
                j = i + 1
                while j < hi and plan.walk_edges[j] in blocked and city.same_segment(plan.walk_edges[j], e):
                    j += 1
                if turns is not None and j < len(plan.walk_edges) and drive_on(j, must_avoid=True):
                    if plan.walk_service[i]:
                        skipped.append(e)
                    i = j
                    continue
                around = _detour(city, walk.here, plan.walk[j], district_nodes, blocked) if turns is None else None
                if around is not None:
                    if plan.walk_service[i]:
                        skipped.append(e)
                    walk.drive(around)
                    i = j
                    continue
            if plan.walk_service[i]:
                walk.serve(to, e, plan.stop_offsets[i], plan.stop_ids[i])
            else:
                walk.drive([walk.here, to])
            i += 1

    def go(a: int, b: int, then: int | None = None) -> None:
        """The fastest way from a to b; on a real network around the blocked streets (they stay
        blocked all shift, so a truck that skipped one does not drive it on its way elsewhere).
        `then`: the plan edge the route goes on with from b (a turn-aware drive arrives so it may)."""
        if turns is not None:
            if then is not None and then < len(plan.walk_edges):
                if not drive_on(then):
                    raise ValueError(f"the route's edge {then} is unreachable from node {a}")
                return
            here = arrived()
            way = turns.route(here, entering[b]) if b in entering else turns.to_node(here, b)
            walk.drive_traversals(around_blocked(here, way, must=False) or way)
            return
        way = city.path(a, b)
        if city.real_streets and blocked and any(city.arc_lookup[arc] in blocked for arc in zip(way, way[1:])):
            way = _detour(city, a, b, district_nodes, blocked) or way
        walk.drive(way)

    activities: list[tuple[str, int]] = []  # (facility id, walk vertex of its spur end)
    collect(0, split)
    resume = walk.here
    go(resume, transfer.spur)
    activities.append((transfer.facility_id, len(walk.nodes) - 1))
    if take_break:
        go(transfer.spur, brk.spur)
        activities.append((brk.facility_id, len(walk.nodes) - 1))
        go(brk.spur, resume, then=split)
    else:
        go(transfer.spur, resume, then=split)
    collect(split, len(plan.walk_edges))
    go(walk.here, landfill.spur)
    activities.append((landfill.facility_id, len(walk.nodes) - 1))
    go(landfill.spur, depot.spur)

    nodes = np.array(walk.nodes)
    edges = np.array(walk.edges)
    service = np.array(walk.service)
    vmax = city.edge_limit_kmh[edges] / 3.6 * speed_factor
    vmax = np.where(service, np.minimum(vmax, beh.collect_speed_mps), vmax)
    path = build_path(city.node_x[nodes], city.node_y[nodes], vmax, LATERAL_COMFORT)

    # --- special knots
    parts: list[Knots] = [knots(0.0, dwell=rb.uniform(12, 25) * 60.0, tag=START * TAG)]
    stop_edge, stop_off, stop_ids = [], [], []
    for i, (offsets, ids) in enumerate(walk.stops):
        stop_edge += [i] * len(offsets)
        stop_off += list(offsets)
        stop_ids += list(ids)
    n_stops = len(stop_ids)
    stop_edge_a = np.array(stop_edge, dtype=np.int64)
    stop_s = (
        np.clip(
            path.line_start_s[stop_edge_a] + np.array(stop_off) - path.tangent[stop_edge_a],
            path.line_start_s[stop_edge_a],
            path.line_end_s[stop_edge_a],
        )
        if n_stops
        else np.zeros(0)
    )
    n_lifts = rb.choice([1, 2, 3], p=[0.5, 0.35, 0.15], size=n_stops)
    lift_len = rb.uniform(8.0, 14.0, (n_stops, 3))
    lift_gap = rb.uniform(2.0, 6.0, (n_stops, 3))
    lift_first = rb.uniform(3.0, 6.0, n_stops)
    lift_start = lift_first[:, None] + np.concatenate(
        [np.zeros((n_stops, 1)), np.cumsum(lift_len + lift_gap, axis=1)[:, :2]], axis=1
    )
    lift_used = np.arange(3)[None, :] < n_lifts[:, None]
    lift_end = np.where(lift_used, lift_start + lift_len, 0.0).max(axis=1) if n_stops else np.zeros(0)
    stop_dwell = np.clip(lift_end + rb.uniform(2.0, 20.0, n_stops), 15.0, 90.0)
    stop_rev = np.where(rb.random(n_stops) < beh.p_reverse_at_stop, rb.uniform(6.0, 15.0, n_stops), 0.0)
    parts.append(knots(stop_s, dwell=stop_dwell, reverse=stop_rev, tag=STOP * TAG + np.arange(n_stops)))

    visit_specs = []
    for a, (fid, m) in enumerate(activities):
        ftype = city.facilities[fid].facility_type
        s_p = float(path.line_end_s[m - 1])
        if ftype == "break":
            queue, n_q, service_s, rev = 0.0, 0, rb.uniform(30, 40) * 60.0, rb.uniform(6, 10)
        elif ftype == "transfer_station":
            queue, n_q, service_s, rev = (
                rb.uniform(3, 25) * 60.0,
                int(rb.integers(3, 7)),
                rb.uniform(6, 12) * 60.0,
                rb.uniform(10, 18),
            )
        else:
            queue, n_q, service_s, rev = (
                rb.uniform(5, 35) * 60.0,
                int(rb.integers(3, 7)),
                rb.uniform(8, 15) * 60.0,
                rb.uniform(10, 18),
            )
        visit_specs.append((fid, ftype, n_q, queue, service_s))
        base = FACILITY * TAG + a * 100
        parts.append(knots(s_p, dwell=service_s, reverse=rev, tag=base))
        if n_q:
            parts.append(knots(s_p - 70.0 + 8.0 * np.arange(n_q), dwell=queue / n_q, tag=base + 1 + np.arange(n_q)))
    facility_vertices = {m for _, m in activities}
    uturns = [int(v) for v in path.uturn_vertices if int(v) not in facility_vertices]
    if uturns:
        parts.append(knots(path.line_end_s[np.array(uturns) - 1], reverse=rb.uniform(6, 12, len(uturns))))
    parts.append(knots(path.total, reverse=rb.uniform(10, 16), tag=END * TAG))

    # Harsh braking before intersections: certain-ish at dangerous ones, rare elsewhere.
    interior = np.arange(1, len(nodes) - 1)
    fast_in = interior[(vmax[interior - 1] >= 8.0) & (np.abs(path.turn[interior]) < UTURN_RAD)]
    dangerous_today = sc.dangerous_for(shift)  # without those the city fixed before this day
    danger = np.isin(nodes[fast_in], dangerous_today)
    draw = rb.random(len(fast_in))
    mags, spans = rb.uniform(3.5, 6.0, len(fast_in)), rb.uniform(2.0, 2.8, len(fast_in))
    chosen = draw < np.where(danger, beh.p_harsh_brake_dangerous, beh.p_harsh_brake_background)
    brakes = []
    for v_i, mag, span in zip(fast_in[chosen], mags[chosen], spans[chosen]):
        approach = vmax[v_i - 1]
        mag = min(mag, approach / span)
        if mag >= 3.5:
            brakes.append((int(v_i), float(mag), float(approach - mag * span)))
    # Harsh acceleration out of sharp turns onto fast streets.
    sharp = interior[(np.abs(path.turn[interior]) >= SHARP) & (np.abs(path.turn[interior]) < UTURN_RAD)]
    cand_acc = sharp[vmax[sharp] >= 9.0]
    acc_draw, acc_mag = rb.random(len(cand_acc)), rb.uniform(2.8, 3.6, len(cand_acc))
    accels = [
        (int(v_i), float(m))
        for v_i, m in zip(cand_acc[acc_draw < beh.p_harsh_accel], acc_mag[acc_draw < beh.p_harsh_accel])
    ]
    # Harsh cornering: a sharp turn off the collection streets taken too fast.
    cand_cor = sharp[
        ~service[sharp - 1]
        & ~service[sharp]
        & (np.minimum(vmax[sharp - 1], vmax[sharp]) >= 6.5)
        & (path.tangent[sharp] > 0)
    ]
    cor_draw, cor_mag = rb.random(len(cand_cor)), rb.uniform(3.3, 4.5, len(cand_cor))
    corners = []
    for v_i, mag in zip(cand_cor[cor_draw < beh.p_harsh_corner], cor_mag[cor_draw < beh.p_harsh_corner]):
        prim = 2 * int(v_i) - 1
        r = float(path.radius[prim])
        speed = min(np.sqrt(mag * r), vmax[v_i - 1], vmax[v_i])
        if speed * speed / r >= 3.2:
            corners.append((int(v_i), prim, r))
            path.vmax[prim] = speed

    while True:  # drop injections the geometry cannot honour until all hold (the lists only shrink)
        extra = [
            knots(path.line_end_s[v - 1] - 3.0, cap=low, decel_before=mag, tag=BRAKE * TAG + j)
            for j, (v, mag, low) in enumerate(brakes)
        ]
        extra += [
            knots(path.line_start_s[v], cap=np.inf, accel_after=mag, tag=ACCEL * TAG + j)
            for j, (v, mag) in enumerate(accels)
        ]
        motion = plan_motion(path, concat(parts + extra), accel, decel, END_DWELL_S)
        index = {int(t): k for k, t in enumerate(motion.knot_tag) if t >= 0}
        bad_b = {
            j for j in range(len(brakes)) if motion.dur[(index[BRAKE * TAG + j] - 1) * SLOTS + 10] < HARSH_MIN_S - 1e-6
        }
        bad_a = {j for j in range(len(accels)) if motion.dur[index[ACCEL * TAG + j] * SLOTS + 8] < HARSH_MIN_S - 1e-6}
        bad_c = set()
        for j, (v, prim, r) in enumerate(corners):
            k = int(np.searchsorted(motion.knot_s, path.s0[prim] - 5e-4))
            if min(motion.knot_v[k], motion.knot_v[k + 1]) ** 2 / r < 3.0:
                bad_c.add(j)
                path.vmax[prim] = min(np.sqrt(LATERAL_COMFORT * r), vmax[v - 1], vmax[v])
        if not (bad_b or bad_a or bad_c):
            break
        brakes = [b for j, b in enumerate(brakes) if j not in bad_b]
        accels = [a for j, a in enumerate(accels) if j not in bad_a]
        corners = [c for j, c in enumerate(corners) if j not in bad_c]

    return _observe_and_record(
        sc,
        shift,
        rb,
        rg,
        path,
        motion,
        index,
        walk,
        edges,
        skipped,
        stop_ids,
        n_lifts,
        lift_start,
        lift_len,
        brakes,
        accels,
        corners,
        visit_specs,
        take_break,
        speed_factor,
    )


def _observe_and_record(
    sc,
    shift,
    rb,
    rg,
    path,
    motion,
    index,
    walk,
    edges,
    skipped,
    stop_ids,
    n_lifts,
    lift_start,
    lift_len,
    brakes,
    accels,
    corners,
    visit_specs,
    take_break,
    speed_factor,
):
    cfg = sc.config
    city = sc.city
    proj = city.projection
    start, end = shift.start_ms, shift.end_ms
    leaking = cfg.faults.leak and shift.vehicle % 4 == 0
    leak_ms = cfg.faults.leak_seconds * 1000 if leaking else 0

    def rel(t_ms):
        return (np.asarray(t_ms, dtype=np.float64) - start) / 1000.0

    def ms(t_rel):
        return start + np.round(np.asarray(t_rel) * 1000.0).astype(np.int64)

    # --- events (device-detected; stamped from GPS time)
    ev_t, ev_k, ev_m = [], [], []

    def add(t_rel, kind, mag):
        t_rel = np.atleast_1d(np.asarray(t_rel, dtype=np.float64))
        ev_t.append(t_rel)
        ev_k.append(np.full(len(t_rel), kind, dtype=np.int8))
        ev_m.append(np.broadcast_to(np.asarray(mag, dtype=np.float64), t_rel.shape))

    stop_knots = np.array([index[STOP * TAG + i] for i in range(len(stop_ids))], dtype=np.int64)
    dwell0 = motion.dwell_start(stop_knots)
    used = np.arange(3)[None, :] < n_lifts[:, None]
    add((dwell0[:, None] + lift_start)[used], BIN_LIFT, np.round(lift_len[used], 1))
    reversing = np.flatnonzero(motion.dur[0::SLOTS] > 0)
    rev_len = motion.dur[reversing * SLOTS] + motion.dur[reversing * SLOTS + 1] + motion.dur[reversing * SLOTS + 2]
    add(motion.arrival(reversing), REVERSING, np.round(rev_len, 1))
    brake_k = np.array([index[BRAKE * TAG + j] for j in range(len(brakes))], dtype=np.int64)
    brake_t = motion.brake_start(brake_k)
    brake_mag = motion.interval_decel[brake_k - 1] if len(brakes) else np.zeros(0)
    brake_dur = motion.dur[(brake_k - 1) * SLOTS + 10]
    add(brake_t, HARSH_BRAKE, np.round(brake_mag, 2))
    acc_k = np.array([index[ACCEL * TAG + j] for j in range(len(accels))], dtype=np.int64)
    acc_t = motion.departure(acc_k)
    acc_mag = motion.interval_accel[acc_k] if len(accels) else np.zeros(0)
    acc_dur = motion.dur[acc_k * SLOTS + 8]
    add(acc_t, HARSH_ACCEL, np.round(acc_mag, 2))
    cor_k = np.array([int(np.searchsorted(motion.knot_s, path.s0[p] - 5e-4)) for _, p, _ in corners], dtype=np.int64)
    cor_v = np.minimum(motion.knot_v[cor_k], motion.knot_v[cor_k + 1]) if len(corners) else np.zeros(0)
    cor_r = np.array([r for _, _, r in corners])
    cor_mag = cor_v**2 / cor_r if len(corners) else np.zeros(0)
    cor_t = motion.departure(cor_k)
    cor_dur = path.length[[p for _, p, _ in corners]] / cor_v if len(corners) else np.zeros(0)
    add(cor_t, HARSH_CORNER, np.round(cor_mag, 2))
    k0, k_end = index[START * TAG], index[END * TAG]
    depart = float(motion.departure(k0))
    back = float(motion.arrival(k_end))
    add(depart - rb.uniform(180, 360), IGNITION_ON, 0.0)
    parked = float(motion.dwell_start(k_end)) + 30.0
    visits, breaks = [], []
    for a, (fid, ftype, n_q, _queue, service_s) in enumerate(visit_specs):
        k_p = index[FACILITY * TAG + a * 100]
        first = index[FACILITY * TAG + a * 100 + 1] if n_q else k_p
        if ftype == "break":
            b0, b1 = float(motion.dwell_start(k_p)), float(motion.departure(k_p))
            add(b0 + 30.0, IGNITION_OFF, 0.0)
            add(b1 - 60.0, IGNITION_ON, 0.0)
            breaks.append((fid, b0, b1))
        else:
            visits.append(
                {
                    "facility_id": fid,
                    "facility_type": ftype,
                    "t_arrive": float(motion.arrival(first)),
                    "t_depart": float(motion.departure(k_p)),
                    "queue_s": round(float(motion.arrival(k_p) - motion.arrival(first)), 1),
                    "service_s": round(float(service_s), 1),
                }
            )
    window_end_rel = (end - start) / 1000.0
    if leaking:
        parked = max(parked, window_end_rel + cfg.faults.leak_seconds / 2.0)  # engine off after clock-out
    add(parked, IGNITION_OFF, 0.0)

    ev_rel = np.concatenate(ev_t)
    ev_kind = np.concatenate(ev_k)
    ev_mag = np.concatenate(ev_m)
    ev_ms = ms(ev_rel)
    keep = (ev_ms >= start - leak_ms) & (ev_ms < end + leak_ms)
    order = np.lexsort((ev_kind[keep], ev_ms[keep]))
    ev_rel, ev_kind, ev_mag, ev_ms = ev_rel[keep][order], ev_kind[keep][order], ev_mag[keep][order], ev_ms[keep][order]
    ev_s, ev_v = motion.at(ev_rel)
    ex, ey, _ = path.locate(ev_s)
    elon, elat = proj.to_lonlat(ex, ey)

    # --- fixes
    step = cfg.step_ms
    n = int((end - start + 2 * leak_ms) // step)
    t_ms = start - leak_ms + np.arange(n, dtype=np.int64) * step
    s, v = motion.at(rel(t_ms))
    x, y, heading = path.locate(s)
    heading = _turning_heading(path, motion, rel(t_ms), heading)
    obs = observe(rg, cfg.gps, t_ms, (start, end), x, y, np.abs(v), heading, step / 1000.0)
    (rd,) = streams(cfg.seed, shift.day, shift.vehicle, "device")  # its own stream: v1 runs unchanged
    ox, oy, o_speed, o_heading, o_hdop, k = device.apply(
        rd, cfg.device, step / 1000.0, x, y, np.abs(v), obs.x, obs.y, obs.speed, obs.heading, obs.hdop, obs.keep
    )
    lon, lat = proj.to_lonlat(ox, oy)
    break_windows = [(start + int(round(b0 * 1000)), start + int(round(b1 * 1000))) for _, b0, b1 in breaks]
    priv = np.zeros(n, dtype=bool)
    ev_priv = np.zeros(len(ev_ms), dtype=bool)
    if leaking:
        for b0, b1 in break_windows:
            priv |= (t_ms >= b0) & (t_ms < b1)
            ev_priv |= (ev_ms >= b0) & (ev_ms < b1)
    fixes = {
        "t": t_ms[k],
        "lon": np.round(lon[k], 7),
        "lat": np.round(lat[k], 7),
        "speed": np.round(o_speed[k], 2).astype(np.float32),
        "heading": (np.round(o_heading[k], 1) % 360.0).astype(np.float32),
        "hdop": np.round(o_hdop[k], 1).astype(np.float32),
        "priv": priv[k],
    }
    events = {
        "t": ev_ms,
        "kind": ev_kind,
        "lon": np.round(elon, 7),
        "lat": np.round(elat, 7),
        "mag": ev_mag.astype(np.float32),
        "speed": np.round(np.abs(ev_v), 2).astype(np.float32),
        "priv": ev_priv,
    }

    # --- ground truth
    def lonlat_at(t_rel):
        sx, sy, _ = path.locate(motion.at(np.asarray(t_rel, dtype=np.float64))[0])
        return proj.to_lonlat(sx, sy)

    t_dep = motion.departure(stop_knots)
    slon, slat = lonlat_at(dwell0)
    done = ms(t_dep) <= end
    stops = [
        {
            "stop_id": sid,
            "t_reach": int(r),  # the truck first reaches the bin; earlier than t_arrive if it backs up first
            "t_arrive": int(a),
            "t_depart": int(d),
            "lon": round(float(o), 7),
            "lat": round(float(p), 7),
            "lifts": int(nl),
        }
        for sid, r, a, d, o, p, nl, ok in zip(
            stop_ids, ms(motion.arrival(stop_knots)), ms(dwell0), ms(t_dep), slon, slat, n_lifts, done
        )
        if ok
    ]
    harsh = []
    dangerous = set(sc.dangerous_for(shift))  # without those the city fixed before this day
    for kind, times, mags, durs, speeds, where in (
        (
            "harsh_brake",
            brake_t,
            brake_mag,
            brake_dur,
            motion.interval_peak[brake_k - 1] if len(brakes) else [],
            [walk.nodes[b[0]] for b in brakes],
        ),
        ("harsh_accel", acc_t, acc_mag, acc_dur, motion.knot_v[acc_k] if len(accels) else [], [None] * len(accels)),
        ("harsh_corner", cor_t, cor_mag, cor_dur, cor_v, [walk.nodes[c[0]] for c in corners]),
    ):
        hlon, hlat = lonlat_at(times)
        for t, m, d, v_, node, o, p in zip(
            ms(times), mags, durs, speeds, where, np.atleast_1d(hlon), np.atleast_1d(hlat)
        ):
            if start - leak_ms <= t < end + leak_ms:
                harsh.append(
                    {
                        "kind": kind,
                        "t": int(t),
                        "lon": round(float(o), 7),
                        "lat": round(float(p), 7),
                        "mag": round(float(m), 2),
                        "duration_s": round(float(d), 2),
                        "speed": round(float(v_), 2),
                        "at_dangerous_intersection": node is not None and node in dangerous,
                    }
                )
    harsh.sort(key=lambda h: h["t"])
    rlon, rlat = lonlat_at(motion.arrival(reversing))
    reversals = [
        {"t": int(t), "lon": round(float(o), 7), "lat": round(float(p), 7), "duration_s": round(float(d), 1)}
        for t, o, p, d in zip(ms(motion.arrival(reversing)), np.atleast_1d(rlon), np.atleast_1d(rlat), rev_len)
        if start - leak_ms <= t < end + leak_ms
    ]
    for v_ in visits:
        v_["t_arrive"], v_["t_depart"] = int(ms(v_["t_arrive"])), int(ms(v_["t_depart"]))
    on_duty = [(depart, back)]
    if breaks:
        on_duty = [(depart, breaks[0][1]), (breaks[0][2], back)]
    mp = (
        obs.multipath[obs.keep[obs.multipath]] if cfg.device == "v1" else obs.multipath[:0]
    )  # replaced by the profile's noise
    truth = {
        "shift_id": shift.shift_id,
        "vehicle_id": shift.vehicle_id,
        "route_id": shift.route_id,
        "start": start,
        "end": end,
        "speed_factor": round(float(speed_factor), 3),
        "depot_departure": int(ms(depart)),
        "depot_return": int(ms(back)),
        "completed": bool(ms(back) <= end),
        "skipped_segments": sorted({city.segment_id(e) for e in skipped}),
        "planned_stops": int(sum(len(ids) for ids in sc.plans[shift.route].stop_ids)),
        "stops": stops,
        "harsh_events": harsh,
        "reversing": reversals,
        "breaks": [{"facility_id": f, "t_start": int(ms(b0)), "t_end": int(ms(b1))} for f, b0, b1 in breaks],
        "took_break": take_break,
        "longest_without_break_s": round(max(b - a for a, b in on_duty), 1),
        "facility_visits": visits,
        "gps": {"dropouts": [list(w) for w in obs.dropouts], "multipath_fixes": [int(t) for t in t_ms[mp]]},
        "leaking": leaking,
    }
    return ShiftResult(shift, fixes, events, truth, leaking, np.array(walk.nodes), edges)


def _turning_heading(path, motion, t_rel: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """During a U-turn (a three-point turn) the truck's heading swings round gradually while
    it backs and fills; the path itself just reverses at the vertex. Rotate the heading left
    from the way in to the way out over the manoeuvre, so yaw rate stays low, and hold the way
    out through any dwell there (a facility's tipping or loading) until the truck drives off.
    The hold is needed because the path position during that dwell is the vertex only to
    rounding: summed over a shift it lands ~1e-10 m short of it, where `locate` still gives
    the way in, and the heading then flipped 180° in the first second of driving off (seen at
    the landfill on the irregular city and on Helsinki: a harsh corner nobody drove)."""
    heading = heading.copy()
    for m in path.uturn_vertices:
        k = int(np.searchsorted(motion.knot_s, path.line_end_s[m - 1] - 5e-4))
        t_a, t_b, t_d = float(motion.arrival(k)), float(motion.dwell_start(k)), float(motion.departure(k))
        h_in = float(np.degrees(np.arctan2(path.ux[2 * (m - 1)], path.uy[2 * (m - 1)])))
        h_out = float(np.degrees(np.arctan2(path.ux[2 * m], path.uy[2 * m])))
        left = (h_in - h_out) % 360.0  # a left-hand turn-around: the compass heading decreases
        lo, mid, hi = np.searchsorted(t_rel, [t_a, t_b, t_d])
        if t_b > t_a:
            heading[lo:mid] = (h_in - left * (t_rel[lo:mid] - t_a) / (t_b - t_a)) % 360.0
        heading[mid:hi] = h_out % 360.0
    return heading
