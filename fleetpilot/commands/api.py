"""fleetpilot api: serve the API and the dashboards with uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from fleetpilot.commands import _listeners as listeners
from fleetpilot.db.connect import connect, resolve_database_url
from fleetpilot.db.schema import prepare
from fleetpilot.settings import Settings

logger = logging.getLogger("uvicorn.error")
HELP = "serve the HTTP API and dashboards (uvicorn on FLEETPILOT_API_HOST:FLEETPILOT_API_PORT)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="listen address (default: settings.api_host)")
    parser.add_argument("--port", type=int, help="listen port (default: settings.api_port)")
    parser.add_argument(
        "--workers",
        type=int,
        help="server processes (default: settings.api_workers); more than one reads all settings from FLEETPILOT_*",
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        help="database connections of each server process (default: settings.api_pool_size)",
    )
    parser.add_argument("--no-migrate", action="store_true", help="do not apply pending migrations at start")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument(
        "--no-access-log",
        action="store_true",
        help="no line per request (trackers POST one position per request: a log line each)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from fleetpilot.api.app import create_app, frozen
    from fleetpilot.api.trackers.wire import PROTOCOL

    # Resolve once (starting the embedded server if none is configured) so the app and the
    # migration use the same database.
    settings = settings.model_copy(update={"database_url": resolve_database_url(settings)})
    if not args.no_migrate:
        asyncio.run(_migrate(settings))
    host, port = args.host or settings.api_host, args.port or settings.api_port
    workers = args.workers or settings.api_workers
    pool_size = args.pool_size or settings.api_pool_size
    if workers > 1:
        # Worker processes build their own app from the environment (an embedded database
        # is found again under the data directory; the signing key is shared through it), so
        # the pool size goes there too.
        os.environ["FLEETPILOT_API_POOL_SIZE"] = str(pool_size)
        config = uvicorn.Config(
            "fleetpilot.api.app:app_from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level=args.log_level,
            access_log=not args.no_access_log,
            http=PROTOCOL,  # the ingest doors' ordinary requests answered in the protocol (decision 0036)
        )
        _serve_workers(config)
    else:
        uvicorn.run(
            frozen(create_app(settings, pool_size=pool_size)),
            host=host,
            port=port,
            log_level=args.log_level,
            access_log=not args.no_access_log,
            http=PROTOCOL,  # the ingest doors' ordinary requests answered in the protocol (decision 0036)
        )
    return 0


def _serve_workers(config) -> None:
    """uvicorn's supervisor of `config.workers` processes, each listening on a socket of its
    own where the kernel supports spreading connections over them (commands/_listeners.py),
    else on the one socket uvicorn shares."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    if not listeners.supported():
        sock = config.bind_socket()
    else:
        try:
            sock = listeners.reuse_port_socket(config.host, config.port)
        except OSError as exc:
            logger.error("cannot listen on %s:%s: %s", config.host, config.port, exc)
            sys.exit(STARTUP_FAILURE)
        logger.info("Uvicorn running on http://%s:%d (a socket per worker)", config.host, sock.getsockname()[1])
    Multiprocess(config, sockets=[sock]).run()


async def _migrate(settings: Settings) -> None:
    conn = await connect(settings.database_url)
    try:
        await prepare(conn, settings)
    finally:
        await conn.close()
