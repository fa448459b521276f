"""Topics, sequence tracking, the bounded buffer and batches (no servers)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from fleetpilot.ingest.batch import Batch
from fleetpilot.ingest.buffer import BoundedBuffer, Inbound
from fleetpilot.ingest.privacy import DAY_MS
from fleetpilot.ingest.seqs import SeqTracker
from fleetpilot.ingest.topics import parse_topic, subscriptions


def test_topics():
    assert parse_topic("fleet/metro/truck-007/telemetry", "metro") == ("truck-007", "telemetry")
    assert parse_topic("fleet/metro/truck-007/config", "metro") is None
    assert parse_topic("fleet/other/truck-007/events", "metro") is None
    assert parse_topic("fleet/metro/-bad/events", "metro") is None
    assert parse_topic("fleet/metro/a/b/events", "metro") is None
    assert subscriptions("metro", "ingest") == [
        "$share/ingest/fleet/metro/+/telemetry",
        "$share/ingest/fleet/metro/+/events",
        "$share/ingest/fleet/metro/+/status",
    ]
    assert subscriptions("metro", None)[0] == "fleet/metro/+/telemetry"
    with pytest.raises(ValueError):
        subscriptions("Metro/#", None)


def test_seq_tracker_duplicates_gaps_and_replays():
    seqs = SeqTracker(window=64)
    assert [seqs.observe("a", s) for s in (10, 11, 11, 15)] == [True, True, False, True]
    assert seqs.missing() == 3  # 12, 13, 14
    assert seqs.observe("a", 13) and not seqs.observe("a", 13)  # a late replay fills a gap once
    assert seqs.missing() == 2
    assert seqs.observe("a", 5)  # older than the first number seen: new, never counted missing
    assert seqs.missing() == 2
    assert seqs.observe("b", 1) and seqs.missing() == 2
    assert seqs.observe("a", 15 + 64)  # the window moves past the gaps: they are forgotten
    assert seqs.missing() == 63
    assert seqs.observe("a", 15)  # older than the window: cannot be told apart, counts as new


def item(n: int) -> Inbound:
    return Inbound("t", b"p", n, 1, 1, 0)


def test_buffer_blocks_the_producer_when_full_and_releases_in_order():
    async def scenario():
        buffer = BoundedBuffer(3, asyncio.get_running_loop())
        put = []
        producer = threading.Thread(target=lambda: put.extend(buffer.put(item(i)) for i in range(5)))
        producer.start()
        await asyncio.sleep(0.3)
        assert len(buffer) == 3 and len(put) == 3  # the fourth put waits: backpressure
        first = await buffer.get_many(2, 1.0)
        taken = [i.mid for i in first]
        while len(taken) < 5:
            taken += [i.mid for i in await buffer.get_many(10, 1.0)]
        producer.join(5)
        assert taken == [0, 1, 2, 3, 4] and put == [True] * 5
        assert buffer.blocked_s > 0.2

        # close() frees a waiting producer without taking its item
        for i in range(3):
            buffer.put(item(i))
        result = []
        producer = threading.Thread(target=lambda: result.append(buffer.put(item(9))))
        producer.start()
        await asyncio.sleep(0.1)
        buffer.close()
        producer.join(5)
        assert result == [False] and len(buffer) == 3
        assert await buffer.get_many(10, 0.0) and await buffer.get_many(10, 0.01) == []

    asyncio.run(scenario())


def test_buffer_put_many_waits_for_room_then_takes_the_whole_read():
    async def scenario():
        buffer = BoundedBuffer(3, asyncio.get_running_loop())
        assert buffer.put_many([item(0), item(1), item(2)])
        put = []
        producer = threading.Thread(target=lambda: put.append(buffer.put_many([item(3), item(4), item(5)])))
        producer.start()
        await asyncio.sleep(0.2)
        assert put == [] and len(buffer) == 3  # full: the network thread waits
        taken = [i.mid for i in await buffer.get_many(1, 1.0)]
        producer.join(5)
        assert put == [True] and len(buffer) == 5  # room for one, the whole read goes in
        taken += [i.mid for i in await buffer.get_many(10, 1.0)]
        assert taken == [0, 1, 2, 3, 4, 5]
        buffer.close()
        assert not buffer.put_many([item(6)]) and len(buffer) == 0

    asyncio.run(scenario())


def test_buffer_wakes_a_waiting_consumer():
    async def scenario():
        buffer = BoundedBuffer(10, asyncio.get_running_loop())
        threading.Timer(0.1, buffer.put, args=(item(1),)).start()
        started = time.monotonic()
        got = await buffer.get_many(10, 5.0)
        assert [i.mid for i in got] == [1] and time.monotonic() - started < 4

    asyncio.run(scenario())


def test_batch_rows_days_devices_and_due():
    batch = Batch()
    assert not batch.due(1, 0.0)  # nothing to write
    t = 20_000 * DAY_MS - 1000
    batch.add_fixes("v", 3, t, [[t, 1.0, 2.0, None, None, None, False], [t + 2000, 1.0, 2.0, None, None, None, False]])
    assert batch.fixes[0][-2:] == ["v", 3] and batch.rows == 2
    assert batch.days == {("v", 19_999), ("v", 20_000)}  # a message across midnight touches both days
    assert batch.lags == [(t, t + 2000)]
    batch.take(item(1))
    assert batch.due(2, 60.0) and not batch.due(3, 60.0)
    assert batch.due(3, 0.0)  # old enough
    assert not batch.due(3, 5.0, now=batch.started + 4.9) and batch.due(3, 5.0, now=batch.started + 5.0)
    batch.saw_device("v", 3, 100)
    batch.saw_device("v", 2, None, online=False, firmware="fw")
    batch.saw_device("v", 4, 50, online=True)
    seen = batch.devices["v"]
    assert (seen.last_seen_ms, seen.last_seq, seen.online, seen.firmware) == (100, 4, True, "fw")


def test_bench_quantiles_interpolate_inside_buckets_between_snapshots():
    from fleetpilot_bench.ingest import quantile

    inf = float("inf")
    before = [(0.1, 5.0), (1.0, 5.0), (2.0, 5.0), (inf, 5.0)]
    after = [(0.1, 15.0), (1.0, 25.0), (2.0, 34.0), (inf, 35.0)]  # 10 / 10 / 9 / 1 new observations
    assert quantile(0.5, before, after) == pytest.approx(0.1 + 0.9 * 0.5)
    assert quantile(0.25, before, after) == pytest.approx(0.075)
    assert quantile(0.75, before, after) == pytest.approx(1.0 + 1.0 * (22.5 - 20) / 9)
    assert quantile(0.99, before, after) == 2.0  # in the +Inf bucket: its lower bound
    assert quantile(0.5, after, after) is None


def test_rejects_never_carry_nul_characters_into_text_columns():
    batch = Batch()
    batch.add_reject(Inbound("fleet/\x00/x", b"\x00raw", 1, 1, 1, 0), "bad_topic", "saw \x00", None)
    (row,) = batch.rejects
    assert row[:5] == (0, "fleet/\\x00/x", "␀raw".encode(), "bad_topic", "saw ␀")
    assert row[5] == 4 and len(row[6]) == 32  # its size and SHA-256
    batch.saw_device("v", 1, None, online=True, firmware="fw\x00/1")
    assert batch.devices["v"].firmware == "fw/1"


def test_bench_cpu_split_finds_the_broker_and_counts_machine_time(mqtt_url):
    import time

    from fleetpilot.urls import parse_mqtt_url
    from fleetpilot_bench.ingest import CpuSplit

    target = parse_mqtt_url(mqtt_url)
    split = CpuSplit(target.port)
    if target.host in ("127.0.0.1", "localhost"):
        assert split.broker is not None, "the local broker's listening process is found by its port"
    before = split.read()
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:  # burn 0.2 s of this process's CPU
        pass
    after = split.read()
    assert after["machine"] - before["machine"] >= 0.15
    assert after["database"] >= before["database"] >= 0.0


def test_bench_cpu_split_keeps_the_cpu_of_a_backend_that_ended(pg_admin_url):
    """A shared server's connections come and go; the database figure must not lose what an
    ended backend used (it did: the sum fell when a busy backend exited between two reads)."""
    import asyncpg
    import psutil
    from support import run

    from fleetpilot_bench.ingest import CpuSplit

    split = CpuSplit(1)

    async def busy_backend() -> int:
        conn = await asyncpg.connect(pg_admin_url)
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        await conn.fetchval("SELECT count(*) FROM generate_series(1, 3000000)")  # ~0.3 s of its CPU
        await conn.close()
        return pid

    before = split.read()
    pid = run(busy_backend())
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and time.monotonic() < deadline:  # ended and reaped
        time.sleep(0.02)
    after = split.read()
    assert after["database"] - before["database"] >= 0.1
