"""The batch writer and the registry against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import pytest
from support import run

from fleetpilot.db.migrate import recorded_mode
from fleetpilot.ingest.batch import Batch
from fleetpilot.ingest.buffer import Inbound
from fleetpilot.ingest.privacy import DAY_MS
from fleetpilot.ingest.registry import Registry
from fleetpilot.ingest.write import BatchWriter, epoch_day, prepare_connection

pytestmark = pytest.mark.integration

T0 = 1_795_132_800_000  # 2026-11-20T00:00Z
DAY = T0 // DAY_MS


def fix_row(vid: str, t: int, seq: int = 1, lon: float = -96.8) -> list:
    return [t, lon, 32.78, 5.5, 90.0, 0.9, False, vid, seq]


def batch_of(fixes=(), events=(), **fields) -> Batch:
    batch = Batch(fixes=[list(f) for f in fixes], events=[list(e) for e in events], **fields)
    batch.days = {(f[7], f[0] // DAY_MS) for f in batch.fixes} | {(e[7], e[0] // DAY_MS) for e in batch.events}
    batch.take(Inbound("t", b"", 1, 1, 1, T0))
    return batch


async def connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await prepare_connection(conn)
    return conn


def test_rows_are_stored_once_however_often_they_arrive(db_url):
    async def scenario():
        conn = await connect(db_url)
        writer = BatchWriter()
        rows = [fix_row("v1", T0 + i * 1000, seq=i // 10) for i in range(50)]
        first = await writer.write(conn, batch_of(rows))
        assert (first.fixes_stored, first.fixes_duplicate) == (50, 0)
        again = await writer.write(conn, batch_of(rows))  # a redelivery: every row already there
        assert (again.fixes_stored, again.fixes_duplicate) == (0, 50)
        overlap = [fix_row("v1", T0 + i * 1000) for i in range(40, 60)]  # half old, half new
        mixed = await writer.write(conn, batch_of(overlap))
        assert (mixed.fixes_stored, mixed.fixes_duplicate) == (10, 10)
        stored = await conn.fetch(
            "SELECT (extract(epoch FROM ts) * 1000)::bigint AS t, lon, speed_mps, seq FROM fixes ORDER BY ts"
        )
        assert [r["t"] for r in stored] == [T0 + i * 1000 for i in range(60)]
        assert stored[0]["lon"] == -96.8 and stored[0]["speed_mps"] == 5.5 and stored[11]["seq"] == 1
        await conn.close()

    run(scenario())


def test_events_are_keyed_by_vehicle_time_and_kind(db_url):
    async def scenario():
        conn = await connect(db_url)
        writer = BatchWriter()
        evs = [
            [T0, "harsh_brake", -96.8, 32.7, 4.2, 9.0, False, "v1", 5],
            [T0, "bin_lift", -96.8, 32.7, 20.0, None, True, "v1", 5],
        ]
        assert (await writer.write(conn, batch_of(events=evs))).events_stored == 2
        result = await writer.write(conn, batch_of(events=evs))
        assert (result.events_stored, result.events_duplicate) == (0, 2)
        rows = await conn.fetch("SELECT kind, magnitude, speed_mps, generalised FROM events ORDER BY kind")
        assert [tuple(r) for r in rows] == [
            ("bin_lift", 20.0, None, True),
            ("harsh_brake", pytest.approx(4.2), 9.0, False),
        ]
        await conn.close()

    run(scenario())


def test_late_data_gets_a_day_partition_and_marks_rollups_stale(db_url):
    async def scenario():
        conn = await connect(db_url)
        writer = BatchWriter()
        late = T0 - 40 * DAY_MS  # outside the partitions the migration created (±7 days)
        await writer.write(conn, batch_of([fix_row("v1", late), fix_row("v2", T0)]))
        if await recorded_mode(conn) == "native":  # TimescaleDB makes a chunk on insert instead
            part = f"fixes_p{epoch_day(late // DAY_MS):%Y%m%d}"
            assert await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", part)
            assert await conn.fetchval("SELECT count(*) FROM fixes_default") == 0
        assert await conn.fetchval("SELECT count(*) FROM fixes WHERE vehicle_id = 'v1'") == 1  # stored, in either mode
        marks = await conn.fetch("SELECT vehicle_id, day FROM rollup_dirty ORDER BY 1")
        assert [(r["vehicle_id"], r["day"]) for r in marks] == [
            ("v1", epoch_day(late // DAY_MS)),
            ("v2", date(2026, 11, 20)),
        ]
        await conn.close()

    run(scenario())


def test_rejects_drops_and_devices_in_the_same_transaction(db_url):
    async def scenario():
        conn = await connect(db_url)
        await conn.execute("INSERT INTO vehicles (vehicle_id, city) VALUES ('v1', 'c')")
        await conn.execute("INSERT INTO devices (device_id, vehicle_id, last_seq) VALUES ('d1', 'v1', 90)")
        writer = BatchWriter()
        batch = batch_of(
            rejects=[(T0, "fleet/c/v1/telemetry", b"\x00bad", "bad_json", "detail", 4, b"h" * 32, "v1")],
            drops={("v1", DAY, "off_duty"): [3, 1], ("v1", DAY, "private_mode"): [2, 0]},
        )
        batch.saw_device("v1", 80, T0 + 5000, online=True, firmware="fw/2")
        await writer.write(conn, batch)
        await writer.write(conn, batch_of(drops={("v1", DAY, "off_duty"): [4, 0]}))
        reject = await conn.fetchrow("SELECT topic, payload, reason, detail, received_at FROM rejects")
        assert (reject["topic"], reject["payload"], reject["reason"]) == (
            "fleet/c/v1/telemetry",
            b"\x00bad",
            "bad_json",
        )
        assert reject["received_at"] // 1000 == T0 * 1000 // 1000 - 946_684_800_000_000 // 1000 + 946_684_800_000
        drops = await conn.fetch("SELECT reason, fixes, events FROM privacy_drops ORDER BY reason")
        assert [tuple(r) for r in drops] == [("off_duty", 7, 1), ("private_mode", 2, 0)]
        device = await conn.fetchrow("SELECT last_seq, online, firmware FROM devices")
        assert tuple(device) == (90, True, "fw/2")  # last_seq only moves forward
        await conn.close()

    run(scenario())


def test_concurrent_writers_with_overlapping_rows_store_each_once(db_url):
    async def scenario():
        writer = BatchWriter()
        conns = [await connect(db_url) for _ in range(4)]
        rows = [fix_row(f"v{i % 5}", T0 + i * 1000) for i in range(2000)]
        # Four batches, each overlapping the next by half, in different orders.
        batches = [batch_of(rows[i * 400 : i * 400 + 800][:: (-1) ** i]) for i in range(4)]
        results = await asyncio.gather(*(writer.write(c, b) for c, b in zip(conns, batches)), return_exceptions=True)
        retried = 0
        for i, result in enumerate(results):  # a deadlock is retried by the worker's DbLink; do the same
            while isinstance(result, asyncpg.exceptions.DeadlockDetectedError):
                retried += 1
                result = await writer.write(conns[i], batches[i])
            assert not isinstance(result, BaseException), result
        assert await conns[0].fetchval("SELECT count(*) FROM fixes") == 2000
        assert await conns[0].fetchval("SELECT count(DISTINCT (vehicle_id, ts)) FROM fixes") == 2000
        for c in conns:
            await c.close()

    run(scenario())


def test_registry_loads_vehicles_shifts_zones_and_settings(db_url):
    async def scenario():
        conn = await asyncpg.connect(db_url)
        await conn.execute("INSERT INTO vehicles (vehicle_id, city) VALUES ('v1', 'c1'), ('v2', 'c1'), ('v3', 'c2')")
        await conn.execute(
            "INSERT INTO shifts (shift_id, vehicle_id, starts_at, ends_at) VALUES "
            "('s1', 'v1', now() - interval '2 hours', now() - interval '1 hour'), "
            "('s2', 'v1', now() - interval '90 minutes', now()), "
            "('old', 'v1', now() - interval '200 days', now() - interval '199 days')"
        )
        await conn.execute("INSERT INTO privacy_zones (name, lon, lat, radius_m) VALUES ('home', -96.8, 32.7, 50)")
        await conn.execute("UPDATE privacy_settings SET zone_policy = 'drop', retention_days = 30")
        registry = Registry("c1")
        await registry.load(conn)
        assert registry.windows("v3") is None and registry.windows("nope") is None
        assert len(registry.windows("v2")) == 0 and len(registry.windows("v1")) == 1  # merged; the old one gone
        assert registry.zones.policy == "drop" and registry.zones.locate(-96.8, 32.7) is not None
        assert registry.retention_days == 30 and not registry.stale()
        await conn.execute("INSERT INTO vehicles (vehicle_id, city) VALUES ('v4', 'c1')")
        await conn.execute(
            "INSERT INTO shifts (shift_id, vehicle_id, starts_at, ends_at) VALUES "
            "('s4', 'v4', now(), now() + interval '1 hour')"
        )
        assert registry.windows("v4") is None
        registry.miss_refresh_s = 0.0
        assert registry.may_look_up("v4")
        await registry.load_vehicle(conn, "v4")
        assert len(registry.windows("v4")) == 1
        registry.miss_refresh_s = 1.0
        assert not registry.may_look_up("v4")  # just looked up
        registry.miss_refresh_s = 0.0
        registry.max_lookups_per_s = registry._lookup_tokens = 3.0
        assert [registry.may_look_up(f"made-up-{i}") for i in range(5)] == [True, True, True, False, False]
        await conn.close()

    run(scenario())
