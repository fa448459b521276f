"""The bench's Traccar server: POSTs pre-encoded forwarding bodies over keep-alive HTTP/1.1.

Traccar's ``forward.type=json`` sends one PositionData (or EventData) per request and waits
for the answer before counting it delivered (PositionForwardingHandler; a non-2xx answer is
retried). Here each connection holds one request in flight (closed loop) and the answer,
which fleetpilot gives only after the commit, ends its latency: that latency *is* the
publish → commit lag. As in loadgen.py, only the framing headers are parsed, so the client
spends little of the cores it shares with the server and the database.

`run` is a publisher process: `connections` clients over `messages`, until they run out or
`stop` is set; it reports per answered request (monotonic time answered, latency s, 2xx).
CLOCK_MONOTONIC is system-wide on Linux, so the parent's measured window applies as is.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import numpy as np

from .loadgen import CONNECTION_LOST, _read_response

SERVER_TIME_KEY = b'"serverTime":"'  # Traccar's position.serverTime, stamped at send time (29 chars)


def request_head(path: str, token: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def _stamp(body: bytes) -> bytes:
    at = body.find(SERVER_TIME_KEY)
    if at < 0:
        return body
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"
    j = at + len(SERVER_TIME_KEY)
    return body[:j] + now.encode() + body[j + 29 :]


async def _client(host, port, path, token, bodies, stop, sent, answered) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for body in bodies:
            if stop.is_set():
                break
            body = _stamp(body)
            started = time.monotonic()
            sent[0] += 1
            try:
                writer.write(request_head(path, token, len(body)) + body)
                status = await _read_response(reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                status = CONNECTION_LOST
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
            done = time.monotonic()
            answered.append((done, done - started, 200 <= status < 300))
    finally:
        writer.close()


def run(
    host: str, port: int, path: str, token: str, messages: list[bytes], connections: int, start, stop, queue
) -> None:
    """Publisher process: `connections` keep-alive clients share `messages` round-robin (one
    position per request; exactly-once is keyed by (vehicle, time), so any split is safe)."""
    sent = [0]
    answered: list[tuple[float, float, bool]] = []

    async def main() -> None:
        await asyncio.gather(
            *(
                _client(host, port, path, token, messages[i::connections], stop, sent, answered)
                for i in range(connections)
            )
        )

    start.wait()
    asyncio.run(main())
    rows = np.array(answered, dtype=np.float64).reshape(-1, 3)
    queue.put((sent[0], rows))
