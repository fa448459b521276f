"""One message through validate → identify → privacy → batch (the per-message hot path)."""

from __future__ import annotations

from fleetpilot.ingest.batch import Batch
from fleetpilot.ingest.buffer import Inbound
from fleetpilot.ingest.dblink import DbLink
from fleetpilot.ingest.dialects.stage import DialectStage
from fleetpilot.ingest.metrics import IngestMetrics
from fleetpilot.ingest.privacy import ShiftWindows, filter_events, filter_fixes
from fleetpilot.ingest.registry import Registry
from fleetpilot.ingest.seqs import SeqTracker
from fleetpilot.ingest.skew import SkewTracker
from fleetpilot.ingest.topics import CHANNELS, parse_topic
from fleetpilot.ingest.validate import Events, Message, Rejected, Status, Telemetry, Validator


class Pipeline:
    def __init__(
        self,
        city: str,
        validator: Validator,
        registry: Registry,
        db: DbLink,
        metrics: IngestMetrics,
        seqs: SeqTracker | None = None,
        dialects: DialectStage | None = None,
        hold_skewed: bool = True,
    ):
        self.city = city
        self.validator = validator
        self.registry = registry
        self.db = db
        self.metrics = metrics
        self.seqs = seqs or SeqTracker()
        self.dialects = dialects
        # Hold a registered vehicle's clock_skew rejects whole for a replay (skewhold.py);
        # off in the replay itself, which must not hold a message again.
        self.hold_skewed = hold_skewed
        # Label children resolved once: prometheus' .labels() costs more than .inc().
        self._received = {c: metrics.received.labels(c) for c in (*CHANNELS, "other")}
        self._rejected: dict[str, object] = {}
        self.reject_counts: dict[str, int] = {}  # read by the watch (reject bursts)
        self.last_reject: dict[str, str] = {}  # reason -> the latest detail, for the burst's log line
        self.skew = SkewTracker()
        self._v1_received = metrics.dialect_messages.labels("v1", "received")
        self._v1_rejected = metrics.dialect_messages.labels("v1", "rejected")
        self._v1_rows = metrics.dialect_messages.labels("v1", "rows")

    async def refresh_registry(self) -> None:
        if self.registry.stale():
            await self.db.run(self.registry.load)

    async def process(self, item: Inbound, batch: Batch, now_ms: int) -> None:
        """Add what `item` contributes to `batch`: rows, a reject, drop counts, device facts.

        Never raises on bad input; the item is always appended to the batch's messages, so it
        is acknowledged once the batch commits.
        """
        batch.take(item)
        parsed = parse_topic(item.topic, self.city)
        if parsed is None:
            # Another dialect's topic (Traccar, OwnTracks): its adapter makes v1 messages of it.
            if self.dialects is not None and await self.dialects.process(self, item, batch, now_ms):
                return
            self._received["other"].inc()
            self.reject(batch, item, "bad_topic", "not fleet/<city>/<vehicle>/<telemetry|events|status>", None)
            return
        vid, channel = parsed
        self._received[channel].inc()
        self._v1_received.inc()
        msg = self.validator.check(vid, channel, item.payload, now_ms, self.registry.oldest_ms(now_ms))
        if type(msg) is Rejected:
            self._v1_rejected.inc()
            self.reject(batch, item, msg.reason, msg.detail, vid)
            if msg.skew_ms is not None and self.registry.windows(vid) is not None:
                # A unit whose every message is rejected for its clock is still measured (and
                # so logged, counted and shown to admins); registered vehicles only, so made-up
                # topics cannot grow the tracker.
                self.skew.observe(vid, item.received_ms + msg.skew_ms, item.received_ms)
                if self.hold_skewed:
                    batch.hold(vid, item, msg.skew_ms)
            return
        if type(msg) is not Status:
            self.skew.observe(vid, msg.sent, item.received_ms)
        windows = await self.windows(vid, msg)
        if windows is None:
            self._v1_rejected.inc()
            self.reject(batch, item, "unknown_vehicle", f"vehicle {vid!r} is not registered in city {self.city!r}", vid)
            return
        first = self.seqs.observe(vid, msg.seq)
        if not first:
            self.metrics.duplicate_messages.inc()
            # A duplicate publish of a message already in this batch adds no rows: this keeps
            # the batch free of repeated keys, so its fast COPY path succeeds.
            if batch.keys.get((vid, channel, msg.seq)) == item.payload:
                return
        batch.keys[(vid, channel, msg.seq)] = item.payload
        kept = self.admit(item, batch, msg, windows, first)
        if kept:
            self._v1_rows.inc(kept)

    async def windows(self, vid: str, msg: Message) -> ShiftWindows | None:
        """The vehicle's on-duty windows (looked up again when `msg` falls outside the cached
        ones), or None when the vehicle is not registered in this city."""
        windows = self.registry.windows(vid)
        if (
            windows is None or (type(msg) is not Status and not windows.covers_span(msg.t_min, msg.t_max))
        ) and self.registry.may_look_up(vid):
            await self.db.run(lambda conn: self.registry.load_vehicle(conn, vid))
            windows = self.registry.windows(vid)
        return windows

    def admit(self, item: Inbound, batch: Batch, msg: Message, windows: ShiftWindows, first: bool) -> int:
        """Privacy, then the kept rows into `batch`; returns how many rows were kept. `first`:
        the message was not seen before (its drops are counted only then)."""
        vid = msg.vid
        seq = msg.seq or 0  # dialects without sequence numbers store NULL (msg.seq None)
        if type(msg) is not Status:
            windows = self.skew.windows(vid, windows)  # a skewed unit's times, judged in its clock
        if type(msg) is Telemetry:
            fixes = filter_fixes(msg, windows, self.registry.zones, batch.drops if first else None)
            if fixes:
                batch.add_fixes(vid, msg.seq, msg.sent, fixes)
                batch.saw_device(vid, seq, item.received_ms)
            return len(fixes)
        if type(msg) is Events:
            events = filter_events(msg, windows, self.registry.zones, batch.drops if first else None)
            if events:
                batch.add_events(vid, msg.seq, msg.sent, events)
                batch.saw_device(vid, seq, item.received_ms)
            return len(events)
        # A status received off duty still says online/offline, but does not move
        # last_seen: when a unit was active off duty is private too.
        seen = item.received_ms if windows.covers(item.received_ms) else None
        batch.saw_device(vid, seq, seen, online=msg.online, firmware=msg.fw)
        return 0

    def reject(self, batch: Batch, item: Inbound, reason: str, detail: str, vehicle: str | None) -> None:
        """Count and dead-letter `item`. `vehicle`: the one it is known to come from, else None
        (ingest.deadletter). Protocol v1's topic is the unit's own identity (the broker's ACL
        binds it to the unit's credentials), so its dead letters name that vehicle, registered
        or not; the dialects' stage passes the vehicle an admin bound the device to."""
        counter = self._rejected.get(reason)
        if counter is None:
            counter = self._rejected[reason] = self.metrics.rejected.labels(reason)
        counter.inc()
        self.reject_counts[reason] = self.reject_counts.get(reason, 0) + 1
        self.last_reject[reason] = detail
        batch.add_reject(item, reason, detail, vehicle)
