"""A paho-mqtt client with a cheaper receive and acknowledge path (relies on paho internals).

Why: profiled, paho 2.2's receive path was about half of the ingest's CPU per message. Per
PUBLISH it does one ``select``, then ``recv(1)`` for the fixed header byte, ``recv(1)`` per
remaining-length byte and one more ``recv`` for the body (``loop_read`` handles a single
packet per ``select`` unless QoS 2 or outgoing messages are in flight), decodes the MQTT 5
properties into a ``Properties`` object, builds an ``MQTTMessage`` and matches the topic
against per-filter callbacks. Every ``ack`` queues its own 4-byte PUBACK, writes a wake-up
byte to paho's socket pair and gets its own ``send``.

What this subclass changes, and nothing else:

* ``_sock_recv`` serves from a buffer filled by one large ``recv``; ``loop_read`` parses
  every complete packet in it before going back to ``select`` (at most `RECV_CHUNKS`
  socket reads per call, so writes and keep-alive still get their turn; data left in the
  socket makes the next ``select`` return at once).
* A QoS 1 PUBLISH is parsed by hand (topic, packet id, payload; MQTT 5 properties are
  skipped: no Topic Alias Maximum is announced, so the broker sends no topic aliases) and
  collected; the collected messages go to ``on_publishes`` in one call per ``loop_read``.
  Other QoS levels and every other packet take paho's own path.
* ``ack_many`` queues the PUBACKs of many packet ids as one write.

Both clients here (`PahoClient`, paho's own receive path, and `FastClient`) also close
cleanly: after our DISCONNECT they wait, bounded, for the broker to close the connection
before closing the socket. paho closes right after writing DISCONNECT, and MQTT has no
DISCONNECT acknowledgement, so nothing told the client that the broker had *read* the acks
written before it. Mosquitto reads one packet per event-loop turn per connection; a client
that reconnects with the same client id before the broker has read them triggers a session
takeover, which closes the old connection with its unread PUBACKs still in the socket: the
broker redelivers those messages (seen in CI: 84 of 201 acked messages came back; the
broker logs "Client … already connected, closing old connection."). The broker closes only
after reading DISCONNECT, and it reads a connection's packets in order, so its EOF proves
every earlier ack was read. For the ingest a lost ack costs a duplicate (writes are
idempotent), not data; for a rolling restart it costs a redelivery of the last acked batch.

Written against paho-mqtt 2.2.0 (the pinned version): `check_paho_version` refuses others
rather than misbehave if the internals moved. tests/ingest/test_pahofast.py runs it against
the real broker.
"""

from __future__ import annotations

import select
import struct
import time
from collections.abc import Callable, Iterable

import paho.mqtt
import paho.mqtt.client as mqtt

WRITTEN_FOR = "2.2.0"
RECV_BYTES = 256 * 1024  # one socket read
RECV_CHUNKS = 8  # socket reads per loop_read at most, then back to select
CLOSE_WAIT_S = 5.0  # after our DISCONNECT: how long to wait for the broker to close
PUBLISH = 0x30
PUBACK = 0x40

# (topic bytes, payload, packet id, qos)
Received = tuple[bytes, bytes, int, int]


def check_paho_version(version: str = paho.mqtt.__version__) -> None:
    if version != WRITTEN_FOR:
        raise RuntimeError(
            f"fleetpilot.ingest.pahofast was written for paho-mqtt {WRITTEN_FOR} internals, "
            f"found {version}: check it against the new version before use"
        )


