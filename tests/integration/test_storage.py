"""Storage behaviour both modes must share: idempotent keys, partitions, retention, rollups.

Runs in the database's storage mode (native here unless the server has TimescaleDB
loaded or FLEETPILOT_TEST_STORAGE_MODE says otherwise).
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone

import asyncpg
import pytest
from support import run, with_conn

from fleetpilot.db.maintenance import apply_retention, ensure_partitions, refresh_time_rollups
from fleetpilot.db.migrate import recorded_mode
from fleetpilot.rollup.upkeep import upkeep

UTC = timezone.utc


async def _insert_fix(conn, vehicle, ts, speed=5.0):
    await conn.execute(
        "INSERT INTO fixes (vehicle_id, ts, lon, lat, speed_mps) VALUES ($1, $2, 13.4, 52.5, $3) "
        "ON CONFLICT DO NOTHING",
        vehicle,
        ts,
        speed,
    )


def test_a_fix_is_unique_on_vehicle_and_time(db_url):
    ts = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

    async def body(conn):
        for _ in range(3):
            await _insert_fix(conn, "truck-001", ts)
        await _insert_fix(conn, "truck-002", ts)
        return await conn.fetchval("SELECT count(*) FROM fixes")

    assert run(with_conn(db_url, body)) == 2


@pytest.mark.parametrize(
    "ts",
    [
        datetime(1999, 1, 1, tzinfo=UTC),  # long before any partition
        datetime(2100, 6, 1, 12, tzinfo=UTC),  # long after
        datetime.now(UTC),
    ],
)
def test_an_insert_never_fails_for_want_of_a_partition(db_url, ts):
    async def body(conn):
        await _insert_fix(conn, "truck-001", ts)
        await conn.execute("INSERT INTO events (vehicle_id, ts, kind) VALUES ('truck-001', $1, 'bin_lift')", ts)
        return await conn.fetchval("SELECT count(*) FROM fixes WHERE ts = $1", ts)

    assert run(with_conn(db_url, body)) == 1


def test_late_rows_move_from_default_into_their_day_partition(db_url):
    day = date(2020, 2, 29)
    ts = datetime(2020, 2, 29, 23, 59, 59, tzinfo=UTC)

    async def body(conn):
        if await recorded_mode(conn) != "native":
            pytest.skip("day partitions are the native mode's mechanism; TimescaleDB makes chunks on insert")
        await _insert_fix(conn, "truck-001", ts)
        assert await conn.fetchval("SELECT count(*) FROM fixes_default") == 1
        created = await ensure_partitions(conn, day, day)
        partition = await conn.fetchval("SELECT tableoid::regclass::text FROM fixes WHERE ts = $1", ts)
        again = await ensure_partitions(conn, day, day)
        return created, partition, again, await conn.fetchval("SELECT count(*) FROM fixes_default")

    created, partition, again, left_in_default = run(with_conn(db_url, body))
    assert (created, partition, again, left_in_default) == (2, "fixes_p20200229", 0, 0)


def test_concurrent_callers_create_each_day_partition_once(db_url):
    """Several writers meeting the same unseen day (replays from long ago, shared
    subscriptions) all succeed, and the day gets one partition per table."""
    days = (date(2021, 3, 1), date(2021, 3, 8))  # 8 days, one with a late row in the default partition

    async def body():
        conns = [await asyncpg.connect(db_url) for _ in range(6)]
        try:
            if await recorded_mode(conns[0]) != "native":
                pytest.skip("day partitions are the native mode's mechanism; TimescaleDB makes chunks on insert")
            await _insert_fix(conns[0], "truck-001", datetime(2021, 3, 4, 12, tzinfo=UTC))
            # Each caller asks first about a day none of them has, so every one caches "no such table".
            for c in conns:
                assert await c.fetchval("SELECT to_regclass('fixes_p20210305')") is None
            created = await asyncio.gather(*(ensure_partitions(c, *days) for c in conns))
            parts = await conns[0].fetchval(
                "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'fixes'::regclass AND c.relname LIKE 'fixes_p202103%'"
            )
            home = await conns[0].fetchval("SELECT tableoid::regclass::text FROM fixes WHERE vehicle_id = 'truck-001'")
            return sum(created), parts, home
        finally:
            for c in conns:
                await c.close()

    assert run(body()) == (16, 8, "fixes_p20210304")  # 8 days × (fixes, events), each made once


def test_the_rollup_service_upkeep_applies_retention_once_a_day_and_makes_partitions_ahead(db_url):
    """`fleetpilot rollup --every` calls upkeep each cycle: raw data past the period goes
    within a day without anyone running retention by hand, and not on every cycle."""
    now = datetime.now(UTC)

    async def body(conn):
        native = await recorded_mode(conn) == "native"
        retention_job = None
        if not native:
            retention_job = await conn.fetchval(
                "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'fleetpilot_retention_job'"
            )
        await conn.execute("UPDATE privacy_settings SET retention_days = 30")
        await _insert_fix(conn, "truck-001", now - timedelta(days=31))
        first = await upkeep(conn, partitions_ahead_days=20, now=now)
        ahead = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"fixes_p{(now + timedelta(days=20)):%Y%m%d}")
        await _insert_fix(conn, "truck-002", now - timedelta(days=31))  # arrives after the run
        soon = await upkeep(conn, partitions_ahead_days=20, now=now + timedelta(hours=23))
        kept = await conn.fetchval("SELECT count(*) FROM fixes")
        later = await upkeep(conn, partitions_ahead_days=20, now=now + timedelta(hours=25))
        left = await conn.fetchval("SELECT count(*) FROM fixes")
        return native, first, ahead, soon, kept, later, left, retention_job

    native, first, ahead, soon, kept, later, left, retention_job = run(with_conn(db_url, body))
    assert first.retention is not None and first.retention.cutoff == now - timedelta(days=30)
    assert ahead or not native  # TimescaleDB makes chunks on insert
    # Within a day of the last run the upkeep's own retention removes nothing; in TimescaleDB mode
    # the hourly retention job does, when the upkeep runs it for a failing scheduler (decision 0003).
    assert soon.retention is None and kept == (0 if retention_job in soon.timescale_jobs_run else 1)
    assert later.retention is not None and left == 0


def test_retention_drops_old_raw_data_and_keeps_rollups(db_url):
    now = datetime.now(UTC)
    old = now - timedelta(days=40)
    recent = now - timedelta(days=2)

    async def body(conn):
        await conn.execute("UPDATE privacy_settings SET retention_days = 30")
        await ensure_partitions(conn, old.date(), recent.date())
        for ts in (old, recent):
            await _insert_fix(conn, "truck-001", ts)
            await conn.execute("INSERT INTO events (vehicle_id, ts, kind) VALUES ('truck-001', $1, 'bin_lift')", ts)
        await refresh_time_rollups(conn, old - timedelta(hours=1), now)
        hourly_before = await conn.fetchval("SELECT count(*) FROM fixes_hourly")
        result = await apply_retention(conn, now=now)
        # A later refresh over the whole range (e.g. after late data) must not rebuild the
        # old buckets from raw data that retention removed.
        await refresh_time_rollups(conn, old - timedelta(hours=1), now)
        return (
            result,
            await conn.fetchval("SELECT array_agg(ts) FROM fixes"),
            await conn.fetchval("SELECT count(*) FROM events"),
            hourly_before,
            await conn.fetchval("SELECT count(*) FROM fixes_hourly"),
            await conn.fetchval("SELECT sum(events) FROM events_daily"),
        )

    result, fixes_left, events_left, hourly_before, hourly_after, daily_events = run(with_conn(db_url, body))
    assert result.dropped["fixes"] >= 1
    assert [t.replace(microsecond=0) for t in fixes_left] == [recent.replace(microsecond=0)]
    assert events_left == 1
    assert hourly_before == hourly_after == 2  # rollups outlive raw data
    assert daily_events == 2


def test_time_rollups_are_idempotent(db_url):
    start = datetime(2026, 11, 20, 6, tzinfo=UTC)

    async def body(conn):
        await ensure_partitions(conn, start.date(), start.date())
        for i in range(240):  # two hours at one fix per 30 s
            await _insert_fix(conn, "truck-001", start + timedelta(seconds=30 * i), speed=float(i % 3))
        await refresh_time_rollups(conn, start, start + timedelta(hours=2))
        first = await conn.fetch("SELECT * FROM fixes_hourly ORDER BY bucket")
        await refresh_time_rollups(conn, start, start + timedelta(hours=2))
        second = await conn.fetch("SELECT * FROM fixes_hourly ORDER BY bucket")
        return first, second

    first, second = run(with_conn(db_url, body))
    assert first == second
    assert [r["bucket"] for r in first] == [start, start + timedelta(hours=1)]
    assert [r["fixes"] for r in first] == [120, 120]
    assert [r["moving_fixes"] for r in first] == [80, 80]  # speed 1 or 2 m/s in two of every three fixes
    assert [r["max_speed_mps"] for r in first] == [2.0, 2.0]


def test_audit_log_is_append_only(db_url):
    async def body(conn):
        await conn.execute("INSERT INTO audit_log (actor_role, action) VALUES ('admin', 'settings.update')")
        for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
        return await conn.fetchval("SELECT count(*) FROM audit_log")

    assert run(with_conn(db_url, body)) == 1


def test_driver_account_must_be_exactly_one_person(db_url):
    async def body(conn):
        await conn.execute("INSERT INTO people (person_id) VALUES ('p-abc123')")
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("INSERT INTO users (username, password_hash, role) VALUES ('drv', 'x', 'driver')")
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO users (username, password_hash, role, person_id) VALUES ('sup', 'x', 'supervisor', 'p-abc123')"
            )
        await conn.execute(
            "INSERT INTO users (username, password_hash, role, person_id) VALUES ('drv', 'x', 'driver', 'p-abc123')"
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO users (username, password_hash, role, person_id) VALUES ('drv2', 'x', 'driver', 'p-abc123')"
            )

    run(with_conn(db_url, body))


def test_privacy_settings_are_seeded_from_the_environment(db_url, settings):
    row = run(with_conn(db_url, lambda c: c.fetchrow("SELECT * FROM privacy_settings")))
    assert (row["retention_days"], row["k_min_shifts"], row["k_min_people"]) == (
        settings.retention_days,
        settings.k_min_shifts,
        settings.k_min_people,
    )
