"""Scenario (a): start the routes N minutes earlier or later.

Method. Every leg keeps its street, its order and its own pace relative to the typical
pace at that hour; only the hour changes. For a pass along segment s (collecting or
travelling, kept apart) the log speed at local hour h is estimated as

    P[s, h] = (n·L[s, h] + m·(S[s] + C[class, h])) / (n + m)

where L is the mean log speed observed on s at h (n passes), C the mean log speed of the
segment's road class at h, S the segment's own offset from its class, and m = 5 passes of
shrinkage — so a segment-hour seen twice leans on its class's hour profile. A pass moved
from hour h to h' takes moving time × exp(P[s, h] − P[s, h']); stationary time (bin lifts)
does not change. Dwell at transfer stations and landfills scales likewise with the
facility's mean log dwell by hour (queueing), shrunk to the facility's mean. Depot and
break stays do not change. The new hour of each leg includes the delay or gain of the legs
before it on the same shift (two fixed-point passes). Harsh events scale with
(v'/v)^event_speed_power. Uncertainty refits the speed and dwell profiles on every
bootstrap resample of days.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from fleetpilot.analytics.whatif import charts
from fleetpilot.analytics.whatif.common import (
    Options,
    bootstrap_weights,
    build_result,
    hotspot_segments,
    pass_legs,
    require_k,
    segment_mask,
)
from fleetpilot.analytics.whatif.history import LEG_FACILITY, LEG_SERVICE, History, hour_of_day
from fleetpilot.analytics.whatif.kpi import K, shift_kpis, working_mask
from fleetpilot.analytics.whatif.privacy import shift_groups_allowed
from fleetpilot.analytics.whatif.result import ScenarioResult, Table

PRIOR_PASSES = 5.0
PRIOR_VISITS = 5.0
QUEUE_FACILITY_TYPES = ("transfer_station", "landfill")
FIXED_POINT_PASSES = 2


def within_shift_exclusive_cumsum(values: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """For legs sorted by shift: the sum of ``values`` of the earlier legs of the same shift."""
    if values.size == 0:
        return values.copy()
    cs = np.cumsum(values)
    exclusive = cs - values
    starts = np.flatnonzero(np.r_[True, shift[1:] != shift[:-1]])
    group = np.cumsum(np.r_[True, shift[1:] != shift[:-1]]) - 1
    return exclusive - exclusive[starts][group]


REPLICATE_BATCH = 25  # bootstrap replicates evaluated together (memory: pairs × batch floats)


def _aggregator(rows: np.ndarray, n_rows: int) -> sparse.csr_matrix:
    """Sparse (n_rows × len(rows)) matrix summing column j into row rows[j]."""
    return sparse.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(n_rows, len(rows)))


class _Profiles:
    """Speed and dwell profiles by hour, refit cheaply for any weighting of the days.

    Sufficient statistics (count and sum of log speed per observed segment-hour cell, per
    day) are kept as sparse cell × day matrices, so refitting for a batch of bootstrap
    replicates is a few sparse products with a (days × replicates) weight matrix.
    """

    def __init__(self, history: History):
        legs = history.legs
        self.history = history
        self.passes = pass_legs(history) & (legs.moving_s > 0) & (legs.length_m > 0)
        classes, class_of_segment = np.unique(history.network.road_class, return_inverse=True)
        n_keys = history.network.size * 2
        self.n_class_keys = len(classes) * 2
        service = (legs.kind == LEG_SERVICE).astype(np.int64)
        seg = np.maximum(legs.segment, 0).astype(np.int64)
        self.key = seg * 2 + service  # (segment, collecting?) per leg
        self.class_of_key = class_of_segment[np.arange(n_keys) // 2] * 2 + np.arange(n_keys) % 2
        self.n_keys = n_keys
        self.hour = hour_of_day(legs.t0)
        _, day_of_shift = history.shift_days()
        self.n_days = int(day_of_shift.max()) + 1 if day_of_shift.size else 0
        self.day_of_leg = day_of_shift[legs.shift]

        p = np.flatnonzero(self.passes)
        log_speed = np.log(legs.length_m[p] / legs.moving_s[p])
        cell = self.key[p] * 24 + self.hour[p]
        self.cells, cell_index = np.unique(cell, return_inverse=True)
        self.cell_key, self.cell_hour = np.divmod(self.cells, 24)
        # Position of every possible (key, hour) cell among the observed ones, -1 if unobserved:
        # a gather instead of a binary search per leg and pass (locate was a quarter of the scenario).
        self.cell_position = np.full(n_keys * 24, -1, dtype=np.int64)
        self.cell_position[self.cells] = np.arange(len(self.cells))
        shape = (len(self.cells), self.n_days)
        self.cell_count = sparse.csr_matrix((np.ones(len(p)), (cell_index, self.day_of_leg[p])), shape=shape)
        self.cell_sum = sparse.csr_matrix((log_speed, (cell_index, self.day_of_leg[p])), shape=shape)
        self.cell_class_hour = self.class_of_key[self.cell_key] * 24 + self.cell_hour
        self.by_class_hour = _aggregator(self.cell_class_hour, self.n_class_keys * 24)
        self.by_key = _aggregator(self.cell_key, n_keys)

        types = history.facilities.facility_types
        fac = np.maximum(legs.facility, 0)
        self.queue = (legs.kind == LEG_FACILITY) & (legs.facility >= 0) & np.isin(types[fac], QUEUE_FACILITY_TYPES)
        self.q = np.flatnonzero(self.queue)
        q_cell = fac[self.q].astype(np.int64) * 24 + self.hour[self.q]
        self.by_fac_hour = _aggregator(q_cell, history.facilities.size * 24)
        self.q_log_dwell = np.log(np.maximum(legs.duration_s[self.q], 1.0))

    def fit(self, day_weight: np.ndarray) -> _Fit:
        """Profiles for day weights (days × replicates); one column per replicate."""
        n = self.cell_count @ day_weight
        total = self.cell_sum @ day_weight
        reps = day_weight.shape[1]
        cw = (self.by_class_hour @ n).reshape(self.n_class_keys, 24, reps)
        cs = (self.by_class_hour @ total).reshape(self.n_class_keys, 24, reps)
        class_mean = cs.sum(1) / np.maximum(cw.sum(1), 1e-12)
        C = np.where(cw > 0, cs / np.maximum(cw, 1e-12), class_mean[:, None, :]).reshape(-1, reps)
        resid = total - n * C[self.cell_class_hour]
        S = (self.by_key @ resid) / (self.by_key @ n + PRIOR_PASSES)

        qw = day_weight[self.day_of_leg[self.q]]
        fn = (self.by_fac_hour @ qw).reshape(-1, 24, reps)
        ft = (self.by_fac_hour @ (qw * self.q_log_dwell[:, None])).reshape(-1, 24, reps)
        fmean = ft.sum(1) / np.maximum(fn.sum(1), 1e-12)
        Q = ((ft + PRIOR_VISITS * fmean[:, None, :]) / (fn + PRIOR_VISITS)).reshape(-1, reps)
        return _Fit(self, n, total, S, C, Q)

    def locate(self, key: np.ndarray, hour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Position of each (key, hour) cell among the observed cells, and whether it was observed."""
        found = self.cell_position[np.asarray(key, dtype=np.int64) * 24 + hour]
        return np.maximum(found, 0), found >= 0


