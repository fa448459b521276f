"""Scenario (f): traffic calming or a lower speed limit at hotspot segments.

Method. On the chosen segments every pass whose top speed exceeds the new limit is slowed
so that it would not (``compliance`` = share of the excess removed): its speed is scaled
by f = 1 − compliance·(1 − min(1, limit / top speed)), its moving time by 1/f. Harsh
events per pass follow a power law of the pass's mean speed, E[events] = exp(a_s)·v^b,
with one intercept per segment and one exponent b for the road class(es) involved,
estimated by maximising the Poisson likelihood with the intercepts profiled out (so the
busiest street is not simply the most dangerous one). A slowed pass then expects
E[events]·(f^b − 1) more events (fewer when f < 1). On every bootstrap resample of days
the exponent is updated by one Newton step from the full-data estimate (the one-step
bootstrap); with fewer than ``MIN_EVENTS`` events the exponent falls back to 2 (the
squared-speed law of Nilsson's power model) and the answer says so.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fleetpilot.analytics.whatif import charts
from fleetpilot.analytics.whatif.common import Options, bootstrap_weights, build_result, pass_legs, require_k
from fleetpilot.analytics.whatif.history import History
from fleetpilot.analytics.whatif.kpi import K, per_day, shift_kpis
from fleetpilot.analytics.whatif.result import ScenarioResult, Table

MIN_EVENTS = 20
FALLBACK_EXPONENT = 2.0
NEWTON_STEPS = 25
EXPONENT_RANGE = (0.0, 8.0)


def speed_exponent(log_v: np.ndarray, events: np.ndarray, group: np.ndarray, weight: np.ndarray) -> float:
    """Poisson MLE of b in E[y] = exp(a_group)·v^b with the a's profiled out (Newton on b)."""
    n_groups = int(group.max()) + 1 if group.size else 0
    y = events * weight
    Y = np.bincount(group, weights=y, minlength=n_groups)
    b = FALLBACK_EXPONENT
    for _ in range(NEWTON_STEPS):
        # Within each group, weights ∝ v^b (one common shift keeps exp() finite; ratios are unaffected).
        z = b * log_v
        e = weight * np.exp(z - z.max())
        s0 = np.bincount(group, weights=e, minlength=n_groups)
        s1 = np.bincount(group, weights=e * log_v, minlength=n_groups)
        s2 = np.bincount(group, weights=e * log_v**2, minlength=n_groups)
        ok = s0 > 0
        mean = np.where(ok, s1 / np.where(ok, s0, 1), 0.0)
        var = np.where(ok, s2 / np.where(ok, s0, 1) - mean**2, 0.0)
        grad = (y * log_v).sum() - (Y * mean).sum()
        hess = -(Y * var).sum()
        if hess >= -1e-12:
            break
        step = grad / hess
        b = float(np.clip(b - step, *EXPONENT_RANGE))
        if abs(step) < 1e-6:
            break
    return b


def one_step_exponents(
    log_v: np.ndarray, events: np.ndarray, group: np.ndarray, day: np.ndarray, b_hat: float, weights: np.ndarray
) -> np.ndarray:
    """The exponent on every bootstrap resample of days, by one Newton step from ``b_hat``.

    At b = b_hat every sum in the profiled score and information is linear in the day
    weights, so per-(segment, day) sums taken once give every replicate's step at the cost
    of a matrix product (the one-step bootstrap, asymptotically equal to refitting).
    """
    n_groups = int(group.max()) + 1 if group.size else 0
    n_days = weights.shape[1]
    cell = group * n_days + day
    e = np.exp(b_hat * log_v - (b_hat * log_v).max()) if log_v.size else log_v

    def per_cell(values: np.ndarray) -> np.ndarray:
        return np.bincount(cell, weights=values, minlength=n_groups * n_days).reshape(n_groups, n_days)

    s0, s1, s2 = per_cell(e) @ weights.T, per_cell(e * log_v) @ weights.T, per_cell(e * log_v**2) @ weights.T
    y = per_cell(events) @ weights.T
    t = np.bincount(day, weights=events * log_v, minlength=n_days) @ weights.T
    ok = s0 > 0
    mean = np.where(ok, s1 / np.where(ok, s0, 1.0), 0.0)
    var = np.where(ok, s2 / np.where(ok, s0, 1.0) - mean**2, 0.0)
    grad = t - (y * mean).sum(axis=0)
    hess = -(y * var).sum(axis=0)
    step = np.where(hess < -1e-12, grad / np.where(hess < -1e-12, hess, -1.0), 0.0)
    return np.clip(b_hat - step, *EXPONENT_RANGE)


