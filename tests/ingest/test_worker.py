"""A worker against the real broker and database, fed with hand-made messages."""

from __future__ import annotations

import socket
import time

import asyncpg
import paho.mqtt.client as mqtt
import pytest
from ingest_kit import acked, all_rows_as_text, events, fetch_metrics, fix, now_ms, register, sql, telemetry, wait_until
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from support import run

from fleetpilot.rollup.job import run_rollup
from fleetpilot.urls import parse_mqtt_url

pytestmark = [pytest.mark.integration, pytest.mark.broker]
HOUR = 3_600_000


def test_off_duty_and_private_data_never_reach_any_table(db_url, city, start_worker, publisher):
    t0 = now_ms() - 2 * HOUR
    register(db_url, city, "truck-1", [(t0, t0 + HOUR)])
    worker = start_worker()
    on = [fix(t0 + i * 1000, lon=-96.8, lat=32.78) for i in range(10)]
    # Distinctive coordinates for what must never be stored anywhere.
    before = [fix(t0 - 60_000 + i * 1000, lon=-96.111111, lat=32.222222) for i in range(5)]
    after = [fix(t0 + HOUR + i * 1000, lon=-96.333333, lat=32.444444) for i in range(5)]
    private = [fix(t0 + 600_000 + i * 1000, lon=-96.555555, lat=32.666666) for i in range(5)]
    straddling = [
        fix(t0 + HOUR - 2000, lon=-96.8, lat=32.78),
        fix(t0 + HOUR - 1000, lon=-96.8, lat=32.78),
        fix(t0 + HOUR, lon=-96.777777, lat=32.888888),
    ]
    publisher.send("truck-1", "telemetry", telemetry("truck-1", 1, on))
    publisher.send("truck-1", "telemetry", telemetry("truck-1", 2, before))
    publisher.send("truck-1", "telemetry", telemetry("truck-1", 3, after))
    publisher.send("truck-1", "telemetry", telemetry("truck-1", 4, private, priv=True))
    publisher.send("truck-1", "telemetry", telemetry("truck-1", 5, straddling))
    publisher.send(
        "truck-1",
        "events",
        events(
            "truck-1",
            6,
            [
                {"t": t0 - 5000, "k": "harsh_brake", "lon": -96.121212, "lat": 32.343434, "mag": 4.0},
                {"t": t0 + 5000, "k": "bin_lift", "lon": -96.8, "lat": 32.78, "mag": 20.0},
            ],
        ),
    )
    publisher.send(
        "truck-1",
        "events",
        events(
            "truck-1",
            7,
            [{"t": t0 + 7000, "k": "reversing", "lon": -96.565656, "lat": 32.787878, "mag": 3.0}],
            priv=True,
        ),
    )
    publisher.flush()
    acked(worker, 7)
    stored = sql(db_url, "SELECT (extract(epoch FROM ts) * 1000)::bigint AS t FROM fixes ORDER BY ts")
    assert [r["t"] for r in stored] == [f[0] for f in on] + [t0 + HOUR - 2000, t0 + HOUR - 1000]
    assert [r["kind"] for r in sql(db_url, "SELECT kind FROM events")] == ["bin_lift"]
    text = all_rows_as_text(db_url)
    for secret in (
        "96.111111",
        "32.222222",
        "96.333333",
        "32.444444",
        "96.555555",
        "32.666666",
        "96.777777",
        "96.121212",
        "96.565656",
    ):
        assert secret not in text, f"{secret} was stored"
    drops = {
        (r["reason"], r["fixes"], r["events"])
        for r in sql(
            db_url,
            "SELECT reason, sum(fixes)::int AS fixes, sum(events)::int AS events FROM privacy_drops GROUP BY reason",
        )
    }
    assert drops == {("off_duty", 11, 1), ("private_mode", 5, 1)}
    assert worker.value("fleetpilot_ingest_rows_private_total", reason="off_duty", table="fixes") == 11
    # The same messages again (a redelivery) store nothing and count nothing twice.
    publisher.send("truck-1", "telemetry", telemetry("truck-1", 2, before))
    publisher.send("truck-1", "telemetry", telemetry("truck-1", 1, on))
    publisher.flush()
    acked(worker, 9)
    assert sql(db_url, "SELECT sum(fixes)::int AS n FROM privacy_drops")[0]["n"] == 16
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 12
    assert worker.value("fleetpilot_ingest_rows_duplicate_total", table="fixes") == 10