class PahoClient(mqtt.Client):
    """paho's own client, plus `ack_many` and a disconnect that returns once the broker has read it."""

    def __init__(self, *args, close_wait_s: float = CLOSE_WAIT_S, **kwargs):
        check_paho_version()
        super().__init__(*args, **kwargs)
        self.close_wait_s = close_wait_s
        self._disconnect_sent = False

    def ack_many(self, mids: Iterable[int]) -> None:
        """Acknowledge QoS 1 packet ids (manual acks), one PUBACK write each (paho's path)."""
        for mid in mids:
            self.ack(mid, 1)

    def _send_disconnect(self, *args, **kwargs) -> mqtt.MQTTErrorCode:
        self._disconnect_sent = True
        return super()._send_disconnect(*args, **kwargs)

    def _sock_close(self) -> None:
        sock = self._sock
        if sock is not None and self._disconnect_sent and not self._out_packet:
            self._await_broker_close(sock)  # paho calls this right after writing our DISCONNECT
        self._disconnect_sent = False
        super()._sock_close()

    def _await_broker_close(self, sock) -> None:
        """Read (and drop) until the broker closes the connection, at most `close_wait_s`.

        Whatever still arrives is unacknowledged, so the broker delivers it again later."""
        deadline = time.monotonic() + self.close_wait_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                if not select.select([sock], [], [], left)[0]:
                    break
                if not sock.recv(RECV_BYTES):
                    return  # EOF: the broker has read our DISCONNECT and all before it
            except BlockingIOError:
                continue
            except OSError:
                return  # reset or closed: nothing more to wait for
        self._easy_log(mqtt.MQTT_LOG_WARNING, "broker did not close within %.1f s of DISCONNECT", self.close_wait_s)


class FastClient(PahoClient):
    """`PahoClient` whose QoS 1 messages go, in batches, to ``on_publishes(list[Received])``."""

    def __init__(self, *args, on_publishes: Callable[[list[Received]], None], **kwargs):
        super().__init__(*args, **kwargs)
        self.on_publishes = on_publishes
        self._rbuf = b""
        self._rpos = 0
        self._reads_left = 0
        self._received: list[Received] = []

    # receive

    def _sock_recv(self, bufsize: int) -> bytes:
        pos, buf = self._rpos, self._rbuf
        if pos >= len(buf):
            if self._reads_left <= 0:
                raise BlockingIOError()  # as if the socket were empty: back to select
            self._reads_left -= 1
            buf = self._rbuf = super()._sock_recv(RECV_BYTES)
            pos = 0
            if not buf:
                self._rpos = 0
                return buf  # the connection closed
        end = pos + bufsize
        self._rpos = end
        return buf[pos:end]

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        if self._sock is None:
            return mqtt.MQTTErrorCode.MQTT_ERR_NO_CONN
        self._reads_left = RECV_CHUNKS
        try:
            while True:
                if self._sock is None:
                    return mqtt.MQTTErrorCode.MQTT_ERR_NO_CONN
                rc = self._packet_read()
                if rc > 0:
                    return self._loop_rc_handle(rc)
                if rc == mqtt.MQTTErrorCode.MQTT_ERR_AGAIN or self._rpos >= len(self._rbuf):
                    return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        finally:
            self._deliver()

    def _deliver(self) -> None:
        if self._received:
            received, self._received = self._received, []
            self.on_publishes(received)

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        header = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        if qos != 1:
            return super()._handle_publish()
        packet = self._in_packet["packet"]
        end = len(packet)
        if end < 4:
            return mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
        pos = 2 + ((packet[0] << 8) | packet[1])
        if pos + 2 > end:
            return mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
        topic = bytes(packet[2:pos])
        mid = (packet[pos] << 8) | packet[pos + 1]
        pos += 2
        if self._protocol == mqtt.MQTTv5:  # skip the properties: a variable byte integer length, then them
            length, shift = 0, 0
            while True:
                if pos >= end or shift > 21:
                    return mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
                byte = packet[pos]
                pos += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            pos += length
            if pos > end:
                return mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
        elif not topic:
            return mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
        self._received.append((topic, bytes(packet[pos:]), mid, 1))
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    def _sock_close(self) -> None:
        super()._sock_close()
        self._rbuf, self._rpos = b"", 0  # bytes of a closed connection mean nothing on the next

    # acknowledge

    def ack_many(self, mids: Iterable[int]) -> None:
        """Queue one PUBACK per packet id (QoS 1, manual acks), written together."""
        data = b"".join([struct.pack("!BBH", PUBACK, 2, mid) for mid in mids])
        if data:
            self._packet_queue(PUBACK, data, 0, 1)
