"""Prometheus metrics of one ingest worker (its own registry, so tests can run several).

Counters count messages or rows as named; lags are seconds from a time in the payload to
the commit of the transaction that stored it (per message, using its newest row).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

if TYPE_CHECKING:
    from fleetpilot.ingest.batch import Batch
    from fleetpilot.ingest.write import WriteResult

PREFIX = "fleetpilot_ingest"
# Lags run from milliseconds (live) to hours (store-and-forward replays).
LAG_BUCKETS = (
    0.025,
    0.05,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    1800.0,
    3600.0,
    4 * 3600.0,
    12 * 3600.0,
    86400.0,
)
BATCH_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_ROWS_BUCKETS = (1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000, 50000)


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.received = Counter(f"{PREFIX}_messages_received", "MQTT messages received", ["channel"], registry=r)
        self.acked = Counter(
            f"{PREFIX}_messages_acked", "messages acknowledged after their batch committed", registry=r
        )
        self.rejected = Counter(
            f"{PREFIX}_messages_rejected", "messages dead-lettered to rejects", ["reason"], registry=r
        )
        self.duplicate_messages = Counter(
            f"{PREFIX}_messages_duplicate", "messages whose (vehicle, seq) this worker had already seen", registry=r
        )
        # Every way in (docs/trackers.md): outcome received, rejected, ignored (acknowledged
        # and counted, e.g. OwnTracks' non-location types) or rows (rows kept for storage).
        self.dialect_messages = Counter(
            f"{PREFIX}_dialect_messages", "messages per way in and outcome", ["dialect", "outcome"], registry=r
        )
        self.stored = Counter(f"{PREFIX}_rows_stored", "rows newly stored", ["table"], registry=r)
        self.duplicates = Counter(
            f"{PREFIX}_rows_duplicate", "rows already stored (replays, redeliveries)", ["table"], registry=r
        )
        self.private = Counter(
            f"{PREFIX}_rows_private", "rows not stored or generalised for privacy", ["reason", "table"], registry=r
        )
        self.conflicts = Counter(
            f"{PREFIX}_batch_conflicts",
            "batches whose fast COPY met already stored rows and were written the idempotent (slower) way",
            ["table"],
            registry=r,
        )
        self.batch_rows = Histogram(
            f"{PREFIX}_batch_rows", "rows (fixes, events, rejects) per batch", buckets=BATCH_ROWS_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            f"{PREFIX}_batch_write_seconds",
            "time to write and commit one batch",
            buckets=BATCH_SECONDS_BUCKETS,
            registry=r,
        )
        self.fix_lag = Histogram(
            f"{PREFIX}_fix_lag_seconds",
            "commit time minus the newest fix/event time of a message (end-to-end, device clock = GPS)",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.publish_lag = Histogram(
            f"{PREFIX}_publish_lag_seconds",
            "commit time minus the message's `sent` (unit clock, may be skewed by seconds)",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.commit_latency = Histogram(
            f"{PREFIX}_commit_latency_seconds",
            "commit time minus the time the worker received the message (the ingest's own share of the lag)",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            f"{PREFIX}_buffer_messages", "messages received and not yet taken by the pipeline", registry=r
        )
        self.backpressure = Gauge(
            f"{PREFIX}_backpressure_seconds", "total time the MQTT thread waited for room in the buffer", registry=r
        )
        self.seq_missing = Gauge(
            f"{PREFIX}_seq_missing",
            "sequence numbers not (yet) seen inside the tracking "
            "window, summed over devices (meaningful with one worker)",
            registry=r,
        )
        self.db_errors = Counter(f"{PREFIX}_db_errors", "database operations retried after an error", registry=r)
        self.mqtt_connects = Counter(f"{PREFIX}_mqtt_connects", "successful connections to the broker", registry=r)
        self.mqtt_connected = Gauge(f"{PREFIX}_mqtt_connected", "1 while connected to the broker", registry=r)
        self.stalled = Gauge(
            f"{PREFIX}_stalled", "1 while messages wait and nothing committed for the stall threshold", registry=r
        )
        self.last_commit_age = Gauge(
            f"{PREFIX}_last_commit_age_seconds", "seconds since the last batch committed", registry=r
        )
        self.messages_waiting = Gauge(
            f"{PREFIX}_messages_waiting",
            "messages received and not yet acknowledged (buffer, open batch, writers)",
            registry=r,
        )
        self.stranded = Gauge(
            f"{PREFIX}_stranded_sessions",
            "offline workers of this worker's share group whose sessions still take a share",
            registry=r,
        )
        self.rescued = Counter(
            f"{PREFIX}_rescued_messages", "messages taken over from a dead peer's stranded session", registry=r
        )
        self.skewed_devices = Gauge(
            f"{PREFIX}_devices_clock_skewed", "devices whose clock is off by more than the tolerance", registry=r
        )
        self.skew_max = Gauge(
            f"{PREFIX}_clock_skew_max_abs_seconds", "largest smoothed device clock skew (absolute)", registry=r
        )
        self.sessions_lost = Counter(
            f"{PREFIX}_mqtt_sessions_lost",
            "reconnects on which the broker had no session for the worker (what it held is lost)",
            registry=r,
        )

    def record_write(self, batch: Batch, result: WriteResult, seconds: float, commit_ms: float) -> None:
        """What a committed batch adds (the MQTT worker's and the HTTP door's, alike)."""
        self.batch_seconds.observe(seconds)
        self.batch_rows.observe(batch.rows)
        self.stored.labels("fixes").inc(result.fixes_stored)
        self.stored.labels("events").inc(result.events_stored)
        self.duplicates.labels("fixes").inc(result.fixes_duplicate)
        self.duplicates.labels("events").inc(result.events_duplicate)
        for table in result.conflicts:
            self.conflicts.labels(table).inc()
        for (_, _, reason), (fixes, events) in batch.drops.items():
            self.private.labels(reason, "fixes").inc(fixes)
            self.private.labels(reason, "events").inc(events)
        if batch.lags:
            observe_many(self.publish_lag, [(commit_ms - sent) / 1000 for sent, _ in batch.lags])
            observe_many(self.fix_lag, [(commit_ms - newest) / 1000 for _, newest in batch.lags])
        # One sample per batch: its first message waited longest.
        self.commit_latency.observe((commit_ms - batch.messages[0].received_ms) / 1000)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose /metrics over HTTP on `port` (a daemon thread)."""
        start_http_server(port, addr=host, registry=self.registry)


def observe_many(histogram: Histogram, amounts: list[float]) -> None:
    """`histogram.observe(a)` for each of `amounts`, with one locked increment per bucket hit
    and one for the sum instead of two per amount: a batch's lags are one per message, and
    over HTTP a message is one position (decision 0036). Uses the pinned prometheus_client's
    Histogram fields (`_upper_bounds`, `_buckets`, `_sum`); tests/ingest/test_metrics_many.py
    checks the exposition equals per-amount observes."""
    bounds = histogram._upper_bounds
    hits: dict[int, int] = {}
    for amount in amounts:
        i = bisect_left(bounds, amount)  # the first bound >= amount, as observe's `amount <= bound`
        hits[i] = hits.get(i, 0) + 1
    histogram._sum.inc(sum(amounts))
    buckets = histogram._buckets
    for i, n in hits.items():
        buckets[i].inc(n)
