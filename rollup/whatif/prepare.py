"""Preparing what-if legs: each finished shift's fixes and events → legs and stop visits.

The rollup job prepares them in its batches (``prepare_batch``, from the fixes it has already
read, stored in the same transaction as the shift's metrics: one read, and legs never describe
other fixes than the metrics). `fleetpilot whatif prepare` runs the same per shift for what
the rollup left (e.g. a run with --no-whatif). A shift is prepared
once, and again when the rollup recomputed the shift after that (late data: the rollup
recomputes a marked vehicle-day's shifts, and their legs follow); ``recompute`` redoes every
shift in the range. The same run
removes legs of shifts older than the retention period, like raw fixes.
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass, field, fields, replace
from datetime import date

import asyncpg
import numpy as np
import pyarrow as pa

from fleetpilot.analytics.columns import DeviceEvents, Fixes
from fleetpilot.analytics.whatif.assemble import City, plan_index, prepare_shift
from fleetpilot.analytics.whatif.history import EVENT_KINDS, LEG_KINDS, Plans
from fleetpilot.analytics.whatif.legs import ShiftLegs
from fleetpilot.db.copyin import CopyRows, fixed, text, timestamps
from fleetpilot.rollup.replace import replace_shift_rows
from fleetpilot.rollup.whatif import queries
from fleetpilot.rollup.whatif.load import copy_table, load_city, load_plans, require_city, utc_bounds

FIX_TYPES = {
    "t": pa.int64(),
    "lon": pa.float64(),
    "lat": pa.float64(),
    "speed_mps": pa.float32(),
    "heading_deg": pa.float32(),
    "hdop": pa.float32(),
}


@dataclass(frozen=True)
class PrepareReport:
    shifts: int
    legs: int
    fixes: int
    purged: int
    seconds: float


async def prepare(
    conn: asyncpg.Connection, start: date, end: date, *, recompute: bool = False, tz: str = "UTC"
) -> PrepareReport:
    """Compute and store legs for the finished shifts starting in [start, end) (local days of `tz`)."""
    began = clock.perf_counter()
    lo, hi = utc_bounds(start, end, tz)
    todo = await conn.fetch(queries.TO_PREPARE, lo, hi, recompute)
    n_legs = n_fixes = 0
    # Building the city and its matching index costs seconds and the rollup usually left
    # nothing to do: then only its presence is checked (no city: NoCity, whatever the range holds).
    if todo:
        city = await load_city(conn, index=True)
        plans = await load_plans(conn, city, lo, hi)
        for shift in todo:
            legs, stops, seen = await _prepare_one(conn, city, plans, shift)
            n_legs += legs
            n_fixes += seen
    else:
        await require_city(conn)
    days = await conn.fetchval(queries.RETENTION_DAYS)
    purged = await conn.fetchval(queries.PURGE, days) if days else 0
    return PrepareReport(len(todo), n_legs, n_fixes, int(purged or 0), clock.perf_counter() - began)


@dataclass
class PreparedLegs:
    """Legs and stop visits of some shifts, as rows for whatif_legs and whatif_stop_visits
    (one part of each per shift, in the order of ``counts``)."""

    leg_parts: list[CopyRows] = field(default_factory=list)
    visit_parts: list[CopyRows] = field(default_factory=list)
    counts: list[tuple[str, int, int, int]] = field(default_factory=list)  # (shift, fixes, events, legs)

    @property
    def legs(self) -> CopyRows:
        return CopyRows.concat(self.leg_parts)

    @property
    def visits(self) -> CopyRows:
        return CopyRows.concat(self.visit_parts)

    def only(self, shift_ids: set[str]) -> PreparedLegs:
        keep = [i for i, c in enumerate(self.counts) if c[0] in shift_ids]
        return PreparedLegs(
            [self.leg_parts[i] for i in keep], [self.visit_parts[i] for i in keep], [self.counts[i] for i in keep]
        )

    def add(self, city: City, plans: Plans, shift, fixes: Fixes, events: DeviceEvents) -> None:
        plan = plan_index(plans, shift["route_id"], shift["route_version"])
        legs, stops, first = prepare_shift(city, plans, plan, fixes, events)
        self.leg_parts.append(_leg_records(shift["shift_id"], legs, city))
        fields = [
            text(np.zeros(len(stops), dtype=np.int64), [shift["shift_id"]]),
            fixed("int4", plans.stop_seq[stops]),
            timestamps(first),
        ]
        self.visit_parts.append(CopyRows.of(**dict(zip(queries.VISIT_COLUMNS, fields))))
        self.counts.append((shift["shift_id"], len(fixes), len(events), len(legs)))


def prepare_batch(city: City, plans: Plans, shifts, fixes: Fixes, events: DeviceEvents) -> PreparedLegs:
    """Legs of a rollup batch: ``fixes.vehicle`` and ``events.vehicle`` are positions in ``shifts``."""
    prepared = PreparedLegs()
    bounds = np.searchsorted(fixes.vehicle, np.arange(len(shifts) + 1))
    ebounds = np.searchsorted(events.vehicle, np.arange(len(shifts) + 1))
    for i, shift in enumerate(shifts):
        one = _track(fixes, bounds[i], bounds[i + 1])
        prepared.add(city, plans, shift, one, _track(events, ebounds[i], ebounds[i + 1]))
    return prepared


def _track(columns, a: int, b: int):
    """Rows [a, b) of Fixes or DeviceEvents as track 0, as prepare_shift expects one shift."""
    rows = {f.name: getattr(columns, f.name)[a:b] for f in fields(columns)}
    return replace(columns, **rows | {"vehicle": np.zeros(b - a, dtype=np.int32)})


async def store_prepared(conn: asyncpg.Connection, prepared: PreparedLegs) -> None:
    """Replace the shifts' legs and visits (call inside a transaction)."""
    ids = [c[0] for c in prepared.counts]
    if not ids:
        return
    await replace_shift_rows(conn, "whatif_legs", ("shift_id", "leg"), queries.LEG_COLUMNS, ids, prepared.legs)
    await replace_shift_rows(
        conn, "whatif_stop_visits", ("shift_id", "stop_seq"), queries.VISIT_COLUMNS, ids, prepared.visits
    )
    await conn.execute(queries.UPSERT_PREPARED, *(list(c) for c in zip(*prepared.counts)))


