"""What the worker says about itself while its pipeline is stuck or flooded (watch.py)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import asyncpg
import pytest
from ingest_kit import fix, register, sql, telemetry, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.broker]
HOUR = 3_600_000


class TableLock:
    """ACCESS EXCLUSIVE on `fixes`, held from a thread until release(): the worker's writes wait."""

    def __init__(self, db_url: str):
        self._release = threading.Event()
        held = threading.Event()

        async def hold() -> None:
            conn = await asyncpg.connect(db_url)
            try:
                async with conn.transaction():
                    await conn.execute("LOCK TABLE fixes IN ACCESS EXCLUSIVE MODE")
                    held.set()
                    await asyncio.to_thread(self._release.wait, 60)
            finally:
                await conn.close()

        self._thread = threading.Thread(target=asyncio.run, args=(hold(),), daemon=True)
        self._thread.start()
        assert held.wait(10)

    def release(self) -> None:
        self._release.set()
        self._thread.join(10)


def logged(caplog, event: str) -> list[dict]:
    return [
        {"level": r.levelname, **getattr(r, "fields", {})} for r in caplog.records if r.getMessage().startswith(event)
    ]


@pytest.mark.timeout(90)
def test_a_database_stall_is_logged_and_the_gauges_tell_the_truth(db_url, city, start_worker, publisher, caplog):
    caplog.set_level(logging.INFO, logger="fleetpilot.ingest")
    t0 = int(time.time() * 1000) - HOUR
    register(db_url, city, "truck-1", [(t0, t0 + 2 * HOUR)])
    worker = start_worker(stall_after_s=1.0, writers=1, batch_rows=10)
    lock = TableLock(db_url)
    try:
        for seq in range(300):
            publisher.send("truck-1", "telemetry", telemetry("truck-1", seq + 1, [fix(t0 + seq * 1000)]))
        publisher.flush()
        # Everything is received and nothing can commit: the gauges must say so while it lasts.
        wait_until(lambda: worker.value("fleetpilot_ingest_stalled") == 1, 20, "the stall to be reported")
        # Once the pipeline blocks (a batch in hand, the writers' queue full), what arrives
        # waits in the buffer, and the gauge must show it although the loop sets nothing.
        sent = 300
        for _ in range(20):
            for seq in range(sent, sent + 50):
                publisher.send("truck-1", "telemetry", telemetry("truck-1", seq + 1, [fix(t0 + seq * 1000)]))
            publisher.flush()
            sent += 50
            time.sleep(0.3)
            if len(worker.worker._buffer):
                break
        held = len(worker.worker._buffer)
        assert held > 0, "the pipeline never blocked"
        assert worker.value("fleetpilot_ingest_buffer_messages") == held
        assert worker.value("fleetpilot_ingest_messages_waiting") == sent
        assert worker.value("fleetpilot_ingest_last_commit_age_seconds") >= 1.0
        started = logged(caplog, "ingest stalled")
        assert len(started) == 1 and started[0]["level"] == "WARNING" and started[0]["messages_waiting"] > 0
    finally:
        lock.release()
    wait_until(lambda: sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == sent, 30, "the rows after the stall")
    wait_until(lambda: logged(caplog, "ingest stall ended"), 10, "the stall's end to be logged")
    assert logged(caplog, "ingest stall ended")[0]["duration_s"] >= 1.0
    wait_until(lambda: worker.value("fleetpilot_ingest_messages_waiting") == 0, 10, "nothing left waiting")
    assert worker.value("fleetpilot_ingest_stalled") == 0


@pytest.mark.timeout(90)
def test_a_flood_of_rejects_is_a_few_log_lines_with_reasons(db_url, city, start_worker, publisher, caplog):
    caplog.set_level(logging.INFO, logger="fleetpilot.ingest")
    register(db_url, city, "truck-1", [(0, 1)])
    start_worker()
    for i in range(300):
        publisher.send("truck-1", "telemetry", b"not json" if i % 2 else b'{"v":9}')
    publisher.flush()
    wait_until(lambda: sql(db_url, "SELECT count(*) AS n FROM rejects")[0]["n"] == 300, 30, "300 rejects")

    def all_logged() -> bool:
        return sum(line["total"] for line in logged(caplog, "messages rejected")) == 300

    wait_until(all_logged, 25, "the rejects to be logged")
    lines = logged(caplog, "messages rejected")
    assert 1 <= len(lines) <= 3  # one line per 10 s window, not one per message
    reasons: dict[str, int] = {}
    for line in lines:
        assert line["level"] == "WARNING"
        for reason, n in line["reasons"].items():
            reasons[reason] = reasons.get(reason, 0) + n
    assert reasons == {"bad_json": 150, "bad_version": 150}
    assert all(line["examples"][r] for line in lines for r in line["reasons"])


