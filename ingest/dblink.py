"""One PostgreSQL connection that outlives outages: operations are retried until they succeed.

The ingest never gives up on a batch (its messages are not acknowledged until it is
stored), so a lost connection, a restarting server or a deadlock means: back off, reconnect,
run the whole operation again. Errors that retrying cannot fix (a bug, a schema mismatch)
propagate and stop the worker; its messages stay unacknowledged at the broker.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import asyncpg.exceptions as pgerr

from fleetpilot.ingest.logs import log
from fleetpilot.ingest.metrics import IngestMetrics
from fleetpilot.urls import redact

logger = logging.getLogger("fleetpilot.ingest.db")
T = TypeVar("T")
RETRYABLE = (
    OSError,  # refused, reset, unreachable
    asyncio.TimeoutError,  # connect timeout or command_timeout
    asyncpg.InterfaceError,  # connection closed under us
    pgerr.PostgresConnectionError,  # class 08
    pgerr.OperatorInterventionError,  # class 57: shutdown, starting up, cancelled
    pgerr.InsufficientResourcesError,  # class 53: too many connections, disk full
    pgerr.TransactionRollbackError,  # class 40: deadlock, serialization failure
    # The server ended the session while an operation was in flight, e.g. 57P01 of
    # `pg_ctl stop/restart -m fast` arriving mid-COPY: asyncpg's protocol state machine then
    # raises "cannot switch to state 15; another operation (2) is in progress". The connection
    # is discarded either way, so a fresh one starts clean (seen in 3 of 6 fast restarts under
    # four concurrent COPYs; tests/ingest/test_db_lifecycle.py).
    asyncpg.InternalClientError,
)
CONNECT_TIMEOUT_S = 5.0


class DbLink:
    def __init__(
        self,
        url: str,
        name: str,
        metrics: IngestMetrics,
        *,
        init: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
        command_timeout_s: float = 60.0,
        # Bounds how long a worker keeps waiting after the server is back: a restart takes ~1 s,
        # and with 5 s the worker noticed it 7 s later (measured, test_db_lifecycle.py).
        max_backoff_s: float = 2.0,
    ):
        self.url = url
        self.name = name
        self.metrics = metrics
        self.init = init
        self.command_timeout_s = command_timeout_s
        self.max_backoff_s = max_backoff_s
        self._conn: asyncpg.Connection | None = None

    async def run(self, operation: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """`operation(conn)`, retried on a fresh connection until it succeeds."""
        delay = 0.1
        failures = 0
        while True:
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(
                        self.url, timeout=CONNECT_TIMEOUT_S, command_timeout=self.command_timeout_s
                    )
                    if self.init is not None:
                        await self.init(self._conn)
                    if failures:
                        log(logger, logging.INFO, "database reachable again", link=self.name, after_failures=failures)
                return await operation(self._conn)
            except RETRYABLE as exc:
                failures += 1
                self.metrics.db_errors.inc()
                if failures == 1 or failures % 20 == 0:
                    log(
                        logger,
                        logging.WARNING,
                        "database operation failed; retrying",
                        link=self.name,
                        url=redact(self.url),
                        error=f"{type(exc).__name__}: {exc}",
                        failures=failures,
                    )
                self._drop()
                # Jitter: many workers' connections do not return to a restarted server in step.
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.max_backoff_s)

    async def close(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            try:
                await asyncio.wait_for(self._conn.close(), 2.0)
            except (*RETRYABLE, asyncio.CancelledError):
                self._conn.terminate()
        self._conn = None

    def _drop(self) -> None:
        # A connection that failed mid-transaction may be in any state: never reuse it.
        if self._conn is not None:
            self._conn.terminate()
        self._conn = None