def test_privacy_zones_generalise_or_drop_before_storage(db_url, city, start_worker, publisher):
    t0 = now_ms() - HOUR
    register(db_url, city, "truck-1", [(t0, t0 + HOUR)])
    sql(db_url, "INSERT INTO privacy_zones (name, lon, lat, radius_m) VALUES ('break room', -96.75, 32.75, 80)")
    worker = start_worker(registry_refresh_s=0.2)
    near = [fix(t0 + 1000, lon=-96.7501, lat=32.7502), fix(t0 + 2000, lon=-96.7, lat=32.7)]
    publisher.send("truck-1", "telemetry", telemetry("truck-1", 1, near))
    publisher.flush()
    acked(worker, 1)
    rows = sql(db_url, "SELECT lon, lat, heading_deg, generalised FROM fixes ORDER BY ts")
    assert [tuple(r) for r in rows] == [(-96.75, 32.75, None, True), (-96.7, 32.7, 90.0, False)]
    sql(db_url, "UPDATE privacy_settings SET zone_policy = 'drop'")
    time.sleep(0.5)  # the worker re-reads settings every 0.2 s here
    publisher.send("truck-1", "telemetry", telemetry("truck-1", 2, [fix(t0 + 3000, lon=-96.7501, lat=32.7502)]))
    publisher.flush()
    acked(worker, 2)
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 2
    assert sql(db_url, "SELECT sum(fixes)::int AS n FROM privacy_drops WHERE reason = 'privacy_zone'")[0]["n"] == 2


def test_unknown_vehicles_are_rejected_until_registered(db_url, city, start_worker, publisher):
    t0 = now_ms() - HOUR
    worker = start_worker()
    publisher.send("truck-9", "telemetry", telemetry("truck-9", 1, [fix(t0)]))
    publisher.flush()
    acked(worker, 1)
    assert [r["reason"] for r in sql(db_url, "SELECT reason FROM rejects")] == ["unknown_vehicle"]
    register(db_url, city, "truck-9", [(t0 - HOUR, t0 + HOUR)])  # the roster import comes late
    time.sleep(1.1)  # one database lookup per vehicle and second
    publisher.send("truck-9", "telemetry", telemetry("truck-9", 2, [fix(t0 + 1000)]))
    publisher.flush()
    acked(worker, 2)
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 1


def test_status_messages_update_devices(db_url, city, start_worker, publisher):
    t0 = now_ms() - HOUR
    register(db_url, city, "truck-1", [(t0, t0 + 2 * HOUR)])
    register(db_url, city, "truck-2", [(t0 - 5 * HOUR, t0 - 4 * HOUR)])
    worker = start_worker()
    publisher.send(
        "truck-1", "status", {"v": 1, "vid": "truck-1", "seq": 10, "state": "online", "t": t0, "fw": "fleetsim/1.0.0"}
    )
    publisher.send("truck-1", "telemetry", telemetry("truck-1", 11, [fix(t0 + 1000)]))
    publisher.send("truck-2", "status", {"v": 1, "vid": "truck-2", "seq": 3, "state": "offline", "t": t0})
    publisher.flush()
    acked(worker, 3)
    rows = {
        r["vehicle_id"]: r for r in sql(db_url, "SELECT vehicle_id, online, firmware, last_seq, last_seen FROM devices")
    }
    assert (rows["truck-1"]["online"], rows["truck-1"]["firmware"], rows["truck-1"]["last_seq"]) == (
        True,
        "fleetsim/1.0.0",
        11,
    )
    assert rows["truck-1"]["last_seen"] is not None
    # Off duty the unit's status is recorded, but not when it was active.
    assert (rows["truck-2"]["online"], rows["truck-2"]["last_seen"]) == (False, None)


