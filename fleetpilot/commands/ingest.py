"""fleetpilot ingest: run one ingest worker until SIGTERM/SIGINT (then flush, ack, exit 0).

A worker started while PostgreSQL or the broker is away (a host booting, a database restart)
waits for them with bounded back-off instead of exiting: a service manager's start limit
would otherwise give up on it and leave it dead after the servers return.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import signal
import time

from fleetpilot.broker import probe_broker, resolve_mqtt_url
from fleetpilot.db.connect import connect, resolve_database_url, service_database_url
from fleetpilot.errors import ServiceUnavailable
from fleetpilot.settings import Settings

HELP = "store MQTT telemetry in the database (validated, privacy-filtered, exactly once)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fleetpilot.ingest.worker import IngestConfig

    d = IngestConfig("", "")
    parser.add_argument(
        "--worker-id",
        default=d.worker_id,
        help="stable name of this worker; it names the persistent MQTT session, so give each "
        f"concurrent worker its own (default {d.worker_id})",
    )
    parser.add_argument(
        "--share-group",
        default=d.share_group,
        help=f"MQTT 5 shared subscription group (default {d.share_group}); '' subscribes alone",
    )
    parser.add_argument(
        "--mqtt-version",
        choices=("auto", "5", "3.1.1"),
        default="auto",
        help="auto: MQTT 5 if the broker speaks it, else 3.1.1 (no shared subscriptions)",
    )
    parser.add_argument(
        "--mqtt-client",
        choices=("fast", "paho"),
        default=d.mqtt_client,
        help="receive path: fast (hand-parsed QoS 1, batched acks; default) or paho (paho's own, the reference)",
    )
    parser.add_argument("--batch-rows", type=int, default=d.batch_rows, help=f"rows per batch (default {d.batch_rows})")
    parser.add_argument(
        "--batch-wait",
        type=float,
        default=d.batch_wait_s,
        metavar="SECONDS",
        help=f"longest wait before a batch is written (default {d.batch_wait_s})",
    )
    parser.add_argument(
        "--buffer",
        type=int,
        default=d.buffer_messages,
        metavar="MESSAGES",
        help=f"received messages held before backpressure (default {d.buffer_messages})",
    )
    parser.add_argument(
        "--writers", type=int, default=d.writers, help=f"database writer connections (default {d.writers})"
    )
    parser.add_argument(
        "--max-future",
        type=float,
        default=d.max_future_s,
        metavar="SECONDS",
        help=f"reject fix times further ahead of the server clock (default {d.max_future_s:g})",
    )
    parser.add_argument(
        "--session-expiry",
        type=int,
        default=d.session_expiry_s,
        metavar="SECONDS",
        help="how long the broker keeps this worker's MQTT 5 session, and routes it a share, after the "
        f"worker is gone (default {d.session_expiry_s}); see ingest/README.md, shared subscriptions",
    )
    parser.add_argument(
        "--rescue-after",
        type=float,
        default=d.rescue_after_s,
        metavar="SECONDS",
        help=f"take over a dead peer's stranded share after this long (default {d.rescue_after_s:g})",
    )
    parser.add_argument(
        "--metrics-port", type=int, help="Prometheus /metrics port (default: settings.metrics_port; 0 = none)"
    )
    parser.add_argument("--metrics-host", default="127.0.0.1", help="address the metrics listen on")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))


def run(args: argparse.Namespace, settings: Settings) -> int:
    from fleetpilot.ingest import logs
    from fleetpilot.ingest.metrics import IngestMetrics
    from fleetpilot.ingest.worker import IngestConfig, IngestWorker

    db_url = resolve_database_url(settings)
    mqtt_url = resolve_mqtt_url(settings)
    logs.setup(args.log_level)
    protocol = args.mqtt_version
    if protocol == "auto":
        protocol = _wait_for_broker(mqtt_url)
    asyncio.run(_wait_for_database(db_url))
    db_url = asyncio.run(service_database_url(settings, "ingest"))  # least-privilege role (decision 0009)
    metrics = IngestMetrics()
    port = settings.metrics_port if args.metrics_port is None else args.metrics_port
    if port:
        metrics.serve(port, args.metrics_host)
    config = IngestConfig(
        database_url=db_url,
        mqtt_url=mqtt_url,
        city=settings.city,
        worker_id=args.worker_id,
        share_group=args.share_group or None,
        protocol=protocol,
        batch_rows=args.batch_rows,
        batch_wait_s=args.batch_wait,
        buffer_messages=args.buffer,
        writers=args.writers,
        max_future_s=args.max_future,
        session_expiry_s=args.session_expiry,
        rescue_after_s=args.rescue_after,
        mqtt_client=args.mqtt_client,
        traccar_topic=settings.traccar_topic or None,
        owntracks_topic=settings.owntracks_topic or None,
    )
    asyncio.run(_serve(IngestWorker(config, metrics)))
    return 0


logger = logging.getLogger("fleetpilot.ingest.start")
START_BACKOFF_S = (0.5, 10.0)  # first and longest wait between attempts at start


class _Backoff:
    """Doubling waits with jitter, bounded; logs the first failure and then every 10th."""

    def __init__(self, event: str, **fields):
        self.event = event
        self.fields = fields
        self.failures = 0
        self.delay = START_BACKOFF_S[0]
        self.started = time.monotonic()

    def failed(self, error: str, level: int = logging.WARNING) -> float:
        from fleetpilot.ingest.logs import log

        self.failures += 1
        if self.failures == 1 or self.failures % 10 == 0:
            log(logger, level, self.event, **self.fields, error=error, failures=self.failures)
        wait = self.delay * random.uniform(0.8, 1.2)
        self.delay = min(self.delay * 2, START_BACKOFF_S[1])
        return wait

    def recovered(self, what: str) -> None:
        from fleetpilot.ingest.logs import log

        if self.failures:
            waited = round(time.monotonic() - self.started, 1)
            log(logger, logging.INFO, f"{what} reachable; starting", failures=self.failures, waited_s=waited)


def _wait_for_broker(url: str) -> str:
    """The broker's MQTT version ("5" or "3.1.1"), waiting until it answers."""
    from fleetpilot.urls import redact

    backoff = _Backoff("broker unreachable at start; retrying", broker=redact(url))
    while True:
        probe = probe_broker(url)
        if probe.reachable:
            backoff.recovered("broker")
            return probe.protocol
        time.sleep(backoff.failed(probe.error or "no answer"))


async def _wait_for_database(url: str) -> None:
    """Return once the database answers and holds the fleetpilot schema (e.g. a migration
    running beside the first start); until then retry, logging what is missing."""
    from fleetpilot.urls import redact

    backoff = _Backoff("database unreachable at start; retrying", url=redact(url))
    while True:
        try:
            conn = await connect(url)
        except ServiceUnavailable as exc:
            await asyncio.sleep(backoff.failed(str(exc)))
            continue
        try:
            if not await conn.fetchval("SELECT to_regclass('fixes') IS NULL"):
                backoff.recovered("database")
                return
            error, level = "the database has no fleetpilot schema yet (run `fleetpilot migrate`)", logging.ERROR
        except Exception as exc:  # the server went away again between connect and query
            error, level = f"{type(exc).__name__}: {exc}", logging.WARNING
        finally:
            conn.terminate()
        await asyncio.sleep(backoff.failed(error, level))


async def _serve(worker) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    await worker.run()
