"""Fault tests: the simulator publishes through the real broker while something breaks;
afterwards the database must hold exactly the rows ground truth says, none lost, none twice.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

import pytest
from ingest_kit import (
    Publisher,
    assert_exactly_once,
    build_fleet,
    fix,
    sql,
    telemetry,
    wait_for_rows,
    wait_until,
)

from fleetpilot.urls import parse_mqtt_url
from fleetsim.config import Connectivity, Faults

pytestmark = [pytest.mark.integration, pytest.mark.broker]


class Background:
    """Publish a fleet on a thread so a fault can be injected mid-stream."""

    def __init__(self, fleet, mqtt_url: str, accel: float):
        self.report = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fleet, mqtt_url, accel), daemon=True)
        self._thread.start()

    def _run(self, fleet, mqtt_url, accel) -> None:
        try:
            self.report = fleet.publish(mqtt_url, accel)
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float = 60) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the simulator did not finish"
        if self.error:
            raise self.error


def stored_fixes(db_url: str) -> int:
    return sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"]


@pytest.mark.timeout(120)
def test_sigkill_mid_stream_then_restart_loses_and_duplicates_nothing(
    db_url, mqtt_url, city, start_process, clean_retained
):
    fleet = build_fleet(db_url, city, vehicles=3, hours=0.3)
    clean_retained.extend(fleet.scenario.roster.vehicle_ids)
    first = start_process("--worker-id", "k", cli=False)
    first.wait_subscribed()
    sim = Background(fleet, mqtt_url, accel=300)  # 18 simulated minutes in ~4 s
    wait_until(lambda: stored_fixes(db_url) > 500, 30, "the first batches to be stored")
    first.kill()  # no flush, no acks: whatever was in flight is only at the broker now
    at_kill = stored_fixes(db_url)
    assert at_kill < len(fleet.fixes), "the stream ended before the kill; nothing was tested"
    # Same session: the broker redelivers what was unacknowledged and keeps what the simulator
    # publishes meanwhile (fewer than the broker's per-client queue limit of 1000).
    second = start_process("--worker-id", "k", cli=False)
    second.wait_subscribed(count=2)
    sim.join()
    wait_for_rows(db_url, fleet)
    assert second.terminate() == 0
    assert_exactly_once(db_url, fleet)


@pytest.mark.timeout(120)
def test_database_unavailable_for_a_while(db_url, mqtt_url, city, proxy, start_worker, clean_retained):
    fleet = build_fleet(db_url, city, vehicles=3, hours=0.3)
    clean_retained.extend(fleet.scenario.roster.vehicle_ids)
    pg = urlsplit(db_url)
    link = proxy(pg.hostname, pg.port)
    via_proxy = urlunsplit(pg._replace(netloc=f"{pg.username}@127.0.0.1:{link.port}"))
    worker = start_worker(database_url=via_proxy, buffer_messages=200)
    sim = Background(fleet, mqtt_url, accel=300)
    wait_until(lambda: stored_fixes(db_url) > 300, 30, "the first batches to be stored")
    link.cut()  # every connection of the ingest dies; new ones are refused
    time.sleep(0.5)  # a commit already on its way may still land
    before = stored_fixes(db_url)
    time.sleep(2.0)
    assert stored_fixes(db_url) == before, "rows were stored while the database was unreachable"
    # Backpressure: the worker holds at most its buffer, the rest waits at the broker.
    assert worker.value("fleetpilot_ingest_buffer_messages") <= 200
    link.restore()
    sim.join()
    wait_for_rows(db_url, fleet)
    assert_exactly_once(db_url, fleet)
    assert worker.value("fleetpilot_ingest_db_errors_total") > 0


@pytest.mark.timeout(120)
def test_broker_connection_drops_and_returns(db_url, mqtt_url, city, proxy, start_worker, clean_retained):
    fleet = build_fleet(db_url, city, vehicles=3, hours=0.3)
    clean_retained.extend(fleet.scenario.roster.vehicle_ids)
    broker = parse_mqtt_url(mqtt_url)
    link = proxy(broker.host, broker.port)
    worker = start_worker(mqtt_url=f"mqtt://127.0.0.1:{link.port}")
    sim = Background(fleet, mqtt_url, accel=300)
    wait_until(lambda: stored_fixes(db_url) > 300, 30, "the first batches to be stored")
    link.cut()
    wait_until(lambda: not worker.worker.receiver.connected, 10, "the worker to notice the lost connection")
    time.sleep(1.5)  # the simulator keeps publishing; the broker keeps it for the session
    link.restore()
    sim.join()
    wait_for_rows(db_url, fleet)
    assert_exactly_once(db_url, fleet)
    assert worker.value("fleetpilot_ingest_mqtt_connects_total") >= 2


@pytest.mark.timeout(120)
def test_flood_of_malformed_payloads_mixed_with_good_traffic(db_url, mqtt_url, city, start_worker, clean_retained):
    link = replace(Connectivity(), duplicate_rate=0.02)
    fleet = build_fleet(
        db_url, city, vehicles=3, hours=0.5, faults=Faults(hostile=True, hostile_per_vehicle=30, leak=True), link=link
    )
    clean_retained.extend(fleet.scenario.roster.vehicle_ids)
    hostile = fleet.truth["totals"]["hostile"]
    worker = start_worker()
    sim = Background(fleet, mqtt_url, accel=0)
    vid = fleet.scenario.roster.vehicle_ids[0]
    flood = Publisher(mqtt_url, city)
    now = int(time.time() * 1000)
    garbage = [
        b"",
        b"\x00\x01\x02",
        b"[1,2,3]",
        b'{"v":1}',
        b"null",
        b"{" * 10_000,
        "€".encode() * 1000,
        b'{"v":1,"vid":"' + vid.encode() + b'","seq":1,"sent":1,"fixes":[[1,2,3,4,5,6]]}',
    ]
    for i in range(300):
        flood.send(vid, "telemetry", garbage[i % len(garbage)])
    for i in range(50):  # well-formed, but claims fix times a day ahead
        flood.send(vid, "telemetry", telemetry(vid, 10_000 + i, [fix(now + 86_400_000 + i * 1000)]))
    flood.close()
    sim.join()
    wait_for_rows(db_url, fleet)
    expected_rejects = sum(hostile.values()) + 300 + 50
    wait_until(
        lambda: sql(db_url, "SELECT count(*) AS n FROM rejects")[0]["n"] >= expected_rejects,
        30,
        "every malformed message to be dead-lettered",
    )
    assert_exactly_once(db_url, fleet)
    reasons = {r["reason"]: r["n"] for r in sql(db_url, "SELECT reason, count(*) AS n FROM rejects GROUP BY 1")}
    # The simulator's hostile kinds each have their reason.
    assert reasons.get("too_large", 0) == hostile["huge"]
    assert reasons.get("foreign_vid", 0) == hostile["foreign_vid"]
    assert reasons.get("bad_version", 0) == hostile["bad_version"]
    assert reasons["future_time"] == 50
    assert sum(reasons.values()) == expected_rejects
    raw = sql(db_url, "SELECT payload FROM rejects WHERE reason = 'bad_json'")
    # Kept without numbers, bounded, non-text not at all (ingest/deadletter.py).
    assert {bytes(r["payload"]) for r in raw} >= {b"", b"{" * 2048}
    assert not any(c.isdigit() for r in raw for c in bytes(r["payload"]).decode("utf-8", "replace"))
    assert worker.value("fleetpilot_ingest_messages_rejected_total", reason="future_time") == 50
