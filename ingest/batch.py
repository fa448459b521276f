"""A batch: the rows of many messages, written in one transaction and then acknowledged.

Rows are kept in the shape COPY wants (lists, one per row), so nothing is converted twice.
A batch is due when it holds `max_rows` rows or its first message waited `max_wait_s`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fleetpilot.ingest.buffer import Inbound
from fleetpilot.ingest.deadletter import dead_letter
from fleetpilot.ingest.privacy import DAY_MS, DropCounts


@dataclass
class DeviceSeen:
    """What a batch learned about a vehicle's units (for ``devices``)."""

    last_seen_ms: int | None  # None: nothing that may say when the unit was active
    last_seq: int
    online: bool | None = None  # from the latest status message, if any
    firmware: str | None = None


@dataclass
class Batch:
    # [t, lon, lat, speed, heading, hdop, generalised, vehicle_id, seq] per fix
    fixes: list[list] = field(default_factory=list)
    # [t, kind, lon, lat, mag, spd, generalised, vehicle_id, seq] per event
    events: list[list] = field(default_factory=list)
    # deadletter.dead_letter(...) per rejected message (write.REJECT_COLUMNS)
    rejects: list[tuple] = field(default_factory=list)
    # (vehicle_id, received_ms, topic, payload, skew_ms) of clock_skew rejects held whole
    # for a replay (skewhold.py), besides their scrubbed dead letters
    held: list[tuple] = field(default_factory=list)
    drops: DropCounts = field(default_factory=dict)
    devices: dict[str, DeviceSeen] = field(default_factory=dict)
    # (vehicle_id, epoch day) that received rows: the rollups covering them are stale
    days: set[tuple[str, int]] = field(default_factory=set)
    # (sent_ms, newest row time ms) per message with stored rows, for the lag metrics
    lags: list[tuple[int, int]] = field(default_factory=list)
    messages: list[Inbound] = field(default_factory=list)  # in receive order: acked after commit
    # (vehicle_id, channel, seq) -> payload of the messages whose rows are in this batch
    keys: dict[tuple[str, str, int], bytes] = field(default_factory=dict)
    started: float | None = None  # monotonic time the first message was taken
    # The HTTP doors' token ids: if any is revoked when the batch is written, nothing of it is
    # stored (write.TokensRevoked). Empty for the MQTT worker.
    tokens: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return len(self.fixes) + len(self.events) + len(self.rejects)

    def take(self, item: Inbound) -> None:
        """Record that `item` belongs to this batch (it is acknowledged when the batch commits)."""
        if self.started is None:
            self.started = time.monotonic()
        self.messages.append(item)

    def age(self, now: float | None = None) -> float:
        """Seconds since the first message was taken (0 for an empty batch)."""
        return 0.0 if self.started is None else (now if now is not None else time.monotonic()) - self.started

    def due(self, max_rows: int, max_wait_s: float, now: float | None = None) -> bool:
        if not self.messages:
            return False
        return self.rows >= max_rows or self.age(now) >= max_wait_s

    def add_fixes(self, vid: str, seq: int, sent: int, fixes: list[list]) -> None:
        """Fixes as privacy.filter_fixes returns them (generalised flag appended)."""
        if not fixes:
            return
        oldest = newest = fixes[0][0]
        for f in fixes:
            f.append(vid)
            f.append(seq)
            t = f[0]
            if t > newest:
                newest = t
            elif t < oldest:
                oldest = t
        self.fixes.extend(fixes)
        self._touch(vid, oldest, newest)
        self.lags.append((sent, newest))

    def add_events(self, vid: str, seq: int, sent: int, events: list[list]) -> None:
        if not events:
            return
        for e in events:
            e.append(vid)
            e.append(seq)
        self.events.extend(events)
        times = [e[0] for e in events]
        self._touch(vid, min(times), max(times))
        self.lags.append((sent, max(times)))

    def add_reject(self, item: Inbound, reason: str, detail: str, vehicle: str | None) -> None:
        # Kept without positions and without NUL (PostgreSQL text): see ingest.deadletter.
        self.rejects.append(dead_letter(item.received_ms, item.topic, item.payload, reason, detail, vehicle))

    def hold(self, vid: str, item: Inbound, skew_ms: int) -> None:
        self.held.append((vid, item.received_ms, item.topic, item.payload, skew_ms))

    def saw_device(
        self, vid: str, seq: int, received_ms: int | None, online: bool | None = None, firmware: str | None = None
    ) -> None:
        if firmware is not None:
            firmware = firmware.replace("\x00", "")  # valid JSON ("\u0000"), not valid PostgreSQL text
        seen = self.devices.get(vid)
        if seen is None:
            self.devices[vid] = DeviceSeen(received_ms, seq, online, firmware)
            return
        if received_ms is not None and (seen.last_seen_ms is None or received_ms > seen.last_seen_ms):
            seen.last_seen_ms = received_ms
        seen.last_seq = max(seen.last_seq, seq)
        if online is not None:  # statuses apply in receive order
            seen.online = online
        if firmware is not None:
            seen.firmware = firmware

    def merge(self, other: Batch) -> None:
        """Add everything `other` holds (the HTTP door's group commit: each request fills its
        own batch while it may still wait on the database, then joins the shared one in a step
        that cannot be interleaved)."""
        if other.started is not None and (self.started is None or other.started < self.started):
            self.started = other.started
        self.fixes.extend(other.fixes)
        self.events.extend(other.events)
        self.rejects.extend(other.rejects)
        self.held.extend(other.held)
        for key, (fixes, events) in other.drops.items():
            slot = self.drops.setdefault(key, [0, 0])
            slot[0] += fixes
            slot[1] += events
        for vid, seen in other.devices.items():
            self.saw_device(vid, seen.last_seq, seen.last_seen_ms, seen.online, seen.firmware)
        self.days |= other.days
        self.lags.extend(other.lags)
        self.messages.extend(other.messages)
        self.keys.update(other.keys)
        if other.tokens:
            self.tokens = tuple(sorted({*self.tokens, *other.tokens}))

    def _touch(self, vid: str, oldest: int, newest: int) -> None:
        # A message spans seconds, so one or two days (the validator bounds odd input).
        for day in range(oldest // DAY_MS, newest // DAY_MS + 1):
            self.days.add((vid, day))