def _intercepts(log_v, events, group, weight, b) -> np.ndarray:
    n_groups = int(group.max()) + 1 if group.size else 0
    Y = np.bincount(group, weights=events * weight, minlength=n_groups)
    S = np.bincount(group, weights=weight * np.exp(b * log_v), minlength=n_groups)
    return np.log(np.maximum(Y, 1e-12) / np.maximum(S, 1e-300))


def calm(
    history: History,
    segment_ids: list[str],
    new_limit_kmh: float,
    options: Options = Options(),
    *,
    compliance: float = 1.0,
) -> ScenarioResult:
    """Lower the limit (or calm traffic) to ``new_limit_kmh`` on ``segment_ids``."""
    if not 0.0 <= compliance <= 1.0:
        raise ValueError("compliance must be between 0 and 1")
    if new_limit_kmh <= 0:
        raise ValueError("new_limit_kmh must be positive")
    index = history.network.index()
    unknown = [s for s in segment_ids if s not in index]
    if unknown or not segment_ids:
        raise ValueError(f"unknown or no segment(s): {', '.join(unknown[:5])}")
    targets = np.zeros(history.network.size, dtype=bool)
    targets[[index[s] for s in segment_ids]] = True
    legs = history.legs
    limit = new_limit_kmh / 3.6

    passes = pass_legs(history) & (legs.moving_s > 0) & (legs.length_m > 0)
    seg = np.maximum(legs.segment, 0)
    classes = np.unique(history.network.road_class[targets])
    fit_legs = np.flatnonzero(passes & np.isin(history.network.road_class[seg], classes))
    log_v = np.log(legs.length_m[fit_legs] / legs.moving_s[fit_legs])
    events = legs.harsh[fit_legs].astype(np.float64)
    _, group = np.unique(legs.segment[fit_legs], return_inverse=True)
    on_target = targets[legs.segment[fit_legs]]

    require_k(
        history,
        np.bincount(legs.shift[fit_legs[on_target]], minlength=history.shifts.size) > 0,
        options,
        "driving on these segments",
    )
    top = np.where(legs.max_speed_mps[fit_legs] > 0, legs.max_speed_mps[fit_legs], np.exp(log_v))
    factor = 1.0 - compliance * (1.0 - np.minimum(1.0, limit / top))
    factor = np.where(on_target, factor, 1.0)

    _, day_of_shift = history.shift_days()
    day = day_of_shift[legs.shift[fit_legs]]
    enough = events.sum() >= MIN_EVENTS
    # Segments without any event add nothing to the profiled likelihood: fit on the others.
    eventful = np.bincount(group, weights=events)[group] > 0

    def exponent(weight: np.ndarray) -> float:
        if not enough:
            return FALLBACK_EXPONENT
        return speed_exponent(log_v[eventful], events[eventful], group[eventful], weight[eventful])

    t_log_v, t_events, t_group, t_factor = log_v[on_target], events[on_target], group[on_target], factor[on_target]

    def event_change(weight: np.ndarray, b: float) -> np.ndarray:
        """Expected change in events per calmed pass (``weight``: per calmed pass)."""
        mu = np.exp(_intercepts(t_log_v, t_events, t_group, weight, b)[t_group] + b * t_log_v)
        return mu * (t_factor**b - 1.0)

    options = options if options.hotspots is not None else _with_hotspots(options, segment_ids)
    base = shift_kpis(history, targets, options.factors)
    n = history.shifts.size
    d_moving = np.where(on_target, legs.moving_s[fit_legs] * (1.0 / factor - 1.0), 0.0)
    d_hours = np.bincount(legs.shift[fit_legs], weights=d_moving, minlength=n) / 3600.0
    f = options.factors
    target_shift = legs.shift[fit_legs][on_target]

    def scenario(events_change: np.ndarray) -> np.ndarray:
        scen = base.copy()
        scen[:, K["truck_hours"]] += d_hours
        scen[:, K["overtime_hours"]] = np.maximum(scen[:, K["truck_hours"]] - f.paid_hours, 0.0)
        scen[:, K["hotspot_events"]] += np.bincount(target_shift, weights=events_change, minlength=n)
        scen[:, K["fuel_l"]] += d_hours * f.fuel_l_per_engine_h
        scen[:, K["co2_kg"]] = scen[:, K["fuel_l"]] * f.co2_kg_per_l
        return scen

    ones = np.ones(len(fit_legs))
    b_hat = exponent(ones)
    scen = scenario(event_change(ones[on_target], b_hat))
    # Only the event change depends on the refit exponent; the rest resamples daily deltas.
    weights = bootstrap_weights(history, options)
    samples = weights @ (per_day(history, scen) - per_day(history, base))
    exponents = (
        one_step_exponents(log_v[eventful], events[eventful], group[eventful], day[eventful], b_hat, weights)
        if enough
        else np.full(len(weights), b_hat)
    )
    target_day = day[on_target]
    n_days = weights.shape[1]
    for r, (w, b) in enumerate(zip(weights, exponents)):
        samples[r, K["hotspot_events"]] = w @ np.bincount(
            target_day, weights=event_change(w[target_day], b), minlength=n_days
        )

    target_legs = fit_legs[on_target]
    v_kmh = np.exp(log_v[on_target]) * 3.6
    over = legs.max_speed_mps[target_legs] > limit
    minutes_before = legs.duration_s[target_legs].sum() / 60
    minutes_after = minutes_before + d_moving[on_target].sum() / 60
    table = Table(
        "the calmed segments",
        ["quantity", "before", "after", "unit"],
        [
            ["passes", int(on_target.sum()), int(on_target.sum()), "passes"],
            [
                "mean speed",
                float(v_kmh.mean()) if v_kmh.size else None,
                float((v_kmh * factor[on_target]).mean()) if v_kmh.size else None,
                "km/h",
            ],
            [
                "passes over the new limit",
                float(over.mean()) if over.size else None,
                float(over.mean() * (1 - compliance)) if over.size else None,
                "share",
            ],
            ["time on the segments (exposure)", float(minutes_before), float(minutes_after), "vehicle-minutes"],
            [
                "harsh events",
                float(legs.harsh[target_legs].sum()),
                float(legs.harsh[target_legs].sum() + event_change(ones[on_target], b_hat).sum()),
                "events (expected)",
            ],
            ["speed exponent b", b_hat, b_hat, ""],
        ],
    )
    lo, hi = np.percentile(exponents, [2.5, 97.5]) if len(exponents) else (b_hat, b_hat)
    bins = np.arange(0, max(70, int(v_kmh.max()) + 5 if v_kmh.size else 70), 5)
    hist_before = np.histogram(v_kmh, bins)[0]
    hist_after = np.histogram(v_kmh * factor[on_target], bins)[0]
    chart = charts.grouped_bars(
        [f"{b}-{b + 5}" for b in bins[:-1]],
        {"before": hist_before, "after": hist_after},
        "Pass speeds on the calmed segments",
        "km/h",
        "passes",
    )
    notes = [
        f"speed exponent b = {b_hat:.2f} (bootstrap 95 %: {lo:.2f}–{hi:.2f}) from {len(fit_legs)} passes "
        f"on {', '.join(map(str, classes))} streets"
    ]
    if not enough:
        notes.append(
            f"fewer than {MIN_EVENTS} harsh events on these road classes: exponent fixed at "
            f"{FALLBACK_EXPONENT:g} (power model), not estimated"
        )
    return build_result(
        "calming",
        f"Limit {new_limit_kmh:g} km/h on {len(segment_ids)} segment(s)",
        history,
        options,
        {"segment_ids": list(segment_ids), "new_limit_kmh": new_limit_kmh, "compliance": compliance},
        [
            "a pass whose top speed exceeds the new limit is slowed in proportion until it would not "
            f"({compliance:.0%} of the excess removed)",
            "harsh events per pass ∝ mean speed^b with one intercept per segment; b estimated from passes on the "
            "same road class(es) (Poisson likelihood, segment intercepts profiled out)",
            "other streets, the order of streets and the number of passes do not change",
            "hotspot KPIs in this answer refer to the calmed segments",
        ],
        base,
        scen,
        hotspots=np.flatnonzero(targets),
        delta_samples=samples,
        unmodelled={
            "km": "same streets",
            "deadhead_km": "same streets",
            "hotspot_passes": "same passes",
            "idle_hours": "stationary time unchanged",
        },
        tables=[table],
        extra_charts=[chart],
        notes=notes,
    )


def _with_hotspots(options: Options, segment_ids: list[str]) -> Options:
    return replace(options, hotspots=tuple(segment_ids))
