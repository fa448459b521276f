"""The MQTT side: paho-mqtt 2.x, QoS 1, a persistent session, acknowledgements by hand.

The client id is stable per worker and the session outlives disconnects (MQTT 5: clean
start off and a long session expiry; 3.1.1: clean session off), so messages published while
the worker is down or busy wait at the broker. Nothing is acknowledged on receipt: the
worker calls `ack` once the transaction holding a message's rows has committed, so a crash
at any point leaves the message unacknowledged and the broker delivers it again.

Acknowledgements name a packet id, which is only meaningful on the connection the message
came on; after a reconnect the broker resends every unacknowledged message (same ids), so
acks for messages of an earlier connection are skipped — acking them could acknowledge a
newer message that reuses the id before it is stored.

Flow control (MQTT 5): the worker announces a Receive Maximum equal to its buffer's capacity,
so the broker never has more unacknowledged messages out to it than the buffer holds and
paho's thread keeps reading (and answering pings) even while the database is away. Messages
beyond that wait at the broker — within the broker's own queue limit: Mosquitto's default
``max_queued_messages 1000`` drops what exceeds it, so a deployment that must survive long
outages sets it much higher (or 0) with ``max_queued_bytes`` as the memory guard.

Two receive paths (decision 0011): ``fast`` (default) parses QoS 1 publishes by hand and
acks many with one write; ``paho`` is paho's own path (one callback and one PUBACK write per
message), kept as the reference the fast path is measured and tested against.

MQTT 3.1.1 (e.g. the embedded amqtt broker) has no shared subscriptions: with it a worker
subscribes alone and says so in the log.
"""

from __future__ import annotations

import logging
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from fleetpilot.ingest.buffer import BoundedBuffer, Inbound
from fleetpilot.ingest.logs import log
from fleetpilot.ingest.metrics import IngestMetrics
from fleetpilot.ingest.pahofast import FastClient, PahoClient, Received
from fleetpilot.ingest.topics import subscriptions
from fleetpilot.urls import MqttTarget

logger = logging.getLogger("fleetpilot.ingest.receive")
KEEPALIVE_S = 60
MAX_RECEIVE_MAXIMUM = 65_535  # the largest Receive Maximum MQTT 5 can announce
CLIENT_KINDS = {"fast": FastClient, "paho": PahoClient}


