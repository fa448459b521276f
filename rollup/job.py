"""The rollup job: raw fixes and events → per-shift analytics rollups.

Work is found, not scheduled: a shift is computed when it has ended and has no
shift_metrics row, or when the ingest marked one of its vehicle-days stale in
rollup_dirty (late data). Each batch of shifts is loaded in columnar form, analysed by
``fleetpilot.analytics.pipeline.analyse`` and its rows in shift_metrics, shift_events,
cell_exposure, segment_exposure and shift_tracks (the simplified route driven) are replaced
in one transaction, so a second run
changes nothing and a late batch recomputes only the shifts it touched. Then the day/week
blocks of the days whose exposure changed are rebuilt, and the known hotspots (street
segments significant over the last 90 days, which the driver's view marks) are rejudged when
exposure, the day or k changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import time
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import asyncpg
import numpy as np
import shapely

from fleetpilot.analytics.columns import DeviceEvents, Fixes
from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.matching import CELL_M, RADIUS_M, LineIndex
from fleetpilot.db.arrays import fetch_grouped
from fleetpilot.db.importer import init_codecs
from fleetpilot.db.maintenance import refresh_time_rollups
from fleetpilot.event_kinds import SAFETY
from fleetpilot.localtime import today
from fleetpilot.rollup import geojson, queue, street_index
from fleetpilot.rollup.blocks import refresh_blocks
from fleetpilot.rollup.replace import replace_shift_rows
from fleetpilot.settings import get_settings

if TYPE_CHECKING:
    from fleetpilot.analytics.pipeline import City
    from fleetpilot.analytics.whatif import assemble as whatif_assemble
    from fleetpilot.analytics.whatif.history import Plans
    from fleetpilot.rollup.compute import Rows

# What a batch's analysis needs, and what the run's end needs, imported in a thread while the
# first batch is read (together ~1 s of a process's start: scipy's modules mostly).
HEAVY = ("fleetpilot.rollup.compute", "fleetpilot.rollup.whatif.load", "fleetpilot.rollup.known")
FRAME_KEY = "analytics_frame"  # fleetpilot_meta: "lon0,lat0" fixed at the first rollup
ZONE_KEY = "rollup_timezone"  # fleetpilot_meta: the zone whose local days the rollups are filed under

# Fixes of a batch of shifts; `track` is the shift's position; NULLs as NaN, so every value has
# one size. As rows, for a binary COPY (fleetpilot.db.copyout): the bench's limit reads them so.
# No ORDER BY: each shift's index scan already yields time order and sorting them again cost
# the server ~40 % of the read (EXPLAIN ANALYZE: Incremental Sort on s.ord, f.ts); _read_batch
# checks the order and sorts in numpy only when a shift spans partitions out of order.
BATCH_FIXES = """
SELECT s.ord::int4 - 1 AS track, f.ts, f.lon, f.lat, coalesce(f.speed_mps, 'NaN')::float4,
       coalesce(f.heading_deg, 'NaN')::float4, coalesce(f.hdop, 'NaN')::float4
FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS s(vehicle_id, starts_at, ends_at, ord)
JOIN fixes f ON f.vehicle_id = s.vehicle_id AND f.ts >= s.starts_at AND f.ts < s.ends_at
"""
# The same fixes, one row per shift with each column's values sent as one bytea
# (fleetpilot.db.arrays: binary COPY's message per row cost the rollup more CPU than the
# server's sending). Within a shift the order is the scan's; _read_batch checks it.
BATCH_FIX_ARRAYS = """
SELECT s.ord::int4 - 1 AS track, x.*
FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS s(vehicle_id, starts_at, ends_at, ord)
CROSS JOIN LATERAL (
    SELECT count(*) AS n, string_agg(timestamptz_send(f.ts), '') AS t,
           string_agg(float8send(f.lon), '') AS lon, string_agg(float8send(f.lat), '') AS lat,
           string_agg(float4send(coalesce(f.speed_mps, 'NaN')), '') AS speed,
           string_agg(float4send(coalesce(f.heading_deg, 'NaN')), '') AS heading,
           string_agg(float4send(coalesce(f.hdop, 'NaN')), '') AS hdop
    FROM fixes f WHERE f.vehicle_id = s.vehicle_id AND f.ts >= s.starts_at AND f.ts < s.ends_at
) x
"""
# JIT compiled each batch's read anew (EXPLAIN ANALYZE: 275 functions, ~0.6 s of a 4.8 s
# 50-shift read at load 15) to save a little per row; the rollup's connection reads without it.
NO_JIT = "SET jit = off"
FIX_WIRE = (
    ("track", "int4"),
    ("t", "timestamptz"),
    ("lon", "float8"),
    ("lat", "float8"),
    ("speed", "float4"),
    ("heading", "float4"),
    ("hdop", "float4"),
)
# The batch's device events, one row per shift as the fixes (fleetpilot.db.arrays).
BATCH_EVENTS = """
SELECT s.ord::int4 - 1 AS track, x.*
FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS s(vehicle_id, starts_at, ends_at, ord)
CROSS JOIN LATERAL (
    SELECT count(*) AS n, string_agg(timestamptz_send(e.ts), '' ORDER BY e.ts, e.kind) AS t,
           string_agg(e.kind, E'\\x1f' ORDER BY e.ts, e.kind) AS kind,
           string_agg(float8send(coalesce(e.lon, 'NaN')), '' ORDER BY e.ts, e.kind) AS lon,
           string_agg(float8send(coalesce(e.lat, 'NaN')), '' ORDER BY e.ts, e.kind) AS lat,
           string_agg(float4send(coalesce(e.magnitude, 'NaN')), '' ORDER BY e.ts, e.kind) AS mag,
           string_agg(float4send(coalesce(e.speed_mps, 'NaN')), '' ORDER BY e.ts, e.kind) AS speed
    FROM events e WHERE e.vehicle_id = s.vehicle_id AND e.ts >= s.starts_at AND e.ts < s.ends_at
) x
"""
EVENT_WIRE = (
    ("t", "timestamptz"),
    ("kind", "text"),
    ("lon", "float8"),
    ("lat", "float8"),
    ("mag", "float4"),
    ("speed", "float4"),
)
STREET_NAMES = "SELECT segment_id, name FROM street_segments WHERE name IS NOT NULL"
PLANNED_SEGMENTS = """
SELECT route_id, version, array_agg(segment_id ORDER BY seq) AS segments
FROM route_segments WHERE service GROUP BY route_id, version
"""
INSERT_METRICS = """
INSERT INTO shift_metrics (shift_id, vehicle_id, route_id, day, fixes, distance_m, on_route_m, deadhead_m,
    collection_s, deadhead_s, facility_s, break_s, idle_s, stops, dwell_mean_s, turnaround_s, coverage,
    missed_segments, no_data_segments, metrics, stop_points)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20::text::jsonb,
        $21::text::jsonb)
"""
# JSON as text (rollup/compute.py writes it with orjson in the analysing thread); the events of
# a batch in one statement, column by column (a row per event cost ~30 µs of the event loop).
INSERT_EVENTS = """
INSERT INTO shift_events (shift_id, ts, kind, source, lon, lat, magnitude, speed_before, speed_after, context)
SELECT shift_id, ts, kind, source, lon, lat, magnitude, speed_before, speed_after, context::jsonb
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::float4[],
            $8::float4[], $9::float4[], $10::text[])
     AS e(shift_id, ts, kind, source, lon, lat, magnitude, speed_before, speed_after, context)
ON CONFLICT (shift_id, ts, kind) DO NOTHING
"""
# Each shift's safety moments as stored, for the crew's shift list and trends (they counted
# them per shift and request: ~60 % of those queries' buffers, EXPLAIN (ANALYZE, BUFFERS)).
COUNT_SAFETY = """
UPDATE shift_metrics m SET safety_events = (
    SELECT count(*) FROM shift_events e WHERE e.shift_id = m.shift_id AND e.kind = ANY ($2::text[]))
WHERE m.shift_id = ANY ($1::text[])
"""
SAFETY_KINDS = list(SAFETY)


@dataclass(frozen=True)
class RollupResult:
    shifts: int
    fixes: int
    events: int
    cleared_marks: int
    block_days: int = 0  # days whose hotspot blocks were rebuilt
    known_hotspots: int | None = None  # segments marked known, when recomputed (exposure, day or k changed)
    stages_s: dict[str, float] = field(default_factory=dict)  # wall seconds per stage (bench rollup)
    stages_cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds per stage


class Stages(dict):
    """Wall seconds per stage of a run, summed over its batches; ``cpu``: the CPU seconds of
    the thread that ran each (pipelined stages overlap in wall time, their CPU does not)."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu: dict[str, float] = {}

    @contextmanager
    def timed(self, name: str):
        began, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + time.perf_counter() - began
            self.cpu[name] = self.cpu.get(name, 0.0) + time.thread_time() - cpu


