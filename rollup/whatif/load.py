"""Loading a what-if ``History`` from the database (the pure layer does the rest).

Bulk columns (legs, a shift's fixes) travel with COPY … CSV and are parsed column-wise by
pyarrow: per-row Python objects would cost more than the analysis itself.
"""

from __future__ import annotations

import io
import json
from datetime import date, datetime

import asyncpg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv

from fleetpilot.analytics.activity import Geofences
from fleetpilot.analytics.matching import LineIndex
from fleetpilot.analytics.whatif.assemble import City, ShiftRecord, build_city, build_history, build_plans, plan_index
from fleetpilot.analytics.whatif.history import EVENT_KINDS, LEG_KINDS, History, Plans
from fleetpilot.analytics.whatif.legs import ShiftLegs
from fleetpilot.analytics.whatif.result import EPOCH
from fleetpilot.errors import FleetpilotError
from fleetpilot.localtime import day_bounds
from fleetpilot.rollup.whatif import queries


class NoCity(FleetpilotError, LookupError):
    """No street network has been imported yet."""


def utc_bounds(start: date, end: date, tz: str = "UTC") -> tuple[datetime, datetime]:
    """[start, end) local days of `tz` as UTC instants (fleetpilot.localtime.day_bounds)."""
    return day_bounds(start, end, tz)


async def copy_table(conn: asyncpg.Connection, query: str, *args, column_types: dict | None = None) -> pa.Table:
    """The rows of ``query`` as a pyarrow table, through COPY … TO STDOUT (CSV)."""
    buffer = io.BytesIO()
    await conn.copy_from_query(query, *args, output=buffer, format="csv", header=True)
    buffer.seek(0)
    options = csv.ConvertOptions(
        column_types=column_types or {}, strings_can_be_null=True, true_values=["t"], false_values=["f"]
    )
    return csv.read_csv(buffer, convert_options=options)


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


async def load_city(
    conn: asyncpg.Connection,
    *,
    index: bool = False,
    built: LineIndex | None = None,
    built_geofences: Geofences | None = None,
) -> City:
    """The city; ``index`` also builds the matching indexes (needed only to prepare legs), or
    takes ``built``/``built_geofences`` (the rollup's) when built over the same streets and sites."""
    streets = [
        (r["segment_id"], r["road_class"], r["speed_limit_kmh"], _json(r["geometry"])["coordinates"])
        for r in await conn.fetch(queries.STREETS)
    ]
    facilities = [
        (r["facility_id"], r["facility_type"], _json(r["geometry"])["coordinates"])
        for r in await conn.fetch(queries.FACILITIES)
    ]
    if not streets:
        raise NoCity("no street network imported yet (fleetpilot import-plan <folder>)")
    return build_city(streets, facilities, index=index, built=built, built_geofences=built_geofences)


async def require_city(conn: asyncpg.Connection) -> None:
    """NoCity unless a street network is imported (what load_city checks, without building)."""
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM street_segments)"):
        raise NoCity("no street network imported yet (fleetpilot import-plan <folder>)")


async def load_plans(conn: asyncpg.Connection, city: City, start: datetime, end: datetime) -> Plans:
    return await load_plans_of(conn, city, sorted(await plan_keys(conn, start, end)))


async def plan_keys(conn: asyncpg.Connection, start: datetime, end: datetime) -> frozenset[tuple[str, int]]:
    """(route, version) of the plans driven by shifts starting in [start, end), and the current ones."""
    return frozenset((k["route_id"], k["version"]) for k in await conn.fetch(queries.PLAN_KEYS, start, end))


async def load_plans_of(conn: asyncpg.Connection, city: City, keys: list[tuple[str, int]]) -> Plans:
    routes, versions = [k[0] for k in keys], [k[1] for k in keys]
    segments = [tuple(r) for r in await conn.fetch(queries.PLAN_SEGMENTS, routes, versions)]
    stops = [tuple(r) for r in await conn.fetch(queries.PLAN_STOPS, routes, versions)]
    return build_plans(city, segments, stops)