async def _prepare_one(conn: asyncpg.Connection, city: City, plans: Plans, shift) -> tuple[int, int, int]:
    window = (shift["vehicle_id"], shift["starts_at"], shift["ends_at"])
    table = await copy_table(conn, queries.SHIFT_FIXES, *window, column_types=FIX_TYPES)
    n = table.num_rows
    fixes = Fixes.from_columns(
        {
            "vehicle": np.zeros(n, dtype=np.int32),
            "t": table["t"].to_numpy(),
            "lon": table["lon"].to_numpy(),
            "lat": table["lat"].to_numpy(),
            "speed": table["speed_mps"].to_numpy(zero_copy_only=False),
            "heading": table["heading_deg"].to_numpy(zero_copy_only=False),
            "hdop": table["hdop"].to_numpy(zero_copy_only=False),
        }
    )
    ev = await conn.fetch(queries.SHIFT_EVENTS, *window)
    events = DeviceEvents.from_columns(
        {
            "vehicle": np.zeros(len(ev), dtype=np.int32),
            "t": np.array([r["t"] for r in ev], dtype=np.int64),
            "kind": np.array([r["kind"] for r in ev], dtype=str),
        }
    )
    prepared = PreparedLegs()
    prepared.add(city, plans, shift, fixes, events)
    async with conn.transaction():
        await store_prepared(conn, prepared)
    return prepared.counts[0][3], len(prepared.visits), n


def _leg_records(shift_id: str, legs: ShiftLegs, city: City) -> CopyRows:
    """whatif_legs rows of one shift, column by column (a Python loop per leg was most of the legs' cost)."""
    n = len(legs)
    segments, segment_of_leg = np.unique(np.where(legs.segment >= 0, legs.segment + 1, 0), return_inverse=True)
    facilities, facility_of_leg = np.unique(np.where(legs.facility >= 0, legs.facility + 1, 0), return_inverse=True)
    seg_ids, fac_ids = city.network.segment_ids, city.facilities.facility_ids
    fields = [
        text(np.zeros(n, dtype=np.int64), [shift_id]),
        fixed("int4", np.arange(n)),
        text(legs.kind, LEG_KINDS),
        text(segment_of_leg.reshape(-1), [str(seg_ids[s - 1]) if s else None for s in segments.tolist()]),
        fixed("bool", legs.forward.astype(bool)),
        text(facility_of_leg.reshape(-1), [str(fac_ids[f - 1]) if f else None for f in facilities.tolist()]),
        timestamps(legs.t0.astype(np.float64)),
        fixed("float4", legs.duration_s.astype(np.float64)),
        fixed("float4", legs.moving_s.astype(np.float64)),
        fixed("float4", legs.length_m.astype(np.float64)),
        fixed("float4", np.nan_to_num(legs.max_speed_mps).astype(np.float64)),  # as the scalar was
        *(fixed("int2", legs.events[:, k].astype(np.int64)) for k in range(len(EVENT_KINDS))),
    ]
    return CopyRows.of(**dict(zip(queries.LEG_COLUMNS, fields)))
