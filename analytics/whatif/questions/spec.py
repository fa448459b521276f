"""Declarative questions: a question is data, one engine answers them all.

A ``Spec`` names
- the **rows** it measures (``source``): ``shifts``, ``legs``, facility ``visits`` (stays,
  exits under 120 s bridged) or planned ``stops`` served;
- the **filters** that keep rows (names from ``FILTERS[source]``);
- the **grouping** of the table (``GROUPINGS``: route, ISO week, day, weekday, month, local
  hour of day, part of day, hours into the shift, road class, segment, facility, facility
  type, kind of leg);
- the table's **columns**, each an aggregate (``Col``) of a measure from ``MEASURES[source]``;
- the headline **number** (``Num``), its **unit** and label, and the **chart** (``Chart``);
- the **privacy unit**: whose support decides whether a group's row may be shown. ``"rows"``:
  the shifts (and their people) that contributed rows to the group; ``"shifts"``: every shift
  of the group (for groupings that are a property of the shift). Either way the k rule of
  ``privacy.allowed`` applies (k distinct shifts and k distinct people); the service answers
  from the shifts of released (unit, ISO week) blocks only (decision 0004), as every question.

``register`` turns a spec into a library ``Question``; adding a question is adding a spec
(``catalog.py``). Times are the city's wall clock (``History``'s convention).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial

import numpy as np

from fleetpilot.analytics.whatif import charts
from fleetpilot.analytics.whatif.common import pass_legs
from fleetpilot.analytics.whatif.history import (
    LEG_FACILITY,
    LEG_GAP,
    LEG_KINDS,
    LEG_OFFNET,
    LEG_SERVICE,
    LEG_TRAVEL,
    History,
    hour_of_day,
    weekday,
)
from fleetpilot.analytics.whatif.kpi import K, engine_mask, shift_kpis, working_mask
from fleetpilot.analytics.whatif.questions.common import (
    FacilityVisits,
    answer,
    day_label,
    facility_visits,
    guard,
    iso_week,
    months,
    weekday_names,
)
from fleetpilot.analytics.whatif.questions.library import QUESTIONS, Context, Param, Question
from fleetpilot.analytics.whatif.result import Answer, Table
from fleetpilot.event_kinds import BIN_LIFT, HARSH_ACCEL, HARSH_BRAKE, HARSH_CORNER, REVERSING

SOURCES = ("shifts", "legs", "visits", "stops")
AGGREGATES = ("rows", "shifts", "sum", "mean", "median", "p10", "p90", "max", "ratio", "count_if", "share_if")
TIP_TYPES = ("transfer_station", "landfill")
SERVICE_QUANTILE = 10  # a facility's 10th-percentile stay ≈ its service time without a queue


@dataclass(frozen=True)
class Col:
    """A table column: ``agg`` of measure ``of`` over a group's rows.

    rows: rows in the group; shifts: distinct shifts; sum/mean/median/p10/p90/max of ``of``;
    ratio: ``scale`` × sum(of) / sum(per); count_if / share_if: rows (share of rows) where
    ``of`` > 0. ``scale`` multiplies every aggregate (e.g. 100 for a percentage)."""

    name: str
    unit: str
    agg: str
    of: str = ""
    per: str = ""
    scale: float = 1.0


@dataclass(frozen=True)
class Num:
    """The headline number over the rows shown.

    total: sum of a column; ratio: ``scale`` × sum(column) / sum(``per`` column); mean: mean
    of a column over the table's rows; rows: ``agg`` (a ``Col``) over every shown member row;
    peak: the group label of the column's largest value (a local hour, a weekday number …)."""

    kind: str
    column: str = ""
    per: str = ""
    scale: float = 1.0
    agg: Col | None = None


@dataclass(frozen=True)
class Chart:
    kind: str  # "bar" | "line"
    column: str
    title: str
    y_title: str
    scale: float = 1.0  # e.g. 100: a share charted in %


