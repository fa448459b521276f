"""The bounded hand-over from the MQTT network thread to the asyncio pipeline.

`put` runs on paho's network thread and *blocks* while the buffer is full: paho then stops
reading its socket, the broker keeps the unacknowledged messages, and memory stays bounded
however slow or absent the database is (backpressure). `get_many` runs on the event loop
and takes everything waiting in one lock round trip.
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
    def __init__(self, capacity: int, loop: asyncio.AbstractEventLoop):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._loop = loop
        self._items: deque[Inbound] = deque()
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._ready = asyncio.Event()
        self._consumer_waiting = False
        self._closed = False
        self.blocked_s = 0.0  # total time producers waited for room

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Inbound) -> bool:
        """Append `item`, waiting for room. False (item not taken) once the buffer is closed."""
        with self._lock:
            if len(self._items) >= self.capacity and not self._closed:
                started = time.monotonic()
                while len(self._items) >= self.capacity and not self._closed:
                    self._not_full.wait()
                self.blocked_s += time.monotonic() - started
            if self._closed:
                return False
            self._items.append(item)
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
            except asyncio.TimeoutError:
                pass
        with self._lock:
            self._consumer_waiting = False
            n = min(max_items, len(self._items))
            if n == len(self._items):
                taken = list(self._items)
                self._items.clear()
            else:
                taken = [self._items.popleft() for _ in range(n)]
            if taken:
                self._not_full.notify_all()
            return taken

    def wake(self) -> None:
        """Let a waiting `get_many` return now (call on the event loop)."""
        self._ready.set()

    def close(self) -> None:
        """Refuse further items and release waiting producers (their messages stay unacknowledged)."""
        with self._lock:
            self._closed = True
            self._not_full.notify_all()