def _codes(column: pa.ChunkedArray, index: dict[str, int]) -> np.ndarray:
    """Map a string column to integer codes through ``index`` (-1 for null or unknown)."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    lookup = np.array([index.get(str(v), -1) for v in encoded.dictionary.to_pylist()] + [-1], dtype=np.int64)
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    indices = np.where(encoded.indices.is_null().to_numpy(zero_copy_only=False), len(lookup) - 1, indices)
    return lookup[indices.astype(np.int64)]


LEG_TYPES = {
    "shift_id": pa.string(),
    "segment_id": pa.string(),
    "facility_id": pa.string(),
    "kind": pa.string(),
    "forward": pa.bool_(),
}


def legs_per_shift(table: pa.Table, shift_ids: list[str], city: City) -> list[ShiftLegs]:
    """Split the legs table (ordered by shift, leg) into one ShiftLegs per shift id."""
    shift = _codes(table["shift_id"], {s: i for i, s in enumerate(shift_ids)})
    kind = _codes(table["kind"], {k: i for i, k in enumerate(LEG_KINDS)})
    segment = _codes(table["segment_id"], city.network.index())
    facility = _codes(table["facility_id"], city.facilities.index())

    def col(name: str) -> np.ndarray:
        return table[name].to_numpy(zero_copy_only=False).astype(np.float64)

    forward = table["forward"].to_numpy(zero_copy_only=False).astype(bool)
    events = (
        np.column_stack([table[k].to_numpy(zero_copy_only=False) for k in EVENT_KINDS]).astype(np.int32)
        if table.num_rows
        else np.zeros((0, len(EVENT_KINDS)), dtype=np.int32)
    )
    columns = {
        "t0": col("t0"),
        "duration_s": col("duration_s"),
        "moving_s": col("moving_s"),
        "length_m": col("length_m"),
        "max_speed_mps": col("max_speed_mps"),
    }
    bounds = np.searchsorted(shift, np.arange(len(shift_ids) + 1))
    out = []
    for i in range(len(shift_ids)):
        a, b = bounds[i], bounds[i + 1]
        out.append(
            ShiftLegs(
                kind=kind[a:b].astype(np.int8),
                segment=segment[a:b].astype(np.int32),
                facility=facility[a:b].astype(np.int32),
                forward=forward[a:b],
                events=events[a:b],
                **{k: v[a:b] for k, v in columns.items()},
            )
        )
    return out


async def load_history(
    conn: asyncpg.Connection, start: date, end: date, tz: str = "UTC", only: frozenset[str] | None = None
) -> tuple[History, int]:
    """The prepared shifts starting in [start, end) as a History, and how many shifts the
    period has in all (prepared or not). `only`: keep just these shifts (the released ones
    of the API's release rule); the total then counts only them too."""
    lo, hi = utc_bounds(start, end, tz)
    city = await load_city(conn)
    plans = await load_plans(conn, city, lo, hi)
    rows = await conn.fetch(queries.PREPARED_SHIFTS, lo, hi)
    if only is not None:
        rows = [r for r in rows if r["shift_id"] in only]
    records = [
        ShiftRecord(
            r["shift_id"],
            r["vehicle_id"],
            r["route_id"],
            r["route_version"],
            r["start_s"],
            r["end_s"],
            tuple(r["crew"]),
        )
        for r in rows
    ]
    shift_ids = [r.shift_id for r in records]
    table = await copy_table(conn, queries.LEGS_COPY, lo, hi, column_types=LEG_TYPES)
    known = pc.is_in(table["shift_id"], value_set=pa.array(shift_ids, pa.string())) if shift_ids else None
    table = table.filter(known) if known is not None else table.slice(0, 0)
    legs = legs_per_shift(table, shift_ids, city)
    visits = _visits(await conn.fetch(queries.VISITS, lo, hi), records, plans)
    if only is not None:
        total = len(only)
    else:
        total = await conn.fetchval("SELECT count(*) FROM shifts WHERE starts_at >= $1 AND starts_at < $2", lo, hi)
    period = ((start - EPOCH).days, (end - EPOCH).days - 1)
    return build_history(city, plans, records, legs, visits, tz, period), int(total)


def _visits(rows, records: list[ShiftRecord], plans: Plans) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per shift: (plan-global stop index, UTC s) of the stops it served."""
    position = {r.shift_id: i for i, r in enumerate(records)}
    stop_of: dict[tuple[int, int], int] = {}
    for p in range(plans.size):
        stops = plans.stops_of(p)
        for k in range(stops.start, stops.stop):
            stop_of[(p, int(plans.stop_seq[k]))] = k
    plan_of = [plan_index(plans, r.route_id, r.route_version) for r in records]
    per_shift: list[tuple[list, list]] = [([], []) for _ in records]
    for row in rows:
        i = position.get(row["shift_id"])
        if i is None:
            continue
        k = stop_of.get((plan_of[i], row["stop_seq"]))
        if k is not None:
            per_shift[i][0].append(k)
            per_shift[i][1].append(row["t"])
    return [(np.array(a, dtype=np.int64), np.array(t, dtype=np.float64)) for a, t in per_shift]
