"""Preparing what-if legs: each finished shift's fixes and events → legs and stop visits.

Run by `fleetpilot whatif prepare` (after ingest and the rollup job). A shift is prepared
once, and again when the rollup recomputed the shift after that (late data: the rollup
recomputes a marked vehicle-day's shifts, and their legs follow); ``recompute`` redoes every
shift in the range. The same run
removes legs of shifts older than the retention period, like raw fixes.
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass
from datetime import date, datetime, timezone

import asyncpg
import numpy as np
import pyarrow as pa

from fleetpilot.analytics.columns import DeviceEvents, Fixes
from fleetpilot.analytics.whatif.assemble import City, plan_index, prepare_shift
from fleetpilot.analytics.whatif.history import EVENT_KINDS, LEG_KINDS, Plans
from fleetpilot.analytics.whatif.legs import ShiftLegs
from fleetpilot.rollup.whatif import queries
from fleetpilot.rollup.whatif.load import copy_table, load_city, load_plans, utc_bounds

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
    city = await load_city(conn, index=True)
    plans = await load_plans(conn, city, lo, hi)
    todo = await conn.fetch(queries.TO_PREPARE, lo, hi, recompute)
    n_legs = n_fixes = 0
    for shift in todo:
        legs, stops, seen = await _prepare_one(conn, city, plans, shift)
        n_legs += legs
        n_fixes += seen
    days = await conn.fetchval(queries.RETENTION_DAYS)
    purged = await conn.fetchval(queries.PURGE, days) if days else 0
    return PrepareReport(len(todo), n_legs, n_fixes, int(purged or 0), clock.perf_counter() - began)


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
    plan = plan_index(plans, shift["route_id"], shift["route_version"])
    legs, stops, first = prepare_shift(city, plans, plan, fixes, events)
    async with conn.transaction():
        await conn.execute(queries.DELETE_LEGS, shift["shift_id"])
        await conn.execute(queries.DELETE_VISITS, shift["shift_id"])
        await conn.copy_records_to_table(
            "whatif_legs", records=_leg_records(shift["shift_id"], legs, city), columns=queries.LEG_COLUMNS
        )
        await conn.copy_records_to_table(
            "whatif_stop_visits",
            columns=queries.VISIT_COLUMNS,
            records=[
                (shift["shift_id"], int(plans.stop_seq[k]), datetime.fromtimestamp(t, timezone.utc))
                for k, t in zip(stops.tolist(), first.tolist())
            ],
        )
        await conn.execute(queries.UPSERT_PREPARED, shift["shift_id"], n, len(ev), len(legs))
    return len(legs), len(stops), n


def _leg_records(shift_id: str, legs: ShiftLegs, city: City) -> list[tuple]:
    seg_ids = city.network.segment_ids
    fac_ids = city.facilities.facility_ids
    records = []
    for i in range(len(legs)):
        s, f = int(legs.segment[i]), int(legs.facility[i])
        records.append(
            (
                shift_id,
                i,
                LEG_KINDS[legs.kind[i]],
                str(seg_ids[s]) if s >= 0 else None,
                bool(legs.forward[i]),
                str(fac_ids[f]) if f >= 0 else None,
                datetime.fromtimestamp(float(legs.t0[i]), timezone.utc),
                float(legs.duration_s[i]),
                float(legs.moving_s[i]),
                float(legs.length_m[i]),
                float(np.nan_to_num(legs.max_speed_mps[i])),
                *(int(legs.events[i, k]) for k in range(len(EVENT_KINDS))),
            )
        )
    return records
