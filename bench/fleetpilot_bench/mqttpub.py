"""The bench's publisher: a minimal MQTT 5 client that only publishes QoS 1 messages.

paho's publish path cost ~120 µs of CPU per message here (per-message locks, a wake-up
byte, one ``send`` each, several ``recv`` per PUBACK) — more than the ingest it feeds, on
the same two cores. This client writes pre-encoded PUBLISH packets many to a ``send`` and
counts the broker's PUBACKs, so a message counts as published only once the broker has
taken responsibility for it, as with any QoS 1 client. Nothing else of MQTT is needed here
(no subscriptions, no reconnects: a lost link ends the run with an error).
"""

from __future__ import annotations

import select
import socket
import ssl
import struct

from fleetpilot.urls import MqttTarget

PUBLISH_QOS1 = 0x32
PUBACK = 0x40
MAX_MID = 65_535


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


class QoS1Publisher:
    def __init__(self, target: MqttTarget, client_id: str, timeout_s: float = 10.0):
        sock = socket.create_connection((target.host, target.port), timeout=timeout_s)
        if target.tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=target.host)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.acked = 0
        self.failed = 0  # PUBACKs with an error reason code
        self._next_mid = 1
        self._topics: dict[str, bytes] = {}
        self._rbuf = b""
        flags = 0x02  # clean start
        payload = _utf8(client_id)
        if target.username:
            flags |= 0x80
            payload += _utf8(target.username)
            if target.password is not None:
                flags |= 0x40
                payload += _utf8(target.password)
        # Protocol name, level 5, flags, keep-alive 0 (off: the bench may idle), no properties.
        variable = _utf8("MQTT") + bytes([5, flags]) + struct.pack("!H", 0) + b"\x00"
        body = variable + payload
        sock.sendall(bytes([0x10]) + _varint(len(body)) + body)
        kind, packet = self._read_packet(timeout_s)
        if kind != 0x20 or len(packet) < 2 or packet[1] != 0:
            raise ConnectionError(f"the broker refused the connection (CONNACK {packet.hex()})")
        sock.setblocking(False)

    def publish_many(self, messages: list[tuple[str, bytes]]) -> None:
        """Send QoS 1 PUBLISH packets for `messages` in one write (blocking until written)."""
        packets = []
        mid = self._next_mid
        for topic, payload in messages:
            head = self._topics.get(topic)
            if head is None:
                head = self._topics[topic] = _utf8(topic)
            # Variable header: topic, packet id, property length 0.
            length = len(head) + 3 + len(payload)
            packets.append(b"%c%s%s%s\x00%s" % (PUBLISH_QOS1, _varint(length), head, struct.pack("!H", mid), payload))
            mid = mid + 1 if mid < MAX_MID else 1
        self._next_mid = mid
        data = memoryview(b"".join(packets))
        while data:
            try:
                sent = self.sock.send(data)
            except BlockingIOError:
                select.select([self.sock], [self.sock], [], 1.0)
                self.read_acks()  # a broker waiting for us to read cannot take more
                continue
            data = data[sent:]

    def read_acks(self, timeout_s: float = 0.0) -> int:
        """Read what the broker sent (waiting up to `timeout_s` for it); returns `acked`."""
        if timeout_s and not select.select([self.sock], [], [], timeout_s)[0]:
            return self.acked
        while True:
            try:
                chunk = self.sock.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError):
                break
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            self._rbuf += chunk
            if len(chunk) < 65536:
                break
        self._parse()
        return self.acked

    def close(self) -> None:
        try:
            self.sock.setblocking(True)
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT, normal
        finally:
            self.sock.close()

    def _parse(self) -> None:
        buf, pos, end = self._rbuf, 0, len(self._rbuf)
        while pos + 2 <= end:
            kind = buf[pos] & 0xF0
            length, shift, i = 0, 0, pos + 1
            while i < end:
                byte = buf[i]
                i += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            else:
                break  # the length is not complete yet
            if i + length > end:
                break
            if kind == PUBACK:
                # A reason code is present only when the remaining length is above 2.
                if length > 2 and buf[i + 2] >= 0x80:
                    self.failed += 1
                else:
                    self.acked += 1
            elif kind == 0xE0:
                raise ConnectionError(f"the broker disconnected (reason {buf[i] if length else 0})")
            pos = i + length
        self._rbuf = buf[pos:]

    def _read_packet(self, timeout_s: float) -> tuple[int, bytes]:
        self.sock.settimeout(timeout_s)
        head = self.sock.recv(1)
        if not head:
            raise ConnectionError("the broker closed the connection")
        length, shift = 0, 0
        while True:
            byte = self.sock.recv(1)[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        body = b""
        while len(body) < length:
            part = self.sock.recv(length - len(body))
            if not part:
                raise ConnectionError("the broker closed the connection")
            body += part
        return head[0] & 0xF0, body