async def load_city(conn: asyncpg.Connection) -> City | None:
    """The analytics context from street_segments and facilities, or None without streets.

    The projection centre is stored on first use so that grid cell ids stay comparable
    across runs even when streets are added later.
    """
    rows = await read_city(conn)
    return None if rows is None else rows.build()


@dataclass(frozen=True)
class CityRows:
    """What the City is built from, as read: building it (the street index, geofences) is
    CPU only, so the rollup builds it in a thread while it reads its first batch."""

    streets: list
    sites: list
    frame: LocalFrame

    def digest(self) -> bytes:
        """What the City is built from, hashed: a run finding the same as the last keeps its City."""
        h = hashlib.blake2b(digest_size=16)
        h.update(repr((self.frame.lon0, self.frame.lat0)).encode())
        for r in self.streets:
            h.update(f"\x1e{r['segment_id']}\x1f{r['speed_limit_kmh']}\x1f{r['g']}".encode())
        for r in self.sites:
            h.update(f"\x1d{r['facility_id']}\x1f{r['facility_type']}\x1f{r['g']}".encode())
        return h.digest()

    def index_key(self) -> bytes:
        """What the street index is built from, hashed (its key in street_index)."""
        return street_index.key(self.frame, ((r["segment_id"], r["g"]) for r in self.streets))

    def street_ids(self) -> list[str]:
        return [r["segment_id"] for r in self.streets]

    def build(self, street_index: LineIndex | None = None) -> City:
        """The City; ``street_index`` is a stored index of these streets (else it is built)."""
        from fleetpilot.analytics.pipeline import City  # one of HEAVY's: built in a thread

        return City.build(
            self.street_ids(),
            geojson.parsed([r["g"] for r in self.streets]),
            [r["speed_limit_kmh"] for r in self.streets],
            [r["facility_id"] for r in self.sites],
            [r["facility_type"] for r in self.sites],
            shapely.from_geojson([r["g"] for r in self.sites]) if self.sites else np.array([], dtype=object),
            frame=self.frame,
            match_radius_m=RADIUS_M,
            street_index=street_index,
        )


# The last City this process built, by CityRows.digest: the rollup service (``--every``) runs
# every few minutes on the same streets, and the street index is about a third of a first
# rollup's CPU (3.1 s for a 32,576-line city; docs/benchmarks/rollup.md, 2026-12-07).
_built: dict[bytes, City] = {}


async def read_city(conn: asyncpg.Connection) -> CityRows | None:
    """The rows load_city builds the City from (None without streets); stores the frame on first use."""
    streets = await conn.fetch(
        "SELECT segment_id, speed_limit_kmh, geometry::text AS g FROM street_segments ORDER BY segment_id"
    )
    if not streets:
        return None
    sites = await conn.fetch(
        "SELECT facility_id, facility_type, geometry::text AS g FROM facilities ORDER BY facility_id"
    )
    stored = await conn.fetchval("SELECT value FROM fleetpilot_meta WHERE key = $1", FRAME_KEY)
    if stored:
        lon0, lat0 = (float(v) for v in stored.split(","))
        frame = LocalFrame(lon0, lat0)
    else:
        coords = shapely.get_coordinates(shapely.from_geojson([r["g"] for r in streets]))
        frame = LocalFrame.around(coords[:, 0], coords[:, 1])
        await conn.execute(
            "INSERT INTO fleetpilot_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            FRAME_KEY,
            f"{frame.lon0!r},{frame.lat0!r}",
        )
    return CityRows(list(streets), list(sites), frame)


async def prepare_street_index(conn: asyncpg.Connection) -> bool:
    """Build and store the street index of the imported streets unless it is stored (an import's
    last step, so the first rollup loads it); True if it was built."""
    rows = await read_city(conn)
    if rows is None:
        return False
    key = rows.index_key()
    if await conn.fetchval("SELECT 1 FROM street_index WHERE built_from = $1", key):
        return False
    lines = shapely.from_geojson([r["g"] for r in rows.streets])
    index = await asyncio.to_thread(LineIndex.build, rows.street_ids(), lines, rows.frame, RADIUS_M, CELL_M)
    await street_index.store(conn, key, index)
    return True


