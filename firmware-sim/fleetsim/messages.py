"""Encoding a vehicle-day's scheduled messages as (topic, payload bytes), compact JSON v1."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import orjson

from fleetsim import FIRMWARE
from fleetsim.faults import hostile_payload
from fleetsim.schedule import EVENTS, HOSTILE, HOSTILE_KINDS, OFFLINE, ONLINE, TELEMETRY, Schedule
from fleetsim.shift import ShiftResult
from fleetsim.streams import streams
from fleetsim.wire import EVENT_KINDS, PROTOCOL_VERSION, topic


@dataclass(frozen=True)
class Publication:
    """One publish (a duplicated message appears twice). `row` indexes the schedule."""

    send_ms: int
    topic: str
    payload: bytes
    retain: bool
    row: int
    by_broker: bool  # the broker publishes it (last will) when the link drops


class Encoder:
    """Builds payloads for the rows of one schedule. Fix columns stay numpy (rounded once) and
    only a message's slice becomes Python objects, so 500 units' shifts fit in memory."""

    def __init__(self, result: ShiftResult, sched: Schedule, city: str, other_vehicle_id: str, seed: int):
        self.sched = sched  # the ShiftResult itself is not kept: only what payloads need
        self.vid = result.shift.vehicle_id
        self.city = city
        self.other = other_vehicle_id
        f, e = result.fixes, result.events
        self.fix_t = f["t"]
        self.fix_values = np.column_stack(
            [
                f["lon"],
                f["lat"],
                np.round(f["speed"].astype(np.float64), 2),
                np.round(f["heading"].astype(np.float64), 1),
                np.round(f["hdop"].astype(np.float64), 1),
            ]
        )
        kinds = [EVENT_KINDS[k] for k in e["kind"].tolist()]
        self.events = [
            {"t": t, "k": k, "lon": lo, "lat": la, "mag": m, "spd": s}
            for t, k, lo, la, m, s in zip(
                e["t"].tolist(),
                kinds,
                e["lon"].tolist(),
                e["lat"].tolist(),
                np.round(e["mag"].astype(np.float64), 2).tolist(),
                np.round(e["speed"].astype(np.float64), 2).tolist(),
            )
        ]
        (self.fault_rng,) = streams(seed, result.shift.day, result.shift.vehicle, "faults")

    def fixes(self, lo: int, hi: int) -> list[list]:
        """Fixes lo:hi as [t, lon, lat, speed, heading, hdop] lists (t stays an integer)."""
        return [[t, *v] for t, v in zip(self.fix_t[lo:hi].tolist(), self.fix_values[lo:hi].tolist())]

    def topic(self, channel: str) -> str:
        return topic(self.city, self.vid, channel)

    def encode(self, row: int) -> tuple[str, bytes, bool]:
        """(topic, payload, retain) of schedule row `row`."""
        s = self.sched
        kind = int(s.kind[row])
        if kind == TELEMETRY:
            body = {
                "v": PROTOCOL_VERSION,
                "vid": self.vid,
                "seq": int(s.seq[row]),
                "sent": int(s.stamp[row]),
                "fixes": self.fixes(int(s.lo[row]), int(s.hi[row])),
            }
            if s.priv[row]:
                body["priv"] = True
            return self.topic("telemetry"), orjson.dumps(body), False
        if kind == EVENTS:
            body = {
                "v": PROTOCOL_VERSION,
                "vid": self.vid,
                "seq": int(s.seq[row]),
                "sent": int(s.stamp[row]),
                "events": self.events[s.lo[row] : s.hi[row]],
            }
            if s.priv[row]:
                body["priv"] = True
            return self.topic("events"), orjson.dumps(body), False
        if kind in (ONLINE, OFFLINE):
            return self.topic("status"), self.status(row), True
        if kind == HOSTILE:
            name = HOSTILE_KINDS[int(s.hostile_kind[row])]
            t = int(s.send[row])
            channel, payload = hostile_payload(name, self.vid, self.other, t, int(s.stamp[row]), self.fault_rng)
            return self.topic(channel), payload, False
        raise ValueError(f"unknown message kind {kind}")

    def status(self, row: int) -> bytes:
        s = self.sched
        state = "online" if s.kind[row] == ONLINE else "offline"
        return orjson.dumps(
            {
                "v": PROTOCOL_VERSION,
                "vid": self.vid,
                "seq": int(s.seq[row]),
                "state": state,
                "t": int(s.stamp[row]),
                "fw": FIRMWARE,
            }
        )

    def publications(self) -> Iterator[Publication]:
        """Every publish of the vehicle-day in order (duplicates right after their original)."""
        s = self.sched
        for row in s.order.tolist():
            t, payload, retain = self.encode(row)
            for _ in range(int(s.copies[row])):
                yield Publication(int(s.send[row]), t, payload, retain, row, bool(s.by_broker[row]))

    def will(self, connect_ms: int) -> bytes:
        """The last-will payload registered when connecting at `connect_ms`."""
        s = self.sched
        rows = np.flatnonzero((s.kind == OFFLINE) & (s.gen == connect_ms))
        return self.status(int(rows[0]))