class Receiver:
    def __init__(
        self,
        target: MqttTarget,
        client_id: str,
        city: str,
        buffer: BoundedBuffer,
        metrics: IngestMetrics,
        *,
        protocol: str = "5",
        share_group: str | None = None,
        session_expiry_s: int = 7 * 86400,
        client_kind: str = "fast",
        extra_filters: tuple[str, ...] = (),
        generation_base: int = 0,
        rescue: bool = False,
    ):
        if protocol not in ("5", "3.1.1"):
            raise ValueError("MQTT protocol must be 5 or 3.1.1")
        if client_kind not in CLIENT_KINDS:
            raise ValueError(f"MQTT client must be one of {', '.join(CLIENT_KINDS)}")
        self.target = target
        self.client_id = client_id
        self.protocol = protocol
        if share_group and protocol != "5":
            log(
                logger,
                logging.WARNING,
                "shared subscriptions need MQTT 5; subscribing without a share group",
                share_group=share_group,
            )
            share_group = None
        self.filters = subscriptions(city, share_group, extra_filters)
        self.extra_filters = extra_filters
        self.buffer = buffer
        self.metrics = metrics
        self.session_expiry_s = session_expiry_s
        self.subscribed = threading.Event()
        self._lock = threading.Lock()  # guards generation/connected against acks from the event loop
        # Generations name connections; several receivers of one worker (a rescue beside the
        # worker's own, see peers.py) share one buffer, so each counts from its own base.
        self._generation = generation_base
        self._connects = 0
        self._connected = False
        # A rescue takes over a dead peer's session once, drains it and ends it: it never
        # reconnects (the peer may have come back and taken its session over).
        self.rescue = rescue
        self.received = 0
        self.acked = 0
        self.last_received = time.monotonic()
        self.ended = threading.Event()
        self.unsubscribed = threading.Event()
        self.unsubscribed_requested = False
        kwargs = {"protocol": mqtt.MQTTv5} if protocol == "5" else {"protocol": mqtt.MQTTv311, "clean_session": False}
        if client_kind == "fast":
            kwargs["on_publishes"] = self._on_publishes
        client = CLIENT_KINDS[client_kind](CallbackAPIVersion.VERSION2, client_id=client_id, manual_ack=True, **kwargs)
        if target.username:
            client.username_pw_set(target.username, target.password)
        if target.tls:
            client.tls_set()
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client

    def start(self) -> None:
        """Connect in the background (paho's network thread reconnects by itself)."""
        if self.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.session_expiry_s
            props.ReceiveMaximum = min(self.buffer.capacity, MAX_RECEIVE_MAXIMUM)
            self._client.connect_async(
                self.target.host, self.target.port, KEEPALIVE_S, clean_start=False, properties=props
            )
        else:
            self._client.connect_async(self.target.host, self.target.port, KEEPALIVE_S)
        self._client.loop_start()

    def ack(self, items: list[Inbound]) -> int:
        """Acknowledge `items` (in order) that came on the current connection; returns how many."""
        with self._lock:
            if not self._connected:
                return 0
            generation = self._generation
            mids = [item.mid for item in items if item.qos == 1 and item.generation == generation]
            self._client.ack_many(mids)  # one write for all
            self.acked += len(mids)
        return len(mids)

    def drained(self, idle_s: float) -> bool:
        """A rescue's end: subscribed, nothing new for `idle_s`, everything received acknowledged."""
        return (
            self.subscribed.is_set() and self.acked >= self.received and time.monotonic() - self.last_received >= idle_s
        )

    def unsubscribe(self) -> None:
        """A rescue's first step out: the broker stops routing new messages to the session, and
        still delivers what it queued for it (so nothing is in flight when the session ends)."""
        self.last_received = time.monotonic()
        self._client.on_unsubscribe = lambda *args: self.unsubscribed.set()
        self._client.unsubscribe(self.filters)

    def release(self, timeout_s: float = 5.0) -> None:
        """Like stop() for a receiver that shares its buffer: disconnect, leave the buffer open."""
        deadline = time.monotonic() + timeout_s
        while self._client.want_write() and time.monotonic() < deadline:
            time.sleep(0.01)
        self._client.disconnect()
        self._client.loop_stop()

    def stop(self, timeout_s: float = 5.0, keep_session_s: int | None = None) -> None:
        """Send what is queued (acks first), disconnect cleanly (the session stays), stop the thread.
        `keep_session_s` (MQTT 5): the session's expiry from now on, sent with DISCONNECT.

        Returns once the broker has closed the connection, i.e. has read every ack (see pahofast)."""
        self.buffer.close()  # a network thread waiting for room gives up; those messages stay unacked
        deadline = time.monotonic() + timeout_s
        while self._client.want_write() and time.monotonic() < deadline:
            time.sleep(0.01)
        if keep_session_s is not None and self.protocol == "5" and self.session_expiry_s > 0:
            props = Properties(PacketTypes.DISCONNECT)
            props.SessionExpiryInterval = keep_session_s
            self._client.disconnect(properties=props)
        else:
            self._client.disconnect()
        self._client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected

    # paho callbacks (network thread)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log(logger, logging.ERROR, "broker refused the connection", reason=str(reason_code))
            return
        with self._lock:
            self._generation += 1
            self._connects += 1
            self._connected = True
        if not self.rescue:
            self.metrics.mqtt_connects.inc()
            self.metrics.mqtt_connected.set(1)
        session_present = bool(flags.session_present)
        log(
            logger,
            logging.INFO,
            "connected to the broker",
            broker=self.target.url(),
            client_id=self.client_id,
            protocol=self.protocol,
            session_present=session_present,
            generation=self._generation,
        )
        if not session_present and not self.rescue:
            # On a first start this is expected; on a reconnect, or a restart of a worker that
            # ran before, it means the broker lost or expired the session.
            reconnect = self._connects > 1
            if reconnect:
                self.metrics.sessions_lost.inc()
            log(
                logger,
                logging.WARNING if reconnect else logging.INFO,
                "broker has no session for this worker",
                client_id=self.client_id,
                reconnect=reconnect,
                implies="whatever the broker held for this worker -- messages queued while it was away and "
                "messages delivered but not yet acknowledged -- is lost unless the broker persisted it; "
                "messages published before the subscription below is in place are lost too. Check the "
                "broker's persistence and the session expiry (a broker restart without persistence, or "
                "a worker away longer than --session-expiry)",
            )
        if self.protocol == "5":
            client.subscribe([(f, SubscribeOptions(qos=1)) for f in self.filters])
        else:
            client.subscribe([(f, 1) for f in self.filters])

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._lock:
            self._connected = False
        if self.rescue:
            self.ended.set()
            client.disconnect()  # no automatic reconnect: the session is the peer's again, or gone
            return
        self.metrics.mqtt_connected.set(0)
        log(
            logger,
            logging.WARNING if reason_code.is_failure else logging.INFO,
            "disconnected from the broker",
            reason=str(reason_code),
        )

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [str(rc) for rc in reason_codes if rc.is_failure]
        if failed:
            log(logger, logging.ERROR, "broker refused subscriptions", filters=self.filters, reasons=failed)
            return
        event = "rescue: subscribed in the stranded session" if self.rescue else "subscribed"
        log(logger, logging.INFO, event, client_id=self.client_id, filters=self.filters)
        self.subscribed.set()

    def _on_publishes(self, received: list[Received]) -> None:
        """QoS 1 messages of one socket read (FastClient), handed over together."""
        generation = self._generation  # one read holds packets of one connection
        now_ms = int(time.time() * 1000)
        items = []
        for topic, payload, mid, qos in received:
            try:
                text = topic.decode()
            except UnicodeDecodeError:  # the validator dead-letters it as bad_topic
                text = topic.decode("utf-8", "replace")
            items.append(Inbound(text, payload, mid, qos, generation, now_ms))
        self.received += len(items)
        self.last_received = time.monotonic()
        # Blocks while the buffer is full: paho stops reading and the broker keeps the rest.
        self.buffer.put_many(items)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        """paho's own path: every message with the `paho` client, else anything but QoS 1 (QoS 0
        publishes are stored, nothing to ack)."""
        try:
            topic = message.topic
        except UnicodeDecodeError:  # the validator dead-letters it as bad_topic
            topic = message._topic.decode("utf-8", "replace")
        item = Inbound(topic, message.payload, message.mid, message.qos, self._generation, int(time.time() * 1000))
        if message.qos == 1:
            self.received += 1
        self.last_received = time.monotonic()
        # Blocks while the buffer is full: paho stops reading and the broker keeps the rest.
        self.buffer.put(item)