@dataclass
class Drained:
    """What one worker (or several, summed) computed from the queue."""

    shifts: int = 0
    fixes: int = 0
    events: int = 0
    stages_s: dict[str, float] = field(default_factory=dict)
    stages_cpu_s: dict[str, float] = field(default_factory=dict)

    def add(self, other: Drained) -> None:
        self.shifts += other.shifts
        self.fixes += other.fixes
        self.events += other.events
        for k, v in other.stages_s.items():
            self.stages_s[k] = self.stages_s.get(k, 0.0) + v
        for k, v in other.stages_cpu_s.items():
            self.stages_cpu_s[k] = self.stages_cpu_s.get(k, 0.0) + v


async def run_rollup(
    conn: asyncpg.Connection,
    *,
    recompute_all: bool = False,
    batch_size: int = 50,
    now: datetime | None = None,
    tz: str | None = None,
    whatif: bool = False,
    lease_s: float = queue.LEASE_S,
    drainer: Callable[[], Awaitable[Drained]] | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_queued: Callable[[int], None] | None = None,
    writer: asyncpg.Connection | None = None,
) -> RollupResult:
    """Queue every pending shift (or all ended shifts), compute the queue, then what follows.

    Shifts are filed under the local day of their start in `tz` (default: the settings' city
    zone, fleetpilot.localtime). When the zone differs from the one the stored rollups were
    filed under, every ended shift is recomputed, so days and weeks never mix two clocks.
    With ``whatif`` each batch also prepares its shifts' what-if legs from the fixes it read.
    The queue (rollup/queue.py) is computed by this connection, or by ``drainer`` (e.g. N
    worker processes: `fleetpilot rollup --workers N`); other runs may drain it alongside.
    """
    now = now or datetime.now(timezone.utc)
    tz = tz or get_settings().timezone
    await init_codecs(conn)  # jsonb as Python objects, whatever the connection did before
    stages = Stages()
    zone_changed = await _zone_changed(conn, tz)
    with stages.timed("queue"):
        marks, cleared = await queue.enqueue(conn, now, everything=recompute_all or zone_changed)
    if on_queued is not None:  # the work of this run, for a progress display
        on_queued(await queue.size(conn))
    if drainer is not None:
        done = await drainer()
    else:
        done = await drain(
            conn,
            batch_size=batch_size,
            tz=tz,
            whatif=whatif,
            lease_s=lease_s,
            progress=progress,
            writer=writer,
            idle=_read_known_streets,
        )
    stages.update(done.stages_s)
    if marks:
        first = min(m["day"] for m in marks)
        last = max(m["day"] for m in marks)
        start = datetime(first.year, first.month, first.day, tzinfo=timezone.utc)
        end = datetime(last.year, last.month, last.day, tzinfo=timezone.utc) + timedelta(days=1)
        with stages.timed("time_rollups"):
            await refresh_time_rollups(conn, start, end)
    # Exposure written by any means marks its days stale (migration 0007 triggers).
    with stages.timed("hotspot_blocks"):
        block_days = await refresh_blocks(conn, beside=writer)
    if done.shifts:
        await _set_zone(conn, tz)
    from fleetpilot.rollup.known import refresh_known_hotspots  # HEAVY: imported when the queue was drained

    with stages.timed("known_hotspots"):
        known = await refresh_known_hotspots(conn, today(tz, now), exposure_changed=block_days > 0)
    return RollupResult(
        shifts=done.shifts,
        fixes=done.fixes,
        events=done.events,
        cleared_marks=cleared,
        block_days=block_days,
        known_hotspots=known,
        stages_s=dict(stages),
        stages_cpu_s=dict(stages.cpu) | done.stages_cpu_s,
    )


