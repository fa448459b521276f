"""Key figures of a set of shifts, computed from (possibly counterfactual) leg columns.

Every scenario reports the same figures, so deltas are comparable across scenarios.
Assumptions (shown with every answer through ``Factors.describe``):
- truck-hours: the time a shift's legs cover from leaving the depot to coming back (stays in
  the depot before the first and after the last trip are not work on the street);
- deadhead: distance on legs that are not collection (travel, off-network, gaps);
- overtime: hours a shift works beyond ``paid_hours``;
- idle: stationary time (speed < 0.5 m/s) outside collection and facilities;
- engine hours: truck-hours minus time at break places (engine off);
- fuel = km × fuel_l_per_km + engine hours × fuel_l_per_engine_h; CO2 = fuel × co2_kg_per_l;
- hotspot passes / events: legs on hotspot segments and their harsh events.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from fleetpilot.analytics.whatif.history import LEG_FACILITY, LEG_GAP, LEG_OFFNET, LEG_SERVICE, LEG_TRAVEL, History

KPIS: tuple[tuple[str, str], ...] = (
    ("truck_hours", "h"),
    ("km", "km"),
    ("deadhead_km", "km"),
    ("overtime_hours", "h"),
    ("idle_hours", "h"),
    ("hotspot_passes", "passes"),
    ("hotspot_events", "events"),
    ("fuel_l", "L"),
    ("co2_kg", "kg"),
)
KPI_NAMES = tuple(name for name, _ in KPIS)
K = {name: i for i, name in enumerate(KPI_NAMES)}


@dataclass(frozen=True)
class Factors:
    """Conversion factors; every answer shows the values used.

    Defaults: a diesel rear-loader uses roughly 0.45 L/km plus 3 L per engine hour
    (stop-and-go and compaction), i.e. 70–90 L on a 100 km, 10 h day; burning 1 L of
    diesel emits 2.68 kg CO2 (tank-to-wheel).
    """

    paid_hours: float = 8.0
    fuel_l_per_km: float = 0.45
    fuel_l_per_engine_h: float = 3.0
    co2_kg_per_l: float = 2.68

    def describe(self) -> dict[str, float]:
        return asdict(self)


def working_mask(history: History) -> np.ndarray:
    """Legs between the shift's first and last leg that is neither a stay in a depot nor a
    data gap while parked there (depot or the shift's edge on both sides): a unit that drops
    off the network in the yard has not gone back to work (it made phantom overtime and
    depot returns). A gap beside driving is still work: the truck moved in it."""
    legs = history.legs
    types = history.facilities.facility_types
    at = np.maximum(legs.facility, 0)
    depot = (
        (legs.kind == LEG_FACILITY) & (legs.facility >= 0) & (types[at] == "depot")
        if types.size
        else np.zeros(legs.size, dtype=bool)
    )
    idx = np.arange(legs.size)
    same_before = np.r_[False, legs.shift[1:] == legs.shift[:-1]]
    same_after = np.r_[legs.shift[:-1] == legs.shift[1:], False]
    depot_before = ~same_before | np.r_[False, depot[:-1]]
    depot_after = ~same_after | np.r_[depot[1:], False]
    parked_gap = (legs.kind == LEG_GAP) & depot_before & depot_after
    anchor = ~depot & ~parked_gap
    n = history.shifts.size
    first = np.full(n, legs.size, dtype=np.int64)
    last = np.full(n, -1, dtype=np.int64)
    np.minimum.at(first, legs.shift[anchor], idx[anchor])
    np.maximum.at(last, legs.shift[anchor], idx[anchor])
    return (idx >= first[legs.shift]) & (idx <= last[legs.shift])


def engine_mask(history: History) -> np.ndarray:
    """Legs with the engine assumed on: all but stays at depots and break places."""
    legs = history.legs
    types = history.facilities.facility_types
    at = legs.facility
    parked = np.zeros(legs.size, dtype=bool)
    inside = (legs.kind == LEG_FACILITY) & (at >= 0)
    parked[inside] = np.isin(types[at[inside]], ("depot", "break"))
    return ~parked


def shift_kpis(
    history: History,
    hotspot: np.ndarray,
    factors: Factors,
    *,
    duration_s: np.ndarray | None = None,
    length_m: np.ndarray | None = None,
    moving_s: np.ndarray | None = None,
    harsh: np.ndarray | None = None,
    weight: np.ndarray | None = None,
) -> np.ndarray:
    """KPI matrix (shifts × KPIS) from leg columns; omitted columns are the observed ones.

    ``hotspot`` is a boolean per network segment. ``weight`` (default 1) is the expected
    number of times a leg is driven in the scenario (e.g. 0.5 when a visit is dropped
    every other week).
    """
    legs = history.legs
    n = history.shifts.size
    duration = legs.duration_s if duration_s is None else duration_s
    length = legs.length_m if length_m is None else length_m
    moving = legs.moving_s if moving_s is None else moving_s
    events = legs.harsh.astype(np.float64) if harsh is None else harsh
    w = np.ones(legs.size) if weight is None else weight
    s = legs.shift

    def per_shift(values: np.ndarray) -> np.ndarray:
        return np.bincount(s, weights=values * w, minlength=n)

    truck_h = per_shift(np.where(working_mask(history), duration, 0.0)) / 3600.0
    km = per_shift(length) / 1000.0
    deadhead = legs.kind != LEG_SERVICE
    deadhead_km = per_shift(np.where(deadhead, length, 0.0)) / 1000.0
    idle_legs = (legs.kind == LEG_TRAVEL) | (legs.kind == LEG_OFFNET)
    idle_h = per_shift(np.where(idle_legs, np.maximum(duration - moving, 0.0), 0.0)) / 3600.0
    on_hotspot = (legs.segment >= 0) & hotspot[np.maximum(legs.segment, 0)]
    passes = per_shift(on_hotspot.astype(np.float64))
    hot_events = per_shift(np.where(on_hotspot, events, 0.0))
    engine_h = per_shift(np.where(engine_mask(history) & working_mask(history), duration, 0.0)) / 3600.0
    fuel = km * factors.fuel_l_per_km + engine_h * factors.fuel_l_per_engine_h
    out = np.empty((n, len(KPIS)))
    out[:, K["truck_hours"]] = truck_h
    out[:, K["km"]] = km
    out[:, K["deadhead_km"]] = deadhead_km
    out[:, K["overtime_hours"]] = np.maximum(truck_h - factors.paid_hours, 0.0)
    out[:, K["idle_hours"]] = idle_h
    out[:, K["hotspot_passes"]] = passes
    out[:, K["hotspot_events"]] = hot_events
    out[:, K["fuel_l"]] = fuel
    out[:, K["co2_kg"]] = fuel * factors.co2_kg_per_l
    return out


def per_day(history: History, shift_values: np.ndarray) -> np.ndarray:
    """Sum a (shifts × k) matrix into (distinct days × k), days in ascending order."""
    _, position = history.shift_days()
    n_days = int(position.max()) + 1 if position.size else 0
    out = np.zeros((n_days,) + shift_values.shape[1:])
    np.add.at(out, position, shift_values)
    return out
