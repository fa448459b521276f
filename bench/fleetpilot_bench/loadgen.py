"""A small HTTP/1.1 keep-alive load generator for the API benchmark.

Each virtual client holds one connection and sends its next request as soon as the
previous answer has been read, so `clients` requests are in flight at any time (closed
loop). It speaks just enough HTTP for our own server on loopback (GET, a JSON POST, Content-Length
or chunked bodies) so that the client, which shares the machine's cores with the server
and the database, spends as little CPU per request as possible.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Outcome:
    """Latencies (s) of the answered requests, statuses seen, the wall time of the run and
    the CPU time this process (the load generator) spent on it."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    wall_s: float = 0.0
    cpu_s: float = 0.0

    def summary(self) -> dict:
        lat = np.array(self.latencies) * 1000
        ok = sum(n for status, n in self.statuses.items() if status < 400)
        return {
            "requests": len(self.latencies),
            "errors": len(self.latencies) - ok,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "requests_per_s": round(len(lat) / self.wall_s, 1) if self.wall_s else None,
            **{f"p{q}_ms": round(float(np.percentile(lat, q)), 2) if len(lat) else None for q in (50, 95, 99)},
            "max_ms": round(float(lat.max()), 2) if len(lat) else None,
            "loadgen_cpu_ms_per_request": round(self.cpu_s * 1000 / len(lat), 3) if len(lat) else None,
        }


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response; its status. Only the two framing headers are looked for (the
    client shares the cores with the server, so it parses as little as it can)."""
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    status = int(head[9:12])
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        await reader.readexactly(int(head[at + 17 : head.index(b"\r\n", at + 2)]))
    elif b"\r\ntransfer-encoding: chunked\r\n" in head:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


# Recorded for a request whose connection the server closed before answering.
CONNECTION_LOST = 599


async def _client(host: str, port: int, next_request: Callable[[], bytes | None], outcome: Outcome) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (request := next_request()) is not None:
            started = time.perf_counter()
            try:
                writer.write(request)
                status = await _read_response(reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                # The server dropped the connection (e.g. after an unhandled error): count, reconnect.
                status = CONNECTION_LOST
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
            outcome.latencies.append(time.perf_counter() - started)
            outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
    finally:
        writer.close()


def request_bytes(path: str, token: str | None, host: str = "127.0.0.1", gzip: bool = False) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    encoding = "Accept-Encoding: gzip\r\n" if gzip else ""
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}{encoding}Accept: application/json\r\n\r\n".encode()


def post_bytes(path: str, token: str | None, body: bytes, host: str = "127.0.0.1") -> bytes:
    """A JSON POST (e.g. the plan editor's prediction of an edit)."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Accept: application/json\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def run_load(host: str, port: int, requests: list[bytes], clients: int) -> Outcome:
    """Send every request of `requests` once, `clients` at a time; returns the outcome."""
    queue = iter(requests)
    outcome = Outcome()
    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(_client(host, port, lambda: next(queue, None), outcome) for _ in range(clients)))
    outcome.wall_s = time.perf_counter() - started
    outcome.cpu_s = time.process_time() - cpu_started
    return outcome