class _Fit:
    """Fitted profiles for one or more weightings of the days (columns)."""

    def __init__(self, profiles: _Profiles, n, total, S, C, Q):
        self.profiles, self.n, self.total, self.S, self.C, self.Q = profiles, n, total, S, C, Q

    def log_speed(self, key: np.ndarray, hour: np.ndarray, pos: np.ndarray, observed: np.ndarray) -> np.ndarray:
        """Shrunk log speed P[key, hour] per (cell, column) (pos/observed from ``_Profiles.locate``)."""
        model = self.S[key] + self.C[self.profiles.class_of_key[key] * 24 + hour]
        if not len(self.n):
            return model
        seen = observed[:, None]
        n = np.where(seen, self.n[pos], 0.0)
        total = np.where(seen, self.total[pos], 0.0)
        return (total + PRIOR_PASSES * model) / (n + PRIOR_PASSES)

    def log_dwell(self, facility: np.ndarray, hour: np.ndarray) -> np.ndarray:
        return self.Q[facility * 24 + hour]

    def class_observed(self, key: np.ndarray, hour: np.ndarray) -> np.ndarray:
        cw = self.profiles.by_class_hour @ self.n[:, :1]
        return cw[self.profiles.class_of_key[key] * 24 + hour, 0] > 0


def leg_columns(profiles: _Profiles, fit: _Fit, new_hour: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(moving s, duration s, speed ratio v'/v) of every leg moved to ``new_hour`` (one-column fit)."""
    legs = profiles.history.legs
    p, q = np.flatnonzero(profiles.passes), profiles.q
    key, old_hour = profiles.key[p], profiles.hour[p]
    log_ratio = np.zeros(legs.size)
    log_ratio[p] = (
        fit.log_speed(key, old_hour, *profiles.locate(key, old_hour))
        - fit.log_speed(key, new_hour[p], *profiles.locate(key, new_hour[p]))
    )[:, 0]
    moving = legs.moving_s * np.exp(log_ratio)
    duration = legs.duration_s - legs.moving_s + moving
    fac = np.maximum(legs.facility[q], 0)
    duration[q] = (
        legs.duration_s[q] * np.exp(fit.log_dwell(fac, new_hour[q]) - fit.log_dwell(fac, profiles.hour[q]))[:, 0]
    )
    return moving, duration, np.exp(-log_ratio)


class _Retimer:
    """Changes per shift for any fit, once every leg's new start hour is known."""

    def __init__(self, profiles: _Profiles, new_hour: np.ndarray, hotspot: np.ndarray):
        legs = profiles.history.legs
        self.profiles = profiles
        p = np.flatnonzero(profiles.passes)
        key, old_hour = profiles.key[p], profiles.hour[p]
        q = profiles.q
        self.q_fac = np.maximum(legs.facility[q], 0)
        self.q_old, self.q_new = profiles.hour[q], new_hour[q]
        # Legs sharing (cell, new hour) share their speed ratio: sum them per shift once, so a
        # batch of replicates costs sparse products over these pairs, not passes over legs.
        code = (key * 24 + old_hour) * 24 + new_hour[p]
        pairs, pair_of = np.unique(code, return_inverse=True)
        self.pair_key, rest = np.divmod(pairs, 576)
        self.pair_old, self.pair_new = np.divmod(rest, 24)
        self.pair_old_loc = profiles.locate(self.pair_key, self.pair_old)
        self.pair_new_loc = profiles.locate(self.pair_key, self.pair_new)
        n = profiles.history.shifts.size
        shape = (n, len(pairs))
        on_hotspot = hotspot[np.maximum(legs.segment[p], 0)]
        self.moving_by_pair = sparse.csr_matrix((legs.moving_s[p], (legs.shift[p], pair_of)), shape=shape)
        self.hot_by_pair = sparse.csr_matrix(
            (np.where(on_hotspot, legs.harsh[p], 0), (legs.shift[p], pair_of)), shape=shape
        )
        self.dwell_by_shift = sparse.csr_matrix(
            (legs.duration_s[q], (legs.shift[q], np.arange(len(q)))), shape=(n, len(q))
        )

    def changes(self, fit: _Fit, event_speed_power: float) -> tuple[np.ndarray, np.ndarray]:
        """Per shift and fit column: (change in hours, change in hotspot events)."""
        log_ratio = fit.log_speed(self.pair_key, self.pair_old, *self.pair_old_loc) - fit.log_speed(
            self.pair_key, self.pair_new, *self.pair_new_loc
        )
        d_moving = self.moving_by_pair @ np.expm1(log_ratio)
        d_hot = self.hot_by_pair @ np.expm1(-log_ratio * event_speed_power)
        d_dwell = self.dwell_by_shift @ np.expm1(
            fit.log_dwell(self.q_fac, self.q_new) - fit.log_dwell(self.q_fac, self.q_old)
        )
        return (d_moving + d_dwell) / 3600.0, d_hot


def _apply(base: np.ndarray, d_hours: np.ndarray, d_hot: np.ndarray, options: Options) -> np.ndarray:
    """Scenario KPI matrix (shifts × KPIS) for one column of changes."""
    f = options.factors
    scen = base.copy()
    scen[:, K["truck_hours"]] += d_hours
    scen[:, K["overtime_hours"]] = np.maximum(scen[:, K["truck_hours"]] - f.paid_hours, 0.0)
    scen[:, K["hotspot_events"]] += d_hot
    # Every retimed leg has the engine on (passes, transfer stations, landfills).
    scen[:, K["fuel_l"]] += d_hours * f.fuel_l_per_engine_h
    scen[:, K["co2_kg"]] = scen[:, K["fuel_l"]] * f.co2_kg_per_l
    return scen


def _samples(
    history: History,
    profiles: _Profiles,
    retimer: _Retimer,
    base: np.ndarray,
    weights: np.ndarray,
    options: Options,
    event_speed_power: float,
) -> np.ndarray:
    """(replicates × KPIS) period deltas, refitting the profiles on every resample of days."""
    f = options.factors
    _, day_of_shift = history.shift_days()
    to_day = _aggregator(day_of_shift, profiles.n_days)
    hours = base[:, K["truck_hours"]][:, None]
    over = base[:, K["overtime_hours"]][:, None]
    out = np.zeros((len(weights), base.shape[1]))
    for lo in range(0, len(weights), REPLICATE_BATCH):
        w = weights[lo : lo + REPLICATE_BATCH]
        d_hours, d_hot = retimer.changes(profiles.fit(w.T), event_speed_power)
        d_over = np.maximum(hours + d_hours - f.paid_hours, 0.0) - over
        fuel = d_hours * f.fuel_l_per_engine_h
        for name, per_shift in (
            ("truck_hours", d_hours),
            ("overtime_hours", d_over),
            ("hotspot_events", d_hot),
            ("fuel_l", fuel),
            ("co2_kg", fuel * f.co2_kg_per_l),
        ):
            out[lo : lo + len(w), K[name]] = np.einsum("rd,dr->r", w, to_day @ per_shift)
    return out


def shift_start(
    history: History,
    minutes: float,
    options: Options = Options(),
    *,
    routes: list[str] | None = None,
    event_speed_power: float = 2.0,
) -> ScenarioResult:
    """Start the shifts of ``routes`` (default: all) ``minutes`` later (negative: earlier)."""
    legs = history.legs
    route_ids = history.plans.route_ids
    if routes is not None:
        unknown = sorted(set(routes) - set(map(str, route_ids)))
        if unknown:
            raise ValueError(f"unknown route(s): {', '.join(unknown)}")
        chosen = np.isin(route_ids, routes)
        moved_shift = (history.shifts.route >= 0) & chosen[np.maximum(history.shifts.route, 0)]
    else:
        moved_shift = np.ones(history.shifts.size, dtype=bool)
    require_k(history, moved_shift, options, "moving these routes' start")
    offset = np.where(moved_shift[legs.shift], minutes * 60.0, 0.0)
    hotspots = hotspot_segments(history, options)
    mask = segment_mask(history, hotspots)

    profiles = _Profiles(history)
    fit = profiles.fit(np.ones((profiles.n_days, 1)))
    new_t0 = legs.t0 + offset
    for _ in range(FIXED_POINT_PASSES):
        # The new hour of a leg includes the gain or delay of the earlier legs of its shift.
        _, duration, _ = leg_columns(profiles, fit, hour_of_day(new_t0))
        new_t0 = legs.t0 + offset + within_shift_exclusive_cumsum(duration - legs.duration_s, legs.shift)
    new_hour = hour_of_day(new_t0)
    retimer = _Retimer(profiles, new_hour, mask)
    _, duration, _ = leg_columns(profiles, fit, new_hour)

    base = shift_kpis(history, mask, options.factors)
    d_hours, d_hot = retimer.changes(fit, event_speed_power)
    scen = _apply(base, d_hours[:, 0], d_hot[:, 0], options)
    samples = _samples(
        history, profiles, retimer, base, bootstrap_weights(history, options), options, event_speed_power
    )

    moved_passes = profiles.passes & moved_shift[legs.shift]
    extrapolated = int(np.sum(~fit.class_observed(profiles.key[moved_passes], hour_of_day(new_t0)[moved_passes])))
    notes = []
    if extrapolated:
        notes.append(
            f"{extrapolated} passes move to hours never observed for their road class; their speed is the "
            "class's all-day mean (extrapolation)"
        )
    tables, extra = _route_tables(history, options, base, scen, duration, np.where(moved_shift, minutes * 60.0, 0.0))
    extra.append(_speed_by_hour_chart(history, profiles, minutes))
    return build_result(
        "start_time",
        f"Start {'later' if minutes >= 0 else 'earlier'} by {abs(minutes):g} min",
        history,
        options,
        {"minutes": minutes, "routes": routes, "event_speed_power": event_speed_power},
        [
            "each leg keeps its street, order and own pace relative to the typical pace at its hour",
            f"speed by hour per segment (collecting and travelling apart), shrunk towards the road class's hour "
            f"profile with {PRIOR_PASSES:g} passes' weight",
            "stationary time while collecting (bin lifts) does not depend on the hour",
            f"dwell at {' and '.join(QUEUE_FACILITY_TYPES)} varies by hour (queueing); depot and break stays do not",
            f"harsh events scale with (new speed / old speed)^{event_speed_power:g}",
            "shifts keep their length limits: work simply ends earlier or later",
        ],
        base,
        scen,
        hotspots=hotspots,
        delta_samples=samples,
        unmodelled={
            "km": "same streets in the same order",
            "deadhead_km": "same streets in the same order",
            "hotspot_passes": "same streets in the same order",
            "idle_hours": "stationary time kept",
        },
        tables=tables,
        extra_charts=extra,
        notes=notes,
    )


def _route_tables(
    history: History,
    options: Options,
    base: np.ndarray,
    scen: np.ndarray,
    duration: np.ndarray,
    shift_offset_s: np.ndarray,
) -> tuple[list[Table], list[dict]]:
    shifts = history.shifts
    legs = history.legs
    work = working_mask(history)
    idx = np.flatnonzero(work)
    # Clock time of the end of work: the last working leg's end; in the scenario the first
    # working leg's (moved) start plus the working legs' new durations.
    end_base = np.zeros(shifts.size)
    np.maximum.at(end_base, legs.shift[idx], legs.t1[idx])
    start = np.full(shifts.size, np.inf)
    np.minimum.at(start, legs.shift[idx], legs.t0[idx])
    total_new = np.bincount(legs.shift[idx], weights=duration[idx], minlength=shifts.size)
    end_scen = np.where(np.isfinite(start), start + shift_offset_s + total_new, 0.0)
    n_routes = len(history.plans.route_ids)
    ok = shift_groups_allowed(history, shifts.route, n_routes, options.privacy)
    rows, labels, before, after = [], [], [], []
    for r in range(n_routes):
        sel = shifts.route == r
        if not sel.any():
            continue
        if not ok[r]:
            rows.append([str(history.plans.route_ids[r]), None, None, None, None, "suppressed (k)"])
            continue
        hb, hs = base[sel, K["truck_hours"]].mean(), scen[sel, K["truck_hours"]].mean()
        eb = np.mean((end_base[sel] % 86400) / 3600)
        es = np.mean((end_scen[sel] % 86400) / 3600)
        rows.append([str(history.plans.route_ids[r]), round(hb, 3), round(hs, 3), round(eb, 3), round(es, 3), ""])
        labels.append(str(history.plans.route_ids[r]))
        before.append(hb)
        after.append(hs)
    table = Table(
        "by route",
        ["route", "hours_per_shift_before", "hours_per_shift_after", "end_hour_before", "end_hour_after", "note"],
        rows,
        ["", "h", "h", "local hour", "local hour", ""],
    )
    chart = charts.grouped_bars(labels, {"before": before, "after": after}, "Hours per shift by route", "route", "h")
    return [table], [chart]


def _speed_by_hour_chart(history: History, profiles: _Profiles, minutes: float) -> dict:
    legs = history.legs
    travel = profiles.passes & (legs.kind != LEG_SERVICE)
    metres = np.bincount(profiles.hour[travel], weights=legs.length_m[travel], minlength=24)
    seconds = np.bincount(profiles.hour[travel], weights=legs.moving_s[travel], minlength=24)
    speed = np.where(seconds > 0, metres / np.maximum(seconds, 1e-9) * 3.6, np.nan)
    return charts.lines(
        list(range(24)),
        {"observed travel speed": speed},
        f"Observed travel speed by hour (start moved by {minutes:g} min)",
        "local hour",
        "km/h",
    )
