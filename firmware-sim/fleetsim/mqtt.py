"""Many MQTT connections in one thread: paho clients driven by a selector.

Each unit has its own paho client (client id = device id, its own last will). Instead of a
network thread per client, the sockets are registered with one `selectors` selector through
paho's socket callbacks, and `Pump.pump()` does the reads, writes and keep-alives of all of
them, so 500 units cost one thread and no busy loop.
"""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

KEEPALIVE_S = 60


class BrokerError(RuntimeError):
    """The broker refused a connection or did not answer in time."""


@dataclass(frozen=True)
class Broker:
    """Where and how units connect. `username`/`password` may contain {device} and {vehicle}."""

    host: str = "127.0.0.1"
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = None
    version: str = "5"  # "5" or "3.1.1"

    @staticmethod
    def from_url(url: str, username: str | None = None, password: str | None = None, version: str = "5") -> Broker:
        """mqtt://[user[:password]@]host[:port] or mqtts://… (TLS, system CAs)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp"):
            raise ValueError(f"broker URL must start with mqtt:// or mqtts://, got {url!r}")
        if version not in ("5", "3.1.1"):
            raise ValueError("MQTT version must be 5 or 3.1.1")
        tls = parts.scheme == "mqtts"
        url_user = unquote(parts.username) if parts.username else None
        url_password = unquote(parts.password) if parts.password else None
        return Broker(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=username if username is not None else url_user,
            password=password if password is not None else url_password,
            version=version,
        )


@dataclass
class Unit:
    """One device's connection and its delivery bookkeeping."""

    device_id: str
    vehicle_id: str
    client: mqtt.Client
    sock: socket.socket | None = None
    connected: bool = False
    refused: str | None = None
    inflight: set[int] = field(default_factory=set)
    published: int = 0
    acked: int = 0
    failed: int = 0
    connects: int = 0
    drops: int = 0


class Pump:
    """Owns the selector and every unit's client."""

    def __init__(self, broker: Broker, max_inflight: int = 100):
        self.broker = broker
        self.max_inflight = max_inflight
        self.selector = selectors.DefaultSelector()
        self.units: list[Unit] = []
        self._last_misc = time.monotonic()

    # --- units
    def add_unit(self, device_id: str, vehicle_id: str) -> Unit:
        b = self.broker
        v5 = b.version == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=device_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            **({} if v5 else {"clean_session": True}),
        )
        client.max_inflight_messages_set(self.max_inflight)
        if b.username is not None:
            client.username_pw_set(
                b.username.format(device=device_id, vehicle=vehicle_id),
                None if b.password is None else b.password.format(device=device_id, vehicle=vehicle_id),
            )
        if b.tls:
            client.tls_set()
        unit = Unit(device_id, vehicle_id, client)
        client.user_data_set(unit)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        self.units.append(unit)
        return unit

    def connect(self, unit: Unit, will_topic: str, will_payload: bytes, timeout: float = 30.0) -> None:
        """Connect (or reconnect) with this last will and wait for the broker's CONNACK."""
        unit.client.will_set(will_topic, will_payload, qos=1, retain=True)
        unit.refused = None
        if unit.connects == 0:
            kwargs = {"clean_start": True} if self.broker.version == "5" else {}
            unit.client.connect(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S, **kwargs)
        else:
            unit.client.reconnect()
        unit.connects += 1
        self.wait(lambda: unit.connected or unit.refused is not None, timeout, f"CONNACK for {unit.device_id}")
        if unit.refused is not None:
            raise BrokerError(f"broker refused {unit.device_id}: {unit.refused}")

    def publish(self, unit: Unit, topic: str, payload: bytes, retain: bool) -> None:
        info = unit.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            unit.failed += 1
            return
        unit.inflight.add(info.mid)
        unit.published += 1

    def drop(self, unit: Unit, timeout: float = 30.0) -> None:
        """Lose the link without a DISCONNECT (the broker then publishes the will).

        Waits for outstanding acknowledgements first, so no message is redelivered by the
        client after the reconnect: the duplicates on the wire are exactly the scheduled ones."""
        self.drain(unit, timeout)
        sock = unit.sock
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
            self.wait(
                lambda: unit.sock is None,
                timeout,
                f"socket close of {unit.device_id}",
                poke=lambda: unit.client.loop_read(),
            )
        unit.connected = False
        unit.drops += 1

    def disconnect(self, unit: Unit, timeout: float = 30.0) -> None:
        """Clean DISCONNECT after everything is acknowledged (the will is discarded)."""
        self.drain(unit, timeout)
        unit.client.disconnect()
        self.wait(lambda: unit.sock is None, timeout, f"disconnect of {unit.device_id}")
        unit.connected = False

    def drain(self, unit: Unit, timeout: float = 30.0) -> None:
        self.wait(lambda: not unit.inflight, timeout, f"acknowledgements for {unit.device_id}")

    def inflight(self) -> int:
        return sum(len(u.inflight) for u in self.units)

    # --- the loop
    def pump(self, timeout: float) -> None:
        """One round of network I/O for every socket, waiting at most `timeout` seconds."""
        for key, mask in self.selector.select(max(timeout, 0.0)):
            unit: Unit = key.data
            if mask & selectors.EVENT_READ and unit.sock is not None:
                unit.client.loop_read()
            if mask & selectors.EVENT_WRITE and unit.sock is not None:
                unit.client.loop_write()
        now = time.monotonic()
        if now - self._last_misc >= 1.0:
            self._last_misc = now
            for unit in self.units:
                if unit.sock is not None:
                    unit.client.loop_misc()

    def wait(self, done, timeout: float, what: str, poke=None) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise BrokerError(f"timed out waiting for {what}")
            if poke is not None:
                poke()
            self.pump(0.05)

    def close(self, timeout: float = 10.0) -> None:
        """End every connection still open (a run cut short by its duration) as a lost link, so
        the broker publishes each unit's retained `offline` will instead of leaving `online`."""
        open_units = [u for u in self.units if u.sock is not None]
        deadline = time.monotonic() + timeout
        while any(u.inflight for u in open_units) and time.monotonic() < deadline:
            self.pump(0.05)
        for unit in open_units:
            if unit.sock is not None:
                unit.sock.shutdown(socket.SHUT_RDWR)
        while any(u.sock is not None for u in open_units) and time.monotonic() < deadline:
            for unit in open_units:
                if unit.sock is not None:
                    unit.client.loop_read()
        self.selector.close()

    # --- paho callbacks (all run inside pump(), on this thread)
    def _on_connect(self, client, unit: Unit, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            unit.refused = str(reason_code)
        else:
            unit.connected = True

    def _on_disconnect(self, client, unit: Unit, flags, reason_code, properties) -> None:
        unit.connected = False

    def _on_publish(self, client, unit: Unit, mid, reason_code, properties) -> None:
        if mid in unit.inflight:
            unit.inflight.discard(mid)
            if reason_code.is_failure:
                unit.failed += 1
            else:
                unit.acked += 1

    def _on_socket_open(self, client, unit: Unit, sock) -> None:
        unit.sock = sock
        self.selector.register(sock, selectors.EVENT_READ, unit)

    def _on_socket_close(self, client, unit: Unit, sock) -> None:
        if unit.sock is not None:
            self.selector.unregister(unit.sock)
        unit.sock = None

    def _on_register_write(self, client, unit: Unit, sock) -> None:
        if unit.sock is not None:
            self.selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, unit)

    def _on_unregister_write(self, client, unit: Unit, sock) -> None:
        if unit.sock is not None:
            self.selector.modify(sock, selectors.EVENT_READ, unit)