async def drain(
    conn: asyncpg.Connection,
    *,
    batch_size: int = 50,
    tz: str | None = None,
    whatif: bool = False,
    lease_s: float = queue.LEASE_S,
    worker: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    writer: asyncpg.Connection | None = None,
    idle: Callable[[asyncpg.Connection], Awaitable[object]] | None = None,
) -> Drained:
    """Claim and compute batches until the queue is empty (waiting out other workers' leases).

    Batches are pipelined: while a thread analyses batch k (numpy, shapely and the row
    building: the CPU), this connection writes batch k-1 and claims and reads batch k+1 (the
    server's CPU), so the two cores of a small machine work at once. At most three batches
    are in memory. With a ``writer`` connection, batch k-1 is written on it while this one
    claims and reads batch k+1 (two server backends at once: reading and writing a batch cost
    the server about the same). The city (street index, geofences) is built in a thread while
    the first batch is read. ``progress(shifts, fixes)`` is called after each written batch;
    with a writer, ``idle(conn)`` runs once on this connection when the queue is first found
    empty, while the last batches are analysed and written (run_rollup reads what the known
    hotspots need then)."""
    tz = tz or get_settings().timezone
    worker = worker or queue.worker_name()
    await init_codecs(conn)
    await conn.execute(NO_JIT)
    if writer is not None:
        await init_codecs(writer)
    out = writer or conn
    done = Drained()
    stages = Stages()
    if await queue.wait_s(conn) is None:
        return done
    city_rows = await read_city(conn)
    if city_rows is None:  # no streets yet: the queue waits for them
        return done
    # While this connection claims and reads the first batch, the analytics are imported in a
    # thread and (with a writer) the city is set up on the writer: the server reads as the
    # process starts (docs/benchmarks/rollup.md, "the head of a run").
    imported = asyncio.ensure_future(asyncio.to_thread(_import_heavy))
    legs: LegContext | None = None

    async def fetch(claimed: asyncio.Future[list] | None = None) -> Batch | None:
        shifts = await queue.claim(conn, worker, await queue.claim_size(conn, batch_size), lease_s)
        if claimed is not None:
            claimed.set_result(shifts)
        if not shifts:
            return None
        args = ([s["vehicle_id"] for s in shifts], [s["starts_at"] for s in shifts], [s["ends_at"] for s in shifts])
        with stages.timed("read"):
            fixes, device = await _read_batch(conn, args)
        plans = None
        if legs is not None:
            with stages.timed("whatif_legs"):
                plans = await legs.plans(conn, shifts)
        return Batch(shifts, fixes, device, plans)

    async def write(batch: Batch, computed: Awaitable[Rows], on: asyncpg.Connection | None = None) -> None:
        rows = await computed
        with stages.timed("write"):
            written = await _replace(on or out, worker, [s["shift_id"] for s in batch.shifts], rows)
        done.shifts += written
        done.fixes += len(batch.fixes)
        done.events += len(rows.events)
        if progress is not None:
            progress(written, len(batch.fixes))

    claimed: asyncio.Future[list] = asyncio.get_running_loop().create_future()
    if writer is not None:
        setting_up = asyncio.ensure_future(_setup(writer, city_rows, imported, claimed, whatif, stages))
        try:
            first = await fetch(claimed)
        except BaseException:
            setting_up.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await setting_up
            raise
        ready = await setting_up
    else:
        first = await fetch(claimed)
        ready = await _setup(conn, city_rows, imported, claimed, whatif, stages)
    city, planned, names, legs = ready.city, ready.planned, ready.names, ready.legs
    if first is not None:
        first.plans = ready.first_plans
    from fleetpilot.rollup.compute import compute_batch  # imported above (HEAVY)

    batch = first
    writing: asyncio.Future[None] | None = None  # the writer's batch, written while the next is read
    warming: asyncio.Future[object] | None = None  # idle(conn), once the queue is empty
    warmed = False
    try:
        while True:
            computing: tuple[Batch, asyncio.Future[Rows]] | None = None
            while batch is not None or computing is not None:
                started = None
                if batch is not None:
                    thread = asyncio.to_thread(compute_batch, batch, city, names, planned, tz, stages, legs)
                    started = (batch, asyncio.ensure_future(thread))
                if computing is not None:  # written while the next batch is analysed
                    if writer is None:
                        await write(*computing)
                    elif batch is None:  # the last: this connection reads no more, so it writes it
                        if warming is not None:  # beside the writer's batch (_replace: the two overlap)
                            await warming
                            warming = None
                        await write(*computing, on=conn)
                    else:  # and read: one write at a time on the writer
                        if writing is not None:
                            await writing
                        writing = asyncio.ensure_future(write(*computing))
                batch = await fetch() if started is not None else None  # read while it is analysed
                if batch is None and started is not None and idle is not None and writer is not None and not warmed:
                    warmed, warming = True, asyncio.ensure_future(idle(conn))  # while the writer writes the last
                computing = started
            if writing is not None:
                await writing
                writing = None
            if warming is not None:
                await warming
                warming = None
            wait = await queue.wait_s(conn)
            if wait is None:
                break
            await asyncio.sleep(min(max(wait, 0.05), 1.0))
            batch = await fetch()
    finally:
        if warming is not None and not warming.done():
            warming.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await warming
        if writing is not None and not writing.done():
            writing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writing
    done.stages_s = dict(stages)
    done.stages_cpu_s = dict(stages.cpu)
    return done


