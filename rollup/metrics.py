"""Prometheus metrics of the rollup service (`fleetpilot rollup --every … --metrics-port N`).

One sample set per run: its outcome and duration, what it did, and the backlog it left (the
vehicle-days late data marked for a recompute). Its own registry, so tests can make several.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

PREFIX = "fleetpilot_rollup"
RUN_SECONDS_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class RollupMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = r = registry or CollectorRegistry()
        self.runs = Counter(f"{PREFIX}_runs", "rollup runs by outcome (ok, error)", ["outcome"], registry=r)
        self.run_seconds = Histogram(
            f"{PREFIX}_run_seconds", "duration of one rollup run", buckets=RUN_SECONDS_BUCKETS, registry=r
        )
        self.shifts = Counter(f"{PREFIX}_shifts", "shifts analysed (new and recomputed)", registry=r)
        self.whatif_shifts = Counter(f"{PREFIX}_whatif_shifts", "shifts whose what-if legs were prepared", registry=r)
        self.last_success = Gauge(
            f"{PREFIX}_last_success_timestamp_seconds", "Unix time of the last successful run", registry=r
        )
        self.dirty_marks = Gauge(
            f"{PREFIX}_dirty_marks", "vehicle-days marked for a recompute (rollup_dirty) after the last run", registry=r
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)
