"""fleetpilot ingest: run one ingest worker until SIGTERM/SIGINT (then flush, ack, exit 0)."""

from __future__ import annotations

import argparse
import asyncio
import signal

from fleetpilot.broker import probe_broker, resolve_mqtt_url
from fleetpilot.db.connect import connect, resolve_database_url
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
    protocol = args.mqtt_version
    if protocol == "auto":
        probe = probe_broker(mqtt_url)
        if not probe.reachable:
            raise ServiceUnavailable(f"MQTT broker at {mqtt_url}: {probe.error}")
        protocol = probe.protocol
    asyncio.run(_check_database(db_url))
    logs.setup(args.log_level)
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
        mqtt_client=args.mqtt_client,
        traccar_topic=settings.traccar_topic or None,
        owntracks_topic=settings.owntracks_topic or None,
    )
    asyncio.run(_serve(IngestWorker(config, metrics)))
    return 0


async def _check_database(url: str) -> None:
    """Fail at start with one clear line when the database is missing or not migrated."""
    conn = await connect(url)
    try:
        if await conn.fetchval("SELECT to_regclass('fixes') IS NULL"):
            raise ServiceUnavailable("the database has no fleetpilot schema yet (run `fleetpilot migrate`)")
    finally:
        await conn.close()


async def _serve(worker) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    await worker.run()