@dataclass(frozen=True)
class Spec:
    id: str
    title: str
    method: str
    source: str
    group: str
    columns: tuple[Col, ...]
    number: Num
    unit: str
    label: str
    chart: Chart
    privacy: str = "rows"  # "rows" | "shifts"
    filters: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    require: str = ""  # a group's row is shown only when this column is > 0
    order: str = ""  # sort rows by this column, descending …
    ascending: bool = False
    limit: str = ""  # … and keep the parameter's number of rows
    topic: str = ""
    factors: bool = False  # the conversion factors are an assumption of the answer
    notes: tuple[str, ...] = field(default=())

    def describe(self) -> dict:
        """What the question is made of (the catalogue shows it beside the method)."""
        return {
            "source": self.source,
            "grouping": self.group,
            "filters": list(self.filters),
            "columns": [
                {"name": c.name, "unit": c.unit, "aggregate": c.agg, "of": c.of, "per": c.per} for c in self.columns
            ],
            "unit": self.unit,
            "chart": self.chart.kind,
            "privacy_unit": self.privacy,
        }

    def check(self) -> None:
        """Every name the spec uses exists (raises ValueError at registration)."""
        where = f"spec {self.id!r}"
        if self.source not in SOURCES:
            raise ValueError(f"{where}: unknown source {self.source!r}")
        if self.group not in GROUPINGS:
            raise ValueError(f"{where}: unknown grouping {self.group!r}")
        if self.privacy not in ("rows", "shifts"):
            raise ValueError(f"{where}: privacy unit must be 'rows' or 'shifts'")
        if self.privacy == "shifts" and not GROUPINGS[self.group].per_shift:
            raise ValueError(f"{where}: privacy unit 'shifts' needs a grouping that is a property of the shift")
        for f in self.filters:
            if f not in FILTERS[self.source]:
                raise ValueError(f"{where}: unknown filter {f!r} for {self.source}")
        names = [c.name for c in self.columns]
        for c in (*self.columns, *((self.number.agg,) if self.number.agg else ())):
            if c.agg not in AGGREGATES:
                raise ValueError(f"{where}: unknown aggregate {c.agg!r}")
            for m in (c.of, c.per):
                if m and m not in MEASURES[self.source]:
                    raise ValueError(f"{where}: unknown measure {m!r} for {self.source}")
        for ref in (self.chart.column, self.number.column, self.number.per, self.require, self.order):
            if ref and ref not in names:
                raise ValueError(f"{where}: unknown column {ref!r}")
        if self.number.kind not in ("total", "ratio", "mean", "peak", "rows"):
            raise ValueError(f"{where}: unknown kind of number {self.number.kind!r}")
        if self.number.kind == "peak" and self.group != "hour":
            raise ValueError(f"{where}: a peak is a number only for a local hour")
        if self.number.kind == "rows" and self.number.agg is None:
            raise ValueError(f"{where}: a number over the rows needs its aggregate")
        if self.limit and self.limit not in {p.name for p in self.params}:
            raise ValueError(f"{where}: unknown parameter {self.limit!r}")