def _import_heavy() -> None:
    for name in HEAVY:
        importlib.import_module(name)


@dataclass
class Ready:
    """What a drain needs besides its batches: the city, plans and street names, the what-if
    legs' context, and the plans of the first batch."""

    city: City
    planned: dict
    names: dict[str, str]
    legs: LegContext | None
    first_plans: Plans | None


async def _setup(
    conn: asyncpg.Connection,
    city_rows: CityRows,
    imported: Awaitable[None],
    claimed: Awaitable[list],
    whatif: bool,
    stages: Stages,
) -> Ready:
    """The city (built in a thread from the stored street index, or kept from this process's
    last run), what else the batches need, on ``conn``; the first batch's plans once it is claimed."""
    key = city_rows.digest()
    city = _built.get(key)
    building, stored, index_key = None, None, b""
    if city is None:
        index_key = city_rows.index_key()
        with stages.timed("street_index"):
            stored = await street_index.load(conn, index_key, city_rows.street_ids(), city_rows.frame)
    await imported  # the City is the analytics'
    if city is None:
        building = asyncio.ensure_future(asyncio.to_thread(city_rows.build, stored))
    try:  # read while the city is built
        planned = {(r["route_id"], r["version"]): list(r["segments"]) for r in await conn.fetch(PLANNED_SEGMENTS)}
        names = dict(await conn.fetch(STREET_NAMES))
        legs_rows = None
        if whatif:
            from fleetpilot.rollup.whatif import load as whatif_load  # imported above (HEAVY)

            with stages.timed("whatif_legs"):
                legs_rows = await whatif_load.read_city_rows(conn)
    finally:
        if building is not None:
            city = await building
    if building is not None:
        _built.clear()  # one city per process: the last built
        _built[key] = city
        if stored is None:  # for the next process, worker or machine
            with stages.timed("street_index"):
                await street_index.store(conn, index_key, city.streets)
    legs, first_plans = None, None
    if legs_rows is not None:
        with stages.timed("whatif_legs"):
            legs = LegContext.of(legs_rows, city)
            shifts = await claimed
            if shifts:
                first_plans = await legs.plans(conn, shifts)
    return Ready(city, planned, names, legs, first_plans)


async def _read_known_streets(conn: asyncpg.Connection) -> None:
    """The streets the known hotspots name places with, read and kept (rollup/places.py) while
    the last batches finish: ~0.3 s less after the queue (docs/benchmarks/rollup.md)."""
    from fleetpilot.rollup.places import city_streets

    await city_streets(conn)


async def _zone_changed(conn: asyncpg.Connection, tz: str) -> bool:
    stored = await conn.fetchval("SELECT value FROM fleetpilot_meta WHERE key = $1", ZONE_KEY)
    if stored is None:  # rollups from before the zone was recorded were filed under UTC days
        stored = "UTC" if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM shift_metrics)") else tz
    return stored != tz


async def _set_zone(conn: asyncpg.Connection, tz: str) -> None:
    await conn.execute(
        "INSERT INTO fleetpilot_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2",
        ZONE_KEY,
        tz,
    )


@dataclass
class LegContext:
    """What preparing what-if legs needs besides a batch's rows: the city with its indexes
    (the rollup's own street index and geofences), and the plans of the batches so far."""

    city: whatif_assemble.City
    _plans: Plans | None = None
    _keys: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    async def load(cls, conn: asyncpg.Connection, rollup_city: City) -> LegContext:
        """The legs' city read on ``conn``, with the rollup's street index and geofences."""
        from fleetpilot.rollup.whatif import load as whatif_load  # HEAVY

        return cls.of(await whatif_load.read_city_rows(conn), rollup_city)

    @classmethod
    def of(cls, rows, rollup_city: City) -> LegContext:
        """The legs' city from its rows as read (rollup.whatif.load.read_city_rows), with the
        rollup's street index and geofences."""
        from fleetpilot.rollup.whatif import load as whatif_load  # HEAVY: imported when the run began

        built, geofences = rollup_city.streets, rollup_city.geofences
        return cls(whatif_load.city_of_rows(rows, index=True, built=built, built_geofences=geofences))

    async def plans(self, conn: asyncpg.Connection, shifts) -> Plans:
        """Plans of the batch's shifts: those loaded for an earlier batch when they hold them
        (a plan's legs and visits do not depend on which other plans were loaded)."""
        from fleetpilot.rollup.whatif import load as whatif_load  # HEAVY

        first, last = shifts[0]["starts_at"], max(s["starts_at"] for s in shifts)
        keys = await whatif_load.plan_keys(conn, first, last + timedelta(microseconds=1))
        if self._plans is None or not keys <= self._keys:
            self._keys = self._keys | keys
            self._plans = await whatif_load.load_plans_of(conn, self.city, sorted(self._keys))
        return self._plans


