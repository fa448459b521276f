"""The bench's minimal QoS 1 publisher against the real broker."""

from __future__ import annotations

import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from fleetpilot.urls import parse_mqtt_url
from fleetpilot_bench.mqttpub import QoS1Publisher


def unique_city() -> str:
    return f"it-{uuid.uuid4().hex[:10]}"


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def test_publishes_in_order_and_counts_pubacks(mqtt_url):
    city = unique_city()
    target = parse_mqtt_url(mqtt_url)
    got, subscribed = [], threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_connect = lambda c, *_: c.subscribe(f"fleet/{city}/#", qos=1)
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.on_message = lambda c, u, m: got.append((m.topic, m.payload, m.qos))
    sub.connect(target.host, target.port)
    sub.loop_start()
    try:
        assert subscribed.wait(10)
        pub = QoS1Publisher(target, f"pub-{uuid.uuid4().hex[:8]}")
        # Payload sizes around the 1- and 2-byte remaining-length boundaries, and a large one.
        messages = [
            (f"fleet/{city}/t-{i % 7}/telemetry", b"x" * n)
            for i, n in enumerate([0, 1, 120, 121, 122, 16_370, 16_380, 200_000, *range(200)])
        ]
        for start in range(0, len(messages), 100):
            pub.publish_many(messages[start : start + 100])
        deadline = time.monotonic() + 20
        while pub.read_acks(0.05) < len(messages) and time.monotonic() < deadline:
            pass
        assert (pub.acked, pub.failed) == (len(messages), 0)
        pub.close()
        wait_until(lambda: len(got) >= len(messages), 20, "every message at the subscriber")
        assert got == [(t, p, 1) for t, p in messages]
    finally:
        sub.disconnect()
        sub.loop_stop()


def test_more_than_65535_packet_ids_wrap(mqtt_url):
    pub = QoS1Publisher(parse_mqtt_url(mqtt_url), f"pub-{uuid.uuid4().hex[:8]}")
    topic = f"fleet/{unique_city()}/t-1/telemetry"
    for _ in range(70):
        pub.publish_many([(topic, b"{}")] * 1000)
        pub.read_acks(0.01)
    deadline = time.monotonic() + 30
    while pub.read_acks(0.05) < 70_000 and time.monotonic() < deadline:
        pass
    assert pub.acked == 70_000
    pub.close()
