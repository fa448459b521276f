"""The pipeline step for other dialects' messages: topic → adapter → identity → v1 validation.

The MQTT worker's `Pipeline.process` hands over any message whose topic is not protocol v1's;
the HTTP endpoints call `handle` directly with the identity their token proves. Either way the
message ends as the rows, reject or ignored count of exactly one protocol v1 message, through
the v1 validator (`Validator.check_body`) and `Pipeline.admit` (privacy before storage).

Idempotence: these dialects carry no sequence numbers, so rows are stored with seq NULL and
a repeat is recognised by its key — (vehicle, fix time) for fixes, (vehicle, time, kind) for
events — which is also the table's unique key, so a replay or a retried POST changes
nothing. `_recent` remembers the latest keys so a repeat's privacy drops are not counted
twice and a repeat inside one batch adds no rows.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import orjson
from paho.mqtt.client import topic_matches_sub

from fleetpilot.ingest.batch import Batch
from fleetpilot.ingest.buffer import Inbound
from fleetpilot.ingest.dialects import owntracks, traccar
from fleetpilot.ingest.dialects.bindings import Bindings
from fleetpilot.ingest.dialects.common import Decoded
from fleetpilot.ingest.validate import MAX_PAYLOAD_BYTES, Rejected

if TYPE_CHECKING:
    from fleetpilot.ingest.pipeline import Pipeline

DECODERS = {"traccar": traccar.decode, "owntracks": owntracks.decode}
# Dialects whose payload names the device (OwnTracks' does not: its topic or token does).
PAYLOAD_IDENTITY = {"traccar": traccar.identity}
RECENT_KEYS = 200_000  # ~1 h of a 50-vehicle fleet at 1 Hz; older repeats are still idempotent in the DB


class DialectStage:
    def __init__(self, topics: dict[str, str], bindings: Bindings, metrics):
        """`topics`: dialect → MQTT topic filter (e.g. ``traccar/metro/+``, ``owntracks/+/+``);
        for OwnTracks the segments the ``+`` wildcards match are the ``<user>/<device>`` identity."""
        for dialect in topics:
            if dialect not in DECODERS:
                raise ValueError(f"unknown dialect {dialect!r}")
        self.topics = dict(topics)
        self.bindings = bindings
        self.metrics = metrics
        self._recent: OrderedDict[tuple, None] = OrderedDict()
        self._counters: dict[tuple[str, str], object] = {}

    def filters(self) -> list[str]:
        return list(self.topics.values())

    def match(self, topic: str) -> tuple[str, str | None] | None:
        """(dialect, identity from the topic or None) of a topic, or None when no dialect's."""
        for dialect, pattern in self.topics.items():
            if topic_matches_sub(pattern, topic):
                if dialect != "owntracks":
                    return dialect, None
                parts, wild = topic.split("/"), pattern.split("/")
                return dialect, "/".join(p for p, w in zip(parts, wild) if w == "+")
        return None

    async def process(self, pipeline: Pipeline, item: Inbound, batch: Batch, now_ms: int) -> bool:
        """Handle `item` when its topic is a dialect's (True), else leave it (False)."""
        matched = self.match(item.topic)
        if matched is None:
            return False
        await self.handle(pipeline, item, batch, now_ms, *matched)
        return True

    def count(self, dialect: str, outcome: str, n: int = 1) -> None:
        counter = self._counters.get((dialect, outcome))
        if counter is None:
            counter = self._counters[(dialect, outcome)] = self.metrics.dialect_messages.labels(dialect, outcome)
        counter.inc(n)

    async def handle(
        self, pipeline: Pipeline, item: Inbound, batch: Batch, now_ms: int, dialect: str, identity: str | None
    ) -> str:
        """Add `item` (already taken into `batch`) as `dialect`; `identity` is the device when the
        topic or token says it. Returns the outcome: stored, again (seen before, added anyway),
        duplicate, private, ignored, or a reject reason.

        A refused message's dead letter names the vehicle an admin bound its device to, once
        the device is known: from the topic or token (OwnTracks, before the payload is read),
        or from the payload (Traccar's uniqueId, also of a fix it refuses); else none. Never a
        segment of the topic (ingest.deadletter)."""
        self.count(dialect, "received")
        decoded, named = self._decode(dialect, item.payload)
        if type(decoded) is Decoded and decoded.ignored is not None:
            self.count(dialect, "ignored")
            return "ignored"
        external = named if named is not None else identity
        vid = None if external is None else await self.bindings.vehicle(pipeline.db, dialect, external)
        if type(decoded) is Rejected:
            outcome: str | Rejected = decoded
        elif external is None:
            outcome = Rejected("unknown_device", "no device identity")
        elif vid is None:
            outcome = Rejected(
                "unknown_device", f"{external[:128]!r} is not bound to a vehicle of this city by an admin"
            )
        else:
            outcome = await self._admit(pipeline, item, batch, now_ms, dialect, decoded, vid)
        if type(outcome) is Rejected:
            self.count(dialect, "rejected")
            pipeline.reject(batch, item, outcome.reason, f"{dialect}: {outcome.detail}", vid)
            return outcome.reason
        return outcome

    @staticmethod
    def _decode(dialect: str, payload: bytes) -> tuple[Decoded | Rejected, str | None]:
        """(the message decoded, or why not; the device its payload names, if it was read)."""
        if len(payload) > MAX_PAYLOAD_BYTES:
            return Rejected("too_large", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}"), None
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            return Rejected("bad_json", str(exc)[:200]), None
        decoded = DECODERS[dialect](body)
        if type(decoded) is Rejected:
            named = PAYLOAD_IDENTITY.get(dialect)
            return decoded, None if named is None else named(body)
        return decoded, decoded.identity

    async def _admit(self, pipeline, item, batch, now_ms, dialect, decoded: Decoded, vid: str) -> str | Rejected:
        """The rows of a decoded message of bound vehicle `vid` through v1 validation and privacy."""
        messages = self._validate(pipeline, decoded, vid, item, now_ms)
        if type(messages) is Rejected:
            return messages
        kept = 0
        duplicate = True
        for key, msg in messages:
            windows = await pipeline.windows(vid, msg)
            if windows is None:
                return Rejected("unknown_vehicle", f"vehicle {vid!r} is not registered in city {pipeline.city!r}")
            first = key not in self._recent
            self._remember(key)
            if not first and key in batch.keys:
                continue  # already in this batch: no second row (keeps the fast COPY path)
            duplicate = duplicate and not first
            batch.keys[key] = item.payload
            kept += pipeline.admit(item, batch, msg, windows, first)
        if kept:
            self.count(dialect, "rows", kept)
            # "again": stored once more although seen before — new rows unless the earlier
            # copy committed (the writer's idempotent path tells; ingest/http.py answers so).
            return "again" if duplicate else "stored"
        return "duplicate" if duplicate else "private"

    @staticmethod
    def _validate(pipeline, decoded: Decoded, vid: str, item: Inbound, now_ms: int) -> list | Rejected:
        """The decoded rows as v1 messages through the v1 validator: [(key, message)], or why not."""
        sent = decoded.sent_ms if decoded.sent_ms is not None else item.received_ms
        oldest = pipeline.registry.oldest_ms(now_ms)
        out = []
        for channel, rows, field in (("telemetry", decoded.fixes, "fixes"), ("events", decoded.events, "events")):
            if not rows:
                continue
            magnitudes = [r.get("mag") for r in rows] if channel == "events" else None
            if magnitudes is not None:  # v1 requires a number; an unknown magnitude is stored as NULL
                rows = [{**r, "mag": 0} if r["mag"] is None else r for r in rows]
            body = {"v": 1, "vid": vid, "seq": 0, "sent": sent, field: rows}
            msg = pipeline.validator.check_body(vid, channel, body, now_ms, oldest)
            if type(msg) is Rejected:
                return msg
            msg.seq = None  # no sequence numbers in these dialects: stored as NULL
            if magnitudes is not None:
                for event, mag in zip(msg.events, magnitudes):
                    event["mag"] = mag
                key = (vid, "events", tuple((e["t"], e["k"]) for e in msg.events))
            else:
                key = (vid, "telemetry", tuple(f[0] for f in msg.fixes))
            out.append((key, msg))
        return out

    def forget(self, keys) -> None:
        """Keys whose batch failed to commit: a retry of them is a first sight again (its
        privacy drops are counted then, as they were never stored)."""
        for key in keys:
            self._recent.pop(key, None)

    def _remember(self, key: tuple) -> None:
        recent = self._recent
        recent[key] = None
        recent.move_to_end(key)
        if len(recent) > RECENT_KEYS:
            recent.popitem(last=False)
