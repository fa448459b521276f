"""The bench's Traccar server / OwnTracks phones: POSTs pre-encoded bodies over keep-alive HTTP/1.1.

Traccar's ``forward.type=json`` sends one PositionData (or EventData) per request and waits
for the answer before counting it delivered (PositionForwardingHandler; a non-2xx answer is
retried); OwnTracks' HTTP mode POSTs one message per request with the phone's credentials
(Basic) and waits for the JSON array it answers. Here each connection holds one request in
flight (closed loop) and the answer, which fleetpilot gives only after the commit, ends its
latency: that latency *is* the publish → commit lag.

The client shares the two cores with the server and the database, so it is kept cheap: an
asyncio Protocol per connection (no stream objects or awaits per request; uvloop when
installed), the status line and Content-Length the only parts of an answer it reads, the
send-time stamp formatted once per millisecond. It stays a real HTTP/1.1 client: one request,
then its whole answer, then the next.

`run` is a publisher process: `connections` clients over `messages`, until they run out or
`stop` is set; it reports per answered request (monotonic time answered, latency s, 2xx).
CLOCK_MONOTONIC is system-wide on Linux, so the parent's measured window applies as is.
"""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import datetime, timezone

import numpy as np

SERVER_TIME_KEY = b'"serverTime":"'  # Traccar's position.serverTime, stamped at send time (29 chars)
CREATED_KEY = b'"created_at":'  # OwnTracks' created_at, epoch s (10 digits)


def request_head(path: str, authorization: str) -> bytes:
    """The request up to the Content-Length value (the body's length and the blank line follow)."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {authorization}\r\n"
        f"Content-Type: application/json\r\nContent-Length: "
    ).encode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class _Clock:
    """Send-time stamps, formatted at most once per millisecond."""

    def __init__(self) -> None:
        self._ms = -1
        self.iso = b""
        self.epoch_s = b""

    def tick(self) -> None:
        now = time.time()
        ms = int(now * 1000)
        if ms != self._ms:
            self._ms = ms
            self.iso = (
                datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"
            ).encode()
            self.epoch_s = str(ms // 1000).encode()


def _stamp(body: bytes, clock: _Clock) -> bytes:
    at = body.find(SERVER_TIME_KEY)
    if at >= 0:
        j = at + len(SERVER_TIME_KEY)
        return body[:j] + clock.iso + body[j + 29 :]
    at = body.find(CREATED_KEY)
    if at >= 0:
        j = at + len(CREATED_KEY)
        return body[:j] + clock.epoch_s + body[j + 10 :]
    return body


class _Client(asyncio.Protocol):
    """One keep-alive connection, one request in flight."""

    def __init__(self, feed, heads: dict, clock: _Clock, flags: dict, sent: list, answered: list, done):
        self.feed, self.heads, self.clock, self.flags = feed, heads, clock, flags
        self.sent, self.answered, self.done = sent, answered, done
        self.buffer = b""
        self.started = 0.0
        self.in_flight = False
        self.transport: asyncio.Transport

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._next()

    def _next(self) -> None:
        item = None if self.flags["stop"] else next(self.feed, None)
        if item is None:
            self.transport.close()
            return
        key, body = item
        self.clock.tick()
        body = _stamp(body, self.clock)
        self.sent[0] += 1
        self.started = time.monotonic()
        self.in_flight = True
        self.transport.write(self.heads[key] + str(len(body)).encode() + b"\r\n\r\n" + body)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            self.buffer = buffer
            return
        head = buffer[:end].lower()
        at = head.find(b"\r\ncontent-length:")
        length = 0
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop > 0 else len(head)])
        if len(buffer) < end + 4 + length:
            self.buffer = buffer
            return
        self.buffer = buffer[end + 4 + length :]
        status = int(head[9:12])
        done = time.monotonic()
        self.answered.append((done, done - self.started, 200 <= status < 300))
        self.in_flight = False
        self._next()

    def connection_lost(self, exc) -> None:
        if self.in_flight:  # the server closed it with our request unanswered
            done = time.monotonic()
            self.answered.append((done, done - self.started, False))  # lost (loadgen.CONNECTION_LOST)
            self.in_flight = False
            self.done.set_result(True)  # open another and go on
            return
        self.done.set_result(False)


async def _connection(host, port, feed, heads, clock, flags, sent, answered) -> None:
    loop = asyncio.get_running_loop()
    again = True
    while again:
        done = loop.create_future()
        await loop.create_connection(lambda: _Client(feed, heads, clock, flags, sent, answered, done), host, port)  # noqa: B023
        again = await done


def run(host: str, port: int, path: str, token, messages: list, connections: int, start, stop, queue) -> None:
    """Publisher process: `connections` keep-alive clients share `messages` (one position per
    request; exactly-once is keyed by (vehicle, time), so any split is safe). `token`: one
    Bearer token for every message (`messages` are bodies), or a dict key → Authorization
    value (`messages` are (key, body): OwnTracks phones, each with its own credentials)."""
    if isinstance(token, str):
        heads = {None: request_head(path, f"Bearer {token}")}
        items = [(None, body) for body in messages]
    else:
        heads = {key: request_head(path, value) for key, value in token.items()}
        items = messages
    sent = [0]
    answered: list[tuple[float, float, bool]] = []
    flags = {"stop": False}
    clock = _Clock()

    async def watch() -> None:  # a multiprocessing Event costs a lock per look: look every 50 ms
        while not stop.is_set():  # noqa: ASYNC110 (another process's Event: nothing to await)
            await asyncio.sleep(0.05)
        flags["stop"] = True

    async def main() -> None:
        feed = iter(items)
        watcher = asyncio.get_running_loop().create_task(watch())
        await asyncio.gather(
            *(_connection(host, port, feed, heads, clock, flags, sent, answered) for _ in range(connections))
        )
        watcher.cancel()

    start.wait()
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
    rows = np.array(answered, dtype=np.float64).reshape(-1, 3)
    queue.put((sent[0], rows))
