"""FastClient (paho internals) against the real broker: what arrives, and what its acks do."""

from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as mqtt
import pytest
from ingest_kit import unique_city, wait_until
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from support import PrivateMosquitto

from fleetpilot.ingest.pahofast import RECV_BYTES, FastClient, PahoClient, check_paho_version
from fleetpilot.urls import parse_mqtt_url

PROTOCOLS = {"5": mqtt.MQTTv5, "3.1.1": mqtt.MQTTv311}


def test_refuses_other_paho_versions():
    check_paho_version()  # the installed one
    with pytest.raises(RuntimeError, match="written for paho-mqtt"):
        check_paho_version("2.3.0")


class Subscriber:
    """A FastClient with a persistent session on `topic`, recording every hand-over."""

    def __init__(
        self, mqtt_url: str, client_id: str, topic: str, protocol: str, ack_at_once: bool = False, kind: str = "fast"
    ):
        self.target = parse_mqtt_url(mqtt_url)
        self.calls: list[list] = []
        self.ack_at_once = ack_at_once
        self.subscribed = threading.Event()
        self.protocol = protocol
        kwargs = {"clean_session": False} if protocol == "3.1.1" else {}
        if kind == "fast":
            kwargs["on_publishes"] = self._on_publishes
        self.client = (FastClient if kind == "fast" else PahoClient)(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=PROTOCOLS[protocol], manual_ack=True, **kwargs
        )
        if kind == "paho":
            self.client.on_message = lambda c, u, m: self._on_publishes([(m._topic, m.payload, m.mid, m.qos)])
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()

    def _on_publishes(self, received: list) -> None:
        self.calls.append(received)
        if self.ack_at_once:
            self.client.ack_many([mid for _, _, mid, _ in received])

    def start(self) -> Subscriber:
        if self.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 300
            props.ReceiveMaximum = 1000  # else Mosquitto sends 20 at a time (max_inflight_messages)
            self.client.connect(self.target.host, self.target.port, clean_start=False, properties=props)
        else:
            self.client.connect(self.target.host, self.target.port)
        self.client.loop_start()
        assert self.subscribed.wait(10)
        return self

    def received(self) -> list:
        return [m for call in list(self.calls) for m in call]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish(mqtt_url: str, messages: list[tuple[str, bytes, Properties | None]]) -> None:
    target = parse_mqtt_url(mqtt_url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.connect(target.host, target.port)
    client.loop_start()
    try:
        infos = [client.publish(t, p, qos=1, properties=props) for t, p, props in messages]
        for info in infos:
            info.wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()


def messages_for(topic: str, city: str) -> list[tuple[str, bytes, Properties | None]]:
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ("k", "v" * 200)  # MQTT 5 properties to skip (a 2-byte property length)
    props.MessageExpiryInterval = 600
    big = bytes(range(256)) * (RECV_BYTES // 256 + 300)  # spans several socket reads
    messages = [(topic, f"m{i}".encode() * (i % 50 + 1), props if i % 3 == 0 else None) for i in range(400)]
    messages.insert(123, (topic, big, props))
    messages.insert(7, (f"fleet/{city}/truck-é/telemetry", b"", None))  # non-ASCII topic, empty payload
    return messages


def test_burst_arrives_whole_in_order_and_acks_end_redelivery(mqtt_url):
    protocol = "5"
    city = unique_city()
    topic = f"fleet/{city}/truck-1/telemetry"
    client_id = f"fast-{uuid.uuid4().hex[:8]}"
    sub = Subscriber(mqtt_url, client_id, f"fleet/{city}/+/telemetry", protocol).start()
    sub.stop()  # the session stays: what is published now waits at the broker, then comes as one burst
    messages = messages_for(topic, city)
    publish(mqtt_url, messages)

    sub = Subscriber(mqtt_url, client_id, f"fleet/{city}/+/telemetry", protocol).start()
    try:
        wait_until(lambda: len(sub.received()) >= len(messages), 30, "the burst")
        got = sub.received()
        assert [(t, p) for t, p, _, _ in got] == [(t.encode(), p) for t, p, _ in messages]
        assert {qos for *_, qos in got} == {1}
        assert len({mid for _, _, mid, _ in got}) == len(got)
        assert len(sub.calls) < len(messages) / 4  # many packets per socket read
        # Acknowledge the first half only, in one write.
        half = len(got) // 2
        sub.client.ack_many([mid for _, _, mid, _ in got[:half]])
        wait_until(lambda: not sub.client.want_write(), 10, "the acks written")
    finally:
        sub.stop()

    # The broker redelivers exactly the unacknowledged half to the same session.
    sub = Subscriber(mqtt_url, client_id, f"fleet/{city}/+/telemetry", protocol).start()
    try:
        wait_until(lambda: len(sub.received()) >= len(got) - half, 30, "the redelivery")
        again = sub.received()
        assert [p for _, p, _, _ in again] == [p for _, p, _, _ in got[half:]]
        sub.client.ack_many([mid for _, _, mid, _ in again])
        wait_until(lambda: not sub.client.want_write(), 10, "the acks written")
    finally:
        sub.stop()
    sub = Subscriber(mqtt_url, client_id, f"fleet/{city}/+/telemetry", protocol).start()
    try:
        publish(mqtt_url, [(topic, b"last", None)])  # a marker: everything before it was acked
        wait_until(lambda: sub.received(), 10, "the marker")
        assert [p for _, p, _, _ in sub.received()] == [b"last"]
        sub.client.ack_many([sub.received()[0][2]])
        wait_until(lambda: not sub.client.want_write(), 10, "the ack written")
    finally:
        sub.stop()
        # End the session at the broker.
        end = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        end.connect(sub.target.host, sub.target.port, clean_start=True)
        end.disconnect()


def test_mqtt311_stream_acked_as_it_arrives(mqtt_url):
    """3.1.1 has no Receive Maximum (Mosquitto sends 20 at a time): acks keep it flowing."""
    city = unique_city()
    client_id = f"fast-{uuid.uuid4().hex[:8]}"
    sub = Subscriber(mqtt_url, client_id, f"fleet/{city}/+/telemetry", "3.1.1", ack_at_once=True).start()
    try:
        messages = messages_for(f"fleet/{city}/truck-1/telemetry", city)
        publish(mqtt_url, messages)
        wait_until(lambda: len(sub.received()) >= len(messages), 30, "every message")
        assert [(t, p) for t, p, _, _ in sub.received()] == [(t.encode(), p) for t, p, _ in messages]
    finally:
        sub.stop()
        end = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311, clean_session=True)
        end.connect(sub.target.host, sub.target.port)
        end.disconnect()


def test_qos0_takes_paho_path(mqtt_url):
    city = unique_city()
    seen = []
    sub = Subscriber(mqtt_url, f"fast-{uuid.uuid4().hex[:8]}", f"fleet/{city}/#", "5")
    sub.client.on_message = lambda c, u, m: seen.append((m.topic, m.payload, m.qos))
    sub.start()
    try:
        target = parse_mqtt_url(mqtt_url)
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.connect(target.host, target.port)
        pub.loop_start()
        pub.publish(f"fleet/{city}/a/status", b"zero", qos=0).wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()
        wait_until(lambda: seen, 10, "the QoS 0 message")
        assert seen == [(f"fleet/{city}/a/status", b"zero", 0)] and sub.received() == []
    finally:
        sub.stop()


@pytest.mark.parametrize("kind", ["fast", "paho"])
def test_acks_survive_an_immediate_reconnect_to_a_busy_broker(tmp_path, kind):
    """The CI race, made deterministic: acks written, DISCONNECT sent, same client id reconnects.

    Mosquitto reads one packet per event-loop turn per connection. When a CONNECT with the
    same client id is read before the old connection's PUBACKs, it takes the session over and
    closes the old connection with the acks unread: the broker redelivers them (its log says
    "already connected, closing old connection"). A paused broker (SIGSTOP) stands for one
    busy with other clients. The client must return from disconnect only once the broker has
    closed the connection, which it does after reading DISCONNECT and everything before it."""
    broker = PrivateMosquitto(tmp_path)
    try:
        topic = "fleet/race/truck-1/telemetry"
        client_id = f"race-{uuid.uuid4().hex[:8]}"
        Subscriber(broker.url, client_id, topic, "5", kind=kind).start().stop()  # a session that stays
        publish(broker.url, [(topic, f"m{i}".encode(), None) for i in range(200)])
        sub = Subscriber(broker.url, client_id, topic, "5", kind=kind).start()
        wait_until(lambda: len(sub.received()) >= 200, 10, "the queued messages")
        broker.pause()
        resume = threading.Timer(0.5, broker.resume)
        resume.start()
        try:
            sub.client.ack_many([mid for _, _, mid, _ in sub.received()])
            sub.stop()  # without waiting for the broker, this returns while it is still paused
            again = Subscriber(broker.url, client_id, topic, "5", kind=kind).start()
        finally:
            resume.join()
        publish(broker.url, [(topic, b"last", None)])  # a marker: everything before it was acked
        wait_until(lambda: again.received(), 10, "the marker")
        again.stop()
        assert [p for _, p, _, _ in again.received()] == [b"last"], "acknowledged messages came back"
        assert "already connected, closing old connection" not in broker.log.read_text()
    finally:
        broker.stop()