@pytest.mark.timeout(90)
def test_a_units_clock_skew_is_measured_stored_for_admins_and_named_in_dead_letters(
    db_url, city, start_worker, publisher, caplog
):
    caplog.set_level(logging.INFO, logger="fleetpilot.ingest")
    now = int(time.time() * 1000)
    register(db_url, city, "truck-1", [(now - HOUR, now + HOUR)])
    register(db_url, city, "truck-2", [(now - HOUR, now + HOUR)])
    start_worker(skew_store_every_s=0.5)
    ahead = now + 600_000  # truck-1's clock is 10 minutes ahead
    for seq in range(5):
        # Its GPS fixes are right (within the future limit), its own clock is not.
        publisher.send("truck-1", "telemetry", telemetry("truck-1", seq + 1, [fix(now - 5000 + seq)], sent=ahead))
        publisher.send("truck-2", "telemetry", telemetry("truck-2", seq + 1, [fix(now - 5000 + seq)]))
    # A message stamped by the skewed clock throughout: dead-lettered, the reason naming skew.
    publisher.send("truck-1", "telemetry", telemetry("truck-1", 9, [fix(ahead)], sent=ahead))
    publisher.flush()

    def stored_skews():
        rows = sql(db_url, "SELECT vehicle_id, clock_skew_s FROM devices WHERE clock_skew_s IS NOT NULL")
        return {r["vehicle_id"]: r["clock_skew_s"] for r in rows} if len(rows) == 2 else None

    skews = wait_until(stored_skews, 20, "both devices' clock skew to be stored")
    assert 590 < skews["truck-1"] < 610 and abs(skews["truck-2"]) < 5
    rejects = sql(db_url, "SELECT reason, detail FROM rejects")
    assert [r["reason"] for r in rejects] == ["clock_skew"] and "ahead" in rejects[0]["detail"]
    wait_until(lambda: logged(caplog, "device clock skew beyond tolerance"), 10, "the skew to be logged")
    flagged = logged(caplog, "device clock skew beyond tolerance")
    assert [line["vehicle_id"] for line in flagged] == ["truck-1"]


@pytest.mark.timeout(90)
def test_a_skewed_units_shift_window_is_judged_in_its_own_clock(db_url, city, start_worker, publisher):
    """A unit 10 min behind: fixes it stamps before the shift's start are on duty (kept), and
    fixes it stamps inside the shift but truly after its end are off duty (dropped)."""
    now = int(time.time() * 1000)
    minute = 60_000
    register(db_url, city, "truck-1", [(now - 20 * minute, now - 2 * minute)])
    start_worker()
    behind = now - 10 * minute  # the unit's clock when it sends (now)
    warm_up = [now - 15 * minute + i * 1000 for i in range(3)]  # on duty in either clock
    at_start = [now - 29 * minute + i * 1000 for i in range(3)]  # truly 19 min ago: on duty
    after_end = [now - 11 * minute + i * 1000 for i in range(3)]  # truly 1 min ago: off duty
    seq = 0
    for times in (warm_up, at_start, after_end):
        for t in times:
            seq += 1
            publisher.send("truck-1", "telemetry", telemetry("truck-1", seq, [fix(t)], sent=behind))
        publisher.flush()
        time.sleep(0.3)  # in order: the skew is measured on the warm-up first
    wait_until(
        lambda: sql(db_url, "SELECT coalesce(sum(fixes), 0) AS n FROM privacy_drops")[0]["n"] >= 3,
        20,
        "the off-duty fixes to be counted",
    )
    stored = sql(db_url, "SELECT (extract(epoch FROM ts) * 1000)::bigint AS t FROM fixes ORDER BY ts")
    assert [r["t"] for r in stored] == sorted(warm_up + at_start)
    drops = sql(db_url, "SELECT reason, sum(fixes)::int AS n FROM privacy_drops GROUP BY 1")
    assert {r["reason"]: r["n"] for r in drops} == {"off_duty": 3}
