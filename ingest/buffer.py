"""The bounded hand-over from the MQTT network thread to the asyncio pipeline.

Bounded twice: by messages and by payload bytes. With MQTT 5 the broker never has more
unacknowledged messages out to the worker than the Receive Maximum it announced, which
the worker sets to the buffer's message capacity, so this buffer does not fill by count;
the byte bound and MQTT 3.1.1 (no Receive Maximum) are what the blocking `put` is for.
`put` runs on paho's network thread and *blocks* while the buffer is full: paho stops
reading its socket and the broker keeps the rest, so memory stays bounded however slow or
absent the database is (backpressure). `get_many` runs on the event loop and takes
everything waiting in one lock round trip.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass(slots=True)
class Inbound:
    """One received MQTT message and what is needed to acknowledge it later."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int  # the broker connection it came on (acks are only valid there)
    received_ms: int  # wall clock, epoch ms


class BoundedBuffer:
    def __init__(self, capacity: int, loop: asyncio.AbstractEventLoop, max_bytes: int = 256 * 1024 * 1024):
        if capacity < 1 or max_bytes < 1:
            raise ValueError("capacity and max_bytes must be at least 1")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._loop = loop
        self._items: deque[Inbound] = deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._ready = asyncio.Event()
        self._consumer_waiting = False
        self._closed = False
        self.blocked_s = 0.0  # total time producers waited for room (finished waits)
        self._blocked_since: float | None = None  # a producer is waiting now, since then

    def __len__(self) -> int:
        return len(self._items)

    def _full(self) -> bool:
        # One message always fits, however large, so a single big payload cannot wedge it.
        return len(self._items) >= self.capacity or (self._bytes >= self.max_bytes and bool(self._items))

    def put(self, item: Inbound) -> bool:
        """Append `item`, waiting for room. False (item not taken) once the buffer is closed."""
        return self.put_many([item])

    def put_many(self, items: list[Inbound]) -> bool:
        """Append `items` (one socket read's messages) once there is room, in one lock round
        trip; they may take the buffer past its bounds by that much. False (none taken) once
        the buffer is closed."""
        with self._lock:
            if self._full() and not self._closed:
                started = self._blocked_since = time.monotonic()
                while self._full() and not self._closed:
                    self._not_full.wait()
                self._blocked_since = None
                self.blocked_s += time.monotonic() - started
            if self._closed:
                return False
            self._items.extend(items)
            self._bytes += sum([len(item.payload) for item in items])
            if self._consumer_waiting:
                self._consumer_waiting = False
                self._loop.call_soon_threadsafe(self._ready.set)
            return True

    async def get_many(self, max_items: int, timeout: float) -> list[Inbound]:
        """Up to `max_items` items, waiting at most `timeout` seconds for the first one."""
        with self._lock:
            if not self._items:
                self._consumer_waiting = True
                self._ready.clear()
        if self._consumer_waiting:
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                pass  # the caller's deadline passed: hand back what is there (possibly nothing)
        with self._lock:
            self._consumer_waiting = False
            n = min(max_items, len(self._items))
            if n == len(self._items):
                taken = list(self._items)
                self._items.clear()
            else:
                taken = [self._items.popleft() for _ in range(n)]
            if taken:
                self._bytes -= sum(len(i.payload) for i in taken)
                self._not_full.notify_all()
            return taken

    def blocked_total_s(self) -> float:
        """Time producers waited for room, including a wait still going on (for a gauge read at
        scrape time: during a database stall the wait has not finished)."""
        since = self._blocked_since
        return self.blocked_s + (time.monotonic() - since if since is not None else 0.0)

    def wake(self) -> None:
        """Let a waiting `get_many` return now (call on the event loop)."""
        self._ready.set()

    def close(self) -> None:
        """Refuse further items and release waiting producers (their messages stay unacknowledged)."""
        with self._lock:
            self._closed = True
            self._not_full.notify_all()
