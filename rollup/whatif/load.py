"""Loading a what-if ``History`` from the database (the pure layer does the rest).

Bulk columns (legs, stop visits, a shift's fixes) travel with COPY … CSV and are parsed
column-wise by pyarrow: per-row Python objects would cost more than the analysis itself.

A process keeps what it built (docs/whatif.md, "Speed"): the city per city version, and the
last few Histories per key of everything they were read from (``queries.HISTORY_KEY``), so a
second question over the same month skips the load while a rollup that rewrote any of its
shifts, a plan or the city makes the next one load again. Kept arrays are read-only.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import OrderedDict
from dataclasses import fields, is_dataclass
from datetime import date, datetime

import asyncpg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from pyarrow import csv

from fleetpilot.analytics.activity import Geofences
from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.matching import LineIndex
from fleetpilot.analytics.whatif.assemble import (
    City,
    ShiftRecord,
    build_city_of,
    build_history,
    build_plans,
    plan_index,
)
from fleetpilot.analytics.whatif.history import EVENT_KINDS, LEG_KINDS, History, Plans, csr_rows
from fleetpilot.analytics.whatif.legs import ShiftLegs
from fleetpilot.analytics.whatif.result import EPOCH
from fleetpilot.db.copyout import copy_bytes
from fleetpilot.errors import FleetpilotError
from fleetpilot.localtime import day_bounds
from fleetpilot.rollup import geojson, street_index
from fleetpilot.rollup.whatif import queries


class NoCity(FleetpilotError, LookupError):
    """No street network has been imported yet."""


def utc_bounds(start: date, end: date, tz: str = "UTC") -> tuple[datetime, datetime]:
    """[start, end) local days of `tz` as UTC instants (fleetpilot.localtime.day_bounds)."""
    return day_bounds(start, end, tz)


async def copy_table(conn: asyncpg.Connection, query: str, *args, column_types: dict | None = None) -> pa.Table:
    """The rows of ``query`` as a pyarrow table, through COPY … TO STDOUT (CSV)."""
    buffer = io.BytesIO(await copy_bytes(conn, query, *args, format="csv", header=True))
    options = csv.ConvertOptions(
        column_types=column_types or {}, strings_can_be_null=True, true_values=["t"], false_values=["f"]
    )
    return csv.read_csv(buffer, convert_options=options)


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


# Per process: cities by (database, city version) and Histories by HISTORY_KEY. A month of a
# 50-truck fleet is ~60 MB of arrays; a server asked about a few periods keeps the last ones.
CITIES_KEPT = 4
HISTORIES_KEPT = 2
_cities: OrderedDict[tuple, City] = OrderedDict()
_histories: OrderedDict[tuple, tuple[History, int]] = OrderedDict()


def forget_cached() -> None:
    """Drop every kept city and History (the bench's cold answers; tests)."""
    _cities.clear()
    _histories.clear()


def _remember(kept: OrderedDict, key: tuple, value, limit: int) -> None:
    kept[key] = value
    kept.move_to_end(key)
    while len(kept) > limit:
        kept.popitem(last=False)


def _read_only(value) -> None:
    """Make every array of a kept History (or City) read-only: answers share it, and a kernel
    that wrote into one would change the next answer; numpy refuses the write instead."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            _read_only(getattr(value, f.name))


async def load_city(
    conn: asyncpg.Connection,
    *,
    index: bool = False,
    built: LineIndex | None = None,
    built_geofences: Geofences | None = None,
) -> City:
    """The city; ``index`` also builds the matching indexes (needed only to prepare legs), or
    takes ``built``/``built_geofences`` (the rollup's) when built over the same streets and sites.
    Without ``index`` the city is built once per city version and kept."""
    if index:
        return await _read_city(conn, index=True, built=built, built_geofences=built_geofences)
    db, version = await conn.fetchrow(queries.CITY_VERSION)
    if version is None:  # no version row: nothing to key a kept city by
        return await _read_city(conn)
    key = (db, version)
    if key in _cities:
        _cities.move_to_end(key)
        return _cities[key]
    city = await _read_city(conn)
    _read_only(city.network)
    _read_only(city.facilities)
    _remember(_cities, key, city, CITIES_KEPT)
    return city


async def _read_city(
    conn: asyncpg.Connection,
    *,
    index: bool = False,
    built: LineIndex | None = None,
    built_geofences: Geofences | None = None,
) -> City:
    rows = await read_city_rows(conn)
    streets = rows[0]
    # Geometry as GeoJSON text, parsed by shapely in one call (a jsonb value decoded into
    # Python lists, then a LineString each, was ~0.6 s of CPU for a 32,576-street city).
    lines = geojson.parsed([r["g"] for r in streets])
    if index and built is None:  # the rollup's stored index, when built in the same frame
        coords = shapely.get_coordinates(lines)
        frame = LocalFrame.around(coords[:, 0], coords[:, 1])
        key = street_index.key(frame, ((r["segment_id"], r["g"]) for r in streets))
        built = await street_index.load(conn, key, [r["segment_id"] for r in streets], frame)
    return city_of_rows(rows, index=index, built=built, built_geofences=built_geofences, lines=lines)


async def read_city_rows(conn: asyncpg.Connection) -> tuple[list, list]:
    """The streets and facilities the City is built from (``city_of_rows``)."""
    streets = await conn.fetch(queries.STREETS)
    if not streets:
        raise NoCity("no street network imported yet (fleetpilot import-plan <folder>)")
    return list(streets), list(await conn.fetch(queries.FACILITIES))


def city_of_rows(
    rows: tuple[list, list],
    *,
    index: bool = False,
    built: LineIndex | None = None,
    built_geofences: Geofences | None = None,
    lines: np.ndarray | None = None,
) -> City:
    """The City of ``read_city_rows``' rows (CPU only); ``lines``: the streets' geometry parsed."""
    streets, facilities = rows
    return build_city_of(
        [r["segment_id"] for r in streets],
        [r["road_class"] for r in streets],
        [r["speed_limit_kmh"] for r in streets],
        geojson.parsed([r["g"] for r in streets]) if lines is None else lines,
        [r["facility_id"] for r in facilities],
        [r["facility_type"] for r in facilities],
        shapely.from_geojson([r["g"] for r in facilities]) if facilities else np.array([], dtype=object),
        index=index,
        built=built,
        built_geofences=built_geofences,
    )


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
    "leg": pa.int64(),
}


def _in_order(table: pa.Table, shift_ids: list[str], then: str) -> tuple[pa.Table, np.ndarray]:
    """The rows of the shifts in ``shift_ids`` ordered by that list, then by column ``then``, and
    their shift positions. COPY reads them unsorted: a month's sort in PostgreSQL spilled to disk."""
    shift = _codes(table["shift_id"], {s: i for i, s in enumerate(shift_ids)})
    order = np.lexsort((table[then].to_numpy(zero_copy_only=False), shift))
    order = order[shift[order] >= 0]
    return table.take(pa.array(order)), shift[order]


def legs_per_shift(table: pa.Table, shift_ids: list[str], city: City) -> list[ShiftLegs]:
    """Split the legs table (any order; other shifts' legs are dropped) into one ShiftLegs per shift id."""
    table, shift = _in_order(table, shift_ids, "leg")
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
    of the API's release rule); the total then counts only them too. The History is shared
    with later calls over the same data (read-only arrays; see the module's docstring)."""
    lo, hi = utc_bounds(start, end, tz)
    wanted = None if only is None else sorted(only)
    row = await conn.fetchrow(queries.HISTORY_KEY, lo, hi, wanted)
    released = None if wanted is None else hashlib.sha256("\n".join(wanted).encode()).hexdigest()
    key = (start, end, tz, released, *row.values())
    if row["city"] is not None and key in _histories:
        _histories.move_to_end(key)
        return _histories[key]
    loaded = await _read_history(conn, start, end, tz, only)
    if row["city"] is not None:
        _read_only(loaded[0])
        _remember(_histories, key, loaded, HISTORIES_KEPT)
    return loaded


async def _read_history(
    conn: asyncpg.Connection, start: date, end: date, tz: str, only: frozenset[str] | None
) -> tuple[History, int]:
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
    legs = legs_per_shift(await copy_table(conn, queries.LEGS_COPY, lo, hi, column_types=LEG_TYPES), shift_ids, city)
    visits = visits_per_shift(
        await copy_table(conn, queries.VISITS_COPY, lo, hi, column_types=VISIT_TYPES), records, plans
    )
    if only is not None:
        total = len(only)
    else:
        total = await conn.fetchval("SELECT count(*) FROM shifts WHERE starts_at >= $1 AND starts_at < $2", lo, hi)
    period = ((start - EPOCH).days, (end - EPOCH).days - 1)
    return build_history(city, plans, records, legs, visits, tz, period), int(total)


VISIT_TYPES = {"shift_id": pa.string(), "stop_seq": pa.int64(), "t": pa.float64()}


def visits_per_shift(table: pa.Table, records: list[ShiftRecord], plans: Plans) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per shift: (plan-global stop index, UTC s) of the stops it served, in plan order (as
    prepare stored them). The table is in any order; visits of other shifts, or of stops not in
    the shift's plan, are dropped."""
    table, shift = _in_order(table, [r.shift_id for r in records], "stop_seq")
    seq = table["stop_seq"].to_numpy(zero_copy_only=False).astype(np.int64)
    t = table["t"].to_numpy(zero_copy_only=False).astype(np.float64)
    plan_of = np.array([plan_index(plans, r.route_id, r.route_version) for r in records] + [-1], dtype=np.int64)
    plan = plan_of[shift]  # shift -1 (not kept) takes the trailing -1: no plan
    # A stop is (plan, seq): look every visit's pair up among the plans' stops, sorted by that key.
    stop_plan = csr_rows(plans.stop_offsets).astype(np.int64)
    span = int(max(plans.stop_seq.max(initial=0), seq.max(initial=0))) + 1
    stop_key = stop_plan * span + plans.stop_seq.astype(np.int64)
    order = np.argsort(stop_key, kind="stable")
    visit_key = plan * span + seq
    at = np.minimum(np.searchsorted(stop_key[order], visit_key), max(len(order) - 1, 0))
    found = (plan >= 0) & (len(order) > 0)
    if len(order):
        found &= stop_key[order][at] == visit_key
    stop = order[at] if len(order) else np.zeros(len(seq), dtype=np.int64)
    keep = np.flatnonzero(found)
    bounds = np.searchsorted(shift[keep], np.arange(len(records) + 1))
    return [(stop[keep[a:b]].astype(np.int64), t[keep[a:b]]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