class Data:
    """One history under one question's parameters, with what measures share computed once."""

    def __init__(self, history: History, params: dict, ctx: Context):
        self.h = history
        self.p = params
        self.ctx = ctx
        self.legs = history.legs
        self.shifts = history.shifts

    @cached_property
    def kpis(self) -> np.ndarray:
        return shift_kpis(self.h, np.zeros(self.h.network.size, dtype=bool), self.ctx.factors)

    @cached_property
    def working(self) -> np.ndarray:
        return working_mask(self.h)

    @cached_property
    def visits(self) -> FacilityVisits:
        return facility_visits(self.h)

    @cached_property
    def visit_type(self) -> np.ndarray:
        v = self.visits
        return self.h.facilities.facility_types[v.facility] if len(v) else np.zeros(0, dtype=object)

    @cached_property
    def leg_facility_type(self) -> np.ndarray:
        """The facility type of every leg ('' off facilities)."""
        types = np.append(self.h.facilities.facility_types.astype(object), "")
        return types[self.legs.facility]

    @cached_property
    def limit_mps(self) -> np.ndarray:
        return self.h.network.speed_limit_mps[np.maximum(self.legs.segment, 0)] if self.h.network.size else np.zeros(0)

    def per_shift(self, values: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        legs = self.legs
        v = values if where is None else np.where(where, values, 0.0)
        return np.bincount(legs.shift, weights=v, minlength=self.shifts.size)

    def first_last(self, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(start of the first, end of the last) leg of each shift where ``where`` (NaN: none)."""
        legs = self.legs
        idx = np.flatnonzero(where)
        first = np.full(self.shifts.size, np.inf)
        last = np.full(self.shifts.size, -np.inf)
        np.minimum.at(first, legs.shift[idx], legs.t0[idx])
        np.maximum.at(last, legs.shift[idx], legs.t1[idx])
        return np.where(np.isfinite(first), first, np.nan), np.where(np.isfinite(last), last, np.nan)

    @cached_property
    def queue_s(self) -> np.ndarray:
        """Per visit: stay minus its facility's 10th-percentile stay (the service time without a queue)."""
        v = self.visits
        floor = np.zeros(self.h.facilities.size)
        for f in np.unique(v.facility):
            floor[f] = np.percentile(v.duration_s[v.facility == f], SERVICE_QUANTILE)
        return np.maximum(v.duration_s - floor[v.facility], 0.0) if len(v) else np.zeros(0)

    @cached_property
    def break_s(self) -> np.ndarray:
        """Per shift: seconds of stays of at least 15 min at break places."""
        v = self.visits
        rest = (self.visit_type == "break") & (v.duration_s >= 15 * 60) if len(v) else np.zeros(0, dtype=bool)
        return np.bincount(v.shift[rest], weights=v.duration_s[rest], minlength=self.shifts.size)


def _clock(t: np.ndarray) -> np.ndarray:
    """Local clock hour (decimal) of local-seconds times."""
    return (t % 86400) / 3600


def _kind(k: int) -> Callable[[Data], np.ndarray]:
    return lambda d: d.legs.kind == k


def _shift_kind_hours(k: int) -> Callable[[Data], np.ndarray]:
    return lambda d: d.per_shift(d.legs.duration_s, d.legs.kind == k) / 3600


def _leg_event(kind: str) -> Callable[[Data], np.ndarray]:
    return lambda d: d.legs.event(kind).astype(np.float64)


def _shift_event(kind: str) -> Callable[[Data], np.ndarray]:
    return lambda d: d.per_shift(d.legs.event(kind).astype(np.float64))


def _planned_segments(d: Data) -> np.ndarray:
    plans, shifts = d.h.plans, d.shifts
    return np.where(shifts.plan >= 0, np.diff(plans.seg_offsets)[np.maximum(shifts.plan, 0)], 0).astype(np.float64)


def _missed_segments(d: Data) -> np.ndarray:
    from fleetpilot.analytics.whatif.questions.routes import missed_share

    planned, missed = missed_share(d.h)
    return np.where(planned > 0, missed, 0).astype(np.float64)


def _planned_stops(d: Data) -> np.ndarray:
    plans, shifts = d.h.plans, d.shifts
    return np.where(shifts.plan >= 0, np.diff(plans.stop_offsets)[np.maximum(shifts.plan, 0)], 0).astype(np.float64)


def _stops_served(d: Data) -> np.ndarray:
    return np.bincount(d.h.visits.shift, minlength=d.shifts.size).astype(np.float64)


def _visits_per_shift(d: Data, types: tuple[str, ...], working_only: bool = False) -> np.ndarray:
    v = d.visits
    sel = np.isin(d.visit_type, types) if len(v) else np.zeros(0, dtype=bool)
    if working_only and len(v):
        sel &= d.working[v.first_leg]
    return np.bincount(v.shift[sel], minlength=d.shifts.size).astype(np.float64)


def _depot_returns(d: Data) -> np.ndarray:
    """Stays in a depot between a shift's first and last trip (a truck brought back mid-shift)."""
    return _visits_per_shift(d, ("depot",), working_only=True)


def _yard_minutes(d: Data) -> np.ndarray:
    first, _ = d.first_last(d.working)
    return (first - d.shifts.start_t) / 60


def _return_minutes(d: Data) -> np.ndarray:
    _, last = d.first_last(d.working)
    return (d.shifts.end_t - last) / 60


def _km_around_collection(d: Data, before: bool) -> np.ndarray:
    """Per shift: km of working legs before its first (or after its last) collection leg."""
    first, last = d.first_last(d.legs.kind == LEG_SERVICE)
    legs = d.legs
    cut = first[legs.shift] if before else last[legs.shift]
    side = legs.t1 <= cut if before else legs.t0 >= cut
    km = d.per_shift(legs.length_m, d.working & side) / 1000
    return np.where(np.isfinite(first), km, np.nan)


def _overtime(d: Data) -> np.ndarray:
    paid = d.p.get("paid_hours", d.ctx.factors.paid_hours)
    return np.maximum(d.kpis[:, K["truck_hours"]] - paid, 0.0)


def _over_limit(d: Data) -> np.ndarray:
    tolerance = d.p.get("tolerance_kmh", 5.0) / 3.6
    return (d.legs.max_speed_mps > d.limit_mps + tolerance).astype(np.float64)


def _no_break(d: Data) -> np.ndarray:
    return (d.break_s <= 0).astype(np.float64)


# Measures per source: name -> values per row (NaN: the row has no value and is left out).
MEASURES: dict[str, dict[str, Callable[[Data], np.ndarray]]] = {
    "shifts": {
        "truck_hours": lambda d: d.kpis[:, K["truck_hours"]],
        "km": lambda d: d.kpis[:, K["km"]],
        "deadhead_km": lambda d: d.kpis[:, K["deadhead_km"]],
        "idle_hours": lambda d: d.kpis[:, K["idle_hours"]],
        "fuel_l": lambda d: d.kpis[:, K["fuel_l"]],
        "co2_kg": lambda d: d.kpis[:, K["co2_kg"]],
        "overtime_hours": _overtime,
        "engine_hours": lambda d: d.per_shift(d.legs.duration_s, engine_mask(d.h) & d.working) / 3600,
        "on_duty_hours": lambda d: (d.shifts.end_t - d.shifts.start_t) / 3600,
        "service_hours": _shift_kind_hours(LEG_SERVICE),
        "travel_hours": _shift_kind_hours(LEG_TRAVEL),
        "offnet_hours": _shift_kind_hours(LEG_OFFNET),
        "gap_hours": lambda d: d.per_shift(d.legs.duration_s, d.working & (d.legs.kind == LEG_GAP)) / 3600,
        "service_km": lambda d: d.per_shift(d.legs.length_m, d.legs.kind == LEG_SERVICE) / 1000,
        "service_moving_hours": lambda d: d.per_shift(d.legs.moving_s, d.legs.kind == LEG_SERVICE) / 3600,
        "travel_km": lambda d: d.per_shift(d.legs.length_m, d.legs.kind == LEG_TRAVEL) / 1000,
        "travel_moving_hours": lambda d: d.per_shift(d.legs.moving_s, d.legs.kind == LEG_TRAVEL) / 3600,
        "lifts": _shift_event(BIN_LIFT),
        "harsh": lambda d: d.per_shift(d.legs.harsh.astype(np.float64)),
        "reversing": _shift_event(REVERSING),
        "planned_segments": _planned_segments,
        "missed_segments": _missed_segments,
        "planned_stops": _planned_stops,
        "stops_served": _stops_served,
        "tip_trips": lambda d: _visits_per_shift(d, TIP_TYPES),
        "depot_returns": _depot_returns,
        "break_minutes": lambda d: d.break_s / 60,
        "no_break": _no_break,
        "street_start_hour": lambda d: _clock(d.first_last(d.working)[0]),
        "street_end_hour": lambda d: _clock(d.first_last(d.working)[1]),
        "first_collection_hour": lambda d: _clock(d.first_last(d.legs.kind == LEG_SERVICE)[0]),
        "last_collection_hour": lambda d: _clock(d.first_last(d.legs.kind == LEG_SERVICE)[1]),
        "yard_minutes": _yard_minutes,
        "return_minutes": _return_minutes,
        "km_to_first_collection": lambda d: _km_around_collection(d, before=True),
        "km_after_last_collection": lambda d: _km_around_collection(d, before=False),
        "no_collection": lambda d: (_shift_kind_hours(LEG_SERVICE)(d) <= 0).astype(np.float64),
        "one": lambda d: np.ones(d.shifts.size),
    },
    "legs": {
        "hours": lambda d: d.legs.duration_s / 3600,
        "moving_hours": lambda d: d.legs.moving_s / 3600,
        "stationary_hours": lambda d: (d.legs.duration_s - d.legs.moving_s) / 3600,
        "km": lambda d: d.legs.length_m / 1000,
        "deadhead_km": lambda d: np.where(d.legs.kind != LEG_SERVICE, d.legs.length_m, 0.0) / 1000,
        "gap_hours": lambda d: np.where(d.legs.kind == LEG_GAP, d.legs.duration_s, 0.0) / 3600,
        "offnet_hours": lambda d: np.where(d.legs.kind == LEG_OFFNET, d.legs.duration_s, 0.0) / 3600,
        "lifts": _leg_event(BIN_LIFT),
        "harsh": lambda d: d.legs.harsh.astype(np.float64),
        "harsh_brake": _leg_event(HARSH_BRAKE),
        "harsh_accel": _leg_event(HARSH_ACCEL),
        "harsh_corner": _leg_event(HARSH_CORNER),
        "reversing": _leg_event(REVERSING),
        "passes": lambda d: np.ones(d.legs.size),
        "over_limit": _over_limit,
        "top_speed_kmh": lambda d: 3.6 * d.legs.max_speed_mps,
        "over_limit_kmh": lambda d: 3.6 * (d.legs.max_speed_mps - d.limit_mps),
    },
    "visits": {
        "stay_minutes": lambda d: d.visits.duration_s / 60,
        "queue_hours": lambda d: d.queue_s / 3600,
        "queue_minutes": lambda d: d.queue_s / 60,
        "one": lambda d: np.ones(len(d.visits)),
    },
    "stops": {
        "one": lambda d: np.ones(d.h.visits.size),
    },
}

# Filters per source: name -> boolean per row.
FILTERS: dict[str, dict[str, Callable[[Data], np.ndarray]]] = {
    "shifts": {
        "planned": lambda d: _planned_segments(d) > 0,
        "with_stops": lambda d: _planned_stops(d) > 0,
        "collected": lambda d: np.isfinite(d.first_last(d.legs.kind == LEG_SERVICE)[1]),
        "worked": lambda d: np.isfinite(d.first_last(d.working)[1]),
        "routed": lambda d: d.shifts.route >= 0,
    },
    "legs": {
        "service": _kind(LEG_SERVICE),
        "travel": _kind(LEG_TRAVEL),
        "facility": _kind(LEG_FACILITY),
        "gap": _kind(LEG_GAP),
        "not_service": lambda d: d.legs.kind != LEG_SERVICE,
        "travel_or_offnet": lambda d: (d.legs.kind == LEG_TRAVEL) | (d.legs.kind == LEG_OFFNET),
        "working": lambda d: d.working,
        "pass": lambda d: pass_legs(d.h),
        "moving": lambda d: d.legs.moving_s > 0,
        "early": lambda d: hour_of_day(d.legs.t0) < d.p["before_hour"],
        "late": lambda d: hour_of_day(d.legs.t0) >= d.p["after_hour"],
        "with_limit": lambda d: d.limit_mps > 0,
    },
    "visits": {
        "tip": lambda d: np.isin(d.visit_type, TIP_TYPES),
        "of_type": lambda d: d.visit_type == d.p["facility_type"],
        "break": lambda d: d.visit_type == "break",
        "mid_shift_depot": lambda d: (
            (d.visit_type == "depot") & d.working[d.visits.first_leg] if len(d.visits) else np.zeros(0, dtype=bool)
        ),
    },
    "stops": {},
}


@dataclass(frozen=True)
class Rows:
    """The rows of a source: their shift, local time, street segment and facility (-1: none)."""

    shift: np.ndarray
    t: np.ndarray
    segment: np.ndarray
    facility: np.ndarray
    kind: np.ndarray


def rows_of(d: Data, source: str) -> Rows:
    if source == "shifts":
        none = np.full(d.shifts.size, -1)
        return Rows(np.arange(d.shifts.size), d.shifts.start_t, none, none, none)
    if source == "legs":
        legs = d.legs
        return Rows(legs.shift.astype(np.int64), legs.t0, legs.segment, legs.facility, legs.kind)
    if source == "visits":
        v = d.visits
        return Rows(v.shift, v.t0, np.full(len(v), -1), v.facility, np.full(len(v), -1))
    stops = d.h.visits
    return Rows(
        stops.shift.astype(np.int64), stops.t, np.full(stops.size, -1), np.full(stops.size, -1), np.full(stops.size, -1)
    )


@dataclass(frozen=True)
class Grouping:
    """Labels and the group of every row (-1: in no group); ``per_shift``: a property of the shift."""

    name: str
    of: Callable[[Data, Rows], tuple[list, np.ndarray]]
    per_shift: bool
    x_title: str  # the chart's x axis
    table: str  # the table's name
    unit: str = ""  # the unit of the label column


def _by_shift(
    labels_and_index: Callable[[Data], tuple[list, np.ndarray]],
) -> Callable[[Data, Rows], tuple[list, np.ndarray]]:
    def of(d: Data, rows: Rows) -> tuple[list, np.ndarray]:
        labels, per_shift = labels_and_index(d)
        return labels, np.asarray(per_shift, dtype=np.int64)[rows.shift]

    return of


def _routes(d: Data) -> tuple[list, np.ndarray]:
    return [str(r) for r in d.h.plans.route_ids], d.shifts.route


def _weeks(d: Data) -> tuple[list, np.ndarray]:
    weeks, of = iso_week(d.shifts.day)
    return [str(w) for w in weeks], of


def _days(d: Data) -> tuple[list, np.ndarray]:
    days, of = np.unique(d.shifts.day, return_inverse=True)
    return [day_label(x) for x in days], of


def _months(d: Data) -> tuple[list, np.ndarray]:
    names, of = months(d.shifts.day)
    return [str(m) for m in names], of


def _hours(d: Data, rows: Rows) -> tuple[list, np.ndarray]:
    return list(range(24)), hour_of_day(rows.t)


DAYPARTS = ((0, 7, "before 7:00"), (7, 12, "7:00-12:00"), (12, 17, "12:00-17:00"), (17, 24, "from 17:00"))


def _dayparts(d: Data, rows: Rows) -> tuple[list, np.ndarray]:
    hour = hour_of_day(rows.t)
    part = np.zeros(len(hour), dtype=np.int64)
    for i, (lo, hi, _) in enumerate(DAYPARTS):
        part[(hour >= lo) & (hour < hi)] = i
    return [name for _, _, name in DAYPARTS], part


def _shift_hour(d: Data, rows: Rows) -> tuple[list, np.ndarray]:
    """Whole hours since the shift's first trip left the depot (-1 before it)."""
    first, _ = d.first_last(d.working)
    since = (rows.t - first[rows.shift]) // 3600
    since = np.where(np.isfinite(since), since, -1).astype(np.int64)
    top = 12
    return [f"{h}-{h + 1} h" if h < top else f"{top}+ h" for h in range(top + 1)], np.where(
        since >= 0, np.minimum(since, top), -1
    )


def _road_class(d: Data, rows: Rows) -> tuple[list, np.ndarray]:
    classes, cls = np.unique(d.h.network.road_class, return_inverse=True)
    return [str(c) for c in classes], np.where(rows.segment >= 0, cls[np.maximum(rows.segment, 0)], -1)


def _segment(d: Data, rows: Rows) -> tuple[list, np.ndarray]:
    return [str(s) for s in d.h.network.segment_ids], np.asarray(rows.segment, dtype=np.int64)


def _facility(d: Data, rows: Rows) -> tuple[list, np.ndarray]:
    return [str(f) for f in d.h.facilities.facility_ids], np.asarray(rows.facility, dtype=np.int64)


def _facility_type(d: Data, rows: Rows) -> tuple[list, np.ndarray]:
    types = list(dict.fromkeys(str(t) for t in d.h.facilities.facility_types))
    index = {t: i for i, t in enumerate(types)}
    per_facility = np.array([index[str(t)] for t in d.h.facilities.facility_types] + [-1], dtype=np.int64)
    return types, per_facility[rows.facility]


def _leg_kind(d: Data, rows: Rows) -> tuple[list, np.ndarray]:
    return list(LEG_KINDS), np.asarray(rows.kind, dtype=np.int64)


def _fleet(d: Data, rows: Rows) -> tuple[list, np.ndarray]:
    return ["fleet"], np.zeros(len(rows.shift), dtype=np.int64)


GROUPINGS: dict[str, Grouping] = {
    g.name: g
    for g in (
        Grouping("route", _by_shift(_routes), True, "route", "routes"),
        Grouping("week", _by_shift(_weeks), True, "week", "weeks"),
        Grouping("day", _by_shift(_days), True, "day", "days"),
        Grouping("weekday", _by_shift(lambda d: (weekday_names(), weekday(d.shifts.day))), True, "weekday", "weekdays"),
        Grouping("month", _by_shift(_months), True, "month", "months"),
        Grouping("hour", _hours, False, "local hour", "hours", "local hour"),
        Grouping("daypart", _dayparts, False, "part of day (local)", "parts of day"),
        Grouping("shift_hour", _shift_hour, False, "hours since leaving the depot", "hours into the shift"),
        Grouping("road_class", _road_class, False, "road class", "road classes"),
        Grouping("segment", _segment, False, "segment", "segments"),
        Grouping("facility", _facility, False, "facility", "facilities"),
        Grouping("facility_type", _facility_type, False, "facility type", "facility types"),
        Grouping("leg_kind", _leg_kind, False, "kind of leg", "kinds of leg"),
        Grouping("fleet", _fleet, True, "", "fleet"),
    )
}


def _aggregate(
    col: Col, d: Data, source: str, group: np.ndarray, shift: np.ndarray, n: int, keep: np.ndarray
) -> np.ndarray:
    """Per group: the column's aggregate over the kept rows (NaN where it has none)."""
    g = group[keep]
    if col.agg == "rows":
        return np.bincount(g, minlength=n).astype(np.float64) * col.scale
    if col.agg == "shifts":
        pairs = np.unique(g * max(d.shifts.size, 1) + shift[keep])
        return np.bincount(pairs // max(d.shifts.size, 1), minlength=n).astype(np.float64) * col.scale
    values = np.asarray(MEASURES[source][col.of](d), dtype=np.float64)[keep]
    if col.agg in ("sum", "mean", "ratio", "count_if", "share_if"):
        ok = np.isfinite(values)
        count = np.bincount(g[ok], minlength=n)
        if col.agg in ("count_if", "share_if"):
            hits = np.bincount(g[ok], weights=(values[ok] > 0).astype(np.float64), minlength=n)
            out = hits if col.agg == "count_if" else np.divide(hits, count, out=np.full(n, np.nan), where=count > 0)
            return out * col.scale
        total = np.bincount(g[ok], weights=values[ok], minlength=n)
        if col.agg == "sum":
            return total * col.scale
        if col.agg == "mean":
            return np.divide(total, count, out=np.full(n, np.nan), where=count > 0) * col.scale
        per = np.asarray(MEASURES[source][col.per](d), dtype=np.float64)[keep]
        both = np.isfinite(per)
        den = np.bincount(g[both], weights=per[both], minlength=n)
        return col.scale * np.divide(total, den, out=np.full(n, np.nan), where=den != 0)
    out = np.full(n, np.nan)
    order = np.argsort(g, kind="stable")
    bounds = np.searchsorted(g[order], np.arange(n + 1))
    q = {"median": 50, "p10": 10, "p90": 90, "max": 100}[col.agg]
    for i in range(n):
        v = values[order[bounds[i] : bounds[i + 1]]]
        v = v[np.isfinite(v)]
        if v.size:
            out[i] = np.percentile(v, q)
    return out * col.scale


def _cell(value: float, unit: str) -> int | float | None:
    if not np.isfinite(value):
        return None
    if unit in ("shifts", "visits", "stops", "passes", "events", "lifts", "rows") and float(value).is_integer():
        return int(value)
    return float(value)


def evaluate(spec: Spec, history: History, params: dict, ctx: Context) -> Answer:
    d = Data(history, params, ctx)
    rows = rows_of(d, spec.source)
    keep = np.ones(len(rows.shift), dtype=bool)
    for f in spec.filters:
        keep &= np.asarray(FILTERS[spec.source][f](d), dtype=bool)
    grouping = GROUPINGS[spec.group]
    labels, group = grouping.of(d, rows)
    group = np.asarray(group, dtype=np.int64)
    n = len(labels)
    keep &= group >= 0
    if spec.privacy == "shifts":
        _, shift_group = grouping.of(d, rows_of(d, "shifts"))
        ok, suppressed = guard(history, shift_group, np.arange(d.shifts.size), n, ctx.privacy)
    else:
        ok, suppressed = guard(history, np.where(keep, group, -1), rows.shift, n, ctx.privacy)
    values = [_aggregate(c, d, spec.source, group, rows.shift, n, keep) for c in spec.columns]
    names = [c.name for c in spec.columns]
    shown = [i for i in range(n) if ok[i]]
    if spec.require:
        req = values[names.index(spec.require)]
        shown = [i for i in shown if np.isfinite(req[i]) and req[i] > 0]
    if spec.order:
        key = values[names.index(spec.order)]
        sign = 1 if spec.ascending else -1
        shown = sorted(shown, key=lambda i: (not np.isfinite(key[i]), sign * key[i] if np.isfinite(key[i]) else 0))
    if spec.limit:
        shown = shown[: params[spec.limit]]
    table_rows = [[labels[i]] + [_cell(v[i], c.unit) for v, c in zip(values, spec.columns)] for i in shown]
    table = Table(grouping.table, [grouping.name] + names, table_rows, [grouping.unit] + [c.unit for c in spec.columns])
    number = _number(spec, d, rows, group, keep, shown, table_rows, names, n)
    chart_col = names.index(spec.chart.column) + 1
    x = [r[0] for r in table_rows]
    y = [None if r[chart_col] is None else spec.chart.scale * r[chart_col] for r in table_rows]
    figure = (
        charts.lines(x, {spec.chart.column: y}, spec.chart.title, grouping.x_title, spec.chart.y_title)
        if spec.chart.kind == "line"
        else charts.bar(x, y, spec.chart.title, grouping.x_title, spec.chart.y_title)
    )
    assumptions: list[str] = []
    if spec.factors:
        fc = ctx.factors
        assumptions.append(
            f"factors: {fc.fuel_l_per_km} L/km, {fc.fuel_l_per_engine_h} L per engine hour, "
            f"{fc.co2_kg_per_l} kg CO2 per L"
        )
    return answer(
        number,
        spec.unit,
        spec.label.format(**params),
        table,
        figure,
        assumptions=assumptions,
        suppressed=suppressed,
        notes=list(spec.notes),
    )


def _number(
    spec: Spec,
    d: Data,
    rows: Rows,
    group: np.ndarray,
    keep: np.ndarray,
    shown: list[int],
    table_rows: list[list],
    names: list[str],
    n: int,
) -> float | None:
    num = spec.number
    if num.kind == "total":
        c = names.index(num.column) + 1
        return sum(r[c] for r in table_rows if r[c] is not None)
    if num.kind == "ratio":
        c, p = names.index(num.column) + 1, names.index(num.per) + 1
        den = sum(r[p] for r in table_rows if r[p] is not None)
        return num.scale * sum(r[c] for r in table_rows if r[c] is not None) / den if den else None
    if num.kind == "mean":
        c = names.index(num.column) + 1
        vals = [r[c] for r in table_rows if r[c] is not None]
        return float(np.mean(vals)) if vals else None
    if num.kind == "peak":
        c = names.index(num.column) + 1
        best = max(table_rows, key=lambda r: r[c] if r[c] is not None else -np.inf, default=None)
        return best[0] if best is not None and isinstance(best[0], (int, float)) else None
    # "rows": the aggregate over every member row of a shown group, as one group
    assert num.agg is not None  # Spec.check
    mask = np.zeros(n, dtype=bool)
    mask[shown] = True
    inside = keep & mask[np.maximum(group, 0)] & (group >= 0)
    one = np.zeros(len(group), dtype=np.int64)
    value = _aggregate(num.agg, d, spec.source, one, rows.shift, 1, inside)[0]
    return float(value) if np.isfinite(value) else None


def register(spec: Spec) -> Question:
    """Check a spec and add it to the library under its id."""
    spec.check()
    if spec.id in QUESTIONS:
        raise ValueError(f"question {spec.id!r} registered twice")
    q = Question(spec.id, spec.title, spec.params, spec.method, partial(evaluate, spec), spec=spec)
    QUESTIONS[spec.id] = q
    return q
