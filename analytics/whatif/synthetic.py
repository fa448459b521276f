"""A synthetic pilot history whose causal structure is known, for tests and benchmarks.

The city is a grid of streets (``block_m`` apart); each route is a vertical strip of it,
collected in a serpentine. Each truck drives its route on every work day: depot → route
→ transfer station whenever the body is full → back → … → transfer station → depot.
Speeds follow a fixed law — free speed of the road class × congestion by hour × a mean-one
log-normal noise per leg — dwell at the transfer station has a queue that peaks late in
the morning, and harsh events on a leg are Poisson with mean ``rate × (v / v_free)²``.

Because the law is known, so is the true effect of a change: generate the history again
with the change applied (a later start, a moved transfer station, a zone collected less
often, segments handed to another route, a speed cap at the hotspots) and compare. Tests
compare each scenario's estimate, made from the first history only, with that truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np

from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.whatif.history import (
    EVENT_KINDS,
    LEG_FACILITY,
    LEG_SERVICE,
    LEG_TRAVEL,
    SECONDS_PER_DAY,
    Facilities,
    History,
    Legs,
    Network,
    Plans,
    Shifts,
    StopVisits,
    weekday,
)
from fleetpilot.analytics.whatif.result import EPOCH

FREE_SPEED_MPS = {"arterial": 12.0, "residential": 7.0}
SPEED_LIMIT_MPS = {"arterial": 50 / 3.6, "residential": 30 / 3.6}
SERVICE_CREEP_MPS = 4.0  # driving speed between bins while collecting, at most
LIFT_S = 20.0  # one bin lift
STOPS_PER_SEGMENT = 3
LIFTS_PER_STOP = 4
DEPOT_DWELL_S = 600.0  # pre-trip and post-trip checks
TIP_S = 480.0  # tipping at the transfer station, without queueing
QUEUE_PEAK_S = 1200.0  # queueing 09:00–12:00
BASE_HARSH_PER_PASS = 0.004
HOTSPOT_HARSH_PER_PASS = 0.25
HARSH_SPLIT = (0.6, 0.25, 0.15)  # brake / accel / corner


def _congestion(hour: int) -> float:
    """Speed factor by local hour: rush hours 07–09 and 16–18 at 55 %, daytime 80 %."""
    return 0.55 if (7 <= hour < 9 or 16 <= hour < 18) else 0.8 if 9 <= hour < 16 else 1.0


def _queue(hour: int) -> float:
    """Expected queueing at the transfer station by local hour (peak 09–12)."""
    return QUEUE_PEAK_S if 9 <= hour < 12 else 0.25 * QUEUE_PEAK_S


class _Draws:
    """Seeded random numbers drawn in blocks (a per-leg call into numpy costs more than the leg)."""

    BLOCK = 65_536

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.normals: list[float] = []
        self.uniforms: list[float] = []

    def normal(self) -> float:
        if not self.normals:
            self.normals = self.rng.standard_normal(self.BLOCK).tolist()
        return self.normals.pop()

    def uniform(self) -> float:
        if not self.uniforms:
            self.uniforms = self.rng.random(self.BLOCK).tolist()
        return self.uniforms.pop()


def _lognormal(sigma: float, z: float) -> float:
    """Mean-one log-normal factor from a standard normal draw."""
    return math.exp(sigma * z - sigma * sigma / 2) if sigma else 1.0


def _poisson(mean: float, u: float) -> int:
    """Inverse-transform Poisson draw from one uniform (means here are well below 1)."""
    k, p = 0, math.exp(-mean)
    cumulative = p
    while u > cumulative and k < 50:
        k += 1
        p *= mean / k
        cumulative += p
    return k


@dataclass(frozen=True)
class SyntheticConfig:
    trucks: int = 10
    days: int = 14
    first_day: date = date(2026, 3, 2)  # a Monday
    workdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    rows: int = 10  # grid node rows
    cols_per_route: int = 2  # grid blocks per route strip
    block_m: float = 120.0
    start_hour: float = 6.0
    start_stagger_h: float = 1.0  # routes start at start_hour + (route % 3) × this
    start_shift_min: float = 0.0  # counterfactual: shifts start this much later …
    shifted_routes: tuple[int, ...] | None = None  # … on these routes (None: all)
    start_jitter_min: float = 5.0
    depot_node: tuple[int, int] = (0, 0)
    transfer_node: tuple[int, int] | None = None  # default: the east end of row 0
    zone: tuple[float, float, float, float] | None = (
        None  # node box (col0, row0, col1, row1), collected on zone_weekdays only
    )
    zone_weekdays: tuple[int, ...] = (0, 3)
    hotspot_count: int = 4  # arterial segments on row 0 with a high harsh-event rate
    hotspot_speed_cap_mps: float | None = None  # counterfactual: nobody exceeds this at the hotspots
    reassign: tuple[tuple[int, int], ...] = ()  # (segment index, route index) hand-overs
    shuffled_route: int | None = None  # this route's crew drives its segments in a scrambled order
    noise: float = 0.15
    seed: int = 7
    lon0: float = 13.40
    lat0: float = 52.50

    @property
    def cols(self) -> int:
        return self.trucks * self.cols_per_route + 1


@dataclass
class SyntheticFleet:
    config: SyntheticConfig
    history: History
    expected_harsh: np.ndarray  # per leg: the Poisson mean the events were drawn from
    segment_route: np.ndarray  # per network segment: route index, -1 if none
    hotspots: np.ndarray  # network indices of hotspot segments
    zone_segments: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def node_xy(self, col: float, row: float) -> tuple[float, float]:
        return col * self.config.block_m, row * self.config.block_m

    def node_lonlat(self, col: float, row: float) -> tuple[float, float]:
        lon, lat = self.history.frame.to_lonlat(*self.node_xy(col, row))
        return float(lon), float(lat)

    def zone_polygon(self) -> dict:
        """The collection-frequency zone as a GeoJSON polygon (lon/lat)."""
        c0, r0, c1, r1 = self.config.zone
        ring = [self.node_lonlat(c, r) for c, r in ((c0, r0), (c1, r0), (c1, r1), (c0, r1), (c0, r0))]
        return {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}


class _Grid:
    """Street grid: node (col, row) → metres; horizontal and vertical edge indices."""

    def __init__(self, cfg: SyntheticConfig):
        self.cfg = cfg
        cols, rows, b = cfg.cols, cfg.rows, cfg.block_m
        self.h_index = np.arange((cols - 1) * rows).reshape(rows, cols - 1)
        self.v_index = (cols - 1) * rows + np.arange(cols * (rows - 1)).reshape(rows - 1, cols)
        n = (cols - 1) * rows + cols * (rows - 1)
        x0, y0, x1, y1 = (np.zeros(n) for _ in range(4))
        row_of_h, col_of_h = np.divmod(np.arange((cols - 1) * rows), cols - 1)
        h = self.h_index.ravel()
        x0[h], y0[h], x1[h], y1[h] = col_of_h * b, row_of_h * b, (col_of_h + 1) * b, row_of_h * b
        row_of_v, col_of_v = np.divmod(np.arange(cols * (rows - 1)), cols)
        v = self.v_index.ravel()
        x0[v], y0[v], x1[v], y1[v] = col_of_v * b, row_of_v * b, col_of_v * b, (row_of_v + 1) * b
        arterial = np.zeros(n, dtype=bool)
        arterial[h] = row_of_h % 4 == 0
        self.road_class = np.where(arterial, "arterial", "residential")
        self.x0, self.y0, self.x1, self.y1 = x0, y0, x1, y1
        self.size = n
        self.length = np.hypot(x1 - x0, y1 - y0)
        self.ends = list(zip(x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist()))
        self.nodes = [(self.node(a, b), self.node(c, d)) for a, b, c, d in self.ends]

    def node(self, x: float, y: float) -> tuple[int, int]:
        return int(round(x / self.cfg.block_m)), int(round(y / self.cfg.block_m))

    def path(self, a: tuple[int, int], b: tuple[int, int]) -> list[tuple[int, bool]]:
        """Manhattan path a → b (along a's row, then b's column): (edge, forward) pairs."""
        (ca, ra), (cb, rb) = a, b
        steps = []
        step = 1 if cb >= ca else -1
        for c in range(ca, cb, step):
            steps.append((int(self.h_index[ra, min(c, c + step)]), step > 0))
        step = 1 if rb >= ra else -1
        for r in range(ra, rb, step):
            steps.append((int(self.v_index[min(r, r + step), cb]), step > 0))
        return steps


class _Builder:
    """Collects legs column by column while a shift is simulated."""

    def __init__(self):
        self.cols: dict[str, list] = {
            k: []
            for k in (
                "shift",
                "kind",
                "segment",
                "facility",
                "t0",
                "duration_s",
                "moving_s",
                "length_m",
                "max_speed_mps",
                "forward",
                "events",
                "expected",
            )
        }
        self.visit_shift: list[int] = []
        self.visit_stop: list[int] = []
        self.visit_t: list[float] = []

    def add(self, **values) -> None:
        for key, column in self.cols.items():
            column.append(values[key])


def generate(cfg: SyntheticConfig = SyntheticConfig()) -> SyntheticFleet:
    """Simulate ``cfg.trucks`` trucks over ``cfg.days`` calendar days (work days only)."""
    rng = np.random.default_rng(cfg.seed)
    grid = _Grid(cfg)
    b = cfg.block_m
    length = np.hypot(grid.x1 - grid.x0, grid.y1 - grid.y0)
    free = np.array([FREE_SPEED_MPS[c] for c in grid.road_class])
    limit = np.array([SPEED_LIMIT_MPS[c] for c in grid.road_class])
    seg_factor = np.exp(rng.normal(0.0, 0.1, grid.size))  # some streets are simply slower

    # Routes: vertical strips of the grid (edges whose midpoint lies in the strip).
    mid_x, mid_y = (grid.x0 + grid.x1) / 2, (grid.y0 + grid.y1) / 2
    strip = np.minimum((mid_x // (cfg.cols_per_route * b)).astype(int), cfg.trucks - 1)
    segment_route = strip.copy()
    for seg, route in cfg.reassign:
        segment_route[seg] = route
    row_key = np.round(mid_y / b * 2).astype(int)  # vertical edges sit between rows
    order_key = np.where(row_key % 2 == 0, mid_x, -mid_x)  # serpentine
    hot_candidates = grid.h_index[0, 1:-1]
    hotspots = np.sort(rng.choice(hot_candidates, size=min(cfg.hotspot_count, len(hot_candidates)), replace=False))
    harsh_rate = np.full(grid.size, BASE_HARSH_PER_PASS)
    harsh_rate[hotspots] = HOTSPOT_HARSH_PER_PASS

    zone_mask = np.zeros(grid.size, dtype=bool)
    if cfg.zone is not None:
        c0, r0, c1, r1 = cfg.zone
        zone_mask = (mid_x > c0 * b) & (mid_x < c1 * b) & (mid_y > r0 * b) & (mid_y < r1 * b)

    transfer_node = cfg.transfer_node or (cfg.cols - 1, 0)
    fac_xy = np.array([[cfg.depot_node[0] * b, cfg.depot_node[1] * b], [transfer_node[0] * b, transfer_node[1] * b]])
    facilities = Facilities(
        facility_ids=np.array(["depot-1", "transfer-1"]),
        facility_types=np.array(["depot", "transfer_station"]),
        x=fac_xy[:, 0],
        y=fac_xy[:, 1],
    )

    plan_segments = [np.flatnonzero(segment_route == r) for r in range(cfg.trucks)]
    plan_segments = [segs[np.lexsort((order_key[segs], row_key[segs]))] for segs in plan_segments]
    stop_frac = (np.arange(STOPS_PER_SEGMENT) + 1) / (STOPS_PER_SEGMENT + 1)
    stop_x, stop_y, stop_ids, stop_offsets, stop_of_segment = [], [], [], [0], {}
    for r, segs in enumerate(plan_segments):
        for s in segs:
            for j, f in enumerate(stop_frac):
                stop_of_segment.setdefault(int(s), []).append(len(stop_x))
                stop_x.append(grid.x0[s] + f * (grid.x1[s] - grid.x0[s]))
                stop_y.append(grid.y0[s] + f * (grid.y1[s] - grid.y0[s]))
                stop_ids.append(f"r{r:02d}-s{int(s)}-{j}")
        stop_offsets.append(len(stop_x))
    plans = Plans(
        route_ids=np.array([f"route-{r:02d}" for r in range(cfg.trucks)]),
        plan_route=np.arange(cfg.trucks, dtype=np.int32),
        plan_version=np.ones(cfg.trucks, dtype=np.int32),
        seg_offsets=np.concatenate([[0], np.cumsum([len(s) for s in plan_segments])]).astype(np.int64),
        seg=np.concatenate(plan_segments).astype(np.int32),
        stop_offsets=np.array(stop_offsets, dtype=np.int64),
        stop_ids=np.array(stop_ids),
        stop_seq=np.concatenate([np.arange(1, len(s) * STOPS_PER_SEGMENT + 1) for s in plan_segments]).astype(np.int32),
        stop_x=np.array(stop_x),
        stop_y=np.array(stop_y),
    )
    network = Network(
        segment_ids=np.array([f"seg-{i}" for i in range(grid.size)]),
        road_class=grid.road_class,
        speed_limit_mps=limit,
        length_m=length,
        x0=grid.x0,
        y0=grid.y0,
        x1=grid.x1,
        y1=grid.y1,
    )

    drive_order = list(plan_segments)
    if cfg.shuffled_route is not None:
        segs = plan_segments[cfg.shuffled_route]
        blocks = np.array_split(segs, max(len(segs) // 4, 1))
        permutation = np.random.default_rng(cfg.seed + 1).permutation(len(blocks))
        drive_order[cfg.shuffled_route] = np.concatenate([blocks[i] for i in permutation])

    first = (cfg.first_day - EPOCH).days
    days = [d for d in range(first, first + cfg.days) if weekday(d) in cfg.workdays]
    shift_rows = []
    out = _Builder()
    draws = _Draws(rng)
    # Before the first visit a segment has accumulated its steady-state load (7 days / visits a week).
    steady_gap = np.where(zone_mask, 7.0 / len(cfg.zone_weekdays), 7.0 / len(cfg.workdays))
    last_visit = first - steady_gap
    cap_household_days = 0.45 * np.mean([len(s) for s in plan_segments]) * STOPS_PER_SEGMENT * LIFTS_PER_STOP
    for day in days:
        for r in range(cfg.trucks):
            today = [s for s in drive_order[r] if not zone_mask[s] or weekday(day) in cfg.zone_weekdays]
            if not today:
                continue  # nothing to collect: the truck stays at the depot
            shift_index = len(shift_rows)
            shifted = cfg.start_shift_min if cfg.shifted_routes is None or r in cfg.shifted_routes else 0.0
            start = (
                day * SECONDS_PER_DAY
                + (cfg.start_hour + (r % 3) * cfg.start_stagger_h) * 3600
                + shifted * 60
                + draws.normal() * cfg.start_jitter_min * 60
            )
            shift_rows.append((f"{(EPOCH.toordinal() + day)}-{r:02d}", r, start, day))
            _simulate_shift(
                out,
                shift_index,
                start,
                today,
                day,
                last_visit,
                cap_household_days,
                grid,
                free,
                seg_factor,
                harsh_rate,
                hotspots,
                fac_xy,
                cfg,
                draws,
                stop_of_segment,
            )

    cols = {k: np.array(v) for k, v in out.cols.items()}
    legs = Legs(
        shift=cols["shift"].astype(np.int32),
        kind=cols["kind"].astype(np.int8),
        segment=cols["segment"].astype(np.int32),
        facility=cols["facility"].astype(np.int32),
        t0=cols["t0"],
        duration_s=cols["duration_s"],
        moving_s=cols["moving_s"],
        length_m=cols["length_m"],
        max_speed_mps=cols["max_speed_mps"],
        forward=cols["forward"].astype(bool),
        events=np.array(out.cols["events"], dtype=np.int32),
    )
    n = len(shift_rows)
    routes = np.array([row[1] for row in shift_rows], dtype=np.int32)
    starts = np.array([row[2] for row in shift_rows])
    people_per_route = 3
    day_of = np.array([row[3] for row in shift_rows], dtype=np.int64)
    crew = np.stack(
        [
            routes * people_per_route + day_of % people_per_route,
            routes * people_per_route + (day_of + 1) % people_per_route,
        ],
        axis=1,
    )
    shifts = Shifts(
        shift_ids=np.array([f"shift-{row[0]}-{row[1]:02d}-{i}" for i, row in enumerate(shift_rows)]),
        vehicle_ids=np.array([f"truck-{r:03d}" for r in range(cfg.trucks)]),
        vehicle=routes.copy(),
        route=routes,
        plan=routes.copy(),
        start_t=starts,
        end_t=starts + 10 * 3600,
        crew_offsets=np.arange(0, 2 * n + 1, 2, dtype=np.int64),
        crew_person=crew.ravel().astype(np.int32),
    )
    visits = StopVisits(
        shift=np.array(out.visit_shift, dtype=np.int32),
        stop=np.array(out.visit_stop, dtype=np.int32),
        t=np.array(out.visit_t),
    )
    history = History(
        frame=LocalFrame(cfg.lon0, cfg.lat0),
        network=network,
        facilities=facilities,
        plans=plans,
        shifts=shifts,
        legs=legs,
        visits=visits,
        period=(first, first + cfg.days - 1),
    )
    return SyntheticFleet(
        config=cfg,
        history=history,
        expected_harsh=cols["expected"],
        segment_route=segment_route,
        hotspots=hotspots,
        zone_segments=np.flatnonzero(zone_mask),
    )


def _simulate_shift(
    out: _Builder,
    shift: int,
    t: float,
    todays_segments: list[int],
    day: int,
    last_visit: np.ndarray,
    capacity: float,
    grid: _Grid,
    free: np.ndarray,
    seg_factor: np.ndarray,
    harsh_rate: np.ndarray,
    hotspots: np.ndarray,
    fac_xy: np.ndarray,
    cfg: SyntheticConfig,
    draws: _Draws,
    stop_of_segment: dict[int, list[int]],
) -> None:
    sigma = cfg.noise
    hot = {int(h) for h in hotspots}
    no_events = [0] * len(EVENT_KINDS)

    def noise() -> float:
        return _lognormal(sigma, draws.normal())

    def hour() -> int:
        return int(t // 3600) % 24

    def facility(index: int, dwell: float) -> None:
        nonlocal t
        out.add(
            shift=shift,
            kind=LEG_FACILITY,
            segment=-1,
            facility=index,
            t0=t,
            duration_s=dwell,
            moving_s=0.0,
            length_m=0.0,
            max_speed_mps=0.0,
            forward=True,
            events=no_events,
            expected=0.0,
        )
        t += dwell

    def drive(seg: int, forward: bool, service: bool) -> None:
        nonlocal t
        # A fixed number of draws per leg, whatever happens on it, so that a counterfactual
        # world with the same legs sees the same noise leg by leg.
        n_speed, n_creep, n_lift = draws.normal(), draws.normal(), draws.normal()
        u_stop, u_stop_len, u_events, *u_split = (draws.uniform() for _ in range(6))
        v_free = float(free[seg] * seg_factor[seg])
        v = v_free * _congestion(hour()) * _lognormal(sigma, n_speed)
        if service:
            v = min(v, SERVICE_CREEP_MPS * _lognormal(sigma, n_creep))
        if seg in hot and cfg.hotspot_speed_cap_mps is not None:
            v = min(v, cfg.hotspot_speed_cap_mps)
        length = float(grid.length[seg])
        moving = length / v
        lifts = STOPS_PER_SEGMENT * LIFTS_PER_STOP if service else 0
        if service:
            stopped = lifts * LIFT_S * _lognormal(sigma, n_lift)
        else:
            stopped = 30.0 + 60.0 * u_stop_len if u_stop < 0.1 else 0.0
        mu = float(harsh_rate[seg]) * (v / v_free) ** 2
        harsh = _poisson(mu, u_events)
        split = [0, 0, 0]
        for k in range(harsh):
            u = u_split[k % 3]
            split[0 if u < HARSH_SPLIT[0] else 1 if u < HARSH_SPLIT[0] + HARSH_SPLIT[1] else 2] += 1
        out.add(
            shift=shift,
            kind=LEG_SERVICE if service else LEG_TRAVEL,
            segment=seg,
            facility=-1,
            t0=t,
            duration_s=moving + stopped,
            moving_s=moving,
            length_m=length,
            max_speed_mps=v * 1.15,
            forward=forward,
            events=[split[0], split[1], split[2], 0, lifts],
            expected=mu,
        )
        if service:
            stops = stop_of_segment[seg] if forward else stop_of_segment[seg][::-1]
            for j, stop in enumerate(stops):
                out.visit_shift.append(shift)
                out.visit_stop.append(stop)
                out.visit_t.append(t + (j + 1) / (len(stops) + 1) * (moving + stopped))
        t += moving + stopped

    def travel(a: tuple[int, int], b: tuple[int, int]) -> None:
        for seg, forward in grid.path(a, b):
            drive(seg, forward, service=False)

    depot = grid.node(*fac_xy[0])
    transfer = grid.node(*fac_xy[1])
    here = depot
    facility(0, DEPOT_DWELL_S * noise())
    load = 0.0
    for seg in todays_segments:
        a, b = grid.nodes[seg]
        forward = abs(a[0] - here[0]) + abs(a[1] - here[1]) <= abs(b[0] - here[0]) + abs(b[1] - here[1])
        entry, exit_ = (a, b) if forward else (b, a)
        if load >= capacity:
            travel(here, transfer)
            facility(1, (TIP_S + _queue(hour())) * noise())
            here, load = transfer, 0.0
        travel(here, entry)
        drive(seg, forward, service=True)
        load += STOPS_PER_SEGMENT * LIFTS_PER_STOP * (day - last_visit[seg])
        last_visit[seg] = day
        here = exit_
    travel(here, transfer)
    facility(1, (TIP_S + _queue(hour())) * noise())
    travel(transfer, depot)
    facility(0, DEPOT_DWELL_S * noise())


def with_changes(cfg: SyntheticConfig, **changes) -> SyntheticConfig:
    """The same city and seed with some knobs changed (the counterfactual world)."""
    return replace(cfg, **changes)