def test_late_data_is_stored_and_the_rollups_it_touches_are_refreshed(db_url, city, start_worker, publisher):
    t0 = (now_ms() - 30 * HOUR) // HOUR * HOUR  # a shift that ended yesterday
    register(db_url, city, "truck-1", [(t0, t0 + 2 * HOUR)])
    worker = start_worker()
    publisher.send("truck-1", "telemetry", telemetry("truck-1", 1, [fix(t0 + i * 1000) for i in range(10)]))
    publisher.flush()
    acked(worker, 1)

    async def rollup() -> None:
        conn = await asyncpg.connect(db_url)
        try:
            await run_rollup(conn)
        finally:
            await conn.close()

    run(rollup())
    assert sql(db_url, "SELECT fixes FROM fixes_hourly")[0]["fixes"] == 10
    assert not sql(db_url, "SELECT * FROM rollup_dirty")
    # A replay from the unit's buffer, hours later, for the same hour.
    publisher.send("truck-1", "telemetry", telemetry("truck-1", 2, [fix(t0 + 60_000 + i * 1000) for i in range(5)]))
    publisher.flush()
    acked(worker, 2)
    marks = sql(db_url, "SELECT vehicle_id, day FROM rollup_dirty")
    assert [(r["vehicle_id"], r["day"].isoformat()) for r in marks] == [
        ("truck-1", time.strftime("%Y-%m-%d", time.gmtime(t0 / 1000)))
    ]
    run(rollup())
    assert sql(db_url, "SELECT fixes FROM fixes_hourly")[0]["fixes"] == 15


def test_mqtt_311_worker_subscribes_alone(db_url, city, start_worker, publisher):
    t0 = now_ms() - HOUR
    register(db_url, city, "truck-1", [(t0, t0 + HOUR)])
    worker = start_worker(protocol="3.1.1", share_group="ingest")
    assert worker.worker.receiver.filters == [f"fleet/{city}/+/{c}" for c in ("telemetry", "events", "status")] + [
        f"traccar/{city}/+",  # the other dialects' default topics (docs/trackers.md), no share group either
        "owntracks/+/+",
    ]
    publisher.send("truck-1", "telemetry", telemetry("truck-1", 1, [fix(t0 + 1000)]))
    publisher.flush()
    acked(worker, 1)
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pending_for_session(mqtt_url: str, client_id: str) -> int:
    """Resume the session `client_id` and count what the broker still had for it; then end it."""
    target = parse_mqtt_url(mqtt_url)
    got = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_message = lambda c, u, m: got.append(m.mid)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0  # the session ends with this connection
    client.connect(target.host, target.port, clean_start=False, properties=props)
    client.loop_start()
    time.sleep(1.0)
    client.disconnect()
    client.loop_stop()
    return len(got)


def test_sigterm_flushes_acks_and_exits_cleanly(db_url, mqtt_url, city, start_process, publisher):
    t0 = now_ms() - HOUR
    register(db_url, city, "truck-1", [(t0, t0 + HOUR)])
    port = free_port()
    # A long batch wait: when SIGTERM comes, the messages sit in an unwritten batch.
    proc = start_process("--worker-id", "term", "--metrics-port", str(port), "--batch-wait", "30")
    proc.wait_subscribed()
    for seq in range(20):
        publisher.send(
            "truck-1", "telemetry", telemetry("truck-1", seq, [fix(t0 + seq * 10_000 + i * 1000) for i in range(10)])
        )
    publisher.flush()
    wait_until(
        lambda: 'fleetpilot_ingest_messages_received_total{channel="telemetry"} 20.0' in fetch_metrics(port),
        20,
        "the worker to receive all 20 messages",
    )
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 0
    assert proc.terminate() == 0
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 200
    assert '"event":"ingest worker stopped"' in proc.log.read_text()
    assert '"acked":20' in proc.log.read_text()
    assert pending_for_session(mqtt_url, f"fleetpilot-ingest-{city}-term") == 0