@dataclass
class Batch:
    """A claimed batch of shifts with the fixes and events read for it."""

    shifts: list
    fixes: Fixes
    device: DeviceEvents
    plans: Plans | None


async def _read_batch(conn: asyncpg.Connection, args) -> tuple[Fixes, DeviceEvents]:
    cols = await fetch_grouped(conn, BATCH_FIX_ARRAYS, *args, key="track", count="n", columns=FIX_WIRE[1:])
    key = (cols["track"].astype(np.int64) << 42) + cols["t"]  # t < 2^42 ms (year 2109)
    if len(key) > 1 and (key[1:] < key[:-1]).any():
        order = np.argsort(key, kind="stable")
        cols = {k: v[order] for k, v in cols.items()}
    fixes = Fixes.from_columns({k: v for k, v in cols.items() if k != "track"} | {"vehicle": cols["track"]})
    events = await fetch_grouped(conn, BATCH_EVENTS, *args, key="track", count="n", columns=EVENT_WIRE)
    device = DeviceEvents.from_columns(
        {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in events.items() if k != "track"}
        | {"vehicle": events["track"]}
    )
    return fixes, device


async def _replace(conn, worker: str, shift_ids, rows: Rows) -> int:
    """Replace the rows of the shifts ``worker`` still holds and take them off the queue."""
    metrics, events, cells, segments, tracks, prepared = (
        rows.metrics,
        rows.events,
        rows.cells,
        rows.segments,
        rows.tracks,
        rows.prepared,
    )
    from fleetpilot.rollup.compute import CELL_COLUMNS, CELL_KEY, SEGMENT_COLUMNS, SEGMENT_KEY  # HEAVY
    from fleetpilot.rollup.whatif.prepare import store_prepared  # HEAVY

    async with conn.transaction():
        held = await queue.held(conn, shift_ids, worker)
        if held != set(shift_ids):  # a lease ran out and another worker took some over
            shift_ids = [s for s in shift_ids if s in held]
            metrics, events = [r for r in metrics if r[0] in held], [r for r in events if r[0] in held]
            cells, segments = cells.labels_in("shift_id", held), segments.labels_in("shift_id", held)
            tracks = [r for r in tracks if r[0] in held]
            if prepared is not None:
                prepared = prepared.only(held)
            if not shift_ids:  # every one taken over: nothing of this batch is ours to write
                return 0
        if prepared is not None:  # same transaction: prepared_at = computed_at, nothing left to redo
            await store_prepared(conn, prepared)
        for table in ("shift_metrics", "shift_events", "shift_tracks"):
            await conn.execute(f"DELETE FROM {table} WHERE shift_id = ANY($1::text[])", shift_ids)
        await conn.executemany(INSERT_METRICS, metrics)
        if events:
            await conn.execute(INSERT_EVENTS, *(list(column) for column in zip(*events)))
        await conn.execute(COUNT_SAFETY, shift_ids, SAFETY_KINDS)
        await conn.copy_records_to_table(
            "shift_tracks", records=tracks, columns=["shift_id", "tolerance_m", "fixes", "points", "coordinates"]
        )
        # Most of the writing's server time: only rows that differ are written (rollup/replace.py).
        # Last, the larger first: the exposure triggers hold their days' stale marks locked to
        # the commit (migration 0007), so a batch written beside this one (the drain's last,
        # another worker's) waits there, only for what follows.
        await replace_shift_rows(conn, "cell_exposure", CELL_KEY, CELL_COLUMNS, shift_ids, cells)
        await replace_shift_rows(conn, "segment_exposure", SEGMENT_KEY, SEGMENT_COLUMNS, shift_ids, segments)
        await queue.finish(conn, shift_ids, worker)
    return len(shift_ids)
